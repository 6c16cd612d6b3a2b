"""Tables across training folds and trials: the transfer matrix and the seed spread.

- :func:`transfer_matrix`: one cell per (training domains, test domain): the metric of
  the models trained on those domains, scored on that domain's test split. Under the
  ``transfer_matrix`` protocol the rows are single domains and the table is the
  domains × domains matrix (rows: trained on, columns: tested on).
- :func:`transfer_summary`: the diagonal (cells whose test domain was trained on)
  against the off-diagonal cells: ``gap = mean(diagonal) − mean(off-diagonal)`` for a
  higher-is-better metric, ``mean(off) − mean(diagonal)`` for a loss, so a positive gap
  means "worse on domains not trained on". Means are unweighted over cells.
- :func:`trials_table`: the spread over training seeds (``--trials N``): mean, standard
  deviation (``ddof = 1``), min and max of each metric and id-ood gap across trials.
  This is the uncertainty from *retraining* — a different quantity from the per-example
  bootstrap interval of ``metrics.csv``/``gaps.csv``, which is the uncertainty from the
  finite *test set* of one trained model (trial 0); both are reported side by side.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace

import numpy as np
import pandas as pd

from bench.scoring.metrics import metrics_for
from bench.scoring.tables import TaskInfo, fold_in_domain, model_keys, task_columns

__all__ = ["SUMMARY_COLUMNS", "TRIAL_COLUMNS", "transfer_matrix", "transfer_summary", "trials_table"]

SUMMARY_COLUMNS = ["model", "suite", "task", "metric", "diagonal", "off_diagonal", "gap", "n_diagonal",
                   "n_off_diagonal", "worst_train", "worst_test", "worst_value"]
TRIAL_COLUMNS = ["model", "suite", "task", "kind", "domain", "metric", "trials", "seed_mean", "seed_std", "seed_min",
                 "seed_max", "value_trial0", "example_ci_low", "example_ci_high"]


def _cells(records: pd.DataFrame, infos: Mapping[tuple[str, str], TaskInfo]) -> pd.DataFrame:
    rows = []
    keys = ["model", "suite", "task", "train_domains", "domain"]
    for (model, suite, task, train, domain), part in records.groupby(keys, sort=False):
        info = infos[(suite, task)]
        for metric in metrics_for(info.kind):
            value = metric.compute(task_columns(part, info), where=f"{model}/{suite}/{task}/{train}→{domain}")
            rows.append((model, suite, task, metric.name, train, domain, value, len(part),
                         domain in str(train).split("+"), metric.higher_is_better))
    return pd.DataFrame(rows, columns=["model", "suite", "task", "metric", "train_domain", "test_domain", "value",
                                       "n", "diagonal", "higher_is_better"])


def transfer_matrix(records: pd.DataFrame, infos: Mapping[tuple[str, str], TaskInfo]) -> pd.DataFrame:
    """The metric of each (training domains, test domain) cell, one row per training set.

    Parameters
    ----------
    records
        Per-example records with the ``train_domains`` column (one trial).
    infos
        :class:`TaskInfo` per ``(suite, task)``; its domain order orders the columns.

    Returns
    -------
    pandas.DataFrame
        Columns ``model, suite, task, metric, train_domain`` and one column per test
        domain (in the suite's order), holding the metric's value.
    """
    cells = _cells(records, infos)
    if cells.empty:
        return pd.DataFrame(columns=["model", "suite", "task", "metric", "train_domain"])
    order = list(dict.fromkeys(d for info in infos.values() for d in info.domains))
    wide = cells.pivot_table(index=["model", "suite", "task", "metric", "train_domain"], columns="test_domain",
                             values="value", aggfunc="first", sort=False)
    wide = wide[[d for d in order if d in wide.columns]].reset_index()
    wide.columns.name = None
    return wide


def transfer_summary(records: pd.DataFrame, infos: Mapping[tuple[str, str], TaskInfo]) -> pd.DataFrame:
    """Diagonal against off-diagonal cells of :func:`transfer_matrix`, per model, task and metric.

    ``worst_*`` names the off-diagonal cell with the worst value.
    """
    rows = []
    for (model, suite, task, metric), part in _cells(records, infos).groupby(["model", "suite", "task", "metric"],
                                                                             sort=False):
        diag, off = part[part["diagonal"]], part[~part["diagonal"]]
        higher = bool(part["higher_is_better"].iloc[0])
        d_mean = float(diag["value"].mean()) if len(diag) else math.nan
        o_mean = float(off["value"].mean()) if len(off) else math.nan
        gap = d_mean - o_mean if higher else o_mean - d_mean
        scored = off[off["value"].notna()]
        worst = scored.loc[scored["value"].idxmin() if higher else scored["value"].idxmax()] if len(scored) else None
        rows.append((model, suite, task, metric, d_mean, o_mean, gap, len(diag), len(off),
                     None if worst is None else worst["train_domain"], None if worst is None else worst["test_domain"],
                     math.nan if worst is None else float(worst["value"])))
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def _point_values(records: pd.DataFrame, info: TaskInfo, where: str) -> list[tuple[str, str, str, float]]:
    """``(kind, domain, metric, value)``: each domain, ``ALL`` and the pooled id-ood gap ``OOD``."""
    out = []
    in_frame = records[records["domain"].isin(info.in_domain)]
    ood_frame = records[records["domain"].isin(info.out_domain)]
    parts = [(d, records[records["domain"] == d]) for d in info.domains] + [("ALL", records)]
    for metric in metrics_for(info.kind):
        for domain, part in parts:
            if len(part):
                out.append(("metric", domain, metric.name, metric.compute(task_columns(part, info), where=where)))
        if len(in_frame) and len(ood_frame):
            m_in = metric.compute(task_columns(in_frame, info), where=where)
            m_out = metric.compute(task_columns(ood_frame, info), where=where)
            out.append(("id_ood_gap", "OOD", metric.name, m_in - m_out if metric.higher_is_better else m_out - m_in))
    return out


def _per_trial(records: pd.DataFrame, infos: Mapping[tuple[str, str], TaskInfo]) -> pd.DataFrame:
    rows = []
    keyed = records.assign(model=model_keys(records)) if len(records) else records  # model@fold per fold
    for (trial, model, suite, task), part in keyed.groupby(["trial", "model", "suite", "task"], sort=False):
        where = f"{model}/{suite}/{task}/trial{trial}"
        info = infos[(suite, task)]
        own = replace(info, in_domain=fold_in_domain(part, info))  # the fold's training domains
        for kind, domain, metric, value in _point_values(part, own, where):
            rows.append((model, suite, task, kind, domain, metric, value, trial))
    return pd.DataFrame(rows, columns=["model", "suite", "task", "kind", "domain", "metric", "value", "trial"])


def trials_table(records: pd.DataFrame, infos: Mapping[tuple[str, str], TaskInfo],
                 example_intervals: pd.DataFrame | None = None) -> pd.DataFrame:
    """Mean, std (ddof = 1), min and max across trials of every metric and pooled id-ood gap.

    Parameters
    ----------
    records
        Records of all trials (column ``trial``).
    infos
        :class:`TaskInfo` per ``(suite, task)``.
    example_intervals
        Optional tables with ``model, suite, task, domain, metric, value, ci_low, ci_high``
        (``metrics.csv``, and ``gaps.csv`` rows renamed likewise) of trial 0, whose
        per-example bootstrap intervals are put beside the seed spread.

    Returns
    -------
    pandas.DataFrame
        :data:`TRIAL_COLUMNS`; ``kind`` is ``metric`` (per domain and ``ALL``) or
        ``id_ood_gap`` (domain ``OOD``: in-domain minus pooled out-of-domain).
    """
    per = _per_trial(records, infos)
    keys = ["model", "suite", "task", "kind", "domain", "metric"]
    stats = per.groupby(keys, sort=False)["value"].agg(
        trials="count", seed_mean="mean", seed_std=lambda v: float(np.std(v, ddof=1)) if len(v) > 1 else math.nan,
        seed_min="min", seed_max="max").reset_index()
    first = per[per["trial"] == per["trial"].min()][[*keys, "value"]].rename(columns={"value": "value_trial0"})
    table = stats.merge(first, on=keys, how="left")
    if example_intervals is not None and len(example_intervals):
        ci = example_intervals[[*keys, "ci_low", "ci_high"]].rename(
            columns={"ci_low": "example_ci_low", "ci_high": "example_ci_high"})
        table = table.merge(ci, on=keys, how="left")
    else:
        table["example_ci_low"] = math.nan
        table["example_ci_high"] = math.nan
    return table[TRIAL_COLUMNS]
