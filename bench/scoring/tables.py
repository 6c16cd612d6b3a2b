"""From per-example records to the ``metrics.csv`` and ``gaps.csv`` tables.

Records are grouped by ``(model, suite, task)``; each group's task is described by a
:class:`TaskInfo` (kind, choices, domains, in-domain set), which ``run.json`` stores so
that ``bench score`` can recompute everything from the records alone.

For every metric of a group the per-example components are computed once, split by
domain, and resampled once (:class:`~bench.scoring.bootstrap.StratifiedBootstrap`);
the domain intervals, the pooled interval and every gap interval come from those same
resamples. Each metric declares its intervals (``Metric.interval``, ``Metric.gap_interval``):
accuracy gets Wilson score intervals and Newcombe's hybrid score interval for its gaps (closed
forms), ratio metrics a studentized bootstrap for a domain's value (widened by the
Satterthwaite degrees of freedom of its variance) and MOVER of the two sides' studentized
intervals for their gaps, the calibration errors BCa; ``ci_method``
records what each row got (see ``docs/statistics.md`` for the coverage behind the choice).

Each (model, suite, task) group is one fitted model: under ``transfer_matrix`` the model
of each fold (``model@train=<d>``), with that fold's training domains as its in-domain set;
under ``leave_one_domain_out`` the held-out scores of all folds together, with no
in-domain set (each domain was scored by the model that did not see it).
"""

from __future__ import annotations

import contextlib
import functools
import math
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from bench.errors import EmptyDomainWarning, StatisticsError
from bench.scoring.bootstrap import StratifiedBootstrap
from bench.scoring.gaps import (
    FAMILIES,
    GROUP_PREFIX,
    POOLED_OOD,
    domain_gaps,
    domain_spread,
    pooled_statistics,
    ratio_intervals,
)
from bench.scoring.intervals import wilson_interval
from bench.scoring.metrics import METRICS, Metric, metrics_for
from bench.scoring.options import SETTING_COLUMNS, StatisticsOptions
from bench.seeding import seed_hash
from bench.suites.info import TaskInfo
from bench.suites.kinds import RecordShape, kind_of

__all__ = [
    "GAP_COLUMNS",
    "METRIC_COLUMNS",
    "POOLED",
    "POOLED_OOD",
    "SPREAD_COLUMNS",
    "ScoreOptions",
    "ScoreTables",
    "StatisticsOptions",
    "TaskInfo",
    "fold_in_domain",
    "gaps_table",
    "metrics_table",
    "model_keys",
    "score_tables",
    "spread_table",
    "task_columns",
]

METRIC_COLUMNS = ["model", "suite", "task", "domain", "metric", "value", "ci_low", "ci_high", "n"]
METRIC_EXTRA_COLUMNS = ["ci_method", "fold", "train_domains", *SETTING_COLUMNS]
GAP_COLUMNS = ["model", "suite", "task", "metric", "kind", "domain_a", "domain_b", "gap", "ci_low", "ci_high",
               "p_value", "p_adjusted", "value_a", "value_b"]
GAP_EXTRA_COLUMNS = ["n_a", "n_b", "relative_drop", "mdg", "ci_method", "missing", "family", "family_size", "p_method",
                     "fold",
                     *SETTING_COLUMNS]
SPREAD_COLUMNS = ["model", "suite", "task", "metric", "worst_domain", "worst", "best_domain", "best",
                  "mean", "std", "range", "id_value", "ood_value", "relative_drop"]
POOLED = "ALL"

ScoreOptions = StatisticsOptions
"""The former name of :class:`~bench.scoring.options.StatisticsOptions`."""

Progress = Callable[[int, str], AbstractContextManager[Callable[[int], None]]]
"""``progress(total, description)`` returns a context manager yielding ``advance(n)``."""


@contextlib.contextmanager
def _silent(total: int, description: str) -> Iterator[Callable[[int], None]]:
    yield lambda n: None


