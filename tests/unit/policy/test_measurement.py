"""Agreement, overrides, errors, latency percentiles and the distribution-shift alert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from warden.policy.decision import Decision, Mode
from warden.policy.measurement import (
    DecisionFact,
    ShiftVerdict,
    agreement,
    distribution_shift,
    error_rate,
    grouped,
    iso_week,
    override_rate,
    percentiles,
)

A, R, D = Decision.ALLOW, Decision.REQUIRE_ATTESTATION, Decision.DENY
T0 = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday


def fact(advisor: Decision | None, current: Decision, mode: Mode = Mode.SHADOW, *,
         status: str | None = None, human: Decision | None = None, day: int = 0,
         latency: float = 100.0) -> DecisionFact:
    return DecisionFact(T0 + timedelta(days=day), "read", mode, advisor, current,
                        None if advisor else "timeout", latency, "v", status, human)


def test_agreement_counts_errors_as_disagreement() -> None:
    rate = agreement([fact(A, A), fact(D, A), fact(None, A), fact(A, A, Mode.ENFORCE)])
    assert (rate.successes, rate.n) == (1, 3)
    assert rate.interval is not None and rate.interval.low < 1 / 3 < rate.interval.high


def test_override_rate_only_counts_human_judgments() -> None:
    facts = [fact(A, A, Mode.ADVISORY, status="decided", human=A),
             fact(A, A, Mode.ADVISORY, status="decided", human=D),
             fact(A, A, Mode.ADVISORY, status="timed_out", human=D),
             fact(A, A, Mode.ADVISORY, status="pending")]
    rate = override_rate(facts)
    assert (rate.successes, rate.n) == (1, 2)


def test_an_override_raises_the_override_rate() -> None:
    agreed = [fact(A, A, Mode.ADVISORY, status="decided", human=A) for _ in range(9)]
    before = override_rate(agreed)
    after = override_rate([*agreed, fact(A, A, Mode.ADVISORY, status="decided", human=D)])
    assert before.successes == 0 and after.successes == 1
    assert after.interval is not None and before.interval is not None
    assert after.interval.high > before.interval.high


def test_unmeasured_is_not_zero() -> None:
    assert agreement([]).plain()["rate"] is None
    assert agreement([]).plain()["unmeasured"] == "no samples"


def test_error_rate_and_percentiles() -> None:
    facts = [fact(A, A, latency=float(ms)) for ms in range(1, 101)]
    facts.append(fact(None, A, latency=5000))
    assert error_rate(facts).successes == 1
    p = percentiles([f.latency_ms for f in facts])
    assert p == {"p50": 51.0, "p95": 96.0, "p99": 100.0}
    assert percentiles([]) == {"p50": None, "p95": None, "p99": None}


def test_weeks_group_by_iso_week() -> None:
    facts = [fact(A, A, day=0), fact(A, A, day=6), fact(A, A, day=7)]
    weeks = grouped(facts, lambda f: iso_week(f.created_at))
    assert {k: len(v) for k, v in weeks.items()} == {"2026-W45": 2, "2026-W46": 1}


def test_shift_alerts_on_a_large_real_move() -> None:
    baseline = [A] * 65 + [R] * 20 + [D] * 15
    shifted = [A] * 30 + [R] * 20 + [D] * 50
    result = distribution_shift(baseline, shifted, threshold=0.2, min_samples=30)
    assert result.verdict is ShiftVerdict.ALERT
    assert result.largest == "deny" and abs((result.delta or 0) - 0.35) < 1e-9


def test_shift_stays_ok_below_the_threshold_or_within_noise() -> None:
    baseline = [A] * 65 + [R] * 20 + [D] * 15
    assert distribution_shift(baseline, [A] * 55 + [R] * 25 + [D] * 20).verdict \
        is ShiftVerdict.OK
    # 21 points, but on 30 vs 30 decisions that is within noise.
    small_base = [A] * 20 + [D] * 10
    small_now = [A] * 14 + [D] * 16
    noisy = distribution_shift(small_base, small_now, threshold=0.19, min_samples=30)
    assert noisy.verdict is ShiftVerdict.OK and "within noise" in noisy.reason


def test_shift_needs_samples_on_both_sides() -> None:
    result = distribution_shift([A] * 100, [D] * 10, min_samples=30)
    assert result.verdict is ShiftVerdict.INSUFFICIENT and result.delta is None
