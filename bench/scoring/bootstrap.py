"""Vectorised, stratified bootstrap of statistics of component sums.

Every metric of :mod:`bench.scoring.metrics` is a function of the *sums* of per-example
components over a group. A stratified bootstrap resamples, within each stratum (domain)
:math:`s`, :math:`n_s` examples with replacement, so a resample is fully described by the
resampled component sums :math:`S^*_s \\in \\mathbb{R}^C` of each stratum; any statistic
of the strata (a domain's metric, the pooled metric, a gap between two sets of domains)
is a function of the array of sums of shape ``(S, C)``. :class:`StratifiedBootstrap`
draws those sums once and evaluates any number of statistics on them.

The sums are drawn exactly, by the cheapest exact route:

- a stratum whose component rows take few distinct values (``≤ 32``; e.g. 0/1 correctness
  with unit weight) draws the counts of each distinct row from a multinomial
  (a binomial for two values): the resampled sum of 0/1 values *is* a binomial draw;
- otherwise indices are drawn in chunks of at most ``max_elements`` (default 2¹⁷) so that
  memory stays bounded for any number of examples;
- a stratum of at least ``normal_min`` (default :data:`NORMAL_MIN`) examples with
  continuous rows draws its resampled sum as the scaled sum of :data:`MATCH_ROWS`
  resampled rows plus a normal term (:func:`_matched_sums`): the same mean, covariance
  and third cumulants as the sum of :math:`n_s` resampled rows (a plain normal limit
  dropped the skewness, which moved BCa's bounds by several Monte Carlo standard errors
  on skewed rows). Cost :math:`O(B\\, m)` instead of :math:`O(B n_s)`. Statistics are
  still evaluated on the drawn sums, so ratios and calibration errors keep their
  non-linearity; ``normal_min=None`` always resamples indices.

Rows are sorted before resampling, so the result does not depend on record order, and
each stratum draws from its own child generator (``rng.spawn``), so relabelling the
strata permutes the results without changing them.

Intervals follow :func:`scipy.stats.bootstrap`: the percentile interval, and the BCa
interval (Efron 1987) with the bias correction :math:`\\hat z_0 = \\Phi^{-1}(\\#\\{\\theta^*_b
< \\hat\\theta\\} + \\#\\{\\theta^*_b \\le \\hat\\theta\\}) / 2B)` and the acceleration from
the jackknife of each stratum (computed in closed form from the sums, :math:`O(n)`; for a
stratum of at least ``normal_min`` examples from the first-order expansion of the
leave-one-out values, the infinitesimal jackknife, which differs by :math:`O(1/n)`):

.. math::
    U_{si} = (n_s - 1)(\\bar\\theta_{s\\cdot} - \\hat\\theta_{s(i)}), \\qquad
    \\hat a = \\frac{1}{6} \\frac{\\sum_s \\sum_i U_{si}^3 / n_s^3}
                           {\\big(\\sum_s \\sum_i U_{si}^2 / n_s^2\\big)^{3/2}}.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from scipy.special import ndtr, ndtri, stdtrit

from bench.errors import StatisticsError
from bench.scoring.intervals import check_level
from bench.scoring.options import MIN_RESAMPLES

__all__ = [
    "METHODS",
    "BootstrapResult",
    "ConfidenceInterval",
    "StratifiedBootstrap",
    "bootstrap_ratio",
    "check_resamples",
    "make_rng",
    "resample_sums",
    "studentized_interval",
]

METHODS = ("percentile", "BCa")
MAX_DISTINCT = 32
DEFAULT_CHUNK = 2**17

Statistic = Callable[[np.ndarray], np.ndarray]
"""Maps component sums of shape ``(..., S, C)`` to values of shape ``(...)`` or ``(..., K)``."""


class ConfidenceInterval(NamedTuple):
    """Lower and upper bound of a two-sided interval."""

    low: float | np.ndarray
    high: float | np.ndarray


@dataclass(frozen=True)
class BootstrapResult:
    """A bootstrap interval, in the manner of :class:`scipy.stats._resampling.BootstrapResult`.

    Attributes
    ----------
    estimate
        The statistic on the observed data.
    low, high
        Interval bounds at confidence ``level``.
    level
        Two-sided confidence level.
    standard_error
        Standard deviation (``ddof=1``) of the bootstrap distribution.
    method
        ``"percentile"`` or ``"BCa"`` (the method actually used: BCa falls back to the
        percentile interval when the jackknife acceleration is undefined).
    n_resamples
        Number of resamples.
    distribution
        The bootstrap distribution (``None`` unless asked for).
    fallback
        Where BCa fell back to the percentile interval, in some columns or all: which
        ones (``None`` where none did; see :meth:`methods`).
    """

    estimate: float | np.ndarray
    low: float | np.ndarray
    high: float | np.ndarray
    level: float
    standard_error: float | np.ndarray
    method: str
    n_resamples: int
    distribution: np.ndarray | None = field(default=None, repr=False)
    fallback: np.ndarray | None = field(default=None, repr=False)

    def methods(self) -> list[str]:
        """The method of each column (of a result of ``K`` statistics, or of the one), as
        ``ci_method`` writes it: where BCa fell back to the percentile interval
        (``fallback``), ``"BCa->percentile"`` there and ``"BCa"`` elsewhere; otherwise
        ``method``."""
        width = int(np.size(self.estimate))
        if self.fallback is None:
            return [self.method] * width
        return ["BCa->percentile" if f else "BCa" for f in np.ravel(self.fallback)]

    @property
    def confidence_interval(self) -> ConfidenceInterval:
        """``(low, high)`` as a named tuple, as scipy returns it."""
        return ConfidenceInterval(self.low, self.high)


NORMAL_MIN = 10_000
"""Stratum size from which continuous rows draw their resampled sums by :func:`_matched_sums`."""
PREFIX = 4_096
"""Rows looked at first when counting distinct values (an early exit for continuous data)."""

PARALLEL_THRESHOLD = 5_000_000
"""Resampled elements (examples × resamples) above which strata are drawn in threads."""


def check_resamples(n_resamples: int, name: str = "n_resamples") -> int:
    """Validate a number of resamples: an integer of at least 100."""
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int | np.integer) or n_resamples < MIN_RESAMPLES:
        raise StatisticsError(
            f"The {name!r} parameter must be an integer of at least {MIN_RESAMPLES}. Got {n_resamples!r} instead.")
    return int(n_resamples)


def check_method(method: str, valid: Sequence[str] = METHODS) -> str:
    """Validate an interval method name, case-insensitively; return its spelling in ``valid``."""
    found = {m.lower(): m for m in valid}.get(method.lower()) if isinstance(method, str) else None
    if found is None:
        raise StatisticsError(f"The 'method' parameter must be one of {', '.join(valid)}. Got {method!r} instead.")
    return found


def make_rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    """An explicit generator: ``seed`` itself if it is one, else ``default_rng(seed)``."""
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _as_parts(parts: np.ndarray, where: str = "") -> np.ndarray:
    parts = np.asarray(parts, dtype=np.float64)
    if parts.ndim == 1:
        parts = parts[:, None]
    if parts.ndim != 2:
        raise StatisticsError(f"Components{where} must have shape (n, C). Got shape {parts.shape} instead.")
    return parts


def _sorted_rows(parts: np.ndarray) -> np.ndarray:
    """Rows in lexicographic order: a canonical order independent of the records' order."""
    if len(parts) < 2:
        return parts
    return parts[np.lexsort(parts.T[::-1])]


