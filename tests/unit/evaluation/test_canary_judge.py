"""Canary verdicts: per-KPI rules, the Kayenta-style score and Argo-style budgets."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from warden.evaluation.canary_judge import (
    DEFAULT_KPIS,
    AnalysisBudget,
    AnalysisState,
    CanaryPolicy,
    Counts,
    KpiKind,
    KpiMeasurement,
    KpiSpec,
    KpiVerdict,
    MeasurementPhase,
    RolloutAction,
    judge_canary,
    judge_kpi,
)

SPECS = {spec.name: spec for spec in DEFAULT_KPIS}
FAST = CanaryPolicy(n_resamples=300)


def _latencies(seed: int, n: int, scale: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).lognormal(5.0, 0.4, n) * scale


def _healthy(n: int = 400, seed: int = 0) -> dict[str, KpiMeasurement]:
    """A canary that meets every issue-14 KPI comfortably."""
    rng = np.random.default_rng(seed)
    f1 = rng.beta(6, 3, n)
    measurements = [
        KpiMeasurement("oracle_retrieval_hit_prefilter", Counts(int(0.8 * n), n),
                       Counts(int(0.7 * n), n)),
        KpiMeasurement("reader_used_gold", Counts(int(0.6 * n), n), Counts(int(0.6 * n), n)),
        KpiMeasurement("f1", f1, f1.copy()),
        KpiMeasurement("precision", Counts(int(0.9 * n), n), Counts(int(0.9 * n), n)),
        KpiMeasurement("latency_p95", _latencies(1, n), _latencies(2, n)),
        KpiMeasurement("budget_violations", Counts(0, n)),
        KpiMeasurement("prefix_leakage", Counts(0, n)),
        KpiMeasurement("dedup_rate", Counts(int(0.2 * n), n)),
        KpiMeasurement("tool_call_schema_conformance", Counts(int(0.99 * n), n)),
    ]
    return {m.name: m for m in measurements}


def _judge(measurements: dict[str, KpiMeasurement]) -> KpiVerdict:
    return judge_canary(list(measurements.values()), policy=FAST).verdict


# the canary ----------------------------------------------------------------------------------
def test_a_healthy_canary_passes_with_full_score() -> None:
    result = judge_canary(list(_healthy().values()), policy=FAST)
    assert result.verdict is KpiVerdict.PASS, result.reason
    assert result.score == 100 and len(result.kpis) == len(DEFAULT_KPIS)
    assert result.as_dict()["verdict"] == "pass"


def test_too_few_samples_is_inconclusive_never_pass() -> None:
    measurements = _healthy()
    measurements["f1"] = KpiMeasurement("f1", [0.9] * 49, [0.5] * 100)
    result = judge_canary(list(measurements.values()), policy=FAST)
    f1 = next(k for k in result.kpis if k.name == "f1")
    assert f1.verdict is KpiVerdict.INCONCLUSIVE and "50" in f1.reason
    assert result.verdict is KpiVerdict.INCONCLUSIVE


def test_a_kpi_without_measurement_is_inconclusive() -> None:
    measurements = _healthy()
    del measurements["dedup_rate"]
    assert _judge(measurements) is KpiVerdict.INCONCLUSIVE


def test_a_failing_critical_kpi_fails_the_canary() -> None:
    measurements = _healthy()
    measurements["prefix_leakage"] = KpiMeasurement("prefix_leakage", Counts(1, 400))
    result = judge_canary(list(measurements.values()), policy=FAST)
    assert result.verdict is KpiVerdict.FAIL
    assert "prefix_leakage" in result.reason and result.score > 85


def test_critical_failure_fails_even_while_other_kpis_are_inconclusive() -> None:
    measurements = _healthy()
    measurements["budget_violations"] = KpiMeasurement("budget_violations", Counts(3, 400))
    del measurements["dedup_rate"]
    assert _judge(measurements) is KpiVerdict.FAIL


def test_non_critical_failures_lower_the_score_kayenta_style() -> None:
    measurements = _healthy()
    measurements["dedup_rate"] = KpiMeasurement("dedup_rate", Counts(200, 400))  # 50%
    result = judge_canary(list(measurements.values()), policy=FAST)
    assert result.score == pytest.approx(100 * 8 / 9)
    assert result.verdict is KpiVerdict.MARGINAL  # 88.9: below 90, above 75
    measurements["precision"] = KpiMeasurement("precision", Counts(300, 400), Counts(360, 400))
    measurements["reader_used_gold"] = KpiMeasurement("reader_used_gold", Counts(150, 400),
                                                      Counts(250, 400))
    assert _judge(measurements) is KpiVerdict.FAIL  # 66.7 < 75


def test_failure_is_certain_before_all_data_is_in() -> None:
    # 4 of 9 KPIs fail and 1 has no data: 4/9 < 75% even if the missing one passes.
    measurements = _healthy()
    for name in ("dedup_rate",):
        measurements[name] = KpiMeasurement(name, Counts(10, 400))
    measurements["precision"] = KpiMeasurement("precision", Counts(300, 400), Counts(360, 400))
    measurements["reader_used_gold"] = KpiMeasurement("reader_used_gold", Counts(150, 400),
                                                      Counts(250, 400))
    measurements["oracle_retrieval_hit_prefilter"] = KpiMeasurement(
        "oracle_retrieval_hit_prefilter", Counts(100, 400), Counts(300, 400))
    del measurements["latency_p95"]
    result = judge_canary(list(measurements.values()), policy=FAST)
    assert result.verdict is KpiVerdict.FAIL and result.best_score < 75


def test_unknown_or_repeated_measurements_are_rejected() -> None:
    with pytest.raises(ValueError, match="no KpiSpec"):
        judge_canary([KpiMeasurement("throughput", Counts(1, 100))])
    twice = [KpiMeasurement("dedup_rate", Counts(1, 100))] * 2
    with pytest.raises(ValueError, match="twice"):
        judge_canary(twice)


# single KPIs ---------------------------------------------------------------------------------
def test_latency_kpi_fails_a_uniform_slowdown_and_passes_a_small_one() -> None:
    spec = SPECS["latency_p95"]
    slow = judge_kpi(spec, KpiMeasurement("latency_p95", _latencies(3, 300, 1.4),
                                          _latencies(4, 300)), FAST)
    assert slow.verdict is KpiVerdict.FAIL and slow.p_value is not None
    fine = judge_kpi(spec, KpiMeasurement("latency_p95", _latencies(5, 300, 1.03),
                                          _latencies(6, 300)), FAST)
    assert fine.verdict is KpiVerdict.PASS, fine.reason


def test_latency_kpi_catches_a_tail_only_regression() -> None:
    challenger = _latencies(7, 1000)
    challenger[::10] *= 3  # 10% of requests three times slower; the median barely moves
    result = judge_kpi(SPECS["latency_p95"],
                       KpiMeasurement("latency_p95", challenger, _latencies(8, 1000)), FAST)
    assert result.verdict is KpiVerdict.FAIL
    assert result.estimate is not None and result.estimate.low > 1.15


@pytest.mark.parametrize(
    ("challenger", "verdict"),
    [(Counts(800, 1000), KpiVerdict.PASS),  # +10 points
     (Counts(650, 1000), KpiVerdict.FAIL),  # -5 points: confidently below +5
     (Counts(950, 1000), KpiVerdict.FAIL)],  # +25 points: confidently above +15
)
def test_proportion_band_of_the_oracle_hit_rate(challenger: Counts,
                                                verdict: KpiVerdict) -> None:
    result = judge_kpi(SPECS["oracle_retrieval_hit_prefilter"],
                       KpiMeasurement("oracle_retrieval_hit_prefilter", challenger,
                                      Counts(700, 1000)))
    assert result.verdict is verdict, result.reason


@pytest.mark.parametrize(
    ("successes", "verdict"),
    [(1940, KpiVerdict.PASS), (1890, KpiVerdict.MARGINAL), (1800, KpiVerdict.FAIL)],
)
def test_rate_bar_of_schema_conformance(successes: int, verdict: KpiVerdict) -> None:
    # 97%: meets 95%. 94.5%: misses it, but the 95% interval reaches 0.95. 90%: clearly not.
    result = judge_kpi(SPECS["tool_call_schema_conformance"],
                       KpiMeasurement("tool_call_schema_conformance", Counts(successes, 2000)))
    assert result.verdict is verdict, result.reason


def test_mean_kpi_fails_a_clear_f1_drop() -> None:
    rng = np.random.default_rng(9)
    result = judge_kpi(SPECS["f1"], KpiMeasurement("f1", rng.beta(4, 4, 200),
                                                   rng.beta(6, 3, 200)))
    assert result.verdict is KpiVerdict.FAIL and result.critical


def test_unchanged_f1_rarely_fails_or_turns_marginal() -> None:
    # Champion and challenger from one distribution: "F1 >= baseline" is on its boundary, so
    # some noise verdicts are expected; at 95%/80% they should be ~2.5% fail, ~7.5% marginal.
    rng = np.random.default_rng(10)
    verdicts = [judge_kpi(SPECS["f1"], KpiMeasurement("f1", rng.beta(6, 3, 100),
                                                      rng.beta(6, 3, 100))).verdict
                for _ in range(600)]
    fail, marginal = verdicts.count(KpiVerdict.FAIL) / 600, verdicts.count(
        KpiVerdict.MARGINAL) / 600
    assert fail < 0.05
    assert 0.03 < marginal < 0.13


def test_wrong_data_shape_names_the_kpi() -> None:
    with pytest.raises(ValueError, match="latency_p95"):
        judge_kpi(SPECS["latency_p95"], KpiMeasurement("latency_p95", Counts(1, 100),
                                                       Counts(1, 100)))
    with pytest.raises(ValueError, match="reader_used_gold"):
        judge_kpi(SPECS["reader_used_gold"], KpiMeasurement("reader_used_gold", [1.0] * 60,
                                                            [1.0] * 60))


def test_spec_validation() -> None:
    with pytest.raises(ValueError, match="low and/or high"):
        KpiSpec("x", KpiKind.RATE)
    with pytest.raises(ValueError, match="only high"):
        KpiSpec("x", KpiKind.LATENCY, low=0.1, high=0.2)
    assert replace(SPECS["dedup_rate"], low=0.2).requirement() == "0.2 <= rate <= 0.35"


# budgets across intervals --------------------------------------------------------------------
def _run(outcomes: list[MeasurementPhase | KpiVerdict],
         budget: AnalysisBudget = AnalysisBudget()) -> AnalysisState:
    state = AnalysisState(budget)
    for outcome in outcomes:
        state = state.record(outcome)
    return state


def test_default_budget_aborts_on_the_first_failure_and_pauses_on_inconclusive() -> None:
    assert _run([KpiVerdict.PASS, KpiVerdict.FAIL]).action is RolloutAction.ABORT
    assert _run([KpiVerdict.PASS, KpiVerdict.MARGINAL]).action is RolloutAction.PAUSE
    assert _run([KpiVerdict.INCONCLUSIVE]).action is RolloutAction.PAUSE
    assert _run([KpiVerdict.PASS] * 3).action is RolloutAction.CONTINUE


def test_failure_limit_allows_that_many_failures() -> None:
    budget = AnalysisBudget(failure_limit=1, inconclusive_limit=2, count=4)
    assert _run([KpiVerdict.FAIL], budget).action is RolloutAction.CONTINUE
    assert _run([KpiVerdict.FAIL, KpiVerdict.FAIL], budget).action is RolloutAction.ABORT
    done = _run([KpiVerdict.PASS, KpiVerdict.FAIL, KpiVerdict.INCONCLUSIVE, KpiVerdict.PASS],
                budget)
    assert done.action is RolloutAction.PROMOTE and done.count == 4


def test_consecutive_errors_abort_and_a_good_measurement_resets_them() -> None:
    err = MeasurementPhase.ERROR
    assert _run([err] * 4).action is RolloutAction.CONTINUE
    assert _run([err] * 5).action is RolloutAction.ABORT
    state = _run([err] * 4 + [KpiVerdict.PASS] + [err] * 4)
    assert state.action is RolloutAction.CONTINUE and state.error == 8
    assert state.count == 1  # errors are not measurements


def test_an_ended_analysis_refuses_more_measurements() -> None:
    with pytest.raises(ValueError, match="ended"):
        _run([KpiVerdict.FAIL, KpiVerdict.PASS])
