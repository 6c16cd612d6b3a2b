"""Trainable baselines: floors and small torch text models trained by the protocol."""

from __future__ import annotations

from bench.baselines.floors import Majority, Uniform
from bench.baselines.text_model import NgramTextModel, TrainConfig

__all__ = ["Majority", "NgramTextModel", "TrainConfig", "Uniform", "source_only"]


def source_only() -> NgramTextModel:
    """Hashed word+bigram model trained on the in-domain train split only (the gap to beat)."""
    return NgramTextModel("source-only", TrainConfig(), joint=False)
