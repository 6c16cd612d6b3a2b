"""Scoring: metrics, intervals and cross-domain gaps from per-example records."""

from __future__ import annotations

from bench.scoring.intervals import wilson_interval
from bench.scoring.metrics import METRICS, PRIMARY_METRIC, Metric, metrics_for
from bench.scoring.tables import GAP_COLUMNS, METRIC_COLUMNS, TaskInfo, gaps_table, metrics_table

__all__ = [
    "GAP_COLUMNS",
    "METRICS",
    "METRIC_COLUMNS",
    "PRIMARY_METRIC",
    "Metric",
    "TaskInfo",
    "gaps_table",
    "metrics_for",
    "metrics_table",
    "wilson_interval",
]
