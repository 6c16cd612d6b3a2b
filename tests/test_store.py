"""The run store: frames round-trip exactly, run ids, states, the output cache and fingerprints."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.adapters import CallableAdapter
from bench.errors import AdapterError, ConfigError, DataError, OutputError
from bench.pipeline import config_from_dict, evaluate
from bench.report.leaderboard import history_path, merge_leaderboard
from bench.runner import RunConfig
from bench.store import CachingAdapter, RunStore, decode_frame, encode_frame
from bench.suites.types import Example, Task


def test_frame_round_trips_exactly_with_dtypes() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"example_id": np.array(["a", "b", "c"], dtype=object), "target": np.array([0, 1, 1]),
                          "nll": rng.random(3) * 1e-7 + np.array([np.pi, np.e, 1 / 3]),
                          "correct": np.array([np.nan, 1.0, 0.0]), "n_tokens": np.array([3, 4, 5], dtype=np.int64),
                          "logprob_0": np.array([-1e-300, -5e300, -0.1])})
    back = decode_frame(encode_frame(frame))
    pd.testing.assert_frame_equal(back, frame, check_exact=True)
    assert list(back.dtypes) == list(frame.dtypes)


def test_identical_runs_started_together_get_distinct_ids(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    ids = [store.create_run("20260101T000000Z-abcdef12", {"seed": 0}) for _ in range(3)]
    assert ids == ["20260101T000000Z-abcdef12", "20260101T000000Z-abcdef12-2", "20260101T000000Z-abcdef12-3"]
    taken = store.create_run("x", {"seed": 0}, taken=lambda r: r == "x")
    assert taken == "x-2"


def test_states_and_claim_errors(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    run_id = store.create_run("r", {"seed": 0})
    assert store.run(run_id).state == "running"
    with pytest.raises(ConfigError, match="Run r is still running"):
        store.claim(run_id)
    store.db.execute("UPDATE runs SET pid = ? WHERE run_id = ?", (_dead_pid(), run_id))
    assert store.run(run_id).state == "interrupted"
    assert [r.run_id for r in store.unfinished({"seed": 0})] == ["r"]
    assert store.claim(run_id).state == "running"
    store.set_state(run_id, "complete")
    with pytest.raises(ConfigError, match="Run r is complete; nothing to resume"):
        store.claim(run_id)
    with pytest.raises(ConfigError, match="No run 'nope' in .*store.sqlite; latest runs: r"):
        store.run("nope")


def _dead_pid() -> int:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


def test_a_file_that_is_not_a_database_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "store.sqlite").write_bytes(b"not a database at all" * 100)
    with pytest.raises(OutputError, match="Cannot open the run store .*store.sqlite"):
        RunStore(tmp_path)


def test_batches_and_cache_entries_commit_together(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    frame = pd.DataFrame({"example_id": ["a"], "nll": [0.5]})
    store.commit_batches("r", [("u1", frame)], [("k1", "{}")])
    assert store.done_units("r") == {"u1"}
    pd.testing.assert_frame_equal(store.frame("r", "u1"), frame)
    assert store.cached(["k1", "k2"]) == {"k1": "{}"}
    with pytest.raises(sqlite3.Error):  # a cache value that cannot be stored, after the batch row
        store.commit_batches("r", [("u2", frame)], [("k2", {"not": "text"})])  # type: ignore[list-item]
    assert store.done_units("r") == {"u1"}  # the failed transaction left nothing behind
    assert store.integrity() == "ok"
    with pytest.raises(OutputError, match="Run r has no committed batch 'u3'"):
        store.frame("r", "u3")


def _examples(n: int) -> list[Example]:
    return [Example(f"e{i}", "d", f"text {i}", {"t": i % 2}) for i in range(n)]


def counting(calls: list[int]) -> CallableAdapter:
    def fn(texts, choices):
        calls.append(len(texts))
        scores = np.array([[len(t) % 3, 1.0] for t in texts])
        return scores - np.logaddexp(scores[:, :1], scores[:, 1:])

    return CallableAdapter("counting", log_probs=fn)


def test_cache_passes_only_missing_examples_and_returns_the_same_output(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    task = Task("t", "classification", ("a", "b"))
    calls: list[int] = []
    plain = counting([]).log_probs(_examples(6), task)
    pending: list[tuple[str, str]] = []
    first = CachingAdapter(counting(calls), store, pending).log_probs(_examples(4), task)
    store.commit_batches("r", [], pending)
    second_adapter = CachingAdapter(counting(calls), store, [])
    second = second_adapter.log_probs(_examples(6), task)
    assert calls == [4, 2]  # the second call scored only e4 and e5
    assert (second_adapter.hits, second_adapter.misses) == (4, 2)
    np.testing.assert_array_equal(first, plain[:4])
    np.testing.assert_array_equal(second, plain)
    other_task = replace(task, choices=("x", "y"))
    CachingAdapter(counting(calls), store, []).log_probs(_examples(4), other_task)
    assert calls[-1] == 4  # another task definition is another key


def test_cached_tuple_outputs_keep_their_dtypes(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    adapter = CallableAdapter("lm", text_nll=lambda texts: (np.array([1.5] * len(texts)),
                                                            np.array([3] * len(texts), dtype=np.int64)))
    task = Task("lm", "language_modeling")
    pending: list[tuple[str, str]] = []
    CachingAdapter(adapter, store, pending).text_nll(_examples(3), task)
    store.commit_batches("r", [], pending)
    nll, tokens = CachingAdapter(adapter, store, []).text_nll(_examples(3), task)
    assert nll.dtype == np.float64 and tokens.dtype == np.int64 and tokens.tolist() == [3, 3, 3]


def test_fingerprint_changes_with_weights_and_options() -> None:
    from bench.baselines.text_model import NgramTextModel, TrainConfig

    train = _examples(40)
    task = Task("t", "classification", ("a", "b"))

    def trained(seed: int, config: TrainConfig) -> str:
        model = NgramTextModel("m", config, joint=False)
        model.fit(train, [task], seed=seed)
        return model.fingerprint()

    base = trained(0, TrainConfig(epochs=2))
    assert trained(0, TrainConfig(epochs=2)) == base  # seeded: same weights, same fingerprint
    assert trained(1, TrainConfig(epochs=2)) != base  # other weights
    assert trained(0, TrainConfig(epochs=3)) != base  # another training option
    assert trained(0, TrainConfig(epochs=2, lr=0.5)) != base
    assert NgramTextModel("m", TrainConfig(epochs=2), joint=True).fingerprint() != \
        NgramTextModel("m", TrainConfig(epochs=2), joint=False).fingerprint()


def test_callable_fingerprint_changes_with_the_function_and_version() -> None:
    a = CallableAdapter("f", predict_values=lambda texts: np.zeros(len(texts)))
    b = CallableAdapter("f", predict_values=lambda texts: np.ones(len(texts)))
    assert a.fingerprint() != b.fingerprint()
    assert a.fingerprint() != CallableAdapter("f", predict_values=lambda texts: np.zeros(len(texts)),
                                              version="2").fingerprint()


def test_config_from_dict_round_trips_and_rejects_unknown_fields() -> None:
    from dataclasses import asdict

    config = RunConfig(suites=("a", "b"), models=("m",), limit=3, trials=2)
    assert config_from_dict(json.loads(json.dumps(asdict(config)))) == config
    with pytest.raises(ConfigError, match="Unknown run configuration field\\(s\\) colour"):
        config_from_dict({"colour": "red"})


def test_leaderboard_keeps_every_run_and_a_latest_view(tmp_path: Path) -> None:
    path = tmp_path / "leaderboard.csv"
    merge_leaderboard(path, pd.DataFrame({"model": ["a", "b"], "suite": "s", "task": "t",
                                          "mean_accuracy": [0.1, 0.2], "run_id": "r1"}))
    merge_leaderboard(path, pd.DataFrame({"model": ["b"], "suite": "s", "task": "t", "mean_accuracy": [0.9],
                                          "run_id": "r2"}))
    merge_leaderboard(path, pd.DataFrame({"model": ["b"], "suite": "s", "task": "t", "mean_accuracy": [0.8],
                                          "run_id": "r2"}))  # the same run merged again replaces its rows
    history = pd.read_csv(history_path(path))
    assert list(zip(history["model"], history["run_id"], history["mean_accuracy"], strict=True)) == [
        ("a", "r1", 0.1), ("b", "r1", 0.2), ("b", "r2", 0.8)]
    latest = pd.read_csv(path)
    assert list(zip(latest["model"], latest["run_id"], strict=True)) == [("a", "r1"), ("b", "r2")]
    for file in (path, history_path(path)):
        assert stat.S_IMODE(file.stat().st_mode) & 0o044 == 0o044  # group and others may read
    with pytest.raises(OutputError, match="No leaderboard rows to merge"):
        merge_leaderboard(path, pd.DataFrame(columns=["model", "suite", "task", "run_id"]))


def huge_values() -> CallableAdapter:
    return CallableAdapter("huge", predict_values=lambda texts: np.full(len(texts), 1e308))


def test_a_model_predicting_1e308_fails_clearly_and_leaves_no_run(tiny_suite: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(AdapterError, match="model 'huge'.*column 'nll' is infinite .*prediction 1e\\+308"):
        evaluate(RunConfig(suites=(str(tiny_suite),), models=("tests.test_store:huge_values",),
                           tasks=("rating",)), out)
    assert list((out / "runs").iterdir()) == []
    assert not (out / "leaderboard.csv").exists() and not (out / "work").exists()
    assert [r.state for r in RunStore(out).runs()] == ["failed"]


def test_empty_test_splits_fail_before_training_and_leave_no_run(tmp_path: Path) -> None:
    from tests.conftest import write_tiny_suite

    out = tmp_path / "out"
    suite = write_tiny_suite(tmp_path, n=1)
    with pytest.raises(DataError, match="task 'sentiment' has no test examples in any domain .*books: 0"):
        evaluate(RunConfig(suites=(str(suite),), models=("majority",)), out)
    assert list((out / "runs").iterdir()) == []
    assert not (out / "leaderboard.csv").exists() and not (out / "leaderboard_runs.csv").exists()


def test_run_files_are_group_and_world_readable(tiny_suite: Path, tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        done = evaluate(RunConfig(suites=(str(tiny_suite),), models=("source-only",)), tmp_path / "out")
    finally:
        os.umask(old)
    assert done is not None
    for item in [done.run_dir, *done.run_dir.rglob("*")]:
        expected = 0o755 if item.is_dir() else 0o644
        assert stat.S_IMODE(item.stat().st_mode) == expected, item


def test_unfinished_run_of_the_same_config_asks_to_resume_or_start_new(tiny_suite: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    config = RunConfig(suites=(str(tiny_suite),), models=("majority",))
    store = RunStore(out)
    from dataclasses import asdict

    run_id = store.create_run("20260101T000000Z-00000000", asdict(config))
    store.db.execute("UPDATE runs SET pid = ? WHERE run_id = ?", (_dead_pid(), run_id))
    with pytest.raises(ConfigError, match=f"Run {run_id} has the same configuration and is interrupted .*"
                                          f"'bench run --resume {run_id} --out {out}'.*'--new'"):
        evaluate(config, out)
    done = evaluate(config, out, new=True)
    assert done is not None and done.run_dir.name != run_id
    resumed = evaluate(config, out, resume=run_id)
    assert resumed is not None and resumed.run_dir.name == run_id
    pd.testing.assert_frame_equal(resumed.result.records.drop(columns="run_id"),
                                  done.result.records.drop(columns="run_id"))
    assert {r.run_id: r.state for r in RunStore(out).runs()} == {run_id: "complete",
                                                                 done.run_dir.name: "complete"}


def test_cached_rerun_reuses_every_output_and_gives_the_same_records(tiny_suite: Path, tmp_path: Path) -> None:
    config = RunConfig(suites=(str(tiny_suite),), models=("majority", "source-only"))
    first = evaluate(config, tmp_path)
    second = evaluate(config, tmp_path)
    assert first is not None and second is not None
    assert first.cache_hits == 0 and second.cache_misses == 0 and second.cache_hits == first.cache_misses > 0
    pd.testing.assert_frame_equal(first.result.records.drop(columns="run_id"),
                                  second.result.records.drop(columns="run_id"))
    third = evaluate(config, tmp_path, cache=False)
    assert third is not None and third.cache_hits == third.cache_misses == 0


def test_export_writes_a_complete_run_folder_again_from_the_store(tiny_suite: Path, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    from bench.cli import main

    done = evaluate(RunConfig(suites=(str(tiny_suite),), models=("majority", "source-only")), tmp_path)
    assert done is not None
    before = {name: (done.run_dir / name).read_bytes() for name in ("records.csv.gz", "metrics.csv", "gaps.csv")}
    assert main(["runs", "--export", done.run_dir.name, "--out", str(tmp_path)]) == 2
    assert "exists already" in capsys.readouterr().err
    shutil.rmtree(done.run_dir)
    assert main(["runs", "--export", done.run_dir.name, "--out", str(tmp_path)]) == 0
    assert {name: (done.run_dir / name).read_bytes() for name in before} == before
    store = RunStore(tmp_path)
    other = store.create_run("unfinished", {})
    store.set_state(other, "failed", error="x")
    assert main(["runs", "--export", other, "--out", str(tmp_path)]) == 2
    assert f"Run unfinished is failed, not complete; finish it with 'bench run --resume unfinished --out {tmp_path}'" in \
        capsys.readouterr().err


def test_text_columns_may_hold_lists_and_reject_other_objects() -> None:
    frame = pd.DataFrame({"example_id": ["a", "b"], "options": [["x", "y"], [np.int64(1), 2.5]],
                          "note": [None, "n"]})
    back = decode_frame(encode_frame(frame))
    assert back["options"].tolist() == [["x", "y"], [1, 2.5]]
    assert pd.isna(back["note"].iloc[0]) and back["note"].iloc[1] == "n"  # a missing text stays missing
    with pytest.raises(TypeError, match="cannot store a set in a record"):
        encode_frame(pd.DataFrame({"example_id": ["a"], "bad": [{1}]}))
