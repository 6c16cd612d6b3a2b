from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.baselines import Majority, NgramTextModel, TrainConfig, Uniform
from bench.baselines.features import HashedNgrams, tokenize
from bench.baselines.text_model import (
    THREADS,
    DenseAdam,
    TaskTargets,
    batch_loss,
    task_targets,
    torch_threads,
)
from bench.errors import CapabilityError, DataError
from bench.suites import Example, Task

CLS = Task("sentiment", "classification", ("negative", "positive"))
REG = Task("rating", "regression", value_range=(1.0, 5.0))
TRAIN = [Example(f"t{i}", "d", ("good fine" if i % 3 else "bad awful"), {"sentiment": int(i % 3 > 0), "rating": 4.0 if i % 3 else 1.0})
         for i in range(30)]
SMALL = TrainConfig(n_buckets=1024, dim=8, epochs=20)


def test_tokenize_and_hashing_are_stable() -> None:
    assert tokenize("Great, it's GOOD!") == ["great", ",", "it's", "good", "!"]
    featurizer = HashedNgrams(n_buckets=97, max_n=2)
    ids, offsets = featurizer(["a b", "", "c"])
    assert offsets.tolist() == [0, 3, 4] and ids.tolist()[3] == 0
    import zlib

    assert featurizer.ids("a b") == [zlib.crc32(b"a") % 97, zlib.crc32(b"b") % 97, zlib.crc32(b"a b") % 97]


def test_majority_matches_smoothed_counts() -> None:
    model = Majority()
    model.fit(TRAIN, [CLS, REG], seed=0)
    counts = np.array([10, 20]) + 1.0
    assert np.allclose(model.log_probs(TRAIN[:2], CLS), np.log(counts / counts.sum()))
    assert np.allclose(model.predict_values(TRAIN[:2], REG), np.mean([e.targets["rating"] for e in TRAIN]))
    with pytest.raises(CapabilityError, match="was not trained for task 'other'"):
        model.log_probs(TRAIN, Task("other", "classification", ("a", "b")))


def test_uniform() -> None:
    assert np.allclose(Uniform().log_probs(TRAIN[:4], CLS), np.log(0.5))
    assert np.allclose(Uniform().predict_values(TRAIN[:4], REG), 3.0)
    assert not Uniform().supports(Task("r", "regression"))


def test_text_model_learns_and_is_deterministic() -> None:
    first, second = NgramTextModel(config=SMALL), NgramTextModel(config=SMALL)
    first.fit(TRAIN, [CLS, REG], seed=3)
    second.fit(TRAIN, [CLS, REG], seed=3)
    probe = [Example("p", "d", "good fine", {}), Example("q", "d", "bad awful", {})]
    assert first.log_probs(probe, CLS).argmax(1).tolist() == [1, 0]
    assert np.array_equal(first.log_probs(probe, CLS), second.log_probs(probe, CLS))
    values = first.predict_values(probe, REG)
    assert values[0] > values[1] and ((1 <= values) & (values <= 5)).all()
    assert first.fingerprint() == second.fingerprint()
    third = NgramTextModel(config=SMALL)
    third.fit(TRAIN, [CLS, REG], seed=4)
    assert third.fingerprint() != first.fingerprint()


def test_joint_model_shares_its_trunk() -> None:
    model = NgramTextModel("multi", SMALL, joint=True)
    model.fit(TRAIN, [CLS, REG], seed=0)
    assert model.nets["sentiment"] is model.nets["rating"]
    assert set(model.nets["rating"].heads) == {"sentiment", "rating"}
    separate = NgramTextModel("single", SMALL)
    separate.fit(TRAIN, [CLS, REG], seed=0)
    assert separate.nets["sentiment"] is not separate.nets["rating"]


def test_text_model_errors() -> None:
    model = NgramTextModel(config=SMALL)
    with pytest.raises(CapabilityError, match="was not trained for task 'sentiment'; call fit first"):
        model.log_probs(TRAIN, CLS)
    with pytest.raises(DataError, match="No training example has a target for task 'sentiment'"):
        model.fit([Example("x", "d", "t", {})], [CLS], seed=0)
    with pytest.raises(CapabilityError, match="supports none of the tasks"):
        model.fit(TRAIN, [Task("lm", "language_modeling")], seed=0)


