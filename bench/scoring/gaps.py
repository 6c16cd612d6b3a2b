"""Cross-domain gaps with bootstrap intervals, permutation tests and Holm adjustment.

For a metric :math:`m` and two sets of domains :math:`A` and :math:`B` the gap is signed
so that a positive gap means "worse on :math:`B`":

.. math:: \\mathrm{gap}(A, B) = \\sigma \\, (m(A) - m(B)), \\qquad
          \\sigma = +1 \\text{ if higher is better, } -1 \\text{ for losses},

where :math:`m(A)` pools the examples of the domains in :math:`A`. The comparisons of one
(model, task, metric) are:

- ``id_ood``: the in-domain set (what the model was trained on) against each
  out-of-domain domain, and against all out-of-domain domains pooled
  (``domain_b = "OOD"``). Only where the model has an in-domain set among the scored
  domains;
- ``domain_rest``: where it has none (zero-shot models; leave-one-domain-out, where each
  domain is scored by the model that never saw it): each domain ``d`` (``domain_b``)
  against the pooled rest (``domain_a = "REST"``), and each domain group
  (``domain_b = "group:<name>"``) against the other groups pooled;
- ``pairwise``: every pair of domains, in the suite's order;
- ``best_worst``: the best against the worst domain; the statistic is the *range* of
  the domain values, :math:`\\max_d m(d) - \\min_d m(d)`, recomputed on every resample
  and permutation (so the selection of best and worst is part of the statistic). The
  range is biased upward: with no true difference it is still positive, so a percentile
  interval never holds 0; its interval is the basic (bias-corrected) bootstrap interval
  (``ci_method = "basic"``). Read its p-value to decide whether any domain differs, and
  its interval only for how large the range is once it does;
- ``spread``: the standard deviation (``ddof=0``) of the domain values
  (``domain_a = domain_b = "ALL"``, ``value_a`` the mean of the domain values), with the
  same upward bias and the same reading.

``pairwise`` is computed only when asked for (:data:`~bench.scoring.options.DEFAULT_GAP_KINDS`).

Each gap has an interval (``ci_method``: Newcombe's hybrid score interval for 0/1 metrics,
MOVER of the two sides' studentized bootstrap intervals for ratio metrics (each metric's ``gap_interval``,
:func:`mover_gaps`), the basic bootstrap for the range and the
spread, or the method forced by the options; a BCa interval that cannot be computed
says ``BCa->percentile``), a two-sided permutation-test p-value of the domain labels,
:math:`P(|T^*| \\ge |T|)`, and a Holm-adjusted p-value. Beside each gap stands the minimum
detectable gap (:func:`minimum_detectable_gap`). A domain with no examples gives NaN rows
where it is compared alone and is named in ``missing`` where it was left out of a pooled
side.

Holm families follow the question (column ``family``; ``family_size`` counts its distinct
tests): ``id_ood`` (the in-domain set against each out-of-domain domain), ``id_pooled``
(against the pooled out-of-domain domains), ``domain_rest`` (each domain against the rest),
``group_rest`` (each domain group against the rest), ``pairwise``, ``best_worst`` and
``spread``, each of one (model, task, metric). Holm runs within a family over its
*distinct* tests: rows that test the same split of the examples (with two domains, each
against the rest) share one test and one adjusted p-value, and count once.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy.stats import norm

from bench.errors import EmptyDomainWarning, StatisticsError
from bench.scoring.bootstrap import (
    Statistic,
    StratifiedBootstrap,
    _as_parts,
    _distinct_rows,
    _sorted_rows,
    check_resamples,
    make_rng,
    studentized_interval,
)
from bench.scoring.intervals import check_level, mover_interval, newcombe_interval
from bench.scoring.metrics import Metric
from bench.scoring.options import DEFAULT_GAP_KINDS, GAP_KINDS, StatisticsOptions
from bench.scoring.permutation import (
    ASYMPTOTIC_MIN,
    PermutationResult,
    permutation_result,
    permutation_results,
    permutation_test,
    subset_permutation_results,
)

__all__ = [
    "FAMILIES",
    "GAP_KINDS",
    "POOLED_OOD",
    "DomainSpread",
    "Gap",
    "domain_gaps",
    "domain_spread",
    "gap_statistic",
    "gap_statistics",
    "holm",
    "minimum_detectable_gap",
    "permutation_test",
    "pooled_statistics",
    "range_statistic",
    "mover_gaps",
    "ratio_intervals",
    "ratio_variance",
    "ratio_variances",
    "satterthwaite_df",
    "spread_statistic",
]

POOLED_OOD = "OOD"
REST = "REST"
GROUP_PREFIX = "group:"
FAMILIES = ("id_ood", "id_pooled", "domain_rest", "group_rest", "pairwise", "best_worst", "spread")
"""The Holm families of :func:`domain_gaps` (see the module docstring), in the order their
tests run."""


@dataclass(frozen=True)
class Gap:
    """One comparison of two (sets of) domains for one metric.

    ``gap`` is positive when the metric is worse on ``domain_b``; ``relative_drop`` is
    ``gap / |value_a|``; ``mdg`` is the minimum detectable gap at 80% power;
    ``ci_method`` the interval used; ``missing`` the domains without examples that a
    pooled side left out (``;``-separated); ``p_method`` the route of the p-value
    (:class:`~bench.scoring.permutation.PermutationResult`: ``exact``, ``monte_carlo``,
    ``asymptotic``, ``constant``).
    """

    kind: str
    domain_a: str
    domain_b: str
    value_a: float
    value_b: float
    gap: float
    ci_low: float
    ci_high: float
    p_value: float
    p_adjusted: float
    n_a: int
    n_b: int
    relative_drop: float
    mdg: float
    ci_method: str = ""
    missing: str = ""
    family: str = ""
    family_size: int = 0
    p_method: str = ""


@dataclass(frozen=True)
class DomainSpread:
    """Summary of the domain values of one metric: worst, best, mean, std (ddof=0), range."""

    worst_domain: str
    worst: float
    best_domain: str
    best: float
    mean: float
    std: float
    range: float


def gap_statistic(metric: Metric, a: Sequence[int], b: Sequence[int]) -> Statistic:
    """The signed gap :math:`\\sigma (m(A) - m(B))` as a function of sums ``(..., S, C)``."""
    sign = 1.0 if metric.higher_is_better else -1.0
    a, b = list(a), list(b)

    def statistic(sums: np.ndarray) -> np.ndarray:
        return sign * (metric.combine(sums[..., a, :].sum(axis=-2)) - metric.combine(sums[..., b, :].sum(axis=-2)))

    return statistic


def range_statistic(metric: Metric) -> Statistic:
    """:math:`\\max_d m(d) - \\min_d m(d)` over the strata, as a function of sums ``(..., S, C)``."""

    def statistic(sums: np.ndarray) -> np.ndarray:
        values = metric.combine(sums)
        return np.nanmax(values, axis=-1) - np.nanmin(values, axis=-1)

    return statistic


def spread_statistic(metric: Metric) -> Statistic:
    """The standard deviation (``ddof=0``) of the strata's values, from sums ``(..., S, C)``."""

    def statistic(sums: np.ndarray) -> np.ndarray:
        return np.nanstd(metric.combine(sums), axis=-1)

    return statistic


