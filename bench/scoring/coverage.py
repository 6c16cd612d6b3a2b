"""How often the intervals hold their level: the simulation grid behind the choice of
interval per metric (``docs/statistics.md``).

Each cell draws two domains (A, B) of ``n`` examples each from a known distribution and
computes the interval of a gap (or of a domain's value) with the library's own code
(:func:`~bench.scoring.intervals.newcombe_interval`,
:class:`~bench.scoring.bootstrap.StratifiedBootstrap`,
:func:`~bench.scoring.bootstrap.studentized_interval`); coverage is the share of draws
whose interval holds the true value.

- ``accuracy`` cells: 0/1 values with :math:`P(1) = p_A, p_B`; the gap is
  :math:`p_A - p_B`. Newcombe's interval is a closed form of the two counts, so its
  coverage is computed *exactly* by summing the binomial probabilities of every outcome;
  the bootstrap methods by simulation.
- ``lognormal`` cells: skewed losses :math:`\\exp(\\mu + \\sigma Z)`; ``gap``: domain B
  has :math:`\\mu = 0.2` more than A (true gap :math:`E[B] - E[A]`, a loss gap);
  ``domain``: the mean of domain A alone (true value :math:`e^{\\sigma^2 / 2}`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import binom, norm

from bench.scoring.bootstrap import StratifiedBootstrap, studentized_interval
from bench.scoring.gaps import gap_statistic, ratio_variance
from bench.scoring.intervals import check_level, wilson_interval
from bench.scoring.metrics import get_metric

__all__ = ["ACCURACY_CELLS", "COVERAGE_COLUMNS", "LOGNORMAL_CELLS", "LOSS_CELLS", "LOSS_COVERAGE_COLUMNS",
           "LOSS_METHODS", "CoverageCell", "LossCell", "coverage_table", "draw_losses", "loss_coverage_table",
           "loss_truth", "newcombe_exact_coverage"]

COVERAGE_COLUMNS = ["family", "target", "n", "p_a", "p_b", "sigma", "method", "coverage", "draws", "few_errors"]


@dataclass(frozen=True)
class CoverageCell:
    """One cell of the grid: ``family`` ``accuracy`` (``p_a, p_b``) or ``lognormal``
    (``sigma``; ``target`` ``gap`` or ``domain``), ``n`` examples per domain."""

    family: str
    n: int
    p_a: float = math.nan
    p_b: float = math.nan
    sigma: float = math.nan
    target: str = "gap"


ACCURACY_CELLS = tuple(CoverageCell("accuracy", n, p_a, p_b) for n in (30, 200, 2_000)
                       for p_a, p_b in ((0.5, 0.5), (0.7, 0.6), (0.9, 0.9), (0.95, 0.9), (0.99, 0.99),
                                        (0.99, 0.95)))
LOGNORMAL_CELLS = tuple(CoverageCell("lognormal", n, sigma=s, target=t) for t in ("gap", "domain")
                        for n in (200, 2_000) for s in (0.5, 1.0, 1.5))
SHIFT = 0.2
"""Location shift :math:`\\mu_B - \\mu_A` of the lognormal gap cells."""


def newcombe_exact_coverage(n_a: int, p_a: float, n_b: int, p_b: float, level: float = 0.95) -> float:
    """Exact coverage of Newcombe's hybrid score interval for :math:`p_A - p_B`: the sum,
    over all :math:`(x_A, x_B)`, of :math:`\\mathrm{Bin}(x_A; n_A, p_A)\\,\\mathrm{Bin}(x_B; n_B, p_B)`
    where the interval holds :math:`p_A - p_B` (vectorised form of
    :func:`~bench.scoring.intervals.newcombe_interval`)."""
    level = check_level(level)
    z = float(norm.ppf(1 - (1 - level) / 2))
    xa, xb = np.arange(n_a + 1)[:, None], np.arange(n_b + 1)[None, :]

    def wilson(x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        p = x / n
        d = 1 + z * z / n
        c, h = (p + z * z / (2 * n)) / d, z / d * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        return p, np.maximum(0.0, c - h), np.minimum(1.0, c + h)

    (pa, la, ua), (pb, lb, ub) = wilson(xa, n_a), wilson(xb, n_b)
    low = pa - pb - np.sqrt((pa - la) ** 2 + (ub - pb) ** 2)
    high = pa - pb + np.sqrt((ua - pa) ** 2 + (pb - lb) ** 2)
    weight = binom.pmf(xa, n_a, p_a) * binom.pmf(xb, n_b, p_b)
    truth = p_a - p_b
    return float((weight * ((low <= truth + 1e-12) & (truth - 1e-12 <= high))).sum())


def _draw(cell: CoverageCell, rng: np.random.Generator) -> tuple[list[np.ndarray], float]:
    """The strata ``(v, w, v², vw, w²)`` of one draw and the true value."""
    if cell.family == "accuracy":
        a, b = (rng.random(cell.n) < cell.p_a).astype(float), (rng.random(cell.n) < cell.p_b).astype(float)
        truth = cell.p_a - cell.p_b
    else:
        a = np.exp(cell.sigma * rng.standard_normal(cell.n))
        b = np.exp(SHIFT + cell.sigma * rng.standard_normal(cell.n))
        mean = math.exp(cell.sigma**2 / 2)
        truth = mean * (math.exp(SHIFT) - 1) if cell.target == "gap" else mean
    strata = [np.column_stack([x, np.ones_like(x), x * x, x, np.ones_like(x)]) for x in (a, b)]
    return strata, truth


def _intervals(cell: CoverageCell, strata: list[np.ndarray], methods: Sequence[str], resamples: int,
               rng: np.random.Generator, level: float) -> dict[str, tuple[float, float]]:
    metric = get_metric("classification", "accuracy") if cell.family == "accuracy" \
        else get_metric("regression", "mse")
    if cell.target == "domain":
        statistic, variance = (lambda s: metric.combine(s[..., 0, :])), ratio_variance([0])
    else:
        statistic, variance = gap_statistic(metric, [0], [1]), ratio_variance([0], [1])
    boot = StratifiedBootstrap(strata, n_resamples=resamples, rng=rng)
    out = {}
    for method in methods:
        if method == "studentized":
            r = studentized_interval(boot, statistic, variance, level=level)
        elif method == "wilson":
            low, high = wilson_interval(float(strata[0][:, 0].sum()), len(strata[0]), level)
            out[method] = (low, high)
            continue
        else:
            r = boot.interval(statistic, level=level, method=method)
        out[method] = (float(r.low), float(r.high))
    return out


def coverage_table(cells: Sequence[CoverageCell], *, draws: int = 1_000, resamples: int = 2_000, level: float = 0.95,
                   seed: int = 0, methods: Sequence[str] = ("studentized", "BCa", "percentile")) -> pd.DataFrame:
    """Coverage of each method in each cell (:data:`COVERAGE_COLUMNS`).

    Accuracy gap cells also get the exact coverage of ``newcombe``. ``few_errors`` flags
    accuracy cells with :math:`n (1 - \\min(p_A, p_B)) < 5` expected errors, where the
    binomial is so discrete that a closed-form interval is conservative. Cell ``k``
    draws from ``default_rng([seed, k])``.
    """
    rows = []
    for k, cell in enumerate(cells):
        rng = np.random.default_rng([seed, k])
        hits = dict.fromkeys(methods, 0)
        truth = math.nan
        for _ in range(draws):
            strata, truth = _draw(cell, rng)
            for method, (low, high) in _intervals(cell, strata, methods, resamples, rng, level).items():
                hits[method] += int(low - 1e-12 <= truth <= high + 1e-12)
        few = cell.family == "accuracy" and cell.n * (1 - min(cell.p_a, cell.p_b)) < 5
        base = [cell.family, cell.target, cell.n, cell.p_a, cell.p_b, cell.sigma]
        rows += [(*base, m, hits[m] / draws, draws, few) for m in methods]
        if cell.family == "accuracy" and cell.target == "gap":
            rows.append((*base, "newcombe", newcombe_exact_coverage(cell.n, cell.p_a, cell.n, cell.p_b, level),
                         0, few))
    return pd.DataFrame(rows, columns=COVERAGE_COLUMNS)


LOSS_COVERAGE_COLUMNS = ["cell", "n", "target", "method", "coverage", "mc_se", "replicates", "truth"]


@dataclass(frozen=True)
class LossCell:
    """A cell of the skewed-loss grid: two domains of ``n`` per-example losses each.

    ``family``: ``lognormal`` (A: :math:`e^{\\sigma Z}`, B: :math:`e^{0.2 + \\sigma Z}`),
    ``binary`` (the cross-entropy :math:`-\\ln p(y)` of an overconfident binary classifier:
    :math:`x \\sim N(0, 1)`, :math:`y \\sim \\mathrm{Bernoulli}(\\mathrm{logistic}(1.5 x))`,
    predicted :math:`p(y{=}1) = \\mathrm{logistic}(3 x)` on A and
    :math:`\\mathrm{logistic}(3 x + 0.7)` on B) or ``four`` (a 4-option classifier: logits
    :math:`z \\sim N(0, 1.5^2 I_4)`, :math:`y \\sim \\mathrm{softmax}(z)`, predicted
    :math:`\\mathrm{softmax}(2 z)` on A and :math:`\\mathrm{softmax}(2.6 z)` on B)."""

    family: str
    n: int
    sigma: float = math.nan

    @property
    def label(self) -> str:
        """How the table names the cell."""
        names = {"binary": "binary classifier CE", "four": "4-option classifier CE"}
        return f"lognormal σ = {self.sigma:g}" if self.family == "lognormal" else names[self.family]


LOSS_CELLS = (*(LossCell("lognormal", n, s) for s in (0.5, 1.0, 1.5) for n in (30, 200, 2_000)),
              *(LossCell(f, n) for f in ("binary", "four") for n in (30, 200)))
"""The published grid of skewed losses: lognormal σ ∈ {0.5, 1, 1.5} × n ∈ {30, 200, 2,000}, and the
cross-entropy of a binary and a 4-option classifier at n ∈ {30, 200}."""


def _logistic(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _binary_losses(x: np.ndarray, y: np.ndarray, domain: int) -> np.ndarray:
    logit = 3.0 * x + (0.7 if domain else 0.0)
    return np.logaddexp(0.0, np.where(y == 1, -logit, logit))  # -ln p(y), stable


def _four_losses(z: np.ndarray, domain: int) -> np.ndarray:
    """``(n, 4)``: −ln softmax(τ z)_k for every option k."""
    scaled = (2.6 if domain else 2.0) * z
    return np.logaddexp.reduce(scaled, axis=1, keepdims=True) - scaled


def _four_probabilities(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def loss_truth(cell: LossCell, domain: int) -> float:
    """The true mean loss of a domain of ``cell``: closed form (lognormal), quadrature on
    a fine grid (binary), or the mean over 2,000,000 seeded logit draws of the exact
    expected loss given the logits (4-option; its Monte Carlo error is below 0.001 nats)."""
    if cell.family == "lognormal":
        return math.exp(0.2 * domain + cell.sigma**2 / 2)
    if cell.family == "binary":
        x = np.linspace(-12, 12, 240_001)
        weight = np.exp(-x * x / 2) / math.sqrt(2 * math.pi) * (x[1] - x[0])
        p = _logistic(1.5 * x)
        return float((weight * (p * _binary_losses(x, np.ones_like(x), domain)
                                + (1 - p) * _binary_losses(x, np.zeros_like(x), domain))).sum())
    z = 1.5 * np.random.default_rng(12345).standard_normal((2_000_000, 4))
    return float((_four_probabilities(z) * _four_losses(z, domain)).sum(axis=1).mean())


def draw_losses(cell: LossCell, domain: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` per-example losses of one domain of ``cell``."""
    n = cell.n
    if cell.family == "lognormal":
        return np.exp(0.2 * domain + cell.sigma * rng.standard_normal(n))
    if cell.family == "binary":
        x = rng.standard_normal(n)
        y = (rng.random(n) < _logistic(1.5 * x)).astype(np.int64)
        return _binary_losses(x, y, domain)
    z = 1.5 * rng.standard_normal((n, 4))
    cumulative = _four_probabilities(z).cumsum(axis=1)
    y = np.minimum((rng.random((n, 1)) > cumulative).sum(axis=1), 3)
    return _four_losses(z, domain)[np.arange(n), y]


