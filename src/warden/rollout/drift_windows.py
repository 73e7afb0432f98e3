"""Drift of live traffic: two windows of recorded samples, one PSI per feature
(`evaluation.drift`: baseline-quantile bins, smoothing, the plain thresholds and the
sample-size-aware critical value, a minimum sample count).

    current   [now - current_window, now)
    baseline  [now - current_window - baseline_window, now - current_window)

Features per caller-facing request (shadow copies and pinned evaluation requests are not what
users saw): prompt_tokens, completion_tokens, top_retrieval_score (requests with retrieval),
guard_score.<category> (requests the input guard checked), refusal_rate (the 0/1 refusal
flag) and latency (ms).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from warden.config.rollouts import DriftConfig
from warden.evaluation.drift import (
    COMPLETION_TOKENS,
    LATENCY,
    PROMPT_TOKENS,
    REFUSAL_RATE,
    TOP_RETRIEVAL_SCORE,
    DriftPolicy,
    DriftResult,
    drift_report,
    guard_score_feature,
)
from warden.rollout.traffic import TrafficReader, TrafficSample


def features(samples: Iterable[TrafficSample]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {PROMPT_TOKENS: [], COMPLETION_TOKENS: [], REFUSAL_RATE: [],
                                   LATENCY: []}
    for sample in samples:
        out[PROMPT_TOKENS].append(float(sample.prompt_tokens))
        out[COMPLETION_TOKENS].append(float(sample.completion_tokens))
        out[REFUSAL_RATE].append(1.0 if sample.refusal else 0.0)
        out[LATENCY].append(sample.latency_ms)
        if sample.top_score is not None:
            out.setdefault(TOP_RETRIEVAL_SCORE, []).append(sample.top_score)
        for category, score in sample.guard.items():
            out.setdefault(guard_score_feature(category), []).append(float(score))
    return out


def policy_of(config: DriftConfig) -> DriftPolicy:
    return DriftPolicy(bins=config.bins, warn_psi=config.warn_psi, alert_psi=config.alert_psi,
                       false_alarm_rate=config.false_alarm_rate,
                       min_samples=config.min_samples)


@dataclass(frozen=True)
class DriftWindows:
    baseline_start: datetime
    current_start: datetime
    end: datetime
    models: tuple[str, ...]
    results: tuple[DriftResult, ...]

    def plain(self) -> dict[str, Any]:
        worst = max((r.verdict.value for r in self.results),
                    key=("ok", "insufficient", "warn", "alert").index, default="insufficient")
        return {"baseline": {"start": self.baseline_start.isoformat(),
                             "end": self.current_start.isoformat()},
                "current": {"start": self.current_start.isoformat(),
                            "end": self.end.isoformat()},
                "models": list(self.models), "worst": worst,
                "features": [r.as_dict() for r in self.results]}

    def psi(self) -> dict[str, float | None]:
        return {r.feature: r.psi for r in self.results}


def drift_windows(reader: TrafficReader, config: DriftConfig, *,
                  now: datetime | None = None, models: Sequence[str] = (),
                  current: timedelta | None = None, baseline: timedelta | None = None
                  ) -> DriftWindows:
    end = now or datetime.now(UTC)
    current_start = end - (current or timedelta(seconds=config.current_window_s))
    baseline_start = current_start - (baseline or timedelta(seconds=config.baseline_window_s))
    before = reader.window(baseline_start, current_start, models=models or None)
    after = reader.window(current_start, end, models=models or None)
    results = drift_report(features(before), features(after), policy_of(config))
    return DriftWindows(baseline_start, current_start, end, tuple(models), tuple(results))
