"""Closed-form confidence intervals."""

from __future__ import annotations

import math
from typing import TypeVar

import numpy as np
from scipy.stats import norm

from bench.errors import StatisticsError

__all__ = ["check_level", "mover_interval", "newcombe_interval", "wilson_interval"]


def check_level(level: float) -> float:
    """Validate a confidence level: a float strictly between 0 and 1."""
    if not isinstance(level, int | float) or not 0 < level < 1:
        raise StatisticsError(f"The confidence level must be a number in the open interval (0, 1). Got {level!r} instead.")
    return float(level)


def wilson_interval(successes: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion.

    With :math:`\\hat p = x / n` and :math:`z = \\Phi^{-1}(1 - \\alpha / 2)`:

    .. math::
        \\frac{\\hat p + z^2 / 2n}{1 + z^2 / n} \\pm
        \\frac{z}{1 + z^2 / n} \\sqrt{\\frac{\\hat p (1 - \\hat p)}{n} + \\frac{z^2}{4 n^2}}

    Returns ``(nan, nan)`` for ``n = 0``.
    """
    level = check_level(level)
    if n == 0:
        return math.nan, math.nan
    if successes < 0 or successes > n:
        raise StatisticsError(f"successes must be in [0, n] = [0, {n}]. Got {successes} instead.")
    z = float(norm.ppf(1 - (1 - level) / 2))
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


Value = TypeVar("Value", float, np.ndarray)


def mover_interval(estimate_a: Value, low_a: Value, high_a: Value, estimate_b: Value, low_b: Value,
                   high_b: Value) -> tuple[Value, Value]:
    """MOVER interval of a difference :math:`\\theta_A - \\theta_B` of two independent
    estimates from their own intervals (Zou & Donner 2008, "method of variance estimates
    recovery"): with :math:`d = \\hat\\theta_A - \\hat\\theta_B`,

    .. math:: \\Big[d - \\sqrt{(\\hat\\theta_A - l_A)^2 + (u_B - \\hat\\theta_B)^2},\\;
              d + \\sqrt{(u_A - \\hat\\theta_A)^2 + (\\hat\\theta_B - l_B)^2}\\Big].

    Each bound recovers the variance of each side from the distance of that side's own
    bound to its estimate, on the side that moves the difference that way, so skewed
    (asymmetric) intervals give a skewed interval of the difference. With Wilson intervals
    it is Newcombe's hybrid score interval (:func:`newcombe_interval`); Zou, Huo & Taleban
    (2009) use it for differences of lognormal means. Works elementwise on arrays.
    """
    d = estimate_a - estimate_b
    return (d - ((estimate_a - low_a) ** 2 + (high_b - estimate_b) ** 2) ** 0.5,
            d + ((high_a - estimate_a) ** 2 + (estimate_b - low_b) ** 2) ** 0.5)


def newcombe_interval(successes_a: float, n_a: int, successes_b: float, n_b: int,
                      level: float = 0.95) -> tuple[float, float]:
    """Newcombe's hybrid score interval for a difference of proportions :math:`p_A - p_B`.

    Newcombe (1998), method 10: with the Wilson intervals :math:`[l_A, u_A]` and
    :math:`[l_B, u_B]` of each proportion and :math:`d = \\hat p_A - \\hat p_B`,

    .. math:: \\Big[d - \\sqrt{(\\hat p_A - l_A)^2 + (u_B - \\hat p_B)^2},\\;
              d + \\sqrt{(u_A - \\hat p_A)^2 + (\\hat p_B - l_B)^2}\\Big]

    (:func:`mover_interval` of the two Wilson intervals). Unlike a bootstrap it does not
    collapse to a point when both groups are all correct. Returns ``(nan, nan)`` when a
    group is empty.
    """
    if n_a == 0 or n_b == 0:
        return math.nan, math.nan
    low_a, high_a = wilson_interval(successes_a, n_a, level)
    low_b, high_b = wilson_interval(successes_b, n_b, level)
    return mover_interval(successes_a / n_a, low_a, high_a, successes_b / n_b, low_b, high_b)
