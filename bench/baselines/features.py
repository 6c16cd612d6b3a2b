"""Hashed word and bigram features for small text models."""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["HashedNgrams", "bag", "tokenize"]

_TOKEN = re.compile(r"\w[\w'-]*|[^\w\s]")


def tokenize(text: str) -> list[str]:
    """Lower-cased word and punctuation tokens."""
    return _TOKEN.findall(text.lower())


@dataclass(frozen=True)
class HashedNgrams:
    """Texts to bags of hashed n-gram ids for :class:`torch.nn.EmbeddingBag`.

    Each n-gram (``n`` in ``1..max_n``) is mapped to ``crc32(ngram) mod n_buckets``,
    which is the same on every machine and process.

    Attributes
    ----------
    n_buckets
        Size of the hashed vocabulary.
    max_n
        Longest n-gram (2: words and bigrams).
    """

    n_buckets: int = 2**18
    max_n: int = 2

    def ids(self, text: str) -> list[int]:
        """The hashed n-gram ids of one text (at least one: an empty text gets id 0)."""
        tokens = tokenize(text)
        grams = [" ".join(tokens[i : i + n]) for n in range(1, self.max_n + 1) for i in range(len(tokens) - n + 1)]
        return [zlib.crc32(g.encode()) % self.n_buckets for g in grams] or [0]

    def arrays(self, texts: Sequence[str]) -> list[np.ndarray]:
        """The ids of each text (:meth:`ids`) as an int64 array."""
        return [np.array(self.ids(t), dtype=np.int64) for t in texts]

    def __call__(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(ids, offsets)``: the flat ids of all texts and where each text starts."""
        return bag(self.arrays(texts))


def bag(arrays: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ids, offsets)`` of :class:`torch.nn.EmbeddingBag` for id arrays: their
    concatenation and the position where each starts."""
    lengths = np.fromiter((len(a) for a in arrays), dtype=np.int64, count=len(arrays))
    offsets = np.zeros(len(arrays), dtype=np.int64)
    np.cumsum(lengths[:-1], out=offsets[1:])
    flat = np.concatenate(arrays) if len(arrays) else np.zeros(0, dtype=np.int64)
    return torch.from_numpy(flat), torch.from_numpy(offsets)
