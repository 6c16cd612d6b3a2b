"""Run bookkeeping a reliability probe got past (issue 26): ``--repeat`` writing outside
``--out``, deleting a running run, and runs that show as running forever (another host,
a reused pid), with ``--force`` to take them over."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from bench.cli import main
from bench.errors import ConfigError
from bench.pipeline import evaluate, repeat_run
from bench.runner import RunConfig
from bench.store import RunStore

CONFIG = {"suites": ["toy-reviews"], "models": ["majority"]}


def _store_with_run(tmp_path: Path) -> tuple[RunStore, str]:
    store = RunStore(tmp_path)
    return store, store.create_run("20260101T000000Z-abcdef01", CONFIG)


def _set(tmp_path: Path, run_id: str, **values: object) -> None:
    db = sqlite3.connect(tmp_path / "store.sqlite")
    with db:
        for column, value in values.items():
            db.execute(f"UPDATE runs SET {column} = ? WHERE run_id = ?", (value, run_id))
    db.close()


def test_deleting_a_running_run_is_refused_unless_forced(tmp_path: Path) -> None:
    store, run_id = _store_with_run(tmp_path)
    with pytest.raises(ConfigError, match=rf"Run {run_id} is still running \(pid {os.getpid()} on .*\); stop it before "
                                          rf"deleting it.*'bench runs --delete {run_id} --force --out "):
        store.delete_run(run_id)
    store.delete_run(run_id, force=True)
    assert store.runs() == []


def test_the_cli_refuses_to_delete_a_running_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store, run_id = _store_with_run(tmp_path)
    store.close()
    assert main(["runs", "--out", str(tmp_path), "--delete", run_id]) == 2
    assert "is still running" in capsys.readouterr().err
    assert main(["runs", "--out", str(tmp_path), "--delete", run_id, "--force"]) == 0


def test_another_hosts_run_can_be_taken_over_with_force(tmp_path: Path) -> None:
    store, run_id = _store_with_run(tmp_path)
    _set(tmp_path, run_id, host="elsewhere.example", pid=4242)
    assert store.run(run_id).state == "running"  # cannot be checked from here
    with pytest.raises(ConfigError, match=rf"pid 4242 on elsewhere\.example.*'bench run --resume {run_id} --force"):
        store.claim(run_id)
    assert store.claim(run_id, force=True).host != "elsewhere.example"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux) to tell when a process started")
def test_a_run_whose_pid_was_reused_is_interrupted(tmp_path: Path) -> None:
    store, run_id = _store_with_run(tmp_path)
    assert store.run(run_id).state == "running"  # this process: alive
    _set(tmp_path, run_id, updated_at="2001-01-01T00:00:00.000+00:00")  # the pid's process started later: reused
    assert store.run(run_id).state == "interrupted"
    store.claim(run_id)


def test_repeat_writes_only_into_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    done = evaluate(RunConfig(models=("majority",), tasks=("sentiment",)), tmp_path / "results", save_models=False)
    assert done is not None
    elsewhere = tmp_path / "copies" / "deep" / "one-run"
    shutil.copytree(done.run_dir, elsewhere)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(ConfigError, match=r"one-run is not inside a results folder's runs/; name the results folder"):
        repeat_run(elsewhere)
    assert main(["run", "--repeat", str(elsewhere), "--out", str(tmp_path / "again"), "--quiet"]) == 0
    assert "every metric matches exactly" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*before, "again"])
    assert sorted(p.name for p in (tmp_path / "copies").iterdir()) == ["deep"]
    assert len(list((tmp_path / "again" / "runs").iterdir())) == 1


def test_force_needs_resume(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--force", "--model", "majority"]) == 2
    assert "--force only goes with --resume" in capsys.readouterr().err


def test_delete_removes_what_an_interrupted_export_left(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store, run_id = _store_with_run(tmp_path)
    store.set_state(run_id, "failed", error="killed during export")
    store.close()
    staging = tmp_path / "runs" / f".{run_id}-x1y2"
    (staging / "models").mkdir(parents=True)
    (tmp_path / "work" / run_id).mkdir(parents=True)
    assert main(["runs", "--out", str(tmp_path), "--delete", run_id]) == 0
    assert "and 2 leftover folder(s)" in capsys.readouterr().out
    assert not staging.exists() and not (tmp_path / "work" / run_id).exists()
