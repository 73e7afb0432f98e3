"""Small-sample statistics for evaluation gates, canary analysis and drift: intervals
(percentile bootstrap, Wilson, Newcombe), the Mann-Whitney U test and the chi-square quantile.

Pure numpy + the standard library on purpose: scipy is not a runtime dependency of Warden
(the unit tests check these functions against scipy).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
_STANDARD_NORMAL = NormalDist()
# The bootstrap draws indices in blocks of at most this many cells, to bound memory.
_BOOTSTRAP_BLOCK_CELLS = 2_000_000


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided interval at confidence `level` (e.g. 0.95)."""

    point: float
    low: float
    high: float
    level: float

    def __post_init__(self) -> None:
        if not self.low <= self.high:
            raise ValueError(f"Interval low ({self.low}) must not exceed high ({self.high})")
        if not 0 < self.level < 1:
            raise ValueError(f"Interval level must be within (0, 1), not {self.level}")

    @property
    def width(self) -> float:
        return self.high - self.low

    def contains(self, x: float) -> bool:
        """True when x lies within [low, high] (ends included)."""
        return self.low <= x <= self.high

    def straddles(self, threshold: float) -> bool:
        """True when the threshold lies strictly inside: the data cannot tell which side of it
        the true value is on, so a gate on this threshold is undecided."""
        return self.low < threshold < self.high

    def above(self, threshold: float) -> bool:
        """True when the whole interval is above the threshold (confidently greater)."""
        return self.low > threshold

    def below(self, threshold: float) -> bool:
        """True when the whole interval is below the threshold (confidently smaller)."""
        return self.high < threshold

    def as_dict(self, digits: int = 6) -> dict[str, float]:
        return {"point": round(self.point, digits), "low": round(self.low, digits),
                "high": round(self.high, digits), "level": self.level}


# distributions ---------------------------------------------------------------------------
def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"level must be within (0, 1), e.g. 0.95; got {level}")


def normal_cdf(x: float) -> float:
    return _STANDARD_NORMAL.cdf(x)


def normal_sf(x: float) -> float:
    """Upper tail P(Z > x), accurate far into the tail (no 1 - cdf cancellation)."""
    return 0.5 * math.erfc(x / math.sqrt(2.0))


def normal_ppf(p: float) -> float:
    if not 0 < p < 1:
        raise ValueError(f"normal quantile needs p within (0, 1), got {p}")
    return _STANDARD_NORMAL.inv_cdf(p)


def two_sided_z(level: float) -> float:
    """The z with P(|Z| <= z) = level (1.959964 for 0.95)."""
    _check_level(level)
    return normal_ppf(1 - (1 - level) / 2)


def regularized_gamma_p(a: float, x: float) -> float:
    """P(a, x) = lower incomplete gamma / Gamma(a): series for x < a + 1, else continued
    fraction (Numerical Recipes 6.2). Accurate to ~1e-14 for the a and x chi-square needs."""
    if a <= 0:
        raise ValueError(f"regularized gamma needs a > 0, got {a}")
    if x <= 0:
        return 0.0
    log_prefix = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1:
        term = total = 1.0 / a
        denominator = a
        for _ in range(10_000):
            denominator += 1
            term *= x / denominator
            total += term
            if abs(term) < abs(total) * 1e-16:
                break
        return min(1.0, total * math.exp(log_prefix))
    # Lentz's continued fraction for Q(a, x).
    tiny = 1e-300
    b = x + 1 - a
    c = 1 / tiny
    d = 1 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-16:
            break
    return max(0.0, 1.0 - math.exp(log_prefix) * h)


def chi2_cdf(x: float, df: float) -> float:
    if df <= 0:
        raise ValueError(f"chi-square degrees of freedom must be > 0, got {df}")
    return regularized_gamma_p(df / 2, x / 2)


def chi2_ppf(q: float, df: float) -> float:
    """The q-quantile of chi-square(df): Wilson-Hilferty start, then Newton steps on the exact
    CDF (regularized gamma), bracketed by bisection so it cannot diverge."""
    if not 0 < q < 1:
        raise ValueError(f"chi-square quantile needs q within (0, 1), got {q}")
    if df <= 0:
        raise ValueError(f"chi-square degrees of freedom must be > 0, got {df}")
    z = normal_ppf(q)
    h = 2 / (9 * df)
    x = max(df * (1 - h + z * math.sqrt(h)) ** 3, 1e-300)
    low, high = 0.0, max(2 * x, df + 20 * math.sqrt(2 * df) + 50)
    while chi2_cdf(high, df) < q:
        high *= 2
    k = df / 2
    for _ in range(100):
        error = chi2_cdf(x, df) - q
        if error > 0:
            high = x
        else:
            low = x
        # chi-square density at x, in logs to stay finite for large df.
        log_pdf = (k - 1) * math.log(x) - x / 2 - k * math.log(2) - math.lgamma(k)
        pdf = math.exp(log_pdf) if log_pdf > -700 else 0.0
        step = error / pdf if pdf > 0 else math.inf
        if abs(step) <= 1e-12 * x:
            return max(0.0, x - step)
        candidate = x - step
        x = candidate if low < candidate < high else (low + high) / 2
        if high - low <= 1e-12 * x:
            break
    return x


