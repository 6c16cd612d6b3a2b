"""Speed of the stratified bootstrap against scipy.stats.bootstrap, measured in one run.

100,000 records in 4 domains (25,000 each); 10,000 resamples, stratified by domain;
intervals of the pooled mean. Each case names the path xdbench takes:

``continuous / normal-limit``
    exponential losses; each stratum has ≥ ``NORMAL_MIN`` rows, so the resampled sums
    come from their normal limit (the default for large strata);
``continuous / index``
    the same data with ``normal_min=None``: plain index resampling, the exact route;
``0/1 / binomial``
    0/1 correctness: the resampled sum of a stratum is a binomial draw (exact).

Both implementations compute the same intervals (checked equal within Monte Carlo error)
and the ratio of their times is the figure to report::

    python -m pytest tests/benchmarks/test_bootstrap_speed.py --benchmark-enable -s

Each test prints "speed ratio (scipy / xdbench)" for its case and interval method.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy import stats

from bench.scoring.bootstrap import bootstrap_ratio

DOMAINS = 4
FULL = (100_000, 10_000)
"""Records and resamples of the measured comparison."""
SMOKE = (4_000, 1_000)
"""Used when benchmarks are disabled (plain test runs): the same checks, quickly."""
CASES = {"continuous / normal-limit": ("nll", 0), "continuous / index": ("nll", None),
         "0/1 / binomial": ("correct", 0)}
"""Case → (the data, ``normal_min``: 0 takes the default threshold)."""


def _data(n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(DOMAINS), n // DOMAINS)
    correct = (rng.random(n) < np.array([0.9, 0.8, 0.7, 0.75])[labels]).astype(float)
    nll = rng.exponential(np.array([0.3, 0.5, 0.7, 0.6])[labels])
    return {"labels": labels, "correct": correct, "nll": nll}


def _pooled_mean(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
    return sum(s.sum(axis=axis) for s in samples) / sum(s.shape[axis] for s in samples)


def _scipy(method: str, labels: np.ndarray, x: np.ndarray, resamples: int):
    """scipy.stats.bootstrap with one sample per domain (resampled independently: stratified)."""
    return stats.bootstrap([x[labels == d] for d in range(DOMAINS)], _pooled_mean, n_resamples=resamples,
                           vectorized=True, method=method, batch=40, rng=np.random.default_rng(1))


def _ours(method: str, labels: np.ndarray, x: np.ndarray, resamples: int, normal_min: int | None):
    kwargs = {} if normal_min == 0 else {"normal_min": normal_min}
    return bootstrap_ratio(x, strata=labels, n_resamples=resamples, method=method, rng=2, **kwargs)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("method", ["percentile", "BCa"])
def test_stratified_bootstrap_speed_against_scipy(benchmark: pytest.FixtureRequest, method: str, case: str) -> None:
    n, resamples = SMOKE if benchmark.disabled else FULL
    data = _data(n)
    column, normal_min = CASES[case]
    started = time.perf_counter()
    theirs = _scipy(method, data["labels"], data[column], resamples)
    scipy_seconds = time.perf_counter() - started
    mine = benchmark.pedantic(_ours, args=(method, data["labels"], data[column], resamples, normal_min),
                              rounds=1, iterations=1)
    ours_seconds = benchmark.stats.stats.mean if benchmark.stats else float("nan")
    # Between two seeded runs of 10,000 resamples the bounds differ by ~0.05 standard
    # errors (sd, measured); 0.3 SE is six of those (fewer resamples in the smoke run).
    tolerance = (0.3 if resamples == FULL[1] else 0.6) * theirs.standard_error
    assert abs(mine.low - theirs.confidence_interval.low) < tolerance
    assert abs(mine.high - theirs.confidence_interval.high) < tolerance
    width = theirs.confidence_interval.high - theirs.confidence_interval.low
    benchmark.extra_info.update({"scipy_seconds": scipy_seconds, "ratio": scipy_seconds / ours_seconds})
    print(f"\n{method}, {case}: scipy {scipy_seconds:.2f} s, xdbench {ours_seconds:.3f} s, "
          f"speed ratio (scipy / xdbench) {scipy_seconds / ours_seconds:.1f}x; bounds differ by "
          f"{abs(mine.low - theirs.confidence_interval.low) / width:.2%} / "
          f"{abs(mine.high - theirs.confidence_interval.high) / width:.2%} of the width")
