"""Save trained baselines to a folder and load them back, without pickle.

A saved model is a folder with two files:

- ``model.json``: ``{"format": "xdbench-model", "version": 1, "kind": ..., "name": ...,
  "options": ..., "tasks": [...], "targets": {task: {"mean", "std"}}, "nets": ...}``;
- ``weights.pt``: a flat ``{name: tensor}`` dict written by :func:`torch.save` and read
  with ``torch.load(..., weights_only=True)``, which refuses anything but tensors and
  plain containers, so a downloaded folder cannot run code.

The ``kind`` selects one of the classes in :data:`SAVED_KINDS`; nothing else is ever
imported from a saved file. An n-gram model's embedding is stored sparsely (only the rows
that training moved away from their initial zero). A loaded model is not trainable:
``bench run --model path/to/folder`` re-scores it (an adaptable one still fine-tunes
per target domain).
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bench.adapters.base import Adapter
from bench.baselines.encoder_model import (
    EncoderHeadModel,
    FineTunedEncoderModel,
    HeadConfig,
)
from bench.baselines.lm_finetune import FineTunedLM, load_lm, save_lm, saved_lm_files
from bench.baselines.strategies import (
    AugmentConfig,
    AugmentedTextModel,
    FineTuneConfig,
    FineTunedTextModel,
)
from bench.baselines.text_model import (
    NgramNet,
    NgramTextModel,
    TaskTargets,
    TrainConfig,
)
from bench.errors import CapabilityError, ConfigError, DataError, OutputError
from bench.registry import View
from bench.suites.types import Task

__all__ = ["FORMAT", "SAVED_KINDS", "ModelSaver", "load_model", "model_folder_name", "save_model"]

FORMAT = "xdbench-model"
VERSION = 1

def _saved_kinds() -> dict[str, type[Adapter]]:
    """Every :class:`Adapter` subclass that names a ``saved_kind`` in its own body."""
    found: dict[str, type[Adapter]] = {}
    pending = list(Adapter.__subclasses__())
    while pending:
        cls = pending.pop(0)
        pending += cls.__subclasses__()
        if isinstance(kind := cls.__dict__.get("saved_kind"), str):
            found[kind] = cls
    return found


SAVED_KINDS: Mapping[str, type[Adapter]] = View(_saved_kinds)
"""The classes a saved model may name: each class states its own ``saved_kind``
(:class:`NgramTextModel` ``"ngram"``, :class:`AugmentedTextModel`, :class:`FineTunedTextModel`,
:class:`EncoderHeadModel`, :class:`FineTunedEncoderModel`); a folder names its exact class."""


def model_folder_name(label: str) -> str:
    """A file-system-safe folder name for a fitted model's label (``model/suite/fold``)."""
    return re.sub(r"[^A-Za-z0-9._=+-]+", "--", label).strip("-")


def _kind(adapter: Adapter) -> str:
    for kind, cls in SAVED_KINDS.items():
        if type(adapter) is cls:
            return kind
    names = ", ".join(c.__name__ for c in SAVED_KINDS.values())
    raise CapabilityError(f"Model {adapter.name!r} ({type(adapter).__name__}) cannot be saved; savable: {names}.")


def _task_json(task: Task) -> dict[str, Any]:
    return asdict(task)


def _task_from_json(data: Mapping[str, Any]) -> Task:
    value_range = data.get("value_range")
    return Task(data["name"], data["kind"], tuple(data.get("choices", ())), data.get("prompt"),
                tuple(data.get("verbalizers", ())), tuple(value_range) if value_range else None)


def _state(adapter: Adapter) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    if isinstance(adapter, NgramTextModel):
        return _ngram_state(adapter)
    heads: nn.ModuleDict = adapter.heads  # type: ignore[attr-defined]  # an EncoderHeadModel (see _kind)
    return {}, {f"heads.{k}": v.detach().clone() for k, v in heads.state_dict().items()}


