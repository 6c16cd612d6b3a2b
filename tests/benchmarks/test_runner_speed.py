"""Overhead of the evaluation loop: ``score_examples`` (batching, validation, records)
against a bare forward pass of the same trained network over the same batches.

Run with ``python -m pytest tests/benchmarks/test_runner_speed.py --benchmark-enable``;
the ratio of the two means is the loop's overhead factor.
"""

from __future__ import annotations

import pytest
import torch

from bench.baselines import NgramTextModel, TrainConfig
from bench.data import load_suite_data
from bench.runner import score_examples
from bench.suites import load_suite

BATCH = 64


@pytest.fixture(scope="module")
def trained() -> tuple[NgramTextModel, list]:
    suite = load_suite("toy-reviews")
    data = load_suite_data(suite)
    model = NgramTextModel(config=TrainConfig(epochs=2))
    model.fit(data.domains["books"].train, [suite.task("sentiment")], seed=0)
    examples = [ex for d in data.domains.values() for ex in d.test]
    return model, examples


def test_bare_forward(benchmark, trained) -> None:
    model, examples = trained
    net = model.nets["sentiment"]

    def forward() -> None:
        with torch.inference_mode():
            for start in range(0, len(examples), BATCH):
                ids, offsets = model.featurizer([ex.text for ex in examples[start : start + BATCH]])
                torch.log_softmax(net(ids, offsets)["sentiment"], dim=-1)

    benchmark.group = "evaluation loop vs bare forward"
    benchmark(forward)


def test_score_examples(benchmark, trained) -> None:
    model, examples = trained
    task = load_suite("toy-reviews").task("sentiment")
    benchmark.group = "evaluation loop vs bare forward"
    frame = benchmark(score_examples, model, task, examples, batch_size=BATCH)
    assert len(frame) == len(examples)
