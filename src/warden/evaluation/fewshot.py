"""Few-shot examples: deterministic KNN over a curated pool, behind a leakage guard.

Deterministic: the same pool and query give the same ids, in the same order, whatever order
the pool was listed in. Similarities are cosines rounded to 1e-6 (so BLAS summation order
cannot reorder near-equal neighbours between machines) and ties go to the smaller id.

Leakage guard: a pool item that is identical (after text normalisation) or near-identical
(embedding cosine above `max_cosine`) to any eval item is excluded, and the report says which
and why: an example that is the test question would inflate every score measured with it.

Embeddings are not computed here: callers pass `embed(list[str]) -> array (n, dim)`, e.g.
`warden.embeddings.get_embedder().embed` in production, a fake in tests.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

Embed = Callable[[list[str]], npt.NDArray[np.floating]]
Vectors = npt.NDArray[np.float64]

DEFAULT_MAX_COSINE = 0.95
SIMILARITY_DECIMALS = 6
_NOT_WORD = re.compile(r"[\W_]+")


@dataclass(frozen=True)
class TextItem:
    """A pool example or an eval item: an id and the text compared (e.g. the question)."""

    id: str
    text: str


class ExclusionReason(StrEnum):
    IDENTICAL_TEXT = "identical_text"
    NEAR_IDENTICAL_EMBEDDING = "near_identical_embedding"


@dataclass(frozen=True)
class Exclusion:
    pool_id: str
    eval_id: str
    reason: ExclusionReason
    cosine: float | None = None


@dataclass(frozen=True)
class LeakageReport:
    pool_size: int
    eval_size: int
    max_cosine: float
    excluded: tuple[Exclusion, ...]

    @property
    def n_excluded(self) -> int:
        return len(self.excluded)

    def plain(self) -> dict[str, object]:
        return {"pool_size": self.pool_size, "eval_size": self.eval_size,
                "max_cosine": self.max_cosine, "n_excluded": self.n_excluded,
                "excluded": [{"pool_id": e.pool_id, "eval_id": e.eval_id,
                              "reason": str(e.reason), "cosine": e.cosine}
                             for e in self.excluded]}


def normalize_text(text: str) -> str:
    """NFKC, case-folded, punctuation and symbols dropped, whitespace collapsed."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_NOT_WORD.sub(" ", folded).split())


def unit_rows(vectors: npt.ArrayLike, what: str) -> Vectors:
    """Rows scaled to unit length (float64); an all-zero row stays zero (cosine 0)."""
    matrix = np.asarray(vectors, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(f"{what}: expected a 2-d array (items, dim), got shape {matrix.shape}")
    if not np.all(np.isfinite(matrix)):
        raise ValueError(f"{what}: embeddings must be finite numbers")
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    unit: Vectors = np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)
    return unit


def _sorted_unique(items: Sequence[TextItem], what: str) -> list[TextItem]:
    ordered = sorted(items, key=lambda item: item.id)
    for before, after in itertools.pairwise(ordered):
        if before.id == after.id:
            raise ValueError(f"{what}: id {after.id!r} appears twice; ids must be unique")
    return ordered


