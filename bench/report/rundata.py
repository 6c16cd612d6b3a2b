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
from bench.suites.kinds import known_kind

__all__ = ["RunData", "TaskView", "fold_models", "load_run", "load_runs", "primary_metric"]

_OPTIONAL = ("robustness.csv", "transfer_matrix.csv", "transfer_summary.csv", "mitigations.csv")


def primary_metric(kind: str) -> str:
    """The primary metric of a task kind; empty for a kind this version does not know (a
    view then takes the first metric its rows have, see :func:`load_run`)."""
    found = known_kind(kind)
    return found.primary_metric if found else ""


@dataclass(frozen=True)
class TaskView:
    """What the figures need to know about one task of a run.

    ``in_domain`` is empty under a protocol that trains no model on it
    (:data:`UNTRAINED_PROTOCOLS`). ``groups`` maps a domain to its group (e.g. an MMLU
    subject to its category); empty when the suite has none. ``chance`` is the accuracy of
    guessing uniformly, the mean of ``1/k`` over the task's questions (``k``: ``n_options``,
    the ``prob_`` columns given, or the task's choices); NaN when undefined. Which metrics
    draw it is the registry's ``Metric.chance``.
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
    """The tables of a run folder (empty frames for optional files that are absent).

    ``problems``: one sentence per thing in the folder that could not be used as it is
    (a truncated ``gaps.csv``, a metric the registry does not know), for the report to
    show; what could be read is kept.
    """

    path: Path
    meta: dict[str, Any]
    records: pd.DataFrame
    metrics: pd.DataFrame
    gaps: pd.DataFrame
    extra: dict[str, pd.DataFrame]
    tasks: tuple[TaskView, ...]
    problems: tuple[str, ...] = ()
    cache: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)
    """Results computed from these tables once per report (e.g. paired comparisons)."""

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
    if "n_options" in part.columns and part["n_options"].notna().any():  # multiple choice: k per question
        k = part["n_options"].astype(float)
        return float((1.0 / k[k > 0]).mean())
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


def _first_metric(metrics: pd.DataFrame, suite: str, task: str) -> str:
    if metrics.empty or not {"suite", "task", "metric"} <= set(metrics.columns):
        return ""
    part = metrics[(metrics["suite"] == suite) & (metrics["task"] == task)]
    return str(part["metric"].iloc[0]) if len(part) else ""


UNTRAINED_PROTOCOLS = frozenset({"zero_shot", "leave_one_domain_out"})
"""Protocols under which no model is trained on a suite-wide in-domain set: a view of
such a run has an empty ``in_domain`` (no domain is marked "(ID) = trained on")."""


def _views(meta: dict[str, Any], records: pd.DataFrame, metrics: pd.DataFrame) -> tuple[TaskView, ...]:
    protocols = {s.get("name"): s.get("protocol", "") for s in meta.get("suites", [])}
    views = []
    for key, raw in meta.get("tasks", {}).items():
        suite, _, task = key.partition("/")
        kind = str(raw.get("kind", ""))
        choices = tuple(raw.get("choices", ()))
        known = known_kind(kind)
        chance = _chance(records, suite, task, choices) if known and known.has_chance else float("nan")
        metric = str(raw.get("primary_metric") or primary_metric(kind) or _first_metric(metrics, suite, task))
        protocol = str(meta.get("config", {}).get("protocol") or protocols.get(suite) or "")
        in_domain = () if protocol.lower() in UNTRAINED_PROTOCOLS else tuple(raw.get("in_domain", ()))
        views.append(TaskView(suite, task, kind, metric, tuple(raw.get("domains", ())), in_domain, choices, protocol,
                              _groups(meta, suite, raw), chance))
    return tuple(views)


def load_run(run_dir: str | Path) -> RunData:
    """Read a run folder: ``run.json``, records, metrics, gaps and the optional tables.

    Raises
    ------
    DataError
        When ``run.json``, ``records.csv.gz``, ``metrics.csv`` or ``gaps.csv`` is missing,
        or one of the first three is unreadable, naming the folder and the file. An
        unreadable or truncated ``gaps.csv`` and metrics the registry does not know are
        :attr:`RunData.problems` instead: the rest of the run is still read.
    """
    from bench.outputs import read_run

    path = Path(run_dir)
    meta, records = read_run(path)
    tables = {}
    for name in ("metrics.csv", "gaps.csv"):
        if not (path / name).is_file():
            raise DataError(f"{path} is not a complete run folder: {name} is missing.")
    problems: list[str] = []
    tables["metrics.csv"] = _csv(path / "metrics.csv")
    try:
        tables["gaps.csv"] = _csv(path / "gaps.csv")
    except DataError as exc:
        problems.append(f"{exc} The gap figures and tables of this run are left out.")
        tables["gaps.csv"] = pd.DataFrame(columns=list(GAP_REQUIRED))
    tables["gaps.csv"] = _complete_rows(path / "gaps.csv", tables["gaps.csv"], problems)
    extra = {name: _csv(path / name) for name in _OPTIONAL if (path / name).is_file()}
    views = _views(meta, records, tables["metrics.csv"])
    problems += _unknown_metrics(path, tables["metrics.csv"], views)
    return RunData(path, meta, fold_models(records), tables["metrics.csv"], tables["gaps.csv"], extra, views,
                   tuple(problems))


GAP_REQUIRED = ("model", "suite", "task", "metric", "kind", "domain_a", "domain_b", "gap", "ci_low", "ci_high")
"""The columns of ``gaps.csv`` that a figure cannot do without."""


def _complete_rows(path: Path, frame: pd.DataFrame, problems: list[str]) -> pd.DataFrame:
    """``frame`` without a last line cut short (a file that does not end in a newline),
    or empty when the header lacks :data:`GAP_REQUIRED`; each case adds a problem."""
    missing = [c for c in GAP_REQUIRED if c not in frame.columns]
    if frame.empty and not missing:
        return frame
    if missing:
        problems.append(f"{path} lacks the columns {', '.join(missing)} (truncated or not a gaps table): the gap "
                        "figures and tables of this run are left out.")
        return pd.DataFrame(columns=list(GAP_REQUIRED))
    with path.open("rb") as stream:
        stream.seek(-1, 2)
        cut = stream.read(1) != b"\n"
    if cut:
        problems.append(f"{path} is truncated (its last line is incomplete): the {len(frame) - 1} complete rows "
                        "are shown, the cut row is left out.")
        return frame.iloc[:-1]
    return frame


def _unknown_metrics(path: Path, metrics: pd.DataFrame, views: tuple[TaskView, ...]) -> list[str]:
    """One problem per task whose ``metrics.csv`` rows name metrics the registry does not
    know for the task's kind (e.g. an imported run)."""
    from bench.scoring.metrics import METRICS

    if metrics.empty or "metric" not in metrics.columns:
        return []
    known = set(METRICS.names())
    out = []
    for view in views:
        part = metrics[(metrics["suite"] == view.suite) & (metrics["task"] == view.task)]
        strange = [m for m in dict.fromkeys(part["metric"].astype(str)) if f"{view.kind}/{m}" not in known]
        if strange:
            out.append(f"{path / 'metrics.csv'}: {view.key} (kind {view.kind or 'not recorded'}) has metric "
                       f"{', '.join(repr(m) for m in strange)} that this version's metric registry does not know; "
                       "drawn without unit, direction or chance line.")
    return out


def load_runs(run_dirs: Sequence[str | Path]) -> list[RunData]:
    """:func:`load_run` of each folder, in order."""
    if not run_dirs:
        raise DataError("No run folder given.")
    return [load_run(d) for d in run_dirs]
