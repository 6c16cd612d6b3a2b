from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from bench import __version__
from bench.cli import main


def test_version_and_module_entry_point() -> None:
    done = subprocess.run([sys.executable, "-m", "bench", "--version"], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == f"bench (xdbench) {__version__}"


def test_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "run" in out and "list" in out


def test_list_shows_names_and_descriptions(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for expected in ("suites:", "toy-reviews", "models:", "source-only", "metrics:", "classification/accuracy",
                     "protocols:", "id_ood"):
        assert expected in out


def test_run_end_to_end_writes_files_and_prints_a_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "results"
    assert main(["run", "toy-reviews", "--model", "majority", "--model", "source-only", "--out", str(out),
                 "--limit", "40", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "books*" in printed and "gap ID→OOD" in printed and "run folder:" in printed
    (run_dir,) = (out / "runs").iterdir()
    metrics = pd.read_csv(run_dir / "metrics.csv")
    records = pd.read_csv(run_dir / "records.csv.gz")
    assert len(records) == 2 * 2 * 4 * 40
    # The accuracy in metrics.csv is the mean of the records' 'correct' column.
    for (model, domain), part in records[records["task"] == "sentiment"].groupby(["model", "domain"]):
        row = metrics[(metrics["model"] == model) & (metrics["task"] == "sentiment") & (metrics["domain"] == domain)
                      & (metrics["metric"] == "accuracy")]
        assert row["value"].iloc[0] == pytest.approx(part["correct"].mean())
        assert row["n"].iloc[0] == 40
    board = pd.read_csv(out / "leaderboard.csv")
    assert len(board) == 4 and {"mean_accuracy", "worst_domain", "gap_accuracy", "run_id"} <= set(board.columns)
    source = board.query("model == 'source-only' and task == 'sentiment'").iloc[0]
    assert source["id_accuracy"] > source["ood_accuracy"] and source["gap_accuracy"] > 0


@pytest.mark.parametrize(("argv", "message"), [
    (["run", "toy-review"], "error: Unknown suite 'toy-review'. Did you mean: toy-reviews?"),
    (["run", "--model", "sourceonly"], "error: Unknown model 'sourceonly'. Did you mean: source-only"),
    (["run", "nope.toml"], "error: Cannot read suite file nope.toml"),
])
def test_errors_are_one_clear_line(argv: list[str], message: str, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not list((tmp_path / "runs").glob("*/metrics.csv"))


def test_malformed_suite_file_names_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[suite\nname = 1\n")
    assert main(["run", str(bad), "--out", str(tmp_path)]) == 2
    assert "bad.toml: malformed TOML" in capsys.readouterr().err


@pytest.mark.parametrize("limit", ["0", "-3", "many"])
def test_limit_must_be_positive(limit: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["run", "--limit", limit])
    assert info.value.code == 2
    assert "--limit: must be a positive integer" in capsys.readouterr().err


def test_unwritable_output_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["run", "--out", str(blocker / "x"), "--limit", "5"]) == 2
    assert f"error: Cannot write to output folder {blocker / 'x'}" in capsys.readouterr().err
