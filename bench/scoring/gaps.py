"""Cross-domain gaps with bootstrap intervals, permutation tests and Holm adjustment.

For a metric :math:`m` and two sets of domains :math:`A` and :math:`B` the gap is signed
so that a positive gap means "worse on :math:`B`":

.. math:: \\mathrm{gap}(A, B) = \\sigma \\, (m(A) - m(B)), \\qquad
          \\sigma = +1 \\text{ if higher is better, } -1 \\text{ for losses},

where :math:`m(A)` pools the examples of the domains in :math:`A`. The comparisons of one
(model, task, metric) are:

- ``id_ood``: the in-domain set against each out-of-domain domain, and against all
  out-of-domain domains pooled (``domain_b = "OOD"``);
- ``pairwise``: every pair of domains, in the suite's order;
- ``best_worst``: the best against the worst domain; the statistic is the *range* of
  the domain values, :math:`\\max_d m(d) - \\min_d m(d)`, recomputed on every resample
  and permutation (so the selection of best and worst is part of the statistic).

Each gap has a stratified bootstrap interval (:mod:`bench.scoring.bootstrap`), a
two-sided permutation-test p-value of the domain labels, :math:`P(|T^*| \\ge |T|)`, and a
Holm-adjusted p-value over all the comparisons of the (model, task, metric). Beside each
gap stands the minimum detectable gap (:func:`minimum_detectable_gap`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from bench.errors import StatisticsError
from bench.scoring.bootstrap import (
    BootstrapResult,
    Statistic,
    StratifiedBootstrap,
    _as_parts,
    check_resamples,
    make_rng,
)
from bench.scoring.intervals import check_level
from bench.scoring.metrics import Metric
from bench.scoring.permutation import permutation_test

__all__ = [
    "GAP_KINDS",
    "POOLED_OOD",
    "DomainSpread",
    "Gap",
    "domain_gaps",
    "domain_spread",
    "gap_statistic",
    "holm",
    "minimum_detectable_gap",
    "permutation_test",
    "range_statistic",
]

GAP_KINDS = ("id_ood", "pairwise", "best_worst")
POOLED_OOD = "OOD"


@dataclass(frozen=True)
class Gap:
    """One comparison of two (sets of) domains for one metric.

    ``gap`` is positive when the metric is worse on ``domain_b``; ``relative_drop`` is
    ``gap / |value_a|``; ``mdg`` is the minimum detectable gap at 80% power.
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
    gap takes the place of the square root. NaN when a group is empty.
    """
    z = float(norm.ppf(1 - alpha / 2) + norm.ppf(power))
    if metric.values is None:
        return z * standard_error if standard_error is not None and math.isfinite(standard_error) else math.nan
    a, b = _as_parts(parts_a), _as_parts(parts_b)
    if len(a) == 0 or len(b) == 0:
        return math.nan
    both = np.concatenate([a, b])
    r = both[:, 0].sum() / both[:, 1].sum()
    s2 = ((both[:, 0] - r * both[:, 1]) ** 2).sum() / (both[:, 1] ** 2).sum()
    var = sum(s2 * (g[:, 1] ** 2).sum() / g[:, 1].sum() ** 2 for g in (a, b))
    return z * math.sqrt(var)


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
    kind: str
    domain_a: str
    domain_b: str
    a: tuple[int, ...]
    b: tuple[int, ...]


def _comparisons(domains: Sequence[str], in_domain: Sequence[str], values: Sequence[float],
                 higher_is_better: bool, kinds: Sequence[str]) -> list[_Comparison]:
    index = {d: i for i, d in enumerate(domains)}
    ids = tuple(index[d] for d in in_domain if d in index)
    oods = tuple(i for i, d in enumerate(domains) if d not in in_domain)
    out = []
    if "id_ood" in kinds and ids and oods:
        label = "+".join(domains[i] for i in ids)
        out += [_Comparison("id_ood", label, domains[j], ids, (j,)) for j in oods]
        out.append(_Comparison("id_ood", label, POOLED_OOD, ids, oods))
    if "pairwise" in kinds:
        out += [_Comparison("pairwise", domains[i], domains[j], (i,), (j,))
                for i in range(len(domains)) for j in range(i + 1, len(domains))]
    if "best_worst" in kinds and len(domains) > 1:
        spread = domain_spread(dict(zip(domains, values, strict=True)), higher_is_better)
        if spread.worst_domain and spread.worst_domain != spread.best_domain:
            out.append(_Comparison("best_worst", spread.best_domain, spread.worst_domain,
                                   (index[spread.best_domain],), (index[spread.worst_domain],)))
    return out


def _check_kinds(kinds: Sequence[str]) -> tuple[str, ...]:
    unknown = [k for k in kinds if k not in GAP_KINDS]
    if unknown:
        raise StatisticsError(f"Unknown gap kind(s) {', '.join(map(repr, unknown))}. Valid: {', '.join(GAP_KINDS)}.")
    return tuple(kinds)


def domain_gaps(strata: Mapping[str, np.ndarray], metric: Metric, *, in_domain: Sequence[str],
                resamples: int = 10_000, level: float = 0.95, method: str = "BCa",
                seed: int | np.random.Generator | None = 0, permutations: int | None = None,
                kinds: Sequence[str] = GAP_KINDS, where: str = "",
                bootstrap: StratifiedBootstrap | None = None) -> list[Gap]:
    """Every gap of one (model, task, metric) with interval, p-values and MDG.

    Parameters
    ----------
    strata
        Components (``metric.components``) of each domain, in the suite's domain order.
    metric
        The metric (direction, ``combine``).
    in_domain
        The in-domain set (set ``A`` of the ``id_ood`` gaps).
    resamples, level, method
        Bootstrap resamples, confidence level and interval method (see
        :class:`~bench.scoring.bootstrap.StratifiedBootstrap`).
    seed
        Seed or generator for the bootstrap and the permutations.
    permutations
        Monte Carlo permutations per test (default: ``resamples``); exact tests need none.
    kinds
        Which comparisons to make, a subset of :data:`GAP_KINDS`.
    where
        Names the (model, suite, task) in warnings.
    bootstrap
        Resampled sums of ``strata`` already drawn (e.g. for the metric intervals);
        drawn here from ``seed`` when not given.

    Returns
    -------
    list of Gap
        ``id_ood`` (each OOD domain, then the pooled ``OOD``), ``pairwise`` (suite order),
        ``best_worst``; ``p_adjusted`` is Holm over all of them. A comparison that occurs
        twice (an ``id_ood`` and a ``pairwise`` gap of the same two domains) shares one
        test, but counts twice in the Holm family.

    Raises
    ------
    StatisticsError
        For an invalid level, too few resamples or permutations, or an unknown kind.
    """
    level, kinds = check_level(level), _check_kinds(kinds)
    permutations = check_resamples(resamples if permutations is None else permutations, "permutations")
    domains = list(strata)
    parts = [_as_parts(strata[d]) for d in domains]
    values = [metric.value(p, where=f"{where}/{d}" if where else d) for p, d in zip(parts, domains, strict=True)]
    comparisons = _comparisons(domains, in_domain, values, metric.higher_is_better, kinds)
    if not comparisons:
        return []
    boot_rng, perm_rng = make_rng(seed).spawn(2)
    boot = bootstrap if bootstrap is not None else StratifiedBootstrap(parts, n_resamples=resamples, rng=boot_rng)
    statistics = [range_statistic(metric) if c.kind == "best_worst" else gap_statistic(metric, c.a, c.b)
                  for c in comparisons]
    result = boot.interval(lambda s: np.stack([f(s) for f in statistics], axis=-1), level=level, method=method)
    tests: dict[tuple, float] = {}
    rows = []
    for k, (c, rng) in enumerate(zip(comparisons, perm_rng.spawn(len(comparisons)), strict=True)):
        rows.append(_gap(c, metric, parts, values, statistics[k], result, k, level, permutations, rng, tests,
                         family=len(comparisons)))
    adjusted = holm([g.p_value for g in rows])
    return [Gap(**{**g.__dict__, "p_adjusted": float(p)}) for g, p in zip(rows, adjusted, strict=True)]


def _gap(c: _Comparison, metric: Metric, parts: list[np.ndarray], values: list[float], statistic: Statistic,
         result: BootstrapResult, k: int, level: float, permutations: int, rng: np.random.Generator,
         tests: dict[tuple, float], family: int = 1) -> Gap:
    part_a = np.concatenate([parts[i] for i in c.a])
    part_b = np.concatenate([parts[i] for i in c.b])
    value_a = values[c.a[0]] if len(c.a) == 1 else _quiet_value(metric, part_a)
    value_b = values[c.b[0]] if len(c.b) == 1 else _quiet_value(metric, part_b)
    gap = (value_a - value_b) if metric.higher_is_better else (value_b - value_a)
    finite = math.isfinite(gap)
    key = ("range",) if c.kind == "best_worst" else (c.a, c.b)
    if key not in tests:
        groups, group_stat = (parts, statistic) if c.kind == "best_worst" else \
            ([part_a, part_b], gap_statistic(metric, [0], [1]))
        tests[key] = permutation_test(groups, group_stat, n_permutations=permutations, rng=rng, family_size=family,
                                      alpha=1 - level) if finite else math.nan
    low, high, se = (float(result.low[k]), float(result.high[k]), float(result.standard_error[k])) if finite \
        else (math.nan, math.nan, math.nan)
    mdg = minimum_detectable_gap(part_a, part_b, metric, alpha=1 - level, standard_error=se) if finite else math.nan
    drop = gap / abs(value_a) if finite and value_a != 0 else math.nan
    return Gap(c.kind, c.domain_a, c.domain_b, value_a, value_b, gap, low, high, tests[key], math.nan,
               len(part_a), len(part_b), drop, mdg)


def _quiet_value(metric: Metric, parts: np.ndarray) -> float:
    """The metric of pooled rows, NaN when too few (the domains already warned)."""
    return float(metric.combine(parts.sum(axis=0))) if len(parts) >= metric.min_examples else math.nan
