"""RAGChecker's claim-level metrics, computed from its checking labels without any model.

The definitions are RAGChecker's own (amazon-science/RAGChecker, ragchecker/computation.py),
reproduced operation for operation so the numbers agree to the last digit:

- only the label "Entailment" counts as true;
- per query, a metric whose inputs are empty is 0 (never NaN);
- a group figure is the macro average over queries, times 100, rounded to one decimal
  (numpy's rounding, as RAGChecker's `round(np.mean(...) * 100, 1)` does).

Where RAGChecker would call its checker model for a missing label set, Warden cannot: that
metric is reported as unmeasured, naming the label set and the queries without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from warden.evaluation.metric import Metric
from warden.evaluation.ragchecker_input import CheckedQuery, LabelMatrix, Labels

ENTAILMENT = "Entailment"

BoolArray = npt.NDArray[np.bool_]

METRIC_GROUPS: dict[str, tuple[str, ...]] = {
    "overall": ("precision", "recall", "f1"),
    "retriever": ("claim_recall", "context_precision"),
    "generator": ("context_utilization", "noise_sensitivity_in_relevant",
                  "noise_sensitivity_in_irrelevant", "hallucination", "self_knowledge",
                  "faithfulness"),
}
METRICS: tuple[str, ...] = tuple(name for names in METRIC_GROUPS.values() for name in names)

# The label sets each metric reads (RAGChecker's METRIC_REQUIREMENTS).
REQUIREMENTS: dict[str, tuple[str, ...]] = {
    "precision": ("answer2response",),
    "recall": ("response2answer",),
    "f1": ("answer2response", "response2answer"),
    "claim_recall": ("retrieved2answer",),
    "context_precision": ("retrieved2answer",),
    "context_utilization": ("retrieved2answer", "response2answer"),
    "noise_sensitivity_in_relevant": ("retrieved2response", "answer2response",
                                      "retrieved2answer"),
    "noise_sensitivity_in_irrelevant": ("retrieved2response", "answer2response",
                                        "retrieved2answer"),
    "hallucination": ("retrieved2response", "answer2response"),
    "self_knowledge": ("retrieved2response", "answer2response"),
    "faithfulness": ("retrieved2response",),
}


def entailed(labels: Labels) -> BoolArray:
    return np.array([label == ENTAILMENT for label in labels], dtype=bool)


def entailed_matrix(rows: LabelMatrix) -> BoolArray:
    """(claims, chunks) booleans; keeps the chunk count when there are no claims."""
    width = len(rows[0]) if rows else 0
    return np.array([[label == ENTAILMENT for label in row] for row in rows],
                    dtype=bool).reshape(len(rows), width)


# Per-query metrics, each over the entailment arrays; a bare 0.0 where RAGChecker gives 0.
# a2r: response claims vs answer; r2a: answer claims vs response;
# ret2resp: (response claims, chunks); ret2ans: (answer claims, chunks).
def precision(a2r: BoolArray) -> float:
    return float(np.mean(a2r)) if a2r.size > 0 else 0.0


def recall(r2a: BoolArray) -> float:
    return float(np.mean(r2a)) if r2a.size > 0 else 0.0


def f1(a2r: BoolArray, r2a: BoolArray) -> float:
    p, r = precision(a2r), recall(r2a)
    return 2 * p * r / (p + r) if p > 0 and r > 0 else 0.0


def _has_cells(matrix: BoolArray) -> bool:
    return bool(matrix.shape[0] > 0 and matrix.shape[1] > 0)


def claim_recall(ret2ans: BoolArray) -> float:
    """Share of answer claims entailed by at least one retrieved chunk."""
    return float(np.mean(np.max(ret2ans, axis=1))) if _has_cells(ret2ans) else 0.0


def context_precision(ret2ans: BoolArray) -> float:
    """Share of retrieved chunks that entail at least one answer claim."""
    return float(np.mean(np.max(ret2ans, axis=0))) if _has_cells(ret2ans) else 0.0


def context_utilization(ret2ans: BoolArray, r2a: BoolArray) -> float:
    """Of the answer claims the chunks cover, the share the response also states."""
    if not _has_cells(ret2ans):
        return 0.0
    recalled = np.max(ret2ans, axis=1)
    if np.sum(recalled) == 0:
        return 0.0
    return float(np.sum(recalled & r2a) / np.sum(recalled))


def noise_sensitivity(ret2resp: BoolArray, a2r: BoolArray,
                      ret2ans: BoolArray) -> tuple[float, float]:
    """(in relevant, in irrelevant): shares of response claims that are wrong and entailed
    by a relevant chunk, or else by an irrelevant one (the two are exclusive)."""
    if not (a2r.size > 0 and ret2resp.shape[1] > 0 and ret2ans.shape[0] > 0):
        return 0.0, 0.0
    relevant = np.max(ret2ans, axis=0, keepdims=True)  # chunks entailing some answer claim
    relevant_faithful = np.max(relevant & ret2resp, axis=1)
    irrelevant_faithful = np.max(~relevant & ret2resp, axis=1) & ~relevant_faithful
    incorrect = ~a2r
    return (float(np.mean(relevant_faithful & incorrect)),
            float(np.mean(irrelevant_faithful & incorrect)))


def unfaithfulness(ret2resp: BoolArray, a2r: BoolArray) -> tuple[float, float]:
    """(hallucination, self_knowledge): response claims no chunk entails, wrong or right."""
    if not (a2r.size > 0 and ret2resp.shape[1] > 0):
        return 0.0, 0.0
    unfaithful = ~np.max(ret2resp, axis=1)
    return float(np.mean(unfaithful & ~a2r)), float(np.mean(unfaithful & a2r))


def faithfulness(ret2resp: BoolArray) -> float:
    """Share of response claims entailed by at least one retrieved chunk."""
    return float(np.mean(np.max(ret2resp, axis=1))) if _has_cells(ret2resp) else 0.0


def query_metrics(query: CheckedQuery) -> dict[str, float | None]:
    """Every metric for one query as a fraction; None where a label set it needs is absent."""
    a2r = None if query.answer2response is None else entailed(query.answer2response)
    r2a = None if query.response2answer is None else entailed(query.response2answer)
    ret2resp = (None if query.retrieved2response is None
                else entailed_matrix(query.retrieved2response))
    ret2ans = (None if query.retrieved2answer is None
               else entailed_matrix(query.retrieved2answer))
    out: dict[str, float | None] = dict.fromkeys(METRICS)
    if a2r is not None:
        out["precision"] = precision(a2r)
    if r2a is not None:
        out["recall"] = recall(r2a)
    if a2r is not None and r2a is not None:
        out["f1"] = f1(a2r, r2a)
    if ret2ans is not None:
        out["claim_recall"] = claim_recall(ret2ans)
        out["context_precision"] = context_precision(ret2ans)
        if r2a is not None:
            out["context_utilization"] = context_utilization(ret2ans, r2a)
    if ret2resp is not None:
        out["faithfulness"] = faithfulness(ret2resp)
        if a2r is not None:
            out["hallucination"], out["self_knowledge"] = unfaithfulness(ret2resp, a2r)
            if ret2ans is not None:
                (out["noise_sensitivity_in_relevant"],
                 out["noise_sensitivity_in_irrelevant"]) = noise_sensitivity(ret2resp, a2r,
                                                                             ret2ans)
    return out


def ragchecker_round(fractions: Sequence[float]) -> float:
    """RAGChecker's reported figure: macro average x 100, one decimal, numpy rounding."""
    return float(np.round(np.mean(np.asarray(fractions, dtype=np.float64)) * 100, 1))


