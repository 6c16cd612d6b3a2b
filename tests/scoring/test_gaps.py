"""Gaps, permutation tests, Holm and the minimum detectable gap, held to independent
computations (enumeration, statsmodels) and to their coverage by simulation."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower

from bench.errors import EmptyDomainWarning, StatisticsError
from bench.scoring.gaps import (
    domain_gaps,
    domain_spread,
    gap_statistic,
    holm,
    minimum_detectable_gap,
    range_statistic,
)
from bench.scoring.metrics import get_metric
from bench.scoring.options import GAP_KINDS
from bench.scoring.permutation import permutation_test

ACC = get_metric("classification", "accuracy")
CE = get_metric("classification", "cross_entropy")
ECE = get_metric("classification", "ece")
RNG = np.random.default_rng(7)


def _ratio(x: np.ndarray) -> np.ndarray:
    return np.c_[np.asarray(x, float), np.ones(len(x))]


def _enumerated_p(a: np.ndarray, b: np.ndarray) -> float:
    """Exact two-sided permutation p-value of the difference of means, by enumeration."""
    pooled, n_a = np.r_[a, b], len(a)
    observed = abs(a.mean() - b.mean())
    hits = total = 0
    for chosen in itertools.combinations(range(len(pooled)), n_a):
        mask = np.zeros(len(pooled), bool)
        mask[list(chosen)] = True
        hits += abs(pooled[mask].mean() - pooled[~mask].mean()) >= observed * (1 - 1e-9) - 1e-12
        total += 1
    return hits / total


def test_exact_hypergeometric_p_value_equals_enumeration() -> None:
    a, b = np.array([1, 1, 1, 0, 1, 1, 0]), np.array([0, 1, 0, 0, 1, 0])
    p = permutation_test([_ratio(a), _ratio(b)], gap_statistic(ACC, [0], [1]))
    assert math.isclose(p, _enumerated_p(a, b), rel_tol=1e-9)


@pytest.mark.parametrize("values", ["continuous", "three-valued"])
def test_monte_carlo_p_value_is_close_to_enumeration(values: str) -> None:
    if values == "continuous":
        a, b = RNG.normal(0.8, 1, 7), RNG.normal(0, 1, 6)
    else:
        a, b = RNG.integers(0, 3, 7).astype(float), RNG.integers(0, 2, 6).astype(float)
    exact = _enumerated_p(a, b)
    p = permutation_test([_ratio(a), _ratio(b)], gap_statistic(CE, [0], [1]), n_permutations=40_000, rng=1)
    assert abs(p - exact) < 4 * math.sqrt(exact * (1 - exact) / 40_000) + 1e-4


def test_range_permutation_test_of_three_groups_matches_enumeration() -> None:
    groups = [RNG.normal(m, 1, 3) for m in (0.0, 0.5, 1.5)]
    pooled = np.concatenate(groups)
    statistic = range_statistic(CE)

    def value(labels: np.ndarray) -> float:
        sums = np.stack([_ratio(pooled[labels == g]).sum(axis=0) for g in range(3)])
        return float(statistic(sums))

    observed = value(np.repeat(np.arange(3), 3))
    labelings = set(itertools.permutations(np.repeat(np.arange(3), 3)))
    exact = np.mean([value(np.array(lab)) >= observed * (1 - 1e-9) for lab in labelings])
    p = permutation_test([_ratio(g) for g in groups], statistic, n_permutations=20_000, rng=0)
    assert abs(p - exact) < 4 * math.sqrt(exact * (1 - exact) / 20_000) + 1e-4


def test_holm_matches_statsmodels() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.2, 0.001, 0.5])
    np.testing.assert_allclose(holm(p), multipletests(p, method="holm")[1], rtol=1e-12)
    with_nan = holm([0.01, math.nan, 0.04])
    np.testing.assert_allclose(with_nan[[0, 2]], multipletests([0.01, 0.04], method="holm")[1])
    assert math.isnan(with_nan[1])
    with pytest.raises(StatisticsError, match=r"p-values must lie in \[0, 1\]"):
        holm([0.5, 1.5])


def test_minimum_detectable_gap_for_accuracy_is_the_two_proportion_formula() -> None:
    a, b = (RNG.random(300) < 0.8).astype(float), (RNG.random(200) < 0.7).astype(float)
    mdg = minimum_detectable_gap(_ratio(a), _ratio(b), ACC)
    p = np.r_[a, b].mean()
    effect = NormalIndPower().solve_power(nobs1=300, ratio=200 / 300, alpha=0.05, power=0.8)
    assert math.isclose(mdg, effect * math.sqrt(p * (1 - p)), rel_tol=2e-3)
    closed = (1.959963984540054 + 0.8416212335729143) * math.sqrt(p * (1 - p) * (1 / 300 + 1 / 200))
    assert math.isclose(mdg, closed, rel_tol=1e-12)


def test_gap_signs_kinds_and_values() -> None:
    strata = {"a": _ratio(RNG.random(200) < 0.9), "b": _ratio(RNG.random(200) < 0.6),
              "c": _ratio(RNG.random(200) < 0.7)}
    gaps = domain_gaps(strata, ACC, in_domain=["a"], resamples=1_000, seed=0, kinds=GAP_KINDS)
    kinds = [(g.kind, g.domain_a, g.domain_b) for g in gaps]
    assert kinds == [("id_ood", "a", "b"), ("id_ood", "a", "c"), ("id_ood", "a", "OOD"), ("pairwise", "a", "b"),
                     ("pairwise", "a", "c"), ("pairwise", "b", "c"), ("best_worst", "a", "b"),
                     ("spread", "ALL", "ALL")]
    mean = {d: s[:, 0].mean() for d, s in strata.items()}
    assert math.isclose(gaps[0].gap, mean["a"] - mean["b"]) and gaps[0].gap > 0
    assert math.isclose(gaps[2].value_b, np.r_[strata["b"][:, 0], strata["c"][:, 0]].mean())
    assert gaps[0].p_value == gaps[3].p_value  # the same test, in two families
    assert [g.family for g in gaps] == ["id_ood", "id_ood", "id_pooled", "pairwise", "pairwise", "pairwise",
                                        "best_worst", "spread"]
    assert [g.family_size for g in gaps] == [2, 2, 1, 3, 3, 3, 1, 1]
    for family in dict.fromkeys(g.family for g in gaps):  # Holm within each family
        rows = [g for g in gaps if g.family == family]
        np.testing.assert_allclose([g.p_adjusted for g in rows], holm([g.p_value for g in rows]))
    assert math.isclose(gaps[0].relative_drop, (mean["a"] - mean["b"]) / mean["a"])
    losses = domain_gaps({"a": _ratio([0.1, 0.2] * 20), "b": _ratio([0.5, 0.9] * 20)}, CE, in_domain=["a"],
                         resamples=200, kinds=["id_ood"])
    assert losses[0].gap == pytest.approx(0.55)  # a loss: m(B) − m(A), positive = worse on B


def test_domain_spread() -> None:
    spread = domain_spread({"a": 0.9, "b": 0.6, "c": 0.7, "d": math.nan}, higher_is_better=True)
    assert (spread.worst_domain, spread.best_domain) == ("b", "a")
    assert math.isclose(spread.std, np.std([0.9, 0.6, 0.7])) and math.isclose(spread.range, 0.3)
    assert domain_spread({"a": 1.0, "b": 2.0}, higher_is_better=False).worst_domain == "b"


def test_tiny_domain_gives_nan_and_a_warning() -> None:
    probs = RNG.uniform(0.5, 1, 40)
    columns = {"probs": np.c_[probs, 1 - probs], "correct": (RNG.random(40) < probs).astype(float)}
    parts = ECE.components(columns)
    with pytest.warns(EmptyDomainWarning, match=r"ece for m/s/t/b: 10 examples \(needs at least 15\)"):
        gaps = domain_gaps({"a": parts[:30], "b": parts[30:]}, ECE, in_domain=["a"], resamples=200,
                           where="m/s/t", kinds=["id_ood"])
    assert all(math.isnan(g.gap) and math.isnan(g.p_value) and math.isnan(g.ci_low) for g in gaps)


def test_relabelling_domains_permutes_the_results() -> None:
    parts = [_ratio(RNG.exponential(s, 120)) for s in (0.3, 0.6, 0.5)]
    first = domain_gaps(dict(zip("abc", parts, strict=True)), CE, in_domain=["a"], resamples=500, seed=4)
    second = domain_gaps(dict(zip("xyz", parts, strict=True)), CE, in_domain=["x"], resamples=500, seed=4)
    rename = str.maketrans("abc", "xyz")
    for g, h in zip(first, second, strict=True):
        assert (g.domain_a.translate(rename), g.domain_b.translate(rename)) == (h.domain_a, h.domain_b)
        assert (g.gap, g.ci_low, g.ci_high, g.p_value, g.p_adjusted) == (h.gap, h.ci_low, h.ci_high, h.p_value,
                                                                         h.p_adjusted)


def test_invalid_options_are_named() -> None:
    strata = {"a": _ratio([1, 0, 1]), "b": _ratio([0, 0, 1])}
    with pytest.raises(StatisticsError,
                       match=r"'StatisticsOptions\.kinds\[0\]' \(--gaps\) must be one of id_ood, domain_rest, pairwise, best_worst, "
                                            r"spread; got 'worst'\. Did you mean 'best_worst'\?"):
        domain_gaps(strata, ACC, in_domain=["a"], kinds=["worst"])
    with pytest.raises(StatisticsError, match="The 'permutations' parameter must be an integer of at least 100"):
        domain_gaps(strata, ACC, in_domain=["a"], permutations=5)
    with pytest.raises(StatisticsError, match=r"open interval \(0, 1\). Got 95"):
        domain_gaps(strata, ACC, in_domain=["a"], level=95)


def _coverage(p_a: float, p_b: float, trials: int = 1_000, n: int = 200) -> tuple[float, float]:
    """Share of trials whose 95% id_ood gap interval covers the true gap, and share with p ≤ 0.05."""
    rng = np.random.default_rng(2026)
    covered = rejected = 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for trial in range(trials):
            strata = {"a": _ratio(rng.random(n) < p_a), "b": _ratio(rng.random(n) < p_b)}
            (gap,) = [g for g in domain_gaps(strata, ACC, in_domain=["a"], resamples=2_000, seed=trial,
                                             kinds=["id_ood"]) if g.domain_b == "b"]
            covered += gap.ci_low <= p_a - p_b <= gap.ci_high
            rejected += gap.p_value <= 0.05
    return covered / trials, rejected / trials


def test_coverage_with_no_gap_and_a_uniform_enough_p_value() -> None:
    coverage, rejected = _coverage(0.7, 0.7)
    assert 0.93 <= coverage <= 0.97
    assert rejected <= 0.06


def test_coverage_of_a_planted_gap() -> None:
    coverage, _ = _coverage(0.8, 0.7)
    assert 0.93 <= coverage <= 0.97


def test_coverage_for_a_continuous_metric() -> None:
    """Cross-entropy-like skewed losses, same distribution in both domains (index path).

    300 trials: the coverage estimate has a standard deviation of about 0.013, so the
    band is wider than for accuracy.
    """
    rng = np.random.default_rng(1)
    covered = rejected = 0
    trials = 300
    for trial in range(trials):
        strata = {"a": _ratio(rng.exponential(0.5, 200)), "b": _ratio(rng.exponential(0.5, 200))}
        (gap,) = [g for g in domain_gaps(strata, CE, in_domain=["a"], resamples=2_000, permutations=500, seed=trial,
                                         kinds=["id_ood"]) if g.domain_b == "b"]
        covered += gap.ci_low <= 0 <= gap.ci_high
        rejected += gap.p_value <= 0.05
    assert 0.91 <= covered / trials <= 0.98
    assert rejected / trials <= 0.09


def test_mdg_is_nan_without_variance_and_a_bca_fallback_is_recorded() -> None:
    strata = {"a": _ratio([1.0] * 20), "b": _ratio([1.0] * 30)}
    gaps = domain_gaps(strata, ACC, in_domain=["a"], resamples=200, kinds=["id_ood"], method="auto")
    assert all(math.isnan(g.mdg) for g in gaps)  # no variance: no gap size can be promised (not 0)
    assert all(g.ci_method == "newcombe" and g.ci_low < 0 < g.ci_high for g in gaps)  # no collapse to [0, 0]
    # leaving out b's only weighted example leaves no weight: the acceleration is undefined
    tiny = {"a": np.c_[[1.0, 0.0, 1.0], [1.0, 1.0, 1.0]], "b": np.c_[[2.0, 0.0], [1.0, 0.0]]}
    (row, _) = domain_gaps(tiny, get_metric("language_modeling", "cross_entropy"), in_domain=["a"], resamples=200,
                           kinds=["id_ood"], method="BCa")
    assert row.ci_method == "BCa->percentile"
