"""The evaluation statistics against published values and against scipy (tests only)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from warden.evaluation.stats import (
    Interval,
    bootstrap_ci,
    bootstrap_two_sample_ci,
    chi2_cdf,
    chi2_ppf,
    mann_whitney_u,
    two_proportion_diff_ci,
    wilson_interval,
)


# Interval ------------------------------------------------------------------------------------
def test_interval_contains_and_straddles() -> None:
    interval = Interval(point=0.5, low=0.4, high=0.6, level=0.95)
    assert interval.contains(0.4) and interval.contains(0.6) and not interval.contains(0.61)
    assert interval.straddles(0.55)
    assert not interval.straddles(0.4)  # on the edge: the data already excludes beyond it
    assert not interval.straddles(0.7)
    assert interval.above(0.3) and interval.below(0.7) and not interval.above(0.45)
    assert interval.width == pytest.approx(0.2)


def test_interval_rejects_inverted_bounds_and_bad_level() -> None:
    with pytest.raises(ValueError, match="low"):
        Interval(point=0.5, low=0.6, high=0.4, level=0.95)
    with pytest.raises(ValueError, match="level"):
        Interval(point=0.5, low=0.4, high=0.6, level=95)


# Wilson --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("successes", "low", "high"),
    [  # Newcombe (1998) Table I / any Wilson calculator, 95%, n = 10
        (0, 0.0, 0.2775),
        (5, 0.2366, 0.7634),
        (10, 0.7225, 1.0),
    ],
)
def test_wilson_matches_published_values(successes: int, low: float, high: float) -> None:
    interval = wilson_interval(successes, 10)
    assert interval.point == successes / 10
    assert interval.low == pytest.approx(low, abs=5e-5)
    assert interval.high == pytest.approx(high, abs=5e-5)


def test_wilson_narrows_with_n_and_widens_with_level() -> None:
    assert wilson_interval(50, 100).width < wilson_interval(5, 10).width
    assert wilson_interval(5, 10, level=0.99).width > wilson_interval(5, 10).width


def test_wilson_rejects_impossible_counts() -> None:
    with pytest.raises(ValueError, match="n >= 1"):
        wilson_interval(0, 0)
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(11, 10)


# Newcombe difference -------------------------------------------------------------------------
def test_newcombe_difference_matches_the_paper_example() -> None:
    # Newcombe (1998), method 10, example (a): 56/70 - 48/80 -> 0.2000 (0.0524, 0.3339).
    interval = two_proportion_diff_ci(56, 70, 48, 80)
    assert interval.point == pytest.approx(0.2)
    assert interval.low == pytest.approx(0.0524, abs=5e-5)
    assert interval.high == pytest.approx(0.3339, abs=5e-5)


def test_newcombe_difference_at_the_boundaries() -> None:
    # Newcombe (1998) example (h): 10/10 - 0/10 -> 1.0 (0.6075, 1.0000).
    interval = two_proportion_diff_ci(10, 10, 0, 10)
    assert interval.low == pytest.approx(0.6075, abs=5e-5)
    assert interval.high == 1.0
    same = two_proportion_diff_ci(30, 100, 30, 100)
    assert same.point == 0 and same.straddles(0)


# bootstrap -----------------------------------------------------------------------------------
def test_bootstrap_is_deterministic_for_a_seed_and_varies_across_seeds() -> None:
    values = np.random.default_rng(7).lognormal(size=200)
    first = bootstrap_ci(values, seed=3)
    assert bootstrap_ci(values, seed=3) == first
    assert bootstrap_ci(values, seed=4) != first
    assert first.contains(float(values.mean()))


def test_bootstrap_mean_interval_is_close_to_the_normal_interval() -> None:
    values = np.random.default_rng(11).normal(10, 2, size=400)
    interval = bootstrap_ci(values, n_resamples=4000)
    half = 1.96 * values.std(ddof=1) / np.sqrt(values.size)
    assert interval.low == pytest.approx(values.mean() - half, abs=0.03)
    assert interval.high == pytest.approx(values.mean() + half, abs=0.03)


def test_bootstrap_custom_statistic_and_small_samples() -> None:
    values = [1.0, 2.0, 3.0, 4.0, 100.0]
    median = bootstrap_ci(values, statistic=lambda x: float(np.median(x)))
    assert median.point == 3.0 and median.high <= 100.0 and median.low >= 1.0
    single = bootstrap_ci([4.2])
    assert (single.low, single.point, single.high) == (4.2, 4.2, 4.2)
    with pytest.raises(ValueError, match="at least one value"):
        bootstrap_ci([])
    with pytest.raises(ValueError, match="finite"):
        bootstrap_ci([1.0, float("nan")])


def test_bootstrap_vectorised_mean_equals_the_generic_path_across_blocks() -> None:
    # 5 000 values x 2 000 resamples is drawn in several blocks; the vectorised mean and a
    # generic statistic see the same resamples, so they must give the same interval.
    values = np.random.default_rng(5).exponential(size=5_000)
    fast = bootstrap_ci(values)
    generic = bootstrap_ci(values, statistic=lambda x: float(np.mean(x)))
    assert fast.low == pytest.approx(generic.low, rel=1e-12)
    assert fast.high == pytest.approx(generic.high, rel=1e-12)
    assert fast.contains(float(values.mean()))


def test_two_sample_bootstrap_of_a_quantile_ratio() -> None:
    rng = np.random.default_rng(12)
    slow, fast = rng.lognormal(0.3, 0.5, 800), rng.lognormal(0.0, 0.5, 800)

    def p95_ratio(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.quantile(a, 0.95) / np.quantile(b, 0.95))

    interval = bootstrap_two_sample_ci(slow, fast, statistic=p95_ratio, n_resamples=500)
    assert interval.contains(float(np.exp(0.3)))  # the true ratio of the two p95s
    assert interval.low > 1.1
    again = bootstrap_two_sample_ci(slow, fast, statistic=p95_ratio, n_resamples=500)
    assert again == interval
    with pytest.raises(ValueError, match="non-empty"):
        bootstrap_two_sample_ci([], fast, statistic=p95_ratio)


# Mann-Whitney --------------------------------------------------------------------------------
ALTERNATIVES = ["two-sided", "less", "greater"]


@pytest.mark.parametrize("alternative", ALTERNATIVES)
@pytest.mark.parametrize("seed", range(5))
def test_mann_whitney_asymptotic_matches_scipy_on_continuous_data(alternative: str,
                                                                  seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.lognormal(0.0, 1.0, size=rng.integers(20, 200))
    b = rng.lognormal(0.2, 1.0, size=rng.integers(20, 200))
    ours = mann_whitney_u(a, b, alternative=alternative, method="asymptotic")
    theirs = scipy_stats.mannwhitneyu(a, b, alternative=alternative, method="asymptotic")
    assert ours.u == theirs.statistic
    assert ours.p_value == pytest.approx(theirs.pvalue, rel=1e-9, abs=1e-15)


@pytest.mark.parametrize("alternative", ALTERNATIVES)
@pytest.mark.parametrize("seed", range(5))
def test_mann_whitney_matches_scipy_with_heavy_ties(alternative: str, seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    a = rng.integers(0, 5, size=60)
    b = rng.integers(1, 6, size=45)
    ours = mann_whitney_u(a, b, alternative=alternative)  # ties force the asymptotic path
    theirs = scipy_stats.mannwhitneyu(a, b, alternative=alternative, method="asymptotic")
    assert ours.method == "asymptotic"
    assert ours.u == theirs.statistic
    assert ours.p_value == pytest.approx(theirs.pvalue, rel=1e-9, abs=1e-15)


@pytest.mark.parametrize("alternative", ALTERNATIVES)
@pytest.mark.parametrize(("n_a", "n_b"), [(3, 4), (7, 9), (12, 5), (20, 20)])
def test_mann_whitney_exact_matches_scipy(alternative: str, n_a: int, n_b: int) -> None:
    rng = np.random.default_rng(n_a * 100 + n_b)
    a = rng.normal(0.5, 1, size=n_a)
    b = rng.normal(0.0, 1, size=n_b)
    ours = mann_whitney_u(a, b, alternative=alternative)
    theirs = scipy_stats.mannwhitneyu(a, b, alternative=alternative, method="exact")
    assert ours.method == "exact"
    assert ours.p_value == pytest.approx(theirs.pvalue, rel=1e-9)


def test_mann_whitney_direction_and_effect_size() -> None:
    slow = np.arange(100, 200, dtype=float)
    fast = np.arange(0, 100, dtype=float)
    result = mann_whitney_u(slow, fast, alternative="greater")
    assert result.p_value < 1e-20 and result.probability_a_greater == 1.0
    assert mann_whitney_u(slow, fast, alternative="less").p_value == pytest.approx(1.0)


def test_mann_whitney_all_tied_gives_no_evidence_and_rejects_bad_input() -> None:
    assert mann_whitney_u([1.0] * 10, [1.0] * 12).p_value == 1.0
    with pytest.raises(ValueError, match="non-empty"):
        mann_whitney_u([], [1.0])
    with pytest.raises(ValueError, match="ties"):
        mann_whitney_u([1.0, 2.0], [2.0, 3.0], method="exact")
    with pytest.raises(ValueError):
        mann_whitney_u([1.0], [2.0], alternative="bigger")


# chi-square ----------------------------------------------------------------------------------
@pytest.mark.parametrize("df", [1, 2, 4, 9, 19, 50, 500])
@pytest.mark.parametrize("q", [0.01, 0.5, 0.9, 0.95, 0.99, 0.999])
def test_chi2_ppf_matches_scipy(df: int, q: float) -> None:
    assert chi2_ppf(q, df) == pytest.approx(scipy_stats.chi2.ppf(q, df), rel=1e-9)
    assert chi2_cdf(chi2_ppf(q, df), df) == pytest.approx(q, abs=1e-12)
