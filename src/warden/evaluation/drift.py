"""Population Stability Index (PSI) drift per feature, with a sample-size-aware decision.

Plain PSI thresholds (0.1 warn, 0.25 alert) ignore sample size: with 10 bins and 100 vs 100
samples from the SAME distribution PSI exceeds 0.1 in most runs. Under no drift PSI behaves
like the symmetric chi-square (J-divergence) statistic, PSI ~ (1/N + 1/M) * chi2(bins - 1), so
the value that pure sampling noise exceeds with probability alpha is
(1/N + 1/M) * chi2.ppf(1 - alpha, bins - 1). A feature is flagged only when PSI exceeds both
the plain threshold (the shift is large enough to matter) and that critical value (it is not
noise). benchmarks/drift.py measures the false-alarm and detection rates; docs/drift.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import pairwise

import numpy as np

from warden.evaluation.stats import FloatArray, chi2_ppf

# The share floor of the plain PSI used by most monitoring tools (empty bin -> 0.0001).
PLAIN_EPSILON = 1e-4

# The features the gateway records per request (docs/drift.md). Guard scores are one feature
# per detector category: guard_score_feature("pii") -> "guard_score.pii".
PROMPT_TOKENS = "prompt_tokens"
COMPLETION_TOKENS = "completion_tokens"
TOP_RETRIEVAL_SCORE = "top_retrieval_score"
REFUSAL_RATE = "refusal_rate"
LATENCY = "latency"
GUARD_SCORE_PREFIX = "guard_score."
GUARD_CATEGORIES = ("pii", "injection", "toxicity", "crisis")


def guard_score_feature(category: str) -> str:
    if not category or not category.replace("_", "").isalnum():
        raise ValueError(f"guard category must be a word like 'pii', got {category!r}")
    return GUARD_SCORE_PREFIX + category


STANDARD_FEATURES = (PROMPT_TOKENS, COMPLETION_TOKENS, TOP_RETRIEVAL_SCORE,
                     *(guard_score_feature(c) for c in GUARD_CATEGORIES), REFUSAL_RATE, LATENCY)


class DriftVerdict(StrEnum):
    OK = "ok"
    WARN = "warn"
    ALERT = "alert"
    INSUFFICIENT = "insufficient"  # too few samples to say anything; not a pass


@dataclass(frozen=True)
class DriftPolicy:
    """How PSI is computed and judged. pseudo_count is added to every bin of both samples
    (Jeffreys-style smoothing), so an empty bin costs a bounded amount instead of the
    log(epsilon) blow-up that makes small-sample PSI heavy-tailed."""

    bins: int = 10
    warn_psi: float = 0.1
    alert_psi: float = 0.25
    # Nominal alpha of the critical value. Half of the 1% target: the chi-square approximation
    # runs a little hot for PSI (nominal 1% measured up to 1.09%, benchmarks/drift.py).
    false_alarm_rate: float = 0.005
    min_samples: int = 50
    pseudo_count: float = 0.5

    def __post_init__(self) -> None:
        if self.bins < 2:
            raise ValueError(f"DriftPolicy.bins must be >= 2, got {self.bins}")
        if not 0 < self.warn_psi <= self.alert_psi:
            raise ValueError(f"DriftPolicy needs 0 < warn_psi <= alert_psi, got "
                             f"{self.warn_psi} and {self.alert_psi}")
        if not 0 < self.false_alarm_rate < 1:
            raise ValueError(f"DriftPolicy.false_alarm_rate must be within (0, 1), got "
                             f"{self.false_alarm_rate}")
        if self.min_samples < 2:
            raise ValueError(f"DriftPolicy.min_samples must be >= 2, got {self.min_samples}")
        if self.pseudo_count < 0:
            raise ValueError(f"DriftPolicy.pseudo_count must be >= 0, got {self.pseudo_count}")


DEFAULT_POLICY = DriftPolicy()


@dataclass(frozen=True)
class Bins:
    """Interior edges e_1 < ... < e_k from baseline quantiles; the k + 1 bins are
    (-inf, e_1], (e_1, e_2], ..., (e_k, +inf): open-ended, so no current value falls outside."""

    edges: tuple[float, ...]

    @property
    def count(self) -> int:
        return len(self.edges) + 1

    def histogram(self, values: FloatArray) -> FloatArray:
        index = np.searchsorted(np.asarray(self.edges, dtype=np.float64), values, side="left")
        return np.bincount(index, minlength=self.count).astype(np.float64)

    def labels(self) -> list[str]:
        bounds = ["-inf", *(f"{e:.6g}" for e in self.edges), "+inf"]
        return [f"({lo}, {hi}]" if hi != "+inf" else f"({lo}, {hi})"
                for lo, hi in pairwise(bounds)]


def quantile_bins(baseline: FloatArray, n_bins: int) -> Bins:
    """Edges at the baseline's 1/n .. (n-1)/n quantiles, deduplicated (discrete features such
    as token counts or a 0/1 refusal flag give fewer bins), dropping edges at the baseline
    maximum, whose upper bin the baseline would leave empty. A constant baseline gets one bin
    for "equal" and one on each side of it."""
    if baseline.size == 0:
        raise ValueError("quantile_bins needs a non-empty baseline")
    quantiles = np.quantile(baseline, np.arange(1, n_bins) / n_bins, method="inverted_cdf")
    top = float(baseline.max())
    edges = sorted({float(q) for q in quantiles if q < top})
    if not edges:
        below = float(np.nextafter(top, -np.inf))
        return Bins((below, top))
    return Bins(tuple(edges))


def psi_from_counts(baseline_counts: FloatArray, current_counts: FloatArray, *,
                    pseudo_count: float = 0.5,
                    epsilon: float = PLAIN_EPSILON) -> tuple[float, FloatArray]:
    """PSI = sum (c_i - b_i) ln(c_i / b_i) over bin shares; returns it with the per-bin terms
    (each >= 0), which show where the shift is. Shares are (count + pseudo_count) / total, and
    a share still zero is floored at epsilon; pseudo_count=0 gives the plain PSI of
    monitoring tools."""
    if baseline_counts.shape != current_counts.shape:
        raise ValueError("baseline and current counts must have the same bins")
    if pseudo_count < 0 or not 0 < epsilon < 1:
        raise ValueError(f"need pseudo_count >= 0 and 0 < epsilon < 1, got {pseudo_count} "
                         f"and {epsilon}")
    b = baseline_counts + pseudo_count
    c = current_counts + pseudo_count
    if b.sum() <= 0 or c.sum() <= 0:
        raise ValueError("PSI needs at least one value on each side")
    b_share = np.maximum(b / b.sum(), epsilon)
    c_share = np.maximum(c / c.sum(), epsilon)
    terms = (c_share - b_share) * np.log(c_share / b_share)
    return float(terms.sum()), terms


def psi_critical_value(n_baseline: int, n_current: int, n_bins: int,
                       false_alarm_rate: float = 0.01) -> float:
    """The PSI that sampling noise alone exceeds with probability ~false_alarm_rate:
    (1/N + 1/M) * chi2.ppf(1 - alpha, bins - 1)."""
    if n_baseline < 1 or n_current < 1:
        raise ValueError("critical value needs at least one sample on each side")
    if n_bins < 2:
        raise ValueError(f"critical value needs >= 2 bins, got {n_bins}")
    scale = 1 / n_baseline + 1 / n_current
    return scale * chi2_ppf(1 - false_alarm_rate, n_bins - 1)


@dataclass(frozen=True)
class DriftResult:
    feature: str
    verdict: DriftVerdict
    psi: float | None  # None when insufficient: never a silent zero
    critical_value: float | None
    n_baseline: int
    n_current: int
    bins: Bins | None = None
    baseline_share: tuple[float, ...] = ()
    current_share: tuple[float, ...] = ()
    reason: str = ""
    policy: DriftPolicy = field(default=DEFAULT_POLICY, repr=False)

    @property
    def drifted(self) -> bool:
        return self.verdict in {DriftVerdict.WARN, DriftVerdict.ALERT}

    def as_dict(self) -> dict[str, object]:
        return {
            "feature": self.feature, "verdict": self.verdict.value,
            "psi": None if self.psi is None else round(self.psi, 6),
            "critical_value": None if self.critical_value is None
            else round(self.critical_value, 6),
            "n_baseline": self.n_baseline, "n_current": self.n_current,
            "bins": None if self.bins is None else self.bins.labels(),
            "baseline_share": [round(s, 6) for s in self.baseline_share],
            "current_share": [round(s, 6) for s in self.current_share],
            "reason": self.reason,
        }


def _finite(values: Sequence[float] | FloatArray, feature: str, side: str) -> FloatArray:
    array = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{feature}: {side} values must be finite; drop requests where the "
                         "feature was not recorded before calling assess_drift")
    return array


def decide(psi: float, critical_value: float, policy: DriftPolicy) -> DriftVerdict:
    """Alert/warn only when PSI is both beyond the plain threshold and beyond noise."""
    if psi > max(policy.alert_psi, critical_value):
        return DriftVerdict.ALERT
    if psi > max(policy.warn_psi, critical_value):
        return DriftVerdict.WARN
    return DriftVerdict.OK


def assess_drift(feature: str, baseline: Sequence[float] | FloatArray,
                 current: Sequence[float] | FloatArray,
                 policy: DriftPolicy = DEFAULT_POLICY) -> DriftResult:
    """PSI of `current` against `baseline` for one feature, with its verdict."""
    base = _finite(baseline, feature, "baseline")
    cur = _finite(current, feature, "current")
    if min(base.size, cur.size) < policy.min_samples:
        return DriftResult(feature, DriftVerdict.INSUFFICIENT, None, None, base.size, cur.size,
                           reason=f"needs >= {policy.min_samples} samples on each side, has "
                                  f"{base.size} baseline and {cur.size} current",
                           policy=policy)
    bins = quantile_bins(base, policy.bins)
    base_counts, cur_counts = bins.histogram(base), bins.histogram(cur)
    value, _ = psi_from_counts(base_counts, cur_counts, pseudo_count=policy.pseudo_count)
    critical = psi_critical_value(base.size, cur.size, bins.count, policy.false_alarm_rate)
    verdict = decide(value, critical, policy)
    return DriftResult(
        feature, verdict, value, critical, base.size, cur.size, bins,
        tuple(float(x) for x in base_counts / base.size),
        tuple(float(x) for x in cur_counts / cur.size),
        reason=f"psi {value:.4f} vs max(threshold, critical value {critical:.4f})",
        policy=policy,
    )


def drift_report(baseline: Mapping[str, Sequence[float]], current: Mapping[str, Sequence[float]],
                 policy: DriftPolicy = DEFAULT_POLICY) -> list[DriftResult]:
    """One result per feature present in either window; a feature missing on one side is
    insufficient (not ok). Standard features come first, in STANDARD_FEATURES order."""
    names = set(baseline) | set(current)
    ordered = [f for f in STANDARD_FEATURES if f in names] + sorted(names - set(STANDARD_FEATURES))
    return [assess_drift(name, baseline.get(name, ()), current.get(name, ()), policy)
            for name in ordered]
