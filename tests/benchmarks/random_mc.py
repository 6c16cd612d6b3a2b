"""A multiple-choice model that answers at random, for benchmarks of everything but the
model: ``bench run mmlu --model tests.benchmarks.random_mc:make``.

Each question's option log-likelihoods are drawn from a gamma distribution seeded by the
prompt's SHA-256, so a rerun gives the same records in any process."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

import bench


def _loglikelihoods(contexts: Sequence[str], continuations: Sequence[Sequence[str]]) -> list[np.ndarray]:
    out = []
    for context, options in zip(contexts, continuations, strict=True):
        seed = int.from_bytes(hashlib.sha256(context.encode("utf-8")).digest()[:8], "little")
        out.append(-np.random.default_rng(seed).gamma(2.0, 1.5, size=len(options)))
    return out


def make() -> bench.CallableAdapter:
    """The random model (name ``random-mc``)."""
    return bench.CallableAdapter("random-mc", loglikelihood=_loglikelihoods, version="1")
