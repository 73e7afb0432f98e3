"""Canary verdicts in the model of Kayenta's judge and Argo Rollouts' analysis (pure logic).

Each KPI compares the challenger (canary) with the champion (baseline) or with a fixed
requirement, and is judged on intervals, never on a bare point:
  fail          the `level` (95%) interval lies wholly outside the acceptable region (a
                confident violation), or a zero-tolerance count was exceeded
  marginal      comparative KPIs: the `marginal_level` (80%) interval lies outside it (weak
                evidence); absolute rates: the point estimate misses the bar
  pass          otherwise
  inconclusive  fewer than min_samples on a side, or not measured: never a pass
Comparisons with the champion follow Kayenta (the canary is presumed as good until the data
shows otherwise): with "F1 >= baseline" and an unchanged model, a point rule would call half
of all canaries marginal by chance. Absolute bars ("> 95% schema-conformant") must be met by
the estimate itself.
The canary score is Kayenta's: the weighted percentage of KPIs that pass. A failing critical
KPI fails the canary outright. Across intervals, AnalysisState counts measurements as Argo's
MetricResult does (failureLimit, inconclusiveLimit, consecutiveErrorLimit) and says whether
the rollout should continue, pause, abort or promote. docs/drift.md shows the drift side.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import partial

import numpy as np

from warden.evaluation.stats import (
    FloatArray,
    Interval,
    bootstrap_two_sample_ci,
    mann_whitney_u,
    two_proportion_diff_ci,
    two_sided_z,
    wilson_interval,
)


class KpiKind(StrEnum):
    LATENCY = "latency"  # per-request samples; challenger slower than champion by > X%?
    PROPORTION = "proportion"  # success counts on both sides; challenger - champion in a band
    MEAN = "mean"  # per-item scores on both sides (e.g. F1); difference of means in a band
    RATE = "rate"  # challenger's own success count vs an absolute band (e.g. >= 95%)
    COUNT = "count"  # zero-tolerance events in n requests (e.g. 0 budget violations)


class KpiVerdict(StrEnum):
    PASS = "pass"
    MARGINAL = "marginal"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


CanaryVerdict = KpiVerdict  # the overall verdict takes the same four values


@dataclass(frozen=True)
class Counts:
    successes: int
    n: int

    def __post_init__(self) -> None:
        if self.n < 0 or not 0 <= self.successes <= self.n:
            raise ValueError(f"Counts need 0 <= successes <= n, got {self.successes}/{self.n}")


Samples = Sequence[float] | FloatArray


@dataclass(frozen=True)
class KpiSpec:
    """One KPI and its requirement. low/high bound the acceptable region of the judged
    quantity: challenger - champion for proportion and mean (in absolute units: 0.05 = 5
    points), the challenger's rate for rate, the event count for count (high only), and the
    allowed slowdown for latency (high = 0.15: at most 15% slower)."""

    name: str
    kind: KpiKind
    low: float | None = None
    high: float | None = None
    critical: bool = False
    weight: float = 1.0
    min_samples: int = 50
    description: str = ""

    def __post_init__(self) -> None:
        if self.low is None and self.high is None:
            raise ValueError(f"KPI {self.name}: set low and/or high (the acceptable region)")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"KPI {self.name}: low ({self.low}) must not exceed high "
                             f"({self.high})")
        if self.kind in {KpiKind.LATENCY, KpiKind.COUNT} and (self.low is not None
                                                               or self.high is None):
            raise ValueError(f"KPI {self.name}: a {self.kind} KPI takes only high (the limit)")
        if self.weight <= 0 or self.min_samples < 1:
            raise ValueError(f"KPI {self.name}: weight must be > 0 and min_samples >= 1")

    def accepts(self, value: float) -> bool:
        return ((self.low is None or value >= self.low)
                and (self.high is None or value <= self.high))

    def overlaps(self, interval: Interval) -> bool:
        return ((self.low is None or interval.high >= self.low)
                and (self.high is None or interval.low <= self.high))

    def requirement(self) -> str:
        unit = {KpiKind.LATENCY: "slowdown", KpiKind.PROPORTION: "challenger - champion",
                KpiKind.MEAN: "challenger - champion", KpiKind.RATE: "rate",
                KpiKind.COUNT: "events"}[self.kind]
        low = "" if self.low is None else f"{self.low:g} <= "
        high = "" if self.high is None else f" <= {self.high:g}"
        return f"{low}{unit}{high}"


@dataclass(frozen=True)
class KpiMeasurement:
    """Data for one KPI: samples (latency, mean) or Counts (proportion, rate, count). The
    champion is needed by the comparative kinds only."""

    name: str
    challenger: Samples | Counts
    champion: Samples | Counts | None = None


@dataclass(frozen=True)
class KpiResult:
    name: str
    kind: KpiKind
    verdict: KpiVerdict
    critical: bool
    requirement: str
    reason: str
    estimate: Interval | None = None
    p_value: float | None = None
    n_champion: int = 0
    n_challenger: int = 0

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "kind": self.kind.value, "verdict": self.verdict.value,
                "critical": self.critical, "requirement": self.requirement,
                "reason": self.reason,
                "estimate": None if self.estimate is None else self.estimate.as_dict(),
                "p_value": self.p_value, "n_champion": self.n_champion,
                "n_challenger": self.n_challenger}


@dataclass(frozen=True)
class CanaryPolicy:
    """level / marginal_level: confidence of the intervals that fail / mark marginal.
    pass_score / marginal_score: Kayenta's thresholds on the 0-100 score (Argo's
    KayentaThreshold pass / marginal)."""

    level: float = 0.95
    marginal_level: float = 0.80
    pass_score: float = 90.0
    marginal_score: float = 75.0
    n_resamples: int = 2000
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.marginal_score <= self.pass_score <= 100:
            raise ValueError("CanaryPolicy needs 0 <= marginal_score <= pass_score <= 100")
        if not 0 < self.marginal_level < self.level < 1:
            raise ValueError("CanaryPolicy needs 0 < marginal_level < level < 1")


DEFAULT_POLICY = CanaryPolicy()

# Issue 14's go-live KPIs for a retrieval change (prefilter) rolled out as a canary.
DEFAULT_KPIS: tuple[KpiSpec, ...] = (
    KpiSpec("oracle_retrieval_hit_prefilter", KpiKind.PROPORTION, low=0.05, high=0.15,
            description="oracle retrieval hit rate gains 5 to 15 points over the champion"),
    KpiSpec("reader_used_gold", KpiKind.PROPORTION, low=0.0,
            description="the reader uses the gold passage at least as often as the champion"),
    KpiSpec("f1", KpiKind.MEAN, low=0.0, critical=True,
            description="per-question answer F1 at least the champion's"),
    KpiSpec("precision", KpiKind.PROPORTION, low=-0.02,
            description="precision drops by at most 2 points"),
    KpiSpec("latency_p95", KpiKind.LATENCY, high=0.15,
            description="p95 latency at most 15% above the champion's"),
    KpiSpec("budget_violations", KpiKind.COUNT, high=0, critical=True,
            description="no request exceeds its context/token budget"),
    KpiSpec("prefix_leakage", KpiKind.COUNT, high=0, critical=True,
            description="no response leaks the system prompt prefix"),
    KpiSpec("dedup_rate", KpiKind.RATE, low=0.10, high=0.35,
            description="10% to 35% of retrieved chunks removed as duplicates"),
    KpiSpec("tool_call_schema_conformance", KpiKind.RATE, low=0.95, critical=True,
            description="at least 95% of tool calls conform to their JSON schema"),
)


# one KPI --------------------------------------------------------------------------------------
def _size(data: Samples | Counts | None) -> int:
    if data is None:
        return 0
    return data.n if isinstance(data, Counts) else len(data)


def _counts(data: Samples | Counts | None, spec: KpiSpec, side: str) -> Counts:
    if not isinstance(data, Counts):
        raise ValueError(f"KPI {spec.name}: {side} data of a {spec.kind} KPI must be "
                         "Counts(successes, n)")
    return data


def _samples(data: Samples | Counts | None, spec: KpiSpec, side: str) -> FloatArray:
    if data is None or isinstance(data, Counts):
        raise ValueError(f"KPI {spec.name}: {side} data of a {spec.kind} KPI must be a "
                         "sequence of samples")
    return np.asarray(data, dtype=np.float64)


def _classify(spec: KpiSpec, estimate: Callable[[float], Interval],
              policy: CanaryPolicy) -> tuple[KpiVerdict, Interval, str]:
    confident = estimate(policy.level)
    if not spec.overlaps(confident):
        return KpiVerdict.FAIL, confident, (f"the {policy.level:.0%} interval is outside the "
                                            "acceptable region")
    if spec.kind is KpiKind.RATE:  # an absolute bar: the estimate itself must meet it
        if spec.accepts(confident.point):
            return KpiVerdict.PASS, confident, "the estimate meets the requirement"
        return KpiVerdict.MARGINAL, confident, "the estimate misses the requirement"
    if not spec.overlaps(estimate(policy.marginal_level)):
        return KpiVerdict.MARGINAL, confident, (f"the {policy.marginal_level:.0%} interval is "
                                                "outside the acceptable region")
    return KpiVerdict.PASS, confident, "no evidence against the requirement"


def judge_kpi(spec: KpiSpec, measurement: KpiMeasurement | None,
              policy: CanaryPolicy = DEFAULT_POLICY) -> KpiResult:
    blank = KpiResult(spec.name, spec.kind, KpiVerdict.INCONCLUSIVE, spec.critical,
                      spec.requirement(), reason="not measured")
    if measurement is None:
        return blank
    comparative = spec.kind in {KpiKind.LATENCY, KpiKind.PROPORTION, KpiKind.MEAN}
    n_champion = _size(measurement.champion) if comparative else 0
    n_challenger = _size(measurement.challenger)
    blank = replace(blank, n_champion=n_champion, n_challenger=n_challenger)
    smallest = min(n_champion, n_challenger) if comparative else n_challenger
    if smallest < spec.min_samples:
        side = f"{n_champion} champion / {n_challenger} challenger" if comparative \
            else f"{n_challenger}"
        return replace(blank, reason=f"needs >= {spec.min_samples} samples per side, has "
                                     f"{side}")
    if spec.kind is KpiKind.LATENCY:
        return _judge_latency(spec, measurement, policy, blank)
    estimate: Callable[[float], Interval]
    if spec.kind is KpiKind.COUNT:
        events = _counts(measurement.challenger, spec, "challenger")
        allowed = spec.high or 0
        return replace(blank, verdict=KpiVerdict.PASS if events.successes <= allowed
                       else KpiVerdict.FAIL,
                       estimate=wilson_interval(events.successes, events.n, policy.level),
                       reason=f"{events.successes} events in {events.n} (allowed {allowed:g})")
    if spec.kind is KpiKind.RATE:
        counts = _counts(measurement.challenger, spec, "challenger")
        estimate = partial(wilson_interval, counts.successes, counts.n)
    elif spec.kind is KpiKind.PROPORTION:
        new = _counts(measurement.challenger, spec, "challenger")
        old = _counts(measurement.champion, spec, "champion")
        estimate = partial(two_proportion_diff_ci, new.successes, new.n, old.successes, old.n)
    else:
        estimate = partial(_mean_difference, _samples(measurement.challenger, spec, "challenger"),
                           _samples(measurement.champion, spec, "champion"))
    verdict, interval, reason = _classify(spec, estimate, policy)
    return replace(blank, verdict=verdict, estimate=interval, reason=reason)


def _mean_difference(challenger: FloatArray, champion: FloatArray, level: float) -> Interval:
    """Welch's normal interval for mean(challenger) - mean(champion); fine at n >= 50."""
    diff = float(challenger.mean() - champion.mean())
    se = float(np.sqrt(challenger.var(ddof=1) / challenger.size
                       + champion.var(ddof=1) / champion.size))
    half = two_sided_z(level) * se
    return Interval(diff, diff - half, diff + half, level)


