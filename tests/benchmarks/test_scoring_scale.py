"""Scoring at scale: every metric, gap, permutation p-value and 10,000-resample interval
of ``bench score`` (:func:`bench.scoring.tables.score_tables`, default options) for
synthetic classification records of one model in 4 domains.

Each size runs in a fresh interpreter so that its peak memory (``ru_maxrss``, the whole
process: the records frame included) is its own. Reported per size: CPU seconds, wall
seconds, peak memory and the CPU cost per record, with the ratio of that cost to the
cost at the smallest size of the same run (it should fall with size)::

    python -m pytest tests/benchmarks/test_scoring_scale.py --benchmark-enable -s

One size from the command line (what the test runs)::

    python tests/benchmarks/test_scoring_scale.py 1000000

No time is asserted; the test checks that the tables are complete and finite.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

DOMAINS = ("books", "dvd", "electronics", "kitchen")
CHOICES = ("negative", "positive")
FULL = (10_000, 100_000, 1_000_000)
SMOKE = (1_000,)
ROOT = Path(__file__).resolve().parents[2]


def records(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` records of a binary sentiment task in 4 domains of different difficulty."""
    rng = np.random.default_rng(seed)
    domain = rng.integers(0, len(DOMAINS), n)
    target = rng.integers(0, 2, n)
    margin = rng.normal(np.array([1.6, 1.3, 1.0, 1.1])[domain], 1.5) * np.where(target == 1, 1, -1)
    positive = 1 / (1 + np.exp(-margin))
    probs = np.column_stack([1 - positive, positive])
    prediction = probs.argmax(axis=1)
    frame = pd.DataFrame({"model": "m", "suite": "s", "task": "sentiment", "domain": np.array(DOMAINS)[domain],
                          "split": "test", "example_id": [f"e{i}" for i in range(n)], "target": target,
                          "prediction": prediction, "correct": (prediction == target).astype(int),
                          "nll": -np.log(probs[np.arange(n), target])})
    for k, choice in enumerate(CHOICES):
        frame[f"prob_{choice}"] = probs[:, k]
    return frame


def measure(n: int) -> dict:
    """Score ``n`` records once; CPU and wall seconds, peak memory and the table sizes."""
    from bench.scoring.tables import TaskInfo, score_tables

    frame = records(n)
    infos = {("s", "sentiment"): TaskInfo("classification", CHOICES, DOMAINS, ("books",))}
    cpu, wall = time.process_time(), time.perf_counter()
    tables = score_tables(frame, infos)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finite = bool(np.isfinite(tables.gaps[["gap", "ci_low", "ci_high", "p_value"]].to_numpy()).all())
    return {"n": n, "cpu_s": cpu, "wall_s": wall, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "metric_rows": len(tables.metrics), "gap_rows": len(tables.gaps), "finite": finite,
            "min_p_adjusted": float(tables.gaps["p_adjusted"].min())}


def _run(n: int) -> dict:
    done = subprocess.run([sys.executable, __file__, str(n)], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_scoring_cost_per_record(benchmark) -> None:
    sizes = SMOKE if benchmark.disabled else FULL
    results = benchmark.pedantic(lambda: [_run(n) for n in sizes], rounds=1, iterations=1)
    reference = results[0]["cpu_s"] / results[0]["n"]
    for r in results:
        per_record = r["cpu_s"] / r["n"]
        print(f"\n{r['n']:>9,} records: CPU {r['cpu_s']:.2f} s, wall {r['wall_s']:.2f} s, peak {r['peak_mb']:.0f} MB, "
              f"{per_record * 1e6:.1f} µs CPU per record ({per_record / reference:.2f}x the cost at "
              f"{results[0]['n']:,}); smallest adjusted p {r['min_p_adjusted']:.2g}")
        assert r["finite"] and r["metric_rows"] == 5 * (len(DOMAINS) + 1)
        assert r["gap_rows"] == 5 * (3 + 1 + 1 + 1)  # id_ood per domain and pooled, best_worst, spread (no pairwise)
    benchmark.extra_info.update({str(r["n"]): r for r in results})


if __name__ == "__main__":
    print(json.dumps(measure(int(sys.argv[1]))))