def leakage_guard(pool: Sequence[TextItem], pool_vectors: npt.ArrayLike,
                  eval_items: Sequence[TextItem], eval_vectors: npt.ArrayLike, *,
                  max_cosine: float = DEFAULT_MAX_COSINE) -> tuple[list[int], LeakageReport]:
    """Indices (into `pool`) of the items that may serve as examples, and the report.

    Text identity is checked first; an item excluded for it is not also reported for cosine.
    Among several matching eval items, the one with the smallest id (text) or the highest
    cosine (then smallest id) is named.
    """
    if not -1 <= max_cosine <= 1:
        raise ValueError(f"max_cosine must lie within [-1, 1], got {max_cosine}")
    pool_unit = unit_rows(pool_vectors, "pool embeddings")
    eval_unit = unit_rows(eval_vectors, "eval embeddings")
    if pool_unit.shape[0] != len(pool) or eval_unit.shape[0] != len(eval_items):
        raise ValueError(f"embeddings: {pool_unit.shape[0]} pool and {eval_unit.shape[0]} eval "
                         f"rows for {len(pool)} pool and {len(eval_items)} eval items")
    both = len(pool) > 0 and len(eval_items) > 0
    if both and pool_unit.shape[1] != eval_unit.shape[1]:
        raise ValueError(f"embeddings: pool dim {pool_unit.shape[1]} != eval dim "
                         f"{eval_unit.shape[1]}; embed both with the same model")
    eval_order = sorted(range(len(eval_items)), key=lambda i: eval_items[i].id)
    by_text: dict[str, str] = {}
    for i in eval_order:
        by_text.setdefault(normalize_text(eval_items[i].text), eval_items[i].id)
    cosines = (np.round(pool_unit @ eval_unit[eval_order].T, SIMILARITY_DECIMALS)
               if both else np.zeros((len(pool), 0)))
    kept: list[int] = []
    excluded: list[Exclusion] = []
    for index, item in enumerate(pool):
        twin = by_text.get(normalize_text(item.text))
        if twin is not None:
            excluded.append(Exclusion(item.id, twin, ExclusionReason.IDENTICAL_TEXT))
            continue
        if cosines.shape[1]:
            nearest = int(np.argmax(cosines[index]))  # first max: smallest eval id
            cosine = float(cosines[index, nearest])
            if cosine > max_cosine:
                excluded.append(Exclusion(item.id, eval_items[eval_order[nearest]].id,
                                          ExclusionReason.NEAR_IDENTICAL_EMBEDDING, cosine))
                continue
        kept.append(index)
    excluded.sort(key=lambda e: e.pool_id)
    return kept, LeakageReport(len(pool), len(eval_items), max_cosine, tuple(excluded))


def knn_select(query_vector: npt.ArrayLike, pool_ids: Sequence[str],
               pool_vectors: npt.ArrayLike, k: int) -> tuple[str, ...]:
    """The ids of the k pool items most similar to the query (cosine), ties by smaller id."""
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    pool_unit = unit_rows(pool_vectors, "pool embeddings")
    if pool_unit.shape[0] != len(pool_ids):
        raise ValueError(f"pool embeddings: {pool_unit.shape[0]} rows for {len(pool_ids)} ids")
    if len(pool_ids) == 0 or k == 0:
        return ()
    query = unit_rows(np.asarray(query_vector, dtype=np.float64).reshape(1, -1),
                      "query embedding")[0]
    if query.shape[0] != pool_unit.shape[1]:
        raise ValueError(f"query embedding dim {query.shape[0]} != pool dim "
                         f"{pool_unit.shape[1]}; embed both with the same model")
    similarity = np.round(pool_unit @ query, SIMILARITY_DECIMALS)
    order = sorted(range(len(pool_ids)), key=lambda i: (-similarity[i], pool_ids[i]))
    return tuple(pool_ids[i] for i in order[:k])


class FewShotSelector:
    """A guarded pool, embedded once; `select` picks examples for a query."""

    def __init__(self, pool: Sequence[TextItem], eval_items: Sequence[TextItem], embed: Embed,
                 *, max_cosine: float = DEFAULT_MAX_COSINE) -> None:
        ordered_pool = _sorted_unique(pool, "few-shot pool")
        ordered_eval = _sorted_unique(eval_items, "eval items")
        self._embed = embed
        pool_vectors = self._vectors([item.text for item in ordered_pool])
        eval_vectors = self._vectors([item.text for item in ordered_eval])
        kept, self.report = leakage_guard(ordered_pool, pool_vectors, ordered_eval,
                                          eval_vectors, max_cosine=max_cosine)
        self.ids: tuple[str, ...] = tuple(ordered_pool[i].id for i in kept)
        self._pool_vectors = pool_vectors[kept] if kept else pool_vectors[:0]

    def _vectors(self, texts: list[str]) -> Vectors:
        if not texts:  # an embedder need not accept an empty batch
            return np.zeros((0, 0))
        vectors = np.asarray(self._embed(texts), dtype=np.float64)
        if vectors.ndim != 2 or vectors.shape[0] != len(texts):
            raise ValueError(f"embed returned shape {vectors.shape} for {len(texts)} texts; it "
                             "must return one row per text")
        return vectors

    def select(self, query: str, k: int) -> tuple[str, ...]:
        if not self.ids or k == 0:
            return ()
        return knn_select(self._vectors([query])[0], self.ids, self._pool_vectors, k)