def _p95_ratio(challenger: FloatArray, champion: FloatArray) -> float:
    denominator = float(np.quantile(champion, 0.95))
    return float(np.quantile(challenger, 0.95)) / denominator if denominator > 0 else np.inf


def _judge_latency(spec: KpiSpec, measurement: KpiMeasurement, policy: CanaryPolicy,
                   blank: KpiResult) -> KpiResult:
    """Two views of "challenger slower by more than X%": Mann-Whitney, one-sided, of the
    challenger against the champion scaled by 1 + X (the whole distribution shifted), and a
    bootstrap interval of the p95 ratio (the tail). Either one over the limit counts."""
    challenger = _samples(measurement.challenger, spec, "challenger")
    champion = _samples(measurement.champion, spec, "champion")
    limit = 1 + (spec.high or 0.0)
    test = mann_whitney_u(challenger, champion * limit, alternative="greater")

    def ratio(level: float) -> Interval:  # same seed: both levels read the same replicates
        return bootstrap_two_sample_ci(challenger, champion, statistic=_p95_ratio,
                                       n_resamples=policy.n_resamples, level=level,
                                       seed=policy.seed)

    confident = ratio(policy.level)
    # One-sided tails matching the two-sided intervals: 2.5% for 95%, 10% for 80%.
    alpha, marginal_alpha = (1 - policy.level) / 2, (1 - policy.marginal_level) / 2
    shifted = f"Mann-Whitney vs champion x{limit:g}: p={test.p_value:.2g}"
    if test.p_value < alpha or confident.low > limit:
        verdict, reason = KpiVerdict.FAIL, f"slower than allowed ({shifted}, p95 ratio " \
            f"interval low {confident.low:.3f})"
    elif test.p_value < marginal_alpha or ratio(policy.marginal_level).low > limit:
        verdict, reason = KpiVerdict.MARGINAL, f"weak evidence of slowdown ({shifted})"
    else:
        verdict, reason = KpiVerdict.PASS, f"p95 ratio {confident.point:.3f}; {shifted}"
    return replace(blank, verdict=verdict, estimate=confident, p_value=test.p_value,
                   reason=reason)


