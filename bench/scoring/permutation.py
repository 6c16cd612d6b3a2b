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

__all__ = ["ASYMPTOTIC_MIN", "METHODS", "PermutationResult", "permutation_result", "permutation_test",
           "permutations_needed"]

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
    n_permutations = check_resamples(n_permutations, "n_permutations")
    most = permutations_needed(family_size, alpha, n_permutations)
    parts = [_as_parts(g) for g in groups]
    sizes = np.array([len(g) for g in parts])
    if len(parts) < 2 or np.any(sizes == 0):
        return PermutationResult(math.nan, "undefined", 0)
    observed = float(statistic(np.stack([g.sum(axis=0) for g in parts])))
    if not math.isfinite(observed):
        return PermutationResult(math.nan, "undefined", 0)
    threshold = abs(observed) * (1 - _REL_TOL) - 1e-12
    distinct = _pooled_distinct(parts)
    if distinct is not None and len(distinct[0]) == 1:
        return PermutationResult(1.0, "constant", 0)
    rng = make_rng(rng)
    if distinct is not None:
        rows, counts = distinct
        if len(parts) == 2 and len(rows) == 2:
            total = sum(g.sum(axis=0) for g in parts)
            p = _hypergeometric_p(rows, counts, int(sizes[0]), total, statistic, threshold)
            return PermutationResult(p, "exact", 0)
        draw = _discrete_sampler(rows, counts, sizes, statistic, threshold, rng)
        return _adaptive(draw, n_permutations, most, alpha, "monte_carlo")
    if asymptotic_min is not None and sizes.min() >= asymptotic_min:
        return _adaptive(_normal_sampler(parts, sizes, statistic, threshold, rng, max_elements),
                         n_permutations, most, alpha, "asymptotic")
    pooled = np.concatenate([_sorted_rows(g) for g in parts])  # a canonical order: independent of record order
    draw = _index_sampler(pooled, sizes, statistic, threshold, rng, max_elements)
    return _adaptive(draw, n_permutations, most, alpha, "monte_carlo")


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


def _adaptive(draw_hits: Callable[[int], int], start: int, most: int, alpha: float, method: str) -> PermutationResult:
    """Draw ``start`` relabellings, then double, up to ``most`` or until the p-value is
    clearly above ``alpha``."""
    hits, done, batch = 0, 0, start
    while True:
        hits += draw_hits(batch)
        done += batch
        estimate = hits / done
        clearly_large = estimate - CLEAR_Z * math.sqrt(estimate * (1 - estimate) / done) > alpha
        if done >= most or clearly_large:
            return PermutationResult((1 + hits) / (1 + done), method, done)
        batch = min(done, most - done)


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
                      threshold: float, rng: np.random.Generator) -> Callable[[int], int]:
    def draw(r: int) -> int:
        return int(np.sum(np.abs(statistic(_hypergeometric_draws(counts, sizes, r, rng) @ rows)) >= threshold))

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


def _normal_sampler(parts: Sequence[np.ndarray], sizes: np.ndarray, statistic: Statistic, threshold: float,
                    rng: np.random.Generator, max_elements: int) -> Callable[[int], int]:
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

    def draw(r: int) -> int:
        hits = 0
        for start in range(0, r, rows):
            m = min(rows, r - start)
            y = (rng.standard_normal((m, g, c)) @ root.T) * scale
            sums = sizes[:, None] * mean + y - share * y.sum(axis=1, keepdims=True)
            hits += int(np.sum(np.abs(statistic(sums)) >= threshold))
        return hits

    return draw


def _scatter(centred: np.ndarray) -> np.ndarray:
    """:math:`X^T X` of an ``(n, C)`` array, as a product of contiguous ``(C, n)`` rows
    (several times faster in OpenBLAS than the transposed view)."""
    rows = np.ascontiguousarray(centred.T)
    return rows @ rows.T


def _index_sampler(pooled: np.ndarray, sizes: np.ndarray, statistic: Statistic, threshold: float,
                   rng: np.random.Generator, max_elements: int) -> Callable[[int], int]:
    """Hits among random relabellings of the rows, in chunks of at most ``max_elements``."""
    n, c = pooled.shape
    constant = np.all(pooled == pooled[0], axis=0)
    varying = np.flatnonzero(~constant)
    dense = np.ascontiguousarray(pooled[:, varying])
    one_hot = _one_hot(dense)
    total = pooled.sum(axis=0)
    rows = max(1, max_elements // n)

    def draw(r_total: int) -> int:
        hits = 0
        for start in range(0, r_total, rows):
            r = min(rows, r_total - start)
            sums = np.empty((r, len(sizes), c))
            sums[:, :, constant] = sizes[:, None] * pooled[0, constant]
            if len(sizes) == 2:  # a random subset of the smaller group's size
                small = int(np.argmin(sizes))
                chosen = np.argpartition(rng.random((r, n)), sizes[small] - 1, axis=1)[:, : sizes[small]]
                sums[:, small, varying] = gather_sums(dense, chosen, one_hot)
                sums[:, 1 - small, varying] = total[varying] - sums[:, small, varying]
            else:  # a random permutation, cut into the groups' sizes
                order = rng.permuted(np.broadcast_to(np.arange(n), (r, n)), axis=1)
                stops = np.cumsum(sizes)
                for g, (begin, end) in enumerate(zip(stops - sizes, stops, strict=True)):
                    sums[:, g, varying] = gather_sums(dense, order[:, begin:end], one_hot)
            hits += int(np.sum(np.abs(statistic(sums)) >= threshold))
        return hits

    return draw
