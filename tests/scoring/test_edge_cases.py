"""Intervals and values that do not contradict themselves at the edges (issue 27): the
range and spread hold their own estimate, a one-example domain gets no bootstrap
interval, and one non-finite value is dropped with a counted warning."""

from __future__ import annotations

import numpy as np

from bench.scoring.bootstrap import StratifiedBootstrap
from bench.scoring.gaps import domain_gaps, range_statistic, spread_statistic
from bench.scoring.metrics import get_metric

ACC = get_metric("classification", "accuracy")


def _mmlu_like(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """57 subjects of ``n`` questions, true accuracies spread over 0.35–0.6."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.35, 0.6, 57)
    return {f"s{d}": np.column_stack([(rng.random(n) < p[d]).astype(float), np.ones(n)]) for d in range(57)}


def test_spread_and_range_intervals_hold_their_estimate_where_the_basic_interval_does_not() -> None:
    # MMLU's accuracy spread 0.131 had the basic interval [0.048, 0.105]: with 57 small
    # domains the bootstrap's bias estimate exceeds the half-width
    strata = _mmlu_like(20)
    boot = StratifiedBootstrap(list(strata.values()), n_resamples=1000, rng=0)
    gaps = domain_gaps(strata, ACC, in_domain=[], resamples=1000, seed=0, kinds=["best_worst", "spread"],
                       method="auto", bootstrap=boot)
    for g, statistic in zip(gaps, (range_statistic(ACC), spread_statistic(ACC)), strict=True):
        low_q, high_q = np.percentile(boot.distribution(statistic), [2.5, 97.5])
        assert 2 * g.gap - low_q < g.gap  # the plain basic interval lies wholly below the estimate here
        assert g.ci_low <= g.gap <= g.ci_high and g.ci_high == g.gap
        assert g.ci_low == max(0.0, 2 * g.gap - high_q)  # the lower bound keeps the bias correction
        assert g.ci_method == "basic"
