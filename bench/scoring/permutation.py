"""Two-sided permutation tests of group labels for statistics of component sums.

Under the null hypothesis that the groups' examples are exchangeable, every relabelling
that keeps the group sizes is equally likely. The p-value is
:math:`P(|T^*| \\ge |T|)` over relabellings, computed exactly where a closed form exists
and by Monte Carlo otherwise (:func:`permutation_test`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.stats import hypergeom

from bench.scoring.bootstrap import (
    DEFAULT_CHUNK,
    Statistic,
    _as_parts,
    _distinct_rows,
    _one_hot,
    _sorted_rows,
    check_resamples,
    gather_sums,
    make_rng,
)

__all__ = ["permutation_test"]

_REL_TOL = 1e-9


def permutation_test(groups: Sequence[np.ndarray], statistic: Statistic, *, n_permutations: int = 10_000,
                     rng: int | np.random.Generator | None = None, max_elements: int = DEFAULT_CHUNK) -> float:
    """Two-sided permutation p-value of the group labels, :math:`P(|T^*| \\ge |T|)`.

    Parameters
    ----------
    groups
        Components of each group, shape ``(n_g, C)``.
    statistic
        Maps group sums ``(..., G, C)`` to ``(...)``.
    n_permutations
        Monte Carlo permutations (at least 100); the p-value is
        :math:`(1 + \\#\\{|T^*| \\ge |T|\\}) / (1 + R)` (Phipson & Smyth 2010).

    Notes
    -----
    Exact where cheap: two groups whose pooled rows take two distinct values (0/1
    accuracy) get the exact p-value from the hypergeometric distribution of the count in
    group A (Fisher's exact test of the 2×2 table when the statistic is a difference of
    proportions); two groups with a few distinct rows draw multivariate hypergeometric
    counts. Otherwise random permutations, in chunks of at most ``max_elements`` indices.
    NaN if a group is empty or the observed statistic is not finite.
    """
    n_permutations = check_resamples(n_permutations, "n_permutations")
    groups = [_sorted_rows(_as_parts(g)) for g in groups]
    sizes = np.array([len(g) for g in groups])
    if len(groups) < 2 or np.any(sizes == 0):
        return math.nan
    observed = float(statistic(np.stack([g.sum(axis=0) for g in groups])))
    if not math.isfinite(observed):
        return math.nan
    threshold = abs(observed) * (1 - _REL_TOL) - 1e-12
    pooled = np.concatenate(groups)
    distinct = _distinct_rows(pooled)
    if distinct is not None and len(distinct[0]) == 1:
        return 1.0
    rng = make_rng(rng)
    total = pooled.sum(axis=0)
    if distinct is not None:
        rows, counts = distinct
        if len(groups) == 2 and len(rows) == 2:
            return _hypergeometric_p(rows, counts, int(sizes[0]), total, statistic, threshold)
        stats = statistic(_hypergeometric_draws(counts, sizes, n_permutations, rng) @ rows)
        return (1 + int(np.sum(np.abs(stats) >= threshold))) / (1 + n_permutations)
    hits = _permutation_hits(pooled, sizes, statistic, threshold, n_permutations, rng, max_elements)
    return (1 + hits) / (1 + n_permutations)


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


def _hypergeometric_p(rows: np.ndarray, counts: np.ndarray, n_a: int, total: np.ndarray, statistic: Statistic,
                      threshold: float) -> float:
    n, k1 = int(counts.sum()), int(counts[1])
    k = np.arange(max(0, n_a - (n - k1)), min(n_a, k1) + 1)
    sums_a = (n_a - k)[:, None] * rows[0] + k[:, None] * rows[1]
    stats = statistic(np.stack([sums_a, total - sums_a], axis=-2))
    return float(min(1.0, hypergeom.pmf(k, n, k1, n_a)[np.abs(stats) >= threshold].sum()))


def _permutation_hits(pooled: np.ndarray, sizes: np.ndarray, statistic, threshold: float,
                      n_permutations: int, rng: np.random.Generator, max_elements: int) -> int:
    """Monte Carlo permutations: how many give :math:`|T^*| \\ge` ``threshold``."""
    n, c = pooled.shape
    constant = np.all(pooled == pooled[0], axis=0)
    varying = np.flatnonzero(~constant)
    dense = np.ascontiguousarray(pooled[:, varying])
    one_hot = _one_hot(dense)
    total = pooled.sum(axis=0)
    rows = max(1, max_elements // n)
    hits = 0
    for start in range(0, n_permutations, rows):
        r = min(rows, n_permutations - start)
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
