"""From per-example records to the ``metrics.csv`` and ``gaps.csv`` tables.

Records are grouped by ``(model, suite, task)``; each group's task is described by a
:class:`TaskInfo` (kind, choices, domains, in-domain set), which ``run.json`` stores so
that ``bench score`` can recompute everything from the records alone.

For every metric of a group the per-example components are computed once, split by
domain, and resampled once (:class:`~bench.scoring.bootstrap.StratifiedBootstrap`);
the domain intervals, the pooled interval and every gap interval come from those same
resamples. Accuracy intervals are Wilson score intervals (closed form), as DESIGN.md
defines them; the other metrics get bootstrap intervals (BCa by default).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bench.errors import StatisticsError
from bench.scoring.bootstrap import StratifiedBootstrap, check_method, check_resamples
from bench.scoring.gaps import GAP_KINDS, POOLED_OOD, domain_gaps, domain_spread
from bench.scoring.intervals import check_level, wilson_interval
from bench.scoring.metrics import METRICS, Metric, metrics_for
from bench.seeding import seed_hash

__all__ = [
    "GAP_COLUMNS",
    "METRIC_COLUMNS",
    "POOLED",
    "POOLED_OOD",
    "SPREAD_COLUMNS",
    "ScoreOptions",
    "ScoreTables",
    "TaskInfo",
    "gaps_table",
    "metrics_table",
    "score_tables",
    "spread_table",
    "task_columns",
]

METRIC_COLUMNS = ["model", "suite", "task", "domain", "metric", "value", "ci_low", "ci_high", "n"]
GAP_COLUMNS = ["model", "suite", "task", "metric", "kind", "domain_a", "domain_b", "gap", "ci_low", "ci_high",
               "p_value", "p_adjusted", "value_a", "value_b"]
GAP_EXTRA_COLUMNS = ["n_a", "n_b", "relative_drop", "mdg"]
SPREAD_COLUMNS = ["model", "suite", "task", "metric", "worst_domain", "worst", "best_domain", "best",
                  "mean", "std", "range", "id_value", "ood_value", "relative_drop"]
POOLED = "ALL"

Progress = Callable[[int, str], AbstractContextManager[Callable[[int], None]]]
"""``progress(total, description)`` returns a context manager yielding ``advance(n)``."""


@contextlib.contextmanager
def _silent(total: int, description: str) -> Iterator[Callable[[int], None]]:
    yield lambda n: None


@dataclass(frozen=True)
class TaskInfo:
    """What scoring needs to know of a task: kind, choices and the suite's domains."""

    kind: str
    choices: tuple[str, ...]
    domains: tuple[str, ...]
    in_domain: tuple[str, ...]

    @property
    def out_domain(self) -> tuple[str, ...]:
        return tuple(d for d in self.domains if d not in self.in_domain)


@dataclass(frozen=True)
class ScoreOptions:
    """Options of the statistics (see :func:`score_tables`)."""

    resamples: int = 10_000
    level: float = 0.95
    seed: int = 0
    method: str = "BCa"
    permutations: int = 2_000
    kinds: tuple[str, ...] = GAP_KINDS

    def __post_init__(self) -> None:
        check_resamples(self.resamples, "resamples")
        check_level(self.level)
        check_method(self.method)
        check_resamples(self.permutations, "permutations")


@dataclass
class ScoreTables:
    """The tables of one scoring pass."""

    metrics: pd.DataFrame
    gaps: pd.DataFrame
    spread: pd.DataFrame = field(default_factory=pd.DataFrame)


