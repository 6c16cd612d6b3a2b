"""The mitigation strategies as trainable adapters on the hashed n-gram model.

=================  ==========================================================================
model              what it is trained on
=================  ==========================================================================
``source-only``    the protocol's training split (the in-domain train split): the gap to beat
``augmented``      the same split plus ``copies`` augmented copies of each example
                   (:mod:`bench.baselines.augment`)
``multitask``      the same split, one shared trunk and a head per task, trained on all of
                   the suite's tasks at once (``L = Σ CE + λ · Σ MSE``, λ = 1)
``finetuned``      pre-trained like ``source-only``, then, for each domain it was not trained
                   on, a copy fine-tuned on ``k`` labelled examples drawn from that domain's
                   *train* split and scored on its test split
=================  ==========================================================================

Defaults (:class:`AugmentConfig`, :class:`FineTuneConfig`) are chosen once, a priori
(two copies at strength 0.2, the usual range of EDA-style augmentation; k = 32 target
examples, 20 fine-tuning epochs at half the pre-training learning rate), not tuned on
any suite's test split.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from bench.baselines.augment import AUGMENTERS, STRENGTH, augment_examples, make_augmenter
from bench.baselines.text_model import NgramTextModel, TrainConfig, task_targets
from bench.errors import DataError
from bench.seeding import seed_hash
from bench.suites.rules import MAX_COUNT, Int, List, Number, Str, check_config
from bench.suites.types import Example, Task

__all__ = ["AugmentConfig", "AugmentedTextModel", "FineTuneConfig", "FineTunedTextModel", "sample_labelled"]


@dataclass(frozen=True)
class AugmentConfig:
    """Options of the ``augmented`` baseline.

    Attributes
    ----------
    copies
        Augmented copies per training example (the originals are kept too).
    strength
        Strength of every augmenter, in ``[0, 1]`` (see :mod:`bench.baselines.augment`).
    augmenters
        Names in :data:`~bench.baselines.augment.AUGMENTERS`; each copy uses one, uniformly.
    """

    copies: int = 2
    strength: float = 0.2
    augmenters: tuple[str, ...] = ("delete", "crop", "synonym", "casual", "formal")

    def __post_init__(self) -> None:
        check_config(self, {"copies": Int(0, MAX_COUNT), "strength": STRENGTH,
                            "augmenters": List(Str(choices=AUGMENTERS.names), min_len=0)})


class AugmentedTextModel(NgramTextModel):
    """:class:`NgramTextModel` trained on its training split plus augmented copies."""

    saved_kind = "ngram-augmented"

    def __init__(self, name: str = "augmented", config: TrainConfig | None = None,
                 augment: AugmentConfig | None = None) -> None:
        super().__init__(name, config, joint=False)
        self.augment = augment or AugmentConfig()

    def augmented_split(self, train: Sequence[Example], *, seed: int) -> list[Example]:
        """``train`` followed by its augmented copies (seed ``seed_hash(seed, "augment")``)."""
        augmenters = [make_augmenter(n, self.augment.strength) for n in self.augment.augmenters]
        extra = augment_examples(train, augmenters, copies=self.augment.copies, seed=seed_hash(seed, "augment"))
        return [*train, *extra]

    def fit(self, train: Sequence[Example], tasks: Sequence[Task], *, seed: int) -> None:
        super().fit(self.augmented_split(train, seed=seed), tasks, seed=seed)

    def options(self) -> dict[str, Any]:
        return {**super().options(), "augment": asdict(self.augment)}


@dataclass(frozen=True)
class FineTuneConfig:
    """Options of the fine-tuning step of the ``finetuned`` baselines.

    Attributes
    ----------
    k
        Labelled target-domain examples to fine-tune on, drawn from the target domain's
        *train* split (all of it when it has fewer).
    epochs, batch_size
        Passes over the ``k`` examples and examples per step.
    lr_scale
        Fine-tuning learning rate as a fraction of the pre-training one.
    """

    k: int = 32
    epochs: int = 20
    batch_size: int = 16
    lr_scale: float = 0.5

    def __post_init__(self) -> None:
        check_config(self, dict.fromkeys(("k", "epochs", "batch_size"), Int(1, MAX_COUNT))
                     | {"lr_scale": Number(0, math.inf, bounds="()")})


def sample_labelled(pool: Sequence[Example], tasks: Sequence[Task], k: int, *, seed: int) -> list[Example]:
    """``k`` examples of ``pool`` that carry a target of at least one of ``tasks``.

    Drawn without replacement by ``default_rng(seed)``; returned in pool order. When the
    pool has fewer than ``k`` labelled examples, all of them.

    Raises
    ------
    DataError
        If no example of the pool has a target for any of the tasks.
    """
    names = {t.name for t in tasks}
    labelled = [ex for ex in pool if names & set(ex.targets)]
    if not labelled:
        raise DataError(f"No example of the adaptation pool has a target for task(s) {', '.join(sorted(names))}.")
    if len(labelled) <= k:
        return labelled
    chosen = np.sort(np.random.default_rng(seed).choice(len(labelled), size=k, replace=False))
    return [labelled[i] for i in chosen]


class FineTunedTextModel(NgramTextModel):
    """Pre-trained on the protocol's training split; fine-tuned per target domain.

    ``adapted(pool, tasks, seed=s)`` returns a deep copy whose networks are trained
    further, all parameters, on ``sample_labelled(pool, tasks, k, seed=s)`` with the
    same losses; regression targets keep the pre-training standardisation.
    ``adapted_on`` holds the ids of the examples a copy was fine-tuned on.
    """

    adaptable = True
    saved_kind = "ngram-finetuned"

    def __init__(self, name: str = "finetuned", config: TrainConfig | None = None,
                 finetune: FineTuneConfig | None = None) -> None:
        super().__init__(name, config, joint=False)
        self.finetune = finetune or FineTuneConfig()
        self.adapted_on: tuple[str, ...] = ()

    def adapted(self, pool: Sequence[Example], tasks: Sequence[Task], *, seed: int) -> FineTunedTextModel:
        chosen = sample_labelled(pool, tasks, self.finetune.k, seed=seed)
        clone = copy.deepcopy(self)
        clone.adapted_on = tuple(ex.id for ex in chosen)
        ids = clone._ids(chosen)
        for group, net in clone.groups().items():
            targets = {}
            for name in group.split("+"):
                pre = self.targets[name]
                if any(name in ex.targets for ex in chosen):
                    targets[name] = task_targets(chosen, pre.task, mean=pre.mean, std=pre.std)
            if targets:
                clone._train(net, ids, targets, seed=seed, epochs=self.finetune.epochs,
                             lr=self.config.lr * self.finetune.lr_scale, batch_size=self.finetune.batch_size)
        return clone

    def options(self) -> dict[str, Any]:
        return {**super().options(), "finetune": asdict(self.finetune), "adapted_on": list(self.adapted_on)}
