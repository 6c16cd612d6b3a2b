"""Trainable baselines: floors, and small torch text models for the three mitigations.

Each factory here is registered in :data:`bench.adapters.MODELS`; see
:mod:`bench.baselines.strategies` for what each is trained on.
"""

from __future__ import annotations

from bench.baselines.floors import Majority, Uniform
from bench.baselines.strategies import (
    AugmentConfig,
    AugmentedTextModel,
    FineTuneConfig,
    FineTunedTextModel,
)
from bench.baselines.text_model import NgramTextModel, TrainConfig

__all__ = [
    "AugmentConfig",
    "AugmentedTextModel",
    "FineTuneConfig",
    "FineTunedTextModel",
    "Majority",
    "NgramTextModel",
    "TrainConfig",
    "Uniform",
    "augmented",
    "finetuned",
    "multitask",
    "source_only",
]


def source_only() -> NgramTextModel:
    """Hashed word+bigram model trained on the in-domain train split only (the gap to beat)."""
    return NgramTextModel("source-only", TrainConfig(), joint=False)


def augmented() -> AugmentedTextModel:
    """``source-only`` trained on the in-domain split plus two augmented copies of each example."""
    return AugmentedTextModel("augmented", TrainConfig(), AugmentConfig())


def multitask() -> NgramTextModel:
    """One shared trunk, a head per task, trained jointly on all of the suite's tasks."""
    return NgramTextModel("multitask", TrainConfig(), joint=True)


def finetuned() -> FineTunedTextModel:
    """``source-only`` fine-tuned on k = 32 labelled train examples of each target domain."""
    return FineTunedTextModel("finetuned", TrainConfig(), FineTuneConfig())
