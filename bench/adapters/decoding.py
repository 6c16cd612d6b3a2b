"""Decoding helpers every generating adapter shares (no model stack needed).

- :func:`cut_at_stop`: the answer is the text before the first occurrence of any stop
  sequence (the stop itself is not part of it).
- :func:`request_seed`: the sampler seed of one request, from the task's seed and the
  request's key (its example id), so that a sampled answer does not depend on which
  other requests are generated with it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = ["cut_at_stop", "request_seed"]


def request_seed(seed: int, key: str) -> int:
    """The sampler seed of one request: the first 8 bytes of ``sha256(f"{seed}:{key}")``, 63 bits."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & (2**63 - 1)


def cut_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """``(text before the first occurrence of any stop string, whether one occurred)``."""
    found = [i for i in (text.find(s) for s in stops) if i >= 0]
    return (text[: min(found)], True) if found else (text, False)