@dataclass(frozen=True)
class QueryScore:
    query_id: str
    metrics: dict[str, float | None]


@dataclass(frozen=True)
class RagCheckerScore:
    """`metrics` hold RAGChecker's figures (0-100, one decimal); `per_query` the fractions."""

    metrics: dict[str, Metric]
    per_query: tuple[QueryScore, ...]

    def grouped(self) -> dict[str, dict[str, float | None]]:
        """RAGChecker's printed shape: {"overall": {...}, "retriever": {...}, "generator": ...}."""
        return {group: {name: self.metrics[name].value for name in names}
                for group, names in METRIC_GROUPS.items()}

    def unmeasured(self) -> dict[str, str]:
        return {name: m.reason for name, m in self.metrics.items()
                if not m.is_measured and m.reason is not None}

    def plain(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.grouped())
        out["unmeasured"] = self.unmeasured()
        out["results"] = [{"query_id": q.query_id, "metrics": q.metrics} for q in self.per_query]
        return out

    def fractions(self) -> dict[str, Metric]:
        """Each metric as an unrounded fraction with its per-query values: the gates' input."""
        out: dict[str, Metric] = {}
        for name, metric in self.metrics.items():
            if metric.is_measured:
                out[name] = Metric.measured(name, float(np.mean(metric.items)), metric.items)
            else:
                out[name] = metric
        return out


def _aggregate(name: str, per_query: Sequence[QueryScore],
               queries: Sequence[CheckedQuery]) -> Metric:
    missing = [(q.query_id, label_set) for q in queries for label_set in REQUIREMENTS[name]
               if q.label_set(label_set) is None]
    if missing:
        sets = sorted({label_set for _, label_set in missing})
        first = next(qid for qid, _ in missing)
        n_queries = len({qid for qid, _ in missing})
        return Metric.unmeasured(name, f"needs {', '.join(sets)}, missing in {n_queries} of "
                                       f"{len(queries)} results (first: query_id {first}); "
                                       "rerun RAGChecker's checker for them")
    values = [q.metrics[name] for q in per_query]
    fractions = [v for v in values if v is not None]
    return Metric.measured(name, ragchecker_round(fractions), fractions)


def score_queries(queries: Sequence[CheckedQuery]) -> RagCheckerScore:
    per_query = tuple(QueryScore(q.query_id, query_metrics(q)) for q in queries)
    if not queries:
        reason = "no results to score"
        return RagCheckerScore({name: Metric.unmeasured(name, reason) for name in METRICS},
                               per_query)
    return RagCheckerScore({name: _aggregate(name, per_query, queries) for name in METRICS},
                           per_query)


