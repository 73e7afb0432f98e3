"""PSI drift: bins, the statistic, the sample-size-aware critical value and the verdicts."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from warden.evaluation.drift import (
    STANDARD_FEATURES,
    DriftPolicy,
    DriftVerdict,
    assess_drift,
    decide,
    drift_report,
    guard_score_feature,
    psi_critical_value,
    psi_from_counts,
    quantile_bins,
)


def _normal(seed: int, n: int, loc: float = 0.0, scale: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(loc, scale, n)


# bins ----------------------------------------------------------------------------------------
def test_quantile_bins_are_deciles_of_a_continuous_baseline() -> None:
    baseline = _normal(1, 1000)
    bins = quantile_bins(baseline, 10)
    assert bins.count == 10
    counts = bins.histogram(baseline)
    assert counts.sum() == 1000 and np.all(counts == 100)


def test_quantile_bins_are_open_ended() -> None:
    bins = quantile_bins(_normal(2, 200), 10)
    counts = bins.histogram(np.array([-1e9, 1e9]))
    assert counts[0] == 1 and counts[-1] == 1 and counts.sum() == 2


def test_quantile_bins_deduplicate_discrete_values() -> None:
    refusals = np.array([0.0] * 90 + [1.0] * 10)
    bins = quantile_bins(refusals, 10)
    assert bins.edges == (0.0,)  # (-inf, 0] and (0, +inf): refused or not
    assert list(bins.histogram(refusals)) == [90, 10]
    tokens = np.repeat([1.0, 2.0, 3.0], [50, 30, 20])
    assert quantile_bins(tokens, 10).count == 3


def test_constant_baseline_still_sees_values_on_either_side() -> None:
    bins = quantile_bins(np.full(100, 7.0), 10)
    assert list(bins.histogram(np.array([6.0, 7.0, 7.0, 8.0]))) == [1, 2, 1]


# PSI -----------------------------------------------------------------------------------------
def test_psi_of_identical_samples_is_zero() -> None:
    sample = _normal(3, 500)
    result = assess_drift("latency", sample, sample)
    assert result.psi == pytest.approx(0.0, abs=1e-12)
    assert result.verdict is DriftVerdict.OK


def test_psi_matches_the_textbook_formula() -> None:
    baseline = np.array([50.0, 30.0, 20.0])
    current = np.array([30.0, 30.0, 40.0])
    value, terms = psi_from_counts(baseline, current, pseudo_count=0.0)
    b, c = baseline / 100, current / 100
    assert value == pytest.approx(float(np.sum((c - b) * np.log(c / b))))
    assert terms[1] == 0 and np.all(terms >= 0)


def test_plain_psi_floors_empty_bins_at_epsilon() -> None:
    value, terms = psi_from_counts(np.array([10.0, 0.0]), np.array([5.0, 5.0]),
                                   pseudo_count=0.0, epsilon=1e-4)
    assert terms[1] == pytest.approx((0.5 - 1e-4) * np.log(0.5 / 1e-4))
    assert np.isfinite(value)


def test_smoothing_bounds_the_cost_of_an_empty_bin() -> None:
    baseline, current = np.full(10, 10.0), np.array([0.0] + [100 / 9] * 9)
    plain, _ = psi_from_counts(baseline, current, pseudo_count=0.0)
    smoothed, _ = psi_from_counts(baseline, current, pseudo_count=0.5)
    assert smoothed < plain / 2


# critical value ------------------------------------------------------------------------------
def test_critical_value_is_the_scaled_chi_square_quantile() -> None:
    expected = (1 / 100 + 1 / 300) * scipy_stats.chi2.ppf(0.99, 9)
    assert psi_critical_value(100, 300, 10, 0.01) == pytest.approx(expected, rel=1e-9)


def test_critical_value_shrinks_as_one_over_n() -> None:
    values = [psi_critical_value(n, n, 10, 0.005) for n in (50, 100, 1000, 10000)]
    assert values == sorted(values, reverse=True)
    assert values[0] / values[2] == pytest.approx(20.0)
    assert values[0] > 0.25  # small N: the noise bound decides
    assert values[2] < 0.1  # large N: the plain threshold decides


def test_decide_needs_both_threshold_and_significance() -> None:
    policy = DriftPolicy()
    assert decide(0.3, critical_value=0.5, policy=policy) is DriftVerdict.OK  # noise
    assert decide(0.05, critical_value=0.01, policy=policy) is DriftVerdict.OK  # immaterial
    assert decide(0.15, critical_value=0.01, policy=policy) is DriftVerdict.WARN
    assert decide(0.3, critical_value=0.01, policy=policy) is DriftVerdict.ALERT
    assert decide(0.3, critical_value=0.2, policy=policy) is DriftVerdict.ALERT


# verdicts ------------------------------------------------------------------------------------
def test_few_samples_are_insufficient_not_ok() -> None:
    result = assess_drift("prompt_tokens", _normal(4, 49), _normal(5, 500))
    assert result.verdict is DriftVerdict.INSUFFICIENT
    assert result.psi is None and not result.drifted
    assert "50" in result.reason


def test_same_distribution_at_100_is_ok_where_plain_psi_would_warn() -> None:
    # Plain PSI > 0.1 in ~86% of 100-vs-100 no-drift runs; ours stays quiet in these 50.
    verdicts = [assess_drift("x", _normal(10 + s, 100), _normal(500 + s, 100)).verdict
                for s in range(50)]
    assert verdicts.count(DriftVerdict.OK) >= 49


def test_a_large_shift_alerts_and_a_moderate_one_warns() -> None:
    alert = assess_drift("latency", _normal(6, 2000), _normal(7, 2000, loc=1.0))
    assert alert.verdict is DriftVerdict.ALERT and alert.drifted
    warn = assess_drift("latency", _normal(8, 5000), _normal(9, 5000, loc=0.4))
    assert warn.verdict is DriftVerdict.WARN
    assert warn.psi is not None and 0.1 < warn.psi < 0.25


def test_result_reports_bins_and_shares() -> None:
    result = assess_drift("completion_tokens", _normal(11, 300), _normal(12, 300, loc=2.0))
    data = result.as_dict()
    assert data["verdict"] == "alert" and len(data["bins"]) == 10
    assert sum(data["baseline_share"]) == pytest.approx(1.0)
    assert data["current_share"][-1] > 0.5  # the shift went to the top bin


def test_non_finite_values_are_rejected_with_the_feature_name() -> None:
    with pytest.raises(ValueError, match="top_retrieval_score"):
        assess_drift("top_retrieval_score", [0.1, float("nan")] * 50, [0.2] * 100)


def test_report_covers_every_feature_in_standard_order() -> None:
    baseline = {"latency": _normal(13, 100), "prompt_tokens": _normal(14, 100),
                "custom": _normal(15, 100)}
    current = {"latency": _normal(16, 100), "prompt_tokens": _normal(17, 100)}
    report = drift_report(baseline, current)
    assert [r.feature for r in report] == ["prompt_tokens", "latency", "custom"]
    assert report[2].verdict is DriftVerdict.INSUFFICIENT  # missing in current
    assert guard_score_feature("pii") in STANDARD_FEATURES


def test_policy_validation_names_the_field() -> None:
    with pytest.raises(ValueError, match="warn_psi"):
        DriftPolicy(warn_psi=0.3, alert_psi=0.2)
    with pytest.raises(ValueError, match="bins"):
        DriftPolicy(bins=1)
    with pytest.raises(ValueError, match="guard category"):
        guard_score_feature("pii score")
