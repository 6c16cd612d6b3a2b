"""The coverage grid of the interval methods (docs/statistics.md, "Coverage").

Full grid, printed and written into docs/statistics.md between the coverage markers::

    python -m pytest tests/benchmarks/test_coverage_grid.py --benchmark-enable -s

Under plain ``pytest`` (benchmarks disabled) a few cells with few draws check that the
grid runs and formats.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
from pytest_benchmark.fixture import BenchmarkFixture

from bench.scoring.coverage import ACCURACY_CELLS, LOGNORMAL_CELLS, coverage_table

DOCS = Path(__file__).resolve().parents[2] / "docs" / "statistics.md"
START, END = "<!-- coverage-grid:start -->", "<!-- coverage-grid:end -->"
FULL = {"draws": 1_000, "resamples": 1_000}
SMOKE = {"draws": 10, "resamples": 200}


def markdown(table: pd.DataFrame, draws: int, resamples: int) -> str:
    """The grid as Markdown: one row per cell, one column per method (percent)."""
    table = table.assign(cell=[_cell(r) for r in table.itertuples(index=False)])
    wide = table.pivot_table(index="cell", columns="method", values="coverage", sort=False)
    methods = [m for m in ("newcombe", "studentized", "BCa", "percentile") if m in wide.columns]
    lines = ["| cell | " + " | ".join(methods) + " |", "|---" * (len(methods) + 1) + "|"]
    for cell, row in wide[methods].iterrows():
        lines.append(f"| {cell} | " + " | ".join("" if pd.isna(v) else f"{100 * v:.1f}" for v in row) + " |")
    se = 100 * (0.95 * 0.05 / draws) ** 0.5
    note = (f"\nNewcombe: exact coverage (sum over all outcomes). Bootstrap columns: {draws} simulated data sets per "
            f"cell, {resamples} resamples each (Monte Carlo standard error {se:.1f} points at 95 %). "
            "`*`: fewer than 5 expected errors in a domain.")
    return "\n".join(lines) + "\n" + note


def _cell(r: object) -> str:
    if r.family == "accuracy":  # type: ignore[attr-defined]
        star = "*" if r.few_errors else ""  # type: ignore[attr-defined]
        return f"accuracy gap, n = {r.n:,}, p = {r.p_a:g} vs {r.p_b:g}{star}"  # type: ignore[attr-defined]
    what = "loss gap" if r.target == "gap" else "domain mean"  # type: ignore[attr-defined]
    return f"lognormal {what}, n = {r.n:,}, σ = {r.sigma:g}"  # type: ignore[attr-defined]


def write_docs(text: str, path: Path = DOCS) -> None:
    doc = path.read_text(encoding="utf-8")
    block = f"{START}\n{text}\n{END}"
    doc = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: block, doc, flags=re.S) if START in doc \
        else doc + "\n" + block + "\n"
    path.write_text(doc, encoding="utf-8")


def test_coverage_grid(benchmark: BenchmarkFixture) -> None:
    enabled = not benchmark.disabled
    sizes = FULL if enabled else SMOKE
    cells = ACCURACY_CELLS + LOGNORMAL_CELLS if enabled else (ACCURACY_CELLS[0], LOGNORMAL_CELLS[0])
    table = benchmark.pedantic(coverage_table, args=(cells,), kwargs=sizes, rounds=1, iterations=1)
    text = markdown(table, **sizes)
    assert text.count("\n|") == len(cells) + 1
    if enabled:
        print("\n" + text)
        write_docs(text)
