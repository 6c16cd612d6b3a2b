"""Floors every model should beat: ``majority`` and ``uniform``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bench.adapters.base import Adapter, config_fingerprint
from bench.errors import CapabilityError, DataError
from bench.suites.kinds import kind_of
from bench.suites.types import Example, Task

__all__ = ["Majority", "Uniform"]


class Majority(Adapter):
    """Predicts the training label distribution (add-one smoothed) or the training mean.

    For classification the log-probabilities are ``ln((c_k + 1) / (n + k))``, where
    ``c_k`` counts label ``k`` in the training split: the argmax is the majority label
    and the cross-entropy stays finite.
    """

    task_kinds = frozenset({"classification", "regression"})
    trainable = True

    def __init__(self, name: str = "majority") -> None:
        self.name = name
        self.priors: dict[str, np.ndarray] = {}
        self.means: dict[str, float] = {}

    def fit(self, train: Sequence[Example], tasks: Sequence[Task], *, seed: int) -> None:
        for task in tasks:
            values = np.array([ex.targets[task.name] for ex in train if task.name in ex.targets])
            if values.size == 0:
                raise DataError(f"No training example has a target for task {task.name!r}.")
            kind = kind_of(task)
            if kind.has_label_choices:
                counts = np.bincount(values.astype(np.int64), minlength=len(task.choices)) + 1.0
                self.priors[task.name] = np.log(counts / counts.sum())
            elif kind.has_numeric_target:
                self.means[task.name] = float(values.mean())

    def log_probs(self, examples: Sequence[Example], task: Task) -> np.ndarray:
        if task.name not in self.priors:
            raise CapabilityError(f"Model {self.name!r} was not trained for task {task.name!r}.")
        return np.tile(self.priors[task.name], (len(examples), 1))

    def predict_values(self, examples: Sequence[Example], task: Task) -> np.ndarray:
        if task.name not in self.means:
            raise CapabilityError(f"Model {self.name!r} was not trained for task {task.name!r}.")
        return np.full(len(examples), self.means[task.name])

    def fingerprint(self) -> str:
        state = {k: v.tolist() for k, v in self.priors.items()} | self.means
        return config_fingerprint(self.name, state)


class Uniform(Adapter):
    """Every choice equally likely; for regression the middle of the task's value range."""

    task_kinds = frozenset({"classification", "regression"})

    def __init__(self, name: str = "uniform") -> None:
        self.name = name

    def supports(self, task: Task) -> bool:
        kind = kind_of(task)
        return kind.has_label_choices or (kind.has_numeric_target and task.value_range is not None)

    def log_probs(self, examples: Sequence[Example], task: Task) -> np.ndarray:
        k = len(task.choices)
        return np.full((len(examples), k), -np.log(k))

    def predict_values(self, examples: Sequence[Example], task: Task) -> np.ndarray:
        if task.value_range is None:
            raise self._cannot(task)
        return np.full(len(examples), sum(task.value_range) / 2)

    def fingerprint(self) -> str:
        return config_fingerprint(self.name, {})
