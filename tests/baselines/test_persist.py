"""Save → load → identical predictions, and re-scoring a saved model from the CLI."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from bench.adapters import make_model
from bench.baselines import (
    AugmentConfig,
    AugmentedTextModel,
    FineTuneConfig,
    FineTunedTextModel,
    NgramTextModel,
)
from bench.baselines.encoder_model import (
    EncoderHeadModel,
    FineTunedEncoderModel,
    HeadConfig,
)
from bench.baselines.persist import load_model, model_folder_name, save_model
from bench.baselines.text_model import TrainConfig
from bench.cli import main
from bench.data import load_suite_data
from bench.errors import CapabilityError, ConfigError, DataError
from bench.suites import load_suite

SMALL = TrainConfig(n_buckets=4096, dim=8, epochs=3)


class _HashEncoder:
    """A stand-in sentence encoder: a fixed random projection of hashed words (tests only)."""

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), 16), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.split():
                seed = int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "big")
                out[i] += np.random.default_rng(seed).normal(size=16).astype(np.float32)
        return out


def _models() -> list:
    return [
        NgramTextModel("source-only", SMALL),
        NgramTextModel("multitask", SMALL, joint=True),
        AugmentedTextModel("augmented", SMALL, AugmentConfig(copies=1)),
        FineTunedTextModel("finetuned", SMALL, FineTuneConfig(k=4, epochs=2)),
        EncoderHeadModel("source-only-minilm", HeadConfig(epochs=3), _HashEncoder()),
        FineTunedEncoderModel("finetuned-minilm", HeadConfig(epochs=3), _HashEncoder(), FineTuneConfig(k=4, epochs=2)),
    ]


@pytest.mark.parametrize("model", _models(), ids=lambda m: m.name)
def test_save_load_gives_identical_predictions(model, tiny_suite: Path, tmp_path: Path) -> None:
    data = load_suite_data(load_suite(tiny_suite))
    model.fit(data.domains["books"].train, data.suite.tasks, seed=3)
    folder = save_model(model, tmp_path / "saved")
    loaded = load_model(folder)
    if isinstance(loaded, EncoderHeadModel):
        loaded._encoder = model._encoder  # the stand-in; the real one is MiniLM
    probe = data.domains["movies"].test
    sentiment, rating = data.suite.tasks
    assert np.array_equal(loaded.log_probs(probe, sentiment), model.log_probs(probe, sentiment))
    assert np.array_equal(loaded.predict_values(probe, rating), model.predict_values(probe, rating))
    assert loaded.fingerprint() == model.fingerprint() and loaded.name == model.name
    assert not loaded.trainable and model.trainable
    assert type(loaded) is type(model)
    if loaded.adaptable:  # a loaded fine-tuned model still adapts, exactly like the original
        pool = data.domains["movies"].train
        a, b = model.adapted(pool, data.suite.tasks, seed=1), loaded.adapted(pool, data.suite.tasks, seed=1)
        assert np.array_equal(a.log_probs(probe, sentiment), b.log_probs(probe, sentiment))


def test_saved_weights_are_plain_tensors_and_sparse(tiny_suite: Path, tmp_path: Path) -> None:
    data = load_suite_data(load_suite(tiny_suite))
    model = NgramTextModel("source-only", TrainConfig(n_buckets=2**18, dim=8, epochs=2))
    model.fit(data.domains["books"].train, data.suite.tasks, seed=0)
    folder = save_model(model, tmp_path / "m")
    tensors = torch.load(folder / "weights.pt", weights_only=True)
    rows = tensors["sentiment/embedding.rows"]
    assert 0 < len(rows) < 5000 and tensors["sentiment/embedding.values"].shape == (len(rows), 8)
    header = json.loads((folder / "model.json").read_text())
    assert header["format"] == "xdbench-model" and header["kind"] == "ngram"
    assert header["targets"]["rating"]["mean"] == pytest.approx(model.targets["rating"].mean)


def test_a_loaded_model_scores_only_the_tasks_it_was_trained_for(tiny_suite: Path, tmp_path: Path) -> None:
    data = load_suite_data(load_suite(tiny_suite))
    sentiment, rating = data.suite.tasks
    model = NgramTextModel("source-only", SMALL)
    model.fit(data.domains["books"].train, [sentiment], seed=0)
    loaded = make_model(str(save_model(model, tmp_path / "m")))
    assert loaded.supports(sentiment) and not loaded.supports(rating)


def test_save_and_load_errors(tmp_path: Path) -> None:
    with pytest.raises(CapabilityError, match="has not been trained; there is nothing to save"):
        save_model(NgramTextModel("source-only", SMALL), tmp_path / "x")
    from bench.baselines import Majority

    with pytest.raises(CapabilityError,
                       match=r"Model 'majority' \(Majority\) cannot be saved; savable: NgramTextModel"):
        save_model(Majority(), tmp_path / "x")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="is not a saved xdbench model: it needs model.json and weights.pt"):
        load_model(tmp_path / "empty")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "weights.pt").write_bytes(b"")
    (bad / "model.json").write_text('{"format": "xdbench-model", "version": 1, "kind": "pickle"}')
    with pytest.raises(DataError, match="unknown model kind 'pickle'; known: ngram"):
        load_model(bad)
    (bad / "model.json").write_text("{not json")
    with pytest.raises(DataError, match="cannot read the saved model's header"):
        load_model(bad)
    (bad / "model.json").write_text('{"format": "xdbench-model", "version": 1, "kind": "ngram", "name": "m", '
                                    '"options": {"config": {}, "joint": false}, "tasks": [], "targets": {}, '
                                    '"nets": {}}')
    with pytest.raises(DataError, match="the saved model cannot be restored"):
        load_model(bad)
    torch.save({"x": _HashEncoder()}, bad / "weights.pt")  # an object, not tensors: refused, never run
    with pytest.raises(DataError, match="the saved model cannot be restored"):
        load_model(bad)
    assert model_folder_name("finetuned/toy-reviews/train=books") == "finetuned--toy-reviews--train=books"


def test_bench_run_rescores_a_saved_model(tiny_suite: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    spec = "tests.baselines.test_mitigations:plain_finetuned"
    assert main(["run", str(tiny_suite), "--model", spec, "--task", "sentiment", "--out", str(out), "-q"]) == 0
    (first,) = (out / "runs").iterdir()
    saved = first / "models" / model_folder_name(f"{spec}/tiny-reviews/id_ood")
    assert json.loads((first / "run.json").read_text())["saved_models"] == [saved.name]
    assert main(["run", str(tiny_suite), "--model", str(saved), "--task", "sentiment", "--out", str(out), "-q",
                 "--no-save-models"]) == 0
    second = next(p for p in (out / "runs").iterdir() if p != first)
    assert not (second / "models").exists()
    columns = ["domain", "example_id", "prediction", "nll"]
    original = pd.read_csv(first / "records.csv.gz")[columns]
    again = pd.read_csv(second / "records.csv.gz")[columns]
    pd.testing.assert_frame_equal(original, again)
    assert capsys.readouterr().out
