"""The statistics of ``bench run mmlu`` at full size: all 57 subjects, default options,
with a model that answers at random (:mod:`tests.benchmarks.random_mc`), so that nothing
but the harness costs time.

Two shapes: all 14,042 test questions, and ``--limit 20`` (1,140 questions). For each, one
``bench run`` writes the records; then a fresh interpreter times
:func:`bench.scoring.tables.score_tables` on them (CPU and wall seconds) and reports its
peak memory (``ru_maxrss``, the whole process, records included)::

    python -m pytest tests/benchmarks/test_mmlu_statistics.py --benchmark-enable -s

With the benchmark disabled (plain ``pytest``) it runs ``--limit 3`` and checks the
tables: every subject against the rest in one Holm family of 57, the groups in one of 4,
no pairwise rows. No time is asserted. Needs the MMLU data (skips with how to get it).
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

from tests.conftest import require_data

ROOT = Path(__file__).resolve().parents[2]
FULL = (None, 20)
SMOKE = (3,)


def measure(run_dir: str) -> dict:
    """Score the run folder's records once with the default options."""
    from bench.outputs import read_run, task_infos_from_metadata
    from bench.scoring.tables import score_tables

    meta, records = read_run(run_dir)
    infos = task_infos_from_metadata(meta)
    cpu, wall = time.process_time(), time.perf_counter()
    tables = score_tables(records, infos)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    gaps = tables.gaps
    families = gaps.groupby("family")["family_size"].max().to_dict()
    main = gaps[gaps["metric"].isin(["accuracy", "cross_entropy"])]  # the ECEs need 15 questions a subject
    return {"questions": int(records["example_id"].nunique()), "cpu_s": cpu, "wall_s": wall,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "gap_rows": len(gaps),
            "metric_rows": len(tables.metrics), "families": {k: int(v) for k, v in families.items()},
            "kinds": sorted(set(gaps["kind"])), "main_rows": len(main),
            "finite": bool(np.isfinite(main["p_adjusted"]).all())}


def _run(limit: int | None, data: Path, out: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "bench", "run", "mmlu", "--model", "tests.benchmarks.random_mc:make",
               "--data-dir", str(data), "--out", str(out), "--quiet", *(["--limit", str(limit)] if limit else [])]
    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    (run_dir,) = (out / "runs").iterdir()
    done = subprocess.run([sys.executable, __file__, str(run_dir)], cwd=ROOT, env=env, check=True,
                          capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_mmlu_statistics(benchmark, tmp_path: Path) -> None:
    data = require_data("mmlu/test")
    limits = SMOKE if benchmark.disabled else FULL
    results = benchmark.pedantic(lambda: [_run(limit, data, tmp_path / f"limit{limit}") for limit in limits],
                                 rounds=1, iterations=1)
    load = os.getloadavg()[0]
    for limit, result in zip(limits, results, strict=True):
        print(f"\nMMLU {'all' if limit is None else f'--limit {limit}'}: {result['questions']} questions, "
              f"statistics {result['cpu_s']:.2f} s CPU, {result['wall_s']:.2f} s wall, peak {result['peak_mb']:.0f} MB, "
              f"{result['gap_rows']} gap rows, families {result['families']} (load {load:.2f})")
        assert result["finite"] and result["kinds"] == ["best_worst", "domain_rest", "spread"]
        assert result["families"] == {"best_worst": 1, "domain_rest": 57, "group_rest": 4, "spread": 1}
        assert result["main_rows"] == 2 * (57 + 4 + 2) and result["metric_rows"] == 7 * (57 + 4 + 1)


if __name__ == "__main__":
    print(json.dumps(measure(sys.argv[1])))