def _canonical(parts: np.ndarray, normal_min: float) -> np.ndarray:
    """Rows sorted (:func:`_sorted_rows`): every route's draws pick rows by index, so the
    order could reach them (``normal_min`` is kept for the callers' signature)."""
    return _sorted_rows(parts)


def _distinct_rows(parts: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``(rows, counts)`` if the rows take at most ``MAX_DISTINCT`` values, else ``None``."""
    if len(parts) == 0:
        return None
    step = max(1, len(parts) // PREFIX)
    codes = np.zeros(len(parts), dtype=np.int64)  # index of each row's prefix in `table`
    table = np.zeros((1, 0))  # the distinct prefixes (columns 0 … j-1) seen so far
    for j in range(parts.shape[1]):
        column = parts[:, j]
        candidates = np.unique(np.concatenate([column[:PREFIX], column[::step]]))  # an early exit for
        if len(candidates) > MAX_DISTINCT:  # continuous data
            return None
        index = np.minimum(np.searchsorted(candidates, column), len(candidates) - 1)
        if not np.array_equal(candidates[index], column):  # values the samples missed
            candidates = np.unique(column)
            if len(candidates) > MAX_DISTINCT:
                return None
            index = np.searchsorted(candidates, column)
        combined = codes * len(candidates) + index  # at most MAX_DISTINCT² codes
        present = np.flatnonzero(np.bincount(combined, minlength=len(table) * len(candidates)))
        if len(present) > MAX_DISTINCT:
            return None
        remap = np.zeros(len(table) * len(candidates), dtype=np.int64)
        remap[present] = np.arange(len(present))
        codes = remap[combined]
        table = np.column_stack([table[present // len(candidates)], candidates[present % len(candidates)]])
    return table, np.bincount(codes, minlength=len(table))


def resample_sums(parts: np.ndarray, n_resamples: int, rng: np.random.Generator, *,
                  max_elements: int = DEFAULT_CHUNK, normal_min: int | None = NORMAL_MIN) -> np.ndarray:
    """Component sums of ``n_resamples`` resamples (with replacement, size ``n``) of the rows.

    Parameters
    ----------
    parts
        Per-example components, shape ``(n, C)``.
    n_resamples
        Number of resamples ``B``.
    rng
        The generator the draws come from.
    max_elements
        Upper bound on the indices drawn at once (memory: about 16 bytes each).
    normal_min
        From this many rows on, continuous rows draw the sums by :func:`_matched_sums`
        (see the module docstring); ``None``: never.

    Returns
    -------
    numpy.ndarray
        Shape ``(B, C)``. Exact by multinomial counts of the distinct rows when there are
        few, else moment-matched (:func:`_matched_sums`) when there are at least
        ``normal_min`` rows, else by chunked index resampling.
    """
    parts = _as_parts(parts)
    parts = _canonical(parts, math.inf if normal_min is None else normal_min)
    n, c = parts.shape
    if n == 0:
        return np.zeros((n_resamples, c))
    distinct = _distinct_rows(parts)
    if distinct is not None:
        rows, counts = distinct
        if len(rows) == 1:
            return np.broadcast_to(n * rows[0], (n_resamples, c)).copy()
        if len(rows) == 2:
            k = rng.binomial(n, counts[1] / n, size=n_resamples)
            draws = np.column_stack([n - k, k])
        else:
            draws = rng.multinomial(n, counts / n, size=n_resamples)
        return draws.astype(np.float64) @ rows
    if normal_min is not None and n >= normal_min:
        return _matched_sums(parts, n_resamples, rng, max_elements)
    return _index_sums(parts, n_resamples, rng, max_elements)


MATCH_ROWS = 1_000
"""Rows ``m`` of the small resample whose scaled sum carries the skewness in :func:`_matched_sums`."""


def _matched_sums(parts: np.ndarray, n_resamples: int, rng: np.random.Generator, max_elements: int = DEFAULT_CHUNK,
                  rows: int = MATCH_ROWS) -> np.ndarray:
    """Resampled sums of ``n`` rows with the exact mean, covariance and third cumulants of
    the resampled sum, at the cost of resampling ``m = rows`` rows:

    .. math:: S^* = n \\bar c + \\lambda\\,(S^*_m - m \\bar c) + Z, \\qquad
              \\lambda = (n / m)^{1/3}, \\quad
              Z \\sim N\\big(0,\\, n (1 - (m / n)^{1/3})\\, \\hat\\Sigma\\big),

    with :math:`S^*_m` the sum of ``m`` rows drawn with replacement and :math:`\\hat\\Sigma`
    the rows' covariance (``ddof=0``). The covariance is
    :math:`\\lambda^2 m \\hat\\Sigma + n (1 - (m/n)^{1/3}) \\hat\\Sigma = n \\hat\\Sigma` and every
    third cumulant :math:`\\lambda^3 m \\kappa_3 = n \\kappa_3`, as for the sum of ``n``
    resampled rows. A plain normal limit (third cumulants 0) lost the skewness that BCa's
    corrections are about: on lognormal rows (σ = 1.5, n = 12,000) its BCa bounds sat 3–6
    Monte Carlo standard errors under index resampling's (and scipy's); these sit within 2."""
    n, width = parts.shape
    mean = parts.mean(axis=0)
    cov = np.atleast_2d(np.cov(parts, rowvar=False, ddof=0))
    values, vectors = np.linalg.eigh(cov)
    shrink = 1.0 - (rows / n) ** (1 / 3)
    root = vectors * np.sqrt(np.clip(values, 0.0, None) * n * shrink)  # root @ root.T = n(1 - (m/n)^⅓) Σ
    small = np.empty((n_resamples, width))
    dense = np.ascontiguousarray(parts)
    one_hot = _one_hot(dense)
    step = max(1, max_elements // rows)
    for start in range(0, n_resamples, step):
        r = min(step, n_resamples - start)
        small[start : start + r] = gather_sums(dense, rng.integers(0, n, size=(r, rows)), one_hot)
    scale = (n / rows) ** (1 / 3)
    return n * mean + scale * (small - rows * mean) + rng.standard_normal((n_resamples, width)) @ root.T


def _one_hot(dense: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``(column, value)`` of each row if every row has at most one non-zero entry."""
    nonzero = dense != 0
    if dense.shape[1] <= 2 or np.any(nonzero.sum(axis=1) > 1):
        return None
    return nonzero.argmax(axis=1), dense.max(axis=1) + dense.min(axis=1)


