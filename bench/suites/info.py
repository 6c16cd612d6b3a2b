"""What scoring needs to know of a task and its suite, without the suite's examples."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bench.suites.types import Suite, Task

__all__ = ["TaskInfo", "task_info"]


@dataclass(frozen=True)
class TaskInfo:
    """What scoring needs to know of a task: kind, choices, the suite's domains, its
    in-domain set and its domain groups (domain → group, e.g. MMLU subject → category).

    ``in_domain`` is the suite's; the in-domain set of each fold is what that fold
    trained on (:func:`bench.scoring.tables.fold_in_domain`)."""

    kind: str
    choices: tuple[str, ...]
    domains: tuple[str, ...]
    in_domain: tuple[str, ...]
    domain_groups: Mapping[str, str] = field(default_factory=dict)
    primary_metric: str = ""
    """The task's own primary metric (suite key ``primary_metric``); empty: its kind's
    (:func:`bench.scoring.metrics.primary_of` resolves it)."""

    @property
    def out_domain(self) -> tuple[str, ...]:
        """The suite's domains outside ``in_domain``, in the suite's order."""
        return tuple(d for d in self.domains if d not in self.in_domain)

    @property
    def groups(self) -> dict[str, tuple[str, ...]]:
        """Group name → its domains, both in the suite's domain order."""
        out: dict[str, list[str]] = {}
        for d in self.domains:
            if d in self.domain_groups:
                out.setdefault(self.domain_groups[d], []).append(d)
        return {g: tuple(members) for g, members in out.items()}


def task_info(suite: Suite, task: Task) -> TaskInfo:
    """The :class:`TaskInfo` of ``task`` in ``suite``."""
    return TaskInfo(task.kind, task.choices, suite.domains, suite.in_domain, dict(suite.domain_groups),
                    task.primary_metric)
