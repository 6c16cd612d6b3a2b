"""The stratified bootstrap against scipy.stats.bootstrap and closed forms."""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest
from scipy import stats

from bench.errors import StatisticsError
from bench.scoring.bootstrap import StratifiedBootstrap, bootstrap_ratio, resample_sums

RNG = np.random.default_rng(20261129)


def _pooled_mean(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
    return sum(s.sum(axis=axis) for s in samples) / sum(s.shape[axis] for s in samples)


def _strata(kind: str) -> list[np.ndarray]:
    if kind == "binary":
        return [(RNG.random(n) < p).astype(float) for n, p in [(150, 0.8), (90, 0.6), (120, 0.7)]]
    return [RNG.exponential(scale, n) for n, scale in [(150, 0.4), (90, 0.9), (120, 0.6)]]


@pytest.mark.parametrize("kind", ["binary", "continuous"])
@pytest.mark.parametrize("method", ["percentile", "BCa"])
def test_intervals_match_scipy_within_monte_carlo_error(kind: str, method: str) -> None:
    samples = _strata(kind)
    theirs = stats.bootstrap(samples, _pooled_mean, n_resamples=20_000, vectorized=True, method=method,
                             rng=np.random.default_rng(1))
    labels = np.concatenate([np.full(len(s), i) for i, s in enumerate(samples)])
    ours = bootstrap_ratio(np.concatenate(samples), strata=labels, n_resamples=20_000, method=method, rng=2)
    assert ours.method == method
    assert math.isclose(ours.estimate, _pooled_mean(*samples), rel_tol=1e-12)
    # Each 2.5% quantile of 20,000 resamples has a Monte Carlo sd near 0.02 standard errors.
    tolerance = 0.15 * theirs.standard_error
    assert abs(ours.low - theirs.confidence_interval.low) < tolerance
    assert abs(ours.high - theirs.confidence_interval.high) < tolerance
    assert math.isclose(ours.standard_error, theirs.standard_error, rel_tol=0.03)


def test_binomial_closed_form_has_the_binomial_moments() -> None:
    x = np.r_[np.ones(70), np.zeros(30)]
    sums = resample_sums(x, 50_000, np.random.default_rng(0))
    assert sums.shape == (50_000, 1)
    assert set(np.unique(sums) % 1) == {0.0}
    assert abs(sums.mean() - 70) < 4 * math.sqrt(100 * 0.21 / 50_000)
    assert math.isclose(sums.var(), 100 * 0.7 * 0.3, rel_tol=0.03)


def test_index_path_has_the_moments_of_a_resampled_sum() -> None:
    x = RNG.normal(size=500)
    sums = resample_sums(np.c_[x, np.ones_like(x)], 20_000, np.random.default_rng(0), max_elements=10_000)
    assert np.all(sums[:, 1] == 500)
    assert abs(sums[:, 0].mean() - x.sum()) < 4 * math.sqrt(500 * x.var() / 20_000)
    assert math.isclose(sums[:, 0].var(), 500 * x.var(), rel_tol=0.04)


def test_multinomial_path_matches_the_index_path_in_distribution() -> None:
    x = RNG.integers(0, 5, 400).astype(float)  # 5 distinct values: multinomial counts
    exact = resample_sums(x, 20_000, np.random.default_rng(0))[:, 0]
    noise = RNG.normal(scale=1e-9, size=400)  # breaks ties: forces index resampling
    indexed = resample_sums(x + noise, 20_000, np.random.default_rng(1))[:, 0]
    assert stats.ks_2samp(exact, indexed).pvalue > 1e-3


def test_memory_stays_bounded_for_a_million_examples() -> None:
    x = RNG.random(1_000_000)
    tracemalloc.start()
    try:
        sums = resample_sums(x, 120, np.random.default_rng(0))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sums.shape == (120, 1)
    assert peak < 80 * 2**20  # the array itself is 8 MB; one chunk of indices is 8 MB
    assert abs(sums.mean() / 1e6 - x.mean()) < 0.01


def test_record_order_changes_nothing() -> None:
    strata = [np.c_[RNG.exponential(size=80), np.ones(80)], np.c_[RNG.exponential(size=60), np.ones(60)]]
    shuffled = [s[RNG.permutation(len(s))] for s in strata]
    a = StratifiedBootstrap(strata, n_resamples=500, rng=3)
    b = StratifiedBootstrap(shuffled, n_resamples=500, rng=3)
    np.testing.assert_array_equal(a.sums, b.sums)


def test_vector_statistic_gives_one_interval_per_output() -> None:
    strata = [np.c_[RNG.exponential(size=80), np.ones(80)], np.c_[RNG.exponential(size=60), np.ones(60)]]
    boot = StratifiedBootstrap(strata, n_resamples=2_000, rng=0)
    both = boot.interval(lambda s: s[..., 0] / s[..., 1], keep_distribution=True)
    first = boot.interval(lambda s: s[..., 0, 0] / s[..., 0, 1])
    assert both.distribution.shape == (2_000, 2)
    assert math.isclose(both.low[0], first.low) and math.isclose(both.high[0], first.high)


def test_a_degenerate_distribution_gives_a_point_interval() -> None:
    result = bootstrap_ratio(np.ones(50), n_resamples=200, rng=0)
    assert result.low == result.high == result.estimate == 1.0
    assert result.standard_error == 0.0


def test_jackknife_is_the_leave_one_out_statistic() -> None:
    x = RNG.normal(size=30)
    boot = StratifiedBootstrap([np.c_[x, np.ones(30)]], n_resamples=100, rng=0)
    jack = boot.jackknife(lambda s: s[..., 0, 0] / s[..., 0, 1], 0)
    expected = [np.delete(np.sort(x), i).mean() for i in range(30)]  # rows are kept sorted
    np.testing.assert_allclose(jack, expected, rtol=1e-12)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"level": 1.5}, r"confidence level must be a number in the open interval \(0, 1\). Got 1.5"),
    ({"level": 0}, r"open interval \(0, 1\). Got 0"),
    ({"n_resamples": 10}, r"The 'n_resamples' parameter must be an integer of at least 100. Got 10 instead"),
    ({"n_resamples": 1000.0}, r"must be an integer of at least 100. Got 1000.0"),
    ({"method": "basic"}, r"The 'method' parameter must be one of percentile, BCa. Got 'basic' instead"),
])
def test_invalid_parameters_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(StatisticsError, match=message):
        bootstrap_ratio(np.ones(5), **kwargs)


def test_mismatched_and_empty_inputs() -> None:
    with pytest.raises(StatisticsError, match="values, weights and strata must have the same length. Got 3, 2 and 3"):
        bootstrap_ratio(np.ones(3), np.ones(2), np.zeros(3))
    with pytest.raises(StatisticsError, match="Cannot bootstrap an empty sample"):
        bootstrap_ratio(np.array([]))
    with pytest.raises(StatisticsError, match=r"All strata must have the same number of components. Got \[1, 2\]"):
        StratifiedBootstrap([np.ones((3, 1)), np.ones((3, 2))], n_resamples=100)
    with pytest.raises(StatisticsError, match="At least one stratum is needed"):
        StratifiedBootstrap([], n_resamples=100)
    with pytest.raises(StatisticsError, match=r"Components of stratum 0 must have shape \(n, C\)"):
        StratifiedBootstrap([np.ones((2, 2, 2))], n_resamples=100)