def gather_sums(dense: np.ndarray, idx: np.ndarray, one_hot: tuple[np.ndarray, np.ndarray] | None = None
                ) -> np.ndarray:
    """Column sums of the rows ``idx[r]`` of ``dense`` for every row ``r`` of ``idx``:
    shape ``(R, C)``. Uses a per-column gather for ≤ 2 columns, a weighted ``bincount``
    for one-hot rows (binned metrics) and a count-matrix product otherwise."""
    r = idx.shape[0]
    n, c = dense.shape
    if c <= 2:
        return np.stack([dense[:, j][idx].sum(axis=1) for j in range(c)], axis=-1)
    if one_hot is not None:
        column, value = one_hot
        keys = column[idx] + (np.arange(r) * c)[:, None]
        return np.bincount(keys.ravel(), weights=value[idx].ravel(), minlength=r * c).reshape(r, c)
    counts = np.bincount((idx + (np.arange(r) * n)[:, None]).ravel(), minlength=r * n).reshape(r, n)
    return counts @ dense


def _index_sums(parts: np.ndarray, n_resamples: int, rng: np.random.Generator, max_elements: int) -> np.ndarray:
    n, c = parts.shape
    constant = np.all(parts == parts[0], axis=0)
    varying = np.flatnonzero(~constant)
    out = np.empty((n_resamples, c))
    out[:, constant] = n * parts[0, constant]
    dense = np.ascontiguousarray(parts[:, varying])
    one_hot = _one_hot(dense)
    rows = max(1, max_elements // n)
    for start in range(0, n_resamples, rows):
        r = min(rows, n_resamples - start)
        out[start : start + r, varying] = gather_sums(dense, rng.integers(0, n, size=(r, n)), one_hot)
    return out


def _per_stratum_sums(strata: Sequence[np.ndarray], rngs: Sequence[np.random.Generator], n_resamples: int,
                      max_elements: int, normal_min: int | None = NORMAL_MIN) -> list[np.ndarray]:
    """:func:`resample_sums` of each stratum with its own generator, strata in parallel
    threads (numpy releases the GIL while drawing and gathering). Each stratum's draws
    come from its own generator alone, so the result does not depend on the threads."""
    def one(item: tuple[np.ndarray, np.random.Generator]) -> np.ndarray:
        return resample_sums(item[0], n_resamples, item[1], max_elements=max_elements, normal_min=normal_min)

    items = list(zip(strata, rngs, strict=True))
    workers = min(len(items), os.cpu_count() or 1)
    indexed = sum(len(p) for p in strata if normal_min is None or len(p) < normal_min)
    if workers <= 1 or indexed * n_resamples < PARALLEL_THRESHOLD:
        return [one(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, items))


class StratifiedBootstrap:
    """Resampled component sums of several strata, drawn once, for any statistic of them.

    Parameters
    ----------
    strata
        Per-example components of each stratum, each of shape ``(n_s, C)``.
    n_resamples
        Number of resamples ``B`` (at least 100; 10,000 by default).
    rng
        Seed or generator; stratum ``s`` draws from child ``s`` of ``rng.spawn(S)``.
    max_elements
        Bound on the indices drawn at once (see :func:`resample_sums`).
    normal_min
        Stratum size from which continuous rows draw their sums by :func:`_matched_sums`
        (see :func:`resample_sums`; ``None``: never), and from which the BCa
        acceleration takes the infinitesimal jackknife (see :meth:`interval`).

    Attributes
    ----------
    totals
        Observed sums, shape ``(S, C)``.
    sums
        Resampled sums, shape ``(B, S, C)``.

    Examples
    --------
    >>> import numpy as np
    >>> a, b = np.c_[[1., 0., 1., 1.], np.ones(4)], np.c_[[0., 0., 1., 0.], np.ones(4)]
    >>> boot = StratifiedBootstrap([a, b], n_resamples=1000, rng=0)
    >>> pooled = lambda s: s[..., 0].sum(-1) / s[..., 1].sum(-1)
    >>> float(boot.interval(pooled).estimate)
    0.5
    """

    def __init__(self, strata: Sequence[np.ndarray], *, n_resamples: int = 10_000,
                 rng: int | np.random.Generator | None = None, max_elements: int = DEFAULT_CHUNK,
                 normal_min: int | None = NORMAL_MIN) -> None:
        self.n_resamples = check_resamples(n_resamples)
        limit = math.inf if normal_min is None else normal_min
        self.strata = [_canonical(_as_parts(p, f" of stratum {i}"), limit) for i, p in enumerate(strata)]
        if not self.strata:
            raise StatisticsError("At least one stratum is needed for a bootstrap.")
        widths = {p.shape[1] for p in self.strata}
        if len(widths) != 1:
            raise StatisticsError(f"All strata must have the same number of components. Got {sorted(widths)}.")
        self.influence_min = math.inf if normal_min is None else normal_min
        children = make_rng(rng).spawn(len(self.strata))
        self.totals = np.stack([p.sum(axis=0) for p in self.strata])
        self.sums = np.stack(_per_stratum_sums(self.strata, children, self.n_resamples, max_elements, normal_min),
                             axis=1)

    @property
    def sizes(self) -> np.ndarray:
        """Examples per stratum."""
        return np.array([len(p) for p in self.strata])

    def distribution(self, statistic: Statistic) -> np.ndarray:
        """The statistic on every resample: shape ``(B,)`` or ``(B, K)``."""
        return np.asarray(statistic(self.sums), dtype=np.float64)

    def jackknife(self, statistic: Statistic, stratum: int, max_elements: int = DEFAULT_CHUNK) -> np.ndarray:
        """Leave-one-out values of the statistic for the examples of one stratum, in closed
        form from the sums: shape ``(n_s,)`` or ``(n_s, K)``."""
        parts = self.strata[stratum]
        rows = max(1, max_elements // max(1, self.totals.size))
        values = []
        for start in range(0, len(parts), rows):
            block = np.broadcast_to(self.totals, (min(rows, len(parts) - start), *self.totals.shape)).copy()
            block[:, stratum, :] -= parts[start : start + rows]
            values.append(np.asarray(statistic(block), dtype=np.float64))
        return np.concatenate(values) if values else np.zeros(0)

    def interval(self, statistic: Statistic, *, level: float = 0.95, method: str = "BCa",
                 keep_distribution: bool = False) -> BootstrapResult:
        """A two-sided interval for ``statistic``.

        Parameters
        ----------
        statistic
            Maps sums ``(..., S, C)`` to ``(...)`` (or ``(..., K)`` for K statistics at once).
        level
            Confidence level in (0, 1).
        method
            ``"BCa"`` (default, as in scipy) or ``"percentile"``.
        keep_distribution
            Keep the bootstrap distribution in the result.
        """
        level, method = check_level(level), check_method(method)
        estimate = np.asarray(statistic(self.totals), dtype=np.float64)
        theta = self.distribution(statistic)
        alpha = (1 - level) / 2
        used, fallback = method, np.zeros(estimate.shape, dtype=bool)
        if method == "BCa":
            *probs, fallback = self._bca_levels(statistic, estimate, theta, alpha)
            if fallback.all():
                used = "percentile"
        else:
            probs = [np.full(estimate.shape, alpha), np.full(estimate.shape, 1 - alpha)]
        low, high = _percentiles(theta, probs[0]), _percentiles(theta, probs[1])
        se = theta.std(axis=0, ddof=1) if theta.shape[0] > 1 else np.full(estimate.shape, math.nan)
        return BootstrapResult(_scalar(estimate), _scalar(low), _scalar(high), level, _scalar(se), used,
                               self.n_resamples, theta if keep_distribution else None,
                               fallback if fallback.any() else None)

    def _jackknife_terms(self, statistic: Statistic, stratum: int, gradient: np.ndarray | None) -> np.ndarray:
        """:math:`U_i = (n - 1)(\\bar\\theta_{(\\cdot)} - \\hat\\theta_{(i)})` of one stratum: from
        the leave-one-out values, or, for a stratum of at least ``influence_min`` examples,
        from their first-order expansion :math:`\\hat\\theta_{(i)} \\approx \\hat\\theta -
        \\nabla_s T \\cdot c_i`, i.e. :math:`U_i \\approx (n - 1)\\, \\nabla_s T \\cdot (c_i - \\bar c)`
        (the infinitesimal jackknife; the two differ by :math:`O(1/n)`)."""
        n = self.sizes[stratum]
        if gradient is None or n < self.influence_min:
            jack = self.jackknife(statistic, stratum)
            return (n - 1) * (jack.mean(axis=0) - jack)
        parts = self.strata[stratum]
        centred = parts - self.totals[stratum] / n
        return (n - 1) * (centred @ np.ascontiguousarray(gradient[stratum]))

    def _gradient(self, statistic: Statistic) -> np.ndarray:
        """:math:`\\partial T / \\partial S_{sc}` at the observed sums by central differences,
        shape ``(S, C)`` or ``(S, C, K)``."""
        strata, width = self.totals.shape
        step = 1e-6 * np.maximum(np.abs(self.totals), 1.0)
        shifted = np.broadcast_to(self.totals, (2, strata, width, strata, width)).copy()
        for s in range(strata):
            for c in range(width):
                shifted[0, s, c, s, c] += step[s, c]
                shifted[1, s, c, s, c] -= step[s, c]
        values = np.asarray(statistic(shifted), dtype=np.float64)  # (2, S, C) or (2, S, C, K)
        scale = (2 * step).reshape(strata, width, *([1] * (values.ndim - 3)))
        return (values[0] - values[1]) / scale

    def _bca_levels(self, statistic: Statistic, estimate: np.ndarray, theta: np.ndarray,
                    alpha: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The BCa probability levels of each column and, per column, whether BCa fell back
        to the percentile levels (an undefined acceleration: the statistic is NaN on a
        jackknife sample). A stratum of one example adds nothing to the acceleration: it is
        the same in every resample, as a jackknife sample of it would be empty. Columns are
        independent: one undefined column leaves the others' BCa levels alone."""
        with np.errstate(divide="ignore", invalid="ignore"):
            z0 = ndtri(((theta < estimate).sum(axis=0) + (theta <= estimate).sum(axis=0)) / (2 * len(theta)))
            num = np.zeros(estimate.shape)
            den = np.zeros(estimate.shape)
            gradient = self._gradient(statistic) if self.sizes.max() >= self.influence_min else None
            for s, n in enumerate(self.sizes):
                if n < 2:
                    continue
                u = self._jackknife_terms(statistic, s, gradient)
                u2 = u * u
                num = num + (u2 * u).sum(axis=0) / n**3
                den = den + u2.sum(axis=0) / n**2
            a = num / (6 * den**1.5)
        a = np.where(den == 0, 0.0, a)  # a constant jackknife: no acceleration
        fallback = ~np.isfinite(a)
        a = np.where(fallback, 0.0, a)
        z0 = np.where(np.isfinite(z0), z0, 0.0)  # degenerate distribution: the interval is a point
        za, zb = ndtri(alpha), ndtri(1 - alpha)
        low = np.where(fallback, alpha, ndtr(z0 + (z0 + za) / (1 - a * (z0 + za))))
        high = np.where(fallback, 1 - alpha, ndtr(z0 + (z0 + zb) / (1 - a * (z0 + zb))))
        return low, high, fallback


def _percentiles(theta: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Linear-interpolation percentile of each column of ``theta`` at its own probability."""
    if theta.ndim == 1:
        return np.asarray(np.percentile(theta, 100 * float(probs)) if np.isfinite(probs) else math.nan)
    return np.array([np.percentile(theta[:, k], 100 * p) if np.isfinite(p) else math.nan
                     for k, p in enumerate(np.ravel(probs))])


def _finite_quantiles(columns: np.ndarray, probs: Sequence[float]) -> np.ndarray:
    """Linear-interpolation quantiles (as :func:`numpy.percentile`) of the finite values of
    each column of ``columns`` ``(B, K)`` at each of ``probs``: shape ``(len(probs), K)``,
    NaN for a column with no finite value. One sort for all columns."""
    ordered = np.sort(np.where(np.isfinite(columns), columns, np.inf), axis=0)  # non-finite values last
    count = np.isfinite(columns).sum(axis=0)
    out = np.full((len(probs), columns.shape[1]), np.nan)
    live = np.flatnonzero(count)
    if not live.size:
        return out
    for j, p in enumerate(probs):
        position = p * (count[live] - 1)
        below = np.floor(position).astype(np.int64)
        above = np.minimum(below + 1, count[live] - 1)
        low, high = ordered[below, live], ordered[above, live]
        out[j, live] = low + (high - low) * (position - below)
    return out


def _scalar(x: np.ndarray) -> float | np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return float(x) if x.ndim == 0 else x


def bootstrap_ratio(values: np.ndarray, weights: np.ndarray | None = None, strata: np.ndarray | None = None, *,
                    n_resamples: int = 10_000, level: float = 0.95, method: str = "BCa",
                    rng: int | np.random.Generator | None = None, keep_distribution: bool = False,
                    normal_min: int | None = NORMAL_MIN) -> BootstrapResult:
    """Stratified bootstrap interval for the pooled ratio of sums :math:`\\sum v_i / \\sum w_i`.

    Parameters
    ----------
    values, weights
        Per-example numerator and denominator (``weights`` defaults to ones: a mean).
    strata
        Stratum label of each example; resampling is within strata (default: one stratum).
    n_resamples, level, method, rng, keep_distribution
        As for :meth:`StratifiedBootstrap.interval`.
    normal_min
        As for :class:`StratifiedBootstrap` (``None``: always resample indices).

    Raises
    ------
    StatisticsError
        If the arrays' lengths differ, or a parameter is invalid.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    weights = np.ones_like(values) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    labels = np.zeros(len(values), dtype=np.int64) if strata is None else np.asarray(strata).ravel()
    if not len(values) == len(weights) == len(labels):
        raise StatisticsError(f"values, weights and strata must have the same length. "
                              f"Got {len(values)}, {len(weights)} and {len(labels)}.")
    if len(values) == 0:
        raise StatisticsError("Cannot bootstrap an empty sample: values has length 0.")
    parts = np.column_stack([values, weights])
    groups = [parts[labels == u] for u in np.unique(labels)]
    boot = StratifiedBootstrap(groups, n_resamples=n_resamples, rng=rng, normal_min=normal_min)
    return boot.interval(_pooled_ratio, level=level, method=method, keep_distribution=keep_distribution)


def _pooled_ratio(sums: np.ndarray) -> np.ndarray:
    total = sums.sum(axis=-2)
    return total[..., 0] / total[..., 1]


def studentized_interval(boot: StratifiedBootstrap, statistic: Statistic, variance: Statistic, *,
                         level: float = 0.95, df: np.ndarray | float | None = None) -> BootstrapResult:
    """Bootstrap-t (studentized) interval of ``statistic`` (Efron & Tibshirani 1993, ch. 12).

    With :math:`\\hat\\theta` and :math:`\\hat s = \\sqrt{\\mathrm{variance}}` on the observed
    sums, and :math:`t^*_b = (\\theta^*_b - \\hat\\theta) / s^*_b` on each resample,

    .. math:: \\big[\\hat\\theta - t^*_{(1-\\alpha/2)} \\hat s,\\;
              \\hat\\theta - t^*_{(\\alpha/2)} \\hat s\\big].

    Resamples whose standard error is 0 or not finite are left out of the quantiles of
    :math:`t^*`; where the observed standard error is 0 (to within :math:`10^{-9}`
    relative) the interval is the point :math:`[\\hat\\theta, \\hat\\theta]`: every
    example has the same value, so every resample equals it too.

    With ``df`` (:math:`\\nu`, per statistic) both quantiles of :math:`t^*` are scaled by
    :math:`t_{\\nu, 1-\\alpha/2} / z_{1-\\alpha/2}`: the widening of a Student interval whose
    variance estimate has :math:`\\nu` (Satterthwaite) degrees of freedom
    (:func:`~bench.scoring.gaps.satterthwaite_df`). A sample of heavy-tailed losses rarely
    holds the rare large values that set the mean, so its variance, and the bootstrap's
    spread of :math:`t^*`, are too small in the samples whose interval misses; their
    kurtosis makes :math:`\\nu` small exactly then.

    Parameters
    ----------
    boot
        The drawn resamples.
    statistic, variance
        Map sums ``(..., S, C)`` to the statistic and to its (delta-method) variance, each
        of shape ``(...)`` or ``(..., K)``.
    level
        Two-sided confidence level.
    df
        Degrees of freedom of each statistic's variance estimate (``None`` or infinite:
        no widening).
    """
    level = check_level(level)
    estimate = np.asarray(statistic(boot.totals), dtype=np.float64)
    se = np.sqrt(np.asarray(variance(boot.totals), dtype=np.float64))
    theta = boot.distribution(statistic)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (theta - estimate) / np.sqrt(np.asarray(variance(boot.sums), dtype=np.float64))
    alpha = (1 - level) / 2
    q = _finite_quantiles(t.reshape(len(t), -1), (1 - alpha, alpha)).reshape(2, *estimate.shape)
    if df is not None:
        nu = np.broadcast_to(np.asarray(df, dtype=np.float64), estimate.shape)
        with np.errstate(invalid="ignore"):
            widen = np.where(np.isfinite(nu) & (nu > 0), stdtrit(np.where(nu > 0, nu, 1.0), 1 - alpha), ndtri(1 - alpha))
        q = q * (widen / ndtri(1 - alpha))
    ok = (se > 1e-9 * np.maximum(1.0, np.abs(estimate))) & np.isfinite(q).all(axis=0)
    with np.errstate(invalid="ignore"):
        low = np.where(ok, estimate - q[0] * se, estimate)
        high = np.where(ok, estimate - q[1] * se, estimate)
    spread = theta.std(axis=0, ddof=1) if theta.shape[0] > 1 else np.full(estimate.shape, math.nan)
    return BootstrapResult(_scalar(estimate), _scalar(low), _scalar(high), level, _scalar(spread), "studentized",
                           boot.n_resamples)
