"""A small torch text model: hashed n-grams → mean embedding → one linear head per task.

:class:`NgramTextModel` is the trainable adapter behind the ``source-only``,
``augmented``, ``multitask`` and ``finetuned`` baselines. With ``joint=False`` it trains
one network per task; with ``joint=True`` one shared trunk (the embedding) with a head
per task, trained on the weighted sum of the task losses (:func:`batch_loss`).

Losses (all means over the examples of a mini-batch that carry the task's target):

- classification: cross-entropy ``-ln softmax(z)_y`` (nats);
- regression: mean squared error on standardised targets ``(y - mean) / std``
  (train-split statistics), multiplied by ``TrainConfig.regression_weight``;
  predictions are mapped back and clipped to the task's value range.

The embedding starts at zero (as fastText's output layer does), so an n-gram never seen
in training adds nothing to a text's mean vector instead of random noise, and the saved
weights need only the rows that training touched. The embedding is trained with
:class:`RowAdam`, SparseAdam's update ("lazy" Adam: only the rows of a batch's n-grams
and their moments change) applied to a dense block of just those rows, which costs a
fraction of :class:`torch.optim.SparseAdam`'s coalescing of sparse gradients; the heads
with :class:`DenseAdam`, :class:`torch.optim.Adam`'s update without the ``torch._dynamo``
import (seconds of CPU) that the first ``torch.optim`` optimiser of a process costs. Both
trainers of the package (this one and the heads of :mod:`bench.baselines.encoder_model`)
run the one loop :func:`train_loop`.

Training and scoring run torch on one thread (:func:`torch_threads`): a batch touches a
few thousand numbers per operation, less than what splitting it across threads costs; on a
loaded machine a thread waiting for a descheduled partner also spins, which multiplied the
CPU time of a training step by more than 10. One thread also makes the weights the same
on every machine, whatever its core count.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from bench.adapters.base import Adapter, config_fingerprint
from bench.adapters.torch_module import state_dict_digest
from bench.baselines.features import HashedNgrams, bag
from bench.errors import CapabilityError, DataError
from bench.suites.kinds import kind_of
from bench.suites.schema import MAX_COUNT, Int, Number, check_config
from bench.suites.types import Example, Task

__all__ = ["DenseAdam", "NgramNet", "NgramTextModel", "RowAdam", "TaskTargets", "TrainConfig", "batch_loss", "head_width",
           "minibatches", "supports_task", "task_targets", "torch_threads", "train_loop", "train_net"]

THREADS = 1
"""Torch intra-op threads of training and scoring (see the module docstring)."""


@contextmanager
def torch_threads(n: int = THREADS) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads, then restore the previous count."""
    previous = torch.get_num_threads()
    if previous != n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if previous != n:
            torch.set_num_threads(previous)


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of :class:`NgramTextModel` (one place, recorded in ``run.json``).

    Attributes
    ----------
    n_buckets, max_n
        Hashed vocabulary size and longest n-gram (see :class:`HashedNgrams`).
    dim
        Embedding width.
    epochs, batch_size, lr
        Passes over the training set, examples per step, Adam learning rate.
    regression_weight
        Weight ``λ`` of each regression loss in the summed loss of a joint model:
        ``L = Σ_classification CE + λ · Σ_regression MSE``.
    """

    n_buckets: int = 2**18
    max_n: int = 2
    dim: int = 32
    epochs: int = 8
    batch_size: int = 32
    lr: float = 0.02
    regression_weight: float = 1.0

    def __post_init__(self) -> None:
        counts = dict.fromkeys(("n_buckets", "max_n", "dim", "epochs", "batch_size"), Int(1, MAX_COUNT))
        check_config(self, counts | {"lr": Number(0, math.inf, open=True), "regression_weight": Number(0)})


class NgramNet(nn.Module):
    """Mean of hashed n-gram embeddings, then a linear head per task.

    Parameters
    ----------
    n_buckets, dim
        Embedding table size and width.
    heads
        Output width per head name: ``k`` for a classification task, 1 for regression.
    """

    def __init__(self, n_buckets: int, dim: int, heads: Mapping[str, int]) -> None:
        super().__init__()
        self.embedding = nn.EmbeddingBag(n_buckets, dim, mode="mean", sparse=True)
        nn.init.zeros_(self.embedding.weight)
        self.heads = nn.ModuleDict({name: nn.Linear(dim, width) for name, width in heads.items()})

    def forward(self, ids: torch.Tensor, offsets: torch.Tensor) -> dict[str, torch.Tensor]:
        hidden = self.embedding(ids, offsets)
        return {name: head(hidden) for name, head in self.heads.items()}


@dataclass
class TaskTargets:
    """One task's training targets, aligned with the rows of the training set.

    Attributes
    ----------
    task
        The task.
    rows
        Sorted indices of the training examples that have this task's target.
    values
        Class indices (long) or standardised values ``(y - mean) / std`` (float).
    mean, std
        Standardisation of a regression target (0 and 1 for classification).
    """

    task: Task
    rows: np.ndarray
    values: torch.Tensor
    mean: float = 0.0
    std: float = 1.0
    every_row: bool = field(init=False)

    def __post_init__(self) -> None:
        # rows are sorted and unique: every example has the target iff rows == 0, 1, …, n - 1
        self.every_row = len(self.rows) > 0 and int(self.rows[-1]) == len(self.rows) - 1


def head_width(task: Task) -> int:
    """Outputs of a task's head: one logit per label (classification), else one value."""
    return len(task.choices) if kind_of(task).has_label_choices else 1


