"""Helpers shared by the loaders of public data sets."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from bench.errors import SuiteError
from bench.suites.kinds import kind_of
from bench.suites.types import Task

if TYPE_CHECKING:
    from bench.data import SourceContext

__all__ = ["binary_task", "check_domains", "check_options"]


def check_options(context: SourceContext, source: str, allowed: Iterable[str]) -> dict[str, Any]:
    """The source options as a dict; an option not in ``allowed`` is a :class:`SuiteError`."""
    options = dict(context.options)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise SuiteError(
            f"Source {source!r} does not take option(s) {', '.join(unknown)}. "
            f"Options: {', '.join(sorted(allowed)) or '(none)'}."
        )
    return options


def binary_task(context: SourceContext, source: str) -> Task:
    """The suite's one classification task with two choices (negative, positive)."""
    tasks = [t for t in context.suite.tasks if kind_of(t).has_label_choices]
    if len(tasks) != 1 or len(tasks[0].choices) != 2:
        raise SuiteError(
            f"Source {source!r} labels one binary sentiment task: the suite needs exactly one classification "
            "task with two choices (index 0 = negative, 1 = positive)."
        )
    return tasks[0]


def check_domains(context: SourceContext, source: str, known: Mapping[str, object] | Iterable[str]) -> None:
    """Every domain of the suite must be one the source can produce."""
    names = list(known)
    unknown = [d for d in context.suite.domains if d not in names]
    if unknown:
        raise SuiteError(
            f"Source {source!r} has no domain(s) {', '.join(unknown)}. Domains: {', '.join(names)}."
        )
