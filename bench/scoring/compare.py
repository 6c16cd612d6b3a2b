"""Paired comparison of two models scored on the same examples.

Two models scored on the same examples give *paired* data: an unpaired test throws the
pairing away and is wrong about the uncertainty. Here

- accuracy is compared with the exact McNemar test on the discordant pairs
  (:func:`mcnemar_exact`);
- every metric's difference gets a paired, domain-stratified bootstrap interval: the
  same examples are resampled for both models, by resampling the concatenated
  components ``[c_A | c_B]`` of each example (:func:`paired_bootstrap`);
- losses (and every metric but accuracy) get a paired permutation p-value that swaps
  the two models' outputs on each example with probability 1/2 (:func:`paired_swap_test`);
- the difference of *gaps* — does model B close model A's gap? — gets a paired
  bootstrap interval and a swap-test p-value (:func:`compare_models`, kind ``id_ood_gap``).

Signs: ``difference`` is positive when model B is better (higher accuracy, lower loss,
or a smaller gap).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy.stats import binom

from bench.errors import StatisticsError, UnknownNameError
from bench.scoring.bootstrap import (
    DEFAULT_CHUNK,
    BootstrapResult,
    StratifiedBootstrap,
    _as_parts,
    check_resamples,
    make_rng,
)
from bench.scoring.gaps import POOLED_OOD, gap_statistic, holm
from bench.scoring.metrics import Metric, metrics_for
from bench.scoring.options import StatisticsOptions
from bench.scoring.tables import POOLED, TaskInfo, fold_in_domain, task_columns
from bench.seeding import seed_hash

__all__ = [
    "COMPARE_COLUMNS",
    "McNemarResult",
    "PairedStatistic",
    "compare_models",
    "mcnemar_exact",
    "pair_records",
    "paired_bootstrap",
    "paired_swap_test",
]

COMPARE_COLUMNS = ["suite", "task", "metric", "kind", "domain_a", "domain_b", "model_a", "model_b", "value_a",
                   "value_b", "difference", "ci_low", "ci_high", "p_value", "test", "n", "p_adjusted", "level",
                   "ci_method"]
_KEYS = ["suite", "task", "domain", "split", "example_id"]

PairedStatistic = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""Maps the two models' component sums, each ``(..., S, C)``, to ``(...)`` or ``(..., K)``."""


@dataclass(frozen=True)
class McNemarResult:
    """Exact McNemar test.

    Attributes
    ----------
    a_only
        Pairs that model A gets right and model B wrong (:math:`b`).
    b_only
        Pairs that model B gets right and model A wrong (:math:`c`).
    statistic
        :math:`\\min(b, c)`.
    p_value
        :math:`\\min(1, 2 F(\\min(b, c); b + c, 1/2))` with :math:`F` the binomial CDF;
        1 when there are no discordant pairs.
    """

    a_only: int
    b_only: int
    statistic: int
    p_value: float


def mcnemar_exact(correct_a: Sequence[float] | np.ndarray, correct_b: Sequence[float] | np.ndarray) -> McNemarResult:
    """Exact (binomial) McNemar test of paired 0/1 outcomes of two models.

    Under the null hypothesis both models are right equally often on the examples where
    they disagree, so :math:`b \\sim \\mathrm{Binomial}(b + c, 1/2)`; the two-sided
    p-value doubles the smaller tail (as ``statsmodels``' ``mcnemar(exact=True)``).

    Raises
    ------
    StatisticsError
        If the arrays differ in length or hold values other than 0 and 1.
    """
    a, b = np.asarray(correct_a, dtype=np.float64).ravel(), np.asarray(correct_b, dtype=np.float64).ravel()
    if len(a) != len(b):
        raise StatisticsError(f"correct_a and correct_b must have the same length (one entry per example). "
                              f"Got {len(a)} and {len(b)}.")
    if not np.all(np.isin(a, (0, 1))) or not np.all(np.isin(b, (0, 1))):
        raise StatisticsError("McNemar's test needs 0/1 correctness values; got other values.")
    a_only, b_only = int(np.sum((a == 1) & (b == 0))), int(np.sum((a == 0) & (b == 1)))
    k = min(a_only, b_only)
    p = 1.0 if a_only + b_only == 0 else float(min(1.0, 2 * binom.cdf(k, a_only + b_only, 0.5)))
    return McNemarResult(a_only, b_only, k, p)