# intervals -------------------------------------------------------------------------------
def mean(values: FloatArray) -> float:
    """The default bootstrap statistic (bootstrap_ci vectorises it)."""
    return float(np.mean(values))


def _finite_array(values: Sequence[float] | FloatArray, name: str) -> FloatArray:
    array = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite numbers; drop or impute NaN/inf first")
    return array


def bootstrap_ci(values: Sequence[float] | FloatArray, *,
                 statistic: Callable[[FloatArray], float] = mean,
                 n_resamples: int = 2000, level: float = 0.95, seed: int = 0) -> Interval:
    """Percentile bootstrap interval of `statistic` over `values`; the same seed gives the
    same interval. One value gives the degenerate interval [v, v]: there is no spread to
    resample, and callers should treat n=1 as unmeasured rather than certain."""
    _check_level(level)
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    data = _finite_array(values, "bootstrap values")
    n = data.size
    if n == 0:
        raise ValueError("bootstrap_ci needs at least one value; report the metric as "
                         "unmeasured when there are none")
    point = float(statistic(data))
    if n == 1:
        return Interval(point, point, point, level)
    rng = np.random.default_rng(seed)
    rows_per_block = max(1, _BOOTSTRAP_BLOCK_CELLS // n)
    replicates = np.empty(n_resamples, dtype=np.float64)
    for start in range(0, n_resamples, rows_per_block):
        stop = min(n_resamples, start + rows_per_block)
        samples = data[rng.integers(0, n, size=(stop - start, n))]
        if statistic is mean:
            replicates[start:stop] = samples.mean(axis=1)
        else:
            replicates[start:stop] = [statistic(row) for row in samples]
    tail = (1 - level) / 2
    low, high = np.quantile(replicates, [tail, 1 - tail])
    # Guard against float noise putting the point a hair outside a degenerate interval.
    return Interval(point, float(min(low, point)), float(max(high, point)), level)


def bootstrap_two_sample_ci(a: Sequence[float] | FloatArray, b: Sequence[float] | FloatArray,
                            *, statistic: Callable[[FloatArray, FloatArray], float],
                            n_resamples: int = 2000, level: float = 0.95,
                            seed: int = 0) -> Interval:
    """Percentile bootstrap interval of statistic(a, b) for two independent samples, each
    resampled on its own (e.g. the ratio of two p95 latencies). Deterministic for a seed."""
    _check_level(level)
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    x = _finite_array(a, "bootstrap sample a")
    y = _finite_array(b, "bootstrap sample b")
    if x.size == 0 or y.size == 0:
        raise ValueError("bootstrap_two_sample_ci needs both samples non-empty")
    point = float(statistic(x, y))
    rng = np.random.default_rng(seed)
    replicates = np.array([statistic(x[rng.integers(0, x.size, x.size)],
                                     y[rng.integers(0, y.size, y.size)])
                           for _ in range(n_resamples)], dtype=np.float64)
    tail = (1 - level) / 2
    low, high = np.quantile(replicates, [tail, 1 - tail])
    return Interval(point, float(min(low, point)), float(max(high, point)), level)


def wilson_interval(successes: int, n: int, level: float = 0.95) -> Interval:
    """Wilson score interval for a binomial proportion; the point is successes / n.
    Well behaved at 0/n and n/n, where the Wald interval collapses to a single point."""
    if n < 1:
        raise ValueError(f"wilson_interval needs n >= 1 trials, got {n}; report unmeasured")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be within 0..n ({n}), got {successes}")
    z = two_sided_z(level)
    p = successes / n
    z2 = z * z
    denominator = 1 + z2 / n
    center = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    low = 0.0 if successes == 0 else max(0.0, center - half)
    high = 1.0 if successes == n else min(1.0, center + half)
    return Interval(p, min(low, p), max(high, p), level)


def two_proportion_diff_ci(s1: int, n1: int, s2: int, n2: int,
                           level: float = 0.95) -> Interval:
    """Interval for p1 - p2 by Newcombe's hybrid score method (1998, method 10): combines the
    two Wilson intervals; good coverage even near 0 and 1, unlike the Wald difference."""
    first = wilson_interval(s1, n1, level)
    second = wilson_interval(s2, n2, level)
    p1, p2 = first.point, second.point
    diff = p1 - p2
    low = diff - math.sqrt((p1 - first.low) ** 2 + (second.high - p2) ** 2)
    high = diff + math.sqrt((first.high - p1) ** 2 + (p2 - second.low) ** 2)
    return Interval(diff, max(-1.0, low), min(1.0, high), level)


# Mann-Whitney U ----------------------------------------------------------------------------
class Alternative(StrEnum):
    TWO_SIDED = "two-sided"
    LESS = "less"  # a tends to be smaller than b
    GREATER = "greater"  # a tends to be larger than b


@dataclass(frozen=True)
class MannWhitneyResult:
    """U is the statistic of the first sample (scipy's convention): the number of pairs
    (x from a, y from b) with x > y, ties counting one half."""

    u: float
    p_value: float
    alternative: Alternative
    method: str  # "exact" | "asymptotic"
    n_a: int
    n_b: int

    @property
    def probability_a_greater(self) -> float:
        """Common-language effect size P(A > B) + P(A = B)/2 = U / (n_a n_b)."""
        return self.u / (self.n_a * self.n_b)


# Below this many pairs, without ties, the exact null distribution is cheap and beats the
# normal approximation.
EXACT_MAX_PAIRS = 400


def _exact_u_counts(m: int, n: int) -> list[int]:
    """Number of orderings giving each U = 0..m*n: coefficients of the Gaussian binomial
    [m+n choose m]_q = prod_{i=1..m} (1 - q^(n+i)) / (1 - q^i), in exact integers."""
    size = m * n + 1
    counts = [0] * size
    counts[0] = 1
    for i in range(1, m + 1):
        shift = n + i
        for k in range(size - 1, shift - 1, -1):  # multiply by (1 - q^shift)
            counts[k] -= counts[k - shift]
        for k in range(i, size):  # divide by (1 - q^i)
            counts[k] += counts[k - i]
    return counts


def mann_whitney_u(a: Sequence[float] | FloatArray, b: Sequence[float] | FloatArray, *,
                   alternative: str = "two-sided", method: str = "auto") -> MannWhitneyResult:
    """Mann-Whitney U test of a against b. method "asymptotic" is the normal approximation
    with tie and continuity correction (scipy's `method="asymptotic"`); "exact" enumerates the
    null distribution (no ties allowed); "auto" is exact when there are no ties and at most
    EXACT_MAX_PAIRS pairs, else asymptotic."""
    side = Alternative(alternative)
    x = _finite_array(a, "mann_whitney_u sample a")
    y = _finite_array(b, "mann_whitney_u sample b")
    n_a, n_b = x.size, y.size
    if n_a == 0 or n_b == 0:
        raise ValueError(f"mann_whitney_u needs both samples non-empty (got {n_a} and {n_b})")
    pooled = np.concatenate([x, y])
    ranks = _average_ranks(pooled)
    u_a = float(ranks[:n_a].sum() - n_a * (n_a + 1) / 2)
    _, tie_sizes = np.unique(pooled, return_counts=True)
    has_ties = bool(np.any(tie_sizes > 1))
    if method not in {"auto", "exact", "asymptotic"}:
        raise ValueError(f"method must be auto, exact or asymptotic, not {method!r}")
    if method == "exact" and has_ties:
        raise ValueError("exact Mann-Whitney needs samples without ties; use asymptotic")
    exact = method == "exact" or (method == "auto" and not has_ties
                                  and n_a * n_b <= EXACT_MAX_PAIRS)
    if exact:
        p = _exact_p(round(u_a), n_a, n_b, side)
        return MannWhitneyResult(u_a, p, side, "exact", n_a, n_b)
    return MannWhitneyResult(u_a, _asymptotic_p(u_a, n_a, n_b, tie_sizes, side), side,
                             "asymptotic", n_a, n_b)


def _average_ranks(values: FloatArray) -> FloatArray:
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    # Ranks 1..N, then every run of equal values gets the mean rank of its run.
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], ordered.size]
    run_ranks = (starts + 1 + ends) / 2  # mean of ranks start+1 .. end
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[order] = np.repeat(run_ranks, ends - starts)
    return ranks


