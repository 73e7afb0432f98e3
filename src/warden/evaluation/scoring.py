"""A run's metrics from its item results: the judge-free ones (answer_metrics.py), RAGChecker's
claim metrics from the judge's labels (ragchecker.py), the judge's noise (judge_noise.py),
and the measurements the gates read. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from warden.evaluation.answer_metrics import answer_metrics
from warden.evaluation.judge_noise import JudgeNoise, LabellingMismatch, judge_noise
from warden.evaluation.metric import Metric
from warden.evaluation.ragchecker import (
    METRICS,
    REQUIREMENTS,
    RagCheckerScore,
    query_metrics,
    score_queries,
)
from warden.evaluation.records import ItemResult

CHUNK_LABEL_SETS = ("retrieved2response", "retrieved2answer")
CHUNK_METRICS = tuple(name for name in METRICS
                      if set(REQUIREMENTS[name]) & set(CHUNK_LABEL_SETS))


@dataclass
class Scores:
    answer: dict[str, Metric]
    claims: dict[str, Metric]  # RAGChecker's figures (0-100, one decimal) or unmeasured
    claim_fractions: dict[str, Metric]  # the same as fractions with per-item values (gates)
    noise: JudgeNoise | None = None
    judged: int = 0
    judge_errors: list[str] = field(default_factory=list)

    def gate_inputs(self) -> dict[str, Metric]:
        return {**self.answer, **self.claim_fractions}

    def plain(self) -> dict[str, Any]:
        return {"answer": {n: m.plain() for n, m in self.answer.items()},
                "claims": {n: m.plain() for n, m in self.claims.items()},
                "judge_noise": None if self.noise is None else self.noise.plain(),
                "judged_items": self.judged, "judge_errors": self.judge_errors}


def _all_unmeasured(reason: str) -> dict[str, Metric]:
    return {name: Metric.unmeasured(name, reason) for name in METRICS}


def _without_chunk_labels(metrics: dict[str, Metric], reason: str) -> dict[str, Metric]:
    return {name: Metric.unmeasured(name, reason) if name in CHUNK_METRICS else metric
            for name, metric in metrics.items()}


def claim_scores(results: Sequence[ItemResult], judge_off_reason: str | None,
                 chunk_texts_reason: str | None) -> Scores:
    """Every metric. `judge_off_reason`: why no judge ran (None: it ran on the judged items);
    `chunk_texts_reason`: why chunk label sets are absent (None: they are present)."""
    answer = answer_metrics([r.record() for r in results])
    if judge_off_reason is not None:
        off = _all_unmeasured(judge_off_reason)
        return Scores(answer, off, dict(off))
    judged = [r for r in results if r.judgement is not None]
    errors = [f"{r.item.id}: {r.judgement.error}" for r in judged
              if r.judgement is not None and r.judgement.error]
    ok = [r for r in judged if r.judgement is not None and r.judgement.labellings]
    if not ok:
        reason = ("the judge labelled no item" + (f" ({errors[0]})" if errors else
                                                 " (no item was judged)"))
        failed = {name: Metric.failed(name, reason) if judged else
                  Metric.unmeasured(name, reason) for name in METRICS}
        return Scores(answer, failed, dict(failed), None, len(judged), errors)
    labellings = [[r.judgement.labellings[i] for r in ok if r.judgement is not None]
                  for i in range(len(ok[0].judgement.labellings))]  # type: ignore[union-attr]
    for result, query in zip(ok, labellings[0], strict=True):
        result.claim_metrics = query_metrics(query)
    score: RagCheckerScore = score_queries(labellings[0])
    claims, fractions = dict(score.metrics), score.fractions()
    if chunk_texts_reason is not None:
        claims = _without_chunk_labels(claims, chunk_texts_reason)
        fractions = _without_chunk_labels(fractions, chunk_texts_reason)
    noise = None
    if len(labellings) > 1:
        try:
            noise = judge_noise(labellings)
        except LabellingMismatch as exc:
            errors.append(f"judge noise: {exc}")
    return Scores(answer, claims, fractions, noise, len(judged), errors)