# the canary ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class CanaryResult:
    """score: weighted % of all KPIs that pass (inconclusive ones count as not passing);
    best_score: the score if every inconclusive KPI passed, which decides early failure."""

    verdict: CanaryVerdict
    score: float
    best_score: float
    reason: str
    kpis: tuple[KpiResult, ...]

    def as_dict(self) -> dict[str, object]:
        return {"verdict": self.verdict.value, "score": round(self.score, 2),
                "best_score": round(self.best_score, 2), "reason": self.reason,
                "kpis": [k.as_dict() for k in self.kpis]}


def judge_canary(measurements: Sequence[KpiMeasurement],
                 specs: Sequence[KpiSpec] = DEFAULT_KPIS,
                 policy: CanaryPolicy = DEFAULT_POLICY) -> CanaryResult:
    """Judge every spec'd KPI (a spec without a measurement is inconclusive) and combine."""
    spec_names = [s.name for s in specs]
    if len(set(spec_names)) != len(spec_names):
        raise ValueError("KPI specs must have unique names")
    by_name: dict[str, KpiMeasurement] = {}
    for m in measurements:
        if m.name not in spec_names:
            raise ValueError(f"measurement {m.name!r} has no KpiSpec; add one or drop it "
                             f"(known: {', '.join(spec_names)})")
        if m.name in by_name:
            raise ValueError(f"measurement {m.name!r} given twice")
        by_name[m.name] = m
    results = tuple(judge_kpi(spec, by_name.get(spec.name), policy) for spec in specs)
    weights = {s.name: s.weight for s in specs}
    total = sum(weights.values())

    def weight_of(verdict: KpiVerdict) -> float:
        return sum(weights[r.name] for r in results if r.verdict is verdict)

    score = 100 * weight_of(KpiVerdict.PASS) / total
    best = score + 100 * weight_of(KpiVerdict.INCONCLUSIVE) / total

    def names(verdict: KpiVerdict, critical_only: bool = False) -> list[str]:
        return [r.name for r in results
                if r.verdict is verdict and (r.critical or not critical_only)]

    verdict, reason = _combine(score, best, policy, critical_failed=names(KpiVerdict.FAIL, True),
                               critical_marginal=names(KpiVerdict.MARGINAL, True),
                               inconclusive=names(KpiVerdict.INCONCLUSIVE))
    return CanaryResult(verdict, score, best, reason, results)


