"""Retries that just work: a run that failed before storing a batch never blocks the same
command again, Ctrl-C names the run and the command that resumes it, and every command a
message names works when pasted (each test runs the printed command)."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import numpy as np
import pytest

from bench.adapters import CallableAdapter
from bench.cli import main
from bench.store import RunStore, out_flag, resume_command
from tests.conftest import REPO

FAST = ["--resamples", "200", "--permutations", "200", "-q"]
OWN_TABLE = REPO / "examples" / "own-table"


def pasted(message: str) -> list[list[str]]:
    """The ``bench …`` commands quoted in ``message``, as argument lists for :func:`main`."""
    commands = [shlex.split(c) for c in re.findall(r"'(bench [^']*)'", message)]
    assert commands, f"no command in {message!r}"
    assert all(c[0] == "bench" for c in commands)
    return [c[1:] for c in commands]


def own_table_without_data(folder: Path) -> Path:
    """A copy of examples/own-table whose CSV is missing."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(OWN_TABLE / "suite.toml", folder / "suite.toml")
    return folder / "suite.toml"


def test_out_flag_is_given_only_for_a_results_folder_other_than_the_default() -> None:
    assert out_flag("results") == "" and out_flag(Path("results")) == ""
    assert out_flag("my results") == " --out 'my results'"
    assert resume_command("elsewhere", "R1") == "bench run --resume R1 --out elsewhere"


@pytest.mark.parametrize("out", [None, "elsewhere"])
def test_a_run_that_failed_before_any_batch_does_not_block_the_same_command(
        out: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    suite = own_table_without_data(tmp_path / "suite")
    command = ["run", str(suite), "--model", "majority", *(["--out", out] if out else []), *FAST]
    assert main(command) == 2
    assert "reviews.csv" in capsys.readouterr().err
    (failed,) = RunStore(out or "results").runs()
    assert failed.state == "failed" and failed.batches == 0
    shutil.copy(OWN_TABLE / "reviews.csv", suite.parent / "reviews.csv")  # the data supplied, the same command again
    assert main(command) == 0, capsys.readouterr().err
    assert "same configuration" not in capsys.readouterr().err
    assert sorted(r.state for r in RunStore(out or "results").runs()) == ["complete", "failed"]


INTERRUPT = {"after": 2, "calls": 0}
"""The interrupting model raises KeyboardInterrupt at call ``after`` + 1 (``after`` < 0: never)."""


def interrupting() -> CallableAdapter:
    """Uniform probabilities; raises KeyboardInterrupt (as Ctrl-C does) on its third call."""
    def log_probs(texts: list[str], choices: list[str]) -> np.ndarray:
        INTERRUPT["calls"] += 1
        if 0 <= INTERRUPT["after"] < INTERRUPT["calls"]:
            raise KeyboardInterrupt
        return np.log(np.full((len(texts), len(choices)), 1 / len(choices)))

    return CallableAdapter("interrupting", log_probs=log_probs)


@pytest.mark.parametrize("out", [None, "elsewhere"])
def test_ctrl_c_names_the_run_and_a_resume_command_that_works_when_pasted(
        out: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(INTERRUPT, "after", 2)
    monkeypatch.setitem(INTERRUPT, "calls", 0)
    suite = own_table_without_data(tmp_path / "suite")
    shutil.copy(OWN_TABLE / "reviews.csv", suite.parent / "reviews.csv")
    command = ["run", str(suite), "--model", "tests.test_hints:interrupting", "--task", "sentiment",
               "--batch-size", "4", *(["--out", out] if out else []), *FAST]
    assert main(command) == 130
    err = capsys.readouterr().err.strip()
    (info,) = RunStore(out or "results").runs()
    assert info.batches == 2
    assert err == (f"interrupted: run {info.run_id} keeps the batches it stored; resume it with "
                   f"'bench run --resume {info.run_id}{' --out ' + out if out else ''}'")
    monkeypatch.setitem(INTERRUPT, "after", -1)
    # the same command again: names the run and the resume command, which works when pasted
    assert main(command) == 2
    again = capsys.readouterr().err
    assert f"Run {info.run_id} has the same configuration and is interrupted (2 batches stored)" in again
    assert pasted(again) == pasted(err)
    (resume,) = pasted(err)
    assert main([*resume, "-q"]) == 0, capsys.readouterr().err
    assert [r.state for r in RunStore(out or "results").runs()] == ["complete"]


def test_hints_of_resume_runs_and_export_work_when_pasted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    suite = own_table_without_data(tmp_path / "suite")
    shutil.copy(OWN_TABLE / "reviews.csv", suite.parent / "reviews.csv")
    assert main(["run", str(suite), "--model", "majority", "--task", "sentiment", "--out", "elsewhere", *FAST]) == 0
    (info,) = RunStore("elsewhere").runs()
    capsys.readouterr()
    # an unknown run id: 'bench runs --out elsewhere'
    assert main(["run", "--resume", "nope", "--out", "elsewhere"]) == 2
    (runs,) = pasted(capsys.readouterr().err)
    assert runs == ["runs", "--out", "elsewhere"] and main(runs) == 0
    assert info.run_id in capsys.readouterr().out
    # a complete run: 'bench run --repeat elsewhere/runs/<id>'
    assert main(["run", "--resume", info.run_id, "--out", "elsewhere"]) == 2
    (repeat,) = pasted(capsys.readouterr().err)
    assert repeat == ["run", "--repeat", f"elsewhere/runs/{info.run_id}"]
    assert main([*repeat, "-q"]) == 0
