"""Never lose work, with real processes and real files: SIGKILL at named points and resume,
concurrent writers into one folder, torchrun sharding, and repeating a run from its folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from bench.cli import main
from bench.report.leaderboard import KEY
from bench.store import KILL_ENV, RunStore
from tests.conftest import REPO, write_tiny_suite

MODELS = ["--model", "majority", "--model", "source-only"]


def bench(args: list[str], out: Path, *, kill_at: str | None = None, torchrun: int = 0,
          timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``bench run ARGS --out OUT`` in a new process (under torchrun with ``torchrun`` ranks)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop(KILL_ENV, None)
    if kill_at:
        env[KILL_ENV] = kill_at
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={torchrun}",
                "-m", "bench"] if torchrun else [sys.executable, "-m", "bench"]
    return subprocess.run([*launcher, "run", *args, "-q", "--out", str(out)], env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_suite(tmp_path_factory.mktemp("suite"), n=40)


@pytest.fixture(scope="module")
def reference(suite: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run folder of an uninterrupted run."""
    out = tmp_path_factory.mktemp("reference")
    done = bench([str(suite), *MODELS, "--batch-size", "8"], out)
    assert done.returncode == 0, done.stderr
    (run_dir,) = (out / "runs").iterdir()
    return run_dir


def records(run_dir: Path) -> pd.DataFrame:
    return pd.read_csv(run_dir / "records.csv.gz", dtype={"example_id": str}).drop(columns="run_id")


def assert_finished_like(out: Path, reference: Path) -> str:
    """One complete run in ``out`` whose records and metrics equal the reference's; nothing stray."""
    store = RunStore(out)
    (info,) = store.runs()
    assert info.state == "complete" and store.integrity() == "ok"
    assert not (out / "work").exists()
    assert [p.name for p in (out / "runs").iterdir()] == [info.run_id]
    run_dir = out / "runs" / info.run_id
    mine = records(run_dir)
    assert not mine.duplicated(["model", "task", "domain", "example_id"]).any()
    pd.testing.assert_frame_equal(mine, records(reference))
    pd.testing.assert_frame_equal(pd.read_csv(run_dir / "metrics.csv"), pd.read_csv(reference / "metrics.csv"))
    history = pd.read_csv(out / "leaderboard_runs.csv")
    assert not history.duplicated([*KEY, "run_id"]).any() and set(history["run_id"]) == {info.run_id}
    assert len(pd.read_csv(out / "leaderboard.csv")) == len(history)
    return info.run_id


@pytest.mark.parametrize("point", ["fit:2", "mid-batch:5", "batch:30", "export:1", "leaderboard:1"])
def test_killed_run_resumes_to_the_same_records(point: str, suite: Path, reference: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    killed = bench([str(suite), *MODELS, "--batch-size", "8"], out, kill_at=point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not (out / "runs").exists() or not [p for p in (out / "runs").iterdir() if not p.name.startswith(".")]
    assert main(["runs", "--out", str(out)]) == 0
    assert "interrupted" in capsys.readouterr().out
    (info,) = RunStore(out).runs()
    again = bench([str(suite), *MODELS, "--batch-size", "8"], out)
    assert again.returncode == 2 and f"bench run --resume {info.run_id}" in again.stderr
    resumed = bench(["--resume", info.run_id], out)
    assert resumed.returncode == 0, resumed.stderr
    assert assert_finished_like(out, reference) == info.run_id
    if point == "batch:30":  # killed while scoring source-only: its saved model was reloaded, not retrained
        assert RunStore(out).run(info.run_id).facts["restored"] == {"source-only/tiny-reviews/id_ood": True}


def test_four_concurrent_writers_lose_nothing(suite: Path, reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "bench", "run", str(suite), *MODELS, "--batch-size", "8", "-q", "--out", str(out)]
    procs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
    store = RunStore(out)
    runs = store.runs()
    assert store.integrity() == "ok" and len({r.run_id for r in runs}) == 4  # identical configs, distinct ids
    assert {r.state for r in runs} == {"complete"}
    for info in runs:
        run_dir = out / "runs" / info.run_id
        pd.testing.assert_frame_equal(records(run_dir), records(reference))
        for table in run_dir.glob("*.csv"):
            pd.read_csv(table)
    history = pd.read_csv(out / "leaderboard_runs.csv")
    assert set(history["run_id"]) == {r.run_id for r in runs}
    assert len(history) == 4 * len(pd.read_csv(reference.parent.parent / "leaderboard.csv"))
    latest = pd.read_csv(out / "leaderboard.csv")
    assert not latest.duplicated(KEY).any() and len(latest) * 4 == len(history)
    assert not (out / "work").exists() and not [p for p in (out / "runs").iterdir() if p.name.startswith(".")]


def test_torchrun_two_ranks_give_the_records_of_one_process(suite: Path, reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = bench([str(suite), *MODELS, "--batch-size", "8"], out, torchrun=2)
    assert done.returncode == 0, done.stderr
    assert assert_finished_like(out, reference)


def test_two_rank_run_killed_then_resumed_with_one_rank(suite: Path, reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    killed = bench([str(suite), *MODELS, "--batch-size", "8"], out, torchrun=2, kill_at="batch:8")
    assert killed.returncode != 0
    (info,) = RunStore(out).runs()
    assert info.state == "interrupted" and 0 < info.batches < 40
    resumed = bench(["--resume", info.run_id], out)
    assert resumed.returncode == 0, resumed.stderr
    assert assert_finished_like(out, reference) == info.run_id


def test_repeat_reports_that_every_metric_matches(reference: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--repeat", str(reference), "-q"]) == 0
    text = capsys.readouterr().out
    assert "every metric matches exactly" in text


def test_repeat_reports_differences(reference: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    copy = tmp_path / "runs" / reference.name
    shutil.copytree(reference, copy)
    metrics = pd.read_csv(copy / "metrics.csv")
    metrics.loc[0, "value"] += 1e-12
    metrics.to_csv(copy / "metrics.csv", index=False)
    assert main(["run", "--repeat", str(copy), "-q"]) == 1
    assert "1 metric row(s) differ" in capsys.readouterr().out


def test_a_run_killed_in_the_leaderboard_merge_then_deleted_leaves_no_rows(suite: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    killed = bench([str(suite), *MODELS, "--batch-size", "8"], out, kill_at="leaderboard")
    assert killed.returncode != 0
    store = RunStore(out)
    (info,) = store.runs()
    store.close()
    history = out / "leaderboard_runs.csv"
    assert info.run_id in set(pd.read_csv(history)["run_id"])  # written before the kill
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop(KILL_ENV, None)
    deleted = subprocess.run([sys.executable, "-m", "bench", "runs", "--delete", info.run_id, "--force", "--out",
                              str(out)], env=env, capture_output=True, text=True, timeout=120)
    assert deleted.returncode == 0, deleted.stderr
    assert not history.exists() and not (out / "leaderboard.csv").exists()  # that run was all it held
