"""Does a mitigation close the out-of-domain gap? The comparison behind ``bench mitigations``
(written by :func:`bench.pipeline.mitigation_tables`).

Every mitigation is scored on exactly the same test examples as its baseline
(``source-only``; ``source-only-minilm`` for ``finetuned-minilm``), so each comparison is
*paired*. For each (suite, task, metric) and each pair of models, :func:`compare_mitigations`
reports:

- each model's id-ood gap ``g = m(ID) − m(OOD)`` (sign-adjusted for losses: positive =
  worse out of domain), out-of-domain pooled, with its own stratified-bootstrap interval
  (from ``gaps.csv``);
- the **gap reduction** ``g(baseline) − g(mitigation)`` (positive: the mitigation closes
  part of the gap) with a paired, domain-stratified bootstrap interval and a paired
  permutation p-value (:func:`bench.scoring.compare.compare_models`, kind ``id_ood_gap``);
- ``closed = reduction / g(baseline)``, the fraction of the gap closed (NaN when the
  baseline has no gap);
- each model's pooled out-of-domain value and, for accuracy, the exact McNemar test on
  the paired out-of-domain examples (does the mitigation change OOD accuracy at all?).

A gap can shrink because OOD quality rises *or* because ID quality falls; read the
reduction beside the OOD values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from bench.adapters import MODELS, baseline_of
from bench.registry import View
from bench.scoring.metrics import get_metric
from bench.scoring.options import StatisticsOptions
from bench.suites.info import TaskInfo

__all__ = [
    "BASELINE_OF",
    "MITIGATION_COLUMNS",
    "MITIGATION_GROUP",
    "ComparisonOptions",
    "compare_mitigations",
    "mitigation_pairs",
]

MITIGATION_GROUP = "mitigations"
"""The model group ``bench mitigations`` runs: ``source-only``, ``augmented``, ``multitask``,
``finetuned``, and ``source-only-minilm`` with ``finetuned-minilm`` where the encoder is installed."""

BASELINE_OF: Mapping[str, str] = View(lambda: {e.name: e.facts["baseline"] for e in MODELS.having("baseline")})
"""A registered mitigation's baseline (``source-only``, ``source-only-minilm`` for
``finetuned-minilm``), from its model entry's ``baseline`` fact."""

MITIGATION_COLUMNS = [
    "suite", "task", "metric", "ood_domain", "baseline", "model",
    "gap_baseline", "gap_baseline_ci_low", "gap_baseline_ci_high",
    "gap_model", "gap_model_ci_low", "gap_model_ci_high",
    "gap_reduction", "reduction_ci_low", "reduction_ci_high", "reduction_p", "closed",
    "ood_baseline", "ood_model", "ood_p", "ood_test", "n",
]


ComparisonOptions = StatisticsOptions
"""The statistics settings of the paired comparisons: the one options class that ``bench run``,
``score``, ``compare`` and ``mitigations`` share (see :func:`~bench.scoring.compare.compare_models`)."""


def mitigation_pairs(models: Sequence[str], baseline: str = "source-only") -> list[tuple[str, str]]:
    """``(baseline, mitigation)`` for each model in ``models`` that has its baseline there too
    (a model spec's baseline is :func:`~bench.adapters.baseline_of`'s: ``lm-finetuned?epochs=2``
    is paired with ``smollm2-135m``)."""
    present = set(models)
    pairs = []
    for model in models:
        base = baseline_of(model) or baseline
        if model != base and model not in BASELINE_OF.values() and base in present:
            pairs.append((base, model))
    return pairs


def _own_gaps(gaps: pd.DataFrame) -> dict[tuple, tuple[float, float, float]]:
    rows = gaps[gaps["kind"] == "id_ood"]
    return {(r.model, r.suite, r.task, r.metric, r.domain_b): (r.gap, r.ci_low, r.ci_high)
            for r in rows.itertuples(index=False)}


def _ood_accuracy_test(records: pd.DataFrame, infos: Mapping[tuple[str, str], TaskInfo], pair: tuple[str, str],
                       suite: str, task: str) -> tuple[float, str]:
    """The exact McNemar test on the paired examples of every out-of-domain domain pooled."""
    from bench.scoring.compare import mcnemar_exact, pair_records

    info = infos[(suite, task)]
    part = records[(records["suite"] == suite) & (records["task"] == task) & records["domain"].isin(info.out_domain)]
    a, b = pair_records(part, *pair)
    return mcnemar_exact(a["correct"].to_numpy(), b["correct"].to_numpy()).p_value, "mcnemar_exact"