def task_targets(train: Sequence[Example], task: Task, *, mean: float | None = None,
                 std: float | None = None) -> TaskTargets:
    """The targets of ``task`` in ``train``; regression targets standardised.

    ``mean`` and ``std`` default to the statistics of ``train`` (``std`` 1 when all
    targets are equal); fine-tuning passes the pre-training ones.

    Raises
    ------
    DataError
        If no example of ``train`` has a target for ``task``.
    """
    rows = np.array([i for i, ex in enumerate(train) if task.name in ex.targets], dtype=np.int64)
    if len(rows) == 0:
        raise DataError(f"No training example has a target for task {task.name!r}.")
    raw = np.array([train[i].targets[task.name] for i in rows], dtype=np.float64)
    if kind_of(task).has_label_choices:
        return TaskTargets(task, rows, torch.from_numpy(raw.astype(np.int64)))
    mean = float(raw.mean()) if mean is None else mean
    std = (float(raw.std()) or 1.0) if std is None else std
    return TaskTargets(task, rows, torch.from_numpy((raw - mean) / std).float(), mean, std)


def batch_loss(outputs: Mapping[str, torch.Tensor], batch: np.ndarray, targets: Mapping[str, TaskTargets],
               regression_weight: float = 1.0) -> torch.Tensor:
    """The summed task loss of one mini-batch.

    .. math::
        L = \\sum_{t \\in \\text{classification}} \\frac{1}{|B_t|}
            \\sum_{i \\in B_t} -\\ln \\operatorname{softmax}(z_{t,i})_{y_{t,i}}
          + \\lambda \\sum_{t \\in \\text{regression}} \\frac{1}{|B_t|} \\sum_{i \\in B_t} (\\hat s_{t,i} - s_{t,i})^2

    where :math:`B_t` are the examples of the batch with a target for task :math:`t`,
    :math:`s = (y - \\text{mean}) / \\text{std}` is the standardised regression target and
    :math:`\\lambda` is ``regression_weight``. A task with no target in the batch adds 0.

    Parameters
    ----------
    outputs
        Head outputs per task for the batch, ``(b, k)`` logits or ``(b, 1)`` values.
    batch
        Indices (into the training set) of the batch's examples, in output order.
    targets
        Targets per task name, from :func:`task_targets`.
    regression_weight
        :math:`\\lambda`.
    """
    total = torch.zeros(())
    for name, target in targets.items():
        if target.every_row:  # the common case: every example of the batch has the target
            out, wanted = outputs[name], target.values[torch.from_numpy(batch)]
        else:
            mask = np.isin(batch, target.rows)
            if not mask.any():
                continue
            out = outputs[name][torch.from_numpy(np.nonzero(mask)[0])]
            wanted = target.values[torch.from_numpy(np.searchsorted(target.rows, batch[mask]))]
        if kind_of(target.task).has_label_choices:
            total = total + nn.functional.cross_entropy(out, wanted)
        else:
            total = total + regression_weight * nn.functional.mse_loss(out.squeeze(-1), wanted)
    return total


def supports_task(model: Adapter, task: Task) -> bool:
    """Kind check; a loaded (no longer trainable) model supports only the tasks it was trained for."""
    if not Adapter.supports(model, task):
        return False
    if model.trainable:
        return True
    saved = getattr(model, "targets", {}).get(task.name)
    return saved is not None and kind_of(saved.task) is kind_of(task) and saved.task.choices == task.choices


