"""From per-example records to the ``metrics.csv`` and ``gaps.csv`` tables.

Records are grouped by ``(model, suite, task)``; each group's task is described by a
:class:`TaskInfo` (kind, choices, in-domain set), which ``run.json`` stores so that
``bench score`` can recompute everything from the records alone.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bench.scoring.intervals import wilson_interval
from bench.scoring.metrics import Metric, metrics_for

__all__ = ["GAP_COLUMNS", "METRIC_COLUMNS", "TaskInfo", "gaps_table", "metrics_table", "task_columns"]

METRIC_COLUMNS = ["model", "suite", "task", "domain", "metric", "value", "ci_low", "ci_high", "n"]
GAP_COLUMNS = ["model", "suite", "task", "metric", "kind", "domain_a", "domain_b", "gap", "ci_low", "ci_high",
               "p_value", "p_adjusted", "value_a", "value_b"]
POOLED = "ALL"
POOLED_OOD = "OOD"


@dataclass(frozen=True)
class TaskInfo:
    """What scoring needs to know of a task: kind, choices and the suite's domains."""

    kind: str
    choices: tuple[str, ...]
    domains: tuple[str, ...]
    in_domain: tuple[str, ...]

    @property
    def out_domain(self) -> tuple[str, ...]:
        return tuple(d for d in self.domains if d not in self.in_domain)


def task_columns(frame: pd.DataFrame, info: TaskInfo) -> dict[str, np.ndarray]:
    """Record columns as arrays, plus ``probs`` (n, k) in the task's choice order."""
    columns = {name: frame[name].to_numpy() for name in frame.columns}
    if info.kind == "classification":
        columns["probs"] = frame[[f"prob_{c}" for c in info.choices]].to_numpy(dtype=np.float64)
    return columns


def _groups(records: pd.DataFrame, infos: Mapping[tuple[str, str], TaskInfo]) -> Iterator[tuple[tuple[str, str, str], pd.DataFrame, TaskInfo]]:
    for (model, suite, task), frame in records.groupby(["model", "suite", "task"], sort=False):
        yield (model, suite, task), frame, infos[(suite, task)]


def _domain_frames(frame: pd.DataFrame, info: TaskInfo) -> list[tuple[str, pd.DataFrame]]:
    by_domain = {d: f for d, f in frame.groupby("domain", sort=False)}
    present = [d for d in info.domains if d in by_domain]
    return [(d, by_domain[d]) for d in present] + [(POOLED, frame)]


def _metric_row(metric: Metric, frame: pd.DataFrame, info: TaskInfo, where: str) -> tuple[float, float, float]:
    columns = task_columns(frame, info)
    value = metric.compute(columns, where=where)
    if metric.name == "accuracy":
        low, high = wilson_interval(float(np.sum(columns["correct"])), len(frame))
        return value, low, high
    return value, math.nan, math.nan


def metrics_table(records: pd.DataFrame, infos: Mapping[tuple[str, str], TaskInfo]) -> pd.DataFrame:
    """One row per ``(model, suite, task, domain, metric)``; domain ``ALL`` is pooled.

    Accuracy carries a Wilson 95% interval; other metrics' intervals are NaN here.
    """
    rows = []
    for (model, suite, task), frame, info in _groups(records, infos):
        for domain, part in _domain_frames(frame, info):
            for metric in metrics_for(info.kind):
                where = f"{model}/{suite}/{task}/{domain}"
                value, low, high = _metric_row(metric, part, info, where)
                rows.append((model, suite, task, domain, metric.name, value, low, high, len(part)))
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)


def gaps_table(records: pd.DataFrame, infos: Mapping[tuple[str, str], TaskInfo]) -> pd.DataFrame:
    """``id_ood`` gap point estimates: the in-domain set against each out-of-domain
    domain and against all out-of-domain examples pooled (``domain_b = "OOD"``).

    Columns ``value_a`` and ``value_b`` hold the two metric values compared.
    ``gap = m(ID) − m(OOD)`` for higher-is-better metrics and ``m(OOD) − m(ID)`` for
    losses, so a positive gap always means "worse out of domain".
    """
    rows = []
    for (model, suite, task), frame, info in _groups(records, infos):
        in_frame = frame[frame["domain"].isin(info.in_domain)]
        targets = [(d, frame[frame["domain"] == d]) for d in info.out_domain]
        targets.append((POOLED_OOD, frame[frame["domain"].isin(info.out_domain)]))
        for metric in metrics_for(info.kind):
            m_in = metric.compute(task_columns(in_frame, info), where=f"{model}/{suite}/{task}/ID")
            for domain, part in targets:
                if part.empty:
                    continue
                m_out = metric.compute(task_columns(part, info), where=f"{model}/{suite}/{task}/{domain}")
                gap = m_in - m_out if metric.higher_is_better else m_out - m_in
                rows.append((model, suite, task, metric.name, "id_ood", "+".join(info.in_domain), domain, gap,
                             math.nan, math.nan, math.nan, math.nan, m_in, m_out))
    return pd.DataFrame(rows, columns=GAP_COLUMNS)
