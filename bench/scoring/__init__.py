"""Scoring: metrics, bootstrap intervals, cross-domain gaps, paired comparisons and
robustness across models, from per-example records.

Names are imported on first use (PEP 562 ``__getattr__``, as in :mod:`bench`): importing
``bench.scoring.metrics`` or ``bench.scoring.options`` (``bench list``, the CLI's parser)
loads no scipy; :mod:`bench.scoring.bootstrap` and what builds on it do.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_LAZY: dict[str, str] = {
    **dict.fromkeys(("BootstrapResult", "StratifiedBootstrap", "bootstrap_ratio", "resample_sums"), "bootstrap"),
    **dict.fromkeys(("Gap", "domain_gaps", "domain_spread", "holm", "minimum_detectable_gap"), "gaps"),
    "wilson_interval": "intervals",
    **dict.fromkeys(("METRICS", "PRIMARY_METRIC", "CalibrationMetric", "Metric", "get_metric", "metrics_for"),
                    "metrics"),
    "permutation_test": "permutation",
    **dict.fromkeys(("GAP_COLUMNS", "METRIC_COLUMNS", "ScoreTables", "TaskInfo", "gaps_table", "metrics_table",
                     "score_tables"), "tables"),
}
"""Public name → the submodule of ``bench.scoring`` that defines it (``__all__`` lists the
same names; a test holds them equal)."""

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


def __getattr__(name: str) -> Any:
    """Import a public name on first access and cache it in the package."""
    if name not in _LAZY:
        raise AttributeError(f"module 'bench.scoring' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"bench.scoring.{_LAZY[name]}"), name)
    globals()[name] = value
    return value
