"""Deterministic seeds per component, so that adding one component shifts no other.

``seed_hash(seed, "source-only", "sentiment")`` gives the same 32-bit seed on every
machine and Python version (it does not use ``hash()``, which is salted per process).
"""

from __future__ import annotations

import hashlib

__all__ = ["seed_hash", "trial_seed"]


def seed_hash(seed: int, *names: object) -> int:
    """A 32-bit seed derived from ``seed`` and the component ``names``.

    Formula: the first 4 bytes (big-endian) of ``sha256("seed|name1|name2|...")``.
    """
    text = "|".join([str(seed), *map(str, names)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


def trial_seed(seed: int, trial: int, *names: object) -> int:
    """The seed of a component in trial ``trial`` (0-based) of a run with seed ``seed``.

    Trial 0 is ``seed_hash(seed, *names)``, the seed of a single-trial run, so one trial
    of a many-trial run reproduces the single run; trial ``t > 0`` is
    ``seed_hash(seed, "trial", t, *names)``.
    """
    return seed_hash(seed, *names) if trial == 0 else seed_hash(seed, "trial", trial, *names)
