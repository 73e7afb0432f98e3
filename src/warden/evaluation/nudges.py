"""Config nudges: a small grid over RRF weights, the per-document cap and k, searched on the
DEV split only (never the split the run reports), without generating anything.

Objective per dev question: does a chunk holding one of its gold spans (in a gold document)
reach the reader, i.e. is it in the top k after weighted RRF and the per-document cap? The
engines are queried once per question on the server's own index (local_store.py); every grid
point then re-fuses those rankings exactly as the server does (fusion.weighted_rrf, then
fusion.cap_per_document). A nudge is suggested only when its paired gain over the current
config has a 95% bootstrap interval above zero. k trades hits for context tokens, so other
k values are reported, not suggested.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from warden.evaluation.dataset import EvalItem, align_doc_id
from warden.evaluation.stats import bootstrap_ci
from warden.retrieval.fusion import cap_per_document, weighted_rrf

if TYPE_CHECKING:
    from warden.evaluation.local_store import LocalStore, Ranking

WEIGHTS = ((1.0, 1.0), (1.0, 0.5), (0.5, 1.0), (1.0, 2.0), (2.0, 1.0), (1.0, 0.0), (0.0, 1.0))
CAPS = (1, 2, 3)
KS = (3, 5, 8)


@dataclass(frozen=True, order=True)
class GridPoint:
    lexical_weight: float
    vector_weight: float
    per_doc_cap: int
    k: int

    def label(self) -> str:
        return (f"lexical_weight={self.lexical_weight:g} vector_weight={self.vector_weight:g} "
                f"per_doc_cap={self.per_doc_cap} k={self.k}")


@dataclass(frozen=True)
class GoldQuery:
    item_id: str
    ranking: Ranking
    gold: frozenset[str]  # chunk ids that hold a gold span of a gold document


def top_k(ranking: Ranking, doc_of: Mapping[str, str], point: GridPoint, rrf_k: int
          ) -> list[str]:
    fused = weighted_rrf([(point.lexical_weight, ranking.lexical),
                          (point.vector_weight, ranking.vector)], rrf_k)
    kept = cap_per_document(fused, lambda item: doc_of[item[0]], point.per_doc_cap,
                            limit=point.k)
    return [chunk for chunk, _ in kept]


def hits(queries: Sequence[GoldQuery], doc_of: Mapping[str, str], point: GridPoint,
         rrf_k: int) -> list[float]:
    return [float(any(c in q.gold for c in top_k(q.ranking, doc_of, point, rrf_k)))
            for q in queries]


def grid(current: GridPoint) -> list[GridPoint]:
    ks = sorted({*KS, current.k})
    weights = sorted({*WEIGHTS, (current.lexical_weight, current.vector_weight)})
    return [GridPoint(lw, vw, cap, k) for lw, vw in weights
            for cap in sorted({*CAPS, current.per_doc_cap}) for k in ks]


def _summary(point: GridPoint, values: list[float], base: list[float]) -> dict[str, Any]:
    diffs = np.asarray(values) - np.asarray(base)
    gain = bootstrap_ci(diffs, seed=0) if len(diffs) > 1 else None
    return {**asdict(point), "hit_rate": round(float(np.mean(values)), 4),
            "gain": round(float(np.mean(diffs)), 4),
            "gain_interval": None if gain is None else gain.as_dict(4)}


def search_grid(queries: Sequence[GoldQuery], doc_of: Mapping[str, str], current: GridPoint,
                rrf_k: int) -> dict[str, Any]:
    """Every grid point's hit rate and paired gain over the current config; suggestions."""
    base = hits(queries, doc_of, current, rrf_k)
    rows = [_summary(p, hits(queries, doc_of, p, rrf_k), base) for p in grid(current)]
    rank = sorted(rows, key=lambda r: (-r["hit_rate"], r["k"], -r["lexical_weight"],
                                       -r["vector_weight"], r["per_doc_cap"]))
    same_k = [r for r in rank if r["k"] == current.k]
    suggestions = []
    best = same_k[0] if same_k else None
    if best and best["gain_interval"] and best["gain_interval"]["low"] > 0:
        point = GridPoint(best["lexical_weight"], best["vector_weight"], best["per_doc_cap"],
                          best["k"])
        suggestions.append(f"set {point.label()}: dev gold-span hit {best['hit_rate']:.3f} vs "
                           f"{np.mean(base):.3f} now (gain {best['gain']:+.3f}, 95% CI "
                           f"[{best['gain_interval']['low']:+.3f}, "
                           f"{best['gain_interval']['high']:+.3f}])")
    by_k = {k: next(r for r in rank if r["k"] == k) for k in sorted({r["k"] for r in rank})}
    return {"queries": len(queries), "current": {**asdict(current),
                                                 "hit_rate": round(float(np.mean(base)), 4)},
            "best_at_current_k": best, "best_per_k": list(by_k.values()),
            "top": rank[:8], "grid_size": len(rows), "suggestions": suggestions or
            ["keep the current config: no grid point beats it on dev with 95% confidence"]}


def gold_chunks(item: EvalItem, chunk_ids: Sequence[str], texts: Mapping[str, str],
                doc_of: Mapping[str, str]) -> frozenset[str]:
    gold_docs = set(item.gold_doc_ids)
    return frozenset(c for c in chunk_ids
                     if (not gold_docs or align_doc_id(doc_of[c], gold_docs) in gold_docs)
                     and (c in item.gold_chunk_ids or
                          any(span in texts.get(c, "") for span in item.gold_spans)))


def dev_nudges(items: Sequence[EvalItem], reported_split: str | None,
               local: LocalStore | str, corpora: Mapping[str, Mapping[str, Any]],
               k: int | None) -> dict[str, Any]:
    """The grid on the dataset's dev items; {"skipped": reason} when it cannot run."""
    if reported_split == "dev":
        return {"skipped": "the run reports the dev split; nudges are searched on dev and "
                           "must never be chosen on the reported split"}
    if isinstance(local, str):
        return {"skipped": f"needs the server's index ({local})"}
    dev = [i for i in items if i.split == "dev" and i.answerable and i.corpus in corpora
           and (i.gold_spans or i.gold_chunk_ids)]
    if not dev:
        return {"skipped": "the dataset has no answerable dev items with gold spans"}
    corpus = sorted({i.corpus for i in dev if i.corpus})[0]
    dev = [i for i in dev if i.corpus == corpus]
    view = corpora[corpus]
    fusion = view.get("fusion") or {}
    current = GridPoint(float(fusion.get("lexical_weight", 1.0)),
                        float(fusion.get("vector_weight", 1.0)),
                        int(fusion.get("per_doc_cap", 2)), int(k or view.get("default_k", 5)))
    from warden.embeddings import get_embedder

    vectors = get_embedder().embed([i.question for i in dev])
    rankings, doc_of, texts = local.rankings(int(view["active_version"]),
                                             [i.question for i in dev], vectors,
                                             int(fusion.get("candidates", 100)))
    queries = [GoldQuery(i.id, r, gold_chunks(i, [*r.lexical, *r.vector], texts, doc_of))
               for i, r in zip(dev, rankings, strict=True)]
    result = search_grid(queries, doc_of, current, int(fusion.get("rrf_k", 60)))
    return {"split": "dev", "corpus": corpus, "objective": "a chunk with a gold span in the "
            "top k after weighted RRF and the per-document cap (retrieval only)", **result,
            "not_searched": "code vs prose chunk sizes (they need a re-ingest per setting)"}
