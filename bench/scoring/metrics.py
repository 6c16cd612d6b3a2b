"""Metrics from per-example records.

Every metric here is a *ratio of sums* over the examples of a group:

.. math:: m = \\frac{\\sum_i v_i}{\\sum_i w_i}

with per-example values :math:`v_i` and weights :math:`w_i` (1 unless stated). A mean
is the case :math:`w_i = 1`. Writing metrics this way gives grouped values, pooled values
and bootstrap resamples from the same two vectors.

=====================  ===================  ==========================================  ======
metric                 task kind            v_i / w_i                                   better
=====================  ===================  ==========================================  ======
``accuracy``           classification       1[argmax p = y] / 1                         higher
``cross_entropy``      classification       −ln p(y) (nats) / 1                         lower
``brier``              classification       Σ_k (p_k − 1[y = k])² / 1                   lower
``mse``                regression           (ŷ − y)² / 1                                lower
``mae``                regression           |ŷ − y| / 1                                 lower
``cross_entropy``      language_modeling    Σ token NLL (nats) / tokens → nats/token    lower
``bits_per_byte``      language_modeling    Σ token NLL / (ln 2) / UTF-8 bytes          lower
=====================  ===================  ==========================================  ======

A group with no examples (or zero total weight) has value NaN and raises
:class:`~bench.errors.EmptyDomainWarning`, never 0.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from bench.errors import EmptyDomainWarning
from bench.registry import Registry

__all__ = ["METRICS", "PRIMARY_METRIC", "Metric", "metrics_for"]

Columns = Mapping[str, np.ndarray]


@dataclass(frozen=True)
class Metric:
    """A ratio-of-sums metric over per-example records.

    Attributes
    ----------
    name
        Column name in ``metrics.csv``.
    kind
        The task kind it applies to.
    higher_is_better
        Direction; gaps are signed so that positive means "worse on domain_b".
    values, weights
        Per-example numerator and (optional) denominator from record columns.
    unit
        Unit of the value, for reports.
    """

    name: str
    kind: str
    higher_is_better: bool
    values: Callable[[Columns], np.ndarray]
    weights: Callable[[Columns], np.ndarray] | None = None
    unit: str = ""
    description: str = ""

    def parts(self, columns: Columns) -> tuple[np.ndarray, np.ndarray]:
        """Per-example ``(v, w)`` arrays, float64."""
        v = np.asarray(self.values(columns), dtype=np.float64)
        w = np.ones_like(v) if self.weights is None else np.asarray(self.weights(columns), dtype=np.float64)
        return v, w

    def compute(self, columns: Columns, *, where: str = "") -> float:
        """``Σv / Σw`` over the records in ``columns``; NaN with a warning when empty."""
        v, w = self.parts(columns)
        total = w.sum()
        if v.size == 0 or total == 0:
            warnings.warn(f"{self.name}{' for ' + where if where else ''}: no examples; value is NaN.",
                          EmptyDomainWarning, stacklevel=2)
            return math.nan
        return float(v.sum() / total)


def _col(name: str) -> Callable[[Columns], np.ndarray]:
    return lambda c: np.asarray(c[name], dtype=np.float64)


def _brier(columns: Columns) -> np.ndarray:
    probs = np.asarray(columns["probs"], dtype=np.float64)  # (n, k), in the task's choice order
    target = np.asarray(columns["target"], dtype=np.int64)
    onehot = np.zeros_like(probs)
    onehot[np.arange(len(target)), target] = 1.0
    return ((probs - onehot) ** 2).sum(axis=1)


METRICS: Registry[Metric] = Registry("metric")


def _add(metric: Metric) -> None:
    METRICS.add(f"{metric.kind}/{metric.name}", metric, description=metric.description)


_add(Metric("accuracy", "classification", True, _col("correct"), unit="fraction",
            description="Fraction of examples whose most probable choice is the target."))
_add(Metric("cross_entropy", "classification", False, _col("nll"), unit="nats",
            description="Mean −ln p(target), nats."))
_add(Metric("brier", "classification", False, _brier, description="Mean Σ_k (p_k − 1[y = k])²."))
_add(Metric("mse", "regression", False, _col("nll"), description="Mean squared error."))
_add(Metric("mae", "regression", False, lambda c: np.abs(_col("prediction")(c) - _col("target")(c)),
            description="Mean absolute error."))
_add(Metric("cross_entropy", "language_modeling", False, _col("nll"), _col("n_tokens"), unit="nats/token",
            description="Σ NLL / Σ tokens, nats per token."))
_add(Metric("bits_per_byte", "language_modeling", False, lambda c: _col("nll")(c) / math.log(2), _col("n_bytes"),
            unit="bits/byte", description="Σ NLL / (Σ UTF-8 bytes · ln 2)."))

PRIMARY_METRIC: dict[str, str] = {"classification": "accuracy", "regression": "mse", "language_modeling": "cross_entropy"}
"""The metric that ranks domains (worst domain) and models on a leaderboard, per kind."""


def metrics_for(kind: str) -> list[Metric]:
    """The metrics that apply to task ``kind``, primary first."""
    found = [METRICS.get(n) for n in METRICS.names() if n.startswith(f"{kind}/")]
    return sorted(found, key=lambda m: (m.name != PRIMARY_METRIC.get(kind), m.name))