def _check_pair(parts_a: Sequence[np.ndarray], parts_b: Sequence[np.ndarray]) -> tuple[list, list]:
    a = [_as_parts(p) for p in parts_a]
    b = [_as_parts(p) for p in parts_b]
    if len(a) != len(b) or any(x.shape != y.shape for x, y in zip(a, b, strict=False)):
        raise StatisticsError(f"Paired components must have the same shapes per stratum. Got "
                              f"{[x.shape for x in a]} and {[y.shape for y in b]}.")
    return a, b


def paired_bootstrap(parts_a: Sequence[np.ndarray], parts_b: Sequence[np.ndarray], statistic: PairedStatistic, *,
                     n_resamples: int = 10_000, level: float = 0.95, method: str = "BCa",
                     rng: int | np.random.Generator | None = None) -> BootstrapResult:
    """Paired, stratified bootstrap of ``statistic(sums_a, sums_b)``.

    Parameters
    ----------
    parts_a, parts_b
        Components of each stratum for models A and B, row ``i`` of both being the same
        example (shape ``(n_s, C)`` each).
    statistic
        Maps the two models' sums, each ``(..., S, C)``, to ``(...)`` or ``(..., K)``.
    n_resamples, level, method, rng
        As for :class:`~bench.scoring.bootstrap.StratifiedBootstrap`.
    """
    a, b = _check_pair(parts_a, parts_b)
    c = a[0].shape[1]
    boot = StratifiedBootstrap([np.hstack([x, y]) for x, y in zip(a, b, strict=True)], n_resamples=n_resamples,
                               rng=rng)
    return boot.interval(lambda s: statistic(s[..., :c], s[..., c:]), level=level, method=method)


