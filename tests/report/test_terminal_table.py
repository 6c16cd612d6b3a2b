"""The terminal table fits 100 columns (folded into blocks that repeat the naming columns)
and its footnote names the interval method of each shown metric, read from ``ci_method``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bench.cli import TABLE_WIDTH, main
from bench.report.summary import format_table

CELL = "0.517 [0.460, 0.573]"


def wide_table() -> pd.DataFrame:
    domains = ["books*", "electronics", "kitchen", "movies", "ALL", "gap ID→OOD"]
    return pd.DataFrame([{"task": "sentiment", "model": m, "metric": "accuracy", **dict.fromkeys(domains, CELL)}
                         for m in ("majority", "source-only")])


def test_a_wide_table_is_folded_into_blocks_that_repeat_the_naming_columns() -> None:
    table = wide_table()
    assert max(map(len, format_table(table).splitlines())) > TABLE_WIDTH
    assert format_table(table, width=500) == format_table(table)
    blocks = format_table(table, width=TABLE_WIDTH).split("\n\n")
    assert len(blocks) == 2 and all(len(line) <= TABLE_WIDTH for b in blocks for line in b.splitlines())
    headers = [b.splitlines()[0].split() for b in blocks]
    assert all(h[:3] == ["task", "model", "metric"] for h in headers)
    assert [c for h in headers for c in h[3:]] == ["books*", "electronics", "kitchen", "movies", "ALL", "gap", "ID→OOD"]
    assert all(len(b.splitlines()) == 4 for b in blocks)  # header, rule, two rows each
    narrow = format_table(table, width=10).split("\n\n")  # at least one value column per block
    assert len(narrow) == 6


@pytest.mark.parametrize(("method", "expected"), [
    ([], "95% interval (accuracy: Wilson, gap Newcombe; mse: studentized bootstrap, gap MOVER (studentized "
         "bootstrap))"),
    (["--method", "percentile"], "95% interval (accuracy: Wilson, gap percentile bootstrap; mse: percentile bootstrap, "
                                 "gap percentile bootstrap)"),
])
def test_the_default_run_fits_100_columns_and_names_its_intervals(method: list[str], expected: str, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--limit", "20", "--out", str(tmp_path), "--resamples", "200", "--permutations", "200",
                 "-q", *method]) == 0
    out = capsys.readouterr().out.split("\nrun folder:")[0]  # the table and its footnote, not the paths
    assert max(map(len, out.splitlines())) <= TABLE_WIDTH
    assert out.count("task       model        metric") >= 2  # folded, naming columns repeated
    assert expected in " ".join(out.split())


def test_the_readme_states_the_interval_each_metric_gets(tmp_path: Path) -> None:
    from bench.pipeline import evaluate
    from bench.runner import RunConfig
    from bench.scoring.options import StatisticsOptions
    from tests.conftest import REPO

    done = evaluate(RunConfig(limit=20), tmp_path, save_models=False,
                    statistics=StatisticsOptions(resamples=200, permutations=200))
    assert done is not None
    domains = done.scored.metrics.groupby("metric")["ci_method"].agg(set)
    gaps = done.scored.gaps[done.scored.gaps["kind"] == "id_ood"].groupby("metric")["ci_method"].agg(set)
    assert (domains["accuracy"], gaps["accuracy"]) == ({"wilson"}, {"newcombe"})
    for loss in ("cross_entropy", "brier", "mse", "mae"):
        assert (domains[loss], gaps[loss]) == ({"studentized"}, {"mover"})
    assert (domains["ece"], gaps["ece"]) == ({"BCa"}, {"BCa"})
    readme = " ".join((REPO / "README.md").read_text(encoding="utf-8").split())
    assert ("Wilson for accuracy and Newcombe for its gaps, the studentized bootstrap for the losses per domain and "
            "MOVER of the two sides' studentized intervals for their gaps, BCa for ECE") in readme