def _combine(score: float, best: float, policy: CanaryPolicy, *, critical_failed: list[str],
             critical_marginal: list[str], inconclusive: list[str]) -> tuple[KpiVerdict, str]:
    if critical_failed:
        return KpiVerdict.FAIL, f"critical KPI failed: {', '.join(critical_failed)}"
    if best < policy.marginal_score:
        return KpiVerdict.FAIL, (f"score {score:.1f} cannot reach {policy.marginal_score:g} "
                                 "even if every inconclusive KPI passed")
    if inconclusive:
        return KpiVerdict.INCONCLUSIVE, f"not enough data: {', '.join(inconclusive)}"
    if score >= policy.pass_score and not critical_marginal:
        return KpiVerdict.PASS, f"score {score:.1f} >= {policy.pass_score:g}"
    if score >= policy.marginal_score:
        why = f"critical KPI marginal: {', '.join(critical_marginal)}" if critical_marginal \
            else f"score {score:.1f} < {policy.pass_score:g}"
        return KpiVerdict.MARGINAL, why
    return KpiVerdict.FAIL, f"score {score:.1f} < {policy.marginal_score:g}"


# the budget across intervals -----------------------------------------------------------------
class MeasurementPhase(StrEnum):
    """Argo Rollouts' AnalysisPhase values for one measurement."""

    SUCCESSFUL = "Successful"
    FAILED = "Failed"
    INCONCLUSIVE = "Inconclusive"
    ERROR = "Error"  # the measurement itself could not be taken


