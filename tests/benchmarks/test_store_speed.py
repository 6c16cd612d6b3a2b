"""What the run store costs and saves, each as a ratio of two timings measured in the same run.

- ``cached re-run vs first run``: the runner stage (real data loaded, model built, every
  test example scored) of a zero-shot, compute-bound model (:func:`slow_model`, ~20 ms an
  example, like a 135M-parameter LLM on these 2 cores) on ``uci-sentiment`` (200 test
  examples per domain), on a fresh store, and again on the same store, where every output
  comes from the cache. The statistics
  (bootstrap) are recomputed on every run and are not part of either timing; a trainable
  baseline is retrained (seeded) before its outputs hit the cache, so for baselines the
  cache saves the scoring only.
- ``store commit vs scoring``: scoring every test batch of the default suite (toy-reviews,
  both tasks, batch 64) with its trained default baseline (``source-only``), and
  committing the same batches' record frames to the store, one transaction per batch.
- ``torchrun``: ``bench run`` of :func:`slow_model` with 1 and with 2 ranks (gloo), in
  separate processes; only with ``--benchmark-enable`` (it starts several processes).

Run with ``python -m pytest tests/benchmarks/test_store_speed.py --benchmark-enable``.
Under plain ``pytest`` (benchmarks disabled) each function runs once on small sizes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.adapters import CallableAdapter
from bench.data import load_suite_data
from bench.runner import RunConfig, run, score_examples
from bench.store import RunStore, StoreSink
from bench.suites import load_suite, plan_folds
from tests.conftest import REPO

WIDTH, STEPS = 384, 440


def slow_model() -> CallableAdapter:
    """A zero-shot classifier that spends ~``STEPS`` matrix-vector products per text (compute-bound)."""
    weights = np.random.default_rng(0).standard_normal((WIDTH, WIDTH)) / np.sqrt(WIDTH)

    def log_probs(texts: list[str], choices: tuple[str, ...]) -> np.ndarray:
        rows = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
            state = np.random.default_rng(seed).standard_normal(WIDTH)
            for _ in range(STEPS):
                state = np.tanh(weights @ state)
            rows.append(state[: len(choices)])
        scores = np.array(rows)
        return scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))

    return CallableAdapter("slow", log_probs=log_probs, version="1")


def _config(benchmark, data: Path) -> RunConfig:
    return RunConfig(suites=("uci-sentiment",), models=("tests.benchmarks.test_store_speed:slow_model",),
                     limit=4 if benchmark.disabled else 200, data_dir=str(data), protocol="zero_shot")


def test_first_run(benchmark, shared_data: Path, tmp_path: Path) -> None:
    config = _config(benchmark, shared_data)
    folders = iter(range(10_000))

    def fresh() -> tuple[tuple, dict]:
        return (), {"store": RunStore(tmp_path / f"first-{next(folders)}")}

    def first(store: RunStore) -> None:
        run_id = store.create_run("first", {})
        run(config, run_id=run_id, sink=StoreSink(store, run_id))

    benchmark.group = "cached re-run vs first run"
    benchmark.pedantic(first, setup=fresh, rounds=1 if benchmark.disabled else 2)


def test_cached_rerun(benchmark, shared_data: Path, tmp_path: Path) -> None:
    config = _config(benchmark, shared_data)
    store = RunStore(tmp_path)
    first_id = store.create_run("first", {})
    run(config, run_id=first_id, sink=StoreSink(store, first_id))
    sinks: list[StoreSink] = []

    def again() -> None:
        run_id = store.create_run("again", {})
        sinks.append(StoreSink(store, run_id))
        run(config, run_id=run_id, sink=sinks[-1])

    benchmark.group = "cached re-run vs first run"
    benchmark(again)
    assert sinks[-1].cache_counts()[1] == 0  # no example was scored again


@pytest.fixture(scope="module")
def default_fold():
    from bench.adapters import make_model

    suite = load_suite("toy-reviews")
    data = load_suite_data(suite)
    (fold,) = plan_folds(data)
    model = make_model("source-only")
    model.fit(fold.train, list(suite.tasks), seed=0)
    return suite, fold, model


def _batches(suite, fold) -> list:
    size = RunConfig().batch_size
    return [(task, examples[start : start + size]) for task in suite.tasks for examples in fold.test.values()
            for start in range(0, len(examples), size)]


def test_score_batches(benchmark, default_fold) -> None:
    suite, fold, model = default_fold
    batches = _batches(suite, fold)

    def score() -> None:
        for task, batch in batches:
            score_examples(model, task, batch, batch_size=len(batch))

    benchmark.group = "store commit vs scoring (default suite, batch 64)"
    benchmark(score)


def test_commit_batches(benchmark, default_fold, tmp_path: Path) -> None:
    suite, fold, model = default_fold
    frames = [(str(k), score_examples(model, task, batch, batch_size=len(batch)))
              for k, (task, batch) in enumerate(_batches(suite, fold))]
    store = RunStore(tmp_path)
    count = iter(range(10_000))

    def commit() -> None:
        run_id = f"r{next(count)}"
        for unit, frame in frames:
            store.commit_batches(run_id, [(unit, frame)])

    benchmark.group = "store commit vs scoring (default suite, batch 64)"
    benchmark(commit)


@pytest.mark.parametrize("ranks", [1, 2])
def test_torchrun_ranks(benchmark, ranks: int, tmp_path: Path) -> None:
    if benchmark.disabled:
        pytest.skip("starts torchrun processes; run with --benchmark-enable")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    count = iter(range(100))

    def job() -> None:
        out = tmp_path / f"out-{next(count)}"
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={ranks}"]
        subprocess.run([*launcher, "-m", "bench", "run", "--model", "tests.benchmarks.test_store_speed:slow_model",
                        "--task", "sentiment", "--protocol", "zero_shot", "--batch-size", "16", "--limit", "100", "--no-cache", "-q",
                        "--out", str(out)], env=env, check=True, capture_output=True, timeout=900)

    benchmark.group = "torchrun ranks (slow model, 400 examples)"
    benchmark.pedantic(job, rounds=1, iterations=1)