class _Columns(Mapping[str, np.ndarray]):
    """Record columns as arrays, converted on first access (a metric reads two or three of
    them; converting the text columns of a million records costs seconds)."""

    def __init__(self, frame: pd.DataFrame, info: TaskInfo) -> None:
        self._frame, self._info = frame, info
        self._cache: dict[str, np.ndarray] = {}
        self._names = [*frame.columns, *(["probs"] if info.kind == "classification" else [])]

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._cache:
            if name == "probs" and self._info.kind == "classification":
                columns = [f"prob_{c}" for c in self._info.choices]
                self._cache[name] = self._frame[columns].to_numpy(dtype=np.float64)
            elif name in self._frame.columns:
                self._cache[name] = self._frame[name].to_numpy()
            else:
                raise KeyError(name)
        return self._cache[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def task_columns(frame: pd.DataFrame, info: TaskInfo) -> Mapping[str, np.ndarray]:
    """Record columns as arrays (converted when first read), plus ``probs`` (n, k) in the
    task's choice order."""
    return _Columns(frame, info)


def _groups(records: pd.DataFrame, infos: Mapping[tuple[str, str], TaskInfo]
            ) -> Iterator[tuple[tuple[str, str, str], pd.DataFrame, TaskInfo]]:
    if records.empty:
        return
    for (model, suite, task), frame in records.groupby(["model", "suite", "task"], sort=False):
        if (suite, task) not in infos:
            raise StatisticsError(f"No task description for {suite}/{task} (records of model {model!r}); "
                                  f"known: {', '.join(f'{s}/{t}' for s, t in infos) or 'none'}.")
        info = infos[(suite, task)]
        folds = frame["fold"].unique() if "fold" in frame.columns else []
        if len(folds) > 1 and frame.groupby("domain")["fold"].nunique().max() > 1:
            for fold, part in frame.groupby("fold", sort=False):  # one domain tested in several folds
                yield (f"{model}@{fold}", suite, task), part, info
        else:
            yield (model, suite, task), frame, info


def _strata(frame: pd.DataFrame, info: TaskInfo, metric: Metric) -> dict[str, np.ndarray]:
    """The metric's components of each domain present, in the suite's domain order."""
    parts = metric.components(task_columns(frame, info))
    rows = frame.groupby("domain", sort=False).indices  # one hashing pass, not a comparison per domain
    return {d: parts[rows[d]] for d in info.domains if d in rows}


def _metric_rows(key: tuple[str, str, str], metric: Metric, strata: dict[str, np.ndarray],
                 boot: StratifiedBootstrap, options: ScoreOptions) -> list[tuple]:
    names = list(strata)
    where = "/".join(key)
    values = [metric.value(strata[d], where=f"{where}/{d}") for d in names]
    pooled_parts = np.concatenate(list(strata.values()))
    values.append(metric.value(pooled_parts, where=f"{where}/{POOLED}"))
    sizes = [len(strata[d]) for d in names] + [len(pooled_parts)]
    if metric.name == "accuracy":
        bounds = [wilson_interval(float(np.sum(p[:, 0])), len(p), options.level) if len(p) else (math.nan, math.nan)
                  for p in [*strata.values(), pooled_parts]]
    else:
        result = boot.interval(lambda s: np.concatenate([metric.combine(s), metric.combine(s.sum(axis=-2))[..., None]],
                                                        axis=-1), level=options.level, method=options.method)
        bounds = list(zip(result.low, result.high, strict=True))
    rows = []
    for d, value, n, (low, high) in zip([*names, POOLED], values, sizes, bounds, strict=True):
        low, high = (low, high) if math.isfinite(value) else (math.nan, math.nan)
        rows.append((*key, d, metric.name, value, low, high, n))
    return rows


def _gap_rows(key: tuple[str, str, str], metric: Metric, strata: dict[str, np.ndarray], info: TaskInfo,
              boot: StratifiedBootstrap, options: ScoreOptions) -> list[tuple]:
    gaps = domain_gaps(strata, metric, in_domain=info.in_domain, resamples=options.resamples, level=options.level,
                       method=options.method, seed=seed_hash(options.seed, *key, metric.name, "permutation"),
                       permutations=options.permutations, kinds=options.kinds, where="/".join(key), bootstrap=boot)
    return [(*key, metric.name, g.kind, g.domain_a, g.domain_b, g.gap, g.ci_low, g.ci_high, g.p_value, g.p_adjusted,
             g.value_a, g.value_b, g.n_a, g.n_b, g.relative_drop, g.mdg) for g in gaps]


def score_tables(records: pd.DataFrame, infos: Mapping[tuple[str, str], TaskInfo], *, resamples: int = 10_000,
                 level: float = 0.95, seed: int = 0, method: str = "BCa", permutations: int = 2_000,
                 kinds: tuple[str, ...] = GAP_KINDS, metrics: bool = True, gaps: bool = True,
                 progress: Progress | None = None) -> ScoreTables:
    """``metrics.csv``, ``gaps.csv`` and the domain-spread table in one pass.

    Parameters
    ----------
    records
        Per-example records (the columns of ``records.csv.gz``).
    infos
        The :class:`TaskInfo` of each ``(suite, task)``.
    resamples
        Bootstrap resamples (at least 100).
    level
        Two-sided confidence level of every interval.
    seed
        Base seed; each (model, suite, task, metric) draws from
        ``seed_hash(seed, model, suite, task, metric)`` so that adding a model changes
        no other model's intervals.
    method
        Bootstrap interval method, ``"BCa"`` or ``"percentile"``.
    permutations
        Monte Carlo permutations drawn first per gap test (default 2,000: the Monte
        Carlo standard error of a p-value near 0.05 is then 0.005); more are drawn, up
        to ``10 m / (1 - level)`` for the ``m`` comparisons of a (model, task, metric),
        unless the p-value is clearly above ``1 - level``
        (:mod:`bench.scoring.permutation`). Exact tests (0/1 accuracy between two
        groups) need none.
    kinds
        Gap kinds to compute.
    metrics, gaps
        Which tables to compute (the other is returned empty, with its columns).
    progress
        ``progress(total, description)`` context manager yielding ``advance(n)``, called
        with the number of (model, suite, task, metric) groups.

    Raises
    ------
    StatisticsError
        For an invalid option, or records of a task that ``infos`` does not describe.
    """
    options = ScoreOptions(resamples, level, seed, method, permutations, tuple(kinds))
    metric_rows: list[tuple] = []
    gap_rows: list[tuple] = []
    groups = [(key, frame, info, metric) for key, frame, info in _groups(records, infos)
              for metric in metrics_for(info.kind)]
    with (progress or _silent)(len(groups), "statistics") as advance:
        for key, frame, info, metric in groups:
            strata = _strata(frame, info, metric)
            boot = StratifiedBootstrap(list(strata.values()), n_resamples=options.resamples,
                                       rng=seed_hash(options.seed, *key, metric.name))
            if metrics:
                metric_rows += _metric_rows(key, metric, strata, boot, options)
            if gaps:
                gap_rows += _gap_rows(key, metric, strata, info, boot, options)
            advance(1)
    metrics_frame = pd.DataFrame(metric_rows, columns=METRIC_COLUMNS)
    gaps_frame = pd.DataFrame(gap_rows, columns=GAP_COLUMNS + GAP_EXTRA_COLUMNS)
    return ScoreTables(metrics_frame, gaps_frame, spread_table(metrics_frame, gaps_frame) if metrics else pd.DataFrame())


def metrics_table(records: pd.DataFrame, infos: Mapping[tuple[str, str], TaskInfo], **options: Any) -> pd.DataFrame:
    """One row per ``(model, suite, task, domain, metric)``; domain ``ALL`` is pooled.

    Accuracy carries a Wilson interval; every other metric a stratified bootstrap
    interval (BCa by default). Keyword options as for :func:`score_tables`.
    """
    return score_tables(records, infos, gaps=False, **options).metrics


def gaps_table(records: pd.DataFrame, infos: Mapping[tuple[str, str], TaskInfo], **options: Any) -> pd.DataFrame:
    """One row per comparison (``id_ood``, ``pairwise``, ``best_worst``) with bootstrap CI,
    permutation p-value, Holm-adjusted p-value and, beyond the contract's columns,
    ``value_a, value_b, n_a, n_b, relative_drop, mdg`` (minimum detectable gap at 80% power).

    ``gap = m(A) − m(B)`` for higher-is-better metrics and ``m(B) − m(A)`` for losses, so a
    positive gap always means "worse on domain_b". Keyword options as for :func:`score_tables`.
    """
    return score_tables(records, infos, metrics=False, **options).gaps


def _higher_is_better(name: str) -> bool:
    return any(METRICS.get(key).higher_is_better for key in METRICS.names() if key.endswith(f"/{name}"))


def spread_table(metrics: pd.DataFrame, gaps: pd.DataFrame) -> pd.DataFrame:
    """Per ``(model, suite, task, metric)``: worst and best domain, mean, std (``ddof=0``)
    and range of the domain values, the in-domain and pooled out-of-domain values and the
    relative drop :math:`(m(ID) - m(OOD)) / m(ID)` (sign-adjusted for losses), from the
    two tables."""
    rows = []
    domains = metrics[metrics["domain"] != POOLED]
    pooled_ood = gaps[(gaps["kind"] == "id_ood")] if not gaps.empty else gaps
    for (model, suite, task, name), part in domains.groupby(["model", "suite", "task", "metric"], sort=False):
        higher = _higher_is_better(name)
        spread = domain_spread(dict(zip(part["domain"], part["value"], strict=True)), higher)
        match = pooled_ood[(pooled_ood["model"] == model) & (pooled_ood["suite"] == suite) & (pooled_ood["task"] == task)
                           & (pooled_ood["metric"] == name)] if not gaps.empty else pooled_ood
        ood = match[match["domain_b"] == POOLED_OOD]
        id_value, ood_value, drop = ((float(ood["value_a"].iloc[0]), float(ood["value_b"].iloc[0]),
                                      float(ood["relative_drop"].iloc[0])) if len(ood) == 1
                                     else (math.nan, math.nan, math.nan))
        rows.append((model, suite, task, name, spread.worst_domain, spread.worst, spread.best_domain, spread.best,
                     spread.mean, spread.std, spread.range, id_value, ood_value, drop))
    return pd.DataFrame(rows, columns=SPREAD_COLUMNS)