def minibatches(n: int, *, epochs: int, batch_size: int, seed: int) -> Iterator[np.ndarray]:
    """Index batches over ``n`` examples: a fresh permutation per epoch, drawn from a torch
    generator seeded with ``seed``, cut into batches of ``batch_size``."""
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator).numpy()
        for start in range(0, n, batch_size):
            yield order[start : start + batch_size]


class RowAdam:
    """Adam on the rows of an embedding table that a batch uses: SparseAdam's update on a
    dense block of those rows.

    :meth:`embed` looks up the unique rows :math:`R` of a batch once, as a leaf block
    :math:`W_R` whose gradient :math:`g` is dense (``|R| × d``); :meth:`step` then applies,
    with the global step count :math:`t`,

    .. math::
        m_R \\leftarrow \\beta_1 m_R + (1 - \\beta_1) g, \\quad
        v_R \\leftarrow \\beta_2 v_R + (1 - \\beta_2) g^2, \\quad
        W_R \\leftarrow W_R - \\eta \\frac{\\sqrt{1 - \\beta_2^t}}{1 - \\beta_1^t}
                         \\frac{m_R}{\\sqrt{v_R} + \\epsilon},

    exactly :class:`torch.optim.SparseAdam`'s update (rows outside :math:`R` and their
    moments are left alone), without building and coalescing a sparse gradient.

    Parameters
    ----------
    weight
        The embedding table ``(rows, d)``, updated in place.
    lr, betas, eps
        As for :class:`torch.optim.SparseAdam`.
    """

    def __init__(self, weight: torch.Tensor, *, lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        self.weight, self.lr, self.betas, self.eps = weight, lr, betas, eps
        self.exp_avg = torch.zeros_like(weight, requires_grad=False)
        self.exp_avg_sq = torch.zeros_like(weight, requires_grad=False)
        self.steps = 0
        self._rows: torch.Tensor | None = None
        self._block: torch.Tensor | None = None

    def embed(self, ids: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        """Mean embedding of each bag (as ``EmbeddingBag(mode="mean")``), differentiable in
        the block of the rows used."""
        rows, inverse = torch.unique(ids, return_inverse=True)
        self._rows = rows
        self._block = self.weight.detach()[rows].requires_grad_()
        return nn.functional.embedding_bag(inverse, self._block, offsets, mode="mean")

    def zero_grad(self) -> None:
        """Nothing to clear: every :meth:`embed` makes a fresh block."""

    @torch.no_grad()
    def step(self) -> None:
        """Update the rows of the last :meth:`embed` from their gradient."""
        if self._rows is None or self._block is None or self._block.grad is None:
            return
        rows, grad = self._rows, self._block.grad
        beta1, beta2 = self.betas
        self.steps += 1
        m = self.exp_avg[rows].mul_(beta1).add_(grad, alpha=1 - beta1)
        v = self.exp_avg_sq[rows].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        self.exp_avg.index_copy_(0, rows, m)  # index_copy_: the rows are unique (index_put_ sorts them again)
        self.exp_avg_sq.index_copy_(0, rows, v)
        step_size = self.lr * math.sqrt(1 - beta2**self.steps) / (1 - beta1**self.steps)
        self.weight.index_copy_(0, rows, self._block - step_size * m / (v.sqrt() + self.eps))
        self._rows = self._block = None


class DenseAdam:
    """:class:`torch.optim.Adam`'s update (its CPU single-tensor path, no weight decay) for
    a few small dense parameters, without ``torch.optim``.

    For each parameter :math:`p` with a gradient :math:`g` after :meth:`step`'s
    :math:`t`-th call that found one (a parameter without a gradient keeps its moments and
    its count :math:`t`, as in :class:`torch.optim.Adam`),

    .. math::
        m \\leftarrow \\beta_1 m + (1 - \\beta_1) g, \\quad
        v \\leftarrow \\beta_2 v + (1 - \\beta_2) g^2, \\quad
        p \\leftarrow p - \\frac{\\eta}{1 - \\beta_1^t}
                      \\frac{m}{\\sqrt{v} / \\sqrt{1 - \\beta_2^t} + \\epsilon},

    computed with the same tensor operations in the same order, so the parameters equal
    :class:`torch.optim.Adam`'s bit for bit. :class:`torch.optim.Adam` itself would import
    ``torch._dynamo`` on first use, seconds of CPU per process for a model that trains in
    less than a second per fold.

    Parameters
    ----------
    params
        The parameters, updated in place.
    lr, betas, eps
        As for :class:`torch.optim.Adam`.
    """

    def __init__(self, params: Iterable[torch.Tensor], *, lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        self.params = list(params)
        self.lr, self.betas, self.eps = lr, betas, eps
        self.exp_avg = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self.steps = [0] * len(self.params)

    def zero_grad(self) -> None:
        """Drop the gradients (``set_to_none``, as :class:`torch.optim.Adam` does by default)."""
        for param in self.params:
            param.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """Update every parameter that has a gradient."""
        beta1, beta2 = self.betas
        for i, param in enumerate(self.params):
            if param.grad is None:
                continue
            grad, exp_avg, exp_avg_sq = param.grad, self.exp_avg[i], self.exp_avg_sq[i]
            self.steps[i] += 1
            step = float(self.steps[i])
            exp_avg.lerp_(grad, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            step_size = self.lr / (1 - beta1**step)
            denom = (exp_avg_sq.sqrt() / (1 - beta2**step) ** 0.5).add_(self.eps)
            param.addcdiv_(exp_avg, denom, value=-step_size)


class _Optimiser(Protocol):
    """What :func:`train_loop` needs of an optimiser (``torch.optim`` ones, :class:`RowAdam`, :class:`DenseAdam`)."""

    def zero_grad(self) -> None: ...

    def step(self) -> None: ...


def train_loop(forward: Callable[[np.ndarray], Mapping[str, torch.Tensor]], optimisers: Sequence[_Optimiser],
               n: int, targets: Mapping[str, TaskTargets], *, epochs: int, batch_size: int, regression_weight: float,
               seed: int) -> None:
    """The one training loop of the package's trainable baselines.

    For each mini-batch of :func:`minibatches` (a fresh permutation per epoch from a
    generator seeded with ``seed``): ``forward(batch)`` gives the head outputs of the
    batch's examples, :func:`batch_loss` their summed task loss, then every optimiser
    clears its gradients, the loss is back-propagated and every optimiser steps; torch
    runs on :data:`THREADS` threads meanwhile (:func:`torch_threads`).
    """
    with torch_threads():
        for batch in minibatches(n, epochs=epochs, batch_size=batch_size, seed=seed):
            loss = batch_loss(forward(batch), batch, targets, regression_weight)
            for optimiser in optimisers:
                optimiser.zero_grad()
            loss.backward()
            for optimiser in optimisers:
                optimiser.step()


def train_net(net: NgramNet, ids: Sequence[Sequence[int] | np.ndarray], targets: Mapping[str, TaskTargets], *,
              epochs: int, batch_size: int, lr: float, regression_weight: float, seed: int) -> None:
    """Train ``net`` in place on hashed n-gram ids (one list or int64 array per example)
    with :func:`train_loop`: the embedding by :class:`RowAdam`, the heads by
    :class:`DenseAdam`, both at rate ``lr``."""
    rows = RowAdam(net.embedding.weight, lr=lr)
    heads = DenseAdam(net.heads.parameters(), lr=lr)
    arrays = [np.asarray(i, dtype=np.int64) for i in ids]

    def forward(batch: np.ndarray) -> dict[str, torch.Tensor]:
        hidden = rows.embed(*bag([arrays[i] for i in batch]))
        return {name: head(hidden) for name, head in net.heads.items()}

    net.train()
    train_loop(forward, [rows, heads], len(ids), targets, epochs=epochs, batch_size=batch_size,
               regression_weight=regression_weight, seed=seed)
    net.eval()


class NgramTextModel(Adapter):
    """Trainable hashed n-gram model for classification and regression tasks.

    Parameters
    ----------
    name
        The model's name in records.
    config
        Hyperparameters.
    joint
        ``False``: one network per task. ``True``: one shared trunk with a head per task,
        trained on all of the suite's tasks at once (multi-task learning).
    """

    task_kinds = frozenset({"classification", "regression"})
    trainable = True
    saved_kind = "ngram"  # the "kind" of its saved folder (bench.baselines.persist)

    def __init__(self, name: str = "source-only", config: TrainConfig | None = None, *, joint: bool = False) -> None:
        self.name = name
        self.config = config or TrainConfig()
        self.joint = joint
        self.featurizer = HashedNgrams(self.config.n_buckets, self.config.max_n)
        self.nets: dict[str, NgramNet] = {}  # task name -> network (one shared by all tasks if joint)
        self.targets: dict[str, TaskTargets] = {}
        self._digests: tuple[tuple[tuple[str, int, int], ...], list[bytes]] | None = None

    @property
    def trains_all_tasks(self) -> bool:
        """A joint model is trained on every task of the suite it supports."""
        return self.joint

    def supports(self, task: Task) -> bool:
        return supports_task(self, task)

    # -- training -------------------------------------------------------------------
    def fit(self, train: Sequence[Example], tasks: Sequence[Task], *, seed: int) -> None:
        """Train on ``train`` for every supported task in ``tasks``, deterministically for ``seed``."""
        tasks = [t for t in tasks if self.supports(t)]
        if not tasks:
            raise CapabilityError(f"Model {self.name!r} supports none of the tasks given.")
        if not train:
            raise DataError(f"Model {self.name!r} got no training examples.")
        self.targets = {t.name: task_targets(train, t) for t in tasks}
        self._digests = None
        ids = self._ids(train)
        self.nets = {}
        for group in ([tasks] if self.joint else [[t] for t in tasks]):
            torch.manual_seed(seed)
            heads = {t.name: head_width(t) for t in group}
            net = NgramNet(self.config.n_buckets, self.config.dim, heads)
            self._train(net, ids, {t.name: self.targets[t.name] for t in group}, seed=seed)
            for t in group:
                self.nets[t.name] = net

    def _ids(self, examples: Sequence[Example]) -> list[np.ndarray]:
        return self.featurizer.arrays([ex.text for ex in examples])

    def _train(self, net: NgramNet, ids: Sequence[np.ndarray], targets: Mapping[str, TaskTargets], *, seed: int,
               epochs: int | None = None, lr: float | None = None, batch_size: int | None = None) -> None:
        cfg = self.config
        self._digests = None
        train_net(net, ids, targets, epochs=epochs or cfg.epochs, batch_size=batch_size or cfg.batch_size,
                  lr=lr or cfg.lr, regression_weight=cfg.regression_weight, seed=seed)

    def groups(self) -> dict[str, NgramNet]:
        """Each distinct network under the ``+``-joined names of its tasks (``"sentiment+rating"``)."""
        found: dict[int, tuple[list[str], NgramNet]] = {}
        for name, net in self.nets.items():
            found.setdefault(id(net), ([], net))[0].append(name)
        return {"+".join(names): net for names, net in found.values()}

    def net_for(self, task: Task) -> NgramNet:
        """The network holding ``task``'s head."""
        if task.name not in self.nets:
            raise CapabilityError(f"Model {self.name!r} was not trained for task {task.name!r}; call fit first.")
        return self.nets[task.name]

    # -- scoring --------------------------------------------------------------------
    def _outputs(self, examples: Sequence[Example], task: Task) -> torch.Tensor:
        net = self.net_for(task)
        flat, offsets = self.featurizer([ex.text for ex in examples])
        with torch.inference_mode(), torch_threads():
            return net(flat, offsets)[task.name].float()

    def log_probs(self, examples: Sequence[Example], task: Task) -> np.ndarray:
        with torch_threads():  # a 64 × k log-softmax: on 2 threads 5 ms of CPU under load
            return torch.log_softmax(self._outputs(examples, task).double(), dim=-1).numpy()

    def predict_values(self, examples: Sequence[Example], task: Task) -> np.ndarray:
        target = self.targets[task.name]
        values = self._outputs(examples, task).squeeze(-1).double().numpy() * target.std + target.mean
        if task.value_range:
            values = np.clip(values, *task.value_range)
        return values

    def options(self) -> dict[str, Any]:
        """The constructor options, for fingerprints and saved models."""
        return {"config": asdict(self.config), "joint": self.joint}

    def fingerprint(self) -> str:
        """The name, options and weights' digest; the digest (SHA-256 of 32 MB per network
        at the default size) is computed again only when a tensor changed since the last
        call (its version counter or storage) and after every training."""
        nets = sorted(self.nets.items())
        versions = tuple((name, t.data_ptr(), t._version) for name, net in nets for t in net.state_dict().values())
        if self._digests is None or self._digests[0] != versions:
            self._digests = versions, [state_dict_digest(net) for _, net in nets]
        return config_fingerprint(self.name, {"class": type(self).__qualname__, **self.options()}, *self._digests[1])