LOSS_METHODS = ("studentized", "studentized (no widening)", "mover", "mover (widened sides)", "percentile")
"""The intervals :func:`loss_coverage_table` compares: a domain's ``studentized`` interval as
``bench`` computes it (:func:`~bench.scoring.gaps.ratio_intervals`: with the Satterthwaite
widening) and without the widening; a gap's ``mover`` as ``bench`` computes it
(:func:`~bench.scoring.gaps.mover_gaps`, of the plain studentized sides), of widened
sides, and ``percentile`` (the default before)."""


def loss_coverage_table(cells: Sequence[LossCell] = LOSS_CELLS, *, replicates: int = 400, resamples: int = 1_000,
                        level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Coverage of a domain's mean loss (domain A) and of the gap :math:`m(B) - m(A)`, per
    cell and method (:data:`LOSS_METHODS`), with its Monte Carlo standard error
    :math:`\\sqrt{c (1 - c) / R}` (:data:`LOSS_COVERAGE_COLUMNS`). Every interval comes
    from the library's own functions on one stratified bootstrap per replicate; cell ``k``
    draws from ``default_rng([seed, k])``."""
    from bench.scoring.gaps import mover_gaps, pooled_statistics, ratio_intervals, ratio_variances

    metric = get_metric("regression", "mse")  # a mean loss: Σv / n, lower is better
    rows = []
    for k, cell in enumerate(cells):
        rng = np.random.default_rng([seed, k])
        truth_a, truth_b = loss_truth(cell, 0), loss_truth(cell, 1)
        hits = {("domain", m): 0 for m in LOSS_METHODS[:2]} | {("gap", m): 0 for m in LOSS_METHODS[2:]}
        for _ in range(replicates):
            strata = [_moments(draw_losses(cell, d, rng)) for d in (0, 1)]
            boot = StratifiedBootstrap(strata, n_resamples=resamples, rng=rng)
            _, low, high = ratio_intervals(boot, strata, [[0]], metric, level)
            hits[("domain", "studentized")] += int(low[0] <= truth_a <= high[0])
            plain = studentized_interval(boot, pooled_statistics(metric, [[0]], 2), ratio_variances([([0], None)], 2),
                                         level=level)
            plain_low, plain_high = np.ravel(plain.low)[0], np.ravel(plain.high)[0]
            hits[("domain", "studentized (no widening)")] += int(plain_low <= truth_a <= plain_high)
            for widen, name in ((False, "mover"), (True, "mover (widened sides)")):
                low, high = mover_gaps(boot, strata, [([0], [1])], metric, level, widen)
                hits[("gap", name)] += int(low[0] <= truth_b - truth_a <= high[0])
            percentile = boot.interval(gap_statistic(metric, [0], [1]), level=level, method="percentile")
            hits[("gap", "percentile")] += int(np.ravel(percentile.low)[0] <= truth_b - truth_a
                                               <= np.ravel(percentile.high)[0])
        for (target, method), hit in hits.items():
            share = hit / replicates
            rows.append((cell.label, cell.n, target, method, share, math.sqrt(share * (1 - share) / replicates),
                         replicates, truth_a if target == "domain" else truth_b - truth_a))
    return pd.DataFrame(rows, columns=LOSS_COVERAGE_COLUMNS)


def _moments(x: np.ndarray) -> np.ndarray:
    """Moment components ``(v, w, v², vw, w²)`` of unit-weight values."""
    return np.column_stack([x, np.ones_like(x), x * x, x, np.ones_like(x)])
