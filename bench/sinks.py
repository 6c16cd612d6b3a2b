"""The runner's default record sink (the run store's sinks extend it, :mod:`bench.store`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["MemorySink", "ScoreFn"]

ScoreFn = Callable[[str], pd.DataFrame]
"""Scores one unit (a batch) and returns its frame of records."""


class MemorySink:
    """The runner's default sink: keeps each batch's frame in memory; no cache, no resume."""

    def __init__(self) -> None:
        self.frames: dict[str, pd.DataFrame] = {}

    def done(self, unit: str) -> bool:
        """Whether ``unit`` has been scored."""
        return unit in self.frames

    def wrap(self, adapter: Any) -> Any:
        """The adapter the runner scores with (here: ``adapter`` itself)."""
        return adapter

    def score(self, units: Sequence[str], score: ScoreFn) -> None:
        """Score the ``units`` (``score(unit)`` returns its frame) and keep each frame."""
        for unit in units:
            self.commit(unit, score(unit))

    def commit(self, unit: str, frame: pd.DataFrame) -> None:
        """Keep one scored batch."""
        self.frames[unit] = frame

    def frame(self, unit: str) -> pd.DataFrame:
        """The frame of a scored batch."""
        return self.frames[unit]

    def restore(self, key: Any) -> Any:
        """A saved trained model for ``key`` (a :class:`~bench.runner.FitKey`), or ``None``."""
        return None

    def checkpoint(self, key: Any) -> Path | None:
        """The file where the training of ``key`` checkpoints (and resumes from); here none."""
        return None

    def facts(self, section: str, values: Mapping[str, Any]) -> None:
        """Record run facts (fingerprints, timings, skipped); the memory sink forgets them."""
