"""Deterministic seeds per component, so that adding one component shifts no other.

``seed_hash(seed, "source-only", "sentiment")`` gives the same 32-bit seed on every
machine and Python version (it does not use ``hash()``, which is salted per process).
"""

from __future__ import annotations

import hashlib

__all__ = ["seed_hash"]


def seed_hash(seed: int, *names: object) -> int:
    """A 32-bit seed derived from ``seed`` and the component ``names``.

    Formula: the first 4 bytes (big-endian) of ``sha256("seed|name1|name2|...")``.
    """
    text = "|".join([str(seed), *map(str, names)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")
