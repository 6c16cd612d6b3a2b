from __future__ import annotations

from pathlib import Path

import pytest

from bench.cli import main
from bench.pipeline import evaluate
from bench.runner import RunConfig


def test_html_report_embeds_figures_and_tables(tiny_suite: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    done = evaluate(RunConfig(suites=(str(tiny_suite),), models=("majority", "source-only")), tmp_path)
    assert main(["report", str(done.run_dir)]) == 0
    assert "report.html" in capsys.readouterr().out
    text = (done.run_dir / "report.html").read_text()
    # sentiment: heatmap, gaps, reliability; rating: heatmap, gaps (robustness needs 3 models)
    assert text.count("data:image/png;base64,") == 5
    assert "tiny-reviews/sentiment (classification, id_ood): accuracy" in text and "<table" in text
    assert not list(done.run_dir.glob(".report-*"))


def test_report_of_an_incomplete_folder_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path)]) == 2
    assert f"error: {tmp_path} is not a complete run folder: run.json is missing" in capsys.readouterr().err


def test_terminal_summary_is_one_table_per_suite_and_transposes_many_domains() -> None:
    import pandas as pd

    from bench.report.summary import summary_tables
    from bench.scoring.tables import TaskInfo

    domains = tuple(f"d{i}" for i in range(8))
    metrics = pd.DataFrame([
        {"model": "lm", "suite": "big", "task": "text", "domain": d, "metric": m, "value": v, "ci_low": v - 0.1,
         "ci_high": v + 0.1, "n": 5}
        for i, d in enumerate([*domains, "ALL"]) for m, v in (("cross_entropy", 2.0 + i), ("bits_per_byte", 3.0 + i))
    ] + [{"model": "clf", "suite": "small", "task": "s", "domain": d, "metric": "accuracy", "value": 0.5,
          "ci_low": 0.4, "ci_high": 0.6, "n": 5} for d in ("a", "b", "ALL")])
    gaps = pd.DataFrame([{"model": "lm", "suite": "big", "task": "text", "metric": "cross_entropy", "kind": "id_ood",
                          "domain_a": "d0", "domain_b": "OOD", "gap": 1.5, "ci_low": 1.0, "ci_high": 2.0}])
    infos = {("big", "text"): TaskInfo("language_modeling", (), domains, ("d0",)),
             ("small", "s"): TaskInfo("classification", ("n", "p"), ("a", "b"), ("a",))}
    tables = summary_tables(metrics, gaps, infos)
    assert list(tables) == ["big", "small"]
    big = tables["big"].set_index("domain")
    assert list(big.columns) == ["lm cross_entropy", "lm bits_per_byte"]
    assert big.loc["d0*", "lm cross_entropy"] == "2.000 [1.900, 2.100]"
    assert big.loc["gap ID→OOD", "lm cross_entropy"] == "1.500 [1.000, 2.000]"
    assert list(tables["small"].columns) == ["task", "model", "metric", "a*", "b", "ALL", "gap ID→OOD"]
