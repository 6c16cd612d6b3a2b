"""Figures of a run: per-domain values with intervals, and the gaps with theirs.

Each function returns a :class:`matplotlib.figure.Figure`; the caller saves or embeds it.
The non-interactive Agg backend is used, so no display is needed.
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

__all__ = ["domain_figure", "gap_figure"]


def _errors(values: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray | None:
    if np.isnan(low).all() or np.isnan(high).all():
        return None
    return np.clip(np.vstack([np.nan_to_num(values - low), np.nan_to_num(high - values)]), 0.0, None)


def domain_figure(metrics: pd.DataFrame, metric: str, domains: list[str], in_domain: list[str], title: str) -> Figure:
    """Grouped bars: ``metric`` per domain (x) for each model (bars), with interval whiskers.

    ``metrics`` holds the ``metrics.csv`` rows of one suite and task.
    """
    rows = metrics[(metrics["metric"] == metric) & metrics["domain"].isin(domains)]
    models = list(dict.fromkeys(rows["model"]))
    figure, axis = plt.subplots(figsize=(max(5.0, 1.4 * len(domains) + 1), 3.4), layout="constrained")
    width = 0.8 / max(len(models), 1)
    x = np.arange(len(domains))
    for i, model in enumerate(models):
        part = rows[rows["model"] == model].set_index("domain").reindex(domains)
        values = part["value"].to_numpy(dtype=float)
        errors = _errors(values, part["ci_low"].to_numpy(dtype=float), part["ci_high"].to_numpy(dtype=float))
        axis.bar(x + (i - (len(models) - 1) / 2) * width, values, width, yerr=errors, capsize=3, label=model)
    axis.set_xticks(x, [f"{d}*" if d in in_domain else d for d in domains])
    axis.set_ylabel(metric)
    axis.set_title(title)
    axis.legend(fontsize="small", ncols=min(len(models), 4))
    axis.grid(axis="y", alpha=0.3)
    return figure


def gap_figure(gaps: pd.DataFrame, metric: str, title: str) -> Figure:
    """Forest plot: each model's in-domain vs out-of-domain gap per domain, with intervals.

    Positive is worse out of domain; the dashed line marks no gap.
    """
    rows = gaps[(gaps["metric"] == metric) & (gaps["kind"] == "id_ood")].reset_index(drop=True)
    labels = [f"{m} · {d}" for m, d in zip(rows["model"], rows["domain_b"], strict=True)]
    figure, axis = plt.subplots(figsize=(6.0, 0.32 * len(rows) + 1.2), layout="constrained")
    y = np.arange(len(rows))[::-1]
    values = rows["gap"].to_numpy(dtype=float)
    errors = _errors(values, rows["ci_low"].to_numpy(dtype=float), rows["ci_high"].to_numpy(dtype=float))
    axis.errorbar(values, y, xerr=errors, fmt="o", capsize=3)
    axis.axvline(0.0, linestyle="--", color="grey")
    axis.set_yticks(y, labels, fontsize="small")
    axis.set_xlabel(f"gap in {metric} (positive = worse out of domain)")
    axis.set_title(title)
    if len(values) and not all(math.isnan(v) for v in values):
        axis.grid(axis="x", alpha=0.3)
    return figure