def membership(sets: Sequence[Sequence[int]], n_strata: int) -> np.ndarray:
    """The 0/1 matrix :math:`M_{sk} = 1[s \\in \\text{sets}_k]`, shape ``(n_strata, K)``."""
    matrix = np.zeros((n_strata, len(sets)))
    for k, members in enumerate(sets):
        matrix[list(members), k] = 1.0
    return matrix


def set_sums(sums: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """The component sums of each set of strata, :math:`\\sum_s M_{sk} S_{\\dots sc}`: from sums
    ``(..., S, C)`` and a :func:`membership` matrix ``(S, K)`` to ``(..., K, C)``, one matrix
    product for all the sets (instead of a gather and a sum per set)."""
    return np.swapaxes(np.swapaxes(sums, -1, -2) @ matrix, -1, -2)


def pooled_statistics(metric: Metric, sets: Sequence[Sequence[int]], n_strata: int) -> Statistic:
    """:math:`m(G_k)` of each set of strata :math:`G_k` at once: sums ``(..., S, C)`` to ``(..., K)``."""
    matrix = membership(sets, n_strata)
    return lambda sums: metric.combine(set_sums(sums, matrix))


def gap_statistics(metric: Metric, pairs: Sequence[tuple[Sequence[int], Sequence[int]]], n_strata: int) -> Statistic:
    """The signed gaps :math:`\\sigma (m(A_k) - m(B_k))` of several comparisons at once:
    sums ``(..., S, C)`` to ``(..., K)`` (:func:`gap_statistic` for each pair, vectorised)."""
    sign = 1.0 if metric.higher_is_better else -1.0
    side_a = membership([a for a, _ in pairs], n_strata)
    side_b = membership([b for _, b in pairs], n_strata)

    def statistic(sums: np.ndarray) -> np.ndarray:
        return sign * (metric.combine(set_sums(sums, side_a)) - metric.combine(set_sums(sums, side_b)))

    return statistic


def ratio_variances(pairs: Sequence[tuple[Sequence[int], Sequence[int] | None]], n_strata: int) -> Statistic:
    """:func:`ratio_variance` of several sets (``b`` is ``None``) or differences at once:
    moment sums ``(..., S, 5)`` to ``(..., K)``."""
    sides = [membership([a for a, _ in pairs], n_strata),
             membership([b if b is not None else () for _, b in pairs], n_strata)]

    def statistic(sums: np.ndarray) -> np.ndarray:
        total = np.zeros((*sums.shape[:-2], len(pairs)))
        for matrix in sides:
            s = set_sums(sums, matrix)
            with np.errstate(divide="ignore", invalid="ignore"):
                r = s[..., 0] / s[..., 1]
                part = (s[..., 2] - 2 * r * s[..., 3] + r * r * s[..., 4]) / s[..., 1] ** 2
            total = total + np.where(matrix.any(axis=0), part, 0.0)
        return np.maximum(total, 0.0)

    return statistic


def satterthwaite_df(parts: Sequence[np.ndarray], sets: Sequence[Sequence[int]]) -> np.ndarray:
    """Degrees of freedom of the delta-method variance of each set's ratio of sums.

    For a set :math:`G` with ratio :math:`r = \\sum v / \\sum w` and residuals
    :math:`e_i = v_i - r w_i`, the variance estimate is :math:`\\sum e^2 / (\\sum w)^2`;
    matching its relative variance :math:`(\\sum e^4 - (\\sum e^2)^2 / n) / (\\sum e^2)^2`
    (that of a sum of :math:`n` squared residuals) to that of a scaled
    :math:`\\chi^2_\\nu / \\nu` (Satterthwaite 1946) gives

    .. math:: \\nu = \\frac{2 (\\sum e^2)^2}{\\sum e^4 - (\\sum e^2)^2 / n}
              = \\frac{2 n}{\\hat\\kappa - 1},

    :math:`\\hat\\kappa` the residuals' kurtosis: :math:`\\nu \\approx n` for normal
    values, far fewer for heavy-tailed ones. ``inf`` where every residual is 0 or all are
    equal in size. ``parts``: each stratum's rows, columns ``v, w`` first.
    """
    out = np.full(len(sets), np.inf)
    for k, members in enumerate(sets):
        rows = [parts[i] for i in members if len(parts[i])]
        if not rows:
            out[k] = np.nan
            continue
        v = np.concatenate([r[:, 0] for r in rows])
        w = np.concatenate([r[:, 1] for r in rows])
        with np.errstate(divide="ignore", invalid="ignore"):
            e2 = (v - v.sum() / w.sum() * w) ** 2
            second, fourth = e2.sum(), (e2 * e2).sum()
            excess = fourth - second * second / len(v)
            if excess > 1e-12 * fourth and math.isfinite(excess):
                out[k] = 2 * second * second / excess
    return out


def ratio_intervals(boot: StratifiedBootstrap, parts: Sequence[np.ndarray], sets: Sequence[Sequence[int]],
                    metric: Metric, level: float, widen: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(estimate, low, high)`` of each set's ratio :math:`m(G_k)`: the studentized bootstrap
    (:func:`~bench.scoring.bootstrap.studentized_interval`, delta-method variance of each
    resample), widened by the Satterthwaite degrees of freedom of the variance
    (:func:`satterthwaite_df`; ``widen=False``: not). ``parts`` are the bootstrap's strata
    (moment components)."""
    n_strata = len(parts)
    result = studentized_interval(boot, pooled_statistics(metric, sets, n_strata),
                                  ratio_variances([(g, None) for g in sets], n_strata), level=level,
                                  df=satterthwaite_df(parts, sets) if widen else None)
    estimate, low, high = (np.atleast_1d(np.asarray(x, dtype=np.float64))
                           for x in (result.estimate, result.low, result.high))
    return estimate, low, high


def mover_gaps(boot: StratifiedBootstrap, parts: Sequence[np.ndarray],
               pairs: Sequence[tuple[Sequence[int], Sequence[int]]], metric: Metric, level: float,
               widen: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``(low, high)`` of each signed gap :math:`\\sigma (m(A_k) - m(B_k))`: MOVER
    (:func:`~bench.scoring.intervals.mover_interval`, Zou & Donner 2008) of the two sides'
    studentized intervals (:func:`ratio_intervals`); the sides of a pair are disjoint, so
    independent under the stratified bootstrap. The sides are not widened by their
    Satterthwaite degrees of freedom (``widen=False``): on the coverage grid of
    ``docs/statistics.md`` MOVER of the plain sides covers 92–98 % in every cell, of
    widened sides up to 99 % (each bound adds two widened distances)."""
    sides = [a for a, _ in pairs] + [b for _, b in pairs]
    estimate, low, high = ratio_intervals(boot, parts, sides, metric, level, widen)
    k = len(pairs)
    if metric.higher_is_better:
        return mover_interval(estimate[:k], low[:k], high[:k], estimate[k:], low[k:], high[k:])
    return mover_interval(estimate[k:], low[k:], high[k:], estimate[:k], low[:k], high[:k])


def ratio_variance(a: Sequence[int], b: Sequence[int] | None = None) -> Statistic:
    """Delta-method variance of :math:`m(A)` (or of :math:`m(A) - m(B)`) from moment sums.

    The sums hold ``(v, w, v², v·w, w²)`` per stratum (:meth:`Metric.moment_components`).
    For a set :math:`G` with :math:`r = \\sum v / \\sum w`,

    .. math:: \\mathrm{Var}(r) \\approx \\frac{\\sum v^2 - 2 r \\sum v w + r^2 \\sum w^2}{(\\sum w)^2},

    and the variance of a difference of two disjoint sets is the sum of theirs.
    """
    sets = [list(a)] + ([] if b is None else [list(b)])

    def statistic(sums: np.ndarray) -> np.ndarray:
        total = np.zeros(sums.shape[:-2])
        for g in sets:
            s = sums[..., g, :].sum(axis=-2)
            with np.errstate(divide="ignore", invalid="ignore"):
                r = s[..., 0] / s[..., 1]
                total = total + (s[..., 2] - 2 * r * s[..., 3] + r * r * s[..., 4]) / s[..., 1] ** 2
        return np.maximum(total, 0.0)

    return statistic


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjustment (family-wise error rate), NaN entries left out.

    With the :math:`m` finite p-values sorted, :math:`p_{(1)} \\le \\dots \\le p_{(m)}`:

    .. math:: \\tilde p_{(i)} = \\min\\Big(1, \\max_{j \\le i} (m - j + 1)\\, p_{(j)}\\Big).
    """
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    if finite.size == 0:
        return out
    if np.any((p[finite] < 0) | (p[finite] > 1)):
        raise StatisticsError(f"p-values must lie in [0, 1]. Got {p[finite].min()} … {p[finite].max()}.")
    order = finite[np.argsort(p[finite], kind="stable")]
    m = order.size
    scaled = (m - np.arange(m)) * p[order]
    out[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return out


def minimum_detectable_gap(parts_a: np.ndarray, parts_b: np.ndarray, metric: Metric, *, alpha: float = 0.05,
                           power: float = 0.8, standard_error: float | None = None) -> float:
    """Smallest true gap a two-sided level-``alpha`` test detects with probability ``power``.

    For a ratio-of-sums metric, under the null the two groups share the pooled ratio
    :math:`r = \\sum_{A \\cup B} v / \\sum_{A \\cup B} w` and the pooled residual variance
    :math:`s^2 = \\sum_{A \\cup B} (v_i - r w_i)^2 / \\sum_{A \\cup B} w_i^2`; the delta-method
    variance of group :math:`G`'s ratio is then
    :math:`\\mathrm{Var}_G = s^2 \\sum_{i \\in G} w_i^2 / (\\sum_{i \\in G} w_i)^2`, and

    .. math:: \\mathrm{MDG} = (z_{1-\\alpha/2} + z_{\\mathrm{power}})
              \\sqrt{\\mathrm{Var}_A + \\mathrm{Var}_B}.

    For 0/1 accuracy this is the textbook two-proportion formula
    :math:`(z_{1-\\alpha/2} + z_{0.8}) \\sqrt{\\bar p (1 - \\bar p)(1/n_A + 1/n_B)}`.
    For other metrics (binned calibration errors) the bootstrap ``standard_error`` of the
    gap takes the place of the square root. NaN when a group is empty or the pooled
    variance is 0 (then no gap size can be stated; 0 would claim any gap is seen).
    """
    z = float(norm.ppf(1 - alpha / 2) + norm.ppf(power))
    if metric.values is None:
        ok = standard_error is not None and math.isfinite(standard_error) and standard_error > 0
        return z * standard_error if ok and standard_error is not None else math.nan
    a, b = _as_parts(parts_a), _as_parts(parts_b)
    if len(a) == 0 or len(b) == 0:
        return math.nan
    both = np.concatenate([a, b])
    r = both[:, 0].sum() / both[:, 1].sum()
    s2 = ((both[:, 0] - r * both[:, 1]) ** 2).sum() / (both[:, 1] ** 2).sum()
    var = sum(s2 * (g[:, 1] ** 2).sum() / g[:, 1].sum() ** 2 for g in (a, b))
    return z * math.sqrt(var) if math.isfinite(var) and var > 0 else math.nan


def domain_spread(values: Mapping[str, float], higher_is_better: bool) -> DomainSpread:
    """Worst and best domain, mean, standard deviation (``ddof=0``) and range of the
    finite domain values; NaN (and empty names) when there are none."""
    finite = {d: v for d, v in values.items() if math.isfinite(v)}
    if not finite:
        return DomainSpread("", math.nan, "", math.nan, math.nan, math.nan, math.nan)
    names = list(finite)
    x = np.array([finite[d] for d in names])
    worst, best = (np.argmin(x), np.argmax(x)) if higher_is_better else (np.argmax(x), np.argmin(x))
    return DomainSpread(names[worst], float(x[worst]), names[best], float(x[best]), float(x.mean()),
                        float(x.std()), float(x.max() - x.min()))


@dataclass(frozen=True)
class _Comparison:
    """One gap row to compute: domains ``a`` against domains ``b`` (indices into the domains).

    ``statistic`` is set for the comparisons of every domain at once (``best_worst``: the
    range, ``spread``: the standard deviation of the domain values), each a family of one
    test with its own statistic (:data:`_ALL_DOMAIN_STATISTICS`); ``None`` for a gap
    between two sides."""

    kind: str
    family: str
    domain_a: str
    domain_b: str
    a: tuple[int, ...]
    b: tuple[int, ...]
    statistic: Callable[[Metric], Statistic] | None = None

    @property
    def of_every_domain(self) -> bool:
        """Whether the row is a statistic of every domain's value (range, spread), not a gap of two sides."""
        return self.statistic is not None

    @property
    def is_spread(self) -> bool:
        """Whether the row is the spread, whose values are the domains' mean and standard deviation."""
        return self.statistic is spread_statistic


_ALL_DOMAIN_STATISTICS: dict[str, Callable[[Metric], Statistic]] = {"best_worst": range_statistic,
                                                                     "spread": spread_statistic}
"""Gap kind → the statistic of every domain's value its row holds (see :class:`_Comparison`)."""


def _comparisons(domains: Sequence[str], in_domain: Sequence[str], values: Sequence[float],
                 higher_is_better: bool, kinds: Sequence[str],
                 groups: Mapping[str, Sequence[str]]) -> list[_Comparison]:
    index = {d: i for i, d in enumerate(domains)}
    ids = tuple(index[d] for d in in_domain if d in index)
    oods = tuple(i for i, d in enumerate(domains) if d not in in_domain)
    everyone = tuple(range(len(domains)))
    out = []
    if "id_ood" in kinds and ids and oods:
        label = "+".join(domains[i] for i in ids)
        out += [_Comparison("id_ood", "id_ood", label, domains[j], ids, (j,)) for j in oods]
        out.append(_Comparison("id_ood", "id_pooled", label, POOLED_OOD, ids, oods))
    if "domain_rest" in kinds and not ids and len(domains) > 1:
        out += [_Comparison("domain_rest", "domain_rest", REST, domains[j], tuple(i for i in everyone if i != j), (j,))
                for j in everyone]
        for group, members in groups.items():
            inside = tuple(index[d] for d in members if d in index)
            rest = tuple(i for i in everyone if i not in inside)
            if inside and rest:
                out.append(_Comparison("domain_rest", "group_rest", REST, f"{GROUP_PREFIX}{group}", rest,
                                       inside))
    if "pairwise" in kinds:
        out += [_Comparison("pairwise", "pairwise", domains[i], domains[j], (i,), (j,))
                for i in range(len(domains)) for j in range(i + 1, len(domains))]
    if "best_worst" in kinds and len(domains) > 1:
        spread = domain_spread(dict(zip(domains, values, strict=True)), higher_is_better)
        if spread.worst_domain and spread.worst_domain != spread.best_domain:
            out.append(_Comparison("best_worst", "best_worst", spread.best_domain, spread.worst_domain,
                                   (index[spread.best_domain],), (index[spread.worst_domain],),
                                   _ALL_DOMAIN_STATISTICS["best_worst"]))
    if "spread" in kinds and sum(math.isfinite(v) for v in values) > 1:
        out.append(_Comparison("spread", "spread", "ALL", "ALL", everyone, everyone, _ALL_DOMAIN_STATISTICS["spread"]))
    return out


def _check_kinds(kinds: Sequence[str]) -> tuple[str, ...]:
    return StatisticsOptions(kinds=tuple(kinds)).kinds


def _is_binary(parts: Sequence[np.ndarray]) -> bool:
    """All values 0 or 1 with unit weights: a proportion (Newcombe applies)."""
    rows = np.concatenate(parts) if parts else np.zeros((0, 2))
    return bool(len(rows)) and bool(np.all((rows[:, 1] == 1) & ((rows[:, 0] == 0) | (rows[:, 0] == 1))))


def _interval_method(c: _Comparison, metric: Metric, method: str, binary: bool, moments: bool) -> str:
    """The interval a comparison gets (see :data:`~bench.scoring.options.METHOD_CHOICES`)."""
    if c.of_every_domain:
        chosen = "basic" if method in ("auto", "studentized") else method
    else:
        chosen = metric.gap_interval if method == "auto" else method
    if chosen == "newcombe" and not binary:
        chosen = "mover"
    if chosen == "mover" and not moments:
        chosen = "percentile"
    if chosen == "studentized" and not moments:
        chosen = "BCa"
    return chosen


def domain_gaps(strata: Mapping[str, np.ndarray], metric: Metric, *, in_domain: Sequence[str],
                groups: Mapping[str, Sequence[str]] | None = None, resamples: int = 10_000, level: float = 0.95,
                method: str = "BCa", seed: int | np.random.Generator | None = 0, permutations: int | None = None,
                kinds: Sequence[str] = DEFAULT_GAP_KINDS, where: str = "",
                bootstrap: StratifiedBootstrap | None = None, values: Sequence[float] | None = None,
                advance: Callable[[int], None] | None = None) -> list[Gap]:
    """Every gap of one (model, task, metric) with interval, p-values and MDG.

    Parameters
    ----------
    strata
        Components of each domain, in the suite's domain order: ``metric.components``,
        or ``metric.moment_components`` for studentized intervals. A domain with no
        rows gives NaN rows where it stands alone and ``missing`` where it is pooled.
    metric
        The metric (direction, ``combine``, declared ``gap_interval``).
    in_domain
        The in-domain set (set ``A`` of the ``id_ood`` gaps); empty for a model that was
        trained on none of the domains (then the ``domain_rest`` gaps are made).
    groups
        Domain groups (name → member domains) for the ``domain_rest`` gaps.
    resamples, level
        Bootstrap resamples and confidence level.
    method
        ``"auto"`` (each comparison's declared method), ``"studentized"``, ``"BCa"`` or
        ``"percentile"`` (case-insensitive); ``ci_method`` says what each row got.
    seed
        Seed or generator for the bootstrap and the permutations.
    permutations
        Monte Carlo permutations per test (default: ``resamples``); exact tests need none.
    kinds
        Which comparisons to make, a subset of :data:`GAP_KINDS`.
    where
        Names the (model, suite, task) in warnings.
    bootstrap
        Resampled sums of the non-empty ``strata``, in order, already drawn (e.g. for the
        metric intervals); drawn here from ``seed`` when not given.
    values
        Each domain's ``metric.value`` of ``strata``, in order, already computed (e.g. for
        the metric rows); computed here when not given.
    advance
        Called with 1 after the tests of each of the :data:`FAMILIES` (``len(FAMILIES)``
        calls in all, present or not), for progress.

    Returns
    -------
    list of Gap
        ``id_ood`` (each OOD domain, then the pooled ``OOD``) or ``domain_rest`` (each
        domain, then each group), ``pairwise`` (suite order), ``best_worst``, ``spread``;
        ``p_adjusted`` is Holm within the row's ``family`` over its distinct tests. A
        comparison that occurs twice (an ``id_ood`` and a ``pairwise`` gap of the same two
        domains) shares one permutation test.

    Raises
    ------
    StatisticsError
        For an invalid level, method, too few resamples or permutations, or an unknown kind.
    """
    from bench.scoring.bootstrap import check_method
    from bench.scoring.options import METHOD_CHOICES

    level, kinds, method = check_level(level), _check_kinds(kinds), check_method(method, METHOD_CHOICES)
    permutations = check_resamples(resamples if permutations is None else permutations, "permutations")
    domains = list(strata)
    parts = [_domain_rows(strata[d]) for d in domains]
    if values is None:
        values = [metric.value(p, where=f"{where}/{d}" if where else d) for p, d in zip(parts, domains, strict=True)]
    values = list(values)
    comparisons = _comparisons(domains, in_domain, values, metric.higher_is_better, kinds, groups or {})
    present = [i for i, p in enumerate(parts) if len(p)]
    if not comparisons or not present:
        (advance or _ignore)(len(FAMILIES))
        return [_empty_gap(c, values, domains) for c in comparisons]
    boot_rng, perm_rng = make_rng(seed).spawn(2)
    context = _make_context(metric, parts, values, domains, present, level, permutations, where)
    kept = [parts[i] for i in present]
    boot = bootstrap if bootstrap is not None else StratifiedBootstrap(kept, n_resamples=resamples, rng=boot_rng)
    intervals = _intervals(comparisons, context, boot, method)
    keys = [_test_key(c, context) for c in comparisons]
    sizes = _family_sizes(comparisons, keys, context)
    tests = _p_values(comparisons, keys, context, _family_rngs(comparisons, perm_rng), sizes, advance or _ignore)
    rows = [_gap(c, context, intervals[k], tests.get(keys[k])) for k, c in enumerate(comparisons)]
    adjusted = _holm_by_family(comparisons, keys, tests)
    return [replace(g, p_adjusted=adjusted[k], family=c.family, family_size=sizes[c.family])
            for k, (g, c) in enumerate(zip(rows, comparisons, strict=True))]


def _domain_rows(rows: np.ndarray) -> np.ndarray:
    """A domain's components as ``(n, C)`` rows; an empty domain as ``(0, C)`` (``C = 2`` if unknown)."""
    if len(rows):
        return _as_parts(rows)
    return np.zeros((0, np.shape(rows)[-1] if np.ndim(rows) == 2 else 2))


def _make_context(metric: Metric, parts: list[np.ndarray], values: list[float], domains: list[str],
                  present: list[int], level: float, permutations: int, where: str = "") -> _Context:
    """What every comparison of one (model, task, metric) shares."""
    kept = [parts[i] for i in present]
    return _Context(metric, parts, values, domains, {i: k for k, i in enumerate(present)}, level, permutations,
                    moments=kept[0].shape[1] >= 5 and metric.values is not None, binary=_is_binary(kept),
                    two_valued=_two_valued([_test_parts(metric, p) for p in kept]), where=where)


def _family_rngs(comparisons: Sequence[_Comparison], rng: np.random.Generator) -> list[np.random.Generator]:
    """A generator per comparison, spawned per family: asking for another family (``--gaps``)
    changes no other family's draws."""
    families = dict(zip(FAMILIES, rng.spawn(len(FAMILIES)), strict=True))
    members = {f: [k for k, c in enumerate(comparisons) if c.family == f] for f in FAMILIES}
    out: list[np.random.Generator] = [families[c.family] for c in comparisons]
    for family, ks in members.items():
        for k, child in zip(ks, families[family].spawn(len(ks)), strict=True):
            out[k] = child
    return out


def _ignore(steps: int) -> None:
    """No progress to report."""


def _test_key(c: _Comparison, context: _Context) -> tuple:
    """The hypothesis a comparison tests, the same for rows that are one test: the two sides'
    domains (with examples), unordered (with two domains, each against the rest is one
    test); the range and the spread each test their own statistic."""
    if c.of_every_domain:
        return (c.kind,)
    return tuple(sorted((context.kept(c.a), context.kept(c.b))))


def _family_sizes(comparisons: Sequence[_Comparison], keys: Sequence[tuple], context: _Context) -> dict[str, int]:
    """The number of distinct tests of each Holm family (at least 1)."""
    distinct: dict[str, set[tuple]] = {}
    for c, key in zip(comparisons, keys, strict=True):
        found = distinct.setdefault(c.family, set())
        if _complete(c, context) and math.isfinite(_side_values(c, context)[2]):
            found.add(key)
    return {family: max(1, len(found)) for family, found in distinct.items()}


def _holm_by_family(comparisons: Sequence[_Comparison], keys: Sequence[tuple],
                    tests: Mapping[tuple, PermutationResult]) -> list[float]:
    """Holm's adjustment within each family, over its distinct tests; rows that are one
    test share one adjusted p-value."""
    out = [math.nan] * len(comparisons)
    for family in dict.fromkeys(c.family for c in comparisons):
        members = [k for k, c in enumerate(comparisons) if c.family == family]
        distinct = list(dict.fromkeys(keys[k] for k in members if keys[k] in tests))
        adjusted = dict(zip(distinct, holm([tests[key].p_value for key in distinct]), strict=True))
        for k in members:
            out[k] = float(adjusted.get(keys[k], math.nan))
    return out


def _p_values(comparisons: Sequence[_Comparison], keys: Sequence[tuple], context: _Context,
              rngs: Sequence[np.random.Generator], sizes: Mapping[str, int],
              advance: Callable[[int], None]) -> dict[tuple, PermutationResult]:
    """The permutation p-value of each distinct test (absent: undefined), family by family in
    the order of :data:`FAMILIES` (``advance(1)`` after each). The subsets of a family
    against the pooled rest share their draws (:func:`subset_permutation_results`) where no
    exact or asymptotic route applies; the range and the spread share their relabellings."""
    tests: dict[tuple, PermutationResult] = {}
    testable = [k for k, c in enumerate(comparisons)
                if _complete(c, context) and math.isfinite(_side_values(c, context)[2])]
    for family in FAMILIES:
        ks = _first_rows([k for k in testable if comparisons[k].family == family and keys[k] not in tests], keys)
        if family == "best_worst":  # with the spread, from the same relabellings
            ks = [k for k in testable if comparisons[k].of_every_domain]
            results = _all_domain_tests([comparisons[k] for k in ks], context, rngs[ks[0]]) if ks else []
            tests.update({keys[k]: r for k, r in zip(ks, results, strict=True)})
        elif family != "spread":
            tests.update(_family_tests(family, ks, comparisons, keys, context, rngs, sizes[family] if ks else 1))
        advance(1)
    return tests


def _first_rows(ks: Sequence[int], keys: Sequence[tuple]) -> list[int]:
    """The first of ``ks`` of each distinct test."""
    first: dict[tuple, int] = {}
    for k in ks:
        first.setdefault(keys[k], k)
    return list(first.values())


def _family_tests(family: str, ks: Sequence[int], comparisons: Sequence[_Comparison], keys: Sequence[tuple],
                  context: _Context, rngs: Sequence[np.random.Generator], family_size: int
                  ) -> dict[tuple, PermutationResult]:
    """The p-values of the comparisons ``ks`` of one family: shared draws for the subsets
    against the rest that need them, one test at a time otherwise."""
    drawn = [k for k in ks if family in ("domain_rest", "group_rest") and _needs_draws(comparisons[k], context)]
    out: dict[tuple, PermutationResult] = {}
    if drawn:
        results = _shared_tests([comparisons[k] for k in drawn], context, rngs[drawn[0]], family_size)
        out.update({keys[k]: r for k, r in zip(drawn, results, strict=True)})
    for k in ks:
        if k not in drawn:
            out[keys[k]] = _one_test(comparisons[k], context, rngs[k], family_size)
    return out


def _one_test(c: _Comparison, context: _Context, rng: np.random.Generator, family_size: int
              ) -> PermutationResult:
    groups = [_test_parts(context.metric, np.concatenate([context.parts[i] for i in side])) for side in (c.a, c.b)]
    return permutation_result(groups, gap_statistic(context.metric, [0], [1]), n_permutations=context.permutations,
                            rng=rng, family_size=family_size, alpha=1 - context.level)


def _all_domain_tests(comparisons: Sequence[_Comparison], context: _Context, rng: np.random.Generator
                      ) -> list[PermutationResult]:
    """The range and the spread (families of one test each) from the same relabellings of
    every domain's examples."""
    metric = context.metric
    groups = [_test_parts(metric, context.parts[i]) for i in sorted(context.position)]
    statistics = [c.statistic(metric) for c in comparisons if c.statistic is not None]
    results = permutation_results(groups, lambda sums: np.stack([f(sums) for f in statistics], axis=-1),
                                  n_permutations=context.permutations, rng=rng, alpha=1 - context.level)
    return list(results)


def _needs_draws(c: _Comparison, context: _Context) -> bool:
    """A subset-against-rest test that takes Monte Carlo draws of index subsets: not two
    distinct values (an exact test), not both sides of the asymptotic size."""
    n_a, n_b = (sum(len(context.parts[i]) for i in side) for side in (c.a, c.b))
    return not context.two_valued and min(n_a, n_b) < ASYMPTOTIC_MIN


def _shared_tests(comparisons: Sequence[_Comparison], context: _Context, rng: np.random.Generator,
                  family_size: int) -> list[PermutationResult]:
    """Each comparison's side ``b`` against the pooled rest, with shared draws."""
    metric = context.metric
    present = [_test_parts(metric, context.parts[i]) for i in sorted(context.position)]
    pooled = np.concatenate([_sorted_rows(p) for p in present])
    total = pooled.sum(axis=0)
    statistic = gap_statistic(metric, [0], [1])
    subset_sums = [sum(_test_parts(metric, context.parts[i]).sum(axis=0) for i in c.b) for c in comparisons]
    observed = [float(statistic(np.stack([total - b, b]))) for b in subset_sums]
    sizes = [sum(len(context.parts[i]) for i in c.b) for c in comparisons]
    results = subset_permutation_results(pooled, sizes, observed, statistic, n_permutations=context.permutations,
                                         rng=rng, family_size=family_size, alpha=1 - context.level)
    return list(results)


@dataclass(frozen=True)
class _Context:
    metric: Metric
    parts: list[np.ndarray]
    values: list[float]
    domains: list[str]
    position: dict[int, int]
    level: float
    permutations: int
    moments: bool
    binary: bool
    two_valued: bool
    where: str = ""

    def kept(self, members: Sequence[int]) -> tuple[int, ...]:
        """Positions in the bootstrap's strata of the members that have examples."""
        return tuple(self.position[i] for i in members if i in self.position)

    def missing(self, members: Sequence[int]) -> list[str]:
        return [self.domains[i] for i in members if i not in self.position]


def _statistics(comparisons: Sequence[_Comparison], context: _Context, variance: bool) -> tuple[Statistic, Statistic]:
    """The stacked gap statistics of two-sided comparisons, and their delta-method variances."""
    pairs = [(context.kept(c.a), context.kept(c.b)) for c in comparisons]
    n_strata = len(context.position)
    return (gap_statistics(context.metric, pairs, n_strata),
            ratio_variances(pairs, n_strata) if variance else _no_variance)


def _no_variance(sums: np.ndarray) -> np.ndarray:
    raise StatisticsError("This comparison has no variance statistic (no moment components).")


def _intervals(comparisons: Sequence[_Comparison], context: _Context, boot: StratifiedBootstrap,
               method: str) -> list[tuple[float, float, float, str]]:
    """``(low, high, bootstrap standard error, ci_method)`` of each comparison (the standard
    error is NaN for Newcombe's closed form, which needs none)."""
    out: list[tuple[float, float, float, str]] = [(math.nan, math.nan, math.nan, "")] * len(comparisons)
    by_method: dict[str, list[int]] = {}
    for k, c in enumerate(comparisons):
        if _complete(c, context):
            by_method.setdefault(_interval_method(c, context.metric, method, context.binary,
                                                  context.moments), []).append(k)
    for chosen in [m for m in by_method if m != "newcombe"]:  # a closed form needs no resampling
        by_method[chosen] = [k for k in by_method[chosen] if not _one_example_side(comparisons[k], context)]
    for chosen, ks in by_method.items():
        if not ks:
            continue
        if chosen == "newcombe":
            for k in ks:
                out[k] = (*_newcombe(comparisons[k], context), math.nan, "newcombe")
            continue
        if chosen == "mover":
            kept = [context.parts[i] for i in sorted(context.position)]
            lows, highs = mover_gaps(boot, kept, [(context.kept(comparisons[k].a), context.kept(comparisons[k].b))
                                                  for k in ks], context.metric, context.level)
            for j, k in enumerate(ks):
                out[k] = (float(lows[j]), float(highs[j]), math.nan, "mover")
            continue
        if chosen == "basic":
            for k in ks:
                every = comparisons[k].statistic
                if every is not None:  # "basic" is chosen only for them
                    out[k] = _basic_interval(boot, every(context.metric), context.level)
            continue
        stacked, variance = _statistics([comparisons[k] for k in ks], context, chosen == "studentized")
        if chosen == "studentized":
            result = studentized_interval(boot, stacked, variance, level=context.level)
        else:
            result = boot.interval(stacked, level=context.level, method=chosen)
        used = result.methods()
        low, high, se = (np.atleast_1d(x) for x in (result.low, result.high, result.standard_error))
        for j, k in enumerate(ks):
            out[k] = (float(low[j]), float(high[j]), float(se[j]), used[j])
    return out


def _one_example_side(c: _Comparison, context: _Context) -> bool:
    """Whether a bootstrap interval of ``c`` would hold a side fixed: a side whose domains
    have one example each (a resample of one example is that example), or, for the range
    and the spread, any domain of one example. Such a row gets no interval (NaN) and an
    :class:`~bench.errors.EmptyDomainWarning`, instead of one that ignores that side's
    noise (a zero-width interval of a one-example domain, a gap interval that excludes 0
    while the permutation test finds p = 0.32)."""
    sizes = {i: len(context.parts[i]) for i in context.position}
    if c.of_every_domain:
        single = [context.domains[i] for i, n in sizes.items() if n < 2 and math.isfinite(context.values[i])]
    else:
        single = [context.domains[i] for side in (c.a, c.b) if all(sizes.get(j, 0) < 2 for j in side)
                  for i in side if i in sizes]
    if not single:
        return False
    at = f"{context.where}: " if context.where else ""
    warnings.warn(f"{at}{context.metric.name} {c.kind} {c.domain_a} vs {c.domain_b}: {', '.join(single)} "
                  f"{'has' if len(single) == 1 else 'have'} one example; no bootstrap interval (NaN), since a "
                  "resample of one example is that example.", EmptyDomainWarning, stacklevel=4)
    return True


def _basic_interval(boot: StratifiedBootstrap, statistic: Statistic, level: float
                    ) -> tuple[float, float, float, str]:
    """The basic (bias-corrected) bootstrap interval of a non-negative statistic (range,
    spread), widened to hold the observed value:

    .. math:: \\big[\\min(\\max(0, 2\\hat\\theta - q_{1-\\alpha/2}), \\hat\\theta),\\;
              \\max(2\\hat\\theta - q_{\\alpha/2}, \\hat\\theta)\\big]

    of the bootstrap quantiles :math:`q`. The basic interval subtracts the bootstrap's
    estimate of the upward bias :math:`E^*[\\theta^*] - \\hat\\theta` that the percentile
    interval keeps (which, with no true difference, never holds 0); where that bias is
    larger than the interval's half-width (many small domains: MMLU's accuracy spread
    0.131 had a basic interval [0.048, 0.105]) it lies wholly below the observed value,
    and a table whose interval excludes its own estimate reads as a contradiction. The
    widening only adds values, so the interval covers the truth at least as often."""
    result = boot.interval(statistic, level=level, method="percentile")
    estimate = float(result.estimate)
    low, high = 2 * estimate - float(result.high), 2 * estimate - float(result.low)
    if not math.isfinite(estimate):
        return math.nan, math.nan, math.nan, ""
    return min(max(0.0, low), estimate), max(high, estimate), float(result.standard_error), "basic"


def _complete(c: _Comparison, context: _Context) -> bool:
    """Both sides have examples and finite values (else the row is NaN)."""
    if c.of_every_domain:
        return True
    return bool(context.kept(c.a)) and bool(context.kept(c.b)) and math.isfinite(_side_values(c, context)[2])


def _newcombe(c: _Comparison, context: _Context) -> tuple[float, float]:
    part_a, part_b = (np.concatenate([context.parts[i] for i in side]) for side in (c.a, c.b))
    low, high = newcombe_interval(float(part_a[:, 0].sum()), len(part_a), float(part_b[:, 0].sum()), len(part_b),
                                  context.level)
    return (low, high) if context.metric.higher_is_better else (-high, -low)


def _side_values(c: _Comparison, context: _Context) -> tuple[float, float, float]:
    """``(m(A), m(B), gap)``; for the spread ``(mean of domain values, nan, std)``."""
    metric, values = context.metric, context.values
    if c.is_spread:
        finite = np.array([v for v in values if math.isfinite(v)])
        return float(finite.mean()), math.nan, float(finite.std())
    part_a = np.concatenate([context.parts[i] for i in c.a])
    part_b = np.concatenate([context.parts[i] for i in c.b])
    value_a = values[c.a[0]] if len(c.a) == 1 else _quiet_value(metric, part_a)
    value_b = values[c.b[0]] if len(c.b) == 1 else _quiet_value(metric, part_b)
    return value_a, value_b, (value_a - value_b) if metric.higher_is_better else (value_b - value_a)


def _test_parts(metric: Metric, parts: np.ndarray) -> np.ndarray:
    """The components a permutation test needs: ``(v, w)`` of a ratio metric (no moments)."""
    return parts[:, :2] if metric.values is not None else parts


def _gap(c: _Comparison, context: _Context, interval: tuple[float, float, float, str],
         test: PermutationResult | None) -> Gap:
    """One gap row (``p_adjusted`` is set by the family's Holm adjustment)."""
    metric, parts = context.metric, context.parts
    value_a, value_b, gap = _side_values(c, context)
    finite = math.isfinite(gap) and _complete(c, context)
    present = [parts[i] for i in sorted(context.position)]
    part_a = _test_parts(metric, np.concatenate([parts[i] for i in c.a]))
    part_b = _test_parts(metric, np.concatenate([parts[i] for i in c.b]))
    low, high, se, ci_method = interval if finite else (math.nan, math.nan, math.nan, "")
    pooled = not c.of_every_domain
    mdg = minimum_detectable_gap(part_a, part_b, metric, alpha=1 - context.level, standard_error=se) \
        if finite and pooled else math.nan
    drop = gap / abs(value_a) if finite and pooled and value_a != 0 else math.nan
    missing = dict.fromkeys(context.missing(c.a) + context.missing(c.b))  # the spread's two sides are one
    n_a, n_b = (len(part_a), len(part_b)) if pooled else (sum(len(p) for p in present), 0)
    p_value = test.p_value if finite and test is not None else math.nan
    return Gap(c.kind, c.domain_a, c.domain_b, _unsigned_zero(value_a), _unsigned_zero(value_b), _unsigned_zero(gap),
               _unsigned_zero(low), _unsigned_zero(high), p_value, math.nan, n_a, n_b, _unsigned_zero(drop), mdg,
               ci_method, ";".join(missing), p_method=test.method if math.isfinite(p_value) and test else "")


def _unsigned_zero(x: float) -> float:
    """``x`` with ``-0.0`` written as ``0.0`` (a loss gap is ``-(a - b)``; ``[-0.0, 0.0]``
    reads as if the interval had a width)."""
    return x + 0.0


def _two_valued(parts: Sequence[np.ndarray]) -> bool:
    """The pooled rows take at most two distinct values (a permutation test is exact)."""
    distinct = [_distinct_rows(p) for p in parts]
    if any(d is None for d in distinct):
        return False
    rows = np.concatenate([d[0] for d in distinct if d is not None])
    return len(np.unique(rows, axis=0)) <= 2


def _empty_gap(c: _Comparison, values: Sequence[float], domains: Sequence[str]) -> Gap:
    return Gap(c.kind, c.domain_a, c.domain_b, math.nan, math.nan, math.nan, math.nan, math.nan, math.nan, math.nan,
               0, 0, math.nan, math.nan, "", ";".join(dict.fromkeys(domains)))


def _quiet_value(metric: Metric, parts: np.ndarray) -> float:
    """The metric of pooled rows, NaN when too few (the domains already warned)."""
    return float(metric.combine(parts.sum(axis=0))) if len(parts) >= metric.min_examples else math.nan