def paired_swap_test(parts_a: Sequence[np.ndarray], parts_b: Sequence[np.ndarray], statistic: PairedStatistic, *,
                     n_permutations: int = 2_000, rng: int | np.random.Generator | None = None,
                     max_elements: int = DEFAULT_CHUNK) -> float:
    """Two-sided paired permutation p-value: swap the models' components on each example
    with probability 1/2; :math:`p = (1 + \\#\\{|T^*| \\ge |T|\\}) / (1 + R)`.

    ``statistic`` maps the two models' sums (each ``(..., S, C)``) to ``(...)``. NaN when
    the observed statistic is not finite.
    """
    n_permutations = check_resamples(n_permutations, "n_permutations")
    a, b = _check_pair(parts_a, parts_b)
    sum_a, sum_b = np.stack([x.sum(axis=0) for x in a]), np.stack([y.sum(axis=0) for y in b])
    observed = float(statistic(sum_a, sum_b))
    if not math.isfinite(observed):
        return math.nan
    threshold = abs(observed) * (1 - 1e-9) - 1e-12
    rng = make_rng(rng)
    n = max(1, sum(len(x) for x in a))
    rows = max(1, max_elements // n)
    hits = 0
    for start in range(0, n_permutations, rows):
        r = min(rows, n_permutations - start)
        swapped = np.stack([(rng.random((r, len(x))) < 0.5).astype(np.float64) @ (y - x) for x, y in zip(a, b, strict=True)], axis=1)
        hits += int(np.sum(np.abs(statistic(sum_a + swapped, sum_b - swapped)) >= threshold))
    return (1 + hits) / (1 + n_permutations)


def pair_records(records: pd.DataFrame, model_a: str, model_b: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The two models' records on their common examples, aligned row by row.

    Raises
    ------
    UnknownNameError
        If a model has no records (lists the models that have).
    StatisticsError
        If the two models share no example, or a model has duplicate records.
    """
    models = sorted(records["model"].unique()) if len(records) else []
    for name in (model_a, model_b):
        if name not in models:
            raise UnknownNameError(f"No records of model {name!r}. Models in the records: {', '.join(models) or 'none'}.")
    keys = [k for k in _KEYS if k in records.columns]
    a = records[records["model"] == model_a]
    b = records[records["model"] == model_b]
    for name, frame in ((model_a, a), (model_b, b)):
        if frame.duplicated(keys).any():
            raise StatisticsError(f"Model {name!r} has several records of one example ({', '.join(keys)}); "
                                  "compare runs with one fold per domain.")
    merged = a[keys].reset_index().merge(b[keys].reset_index(), on=keys, suffixes=("_a", "_b"))
    if merged.empty:
        raise StatisticsError(f"Models {model_a!r} and {model_b!r} share no example; a paired comparison needs "
                              "both scored on the same examples.")
    return records.loc[merged["index_a"].to_numpy()], records.loc[merged["index_b"].to_numpy()]


def _improvement(metric: Metric, groups: Sequence[Sequence[int]] = ()) -> PairedStatistic:
    """B's improvement on each stratum, then on each group of strata (``groups``: their
    indices), then on all of them pooled."""
    sign = 1.0 if metric.higher_is_better else -1.0

    def extended(sums: np.ndarray) -> np.ndarray:
        pooled = [sums[..., list(g), :].sum(axis=-2, keepdims=True) for g in groups]
        return np.concatenate([sums, *pooled, sums.sum(axis=-2, keepdims=True)], axis=-2)

    def per_stratum(sa: np.ndarray, sb: np.ndarray) -> np.ndarray:
        return sign * (metric.combine(extended(sb)) - metric.combine(extended(sa)))

    return per_stratum


def _gap_reduction(metric: Metric, ids: Sequence[int], oods: Sequence[Sequence[int]]) -> PairedStatistic:
    gaps = [gap_statistic(metric, ids, ood) for ood in oods]
    return lambda sa, sb: np.stack([g(sa) - g(sb) for g in gaps], axis=-1)


def _column(statistic: PairedStatistic, k: int) -> PairedStatistic:
    """Column ``k`` of a statistic that returns ``(..., K)``."""
    return lambda sa, sb: statistic(sa, sb)[..., k]


def _bounds(result: BootstrapResult) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Estimate, low and high of an interval as arrays (one entry per column)."""
    return np.atleast_1d(result.estimate), np.atleast_1d(result.low), np.atleast_1d(result.high)


@dataclass(frozen=True)
class _Pair:
    suite: str
    task: str
    info: TaskInfo
    metric: Metric
    domains: list[str]
    a: list[np.ndarray]
    b: list[np.ndarray]


def _pairs(frame_a: pd.DataFrame, frame_b: pd.DataFrame, infos: Mapping[tuple[str, str], TaskInfo],
           names: Sequence[str] | None = None) -> list[_Pair]:
    """Per (suite, task, metric): each domain's components of both models (aligned rows)."""
    out = []
    tasks = list(zip(frame_a["suite"].to_numpy(), frame_a["task"].to_numpy(), strict=True))
    for suite, task in dict.fromkeys(tasks):
        rows = np.array([t == (suite, task) for t in tasks])
        part_a, part_b = frame_a[rows], frame_b[rows]
        info = replace(infos[(suite, task)], in_domain=fold_in_domain(part_a, infos[(suite, task)]))
        codes = part_a["domain"].to_numpy()
        domains = [d for d in info.domains if np.any(codes == d)]
        for metric in metrics_for(info.kind):
            if names is not None and metric.name not in names:
                continue
            ca, cb = metric.components(task_columns(part_a, info)), metric.components(task_columns(part_b, info))
            out.append(_Pair(suite, task, info, metric, domains, [ca[codes == d] for d in domains],
                             [cb[codes == d] for d in domains]))
    return out


@dataclass(frozen=True)
class _Options:
    resamples: int
    level: float
    seed: int
    method: str
    permutations: int


def _domain_groups(pair: _Pair) -> dict[str, list[int]]:
    """The suite's domain groups (MMLU's categories) that hold a compared domain: name → indices."""
    index = {d: i for i, d in enumerate(pair.domains)}
    found = {name: [index[d] for d in members if d in index] for name, members in pair.info.groups.items()}
    return {name: members for name, members in found.items() if members}


def _metric_rows(pair: _Pair, names: tuple[str, str], options: _Options) -> list[tuple]:
    by_group = _domain_groups(pair)
    statistic = _improvement(pair.metric, list(by_group.values()))
    rng = seed_hash(options.seed, *names, pair.suite, pair.task, pair.metric.name)
    result = paired_bootstrap(pair.a, pair.b, statistic, n_resamples=options.resamples, level=options.level,
                              method=options.method, rng=rng)
    estimate, low, high = _bounds(result)
    labels = [*pair.domains, *by_group, POOLED]
    kinds = ["metric"] * len(pair.domains) + ["group"] * len(by_group) + ["metric"]
    groups = [([x], [y]) for x, y in zip(pair.a, pair.b, strict=True)]
    groups += [([pair.a[i] for i in members], [pair.b[i] for i in members]) for members in by_group.values()]
    groups += [(pair.a, pair.b)]
    rows = []
    for k, (label, kind, (ga, gb)) in enumerate(zip(labels, kinds, groups, strict=True)):
        va = float(pair.metric.combine(np.concatenate(ga).sum(axis=0)))
        vb = float(pair.metric.combine(np.concatenate(gb).sum(axis=0)))
        if pair.metric.paired_test == "mcnemar":
            p, test = mcnemar_exact(np.concatenate(ga)[:, 0], np.concatenate(gb)[:, 0]).p_value, "mcnemar_exact"
        else:
            p = paired_swap_test(ga, gb, _column(_improvement(pair.metric), -1),  # the strata given, pooled
                                 n_permutations=options.permutations, rng=seed_hash(rng, label))
            test = "paired_permutation"
        rows.append((pair.suite, pair.task, pair.metric.name, kind, label, label, *names, va, vb,
                     float(estimate[k]), float(low[k]), float(high[k]), p, test,
                     sum(len(x) for x in ga)))
    return rows


def _gap_rows(pair: _Pair, names: tuple[str, str], options: _Options) -> list[tuple]:
    index = {d: i for i, d in enumerate(pair.domains)}
    ids = [index[d] for d in pair.info.in_domain if d in index]
    oods = [i for i, d in enumerate(pair.domains) if d not in pair.info.in_domain]
    if not ids or not oods:
        return []
    targets = [[j] for j in oods] + [oods]
    labels = [pair.domains[j] for j in oods] + [POOLED_OOD]
    statistic = _gap_reduction(pair.metric, ids, targets)
    rng = seed_hash(options.seed, *names, pair.suite, pair.task, pair.metric.name, "gap")
    result = paired_bootstrap(pair.a, pair.b, statistic, n_resamples=options.resamples, level=options.level,
                              method=options.method, rng=rng)
    estimate, low, high = _bounds(result)
    sum_a, sum_b = np.stack([x.sum(axis=0) for x in pair.a]), np.stack([y.sum(axis=0) for y in pair.b])
    rows = []
    for k, (label, target) in enumerate(zip(labels, targets, strict=True)):
        gap = gap_statistic(pair.metric, ids, target)
        p = paired_swap_test(pair.a, pair.b, _column(statistic, k),
                             n_permutations=options.permutations, rng=seed_hash(rng, label))
        rows.append((pair.suite, pair.task, pair.metric.name, "id_ood_gap",
                     "+".join(pair.domains[i] for i in ids), label, *names, float(gap(sum_a)), float(gap(sum_b)),
                     float(estimate[k]), float(low[k]), float(high[k]), p,
                     "paired_permutation", sum(len(pair.a[i]) for i in [*ids, *target])))
    return rows


def _adjust(table: pd.DataFrame, pooled: Sequence[str]) -> pd.Series:
    """Holm-adjusted p-values, one family per ``(suite, task, metric, kind)`` over its
    per-domain rows; a pooled row (``ALL``, ``OOD``) is a family of its own (unadjusted)."""
    out = table["p_value"].astype(float).copy()
    alone = table["domain_b"].isin(pooled)
    for _, part in table[~alone].groupby(["suite", "task", "metric", "kind"], sort=False):
        out.loc[part.index] = holm(part["p_value"].to_numpy(dtype=float))
    return out


def compare_models(records: pd.DataFrame, infos: Mapping[tuple[str, str], TaskInfo], model_a: str, model_b: str, *,
                   options: StatisticsOptions | None = None, records_b: pd.DataFrame | None = None,
                   metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """Paired comparison of ``model_b`` against ``model_a`` on their common examples.

    Parameters
    ----------
    records
        Per-example records holding both models (or model A only, with ``records_b``).
    infos
        The :class:`~bench.scoring.tables.TaskInfo` of each ``(suite, task)``.
    model_a, model_b
        The reference model and the challenger.
    options
        The paired bootstrap's ``resamples, level, seed, method`` and the swaps per
        paired permutation test (``permutations``); default ``StatisticsOptions()``.
        ``method`` ``"auto"`` (the default) and ``"studentized"`` give BCa here (the
        paired bootstrap has no studentized variant).
    records_b
        Records holding model B, when it comes from another run.
    metrics
        Only these metrics (default: every metric of each task's kind).

    Returns
    -------
    pandas.DataFrame
        :data:`COMPARE_COLUMNS`. ``kind = "metric"``: each domain and ``ALL``, values of
        A and B, ``difference`` = improvement of B (positive: B better), exact McNemar
        p-value for accuracy, paired permutation p-value otherwise. ``kind = "group"``:
        the same for each of the suite's domain groups (MMLU's categories) holding a
        compared domain, its domains pooled (a Holm family of its own). ``kind =
        "id_ood_gap"``: the in-domain set against each out-of-domain domain and ``OOD``,
        values = the two models' gaps, ``difference = gap_A − gap_B`` (positive: B closes
        part of A's gap). ``p_adjusted``: Holm's adjustment within each ``(suite, task,
        metric, kind)`` over the per-domain rows (``ALL`` and ``OOD`` unadjusted);
        ``level`` and ``ci_method``: the settings of the paired bootstrap interval.

    Raises
    ------
    UnknownNameError, StatisticsError
        Unknown model, no common examples, or invalid options.
    """
    chosen = options or StatisticsOptions()
    settings = _Options(chosen.resamples, chosen.level, chosen.seed,
                        "BCa" if chosen.method in ("auto", "studentized") else chosen.method, chosen.permutations)
    label_b = model_b
    if records_b is None:
        pool = records
        if model_a == model_b:
            raise StatisticsError(f"Cannot compare model {model_a!r} with itself within one run; name two models.")
    else:
        label_b = model_b if model_b != model_a else f"{model_b}@b"
        if model_b not in set(records_b["model"]):
            raise UnknownNameError(f"No records of model {model_b!r} in the second run. Models there: "
                                   f"{', '.join(sorted(records_b['model'].unique())) or 'none'}.")
        pool = pd.concat([records[records["model"] == model_a],
                          records_b[records_b["model"] == model_b].assign(model=label_b)], ignore_index=True)
    frame_a, frame_b = pair_records(pool, model_a, label_b)
    rows = []
    for pair in _pairs(frame_a, frame_b, infos, metrics):
        rows += [(*r, math.nan, settings.level, settings.method) for r in _metric_rows(pair, (model_a, label_b), settings)]
        rows += [(*r, math.nan, settings.level, settings.method) for r in _gap_rows(pair, (model_a, label_b), settings)]
    table = pd.DataFrame(rows, columns=COMPARE_COLUMNS)
    table["p_adjusted"] = _adjust(table, (POOLED, POOLED_OOD))
    return table
