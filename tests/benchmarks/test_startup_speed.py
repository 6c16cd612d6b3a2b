"""Start-up of the ``bench`` command: ``--version``, ``--help``, ``list``, ``list models``
and two usage errors (an unknown command, an unknown flag), each in a fresh interpreter,
against a bare ``python -c pass`` measured in the same run (the interpreter's own
start-up, which no change to xdbench can remove)::

    python -m pytest tests/benchmarks/test_startup_speed.py --benchmark-enable -s

Prints, per command, the best of 5 wall-clock seconds and the best of 5 CPU seconds
(user + system of the child process, from ``getrusage(RUSAGE_CHILDREN)``: less disturbed
by other processes than wall time), each with its ratio to the bare interpreter's. The
target is ≤ 0.3 s wall on an idle machine; no time is asserted. What each command must not
import (pandas, scipy, torch, matplotlib) is tested in ``tests/test_imports.py``.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMMANDS: dict[str, tuple[list[str], int]] = {
    "bare python": (["-c", "pass"], 0),
    "bench --version": (["-m", "bench", "--version"], 0),
    "bench --help": (["-m", "bench", "--help"], 0),
    "bench list": (["-m", "bench", "list"], 0),
    "bench list models": (["-m", "bench", "list", "models"], 0),
    "usage error (bench frobnicate)": (["-m", "bench", "frobnicate"], 2),
    "usage error (bench run --bogus)": (["-m", "bench", "run", "--bogus"], 2),
}
"""Name → (interpreter arguments, expected exit status)."""


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _best_of(args: list[str], repeats: int) -> tuple[float, float, int, str]:
    """Best wall and best CPU seconds of ``repeats`` fresh runs; the last exit status and stdout."""
    wall = cpu = float("inf")
    code, out = 0, ""
    for _ in range(repeats):
        cpu_before, started = _child_cpu(), time.perf_counter()
        done = subprocess.run([sys.executable, *args], capture_output=True, text=True, check=False,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        wall = min(wall, time.perf_counter() - started)
        cpu = min(cpu, _child_cpu() - cpu_before)
        code, out = done.returncode, done.stdout
    return wall, cpu, code, out


@pytest.mark.parametrize("name", list(COMMANDS))
def test_startup(benchmark, name: str) -> None:
    repeats = 1 if benchmark.disabled else 5
    args, expected = COMMANDS[name]
    bare_wall, bare_cpu, _, _ = _best_of(COMMANDS["bare python"][0], repeats)
    wall, cpu, code, out = benchmark.pedantic(_best_of, args=(args, repeats), rounds=1, iterations=1)
    assert code == expected
    if name == "bench list models":
        assert "smollm2-135m" in out and "model groups:" in out
    benchmark.extra_info.update({"seconds": wall, "cpu_seconds": cpu, "bare_python_s": bare_wall,
                                 "bare_python_cpu_s": bare_cpu})
    print(f"\n{name}: {wall:.3f} s wall (bare python {bare_wall:.3f} s, ratio {wall / bare_wall:.1f}x); "
          f"{cpu:.3f} s CPU (bare {bare_cpu:.3f} s, ratio {cpu / bare_cpu:.1f}x); load {os.getloadavg()[0]:.2f}")
