"""Plain-text tables for the terminal: per-domain values and gaps of a run."""

from __future__ import annotations

import math

import pandas as pd

from bench.scoring.metrics import PRIMARY_METRIC
from bench.scoring.tables import POOLED, POOLED_OOD, TaskInfo

__all__ = ["format_table", "summary_table"]


def _cell(value: float, low: float, high: float) -> str:
    if math.isnan(value):
        return "n/a"
    if math.isnan(low) or math.isnan(high):
        return f"{value:.3f}"
    return f"{value:.3f} [{low:.3f}, {high:.3f}]"


def summary_table(metrics: pd.DataFrame, gaps: pd.DataFrame, infos: dict[tuple[str, str], TaskInfo]) -> pd.DataFrame:
    """One row per (suite, task, model): the primary metric per domain (in-domain
    domains marked ``*``), pooled, and the in-domain vs out-of-domain gap."""
    rows = []
    for (suite, task, model), part in metrics.groupby(["suite", "task", "model"], sort=False):
        info = infos[(suite, task)]
        primary = PRIMARY_METRIC[info.kind]
        values = part[part["metric"] == primary].set_index("domain")
        row = {"suite": suite, "task": task, "model": model, "metric": primary}
        for domain in [*info.domains, POOLED]:
            if domain in values.index:
                v = values.loc[domain]
                label = f"{domain}*" if domain in info.in_domain else domain
                row[label] = _cell(v["value"], v["ci_low"], v["ci_high"])
        gap = gaps[(gaps["suite"] == suite) & (gaps["task"] == task) & (gaps["model"] == model)
                   & (gaps["metric"] == primary) & (gaps["domain_b"] == POOLED_OOD)]
        if len(gap):
            g = gap.iloc[0]
            row["gap ID→OOD"] = _cell(g["gap"], g["ci_low"], g["ci_high"])
        rows.append(row)
    return pd.DataFrame(rows).fillna("")


def format_table(table: pd.DataFrame) -> str:
    """Left-aligned text columns separated by two spaces, with a header rule."""
    if table.empty:
        return "(no rows)"
    cells = [list(map(str, table.columns))] + [[str(v) for v in row] for row in table.to_numpy().tolist()]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
