"""Mid-training checkpoints of a fine-tuned language model, so that a killed training
resumes where it stopped (:mod:`bench.baselines.lm_finetune`).

A checkpoint is one file, written whole to a temporary name beside it and renamed into
place (:func:`os.replace`), so a kill leaves the previous checkpoint or the new one, never
half of one. It holds what the rest of the training depends on:

- the trained parameters (LoRA matrices, or every weight) and AdamW's state (moments
  and step counts);
- the optimiser steps taken, the mean loss of each finished epoch and the loss sum of
  the epoch in progress;
- torch's random state (CPU, and the GPU's where training runs on one), which LoRA's
  dropout draws from;
- an identity: a digest of the training options, seed, training items and trained
  parameters' names and shapes, so a checkpoint of another training is never resumed.

The batches need no state: they are a seeded permutation per epoch
(:func:`bench.baselines.text_model.minibatches`), replayed up to the step reached. So a
training resumed from a checkpoint ends with the adapter an uninterrupted one gives (the
same seed, on the same machine).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from bench.errors import DataError, OutputError
from bench.killpoints import kill_point

__all__ = ["CHECKPOINT_FORMAT", "Checkpointer", "TrainPosition"]

CHECKPOINT_FORMAT = "xdbench-lm-checkpoint/1"
"""The ``format`` entry of a checkpoint file (its version after the slash)."""
_KEYS = ("format", "identity", "steps", "epoch_loss", "running", "parameters", "optimiser", "rng")


@dataclass
class TrainPosition:
    """Where a training stands: optimiser steps taken, the mean loss of each finished epoch
    (nats) and the summed loss of the epoch in progress (nats × items)."""

    steps: int = 0
    epoch_loss: list[float] = field(default_factory=list)
    running: float = 0.0


@dataclass(frozen=True)
class Checkpointer:
    """Writes and reads one training's checkpoint file.

    Parameters
    ----------
    path
        The checkpoint file (its folder is created on the first write).
    every
        Write after every ``every`` optimiser steps (0: only where :meth:`due` is told an
        epoch ended).
    identity
        What the training is (a digest); a checkpoint holding another is refused.
    label
        The model's name, for messages.
    """

    path: Path
    every: int
    identity: str
    label: str = "the model"

    def due(self, steps: int, *, epoch_end: bool) -> bool:
        """Whether a checkpoint is written after optimiser step ``steps``."""
        return epoch_end or (self.every > 0 and steps % self.every == 0)

    def save(self, model: Any, optimiser: torch.optim.Optimizer, position: TrainPosition,
             device: torch.device) -> None:
        """Write the checkpoint of ``model`` (its parameters that require a gradient) and
        ``optimiser`` at ``position``, atomically.

        Raises
        ------
        OutputError
            If the file cannot be written.
        """
        rng = {"cpu": torch.get_rng_state()}
        if device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(device)
        state = {"format": CHECKPOINT_FORMAT, "identity": self.identity, "steps": position.steps,
                 "epoch_loss": list(position.epoch_loss), "running": position.running,
                 "parameters": {n: p.detach().to("cpu", copy=True) for n, p in model.named_parameters()
                                if p.requires_grad},
                 "optimiser": optimiser.state_dict(), "rng": rng}
        staging = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(staging, "wb") as handle:
                torch.save(state, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(staging, self.path)
        except OSError as exc:
            staging.unlink(missing_ok=True)
            raise OutputError(f"Cannot write the training checkpoint of {self.label} to {self.path}: {exc}") from exc
        kill_point("checkpoint")

    def load(self, model: Any, optimiser: torch.optim.Optimizer, device: torch.device) -> TrainPosition | None:
        """Put the checkpoint's parameters, optimiser state and random state in place and
        return its position; ``None`` (nothing changed) if there is no checkpoint file.

        Raises
        ------
        DataError
            If the file is not a readable checkpoint (corrupt, truncated) or was written
            by another training (other options, data or seed).
        """
        if not self.path.is_file():
            return None
        where = f"Training checkpoint {self.path} of {self.label}"
        remedy = "delete it to train from the start"
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
            if not isinstance(state, dict) or any(k not in state for k in _KEYS) \
                    or state["format"] != CHECKPOINT_FORMAT:
                raise ValueError(f"not an {CHECKPOINT_FORMAT} file")
        except Exception as exc:  # torch.load raises pickle, zip and runtime errors of its own kinds
            raise DataError(f"{where} cannot be read: it is corrupt or truncated ({type(exc).__name__}); "
                            f"{remedy}.") from exc
        if state["identity"] != self.identity:
            raise DataError(f"{where} was written by another training (other options, data or seed); {remedy}.")
        trained = {n: p for n, p in model.named_parameters() if p.requires_grad}
        saved = state["parameters"]
        try:
            with torch.no_grad():
                for name, param in trained.items():
                    param.copy_(saved[name])
            optimiser.load_state_dict(state["optimiser"])
            torch.set_rng_state(state["rng"]["cpu"])
            if device.type == "cuda" and "cuda" in state["rng"]:
                torch.cuda.set_rng_state(state["rng"]["cuda"], device)
        except (KeyError, RuntimeError, ValueError) as exc:
            raise DataError(f"{where} does not fit the model ({type(exc).__name__}: {exc}); {remedy}.") from exc
        return TrainPosition(int(state["steps"]), [float(x) for x in state["epoch_loss"]], float(state["running"]))
