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
    assert text.count("data:image/png;base64,") == 4  # bars + gaps, for each of the two tasks
    assert "tiny-reviews / sentiment (classification): accuracy" in text and "<table" in text
    assert not list(done.run_dir.glob(".report-*"))


def test_report_of_an_incomplete_folder_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path)]) == 2
    assert f"error: {tmp_path} is not a complete run folder: run.json is missing" in capsys.readouterr().err
