"""A second random multiple-choice model for two-model reports:
``bench run mmlu --model tests.report.models:make_other``.

Like :mod:`tests.benchmarks.random_mc` (option log-likelihoods drawn from a gamma
distribution seeded by the prompt's SHA-256), with a salt in the seed so that it answers
differently, and a lean towards the first option so that the two differ beyond chance."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

import bench


def _loglikelihoods(contexts: Sequence[str], continuations: Sequence[Sequence[str]]) -> list[np.ndarray]:
    out = []
    for context, options in zip(contexts, continuations, strict=True):
        seed = int.from_bytes(hashlib.sha256(b"other:" + context.encode("utf-8")).digest()[:8], "little")
        scores = -np.random.default_rng(seed).gamma(2.0, 1.5, size=len(options))
        scores[0] = min(scores[0] + 1.0, 0.0)
        out.append(scores)
    return out


def make_other() -> bench.CallableAdapter:
    """The other random model (name ``random-mc-other``)."""
    return bench.CallableAdapter("random-mc-other", loglikelihood=_loglikelihoods, version="1")