@dataclass
class ScoreTables:
    """The tables of one scoring pass."""

    metrics: pd.DataFrame
    gaps: pd.DataFrame

    @functools.cached_property
    def spread(self) -> pd.DataFrame:
        """:func:`spread_table` of the two tables, computed on first use (no file holds it,
        so a scoring pass does not compute it)."""
        return spread_table(self.metrics, self.gaps)


def _option_matrix(frame: pd.DataFrame, prefix: str) -> np.ndarray:
    """Columns ``<prefix>0, <prefix>1, …`` as an ``(n, K)`` float array (NaN-padded)."""
    k = 0
    while f"{prefix}{k}" in frame.columns:
        k += 1
    return frame[[f"{prefix}{j}" for j in range(k)]].to_numpy(dtype=np.float64)


def _option_softmax(logprob: np.ndarray) -> np.ndarray:
    """Softmax over each question's options of ``logprob`` (0 for padded, NaN, options)."""
    shifted = np.where(np.isnan(logprob), -np.inf, logprob)
    shifted = shifted - (shifted.max(axis=1, keepdims=True) if len(shifted) else 0.0)
    weights = np.exp(shifted)
    return weights / weights.sum(axis=1, keepdims=True) if len(weights) else weights


class _Columns(Mapping[str, np.ndarray]):
    """Record columns as arrays, converted on first access (a metric reads two or three of
    them; converting the text columns of a million records costs seconds).

    Derived columns: ``probs`` (n, k) in the task's choice order (classification), or the
    softmax over each question's options of ``logprob_k`` (multiple choice), and for
    multiple choice ``logprobs``, ``chars`` and ``bytes`` (n, K), NaN-padded."""

    _DERIVED = {RecordShape.LABEL_PROBABILITIES: ("probs",),
                RecordShape.OPTION_SCORES: ("probs", "logprobs", "chars", "bytes")}

    def __init__(self, frame: pd.DataFrame, info: TaskInfo) -> None:
        self._frame, self._info = frame, info
        self._shape = kind_of(info).record_shape
        self._cache: dict[str, np.ndarray] = {}
        self._names = [*frame.columns, *self._DERIVED.get(self._shape, ())]

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._cache:
            self._cache[name] = self._compute(name)
        return self._cache[name]

    def _compute(self, name: str) -> np.ndarray:
        shape, frame = self._shape, self._frame
        if name in self._DERIVED.get(shape, ()):
            if shape is RecordShape.LABEL_PROBABILITIES:
                return frame[[f"prob_{c}" for c in self._info.choices]].to_numpy(dtype=np.float64)
            if name == "probs":
                return _option_softmax(self["logprobs"])
            return _option_matrix(frame, {"logprobs": "logprob_", "chars": "chars_", "bytes": "bytes_"}[name])
        if name in frame.columns:
            return frame[name].to_numpy()
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def task_columns(frame: pd.DataFrame, info: TaskInfo) -> Mapping[str, np.ndarray]:
    """Record columns as arrays (converted when first read), plus the derived columns of
    :class:`_Columns` (``probs`` and, for multiple choice, the option matrices)."""
    return _Columns(frame, info)


def fold_in_domain(frame: pd.DataFrame, info: TaskInfo) -> tuple[str, ...]:
    """The in-domain set of the model that scored ``frame`` (records of one group).

    From the records' ``train_domains`` column (``"+"``-joined): one fold's records have
    its training domains; records pooled over several folds (leave-one-domain-out) count a
    domain in-domain only where its own fold trained on it, which is never. Without the
    column (records from elsewhere) the suite's ``in_domain``.
    """
    if "train_domains" not in frame.columns:
        return info.in_domain
    trained = frame["train_domains"].fillna("").astype(str)
    if trained.nunique() == 1:
        names = set(trained.iloc[0].split("+")) if trained.iloc[0] else set()
        return tuple(d for d in info.domains if d in names)
    own = [d in t.split("+") for d, t in zip(frame["domain"], trained, strict=True)]
    inside = frame.loc[own, "domain"].unique()
    return tuple(d for d in info.domains if d in inside)


