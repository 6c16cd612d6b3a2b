"""Closed-form confidence intervals."""

from __future__ import annotations

import math

from scipy.stats import norm

from bench.errors import StatisticsError

__all__ = ["check_level", "wilson_interval"]


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
