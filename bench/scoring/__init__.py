"""Scoring: metrics, bootstrap intervals, cross-domain gaps, paired comparisons and
robustness across models, from per-example records."""

from __future__ import annotations

from bench.scoring.bootstrap import (
    BootstrapResult,
    StratifiedBootstrap,
    bootstrap_ratio,
    resample_sums,
)
from bench.scoring.gaps import (
    Gap,
    domain_gaps,
    domain_spread,
    holm,
    minimum_detectable_gap,
)
from bench.scoring.intervals import wilson_interval
from bench.scoring.metrics import (
    METRICS,
    PRIMARY_METRIC,
    CalibrationMetric,
    Metric,
    get_metric,
    metrics_for,
)
from bench.scoring.permutation import permutation_test
from bench.scoring.tables import (
    GAP_COLUMNS,
    METRIC_COLUMNS,
    ScoreTables,
    TaskInfo,
    gaps_table,
    metrics_table,
    score_tables,
)

__all__ = [
    "GAP_COLUMNS",
    "METRICS",
    "METRIC_COLUMNS",
    "PRIMARY_METRIC",
    "BootstrapResult",
    "CalibrationMetric",
    "Gap",
    "Metric",
    "ScoreTables",
    "StratifiedBootstrap",
    "TaskInfo",
    "bootstrap_ratio",
    "domain_gaps",
    "domain_spread",
    "gaps_table",
    "get_metric",
    "holm",
    "metrics_for",
    "metrics_table",
    "minimum_detectable_gap",
    "permutation_test",
    "resample_sums",
    "score_tables",
    "wilson_interval",
]
