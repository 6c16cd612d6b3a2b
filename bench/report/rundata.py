"""The tables of one or more run folders, read once for the report, the plots and the board.

Columns are read by name and optional files are optional, so that a run folder written by
an older or newer version (more columns, no ``robustness.csv``) still reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from bench.errors import DataError

__all__ = ["RunData", "TaskView", "fold_models", "load_run", "load_runs", "primary_metric"]

_OPTIONAL = ("robustness.csv", "transfer_matrix.csv", "transfer_summary.csv", "mitigations.csv")


def primary_metric(kind: str) -> str:
    """The primary metric of a task kind (accuracy for kinds this version does not know)."""
    from bench.scoring.metrics import PRIMARY_METRIC

    return PRIMARY_METRIC.get(kind, "accuracy")


@dataclass(frozen=True)
class TaskView:
    """What the figures need to know about one task of a run.

    ``in_domain`` is empty under a protocol that trains no model on it
    (:data:`UNTRAINED_PROTOCOLS`). ``groups`` maps a domain to its group (e.g. an MMLU subject to its category); empty
    when the suite has none. ``chance`` is the accuracy of guessing (NaN when undefined).
    """

    suite: str
    task: str
    kind: str
    metric: str
    domains: tuple[str, ...]
    in_domain: tuple[str, ...]
    choices: tuple[str, ...]
    protocol: str
    groups: dict[str, str] = field(default_factory=dict)
    chance: float = float("nan")

    @property
    def key(self) -> str:
        """``suite/task``."""
        return f"{self.suite}/{self.task}"


@dataclass(frozen=True)
class RunData:
    """The tables of a run folder (empty frames for optional files that are absent)."""

    path: Path
    meta: dict[str, Any]
    records: pd.DataFrame
    metrics: pd.DataFrame
    gaps: pd.DataFrame
    extra: dict[str, pd.DataFrame]
    tasks: tuple[TaskView, ...]

    @property
    def run_id(self) -> str:
        """The run's id from ``run.json``."""
        return str(self.meta.get("run_id", self.path.name))

    def table(self, name: str) -> pd.DataFrame:
        """An optional table such as ``robustness.csv`` (empty when the run has none)."""
        return self.extra.get(name, pd.DataFrame())

    def part(self, frame: pd.DataFrame, view: TaskView) -> pd.DataFrame:
        """The rows of ``frame`` that belong to ``view``'s suite and task."""
        if frame.empty or "suite" not in frame or "task" not in frame:
            return frame.iloc[0:0]
        return frame[(frame["suite"] == view.suite) & (frame["task"] == view.task)]


def _csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype={"example_id": str, "domain": str, "domain_a": str, "domain_b": str})
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"Cannot read {path}: {exc}.") from exc
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def _groups(meta: dict[str, Any], suite: str, raw: dict[str, Any]) -> dict[str, str]:
    found = raw.get("domain_groups")
    for entry in meta.get("suites", []):
        if entry.get("name") == suite and not found:
            found = entry.get("domain_groups")
    if isinstance(found, dict) and found and all(isinstance(v, str) for v in found.values()):
        return {str(k): v for k, v in found.items()}
    if isinstance(found, dict):  # group -> [domains]
        return {str(d): str(g) for g, members in found.items() for d in members}
    return {}


def _chance(records: pd.DataFrame, suite: str, task: str, choices: tuple[str, ...]) -> float:
    probs = [c for c in records.columns if c.startswith("prob_")]
    part = records[(records["suite"] == suite) & (records["task"] == task)] if len(records) else records
    if probs and len(part):
        k = part[probs].notna().sum(axis=1)
        k = k[k > 0]
        if len(k):
            return float((1.0 / k).mean())
    return 1.0 / len(choices) if choices else float("nan")


def fold_models(records: pd.DataFrame) -> pd.DataFrame:
    """``records`` with ``model`` renamed ``<model>@<fold>`` where one model was tested on
    a domain in several folds (leave-one-domain-out, transfer matrix), the names that
    ``metrics.csv`` and ``gaps.csv`` use (:mod:`bench.scoring.tables` groups them so)."""
    if records.empty or "fold" not in records.columns:
        return records
    names = records["model"].astype(str).copy()
    for _, frame in records.groupby(["model", "suite", "task"], sort=False):
        if frame["fold"].nunique() > 1 and frame.groupby("domain")["fold"].nunique().max() > 1:
            names.loc[frame.index] = frame["model"].astype(str) + "@" + frame["fold"].astype(str)
    return records.assign(model=names)


UNTRAINED_PROTOCOLS = frozenset({"zero_shot", "leave_one_domain_out"})
"""Protocols under which no model is trained on a suite-wide in-domain set: a view of
such a run has an empty ``in_domain`` (no domain is marked "(ID) = trained on")."""


def _views(meta: dict[str, Any], records: pd.DataFrame) -> tuple[TaskView, ...]:
    protocols = {s.get("name"): s.get("protocol", "") for s in meta.get("suites", [])}
    views = []
    for key, raw in meta.get("tasks", {}).items():
        suite, _, task = key.partition("/")
        kind = str(raw.get("kind", ""))
        choices = tuple(raw.get("choices", ()))
        chance = _chance(records, suite, task, choices) if kind in ("classification", "multiple_choice") \
            else float("nan")
        protocol = str(meta.get("config", {}).get("protocol") or protocols.get(suite) or "")
        in_domain = () if protocol.lower() in UNTRAINED_PROTOCOLS else tuple(raw.get("in_domain", ()))
        views.append(TaskView(suite, task, kind, str(raw.get("primary_metric") or primary_metric(kind)),
                              tuple(raw.get("domains", ())), in_domain, choices, protocol,
                              _groups(meta, suite, raw), chance))
    return tuple(views)


def load_run(run_dir: str | Path) -> RunData:
    """Read a run folder: ``run.json``, records, metrics, gaps and the optional tables.

    Raises
    ------
    DataError
        When ``run.json``, ``records.csv.gz``, ``metrics.csv`` or ``gaps.csv`` is missing
        or unreadable, naming the folder and the file.
    """
    from bench.outputs import read_run

    path = Path(run_dir)
    meta, records = read_run(path)
    tables = {}
    for name in ("metrics.csv", "gaps.csv"):
        if not (path / name).is_file():
            raise DataError(f"{path} is not a complete run folder: {name} is missing.")
        tables[name] = _csv(path / name)
    extra = {name: _csv(path / name) for name in _OPTIONAL if (path / name).is_file()}
    return RunData(path, meta, fold_models(records), tables["metrics.csv"], tables["gaps.csv"], extra, _views(meta, records))


def load_runs(run_dirs: Sequence[str | Path]) -> list[RunData]:
    """:func:`load_run` of each folder, in order."""
    if not run_dirs:
        raise DataError("No run folder given.")
    return [load_run(d) for d in run_dirs]