def phase_of(verdict: CanaryVerdict) -> MeasurementPhase:
    return {KpiVerdict.PASS: MeasurementPhase.SUCCESSFUL,
            KpiVerdict.FAIL: MeasurementPhase.FAILED}.get(verdict, MeasurementPhase.INCONCLUSIVE)


class RolloutAction(StrEnum):
    CONTINUE = "continue"  # keep measuring
    PAUSE = "pause"  # too many inconclusive intervals: a human decides
    ABORT = "abort"  # too many failures or consecutive errors: roll back
    PROMOTE = "promote"  # `count` intervals measured within every limit


@dataclass(frozen=True)
class AnalysisBudget:
    """Argo's Metric limits (same defaults): the analysis fails when failed > failure_limit,
    is inconclusive when inconclusive > inconclusive_limit, errs when consecutive errors >
    consecutive_error_limit. count: intervals after which it succeeds (None: never ends)."""

    failure_limit: int = 0
    inconclusive_limit: int = 0
    consecutive_error_limit: int = 4
    count: int | None = None

    def __post_init__(self) -> None:
        if min(self.failure_limit, self.inconclusive_limit, self.consecutive_error_limit) < 0:
            raise ValueError("AnalysisBudget limits must be >= 0")
        if self.count is not None and self.count < 1:
            raise ValueError(f"AnalysisBudget.count must be >= 1 or None, got {self.count}")


@dataclass(frozen=True)
class AnalysisState:
    """Counters of Argo's MetricResult; record() returns the next state (pure)."""

    budget: AnalysisBudget = AnalysisBudget()
    successful: int = 0
    failed: int = 0
    inconclusive: int = 0
    error: int = 0
    consecutive_error: int = 0

    @property
    def count(self) -> int:
        """Measurements taken without error (Argo's MetricResult.count)."""
        return self.successful + self.failed + self.inconclusive

    @property
    def action(self) -> RolloutAction:
        if self.failed > self.budget.failure_limit:
            return RolloutAction.ABORT
        if self.consecutive_error > self.budget.consecutive_error_limit:
            return RolloutAction.ABORT
        if self.inconclusive > self.budget.inconclusive_limit:
            return RolloutAction.PAUSE
        if self.budget.count is not None and self.count >= self.budget.count:
            return RolloutAction.PROMOTE
        return RolloutAction.CONTINUE

    def record(self, outcome: MeasurementPhase | CanaryVerdict) -> AnalysisState:
        if self.action is not RolloutAction.CONTINUE:
            raise ValueError(f"the analysis has ended ({self.action}); start a new one")
        phase = outcome if isinstance(outcome, MeasurementPhase) else phase_of(outcome)
        if phase is MeasurementPhase.ERROR:
            return replace(self, error=self.error + 1,
                           consecutive_error=self.consecutive_error + 1)
        field = {MeasurementPhase.SUCCESSFUL: "successful", MeasurementPhase.FAILED: "failed",
                 MeasurementPhase.INCONCLUSIVE: "inconclusive"}[phase]
        return replace(self, consecutive_error=0, **{field: getattr(self, field) + 1})
