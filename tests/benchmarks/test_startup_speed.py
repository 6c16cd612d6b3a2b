"""Start-up of the ``bench`` command: ``--version``, ``--help`` and a usage error, each in
a fresh interpreter, against a bare ``python -c pass`` measured in the same run (the
interpreter's own start-up, which no change to xdbench can remove)::

    python -m pytest tests/benchmarks/test_startup_speed.py --benchmark-enable -s

Prints the best of 5 wall-clock times of each and its ratio to the bare interpreter.
The target is ≤ 0.5 s on an idle machine; no time is asserted.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = {"bare python": ["-c", "pass"], "bench --version": ["-m", "bench", "--version"],
            "bench --help": ["-m", "bench", "--help"], "usage error": ["-m", "bench", "frobnicate"]}


def _best_of(args: list[str], repeats: int) -> tuple[float, int]:
    best, code = float("inf"), 0
    for _ in range(repeats):
        started = time.perf_counter()
        code = subprocess.run([sys.executable, *args], capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
                              check=False).returncode
        best = min(best, time.perf_counter() - started)
    return best, code


@pytest.mark.parametrize("name", list(COMMANDS))
def test_startup(benchmark, name: str) -> None:
    repeats = 1 if benchmark.disabled else 5
    bare, _ = _best_of(COMMANDS["bare python"], repeats)
    seconds, code = benchmark.pedantic(_best_of, args=(COMMANDS[name], repeats), rounds=1, iterations=1)
    assert code == (2 if name == "usage error" else 0)
    benchmark.extra_info.update({"seconds": seconds, "bare_python_s": bare})
    print(f"\n{name}: {seconds:.3f} s (bare python {bare:.3f} s, ratio {seconds / bare:.1f}x)")
