"""A small torch text model: hashed n-grams → mean embedding → one linear head per task.

:class:`NgramTextModel` is the trainable adapter behind the ``source-only`` baseline.
With ``joint=False`` it trains one network per task; with ``joint=True`` one shared
trunk (the embedding) with a head per task, trained on the summed task losses.

Losses: classification heads use cross-entropy ``-ln softmax(z)_y`` (nats); regression
heads use mean squared error on standardised targets ``(y - mean) / std`` (train-split
statistics), and predictions are mapped back and clipped to the task's value range.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from bench.adapters.base import Adapter, config_fingerprint
from bench.adapters.torch_module import state_dict_digest
from bench.baselines.features import HashedNgrams
from bench.errors import CapabilityError, DataError
from bench.suites.types import Example, Task

__all__ = ["NgramNet", "NgramTextModel", "TrainConfig"]


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of :class:`NgramTextModel` (one place, recorded in ``run.json``)."""

    n_buckets: int = 2**18
    max_n: int = 2
    dim: int = 32
    epochs: int = 8
    batch_size: int = 32
    lr: float = 0.02
    weight_decay: float = 0.0
    regression_weight: float = 1.0


class NgramNet(nn.Module):
    """Mean of hashed n-gram embeddings, then a linear head per task.

    Parameters
    ----------
    n_buckets, dim
        Embedding table size and width.
    heads
        Output width per head name: ``k`` for a classification task, 1 for regression.
    """

    def __init__(self, n_buckets: int, dim: int, heads: dict[str, int]) -> None:
        super().__init__()
        self.embedding = nn.EmbeddingBag(n_buckets, dim, mode="mean")
        self.heads = nn.ModuleDict({name: nn.Linear(dim, width) for name, width in heads.items()})

    def forward(self, ids: torch.Tensor, offsets: torch.Tensor) -> dict[str, torch.Tensor]:
        hidden = self.embedding(ids, offsets)
        return {name: head(hidden) for name, head in self.heads.items()}


@dataclass
class _TaskTargets:
    task: Task
    rows: np.ndarray  # indices of training examples that have this target
    values: torch.Tensor  # class indices (long) or standardised values (float)
    mean: float = 0.0
    std: float = 1.0


class NgramTextModel(Adapter):
    """Trainable hashed n-gram model for classification and regression tasks."""

    task_kinds = frozenset({"classification", "regression"})
    trainable = True

    def __init__(self, name: str = "source-only", config: TrainConfig | None = None, *, joint: bool = False) -> None:
        self.name = name
        self.config = config or TrainConfig()
        self.joint = joint
        self.featurizer = HashedNgrams(self.config.n_buckets, self.config.max_n)
        self.nets: dict[str, NgramNet] = {}
        self.targets: dict[str, _TaskTargets] = {}

    # -- training -------------------------------------------------------------------
    def fit(self, train: Sequence[Example], tasks: Sequence[Task], *, seed: int) -> None:
        """Train on ``train`` for every supported task in ``tasks``, deterministically for ``seed``."""
        tasks = [t for t in tasks if self.supports(t)]
        if not tasks:
            raise CapabilityError(f"Model {self.name!r} supports none of the tasks given.")
        self.targets = {t.name: _targets(train, t) for t in tasks}
        groups = [tasks] if self.joint else [[t] for t in tasks]
        self.nets = {}
        for group in groups:
            torch.manual_seed(seed)
            heads = {t.name: (len(t.choices) if t.kind == "classification" else 1) for t in group}
            net = NgramNet(self.config.n_buckets, self.config.dim, heads)
            self._train(net, train, group, seed)
            for t in group:
                self.nets[t.name] = net

    def _train(self, net: NgramNet, train: Sequence[Example], tasks: Sequence[Task], seed: int) -> None:
        cfg = self.config
        ids = [self.featurizer.ids(ex.text) for ex in train]
        optimiser = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        generator = torch.Generator().manual_seed(seed)
        net.train()
        for _ in range(cfg.epochs):
            order = torch.randperm(len(train), generator=generator).numpy()
            for start in range(0, len(order), cfg.batch_size):
                batch = order[start : start + cfg.batch_size]
                loss = self._batch_loss(net, ids, batch, tasks)
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
        net.eval()

    def _batch_loss(self, net: NgramNet, ids: list[list[int]], batch: np.ndarray, tasks: Sequence[Task]) -> torch.Tensor:
        flat, offsets = _bag([ids[i] for i in batch])
        outputs = net(flat, offsets)
        total = torch.zeros(())
        for task in tasks:
            target = self.targets[task.name]
            mask = np.isin(batch, target.rows)
            if not mask.any():
                continue
            positions = np.searchsorted(target.rows, batch[mask])
            out = outputs[task.name][torch.from_numpy(np.nonzero(mask)[0])]
            wanted = target.values[torch.from_numpy(positions)]
            if task.kind == "classification":
                total = total + nn.functional.cross_entropy(out, wanted)
            else:
                total = total + self.config.regression_weight * nn.functional.mse_loss(out.squeeze(-1), wanted)
        return total

    # -- scoring --------------------------------------------------------------------
    def _outputs(self, examples: Sequence[Example], task: Task) -> torch.Tensor:
        if task.name not in self.nets:
            raise CapabilityError(f"Model {self.name!r} was not trained for task {task.name!r}; call fit first.")
        flat, offsets = self.featurizer([ex.text for ex in examples])
        with torch.inference_mode():
            return self.nets[task.name](flat, offsets)[task.name].float()

    def log_probs(self, examples: Sequence[Example], task: Task) -> np.ndarray:
        logits = self._outputs(examples, task)
        return torch.log_softmax(logits, dim=-1).double().numpy()

    def predict_values(self, examples: Sequence[Example], task: Task) -> np.ndarray:
        target = self.targets[task.name]
        values = self._outputs(examples, task).squeeze(-1).double().numpy() * target.std + target.mean
        if task.value_range:
            values = np.clip(values, *task.value_range)
        return values

    def fingerprint(self) -> str:
        digests = [state_dict_digest(net) for _, net in sorted(self.nets.items())]
        return config_fingerprint(self.name, {**asdict(self.config), "joint": self.joint}, *digests)


def _bag(id_lists: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([0] + [len(ids) for ids in id_lists[:-1]], dtype=torch.long)
    flat = torch.tensor([i for ids in id_lists for i in ids], dtype=torch.long)
    return flat, lengths.cumsum(0)


def _targets(train: Sequence[Example], task: Task) -> _TaskTargets:
    rows = np.array([i for i, ex in enumerate(train) if task.name in ex.targets], dtype=np.int64)
    if len(rows) == 0:
        raise DataError(f"No training example has a target for task {task.name!r}.")
    raw = np.array([train[i].targets[task.name] for i in rows], dtype=np.float64)
    if task.kind == "classification":
        return _TaskTargets(task, rows, torch.from_numpy(raw.astype(np.int64)))
    mean, std = float(raw.mean()), float(raw.std()) or 1.0
    return _TaskTargets(task, rows, torch.from_numpy((raw - mean) / std).float(), mean, std)