def model_keys(frame: pd.DataFrame) -> np.ndarray:
    """The fitted model of each record: ``model``, or ``model@fold`` where a model's folds
    test the same domain (``transfer_matrix``), as the tables name them."""
    if "fold" not in frame.columns or frame.empty:
        return frame["model"].to_numpy()
    shared = frame.groupby(["model", "domain"])["fold"].nunique().groupby("model").max()
    split = set(shared[shared > 1].index)
    return np.array([f"{m}@{f}" if m in split else m for m, f in zip(frame["model"], frame["fold"], strict=True)],
                    dtype=object)


def _groups(records: pd.DataFrame, infos: Mapping[tuple[str, str], TaskInfo]
            ) -> Iterator[tuple[tuple[str, str, str], pd.DataFrame, TaskInfo]]:
    """Each scored model: ``(model[@fold], suite, task)``, its records and its TaskInfo with
    the fold's in-domain set."""
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
                yield (f"{model}@{fold}", suite, task), part, replace(info, in_domain=fold_in_domain(part, info))
        else:
            yield (model, suite, task), frame, replace(info, in_domain=fold_in_domain(frame, info))


def _moments(metric: Metric, options: StatisticsOptions) -> bool:
    """Whether the metric's strata carry second moments (for a studentized interval)."""
    wanted = {options.bootstrap_method(metric.interval), options.bootstrap_method(metric.gap_interval)}
    return metric.values is not None and bool({"studentized", "mover"} & wanted)


def _strata(frame: pd.DataFrame, info: TaskInfo, metric: Metric, moments: bool, where: str = ""
            ) -> dict[str, np.ndarray]:
    """The metric's components of every suite domain (empty where it has no records)."""
    columns = task_columns(frame, info)
    parts = metric.moment_components(columns) if moments else metric.components(columns)
    rows = frame.groupby("domain", sort=False).indices  # one hashing pass, not a comparison per domain
    empty = parts[:0]
    strata = {d: parts[rows[d]] if d in rows else empty for d in info.domains}
    return {d: _finite_rows(p, metric.name, where, d) for d, p in strata.items()}


def _finite_rows(parts: np.ndarray, name: str, where: str, domain: str) -> np.ndarray:
    """The rows of ``parts`` whose components are all finite; an example with a NaN (or
    infinite) value is left out with an :class:`~bench.errors.EmptyDomainWarning` that
    counts them, so that it neither turns its domain and ``ALL`` into NaN nor changes
    another domain's interval."""
    good = np.isfinite(parts).all(axis=1)
    if good.all():
        return parts
    warnings.warn(f"{name} for {where}/{domain}: {int((~good).sum())} of {len(parts)} examples have a non-finite "
                  "value (NaN or inf) and are left out of its value, interval and gaps.", EmptyDomainWarning,
                  stacklevel=3)
    return parts[good]


def _labels(frame: pd.DataFrame, column: str) -> str:
    """The distinct values of ``column`` (``;``-joined, in order of appearance)."""
    if column not in frame.columns:
        return ""
    return ";".join(str(v) for v in dict.fromkeys(frame[column].fillna("").astype(str)))


def _domain_labels(frame: pd.DataFrame, column: str) -> dict[str | None, str]:
    """:func:`_labels` of each domain's records, and of all of them (key ``None``), in one
    grouping pass."""
    out: dict[str | None, str] = {None: _labels(frame, column)}
    if column in frame.columns:
        texts = frame[column].fillna("").astype(str)
        for domain, values in texts.groupby(frame["domain"], sort=False):
            out[str(domain)] = ";".join(dict.fromkeys(values))
    return out


