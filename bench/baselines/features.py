"""Hashed word and bigram features for small text models."""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import torch

__all__ = ["HashedNgrams", "tokenize"]

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

    def __call__(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(ids, offsets)``: the flat ids of all texts and where each text starts."""
        per_text = [self.ids(t) for t in texts]
        offsets = torch.tensor([0] + [len(ids) for ids in per_text[:-1]], dtype=torch.long).cumsum(0)
        flat = torch.tensor([i for ids in per_text for i in ids], dtype=torch.long)
        return flat, offsets
