"""Where a training step of the hashed n-gram model goes: forward + backward against the
optimiser step, for each way of updating the 2^18 × 32 embedding table, on toy-reviews'
in-domain train split (the default 8 epochs each, the same batches, after a warm-up), plus the accuracy each option
reaches after the default training.

Options: ``row-adam`` (the default, :class:`~bench.baselines.text_model.RowAdam`),
``sparse-adam`` (:class:`torch.optim.SparseAdam` on a sparse gradient, the previous
default), ``dense-adam`` (:class:`torch.optim.Adam` over the whole table, foreach) and
``dense-adam-fused`` (the same with ``fused=True``).

Run with ``python -m pytest tests/benchmarks/test_training_speed.py --benchmark-enable -s``;
each option prints its seconds in forward + backward and in the optimiser step and their
ratio (the target: step / (forward + backward) ≤ 1). No time is asserted.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pytest
import torch

from bench.baselines.features import HashedNgrams, bag
from bench.baselines.text_model import (
    NgramNet,
    RowAdam,
    TrainConfig,
    batch_loss,
    minibatches,
    task_targets,
    torch_threads,
)
from bench.data import load_suite_data
from bench.suites import load_suite

CONFIG = TrainConfig()
OPTIONS = ("row-adam", "sparse-adam", "dense-adam", "dense-adam-fused")


@pytest.fixture(scope="module")
def split() -> dict:
    suite = load_suite("toy-reviews")
    data = load_suite_data(suite)
    featurizer = HashedNgrams(CONFIG.n_buckets, CONFIG.max_n)
    task = suite.task("sentiment")
    train = data.domains["books"].train
    tests = [ex for name, d in data.domains.items() for ex in d.test]
    return {"ids": featurizer.arrays([ex.text for ex in train]), "targets": {task.name: task_targets(train, task)},
            "test": featurizer([ex.text for ex in tests]), "labels": np.array([ex.targets[task.name] for ex in tests])}


def _setup(option: str) -> tuple[NgramNet, Callable, list]:
    torch.manual_seed(0)
    net = NgramNet(CONFIG.n_buckets, CONFIG.dim, {"sentiment": 2})
    heads = torch.optim.Adam(list(net.heads.parameters()), lr=CONFIG.lr)
    if option == "row-adam":
        rows = RowAdam(net.embedding.weight, lr=CONFIG.lr)
        return net, lambda flat, offsets: net.heads["sentiment"](rows.embed(flat, offsets)), [rows, heads]
    if option == "sparse-adam":
        sparse = torch.optim.SparseAdam(list(net.embedding.parameters()), lr=CONFIG.lr)
        return net, lambda flat, offsets: net(flat, offsets)["sentiment"], [sparse, heads]
    net.embedding.sparse = False
    dense = torch.optim.Adam(list(net.embedding.parameters()), lr=CONFIG.lr, fused=option.endswith("fused"))
    return net, lambda flat, offsets: net(flat, offsets)["sentiment"], [dense, heads]


def _train(option: str, ids: list, targets: dict, epochs: int) -> tuple[NgramNet, float, float]:
    """Train; return the net and the seconds spent in forward + backward and in the step."""
    net, forward, optimisers = _setup(option)
    passes = steps = 0.0
    with torch_threads():  # as train_loop does
        for batch in minibatches(len(ids), epochs=epochs, batch_size=CONFIG.batch_size, seed=0):
            started = time.perf_counter()
            loss = batch_loss({"sentiment": forward(*bag([ids[i] for i in batch]))}, batch, targets)
            for optimiser in optimisers:
                optimiser.zero_grad()
            loss.backward()
            middle = time.perf_counter()
            for optimiser in optimisers:
                optimiser.step()
            passes, steps = passes + middle - started, steps + time.perf_counter() - middle
    return net, passes, steps


def _accuracy(net: NgramNet, split: dict) -> float:
    with torch.inference_mode():
        predicted = net(*split["test"])["sentiment"].argmax(dim=-1).numpy()
    return float(np.mean(predicted == split["labels"]))


@pytest.mark.parametrize("option", OPTIONS)
def test_optimiser_step_against_forward_and_backward(benchmark, split, option: str) -> None:
    ids, targets = split["ids"], split["targets"]
    epochs = CONFIG.epochs
    if benchmark.disabled:
        ids, epochs = ids[: 4 * CONFIG.batch_size], 1  # a smoke run: a few batches
    _train(option, ids[: 2 * CONFIG.batch_size], targets, 1)  # warm-up: first calls of each operator
    net, passes, steps = benchmark.pedantic(_train, args=(option, ids, targets, epochs), rounds=1, iterations=1)
    benchmark.extra_info.update({"forward_backward_s": passes, "step_s": steps, "ratio": steps / passes})
    print(f"\n{option}: forward+backward {passes:.3f} s, step {steps:.3f} s, step / (forward+backward) "
          f"{steps / passes:.2f}")
    assert passes > 0 and steps > 0


def test_row_adam_reaches_the_accuracy_of_sparse_adam(benchmark, split) -> None:
    """The default training (8 epochs) with the two sparse updates: the same accuracy,
    since the updates are the same up to float rounding."""
    epochs = CONFIG.epochs if not benchmark.disabled else 2
    ids, targets = split["ids"], split["targets"]
    row, _, _ = _train("row-adam", ids, targets, epochs)
    sparse, _, _ = _train("sparse-adam", ids, targets, epochs)
    accuracy = {"row-adam": _accuracy(row, split), "sparse-adam": _accuracy(sparse, split)}
    print(f"\naccuracy on the test splits after {epochs} epochs: {accuracy}")
    assert abs(accuracy["row-adam"] - accuracy["sparse-adam"]) <= 2 / len(split["labels"])
    torch.testing.assert_close(row.embedding.weight, sparse.embedding.weight, rtol=1e-3, atol=1e-4)