def _domain_values(table: pd.DataFrame) -> dict[tuple, tuple[float, float, float, str]]:
    """``(suite, task, metric, domain) → (value_a, value_b, p_value, test)`` from the
    ``metric`` rows of :func:`~bench.scoring.compare.compare_models` (one domain each)."""
    rows = table[table["kind"] == "metric"]
    return {(r.suite, r.task, r.metric, r.domain_a): (r.value_a, r.value_b, r.p_value, r.test)
            for r in rows.itertuples(index=False)}


def _ood_columns(records: pd.DataFrame, infos: Mapping[tuple[str, str], TaskInfo], pair: tuple[str, str],
                 domains: Mapping[tuple, tuple[float, float, float, str]], r: Any) -> tuple[float, float, float, str]:
    """``ood_baseline, ood_model, ood_p, ood_test`` of one gap row: a single domain's are the
    comparison's own domain rows; the pooled ``OOD`` ones are computed here."""
    paired = get_metric(infos[(r.suite, r.task)].kind, r.metric).paired_test == "mcnemar"
    if r.domain_b != "OOD":
        value_a, value_b, p, test = domains[(r.suite, r.task, r.metric, r.domain_b)]
        return (value_a, value_b, p, test) if paired else (value_a, value_b, math.nan, "")
    ood_a, ood_b = _ood_values(records, infos, pair, r.suite, r.task, r.metric)
    p, test = _ood_accuracy_test(records, infos, pair, r.suite, r.task) if paired else (math.nan, "")
    return ood_a, ood_b, p, test


def _pair_rows(records: pd.DataFrame, infos: Mapping[tuple[str, str], TaskInfo], own: Mapping[tuple, tuple],
               pair: tuple[str, str], options: ComparisonOptions) -> list[tuple]:
    from bench.scoring.compare import compare_models

    table = compare_models(records, infos, *pair, options=options)
    domains = _domain_values(table)
    rows = []
    for r in table[table["kind"] == "id_ood_gap"].itertuples(index=False):
        base = own.get((pair[0], r.suite, r.task, r.metric, r.domain_b), (math.nan,) * 3)
        mine = own.get((pair[1], r.suite, r.task, r.metric, r.domain_b), (math.nan,) * 3)
        closed = r.difference / r.value_a if r.value_a and math.isfinite(r.value_a) and r.value_a > 0 else math.nan
        ood_a, ood_b, p, test = _ood_columns(records, infos, pair, domains, r)
        rows.append((r.suite, r.task, r.metric, r.domain_b, *pair, r.value_a, base[1], base[2], r.value_b, mine[1],
                     mine[2], r.difference, r.ci_low, r.ci_high, r.p_value, closed, ood_a, ood_b, p, test, r.n))
    return rows


def _ood_values(records: pd.DataFrame, infos: Mapping[tuple[str, str], TaskInfo], pair: tuple[str, str],
                suite: str, task: str, metric_name: str) -> tuple[float, float]:
    """Each model's value on every out-of-domain domain pooled."""
    from bench.scoring.metrics import metrics_for
    from bench.scoring.tables import task_columns

    info = infos[(suite, task)]
    metric = next(m for m in metrics_for(info.kind) if m.name == metric_name)
    part = records[(records["suite"] == suite) & (records["task"] == task) & records["domain"].isin(info.out_domain)]
    values = []
    for model in pair:
        frame = part[part["model"] == model]
        values.append(metric.compute(task_columns(frame, info), where=f"{model}/{suite}/{task}/OOD"))
    return values[0], values[1]


def compare_mitigations(records: pd.DataFrame, infos: Mapping[tuple[str, str], TaskInfo], gaps: pd.DataFrame,
                        pairs: Sequence[tuple[str, str]], options: ComparisonOptions | None = None) -> pd.DataFrame:
    """The gap of each mitigation against its baseline's, with intervals and paired tests.

    Parameters
    ----------
    records
        Per-example records of one trial under the ``id_ood`` protocol, holding every
        model of ``pairs`` scored on the same test examples.
    infos
        :class:`TaskInfo` per ``(suite, task)``.
    gaps
        The run's ``gaps.csv`` table (each model's own id-ood gaps and intervals).
    pairs
        ``(baseline, mitigation)`` model pairs, e.g. from :func:`mitigation_pairs`.
    options
        Resampling options.

    Returns
    -------
    pandas.DataFrame
        :data:`MITIGATION_COLUMNS`, one row per (suite, task, metric, out-of-domain
        domain or pooled ``OOD``, pair).
    """
    options = options or ComparisonOptions()
    own = _own_gaps(gaps)
    rows = []
    for pair in pairs:
        rows += _pair_rows(records, infos, own, pair, options)
    return pd.DataFrame(rows, columns=MITIGATION_COLUMNS)

