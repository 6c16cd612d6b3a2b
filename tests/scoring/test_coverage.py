"""Intervals that hold their level: Newcombe and the studentized bootstrap against
independent computations, and the (seeded, small) coverage grid."""

from __future__ import annotations

import math

import numpy as np
import pytest
from statsmodels.stats.proportion import confint_proportions_2indep

from bench.scoring.bootstrap import StratifiedBootstrap, studentized_interval
from bench.scoring.coverage import (
    ACCURACY_CELLS,
    CoverageCell,
    coverage_table,
    newcombe_exact_coverage,
)
from bench.scoring.gaps import domain_gaps, ratio_variance
from bench.scoring.intervals import newcombe_interval
from bench.scoring.metrics import get_metric


@pytest.mark.parametrize(("xa", "na", "xb", "nb"), [(56, 70, 48, 80), (30, 30, 30, 30), (0, 10, 3, 25),
                                                    (199, 200, 150, 200), (5, 2000, 9, 300)])
def test_newcombe_matches_statsmodels(xa: int, na: int, xb: int, nb: int) -> None:
    expected = confint_proportions_2indep(xa, na, xb, nb, method="newcomb", compare="diff")
    assert newcombe_interval(xa, na, xb, nb) == pytest.approx(expected, abs=1e-12)


def test_newcombe_does_not_collapse_when_both_domains_are_all_correct() -> None:
    low, high = newcombe_interval(30, 30, 30, 30)
    assert low < 0 < high and high - low > 0.2  # a bootstrap would give the point [0, 0]
    assert all(math.isnan(x) for x in newcombe_interval(0, 0, 3, 5))


def test_newcombe_exact_coverage_agrees_with_simulation() -> None:
    rng = np.random.default_rng(5)
    n, p_a, p_b, draws = 40, 0.8, 0.65, 4_000
    xa, xb = rng.binomial(n, p_a, draws), rng.binomial(n, p_b, draws)
    hits = np.mean([low <= p_a - p_b <= high for low, high in (newcombe_interval(a, n, b, n) for a, b in
                                                               zip(xa, xb, strict=True))])
    assert newcombe_exact_coverage(n, p_a, n, p_b) == pytest.approx(hits, abs=4 * math.sqrt(0.05 * 0.95 / draws))


def test_accuracy_gap_grid_holds_its_level_exactly() -> None:
    """Every accuracy cell covers 93-97 %; cells with fewer than 5 expected errors may be
    conservative (the binomial is too discrete there), never below 93 %."""
    for cell in ACCURACY_CELLS:
        coverage = newcombe_exact_coverage(cell.n, cell.p_a, cell.n, cell.p_b)
        few = cell.n * (1 - min(cell.p_a, cell.p_b)) < 5
        assert coverage >= 0.93, cell
        assert few or coverage <= 0.97, cell


def test_studentized_interval_of_a_near_normal_mean_is_the_t_interval() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(3.0, 1.0, 4_000)
    parts = np.column_stack([x, np.ones_like(x), x * x, x, np.ones_like(x)])
    boot = StratifiedBootstrap([parts], n_resamples=4_000, rng=2)
    result = studentized_interval(boot, lambda s: s[..., 0, 0] / s[..., 0, 1], ratio_variance([0]), level=0.95)
    se = x.std() / math.sqrt(len(x))
    assert result.method == "studentized"
    assert result.low == pytest.approx(x.mean() - 1.96 * se, abs=0.1 * se)
    assert result.high == pytest.approx(x.mean() + 1.96 * se, abs=0.1 * se)


def test_ratio_variance_is_the_delta_method_variance() -> None:
    rng = np.random.default_rng(3)
    v, w = rng.exponential(2.0, 500), rng.integers(1, 20, 500).astype(float)
    sums = np.column_stack([v, w, v * v, v * w, w * w]).sum(axis=0)[None, :]
    r = v.sum() / w.sum()
    assert float(ratio_variance([0])(sums)) == pytest.approx(((v - r * w) ** 2).sum() / w.sum() ** 2, rel=1e-10)


