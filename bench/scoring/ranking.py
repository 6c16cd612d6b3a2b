"""Metrics that are not functions of summed per-example components: AUROC first.

Every metric of :mod:`bench.scoring.metrics` is :math:`f(\\sum_i c_i)`, which makes
resampling cheap but cannot hold a rank statistic exactly. This module is the path for
such statistics: a resample is a vector of per-example *counts* (how often each example
was drawn) and the statistic is computed on the weighted examples.

The area under the ROC curve of scores :math:`s` against binary labels :math:`y`, with
example weights :math:`w` (all 1 for the observed data), is the Mann–Whitney statistic

.. math:: \\mathrm{AUROC} = \\frac{\\sum_{i: y_i = 1} \\sum_{j: y_j = 0} w_i w_j
          \\big(1[s_i > s_j] + \\tfrac12 1[s_i = s_j]\\big)}{\\sum_{y_i = 1} w_i \\, \\sum_{y_j = 0} w_j},

computed from the scores sorted once, in :math:`O(B \\cdot n)` for ``B`` resamples. It is
NaN where a group has no example of one class.

:func:`ranking_tables` gives the rows of ``metrics.csv`` and ``gaps.csv`` for such a
metric: each domain's value and ``ALL`` with a percentile interval from the domain-stratified
bootstrap (each domain resampled on its own, as :class:`~bench.scoring.bootstrap.StratifiedBootstrap`
does, from child ``s`` of ``rng.spawn(S)``), and the ``id_ood`` gaps (the in-domain set
against each out-of-domain domain and the pooled ``OOD``), each with a percentile interval
from the same resamples and a permutation p-value (domain labels exchanged between the
two sets; Holm-adjusted over the model's gaps). It is not yet part of ``bench run``'s
tables: :func:`bench.scoring.tables.score_tables` scores the component metrics only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from bench.errors import StatisticsError
from bench.scoring.bootstrap import make_rng
from bench.scoring.gaps import POOLED_OOD, holm
from bench.scoring.options import StatisticsOptions
from bench.scoring.tables import GAP_COLUMNS, METRIC_COLUMNS, POOLED, fold_in_domain, task_columns
from bench.seeding import seed_hash
from bench.suites.info import TaskInfo
from bench.suites.kinds import kind_of

__all__ = ["AUROC", "RANKING_GAP_COLUMNS", "RANKING_METRIC_COLUMNS", "RankingMetric", "auroc", "ranking_tables",
           "weighted_auroc"]

RANKING_METRIC_COLUMNS = [*METRIC_COLUMNS, "ci_method"]
RANKING_GAP_COLUMNS = [*GAP_COLUMNS, "n_a", "n_b", "ci_method"]
_CHUNK = 2_000_000
"""Bound on the counts drawn at once (resamples × examples)."""


def weighted_auroc(labels: np.ndarray, scores: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """AUROC (see the module docstring) of each row of example weights ``counts``.

    Parameters
    ----------
    labels
        ``(n,)``, 1 for a positive example, 0 for a negative one.
    scores
        ``(n,)``, higher meaning more likely positive.
    counts
        ``(B, n)`` non-negative weights (bootstrap draw counts).

    Returns
    -------
    numpy.ndarray
        ``(B,)``; NaN where a row gives one class no weight.
    """
    order = np.argsort(scores, kind="stable")
    sorted_scores = np.asarray(scores, dtype=np.float64)[order]
    positive = np.asarray(labels, dtype=np.float64)[order]
    weights = np.asarray(counts, dtype=np.float64)[:, order]
    if len(sorted_scores) == 0:
        return np.full(len(weights), math.nan)
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])  # one group per tied score
    pos = np.add.reduceat(weights * positive, starts, axis=1)
    neg = np.add.reduceat(weights * (1 - positive), starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg  # negative weight strictly below each score
    total = pos.sum(axis=1) * neg.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, (pos * (below + 0.5 * neg)).sum(axis=1) / np.where(total > 0, total, 1), np.nan)


def auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """AUROC of ``scores`` against binary ``labels`` (ties count one half; NaN with one class)."""
    return float(weighted_auroc(labels, scores, np.ones((1, len(labels))))[0])


@dataclass(frozen=True)
class RankingMetric:
    """A metric computed on (weighted) examples, not from summed components.

    Attributes
    ----------
    name, kind, higher_is_better, description
        As for :class:`~bench.scoring.metrics.Metric`.
    inputs
        Record columns → ``(labels, scores)``; raises :class:`StatisticsError` for a task
        the metric cannot score.
    weighted
        ``(labels, scores, counts (B, n)) → (B,)`` values.
    """

    name: str
    kind: str
    higher_is_better: bool
    inputs: Callable[[Mapping[str, np.ndarray], TaskInfo], tuple[np.ndarray, np.ndarray]]
    weighted: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
    description: str = ""


def _binary_inputs(columns: Mapping[str, np.ndarray], info: TaskInfo) -> tuple[np.ndarray, np.ndarray]:
    if not kind_of(info).has_label_choices or len(info.choices) != 2:
        raise StatisticsError(f"AUROC needs a binary classification task; got a {info.kind} task with "
                              f"{len(info.choices)} choices ({', '.join(info.choices)}).")
    target = np.asarray(columns["target"], dtype=np.int64)
    return (target == 1).astype(np.float64), np.asarray(columns["probs"], dtype=np.float64)[:, 1]


AUROC = RankingMetric("auroc", "classification", True, _binary_inputs, weighted_auroc,
                      "Area under the ROC curve of the second choice's probability (binary tasks).")


@dataclass
class _Strata:
    """One (model, suite, task)'s examples per domain, and their bootstrap draws."""

    domains: list[str]
    labels: list[np.ndarray]
    scores: list[np.ndarray]

    def joined(self, members: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        return (np.concatenate([self.labels[k] for k in members]),
                np.concatenate([self.scores[k] for k in members]))


def _draws(strata: _Strata, resamples: int, rng: np.random.Generator) -> Iterator[list[np.ndarray]]:
    """Chunks of per-domain bootstrap counts ``(r, n_s)``, domain ``s`` drawing from child ``s``."""
    children = rng.spawn(len(strata.domains))
    n = max(1, sum(len(x) for x in strata.labels))
    rows = max(1, _CHUNK // n)
    for start in range(0, resamples, rows):
        r = min(rows, resamples - start)
        chunk = []
        for child, labels in zip(children, strata.labels, strict=True):
            size = len(labels)
            idx = child.integers(0, max(size, 1), size=(r, size))
            flat = (idx + (np.arange(r) * size)[:, None]).ravel()
            chunk.append(np.bincount(flat, minlength=r * size).reshape(r, size) if size else np.zeros((r, 0)))
        yield chunk


def _distributions(metric: RankingMetric, strata: _Strata, sets: Sequence[Sequence[int]], resamples: int,
                   rng: np.random.Generator) -> list[np.ndarray]:
    """The metric of each set of domains on every resample, ``(B,)`` each."""
    out: list[list[np.ndarray]] = [[] for _ in sets]
    joined = [strata.joined(members) for members in sets]
    for chunk in _draws(strata, resamples, rng):
        for k, members in enumerate(sets):
            counts = np.concatenate([chunk[m] for m in members], axis=1)
            out[k].append(metric.weighted(*joined[k], counts))
    return [np.concatenate(parts) for parts in out]


def _percentile(draws: np.ndarray, level: float) -> tuple[float, float]:
    finite = draws[np.isfinite(draws)]
    if len(finite) == 0:
        return math.nan, math.nan
    low, high = np.quantile(finite, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def _permutation_p(metric: RankingMetric, strata: _Strata, a: Sequence[int], b: Sequence[int], observed: float,
                   permutations: int, rng: np.random.Generator) -> float:
    """Two-sided p-value of ``m(A) − m(B)``: the examples' set labels exchanged at random,
    :math:`p = (1 + \\#\\{|T^*| \\ge |T|\\}) / (1 + R)`."""
    if not math.isfinite(observed):
        return math.nan
    labels, scores = strata.joined([*a, *b])
    n_a = sum(len(strata.labels[k]) for k in a)
    n = len(labels)
    rows = max(1, _CHUNK // max(n, 1))
    hits = 0
    for start in range(0, permutations, rows):
        r = min(rows, permutations - start)
        in_a = rng.permuted(np.tile(np.arange(n) < n_a, (r, 1)), axis=1).astype(np.float64)
        t = metric.weighted(labels, scores, in_a) - metric.weighted(labels, scores, 1 - in_a)
        hits += int(np.sum(np.abs(t) >= abs(observed) * (1 - 1e-9) - 1e-12))
    return (1 + hits) / (1 + permutations)


def _model_rows(key: tuple[str, str, str], metric: RankingMetric, strata: _Strata, info: TaskInfo,
                options: StatisticsOptions) -> tuple[list[tuple], list[tuple]]:
    domains = strata.domains
    ids = [k for k, d in enumerate(domains) if d in info.in_domain]
    oods = [k for k, d in enumerate(domains) if d not in info.in_domain]
    singles = [[k] for k in range(len(domains))]
    sets = [*singles, list(range(len(domains))), *([ids, oods] if ids and oods else [])]
    values = [float(metric.weighted(*strata.joined(s), np.ones((1, sum(len(strata.labels[k]) for k in s))))[0])
              for s in sets]
    draws = _distributions(metric, strata, sets, options.resamples, make_rng(seed_hash(options.seed, *key, metric.name)))
    metric_rows = []
    for label, members, value, dist in zip([*domains, POOLED], sets, values, draws, strict=False):
        low, high = _percentile(dist, options.level) if math.isfinite(value) else (math.nan, math.nan)
        metric_rows.append((*key, label, metric.name, value, low, high, sum(len(strata.labels[k]) for k in members),
                            "percentile" if math.isfinite(value) else ""))
    if not (ids and oods):
        return metric_rows, []
    sign = 1.0 if metric.higher_is_better else -1.0
    gaps: list[list[object]] = []
    p_values: list[float] = []
    perm_rng = make_rng(seed_hash(options.seed, *key, metric.name, "permutation"))
    targets = [(domains[k], [k], draws[k], values[k]) for k in oods] + [(POOLED_OOD, oods, draws[-1], values[-1])]
    for label, members, dist, value in targets:
        gap = sign * (values[-2] - value)
        low, high = _percentile(sign * (draws[-2] - dist), options.level)
        p = _permutation_p(metric, strata, ids, members, gap * sign, options.permutations, perm_rng)
        p_values.append(p)
        gaps.append([*key, metric.name, "id_ood", "+".join(domains[k] for k in ids), label, gap, low, high, p,
                     math.nan, values[-2], value, sum(len(strata.labels[k]) for k in ids),
                     sum(len(strata.labels[k]) for k in members), "percentile"])
    for row, adjusted in zip(gaps, holm(p_values), strict=True):
        row[GAP_COLUMNS.index("p_adjusted")] = float(adjusted)
    return metric_rows, [tuple(g) for g in gaps]


def ranking_tables(records: pd.DataFrame, infos: Mapping[tuple[str, str], TaskInfo], metric: RankingMetric = AUROC,
                   options: StatisticsOptions | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(metrics, gaps)`` of a ranking metric for every (model, suite, task) of ``records``.

    ``metrics`` has :data:`RANKING_METRIC_COLUMNS` (each domain and ``ALL``), ``gaps``
    :data:`RANKING_GAP_COLUMNS` (kind ``id_ood``: each out-of-domain domain and ``OOD``;
    ``gap = m(ID) − m(B)``, sign-flipped for a lower-is-better metric). ``options``:
    ``resamples, level, seed, permutations`` (intervals are percentile intervals).

    Raises
    ------
    StatisticsError
        If a task has no description in ``infos``, or the metric cannot score it.
    """
    options = options or StatisticsOptions()
    metric_rows: list[tuple] = []
    gap_rows: list[tuple] = []
    for (model, suite, task), frame in records.groupby(["model", "suite", "task"], sort=False):
        if (suite, task) not in infos:
            raise StatisticsError(f"No task description for {suite}/{task} (records of model {model!r}).")
        info = replace(infos[(suite, task)], in_domain=fold_in_domain(frame, infos[(suite, task)]))
        labels, scores = metric.inputs(task_columns(frame, info), info)
        codes = frame["domain"].to_numpy()
        domains = [d for d in info.domains if np.any(codes == d)]
        strata = _Strata(domains, [labels[codes == d] for d in domains], [scores[codes == d] for d in domains])
        rows, gaps = _model_rows((str(model), str(suite), str(task)), metric, strata, info, options)
        metric_rows += rows
        gap_rows += gaps
    return (pd.DataFrame(metric_rows, columns=RANKING_METRIC_COLUMNS),
            pd.DataFrame(gap_rows, columns=RANKING_GAP_COLUMNS))
