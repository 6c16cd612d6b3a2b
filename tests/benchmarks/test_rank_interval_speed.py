"""Speed of the leaderboard's paired rank intervals against a plain loop over resamples.

8 models, 3 domains of 1,000 test examples, 1,000 resamples (smoke: 300 examples, 100
resamples). The reference draws the same per-domain indices and ranks in a Python loop;
both give the same intervals, and the ratio of their times is the figure to report::

    python -m pytest tests/benchmarks/test_rank_interval_speed.py --benchmark-enable -s
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy.stats import rankdata

from bench.report.board import BoardOptions, rank_intervals

MODELS, DOMAINS = 8, 3
FULL = (1_000, 1_000)
SMOKE = (300, 100)


def _components(n: int) -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    return {f"m{i}": {f"d{d}": np.column_stack([(rng.random(n) < 0.6 + 0.02 * i).astype(float), np.ones(n)])
                      for d in range(DOMAINS)} for i in range(MODELS)}


def _loop(comps: dict[str, dict[str, np.ndarray]], resamples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    models, domains = list(comps), list(comps["m0"])
    index = {d: rng.integers(0, len(comps["m0"][d]), size=(resamples, len(comps["m0"][d]))) for d in domains}
    ranks = []
    for b in range(resamples):
        values = [np.mean([comps[m][d][index[d][b], 0].mean() for d in domains]) for m in models]
        ranks.append(rankdata(-np.array(values), method="average"))
    ranks = np.array(ranks)
    return np.quantile(ranks, 0.025, axis=0, method="lower"), np.quantile(ranks, 0.975, axis=0, method="higher")


def test_rank_interval_speed_against_a_loop(benchmark: pytest.FixtureRequest) -> None:
    n, resamples = SMOKE if benchmark.disabled else FULL
    comps = _components(n)
    started = time.perf_counter()
    low, high = _loop(comps, resamples, seed=5)
    loop_seconds = time.perf_counter() - started
    options = BoardOptions(resamples=resamples, seed=5)
    ours = benchmark.pedantic(rank_intervals, args=(comps, "accuracy", "classification", options), rounds=1,
                              iterations=1)
    ours_seconds = benchmark.stats.stats.mean if benchmark.stats else float("nan")
    assert list(ours["rank_low"]) == list(low) and list(ours["rank_high"]) == list(high)
    benchmark.extra_info.update({"loop_seconds": loop_seconds, "ratio": loop_seconds / ours_seconds})
    print(f"\nrank intervals: loop {loop_seconds:.2f} s, xdbench {ours_seconds:.2f} s, "
          f"speed ratio (loop / xdbench) {loop_seconds / ours_seconds:.1f}x")