def test_gap_rows_say_which_interval_they_got() -> None:
    rng = np.random.default_rng(0)
    acc, mse = get_metric("classification", "accuracy"), get_metric("regression", "mse")
    binary = {d: np.column_stack([(rng.random(80) < p).astype(float), np.ones(80)]) for d, p in (("a", .9), ("b", .7))}
    gaps = domain_gaps(binary, acc, in_domain=["a"], resamples=300, method="auto", kinds=["id_ood", "best_worst"])
    assert {g.kind: g.ci_method for g in gaps} == {"id_ood": "newcombe", "best_worst": "basic"}
    (first,) = [g for g in gaps if g.kind == "id_ood" and g.domain_b == "b"]
    assert (first.ci_low, first.ci_high) == pytest.approx(newcombe_interval(binary["a"][:, 0].sum(), 80,
                                                                            binary["b"][:, 0].sum(), 80))
    losses = {d: (lambda x: np.column_stack([x, np.ones_like(x), x * x, x, np.ones_like(x)]))(rng.lognormal(0, 1, 60))
              for d in ("a", "b")}
    gaps = domain_gaps(losses, mse, in_domain=["a"], resamples=300, method="AUTO", kinds=["id_ood"])
    assert {g.ci_method for g in gaps} == {"mover"}  # the declared gap interval of a loss
    gaps = domain_gaps(losses, mse, in_domain=["a"], resamples=300, method="Studentized", kinds=["id_ood"])
    assert {g.ci_method for g in gaps} == {"studentized"}
    gaps = domain_gaps(losses, mse, in_domain=["a"], resamples=300, method="bca", kinds=["id_ood"])
    assert {g.ci_method for g in gaps} <= {"BCa", "BCa->percentile"}


def test_skewed_loss_cells_cover_near_their_level() -> None:
    """A small seeded run of the lognormal cells (the full grid is the coverage benchmark)."""
    gap = coverage_table([CoverageCell("lognormal", 200, sigma=1.0)], draws=150, resamples=400, seed=11,
                         methods=("percentile",))
    domain = coverage_table([CoverageCell("lognormal", 200, sigma=1.0, target="domain")], draws=150, resamples=400,
                            seed=12, methods=("studentized",))
    assert gap["coverage"].between(0.88, 0.99).all(), gap  # the declared methods of a loss's gap and domain value
    assert domain["coverage"].between(0.88, 0.99).all(), domain


def test_best_worst_interval_is_the_basic_bootstrap_and_holds_zero_when_domains_are_equal() -> None:
    """The range's interval subtracts the bootstrap's bias estimate: [2θ̂ − q_hi, 2θ̂ − q_lo]
    (recomputed here from the same resamples, widened to hold θ̂), so with equal domains it usually holds 0,
    where a percentile interval of the range never does."""
    from bench.scoring.gaps import range_statistic

    acc = get_metric("classification", "accuracy")
    rng = np.random.default_rng(8)
    held = 0
    for trial in range(40):
        strata = {d: np.column_stack([(rng.random(150) < 0.7).astype(float), np.ones(150)]) for d in "abcd"}
        boot = StratifiedBootstrap(list(strata.values()), n_resamples=400, rng=trial)
        (row,) = domain_gaps(strata, acc, in_domain=[], resamples=400, seed=trial, kinds=["best_worst"],
                             method="auto", bootstrap=boot)
        theta = boot.distribution(range_statistic(acc))
        low_q, high_q = np.percentile(theta, [2.5, 97.5])
        assert row.ci_method == "basic"
        basic = (max(0, 2 * row.gap - high_q), max(0, 2 * row.gap - low_q))
        assert (row.ci_low, row.ci_high) == pytest.approx((min(basic[0], row.gap), max(basic[1], row.gap)))
        held += row.ci_low <= 0 <= row.ci_high
        assert low_q > 0  # the percentile interval of the range excludes the true 0
    assert held >= 20
