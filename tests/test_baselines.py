from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.baselines import Majority, NgramTextModel, TrainConfig, Uniform
from bench.baselines.features import HashedNgrams, tokenize
from bench.errors import CapabilityError, DataError
from bench.suites import Example, Task

CLS = Task("sentiment", "classification", ("negative", "positive"))
REG = Task("rating", "regression", value_range=(1.0, 5.0))
TRAIN = [Example(f"t{i}", "d", ("good fine" if i % 3 else "bad awful"), {"sentiment": int(i % 3 > 0), "rating": 4.0 if i % 3 else 1.0})
         for i in range(30)]
SMALL = TrainConfig(n_buckets=1024, dim=8, epochs=5)


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
    loss = model._batch_loss(net, [model.featurizer.ids(e.text) for e in TRAIN], batch, [REG])
    ids, offsets = model.featurizer([e.text for e in TRAIN[:6]])
    with torch.no_grad():
        out = net(ids, offsets)["rating"].squeeze(-1).numpy()
    expected = np.mean((out - (raw[:6] - raw.mean()) / raw.std()) ** 2)
    assert np.isclose(loss.item(), expected, rtol=1e-5)