def _ngram_state(model: NgramTextModel) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    nets, tensors = {}, {}
    for group, net in model.groups().items():
        weight = net.embedding.weight.detach()
        rows = torch.nonzero(weight.abs().sum(dim=1)).squeeze(1)
        tensors[f"{group}/embedding.rows"] = rows.clone()
        tensors[f"{group}/embedding.values"] = weight[rows].clone()
        for key, value in net.heads.state_dict().items():
            tensors[f"{group}/heads.{key}"] = value.detach().clone()
        nets[group] = {name: head.out_features for name, head in net.heads.items()}
    return {"nets": nets}, tensors


def save_model(adapter: Adapter, folder: str | Path) -> Path:
    """Write a trained model to ``folder`` (created; replaced if it holds a saved model).

    The files are written to a temporary folder beside it and renamed into place, so an
    interrupted save leaves no folder that looks complete.

    Raises
    ------
    CapabilityError
        If the model's class cannot be saved or it has not been trained.
    OutputError
        If the folder cannot be written.
    """
    kind = _kind(adapter)
    if isinstance(adapter, FineTunedLM):
        return _staged(Path(folder), adapter.name, lambda staging: save_lm(adapter, staging, _header(adapter, kind)))
    targets: dict[str, TaskTargets] = getattr(adapter, "targets", {})
    if not targets:
        raise CapabilityError(f"Model {adapter.name!r} has not been trained; there is nothing to save.")
    meta, tensors = _state(adapter)
    header = {"format": FORMAT, "version": VERSION, "kind": kind, "name": adapter.name,
              "options": adapter.options(),  # type: ignore[attr-defined]
              "tasks": [_task_json(t.task) for t in targets.values()],
              "targets": {n: {"mean": t.mean, "std": t.std} for n, t in targets.items()}, **meta}

    def write(staging: Path) -> None:
        torch.save(tensors, staging / "weights.pt")
        (staging / "model.json").write_text(json.dumps(header, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    return _staged(Path(folder), adapter.name, write)


def _header(adapter: Adapter, kind: str) -> dict[str, Any]:
    return {"format": FORMAT, "version": VERSION, "kind": kind, "name": adapter.name,
            "options": adapter.options()}  # type: ignore[attr-defined]


def _staged(folder: Path, name: str, write: Callable[[Path], None]) -> Path:
    """Run ``write(staging)`` on a temporary folder beside ``folder``, then rename it into place."""
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
        write(staging)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(staging, folder)
    except OSError as exc:
        raise OutputError(f"Cannot save model {name!r} to {folder}: {exc}") from exc
    return folder


def _read_header(folder: Path) -> dict[str, Any]:
    path = folder / "model.json"
    if not path.is_file():
        raise ConfigError(f"{folder} is not a saved xdbench model: it needs model.json and weights.pt.")
    try:
        header = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: cannot read the saved model's header: {exc}") from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT or header.get("version") != VERSION:
        raise DataError(f"{path}: not an {FORMAT} version {VERSION} header.")
    if header.get("kind") not in SAVED_KINDS:
        raise DataError(f"{path}: unknown model kind {header.get('kind')!r}; known: {', '.join(SAVED_KINDS)}.")
    weights = saved_lm_files(header) if header["kind"] == FineTunedLM.saved_kind else ("weights.pt",)
    if not all((folder / name).is_file() for name in weights):
        raise ConfigError(f"{folder} is not a saved xdbench model: it needs model.json and {' and '.join(weights)}.")
    return header


def _build(kind: str, name: str, options: Mapping[str, Any]) -> NgramTextModel | EncoderHeadModel:
    """The untrained model of saved kind ``kind`` (one of :data:`_BUILDERS`), from its saved options."""
    return _BUILDERS[kind](name, options)


def _augmented(name: str, options: Mapping[str, Any]) -> AugmentedTextModel:
    augment = dict(options["augment"])
    return AugmentedTextModel(name, TrainConfig(**options["config"]),
                              AugmentConfig(**{**augment, "augmenters": tuple(augment["augmenters"])}))


_BUILDERS: dict[str, Callable[[str, Mapping[str, Any]], NgramTextModel | EncoderHeadModel]] = {
    EncoderHeadModel.saved_kind: lambda name, o: EncoderHeadModel(name, HeadConfig(**o["config"])),
    FineTunedEncoderModel.saved_kind: lambda name, o: FineTunedEncoderModel(
        name, HeadConfig(**o["config"]), finetune=FineTuneConfig(**o["finetune"])),
    NgramTextModel.saved_kind: lambda name, o: NgramTextModel(name, TrainConfig(**o["config"]), joint=bool(o["joint"])),
    AugmentedTextModel.saved_kind: _augmented,
    FineTunedTextModel.saved_kind: lambda name, o: FineTunedTextModel(name, TrainConfig(**o["config"]),
                                                                     FineTuneConfig(**o["finetune"])),
}
"""Saved kind → the builder of its untrained model from the saved ``options`` (a fine-tuned
language model, :data:`~bench.baselines.lm_finetune.FineTunedLM`, is loaded by ``load_lm``)."""


def _restore_ngram(model: NgramTextModel, header: Mapping[str, Any], tensors: Mapping[str, torch.Tensor]) -> None:
    cfg = model.config
    for group, heads in header["nets"].items():
        net = NgramNet(cfg.n_buckets, cfg.dim, heads)
        with torch.no_grad():
            net.embedding.weight[tensors[f"{group}/embedding.rows"]] = tensors[f"{group}/embedding.values"]
        net.heads.load_state_dict({k[len(f"{group}/heads."):]: v for k, v in tensors.items()
                                   if k.startswith(f"{group}/heads.")})
        net.eval()
        for name in heads:
            model.nets[name] = net


def _restore_heads(model: EncoderHeadModel, tasks: Mapping[str, Task], tensors: Mapping[str, torch.Tensor]) -> None:
    model.heads = nn.ModuleDict()
    for name in tasks:
        weight = tensors[f"heads.{name}.weight"]
        model.heads[name] = nn.Linear(weight.shape[1], weight.shape[0])
    model.heads.load_state_dict({k[len("heads."):]: v for k, v in tensors.items()})


def load_model(folder: str | Path) -> Adapter:
    """The model saved in ``folder`` by :func:`save_model`, ready to score (not trainable).

    Raises
    ------
    ConfigError
        If ``folder`` lacks ``model.json`` or ``weights.pt``.
    DataError
        If the files are not a saved model of a known kind, or the weights do not fit it.
    """
    folder = Path(folder)
    header = _read_header(folder)
    if header["kind"] == FineTunedLM.saved_kind:
        return load_lm(folder, header)
    try:
        tensors = torch.load(folder / "weights.pt", map_location="cpu", weights_only=True)
        model = _build(header["kind"], header["name"], header["options"])
        tasks = {t["name"]: _task_from_json(t) for t in header["tasks"]}
        model.targets = {n: TaskTargets(tasks[n], torch.zeros(0, dtype=torch.long).numpy(), torch.zeros(0),
                                        float(v["mean"]), float(v["std"])) for n, v in header["targets"].items()}
        if isinstance(model, NgramTextModel):
            _restore_ngram(model, header, tensors)
        else:
            _restore_heads(model, tasks, tensors)
        if hasattr(model, "adapted_on"):
            model.adapted_on = tuple(header["options"].get("adapted_on", ()))
    except (OSError, EOFError, pickle.UnpicklingError, KeyError, TypeError, ValueError, RuntimeError,
            AttributeError) as exc:
        raise DataError(f"{folder}: the saved model cannot be restored ({type(exc).__name__}: {exc}).") from exc
    model.trainable = False  # type: ignore[misc]
    return model


class ModelSaver:
    """An ``on_fitted`` callback for :func:`bench.runner.run` that saves trial 0's models.

    Each savable model trained in trial 0 is written to
    ``folder/<model>--<suite>--<fold>`` (:func:`model_folder_name`); models of other
    trials, adapted copies and models that cannot be saved (floors) are not.
    ``saved`` lists the folder names written.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.saved: list[str] = []

    def __call__(self, key: Any, adapter: Adapter) -> None:
        if key.trial != 0 or type(adapter) not in SAVED_KINDS.values():
            return
        name = model_folder_name(f"{key.model}/{key.suite}/{key.fold}")
        save_model(adapter, self.folder / name)
        self.saved.append(name)
