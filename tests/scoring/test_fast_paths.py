"""The shortcuts of the permutation tests and the bootstrap, each held to the plain
computation it replaces: asymptotic permutation p-values against plain Monte Carlo
(within its error), the tail-sum exact test against a term-by-term sum, the matched-cumulant
bootstrap and the infinitesimal jackknife against index resampling and the leave-one-out
jackknife, and the adaptive number of permutations against the Holm family it serves."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import hypergeom

from bench.errors import StatisticsError
from bench.scoring.bootstrap import NORMAL_MIN, StratifiedBootstrap, _distinct_rows
from bench.scoring.gaps import domain_gaps, gap_statistic, holm, range_statistic
from bench.scoring.metrics import get_metric
from bench.scoring.permutation import (
    ASYMPTOTIC_MIN,
    permutation_result,
    permutation_test,
    permutations_needed,
)

ACC = get_metric("classification", "accuracy")
CE = get_metric("classification", "cross_entropy")
ECE = get_metric("classification", "ece")
LM = get_metric("language_modeling", "cross_entropy")


def _ratio(x: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    return np.c_[np.asarray(x, float), np.ones(len(x)) if w is None else w]


def _mc_error(p: float, r: int) -> float:
    return math.sqrt(max(p, 1e-4) * (1 - p) / r)


def _groups(case: str, rng: np.random.Generator) -> tuple[list[np.ndarray], object]:
    n = ASYMPTOTIC_MIN
    if case == "skewed-mean":
        return [_ratio(rng.lognormal(0, 1, n)), _ratio(rng.lognormal(0.07, 1, n + 500))], \
            gap_statistic(CE, [0], [1])
    if case == "weighted-ratio":
        tokens = [rng.integers(5, 60, m).astype(float) for m in (n, 2 * n)]
        nll = [t * rng.gamma(2.0, s, len(t)) for t, s in zip(tokens, (1.0, 1.03), strict=True)]
        return [_ratio(v, t) for v, t in zip(nll, tokens, strict=True)], gap_statistic(LM, [0], [1])
    if case == "calibration":
        conf = [rng.uniform(0.5, 1, m) for m in (n, n)]
        correct = [(rng.random(len(c)) < c - s).astype(float) for c, s in zip(conf, (0.0, 0.02), strict=True)]
        parts = [ECE.components({"probs": np.c_[c, 1 - c], "correct": y}) for c, y in zip(conf, correct, strict=True)]
        return parts, gap_statistic(ECE, [0], [1])
    groups = [_ratio(rng.exponential(s, n)) for s in (1.0, 1.02, 1.04, 0.99)]  # "range"
    return groups, range_statistic(CE)


@pytest.mark.parametrize("case", ["skewed-mean", "weighted-ratio", "calibration", "range"])
def test_asymptotic_p_value_is_within_monte_carlo_error_of_plain_permutations(case: str) -> None:
    groups, statistic = _groups(case, np.random.default_rng(3))
    fast = permutation_result(groups, statistic, n_permutations=20_000, rng=1)
    plain = permutation_result(groups, statistic, n_permutations=4_000, rng=2, asymptotic_min=None)
    assert fast.method == "asymptotic" and plain.method == "monte_carlo"
    assert 0.002 < plain.p_value < 0.9  # a p-value that the comparison can resolve
    tolerance = 4 * math.hypot(_mc_error(plain.p_value, plain.n_permutations), _mc_error(fast.p_value, 20_000))
    assert abs(fast.p_value - plain.p_value) < tolerance


def test_asymptotic_moments_are_the_permutation_moments() -> None:
    """The drawn group sums have the exact mean and covariance of sums under relabelling."""
    rng = np.random.default_rng(0)
    pooled = rng.exponential(1.0, 3_000)
    sizes = np.array([1_000, 2_000])
    draws = []

    def record(sums: np.ndarray) -> np.ndarray:
        if sums.ndim == 3:  # the draws, not the observed sums
            draws.append(sums[:, 0, 0].copy())
        return np.zeros(sums.shape[:-2])

    groups = [_ratio(pooled[:1_000]), _ratio(pooled[1_000:])]
    permutation_test(groups, lambda s: record(s) + 1.0, n_permutations=100_000, rng=0, asymptotic_min=1_000)
    sums = np.concatenate(draws)
    n, n_a = len(pooled), sizes[0]
    var = n_a * (n - n_a) / (n * (n - 1)) * ((pooled - pooled.mean()) ** 2).sum()  # without replacement
    assert abs(sums.mean() - n_a * pooled.mean()) < 5 * math.sqrt(var / len(sums))
    assert sums.var() == pytest.approx(var, rel=0.03)


def test_exact_test_by_tails_equals_the_term_by_term_sum() -> None:
    rng = np.random.default_rng(5)
    a, b = (rng.random(30_000) < 0.801).astype(float), (rng.random(20_000) < 0.795).astype(float)
    result = permutation_result([_ratio(a), _ratio(b)], gap_statistic(ACC, [0], [1]))
    n, k1, n_a = len(a) + len(b), int(a.sum() + b.sum()), len(a)
    k = np.arange(max(0, n_a - (n - k1)), min(n_a, k1) + 1)
    diff = np.abs(k / n_a - (k1 - k) / (n - n_a))
    observed = abs(a.mean() - b.mean())
    expected = hypergeom.pmf(k, n, k1, n_a)[diff >= observed * (1 - 1e-9) - 1e-12].sum()
    assert result.method == "exact" and result.n_permutations == 0
    assert result.p_value == pytest.approx(expected, rel=1e-9)


def test_exact_test_of_a_statistic_not_monotone_in_the_count() -> None:
    a, b = np.array([1, 1, 0, 1, 0, 1, 1, 0]), np.array([0, 1, 0, 0, 1, 0])
    statistic = gap_statistic(ACC, [0], [1])

    def folded(sums: np.ndarray) -> np.ndarray:  # |gap| − 0.3: hits in the middle of the support too
        return np.abs(np.abs(statistic(sums)) - 0.3)

    p = permutation_test([_ratio(a), _ratio(b)], folded)
    n, k1, n_a = 14, int(a.sum() + b.sum()), 8
    k = np.arange(max(0, n_a - (n - k1)), min(n_a, k1) + 1)
    values = np.abs(np.abs(k / n_a - (k1 - k) / (n - n_a)) - 0.3)
    observed = abs(abs(a.mean() - b.mean()) - 0.3)
    assert p == pytest.approx(hypergeom.pmf(k, n, k1, n_a)[values >= observed * (1 - 1e-9) - 1e-12].sum())


def test_a_clearly_small_p_value_stops_once_holm_rejects_it_at_any_step() -> None:
    rng = np.random.default_rng(1)
    a, b = _ratio(rng.normal(0, 1, 200)), _ratio(rng.normal(1, 1, 200))  # a sure difference
    result = permutation_result([a, b], gap_statistic(CE, [0], [1]), n_permutations=2_000, rng=0, family_size=121)
    # no hit in 2,000 draws: 1/2,001 = 5.0e-4 is not yet below 0.05/121 = 4.1e-4; after 4,000 it is
    assert result.n_permutations == 4_000 < permutations_needed(121, 0.05) == 24_199
    assert result.p_value == 1 / 4_001 < 0.05 / 121
    adjusted = holm([result.p_value] * 121)
    assert adjusted.max() == pytest.approx(121 / 4_001) and adjusted.max() < 0.05


def test_an_undecided_p_value_draws_up_to_the_family_resolution() -> None:
    rng = np.random.default_rng(1)
    a, b = _ratio(rng.normal(0, 1, 200)), _ratio(rng.normal(0.22, 1, 200))  # p near 0.02: undecided at m = 121
    result = permutation_result([a, b], gap_statistic(CE, [0], [1]), n_permutations=2_000, rng=0, family_size=121)
    assert 0.05 / 121 < result.p_value < 0.05
    assert result.n_permutations == permutations_needed(121, 0.05) == 24_199


def test_a_clearly_large_p_value_stops_after_the_first_draws() -> None:
    rng = np.random.default_rng(2)
    a, b = _ratio(rng.normal(0, 1, 200)), _ratio(rng.normal(0, 1, 200))
    result = permutation_result([a, b], gap_statistic(CE, [0], [1]), n_permutations=2_000, rng=0, family_size=121)
    assert result.p_value > 0.2 and result.n_permutations == 2_000


def test_family_of_one_keeps_the_requested_permutations() -> None:
    assert permutations_needed(1, 0.05, 2_000) == 2_000
    assert permutations_needed(12, 0.05, 2_000) == 2_399


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"family_size": 0}, r"The 'family_size' parameter must be a positive integer. Got 0 instead."),
    ({"family_size": 2, "alpha": 1.5}, r"The 'alpha' parameter must lie in \(0, 1\). Got 1.5 instead."),
])
def test_invalid_resolution_parameters(kwargs: dict, match: str) -> None:
    args = {"family_size": 1, "alpha": 0.05, **kwargs}
    with pytest.raises(StatisticsError, match=match):
        permutations_needed(args["family_size"], args["alpha"])
    with pytest.raises(StatisticsError, match=match):
        permutation_test([_ratio([0.1, 0.5]), _ratio([0.2, 0.9])], gap_statistic(CE, [0], [1]), **args)


def test_domain_gaps_resolve_their_holm_family() -> None:
    """15 domains, one clearly worse: its adjusted p-values are not held up by the floor."""
    rng = np.random.default_rng(4)
    strata = {f"d{i}": _ratio(rng.normal(1.0 if i == 14 else 0.0, 1, 60)) for i in range(15)}
    gaps = domain_gaps(strata, CE, in_domain=["d0"], resamples=200, permutations=200, seed=0,
                       kinds=["id_ood", "pairwise"])
    worst = [g for g in gaps if g.domain_b == "d14" and g.kind == "pairwise"]
    assert len(gaps) == 121 - 1  # 14 + 1 id_ood, 105 pairwise (no best_worst asked for)
    assert {g.family_size for g in gaps if g.kind == "pairwise"} == {105}
    # the draws go on until Holm's decision is certain: significant within the family of 105
    assert min(g.p_adjusted for g in worst) < 0.05


def test_distinct_rows_match_numpy_unique() -> None:
    rng = np.random.default_rng(6)
    for trial in range(50):
        x = rng.integers(0, rng.integers(1, 6), (int(rng.integers(1, 3_000)), int(rng.integers(1, 5)))) * 0.5
        if trial % 3 == 0:
            x[rng.integers(0, len(x))] = 7.25  # one rare value the samples may miss
        rows, counts = np.unique(x, axis=0, return_counts=True)
        found = _distinct_rows(x)
        if len(rows) > 32:
            assert found is None
            continue
        assert found is not None
        np.testing.assert_array_equal(found[0], rows)
        np.testing.assert_array_equal(found[1], counts)
    assert _distinct_rows(rng.random((100, 2))) is None


@pytest.mark.parametrize("method", ["percentile", "BCa"])
@pytest.mark.parametrize("case", ["skewed", "calibration"])
def test_normal_limit_bootstrap_is_within_two_percent_of_width_of_index_resampling(method: str, case: str) -> None:
    rng = np.random.default_rng(7)
    n = NORMAL_MIN
    if case == "skewed":
        strata = [_ratio(rng.lognormal(0, 1, n)), _ratio(rng.lognormal(0.1, 1, n))]
        statistic = gap_statistic(CE, [0], [1])
    else:
        conf = rng.uniform(0.5, 1, 2 * n)
        parts = ECE.components({"probs": np.c_[conf, 1 - conf], "correct": (rng.random(2 * n) < conf - 0.03) * 1.0})
        strata, statistic = [parts[:n], parts[n:]], gap_statistic(ECE, [0], [1])
    fast = StratifiedBootstrap(strata, n_resamples=20_000, rng=0).interval(statistic, method=method)
    plain = StratifiedBootstrap(strata, n_resamples=20_000, rng=1, normal_min=None).interval(statistic, method=method)
    width = plain.high - plain.low
    # 2 % of the width, plus the Monte Carlo error of two 20,000-resample bounds (~0.04 SE each)
    tolerance = 0.02 * width + 0.12 * plain.standard_error
    assert abs(fast.low - plain.low) < tolerance and abs(fast.high - plain.high) < tolerance
    assert fast.standard_error == pytest.approx(plain.standard_error, rel=0.03)


def test_infinitesimal_jackknife_matches_the_leave_one_out_jackknife() -> None:
    rng = np.random.default_rng(8)
    strata = [_ratio(rng.lognormal(0, 1, NORMAL_MIN), rng.integers(1, 9, NORMAL_MIN).astype(float)),
              _ratio(rng.lognormal(0, 1.2, NORMAL_MIN + 7))]
    statistic = gap_statistic(LM, [0], [1])
    boot = StratifiedBootstrap(strata, n_resamples=100, rng=0)
    gradient = boot._gradient(statistic)
    for s in range(2):
        approx = boot._jackknife_terms(statistic, s, gradient)
        exact = boot._jackknife_terms(statistic, s, None)
        np.testing.assert_allclose(approx, exact, rtol=2e-3, atol=2e-3 * np.abs(exact).max())