def _rows_of(info: TaskInfo, strata: dict[str, np.ndarray]) -> list[tuple[str, list[int]]]:
    """Each metrics row: its label and the positions (among non-empty strata) it pools."""
    position = {d: k for k, d in enumerate(d for d in strata if len(strata[d]))}
    rows = [(d, [position[d]] if d in position else []) for d in strata]
    rows += [(f"{GROUP_PREFIX}{g}", [position[d] for d in members if d in position])
             for g, members in info.groups.items()]
    rows.append((POOLED, list(position.values())))
    return rows


def _domain_values(key: tuple[str, str, str], metric: Metric, strata: dict[str, np.ndarray]) -> list[float]:
    """Each domain's value (NaN, with a warning, where it has too few examples): computed
    once for the metric rows and the gap rows."""
    where = "/".join(key)
    return [metric.value(strata[d], where=f"{where}/{d}") for d in strata]


def _metric_rows(key: tuple[str, str, str], metric: Metric, strata: dict[str, np.ndarray], info: TaskInfo,
                 frame: pd.DataFrame, boot: StratifiedBootstrap | None, options: StatisticsOptions,
                 domain_values: list[float]) -> list[tuple]:
    kept = [p for p in strata.values() if len(p)]
    labels = _rows_of(info, strata)
    values = list(domain_values)
    values += [_pooled_value(metric, [kept[k] for k in members]) for _, members in labels[len(strata):]]
    sizes = [sum(len(kept[k]) for k in members) for _, members in labels]
    bounds = _metric_bounds(metric, [members for _, members in labels], kept, boot, options)
    bounds = [_no_single_example(b, members, kept, f"{'/'.join(key)}/{label}", metric.name)
              for b, (label, members) in zip(bounds, labels, strict=True)]
    extras = options.columns()
    folds, trained = _domain_labels(frame, "fold"), _domain_labels(frame, "train_domains")
    rows = []
    for (label, _), value, n, (low, high, ci_method) in zip(labels, values, sizes, bounds, strict=True):
        finite = math.isfinite(value)
        low, high = (low, high) if finite else (math.nan, math.nan)
        domain = label if label in strata else None  # a group or ALL: the labels of every record
        rows.append((*key, label, metric.name, value, low, high, n, ci_method if finite else "",
                     folds.get(domain, ""), trained.get(domain, ""), *extras.values()))
    return rows


def _no_single_example(bound: tuple[float, float, str], members: list[int], kept: list[np.ndarray], where: str,
                       name: str) -> tuple[float, float, str]:
    """A bootstrap interval of a row whose domains have one example each is NaN, with an
    :class:`~bench.errors.EmptyDomainWarning`: a resample of one example is that example,
    so the interval would have zero width. Wilson's closed form is kept."""
    if bound[2] == "wilson" or not members or max(len(kept[k]) for k in members) >= 2:
        return bound
    warnings.warn(f"{name} for {where}: one example; no bootstrap interval (NaN), since a resample of one example "
                  "is that example.", EmptyDomainWarning, stacklevel=4)
    return math.nan, math.nan, ""


def _pooled_value(metric: Metric, parts: list[np.ndarray]) -> float:
    rows = np.concatenate(parts) if parts else np.zeros((0, 2))
    return float(metric.combine(rows.sum(axis=0))) if len(rows) >= metric.min_examples and len(rows) else math.nan


def _metric_bounds(metric: Metric, sets: list[list[int]], kept: list[np.ndarray], boot: StratifiedBootstrap | None,
                   options: StatisticsOptions) -> list[tuple[float, float, str]]:
    """``(low, high, ci_method)`` of each row pooling the strata ``sets``."""
    chosen = options.bootstrap_method(metric.interval)
    if chosen == "wilson" and _binary(kept):
        out = []
        for members in sets:
            parts = np.concatenate([kept[k] for k in members]) if members else np.zeros((0, 2))
            out.append((*wilson_interval(float(parts[:, 0].sum()), len(parts), options.level), "wilson"))
        return out
    if boot is None:
        return [(math.nan, math.nan, "")] * len(sets)
    if chosen in ("wilson", "newcombe", "mover"):
        chosen = "studentized"
    if chosen == "studentized" and kept[0].shape[1] < 5:
        chosen = "BCa"
    live = [k for k, members in enumerate(sets) if members]
    n_strata = len(kept)
    stat = pooled_statistics(metric, [sets[k] for k in live], n_strata)
    if chosen == "studentized":
        _, low, high = ratio_intervals(boot, kept, [sets[k] for k in live], metric, options.level)
        used = ["studentized"] * len(live)
    else:
        result = boot.interval(stat, level=options.level, method=chosen)
        used = result.methods()
        low, high = np.atleast_1d(result.low), np.atleast_1d(result.high)
    out = [(math.nan, math.nan, "")] * len(sets)
    for j, k in enumerate(live):
        out[k] = (float(low[j]), float(high[j]), used[j])
    return out


