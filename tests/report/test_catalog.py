"""README's suite and metric tables are the registries' own (generated, compared here)."""

from __future__ import annotations

import pytest

from bench.report.catalog import TABLE_MARKERS, metric_table, suite_table
from bench.scoring.metrics import METRICS
from bench.suites import DEFAULT_SUITE, SUITES
from tests.conftest import REPO


@pytest.mark.parametrize(("name", "make"), [("suite", suite_table), ("metric", metric_table)])
def test_readme_tables_are_generated(name: str, make) -> None:  # type: ignore[no-untyped-def]
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    start, end = TABLE_MARKERS[name]
    assert readme.count(start) == 1 and readme.count(end) == 1
    shown = readme[readme.index(start) + len(start):readme.index(end)].strip()
    assert shown == make(), (f"README's {name} table is stale: paste the output of python -c \"from "
                             f"bench.report.catalog import {name}_table; print({name}_table())\" between its markers")


def test_every_suite_and_metric_has_one_row() -> None:
    suites = [row.split("|")[1].strip() for row in suite_table().splitlines()[2:]]
    assert suites == [f"`{n}` (default)" if n == DEFAULT_SUITE else f"`{n}`" for n in SUITES.names()]
    assert len(metric_table().splitlines()) == 2 + len(METRICS.names())


def test_a_suite_row_says_tasks_domains_and_groups() -> None:
    rows = {row.split("|")[1].strip(): row for row in suite_table().splitlines()[2:]}
    assert "rating (regression, 1–5)" in rows["`toy-reviews` (default)"]
    assert "books → electronics, kitchen, movies" in rows["`toy-reviews` (default)"]
    assert "mmlu_generative (generation, opt-in: --task)" in rows["`mmlu`"]
    assert "57 domains in 4 groups (STEM, humanities, other, social sciences)" in rows["`mmlu`"]
    assert "and 8 more" in rows["`reviews-by-product`"]  # 14 products: 6 named, 8 counted
