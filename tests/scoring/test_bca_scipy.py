"""xdbench's BCa against ``scipy.stats.bootstrap(method="BCa")`` on the same data (issue 27).

The two share the formulas (bias correction from ``(#{θ* < θ̂} + #{θ* ≤ θ̂}) / 2B``,
acceleration from each sample's jackknife, linear-interpolation quantiles), so their
bounds must agree within Monte Carlo error. Each side is repeated with independent seeds
and the means of the bounds are compared in units of their standard error. The audit's
discrepancy came from strata of at least ``NORMAL_MIN`` rows, whose sums were drawn from
a normal limit without the skewness BCa corrects for; they are now drawn with matched
third cumulants (``bootstrap._matched_sums``) and held to index resampling here (scipy's
O(n²) jackknife is too slow at that size; index resampling is the path held to scipy
above).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from bench.scoring.bootstrap import NORMAL_MIN, StratifiedBootstrap
from bench.scoring.metrics import get_metric

ECE = get_metric("classification", "ece")
REPEATS = 12
RESAMPLES = 3_000


def _agree(ours: np.ndarray, theirs: np.ndarray, limit: float = 3.5) -> None:
    """The mean bounds of ``REPEATS`` independent runs differ by under ``limit`` standard errors."""
    se = np.sqrt(ours.var(axis=0, ddof=1) / len(ours) + theirs.var(axis=0, ddof=1) / len(theirs))
    z = (ours.mean(axis=0) - theirs.mean(axis=0)) / se
    assert np.all(np.abs(z) < limit), (ours.mean(axis=0), theirs.mean(axis=0), z)


def _ratio(x: np.ndarray) -> np.ndarray:
    return np.column_stack([x, np.ones_like(x)])


@pytest.mark.parametrize("sizes", [(60,), (40, 25)])
def test_bca_of_a_skewed_mean_matches_scipy(sizes: tuple[int, ...]) -> None:
    rng = np.random.default_rng(1)
    samples = [rng.lognormal(0.3 * k, 1.5, n) for k, n in enumerate(sizes)]

    def pooled_mean(*xs: np.ndarray, axis: int = -1) -> np.ndarray:
        return sum(x.sum(axis=axis) for x in xs) / sum(x.shape[axis] for x in xs)

    ours = np.array([[float(b) for b in StratifiedBootstrap([_ratio(x) for x in samples], n_resamples=RESAMPLES,
                                                            rng=seed).interval(
        lambda s: s[..., 0].sum(-1) / s[..., 1].sum(-1), method="BCa").confidence_interval]
        for seed in range(REPEATS)])
    theirs = np.array([[float(b) for b in stats.bootstrap(samples, pooled_mean, n_resamples=RESAMPLES, method="BCa",
                                                          rng=100 + seed, vectorized=True).confidence_interval]
                       for seed in range(REPEATS)])
    _agree(ours, theirs)


def test_bca_of_the_ece_matches_scipy_on_the_examples() -> None:
    # scipy resamples example indices and computes the ECE of the resampled examples
    rng = np.random.default_rng(2)
    parts = []
    for n in (200, 120):
        conf = rng.uniform(0.5, 1, n)
        parts.append(ECE.components({"probs": np.c_[conf, 1 - conf], "correct": (rng.random(n) < conf - 0.05) * 1.0}))

    for strata in ([0], [0, 1]):
        def ece_of(*indices: np.ndarray, axis: int = -1, strata: list[int] = strata) -> np.ndarray:
            return ECE.combine(sum(parts[j][np.asarray(i, dtype=np.int64)].sum(axis=-2)
                                   for j, i in zip(strata, indices, strict=True)))

        ours = np.array([[float(b) for b in StratifiedBootstrap([parts[j] for j in strata], n_resamples=RESAMPLES,
                                                                rng=seed).interval(
            lambda s: ECE.combine(s.sum(axis=-2)), method="BCa").confidence_interval] for seed in range(REPEATS)])
        data = [np.arange(len(parts[j])) for j in strata]
        theirs = np.array([[float(b) for b in stats.bootstrap(data, ece_of, n_resamples=RESAMPLES, method="BCa",
                                                              rng=100 + seed, vectorized=True).confidence_interval]
                           for seed in range(REPEATS)])
        _agree(ours, theirs)


def test_bca_of_a_large_skewed_stratum_matches_index_resampling() -> None:
    # lognormal σ = 1.5 at n = 12,000: the former normal limit put both bounds 3–6 standard
    # errors below index resampling's
    rng = np.random.default_rng(3)
    rows = _ratio(rng.lognormal(0, 1.5, int(1.2 * NORMAL_MIN)))

    def bounds(seed: int, normal_min: int | None) -> list[float]:
        boot = StratifiedBootstrap([rows], n_resamples=2_000, rng=seed, normal_min=normal_min)
        boot.influence_min = math.inf  # the leave-one-out jackknife on both sides: only the sums differ
        return [float(b) for b in boot.interval(lambda s: s[..., 0, 0] / s[..., 0, 1],
                                                method="BCa").confidence_interval]

    _agree(np.array([bounds(seed, NORMAL_MIN) for seed in range(20)]),
           np.array([bounds(500 + seed, None) for seed in range(20)]))