def _binary(kept: list[np.ndarray]) -> bool:
    rows = np.concatenate(kept) if kept else np.zeros((0, 2))
    return bool(np.all((rows[:, 1] == 1) & ((rows[:, 0] == 0) | (rows[:, 0] == 1))))


def _gap_rows(key: tuple[str, str, str], metric: Metric, strata: dict[str, np.ndarray], info: TaskInfo,
              frame: pd.DataFrame, boot: StratifiedBootstrap | None, options: StatisticsOptions,
              domain_values: list[float], advance: Callable[[int], None]) -> list[tuple]:
    # the domain values (and their warnings) are computed once, for both tables
    gaps = domain_gaps(strata, metric, in_domain=info.in_domain, groups=info.groups, resamples=options.resamples,
                       level=options.level, method=options.method,
                       seed=seed_hash(options.seed, *key, metric.name, "permutation"),
                       permutations=options.permutations, kinds=options.kinds, where="/".join(key),
                       bootstrap=boot, values=domain_values, advance=advance)
    fold, extras = _labels(frame, "fold"), options.columns()
    return [(*key, metric.name, g.kind, g.domain_a, g.domain_b, g.gap, g.ci_low, g.ci_high, g.p_value, g.p_adjusted,
             g.value_a, g.value_b, g.n_a, g.n_b, g.relative_drop, g.mdg, g.ci_method, g.missing, g.family,
             g.family_size, g.p_method, fold,
             *extras.values()) for g in gaps]


