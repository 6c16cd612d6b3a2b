"""The terminal table of ``bench mitigations``: one line per mitigation and task."""

from __future__ import annotations

import math

import pandas as pd

__all__ = ["mitigation_summary"]


def _num(value: float, digits: int = 3) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _ci(value: float, low: float, high: float) -> str:
    if not all(v is not None and math.isfinite(v) for v in (low, high)):
        return _num(value)
    return f"{_num(value)} [{_num(low)}, {_num(high)}]"


def _p(value: float) -> str:
    return "—" if value is None or not math.isfinite(value) else (f"{value:.2g}" if value >= 1e-4 else "<1e-4")


def mitigation_summary(table: pd.DataFrame, metrics: tuple[str, ...] = ("accuracy", "mse")) -> pd.DataFrame:
    """The pooled out-of-domain rows of ``mitigations.csv`` for the primary metrics, as text.

    Columns: the two gaps with their bootstrap intervals, the gap reduction with its paired
    bootstrap interval and paired permutation p-value, the fraction of the gap closed,
    the pooled OOD values and (accuracy) the exact McNemar p-value.
    """
    rows = table[(table["ood_domain"] == "OOD") & table["metric"].isin(metrics)]
    out = []
    for r in rows.itertuples(index=False):
        out.append({
            "suite": r.suite, "task": r.task, "metric": r.metric, "mitigation": r.model, "vs": r.baseline,
            "gap vs": _ci(r.gap_baseline, r.gap_baseline_ci_low, r.gap_baseline_ci_high),
            "gap mitigation": _ci(r.gap_model, r.gap_model_ci_low, r.gap_model_ci_high),
            "reduction [95% CI]": _ci(r.gap_reduction, r.reduction_ci_low, r.reduction_ci_high),
            "p (perm.)": _p(r.reduction_p),
            "closed": "—" if not math.isfinite(r.closed) else f"{100 * r.closed:.0f}%",
            "OOD vs → mitigation": f"{_num(r.ood_baseline)} → {_num(r.ood_model)}",
            "p (McNemar)": _p(r.ood_p),
        })
    return pd.DataFrame(out)