def test_regression_loss_is_mse_on_standardised_targets() -> None:
    model = NgramTextModel(config=SMALL)
    model.fit(TRAIN, [REG], seed=0)
    target = model.targets["rating"]
    raw = np.array([e.targets["rating"] for e in TRAIN])
    assert np.isclose(target.mean, raw.mean()) and np.isclose(target.std, raw.std())
    net = model.nets["rating"]
    batch = np.arange(6)
    ids, offsets = model.featurizer([e.text for e in TRAIN[:6]])
    with torch.no_grad():
        outputs = net(ids, offsets)
        loss = batch_loss(outputs, batch, model.targets)
        out = outputs["rating"].squeeze(-1).numpy()
    expected = np.mean((out - (raw[:6] - raw.mean()) / raw.std()) ** 2)
    assert np.isclose(loss.item(), expected, rtol=1e-5)


def test_dense_adam_equals_torch_adam_bit_for_bit() -> None:
    """The heads' optimiser: torch.optim.Adam's parameters exactly, also for a parameter
    that has no gradient on some steps (its moments and step count stay)."""
    torch.manual_seed(0)
    ours, theirs = [torch.nn.Linear(8, 3), torch.nn.Linear(8, 1)], [torch.nn.Linear(8, 3), torch.nn.Linear(8, 1)]
    for mine, other in zip(ours, theirs, strict=True):
        other.load_state_dict(mine.state_dict())
    params = [[p for m in modules for p in m.parameters()] for modules in (ours, theirs)]
    optimisers = [DenseAdam(params[0], lr=0.02), torch.optim.Adam(params[1], lr=0.02)]
    for step in range(40):
        x = torch.randn(16, 8)
        for modules, optimiser in zip((ours, theirs), optimisers, strict=True):
            optimiser.zero_grad()
            loss = modules[0](x).pow(2).mean() + (modules[1](x).sum() if step % 3 == 0 else 0)
            loss.backward()
            optimiser.step()
    assert all(torch.equal(a, b) for a, b in zip(*params, strict=True))


def test_training_and_scoring_run_on_one_thread_and_restore_the_count() -> None:
    before = torch.get_num_threads()
    seen = []
    with torch_threads():
        seen.append(torch.get_num_threads())
    model = NgramTextModel(config=SMALL)
    model.fit(TRAIN, [CLS], seed=0)
    model.log_probs(TRAIN[:3], CLS)
    assert seen == [THREADS] and torch.get_num_threads() == before


def test_fingerprint_follows_the_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    """The digest of the weights is cached, and recomputed when they change."""
    from bench.baselines import text_model

    calls, digest = [], text_model.state_dict_digest
    monkeypatch.setattr(text_model, "state_dict_digest", lambda net: calls.append(net) or digest(net))
    model = NgramTextModel(config=SMALL)
    model.fit(TRAIN, [CLS], seed=0)
    first = model.fingerprint()
    assert model.fingerprint() == first and len(calls) == 1
    with torch.no_grad():
        model.nets["sentiment"].heads["sentiment"].bias.add_(1.0)
    changed = model.fingerprint()
    assert changed != first and len(calls) == 2
    model.fit(TRAIN, [CLS], seed=0)  # the same weights again, in new tensors
    assert model.fingerprint() == first


def test_batch_loss_of_a_task_every_example_has_equals_the_masked_loss() -> None:
    targets = task_targets(TRAIN, CLS)
    assert targets.every_row
    partial = TaskTargets(CLS, np.arange(len(TRAIN)), targets.values)
    partial.every_row = False  # the general path: look up which examples have the target
    outputs = {"sentiment": torch.randn(5, 2)}
    batch = np.array([7, 2, 29, 0, 11])
    fast, slow = batch_loss(outputs, batch, {"sentiment": targets}), batch_loss(outputs, batch, {"sentiment": partial})
    assert torch.equal(fast, slow)
    assert not task_targets([TRAIN[0], Example("x", "d", "t", {}), TRAIN[1]], CLS).every_row


def test_training_does_not_import_torch_dynamo() -> None:
    """``torch.optim`` imports ``torch._dynamo`` (seconds of CPU) on first use; the n-gram
    model trains without it."""
    import subprocess
    import sys

    code = ("import sys; from bench.baselines import source_only; from bench.suites import Example, Task; "
            "t = Task('s', 'classification', ('a', 'b')); "
            "source_only().fit([Example(str(i), 'd', 'good' if i % 2 else 'bad', {'s': i % 2}) for i in range(8)], "
            "[t], seed=0); assert 'torch._dynamo' not in sys.modules, 'torch._dynamo imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
