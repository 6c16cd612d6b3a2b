"""Two-sided permutation tests of group labels for statistics of component sums.

Under the null hypothesis that the groups' examples are exchangeable, every relabelling
that keeps the group sizes is equally likely. The p-value is
:math:`P(|T^*| \\ge |T|)` over relabellings (:func:`permutation_test`), computed by the
most accurate route that is cheap:

``exact``
    Two groups whose pooled rows take two distinct values (0/1 accuracy): the count in
    group A is hypergeometric, and the p-value is a sum of its tail probabilities
    (Fisher's exact test of the 2×2 table for a difference of proportions).
``monte_carlo``
    Random relabellings: multivariate hypergeometric counts when the rows take a few
    distinct values, otherwise random subsets (two groups) or permutations of indices.
``asymptotic``
    Every group has at least :data:`ASYMPTOTIC_MIN` examples and the rows are not
    discrete: the group sums are drawn from their limiting distribution under
    relabelling (the finite-population central limit theorem, Hájek 1960), a
    multivariate normal with the exact permutation moments

    .. math:: E[S_g] = n_g \\mu, \\qquad
              \\mathrm{Cov}(S_g, S_h) = \\tfrac{n}{n-1}\\,\\Sigma\\,(n_g \\delta_{gh} - n_g n_h / n),

    with :math:`\\mu, \\Sigma` the mean and covariance (``ddof=0``) of the pooled rows.
    Drawing :math:`Y_g \\sim N(0, n_g \\tfrac{n}{n-1} \\Sigma)` independently and setting
    :math:`S_g = n_g \\mu + Y_g - (n_g / n) \\sum_h Y_h` gives exactly those moments; the
    statistic is evaluated on the draws, so non-linear statistics (ratios, the range,
    calibration errors) need no further approximation. Cost: :math:`O(R \\cdot G \\cdot C)`
    instead of :math:`O(R \\cdot n)`.

Resolution
----------
The Monte Carlo p-value :math:`(1 + \\#\\text{hits}) / (1 + R)` (Phipson & Smyth 2010)
cannot fall below :math:`1 / (R + 1)`, so a family of :math:`m` tests adjusted by Holm
could never reach a smaller adjusted p-value than :math:`m / (R + 1)`. The draws are
therefore adaptive (in the manner of Besag & Clifford 1991): ``n_permutations`` first,
then doubling, up to :math:`R_{\\max} + 1 = \\lceil 10\\, m / \\alpha \\rceil` so that the
floor of the smallest Holm threshold's scale, :math:`m / (R_{\\max} + 1) = \\alpha / 10`,
never decides a result by itself; drawing stops early once the p-value is clearly
above :math:`\\alpha` (its estimate minus three standard errors exceeds :math:`\\alpha`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import hypergeom

from bench.errors import StatisticsError
from bench.scoring.bootstrap import (
    DEFAULT_CHUNK,
    MAX_DISTINCT,
    Statistic,
    _as_parts,
    _distinct_rows,
    _one_hot,
    _sorted_rows,
    check_resamples,
    gather_sums,
    make_rng,
)

__all__ = ["ASYMPTOTIC_MIN", "METHODS", "PermutationResult", "decided", "permutation_result", "permutation_results",
           "permutation_test", "permutations_needed", "subset_permutation_results"]

_REL_TOL = 1e-9
ASYMPTOTIC_MIN = 1_000
"""Smallest group size at which continuous rows take the asymptotic route."""
RESOLUTION = 10
"""Draws go up to ``RESOLUTION · family_size / alpha`` (see the module docstring)."""
CLEAR_Z = 3.0
"""A p-value whose estimate minus ``CLEAR_Z`` standard errors exceeds alpha is 'clearly large'."""
METHODS = ("exact", "monte_carlo", "asymptotic", "constant", "undefined")


@dataclass(frozen=True)
class PermutationResult:
    """A permutation p-value and how it was computed.

    Attributes
    ----------
    p_value
        Two-sided :math:`P(|T^*| \\ge |T|)`; NaN when ``method == "undefined"``.
    method
        One of :data:`METHODS` (``"constant"``: every row is equal, so p = 1).
    n_permutations
        Relabellings drawn (0 for ``exact``, ``constant`` and ``undefined``).
    """

    p_value: float
    method: str
    n_permutations: int


def permutations_needed(family_size: int, alpha: float, minimum: int = 0) -> int:
    """:math:`R_{\\max} = \\max(\\text{minimum}, \\lceil 10\\, m / \\alpha \\rceil - 1)`: enough
    Monte Carlo draws that ``family_size`` times the floor :math:`1 / (R + 1)` is at most
    ``alpha / 10``.

    Raises
    ------
    StatisticsError
        If ``family_size < 1`` or ``alpha`` is not in (0, 1).
    """
    if isinstance(family_size, bool) or not isinstance(family_size, int | np.integer) or family_size < 1:
        raise StatisticsError(f"The 'family_size' parameter must be a positive integer. Got {family_size!r} instead.")
    if not 0 < alpha < 1:
        raise StatisticsError(f"The 'alpha' parameter must lie in (0, 1). Got {alpha!r} instead.")
    return max(int(minimum), math.ceil(RESOLUTION * int(family_size) / alpha) - 1)


def permutation_test(groups: Sequence[np.ndarray], statistic: Statistic, *, n_permutations: int = 10_000,
                     rng: int | np.random.Generator | None = None, max_elements: int = DEFAULT_CHUNK,
                     family_size: int = 1, alpha: float = 0.05, asymptotic_min: int | None = ASYMPTOTIC_MIN) -> float:
    """Two-sided permutation p-value of the group labels, :math:`P(|T^*| \\ge |T|)`.

    Parameters
    ----------
    groups
        Components of each group, shape ``(n_g, C)``.
    statistic
        Maps group sums ``(..., G, C)`` to ``(...)``.
    n_permutations
        Monte Carlo permutations drawn first (at least 100); the p-value is
        :math:`(1 + \\#\\{|T^*| \\ge |T|\\}) / (1 + R)` (Phipson & Smyth 2010).
    rng
        Seed or generator of the draws.
    max_elements
        Bound on the indices drawn at once.
    family_size, alpha
        Size of the Holm family the p-value belongs to and its level: the draws go on,
        past ``n_permutations``, until :func:`permutations_needed` unless the p-value is
        clearly above ``alpha`` (see the module docstring).
    asymptotic_min
        Smallest group size at which continuous rows take the asymptotic route (``None``:
        never).

    Notes
    -----
    NaN if there are fewer than two groups, a group is empty or the observed statistic
    is not finite. See :func:`permutation_result` for the route taken.
    """
    return permutation_result(groups, statistic, n_permutations=n_permutations, rng=rng, max_elements=max_elements,
                              family_size=family_size, alpha=alpha, asymptotic_min=asymptotic_min).p_value


def permutation_result(groups: Sequence[np.ndarray], statistic: Statistic, *, n_permutations: int = 10_000,
                       rng: int | np.random.Generator | None = None, max_elements: int = DEFAULT_CHUNK,
                       family_size: int = 1, alpha: float = 0.05,
                       asymptotic_min: int | None = ASYMPTOTIC_MIN) -> PermutationResult:
    """:func:`permutation_test` with the route taken and the number of draws."""
    return permutation_results(groups, lambda sums: np.asarray(statistic(sums))[..., None],
                               n_permutations=n_permutations, rng=rng, max_elements=max_elements,
                               family_size=family_size, alpha=alpha, asymptotic_min=asymptotic_min)[0]


def permutation_results(groups: Sequence[np.ndarray], statistics: Statistic, *, n_permutations: int = 10_000,
                        rng: int | np.random.Generator | None = None, max_elements: int = DEFAULT_CHUNK,
                        family_size: int = 1, alpha: float = 0.05,
                        asymptotic_min: int | None = ASYMPTOTIC_MIN) -> list[PermutationResult]:
    """:func:`permutation_result` of ``K`` statistics of the same groups, from the same
    relabellings: ``statistics`` maps sums ``(..., G, C)`` to ``(..., K)``. Each gets its
    own p-value (the draws go on while any is undecided)."""
    n_permutations = check_resamples(n_permutations, "n_permutations")
    most = permutations_needed(family_size, alpha, n_permutations)
    parts = [_as_parts(g) for g in groups]
    sizes = np.array([len(g) for g in parts])
    if len(parts) < 2 or np.any(sizes == 0):
        return [PermutationResult(math.nan, "undefined", 0)]
    observed = np.atleast_1d(np.asarray(statistics(np.stack([g.sum(axis=0) for g in parts])), dtype=np.float64))
    if not np.isfinite(observed).all():
        finite = np.flatnonzero(np.isfinite(observed))
        kept = permutation_results(parts, lambda sums: np.asarray(statistics(sums))[..., finite],
                                   n_permutations=n_permutations, rng=rng, max_elements=max_elements,
                                   family_size=family_size, alpha=alpha, asymptotic_min=asymptotic_min) \
            if finite.size else []
        out = [PermutationResult(math.nan, "undefined", 0)] * len(observed)
        for k, result in zip(finite, kept, strict=True):
            out[k] = result
        return out
    threshold = np.abs(observed) * (1 - _REL_TOL) - 1e-12
    distinct = _pooled_distinct(parts)
    if distinct is not None and len(distinct[0]) == 1:
        return [PermutationResult(1.0, "constant", 0)] * len(observed)
    rng = make_rng(rng)
    if distinct is not None:
        rows, counts = distinct
        if len(parts) == 2 and len(rows) == 2:
            total = sum(g.sum(axis=0) for g in parts)
            return [PermutationResult(_hypergeometric_p(rows, counts, int(sizes[0]), total, _column(statistics, k),
                                                        float(threshold[k])), "exact", 0)
                    for k in range(len(observed))]
        draw = _discrete_sampler(rows, counts, sizes, statistics, threshold, rng)
        return _adaptive(draw, n_permutations, most, alpha, "monte_carlo", family_size)
    if asymptotic_min is not None and sizes.min() >= asymptotic_min:
        return _adaptive(_normal_sampler(parts, sizes, statistics, threshold, rng, max_elements),
                         n_permutations, most, alpha, "asymptotic", family_size)
    pooled = np.concatenate([_sorted_rows(g) for g in parts])  # a canonical order: independent of record order
    draw = _index_sampler(pooled, sizes, statistics, threshold, rng, max_elements)
    return _adaptive(draw, n_permutations, most, alpha, "monte_carlo", family_size)


def _column(statistics: Statistic, k: int) -> Statistic:
    """Statistic ``k`` of a stacked statistic."""
    return lambda sums: np.asarray(statistics(sums))[..., k]


def _pooled_distinct(parts: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray] | None:
    """Distinct rows of the pooled groups and their counts, or ``None`` if there are more
    than ``MAX_DISTINCT`` (from each group's distinct rows: no pooled copy)."""
    found = [_distinct_rows(g) for g in parts]
    if any(f is None for f in found):
        return None
    rows = np.concatenate([f[0] for f in found if f is not None])
    counts = np.concatenate([f[1] for f in found if f is not None])
    unique, inverse = np.unique(rows, axis=0, return_inverse=True)
    if len(unique) > MAX_DISTINCT:
        return None
    return unique, np.bincount(inverse.ravel(), weights=counts, minlength=len(unique)).astype(np.int64)


def _adaptive(draw_hits: Callable[[int], np.ndarray], start: int, most: int, alpha: float, method: str,
              family_size: int = 1) -> list[PermutationResult]:
    """Draw ``start`` relabellings, then double, up to ``most`` or until every decision is
    certain (:func:`decided`); ``draw_hits(r)`` counts the hits of each statistic."""
    hits, done = draw_hits(start), start
    while True:
        if done >= most or decided(hits, done, alpha, family_size).all():
            return [PermutationResult(float((1 + h) / (1 + done)), method, done) for h in hits]
        batch = min(done, most - done)
        hits = hits + draw_hits(batch)
        done += batch


def decided(hits: np.ndarray, done: int, alpha: float, family_size: int) -> np.ndarray:
    """Whether more draws could change a Holm decision at level ``alpha`` in a family of
    ``family_size`` tests, for Monte Carlo p-values of ``hits`` among ``done`` draws.

    A p-value whose estimate :math:`\\hat p = h / R` minus ``CLEAR_Z`` standard errors
    :math:`\\sqrt{\\hat p (1 - \\hat p) / R}` exceeds ``alpha`` is clearly large: Holm never
    rejects it. One whose reported value :math:`(1 + h) / (1 + R)` plus ``CLEAR_Z`` standard
    errors is below ``alpha / family_size`` is clearly small: Holm rejects it at any step,
    since its adjusted p-value is at most ``family_size`` times its own.
    """
    estimate = hits / done
    se = np.sqrt(estimate * (1 - estimate) / done)
    clearly_large = estimate - CLEAR_Z * se > alpha
    clearly_small = (1 + hits) / (1 + done) + CLEAR_Z * se < alpha / family_size
    return clearly_large | clearly_small


def subset_permutation_results(pooled: np.ndarray, sizes: Sequence[int], observed: Sequence[float],
                               statistic: Statistic, *, n_permutations: int = 10_000,
                               rng: int | np.random.Generator | None = None, family_size: int = 1,
                               alpha: float = 0.05, max_elements: int = DEFAULT_CHUNK) -> list[PermutationResult]:
    """Permutation tests of several subsets against the rest of one pooled set, sharing draws.

    Test :math:`t` compares a subset :math:`B_t` of :math:`k_t` = ``sizes[t]`` of the
    ``pooled`` rows with the rest, :math:`A_t`; under the null every :math:`k_t`-subset is
    equally likely. Each draw is one random order of the pooled rows, and test :math:`t`
    takes its first :math:`k_t` rows as :math:`B^*_t`: a uniform :math:`k_t`-subset, so each
    test's Monte Carlo p-value is exact, while one draw (a partial sort and a cumulative
    sum, :math:`O(n + R \\max_t k_t)`) serves every test. The draws are adaptive as in
    :func:`permutation_test`: ``n_permutations`` first, then doubling for the tests not
    yet :func:`decided`, up to :func:`permutations_needed` of the family.

    Parameters
    ----------
    pooled
        Components of the pooled rows, shape ``(n, C)``, in a canonical order.
    sizes
        :math:`k_t`, each in ``[1, n - 1]``.
    observed
        The observed statistic of each test (NaN: an undefined test).
    statistic
        Maps sums ``(..., 2, C)`` (``A`` then ``B``) to ``(...)``.
    n_permutations, rng, family_size, alpha, max_elements
        As for :func:`permutation_test`.

    Returns
    -------
    list of PermutationResult
        Method ``monte_carlo`` (``undefined`` where ``observed`` is not finite).
    """
    n_permutations = check_resamples(n_permutations, "n_permutations")
    most = permutations_needed(family_size, alpha, n_permutations)
    pooled, k = _as_parts(pooled), np.asarray(sizes, dtype=np.int64)
    values = np.asarray(observed, dtype=np.float64)
    threshold = np.abs(values) * (1 - _REL_TOL) - 1e-12
    hits, done = np.zeros(len(k), dtype=np.int64), 0
    active = np.isfinite(values)
    rng, batch = make_rng(rng), n_permutations
    draws = np.zeros(len(k), dtype=np.int64)
    while active.any():
        live = np.flatnonzero(active)
        hits[live] += _subset_hits(pooled, k[live], threshold[live], statistic, batch, rng, max_elements)
        done += batch
        draws[live] = done
        active[live] = ~decided(hits[live], done, alpha, family_size) & (done < most)
        batch = min(done, most - done)
    return [PermutationResult((1 + h) / (1 + r), "monte_carlo", int(r)) if r else PermutationResult(math.nan, "undefined", 0)
            for h, r in zip(hits, draws, strict=True)]


def _subset_hits(pooled: np.ndarray, sizes: np.ndarray, threshold: np.ndarray, statistic: Statistic, n_draws: int,
                 rng: np.random.Generator, max_elements: int) -> np.ndarray:
    """Per test, the draws whose :math:`|T^*|` reaches its threshold (see
    :func:`subset_permutation_results`)."""
    n, c = pooled.shape
    total, longest = pooled.sum(axis=0), int(sizes.max())
    rows = max(1, PREFIX_ELEMENTS // n, max_elements // max(1, longest * c))
    hits = np.zeros(len(sizes), dtype=np.int64)
    for start in range(0, n_draws, rows):
        r = min(rows, n_draws - start)
        running = np.cumsum(pooled[_random_prefix(rng, r, n, longest)], axis=1)  # (r, longest, C)
        subset = running[:, sizes - 1, :]  # (r, T, C)
        sums = np.stack([total - subset, subset], axis=-2)
        hits += _hits(statistic(sums), threshold)
    return hits


def _hits(values: np.ndarray, threshold: np.ndarray) -> np.ndarray:
    """Per statistic (last axis), the draws (first axis) with :math:`|T^*| \\ge` its threshold."""
    return np.sum(np.abs(values) >= threshold, axis=0)


PREFIX_ELEMENTS = 1 << 22
"""Bound on the index matrix (draws × rows) of one chunk of random prefixes."""
SWAP_MAX = 4_096
"""Longest prefix drawn by swaps; a longer one sorts random keys."""


def _random_prefix(rng: np.random.Generator, r: int, n: int, length: int) -> np.ndarray:
    """The first ``length`` entries of ``r`` independent uniform random permutations of
    ``range(n)``, shape ``(r, length)``: a uniform random ordered sample without
    replacement per row. By the first ``length`` swaps of Fisher–Yates, vectorised over
    the rows (:math:`O(r\\,n)` to copy, :math:`O(r\\,\\text{length})` to swap), or by sorting
    random keys when the prefix is long."""
    if length > SWAP_MAX:
        return np.argsort(rng.random((r, n)), axis=1)[:, :length]
    order = np.broadcast_to(np.arange(n, dtype=np.int64), (r, n)).copy()
    swap = rng.integers(np.arange(length), n, size=(r, length))
    each = np.arange(r)
    for i in range(length):
        j = swap[:, i]
        here = order[:, i].copy()
        order[:, i] = order[each, j]
        order[each, j] = here
    return order[:, :length]


def _hypergeometric_p(rows: np.ndarray, counts: np.ndarray, n_a: int, total: np.ndarray, statistic: Statistic,
                      threshold: float) -> float:
    """Exact p-value over the hypergeometric count ``k`` of the second row value in group A:
    :math:`\\sum_{k : |T(k)| \\ge |T|} P(k)`, by two tail probabilities when the hits are
    the two ends of the support (a statistic monotone in ``k``), else term by term."""
    n, k1 = int(counts.sum()), int(counts[1])
    k = np.arange(max(0, n_a - (n - k1)), min(n_a, k1) + 1)
    sums_a = (n_a - k)[:, None] * rows[0] + k[:, None] * rows[1]
    hit = np.abs(statistic(np.stack([sums_a, total - sums_a], axis=-2))) >= threshold
    if hit.all():
        return 1.0
    below = int(np.argmin(hit))  # the first miss: hits k[0] … k[below - 1] at the low end
    above = len(k) - int(np.argmin(hit[::-1]))  # after the last miss: hits k[above] … k[-1]
    if not hit[below:above].any():
        low = hypergeom.cdf(k[below - 1], n, k1, n_a) if below > 0 else 0.0
        high = hypergeom.sf(k[above] - 1, n, k1, n_a) if above < len(k) else 0.0
        return float(min(1.0, low + high))
    return float(min(1.0, hypergeom.pmf(k[hit], n, k1, n_a).sum()))


def _discrete_sampler(rows: np.ndarray, counts: np.ndarray, sizes: np.ndarray, statistic: Statistic,
                      threshold: np.ndarray, rng: np.random.Generator) -> Callable[[int], np.ndarray]:
    def draw(r: int) -> np.ndarray:
        return _hits(statistic(_hypergeometric_draws(counts, sizes, r, rng) @ rows), threshold)

    return draw


def _hypergeometric_draws(counts: np.ndarray, sizes: np.ndarray, n_draws: int, rng: np.random.Generator) -> np.ndarray:
    """Counts of each distinct row in each group under a random relabelling, shape
    ``(R, G, k)``: exact, by sequential (vectorised) hypergeometric draws."""
    remaining = np.broadcast_to(counts.astype(np.int64), (n_draws, len(counts))).copy()
    out = np.zeros((n_draws, len(sizes), len(counts)))
    for g, size in enumerate(sizes[:-1]):
        need = np.full(n_draws, int(size))
        for c in range(len(counts) - 1):
            others = remaining[:, c + 1 :].sum(axis=1)
            take = rng.hypergeometric(remaining[:, c], others, need) if np.any(need) else np.zeros(n_draws, np.int64)
            out[:, g, c] = take
            remaining[:, c] -= take
            need -= take
        out[:, g, -1] = need
        remaining[:, -1] -= need
    out[:, -1, :] = remaining
    return out


def _normal_sampler(parts: Sequence[np.ndarray], sizes: np.ndarray, statistic: Statistic, threshold: np.ndarray,
                    rng: np.random.Generator, max_elements: int) -> Callable[[int], np.ndarray]:
    """Hits among group sums drawn from their asymptotic (multivariate normal) permutation
    distribution (see the module docstring)."""
    n, c = int(sizes.sum()), parts[0].shape[1]
    mean = sum(g.sum(axis=0) for g in parts) / n
    # n/(n-1) Σ with Σ the ddof=0 covariance of the pooled rows, from each group's centred moments
    cov = np.atleast_2d(sum(_scatter(g - mean) for g in parts) / (n - 1))
    values, vectors = np.linalg.eigh(cov)
    root = vectors * np.sqrt(np.clip(values, 0.0, None))  # root @ root.T = cov, singular allowed
    g = len(sizes)
    scale = np.sqrt(sizes.astype(np.float64))[:, None]
    share = (sizes / n)[:, None]
    rows = max(1, max_elements // (g * c))

    def draw(r: int) -> np.ndarray:
        hits = np.zeros(len(threshold), dtype=np.int64)
        for start in range(0, r, rows):
            m = min(rows, r - start)
            y = (rng.standard_normal((m, g, c)) @ root.T) * scale
            sums = sizes[:, None] * mean + y - share * y.sum(axis=1, keepdims=True)
            hits += _hits(statistic(sums), threshold)
        return hits

    return draw


def _scatter(centred: np.ndarray) -> np.ndarray:
    """:math:`X^T X` of an ``(n, C)`` array, as a product of contiguous ``(C, n)`` rows
    (several times faster in OpenBLAS than the transposed view)."""
    rows = np.ascontiguousarray(centred.T)
    return rows @ rows.T


def _index_sampler(pooled: np.ndarray, sizes: np.ndarray, statistic: Statistic, threshold: np.ndarray,
                   rng: np.random.Generator, max_elements: int) -> Callable[[int], np.ndarray]:
    """Hits among random relabellings of the rows, in chunks of at most ``max_elements``."""
    n, c = pooled.shape
    constant = np.all(pooled == pooled[0], axis=0)
    varying = np.flatnonzero(~constant)
    dense = np.ascontiguousarray(pooled[:, varying])
    one_hot = _one_hot(dense)
    total = pooled.sum(axis=0)
    rows = max(1, max_elements // n)
    starts = np.cumsum(sizes) - sizes

    def draw(r_total: int) -> np.ndarray:
        hits = np.zeros(len(threshold), dtype=np.int64)
        for start in range(0, r_total, rows):
            r = min(rows, r_total - start)
            sums = np.empty((r, len(sizes), c))
            sums[:, :, constant] = sizes[:, None] * pooled[0, constant]
            if len(sizes) == 2:  # a random subset of the smaller group's size
                small = int(np.argmin(sizes))
                chosen = np.argpartition(rng.random((r, n)), sizes[small] - 1, axis=1)[:, : sizes[small]]
                sums[:, small, varying] = gather_sums(dense, chosen, one_hot)
                sums[:, 1 - small, varying] = total[varying] - sums[:, small, varying]
            else:  # a random permutation, cut into the groups' sizes: one segmented sum for all groups
                order = rng.permuted(np.broadcast_to(np.arange(n), (r, n)), axis=1)
                sums[:, :, varying] = np.add.reduceat(dense[order], starts, axis=1)
            hits += _hits(statistic(sums), threshold)
        return hits

    return draw
