"""Coverage of the intervals of skewed losses and their gaps (issue 27), by simulation
through the library's own interval functions (:func:`bench.scoring.coverage.loss_coverage_table`).

The grid: lognormal σ ∈ {0.5, 1, 1.5} × n ∈ {30, 200, 2,000} examples per domain, and the
per-example cross-entropy of a binary and of a 4-option classifier at n ∈ {30, 200}; per
cell a domain's mean loss and the gap between two domains. The test suite runs a few
cells at a small size; the full table of ``docs/statistics.md`` comes from

    python tests/scoring/test_loss_coverage.py 400

(400 replicates per cell, 1,000 resamples each; ``XDBENCH_COVERAGE_REPLICATES=400`` makes
the test below run the full grid at that size too).
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pandas as pd
import pytest

from bench.scoring.bootstrap import StratifiedBootstrap, _index_sums, _matched_sums
from bench.scoring.coverage import LOSS_CELLS, LossCell, _moments, loss_coverage_table
from bench.scoring.gaps import mover_gaps, ratio_intervals, satterthwaite_df
from bench.scoring.metrics import get_metric

SMALL = (LossCell("lognormal", 30, 1.5), LossCell("binary", 30))


def test_skewed_loss_intervals_cover_near_their_level() -> None:
    full = os.environ.get("XDBENCH_COVERAGE_REPLICATES")
    replicates = int(full) if full else 60
    table = loss_coverage_table(LOSS_CELLS if full else SMALL, replicates=replicates, resamples=1_000 if full else 300,
                                seed=3)
    chosen = table[table["method"].isin(["studentized", "mover"])]
    assert set(chosen["target"]) == {"domain", "gap"}
    # the declared methods, within 2 Monte Carlo standard errors of 93–97 % (at 60 replicates
    # the standard error is about 3 points)
    low = 0.93 - 2 * chosen["mc_se"].clip(lower=0.028 if not full else 0.0)
    assert (chosen["coverage"] >= low).all() and (chosen["coverage"] <= 0.97 + 2 * chosen["mc_se"] + 0.03).all(), \
        chosen
    widened = table.set_index(["cell", "n", "target", "method"])["coverage"]
    for cell in (SMALL if not full else LOSS_CELLS):
        key = (cell.label, cell.n, "domain")
        assert widened[(*key, "studentized")] >= widened[(*key, "studentized (no widening)")]  # only ever wider


def markdown(table: pd.DataFrame) -> str:
    """The table of ``docs/statistics.md``: coverage (MC s.e.) in percent per cell and method."""
    cells = table.assign(text=[f"{100 * c:.1f} ({100 * s:.1f})" for c, s in zip(table["coverage"], table["mc_se"],
                                                                                   strict=True)])
    wide = cells.pivot_table(index=["cell", "n"], columns=["target", "method"], values="text", aggfunc="first",
                             sort=False)
    order = [("domain", "studentized"), ("domain", "studentized (no widening)"), ("gap", "mover"),
             ("gap", "mover (widened sides)"), ("gap", "percentile")]
    header = ("| cell | n | domain: **studentized, widened** | domain: studentized, not widened | "
              "gap: **MOVER** | gap: MOVER of widened sides | gap: percentile (before) |")
    lines = [header, "|---|---:|---:|---:|---:|---:|---:|"]
    for (cell, n), row in wide.iterrows():
        lines.append(f"| {cell} | {n:,} | " + " | ".join(str(row[c]) for c in order) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    replicates = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    print(markdown(loss_coverage_table(LOSS_CELLS, replicates=replicates, resamples=1_000, seed=3)))
    print(f"\n{replicates} replicates per cell, 1,000 resamples each; in parentheses the Monte Carlo standard error.")


def test_satterthwaite_degrees_of_freedom_are_2n_over_kurtosis_minus_one() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.lognormal(0, 1, 50), rng.lognormal(0, 1, 80)
    parts = [np.column_stack([x, np.ones_like(x)]), np.column_stack([y, np.ones_like(y)])]
    pooled = np.concatenate([x, y])
    for members, values in (([0], x), ([0, 1], pooled)):
        e = values - values.mean()
        kurtosis = (e**4).mean() / (e**2).mean() ** 2
        (nu,) = satterthwaite_df(parts, [members])
        assert nu == pytest.approx(2 * len(values) / (kurtosis - 1))
    normal = rng.standard_normal(100_000)
    (nu,) = satterthwaite_df([np.column_stack([normal, np.ones_like(normal)])], [[0]])
    assert abs(nu / 100_000 - 1) < 0.02  # ν ≈ n for normal values
    assert satterthwaite_df([np.column_stack([np.ones(5), np.ones(5)])], [[0]])[0] == np.inf  # no residuals


def test_mover_gap_is_built_from_the_two_sides_intervals() -> None:
    mse = get_metric("regression", "mse")  # a loss: gap = m(B) − m(A)
    rng = np.random.default_rng(4)
    strata = [_moments(rng.lognormal(0, 1, 40)), _moments(rng.lognormal(0.3, 1, 60))]
    boot = StratifiedBootstrap(strata, n_resamples=500, rng=1)
    estimate, low, high = ratio_intervals(boot, strata, [[0], [1]], mse, 0.95, widen=False)
    gap_low, gap_high = mover_gaps(boot, strata, [([0], [1])], mse, 0.95)
    d = estimate[1] - estimate[0]
    assert gap_low[0] == pytest.approx(d - np.hypot(estimate[1] - low[1], high[0] - estimate[0]))
    assert gap_high[0] == pytest.approx(d + np.hypot(high[1] - estimate[1], estimate[0] - low[0]))
    widened = ratio_intervals(boot, strata, [[0], [1]], mse, 0.95)
    assert np.all(widened[1] <= low) and np.all(widened[2] >= high)  # the widening only widens


def test_matched_sums_have_the_mean_covariance_and_skewness_of_resampled_sums() -> None:
    rng = np.random.default_rng(6)
    x = rng.lognormal(0, 1.2, 20_000)
    parts = np.column_stack([x, rng.integers(1, 5, len(x)).astype(float)])
    matched = _matched_sums(parts, 20_000, np.random.default_rng(1))
    plain = _index_sums(parts, 4_000, np.random.default_rng(2), 2**17)
    n, mean, cov = len(x), parts.mean(axis=0), np.cov(parts, rowvar=False, ddof=0)
    np.testing.assert_allclose(matched.mean(axis=0), n * mean, rtol=2e-3)
    scale = np.sqrt(np.outer(np.diag(cov), np.diag(cov))) * n
    assert np.all(np.abs(np.cov(matched, rowvar=False) - n * cov) < 0.06 * scale)

    def skew(s: np.ndarray) -> float:
        c = s[:, 0] - s[:, 0].mean()
        return float((c**3).mean() / (c**2).mean() ** 1.5)

    expected = ((x - x.mean()) ** 3).mean() / x.std() ** 3 / np.sqrt(n)  # the skewness of a sum of n rows
    assert abs(skew(matched) - expected) < 0.25 * expected + 0.02 and abs(skew(plain) - expected) < 0.5 * expected + 0.05
