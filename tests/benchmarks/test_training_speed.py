"""Training step of the hashed n-gram model: sparse embedding updates (``train_net``:
SparseAdam on the rows of a batch's n-grams) against dense Adam over the whole
2^18 × 32 table, one epoch of toy-reviews' in-domain train split each.

Run with ``python -m pytest tests/benchmarks/test_training_speed.py --benchmark-enable``;
the ratio of the two means is the speed-up of sparse updates.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.baselines.text_model import NgramNet, TrainConfig, _bag, batch_loss, task_targets, train_net
from bench.suites import load_suite, load_suite_data

CONFIG = TrainConfig()


@pytest.fixture(scope="module")
def split() -> tuple[list[list[int]], dict]:
    suite = load_suite("toy-reviews")
    train = load_suite_data(suite).domains["books"].train
    from bench.baselines.features import HashedNgrams

    featurizer = HashedNgrams(CONFIG.n_buckets, CONFIG.max_n)
    task = suite.task("sentiment")
    return [featurizer.ids(ex.text) for ex in train], {task.name: task_targets(train, task)}


def _net() -> NgramNet:
    torch.manual_seed(0)
    return NgramNet(CONFIG.n_buckets, CONFIG.dim, {"sentiment": 2})


def test_sparse_updates(benchmark, split) -> None:
    ids, targets = split
    benchmark.group = "one training epoch: sparse vs dense embedding updates"
    benchmark(lambda: train_net(_net(), ids, targets, epochs=1, batch_size=CONFIG.batch_size, lr=CONFIG.lr,
                                regression_weight=1.0, seed=0))


def test_dense_updates(benchmark, split) -> None:
    ids, targets = split

    def epoch() -> None:
        net = _net()
        net.embedding.sparse = False
        optimiser = torch.optim.Adam(net.parameters(), lr=CONFIG.lr)
        order = np.random.default_rng(0).permutation(len(ids))
        for start in range(0, len(order), CONFIG.batch_size):
            batch = order[start : start + CONFIG.batch_size]
            loss = batch_loss(net(*_bag([ids[i] for i in batch])), batch, targets)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()

    benchmark.group = "one training epoch: sparse vs dense embedding updates"
    benchmark(epoch)
