"""Wrap a plain ``torch.nn.Module`` and a featurizer as an adapter."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from bench.adapters.base import Adapter, config_fingerprint
from bench.errors import ConfigError
from bench.suites.kinds import kinds_where
from bench.suites.types import Example, Task

__all__ = ["TorchModuleAdapter", "state_dict_digest"]

_KINDS = kinds_where(lambda kind: kind.has_label_choices or kind.has_numeric_target)
"""The kinds a module's output serves: logits over the task's labels, or one value per example."""

Featurizer = Callable[[list[str]], Any]


def state_dict_digest(module: torch.nn.Module) -> bytes:
    """SHA-256 of a module's parameters and buffers, in name order."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.digest()


class TorchModuleAdapter(Adapter):
    """A torch module scoring featurized texts.

    Parameters
    ----------
    name
        The model's name in records.
    module
        Called as ``module(features)`` (or ``module(*features)`` when the featurizer
        returns a tuple). For classification it returns logits ``(n, k)``, turned into
        log-probabilities with ``log_softmax``; for regression values ``(n,)`` or ``(n, 1)``.
    featurize
        ``fn(texts) -> tensor or tuple of tensors``, the module's input.
    kind
        ``"classification"`` or ``"regression"``.
    """

    def __init__(self, name: str, module: torch.nn.Module, featurize: Featurizer, *, kind: str = "classification") -> None:
        if kind not in _KINDS:
            raise ConfigError(f"TorchModuleAdapter kind must be {' or '.join(map(repr, _KINDS))}, got {kind!r}.")
        self.name = name
        self.module = module
        self.featurize = featurize
        self.task_kinds = frozenset({kind})  # type: ignore[misc]

    def _forward(self, examples: Sequence[Example]) -> torch.Tensor:
        features = self.featurize([ex.text for ex in examples])
        self.module.eval()
        with torch.inference_mode():
            out = self.module(*features) if isinstance(features, tuple) else self.module(features)
        return out.float()

    def log_probs(self, examples: Sequence[Example], task: Task) -> np.ndarray:
        if not self.supports(task):
            raise self._cannot(task)
        return torch.log_softmax(self._forward(examples), dim=-1).numpy().astype(np.float64)

    def predict_values(self, examples: Sequence[Example], task: Task) -> np.ndarray:
        if not self.supports(task):
            raise self._cannot(task)
        return self._forward(examples).reshape(len(examples)).numpy().astype(np.float64)

    def fingerprint(self) -> str:
        return config_fingerprint(self.name, {"module": type(self.module).__qualname__}, state_dict_digest(self.module))
