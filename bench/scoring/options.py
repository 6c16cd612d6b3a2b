"""The statistics settings shared by ``bench run``, ``bench score``, ``bench compare`` and
``bench mitigations``, and how they are recorded beside the numbers."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from bench.errors import StatisticsError
from bench.suites.rules import MAX_COUNT, MAX_SEED, Int, List, Number, Str, ValueType, check_config

__all__ = ["DEFAULT_GAP_KINDS", "GAP_KINDS", "METHOD_CHOICES", "MIN_RESAMPLES", "SETTING_COLUMNS",
           "StatisticsOptions", "parse_gap_kinds"]

MIN_RESAMPLES = 100
"""The fewest bootstrap resamples (and Monte Carlo permutations) accepted."""

GAP_KINDS = ("id_ood", "domain_rest", "pairwise", "best_worst", "spread")
"""Every kind of comparison in ``gaps.csv`` (see :mod:`bench.scoring.gaps`)."""

DEFAULT_GAP_KINDS = ("id_ood", "domain_rest", "best_worst", "spread")
"""The kinds computed unless asked otherwise (``bench run --gaps``): every kind but
``pairwise``, whose :math:`D (D - 1) / 2` comparisons (1,596 for MMLU's 57 subjects) no
summary reads."""


def parse_gap_kinds(text: str) -> tuple[str, ...]:
    """The gap kinds named by ``--gaps``: comma-separated kinds of :data:`GAP_KINDS`, where
    ``default`` stands for :data:`DEFAULT_GAP_KINDS` and ``all`` for every kind.

    Raises
    ------
    StatisticsError
        For an empty list or an unknown kind (naming the valid ones).
    """
    named = [part.strip() for part in text.split(",") if part.strip()]
    if not named:
        raise StatisticsError(f"--gaps needs at least one gap kind. Valid: default, all, {', '.join(GAP_KINDS)}.")
    expanded = {"default": DEFAULT_GAP_KINDS, "all": GAP_KINDS}
    kinds = [gap for name in named for gap in expanded.get(name, (name,))]
    unknown = [k for k in kinds if k not in GAP_KINDS]
    if unknown:
        raise StatisticsError(f"Unknown gap kind(s) {', '.join(map(repr, unknown))} in --gaps {text!r}. "
                              f"Valid: default, all, {', '.join(GAP_KINDS)}.")
    return tuple(k for k in GAP_KINDS if k in kinds)

METHOD_CHOICES = ("auto", "studentized", "BCa", "percentile")
"""``method``: ``auto`` uses each metric's declared interval (``Metric.interval``,
``Metric.gap_interval``); the others force that bootstrap interval on every
bootstrapped row (closed forms, Wilson for a domain's accuracy, are kept)."""

SETTING_COLUMNS = ["level", "stat_method", "resamples", "permutations", "stat_seed"]
"""Columns of ``metrics.csv`` and ``gaps.csv`` that record the settings (with ``ci_method``)."""


_OPTION_RULES: dict[str, ValueType] = {
    "resamples": Int(MIN_RESAMPLES, MAX_COUNT),
    "level": Number(0.0, 1.0, bounds="()"),
    "seed": Int(0, MAX_SEED),
    "method": Str(choices=METHOD_CHOICES),
    "permutations": Int(MIN_RESAMPLES, MAX_COUNT),
    "kinds": List(Str(choices=GAP_KINDS), min_len=0, max_len=len(GAP_KINDS)),
}
"""The rule of each field of :class:`StatisticsOptions`."""
_OPTION_FLAGS = {"resamples": "--resamples", "level": "--level", "method": "--method",
                 "permutations": "--permutations", "kinds": "--gaps"}
"""The command-line flag that sets each field, named in its error (the seed's flag is
``--seed`` or ``--stat-seed`` depending on the command, so it names none)."""


@dataclass(frozen=True)
class StatisticsOptions:
    """How every interval and test is computed.

    Attributes
    ----------
    resamples
        Bootstrap resamples (at least 100; default 10,000).
    level
        Two-sided confidence level of every interval, in (0, 1).
    seed
        Base seed of the resampling and the permutations (``bench run --stat-seed``).
    method
        One of :data:`METHOD_CHOICES`, case-insensitive (``bca`` is ``BCa``).
    permutations
        Monte Carlo permutations per test (at least 100); exact tests need none.
    kinds
        Gap kinds to compute, a subset of :data:`GAP_KINDS` (default
        :data:`DEFAULT_GAP_KINDS`: ``pairwise`` is opt-in).
    """

    resamples: int = 10_000
    level: float = 0.95
    seed: int = 0
    method: str = "auto"
    permutations: int = 2_000
    kinds: tuple[str, ...] = DEFAULT_GAP_KINDS

    def __post_init__(self) -> None:
        if isinstance(self.method, str):  # case-insensitive: bca is BCa
            object.__setattr__(self, "method", {m.lower(): m for m in METHOD_CHOICES}.get(self.method.lower(), self.method))
        check_config(self, _OPTION_RULES, error=StatisticsError, flags=_OPTION_FLAGS)
        object.__setattr__(self, "kinds", tuple(self.kinds))

    def record(self) -> dict[str, Any]:
        """The settings as stored in ``run.json`` (key ``statistics``)."""
        return {**asdict(self), "kinds": list(self.kinds)}

    def columns(self) -> dict[str, Any]:
        """The settings written on every row of ``metrics.csv`` and ``gaps.csv``."""
        return {"level": self.level, "stat_method": self.method, "resamples": self.resamples,
                "permutations": self.permutations, "stat_seed": self.seed}

    def bootstrap_method(self, declared: str) -> str:
        """The interval a row gets: the metric's ``declared`` method under ``auto``;
        otherwise the forced bootstrap method wherever ``declared`` is a bootstrap one
        or a closed form of a gap (Newcombe)."""
        if self.method == "auto" or declared == "wilson":
            return declared
        return self.method