def score_tables(records: pd.DataFrame, infos: Mapping[tuple[str, str], TaskInfo], *,
                 options: StatisticsOptions | None = None, metrics: bool = True, gaps: bool = True,
                 progress: Progress | None = None) -> ScoreTables:
    """``metrics.csv``, ``gaps.csv`` and the domain-spread table in one pass.

    Parameters
    ----------
    records
        Per-example records (the columns of ``records.csv.gz``).
    infos
        The :class:`TaskInfo` of each ``(suite, task)``.
    options
        Every interval and test setting (default: ``StatisticsOptions()``):
        ``resamples``; ``level``; ``seed``, from which each (model, suite, task, metric)
        draws ``seed_hash(seed, model, suite, task, metric)`` so that adding a model
        changes no other model's intervals; ``method``, where ``"auto"`` gives each
        metric's declared interval (Wilson / Newcombe for accuracy, a studentized
        bootstrap for a ratio metric's domain values and MOVER of studentized ones for its gaps,
        BCa for the calibration errors, basic for the range and spread); ``permutations``,
        the Monte Carlo permutations drawn first per gap test (2,000: the Monte Carlo
        standard error of a p-value near 0.05 is then 0.005; more are drawn, up to
        ``10 m / (1 - level)`` for the ``m`` comparisons of a (model, task, metric),
        unless the p-value is clearly above ``1 - level``, see
        :mod:`bench.scoring.permutation`; exact tests need none); ``kinds``, the gap
        kinds to compute.
    metrics, gaps
        Which tables to compute (the other is returned empty, with its columns).
    progress
        ``progress(total, description)`` context manager yielding ``advance(n)``: one step
        for the metric rows of each (model, suite, task, metric) group, then one for each
        of its gap families (:data:`~bench.scoring.gaps.FAMILIES`).

    Every row carries ``ci_method`` and the settings (``level, resamples, permutations,
    stat_seed``); every metrics row its ``fold`` and ``train_domains``; every gap row the
    ``fold`` (``;``-joined when the model's domains come from several folds).

    Raises
    ------
    StatisticsError
        For an invalid option, or records of a task that ``infos`` does not describe.
    """
    options = options or StatisticsOptions()
    metric_rows: list[tuple] = []
    gap_rows: list[tuple] = []
    groups = [(key, frame, info, metric) for key, frame, info in _groups(records, infos)
              for metric in metrics_for(info.kind)]
    steps = 1 + (len(FAMILIES) if gaps else 0)  # a metric's rows, then each gap family
    with (progress or _silent)(len(groups) * steps, "statistics") as advance:
        for key, frame, info, metric in groups:
            strata = _strata(frame, info, metric, _moments(metric, options), "/".join(key))
            kept = [p for p in strata.values() if len(p)]
            boot = StratifiedBootstrap(kept, n_resamples=options.resamples,
                                       rng=seed_hash(options.seed, *key, metric.name)) if kept else None
            values = _domain_values(key, metric, strata)
            if metrics:
                metric_rows += _metric_rows(key, metric, strata, info, frame, boot, options, values)
            advance(1)
            if gaps:
                gap_rows += _gap_rows(key, metric, strata, info, frame, boot, options, values, advance)
    metrics_frame = pd.DataFrame(metric_rows, columns=METRIC_COLUMNS + METRIC_EXTRA_COLUMNS)
    gaps_frame = pd.DataFrame(gap_rows, columns=GAP_COLUMNS + GAP_EXTRA_COLUMNS)
    return ScoreTables(metrics_frame, gaps_frame)


def metrics_table(records: pd.DataFrame, infos: Mapping[tuple[str, str], TaskInfo],
                  options: StatisticsOptions | None = None) -> pd.DataFrame:
    """One row per ``(model, suite, task, domain, metric)``; domain ``ALL`` is pooled and
    ``group:<name>`` pools a domain group. A suite domain without records is a NaN row
    (with :class:`~bench.errors.EmptyDomainWarning`). ``options`` as for
    :func:`score_tables`.
    """
    return score_tables(records, infos, gaps=False, options=options).metrics


def gaps_table(records: pd.DataFrame, infos: Mapping[tuple[str, str], TaskInfo],
               options: StatisticsOptions | None = None) -> pd.DataFrame:
    """One row per comparison (see :mod:`bench.scoring.gaps` for the kinds) with interval,
    permutation p-value, Holm-adjusted p-value and, beyond the contract's columns,
    ``value_a, value_b, n_a, n_b, relative_drop, mdg`` (minimum detectable gap at 80%
    power), ``ci_method``, ``missing``, ``fold`` and the settings.

    ``gap = m(A) − m(B)`` for higher-is-better metrics and ``m(B) − m(A)`` for losses, so a
    positive gap always means "worse on domain_b". ``options`` as for :func:`score_tables`.
    """
    return score_tables(records, infos, metrics=False, options=options).gaps


def _higher_is_better(name: str) -> bool:
    return any(METRICS.get(key).higher_is_better for key in METRICS.names() if key.endswith(f"/{name}"))


def spread_table(metrics: pd.DataFrame, gaps: pd.DataFrame) -> pd.DataFrame:
    """Per ``(model, suite, task, metric)``: worst and best domain, mean, std (``ddof=0``)
    and range of the domain values, the in-domain and pooled out-of-domain values and the
    relative drop :math:`(m(ID) - m(OOD)) / m(ID)` (sign-adjusted for losses), from the
    two tables."""
    rows = []
    domains = metrics[(metrics["domain"] != POOLED) & ~metrics["domain"].astype(str).str.startswith(GROUP_PREFIX)]
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
