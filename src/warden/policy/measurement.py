"""What the rollout is judged on, computed from decision facts (pure; no I/O).

- agreement (shadow): the advisor's decision equals the current engine's. An advisor error
  counts as a disagreement: a flaky advisor must not look good by failing on hard cases.
- override rate (advisory): a reviewer decided differently from the advisor (an advisor
  error counts as an override). Timed-out reviews are not human judgments: excluded.
- both with Wilson intervals, per action type and per ISO week.
- decision distribution of the advisor against its baseline, with a shift alert.
- latency percentiles and the error rate.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TypeVar

from warden.evaluation.stats import Interval, two_proportion_diff_ci, wilson_interval
from warden.policy.decision import DECISIONS, Decision, Mode

T = TypeVar("T")


@dataclass(frozen=True)
class DecisionFact:
    created_at: datetime
    action_type: str
    mode: Mode
    advisor: Decision | None       # None: the advisor erred
    current: Decision
    error: str | None
    latency_ms: float
    prompt_variant: str
    review_status: str | None = None   # pending | decided | timed_out (advisory mode)
    human: Decision | None = None
    category: str | None = None

    @property
    def agrees(self) -> bool:
        return self.advisor is not None and self.advisor == self.current

    @property
    def reviewed(self) -> bool:
        return self.review_status == "decided" and self.human is not None

    @property
    def overridden(self) -> bool:
        return self.reviewed and self.advisor != self.human


@dataclass(frozen=True)
class Rate:
    """successes of n, with its Wilson interval; unmeasured (None) when n is 0."""

    successes: int
    n: int
    interval: Interval | None

    @classmethod
    def of(cls, successes: int, n: int, level: float) -> Rate:
        return cls(successes, n, wilson_interval(successes, n, level) if n else None)

    def plain(self) -> dict[str, object]:
        if self.interval is None:
            return {"successes": 0, "n": 0, "rate": None, "low": None, "high": None,
                    "unmeasured": "no samples"}
        i = self.interval
        return {"successes": self.successes, "n": self.n, "rate": round(i.point, 4),
                "low": round(i.low, 4), "high": round(i.high, 4), "level": i.level}


def agreement(facts: Iterable[DecisionFact], level: float = 0.95) -> Rate:
    shadow = [f for f in facts if f.mode is Mode.SHADOW]
    return Rate.of(sum(f.agrees for f in shadow), len(shadow), level)


def override_rate(facts: Iterable[DecisionFact], level: float = 0.95) -> Rate:
    reviewed = [f for f in facts if f.mode is Mode.ADVISORY and f.reviewed]
    return Rate.of(sum(f.overridden for f in reviewed), len(reviewed), level)


def error_rate(facts: Sequence[DecisionFact], level: float = 0.95) -> Rate:
    return Rate.of(sum(f.error is not None for f in facts), len(facts), level)


def iso_week(moment: datetime) -> str:
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def grouped(items: Iterable[T], key: Callable[[T], str]) -> dict[str, list[T]]:
    """Items by key, keys sorted (weeks and action types read in order)."""
    groups: dict[str, list[T]] = defaultdict(list)
    for item in items:
        groups[key(item)].append(item)
    return dict(sorted(groups.items()))


def percentiles(values: Sequence[float], points: Sequence[int] = (50, 95, 99)
                ) -> dict[str, float | None]:
    """Nearest-rank percentiles (a reported p99 is a latency that really happened)."""
    ordered = sorted(values)
    if not ordered:
        return {f"p{p}": None for p in points}
    out: dict[str, float | None] = {}
    for p in points:
        rank = max(1, -(-p * len(ordered) // 100))  # ceil(p/100 * n)
        out[f"p{p}"] = round(ordered[rank - 1], 2)
    return out


def distribution(decisions: Iterable[Decision]) -> dict[str, float]:
    counts = Counter(decisions)
    total = sum(counts.values())
    return {d.value: (counts[d] / total if total else 0.0) for d in DECISIONS}


class ShiftVerdict(StrEnum):
    OK = "ok"
    ALERT = "alert"
    INSUFFICIENT = "insufficient"  # too few decisions on a side: not a pass


@dataclass(frozen=True)
class Shift:
    verdict: ShiftVerdict
    threshold: float
    n_baseline: int
    n_current: int
    baseline: dict[str, float]
    current: dict[str, float]
    largest: str | None = None        # the decision whose share moved most
    delta: float | None = None        # its share now minus at baseline
    interval: Interval | None = None  # Newcombe interval of that delta
    reason: str = ""

    def plain(self) -> dict[str, object]:
        return {"verdict": self.verdict.value, "threshold": self.threshold,
                "n_baseline": self.n_baseline, "n_current": self.n_current,
                "baseline": {k: round(v, 4) for k, v in self.baseline.items()},
                "current": {k: round(v, 4) for k, v in self.current.items()},
                "largest": self.largest,
                "delta": None if self.delta is None else round(self.delta, 4),
                "interval": None if self.interval is None else self.interval.as_dict(4),
                "reason": self.reason}


def distribution_shift(baseline: Sequence[Decision], current: Sequence[Decision], *,
                       threshold: float = 0.20, min_samples: int = 30,
                       level: float = 0.95) -> Shift:
    """Alert when some decision's share moved more than `threshold` (absolute) from its
    baseline share AND the move is not sampling noise (its Newcombe interval excludes 0)."""
    base, cur = distribution(baseline), distribution(current)
    if len(baseline) < min_samples or len(current) < min_samples:
        return Shift(ShiftVerdict.INSUFFICIENT, threshold, len(baseline), len(current), base,
                     cur, reason=f"needs >= {min_samples} decisions on each side, has "
                                 f"{len(baseline)} baseline and {len(current)} current")
    largest = max(DECISIONS, key=lambda d: (round(abs(cur[d.value] - base[d.value]), 9),
                                            d.strictness))  # ties: the stricter decision
    delta = cur[largest.value] - base[largest.value]
    interval = two_proportion_diff_ci(sum(d == largest for d in current), len(current),
                                      sum(d == largest for d in baseline), len(baseline), level)
    beyond_noise = interval.low > 0 or interval.high < 0
    alert = abs(delta) > threshold and beyond_noise
    return Shift(ShiftVerdict.ALERT if alert else ShiftVerdict.OK, threshold, len(baseline),
                 len(current), base, cur, largest.value, delta, interval,
                 reason=f"{largest.value} share {base[largest.value]:.1%} -> "
                        f"{cur[largest.value]:.1%} ({delta:+.1%}; threshold "
                        f"{threshold:.0%}{'' if beyond_noise else ', within noise'})")
