"""The words of a report that name an interval, a level, a test or a threshold, built from
the rows that a figure or table draws (light: no matplotlib import).

Every row of ``metrics.csv`` and ``gaps.csv`` records the interval it got (``ci_method``)
and the settings it was computed with (``level``, ``stat_method``); ``bench compare``'s
rows record theirs (``ci_method``, ``level``, ``test``). A label says what those columns
hold, and says "mixed" with the values when the rows differ. A run's significance level
is :math:`\\alpha = 1 - \\text{level}`. Units, directions and chance levels come from the
metric registry (:mod:`bench.scoring.metrics`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

__all__ = [
    "METHOD_NAMES",
    "MetricFacts",
    "alpha_of",
    "gap_direction",
    "interval_label",
    "level_of",
    "metric_facts",
    "p_column",
    "significance_label",
    "significant",
]

METHOD_NAMES: dict[str, str] = {
    "wilson": "Wilson", "newcombe": "Newcombe", "studentized": "studentized bootstrap",
    "mover": "MOVER (studentized bootstrap)", "basic": "basic bootstrap",
    "BCa": "BCa bootstrap", "percentile": "percentile bootstrap",
    "BCa->percentile": "percentile bootstrap (BCa not computable)",
}
"""How each ``ci_method`` value is written in a label; other values are written as they are."""


def _distinct(rows: pd.DataFrame, column: str) -> list:
    if column not in rows.columns or rows.empty:
        return []
    return list(dict.fromkeys(v for v in rows[column].tolist() if not (isinstance(v, float) and math.isnan(v))))


def _percent(level: float) -> str:
    return f"{100 * float(level):g}%"


def level_of(rows: pd.DataFrame) -> float | None:
    """The one confidence level of ``rows`` (column ``level``); None when absent or mixed."""
    levels = _distinct(rows, "level")
    return float(levels[0]) if len(levels) == 1 else None


def alpha_of(rows: pd.DataFrame) -> float | None:
    """The significance level :math:`\\alpha = 1 - \\text{level}` of ``rows``; None when the
    rows do not record one level."""
    level = level_of(rows)
    return None if level is None else round(1.0 - level, 10)


def interval_label(rows: pd.DataFrame) -> str:
    """What the intervals of ``rows`` are, e.g. ``"95% Wilson interval"``, ``"90% percentile
    bootstrap interval"``; ``"95% intervals (mixed: Wilson, BCa bootstrap)"`` when the rows'
    methods differ; ``"intervals (mixed levels: 90%, 95%; …)"`` when their levels differ;
    ``"interval (method not recorded)"`` for rows without ``ci_method``."""
    methods = [METHOD_NAMES.get(str(m), str(m)) for m in _distinct(rows, "ci_method")]
    levels = _distinct(rows, "level")
    level = _percent(levels[0]) + " " if len(levels) == 1 else ""
    mixed_levels = f"mixed levels: {', '.join(_percent(v) for v in levels)}" if len(levels) > 1 else ""
    if not methods:
        return f"{level}interval (method not recorded{'; ' + mixed_levels if mixed_levels else ''})"
    if len(methods) == 1 and not mixed_levels:
        return f"{level}{methods[0]} interval"
    parts = [p for p in (mixed_levels, f"mixed: {', '.join(methods)}" if len(methods) > 1 else methods[0]) if p]
    return f"{level}intervals ({'; '.join(parts)})"


def p_column(rows: pd.DataFrame) -> str | None:
    """The p-value column a figure marks: ``p_adjusted`` (Holm within each family) when
    present, else ``p_value``; None when neither is."""
    return next((c for c in ("p_adjusted", "p_value") if c in rows.columns), None)


def significant(rows: pd.DataFrame) -> pd.Series:
    """Per row: its p-value (:func:`p_column`) is below its own :math:`1 - \\text{level}`
    (0.05 for rows without ``level``); False where the p-value is NaN."""
    column = p_column(rows)
    if column is None or rows.empty:
        return pd.Series(False, index=rows.index)
    alpha = 1.0 - rows["level"].astype(float).fillna(0.95) if "level" in rows.columns else 0.05
    return rows[column].astype(float) < alpha


def significance_label(rows: pd.DataFrame) -> str:
    """The threshold of :func:`significant` in words, e.g. ``"Holm-adjusted p < 0.1"``
    (``"Holm-adjusted p < 1 − level (mixed: 0.05, 0.1)"`` when levels differ)."""
    column = p_column(rows)
    name = {"p_adjusted": "Holm-adjusted p", "p_value": "p (unadjusted)"}.get(column or "", "p")
    levels = _distinct(rows, "level")
    if not levels:
        return f"{name} < 0.05"
    alphas = [f"{round(1 - float(v), 10):g}" for v in levels]
    return f"{name} < {alphas[0]}" if len(alphas) == 1 else f"{name} < 1 − level (mixed: {', '.join(alphas)})"


_DIRECTIONS = {
    "id_ood": "> 0: worse out of domain than in domain",
    "id_pooled": "> 0: worse out of domain than in domain",
    "domain_rest": "> 0: worse than the pooled rest",
    "group_rest": "> 0: worse than the pooled rest",
    "best_worst": "> 0: worse on the worst domain than on the best",
    "pairwise": "> 0: worse on domain_b than on domain_a",
}


def gap_direction(rows: pd.DataFrame) -> str:
    """What a positive gap of ``rows`` means, from their ``kind`` (and ``family``)."""
    keys = _distinct(rows, "family") or _distinct(rows, "kind")
    said = list(dict.fromkeys(_DIRECTIONS.get(str(k), "> 0: worse on domain_b") for k in keys))
    return "; ".join(said) if said else "> 0: worse on domain_b"


@dataclass(frozen=True)
class MetricFacts:
    """What the registry says of a metric of a task kind (``known`` False when it has no
    such metric: unit empty, direction unknown)."""

    name: str
    unit: str
    higher_is_better: bool | None
    chance: str
    known: bool

    def axis(self) -> str:
        """``name (unit)``, or the name alone when the unit is unknown."""
        return f"{self.name} ({self.unit})" if self.unit else self.name

    @property
    def direction(self) -> str:
        """``higher is better``, ``lower is better`` or ``direction unknown``."""
        if self.higher_is_better is None:
            return "direction unknown"
        return "higher is better" if self.higher_is_better else "lower is better"


def metric_facts(kind: str, metric: str) -> MetricFacts:
    """The registry's unit, direction and chance rule of ``metric`` for task kind ``kind``."""
    from bench.scoring.metrics import METRICS

    key = f"{kind}/{metric}"
    if key not in set(METRICS.names()):
        return MetricFacts(metric, "", None, "", False)
    found = METRICS.get(key)
    return MetricFacts(metric, found.unit, found.higher_is_better, found.chance, True)