def _exact_p(u_a: int, n_a: int, n_b: int, side: Alternative) -> float:
    counts = _exact_u_counts(min(n_a, n_b), max(n_a, n_b))  # symmetric in (m, n)
    total = sum(counts)
    at_least = sum(counts[u_a:]) / total
    at_most = sum(counts[: u_a + 1]) / total
    if side is Alternative.GREATER:
        return at_least
    if side is Alternative.LESS:
        return at_most
    return min(1.0, 2 * min(at_least, at_most))


def _asymptotic_p(u_a: float, n_a: int, n_b: int, tie_sizes: npt.NDArray[np.int64],
                  side: Alternative) -> float:
    n = n_a + n_b
    expected = n_a * n_b / 2
    tie_term = float(np.sum(tie_sizes.astype(np.float64) ** 3 - tie_sizes)) / (n * (n - 1)) \
        if n > 1 else 0.0
    variance = n_a * n_b / 12 * ((n + 1) - tie_term)
    if variance <= 0:  # every value tied: no evidence either way
        return 1.0
    sd = math.sqrt(variance)
    u_b = n_a * n_b - u_a
    if side is Alternative.GREATER:
        statistic = u_a
    elif side is Alternative.LESS:
        statistic = u_b
    else:
        statistic = max(u_a, u_b)
    z = (statistic - expected - 0.5) / sd
    p = normal_sf(z)
    return min(1.0, 2 * p) if side is Alternative.TWO_SIDED else p
