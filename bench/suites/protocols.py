"""Protocols: what a trainable model is trained on, and what it is tested on.

A protocol turns a loaded suite into a list of :class:`Fold` objects. Each fold trains
one copy of each trainable model on ``train`` and scores every split in ``test``.

- ``zero_shot``: no training; every domain's test split.
- ``id_ood``: train on the in-domain domains' train splits; test on every domain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bench.registry import Registry
from bench.suites.types import Example, SuiteData

__all__ = ["PROTOCOLS", "Fold", "plan_folds"]


@dataclass
class Fold:
    """One training set and the test splits scored by the models trained on it.

    Attributes
    ----------
    name
        Identifies the fold in records (column ``fold``), e.g. ``"id_ood"``.
    train_domains
        Domains whose train splits form ``train`` (empty for zero-shot).
    train
        Training examples.
    test
        Test examples per domain.
    """

    name: str
    train_domains: tuple[str, ...]
    train: list[Example]
    test: dict[str, list[Example]] = field(default_factory=dict)


Planner = Callable[[SuiteData], list[Fold]]
PROTOCOLS: Registry[Planner] = Registry("protocol")


def plan_folds(data: SuiteData, protocol: str | None = None) -> list[Fold]:
    """The folds of ``protocol`` (default: the suite's own) over ``data``."""
    return PROTOCOLS.get(protocol or data.suite.protocol)(data)


def _all_tests(data: SuiteData) -> dict[str, list[Example]]:
    return {d: data.domains[d].test for d in data.suite.domains}


@PROTOCOLS.register("zero_shot", description="No training; score every domain's test split.")
def zero_shot(data: SuiteData) -> list[Fold]:
    """No training; score every domain's test split."""
    return [Fold("zero_shot", (), [], _all_tests(data))]


@PROTOCOLS.register("id_ood", description="Train on the in-domain train splits; test on every domain.")
def id_ood(data: SuiteData) -> list[Fold]:
    """Train on the in-domain train splits; test on every domain."""
    train_domains = data.suite.in_domain
    return [Fold("id_ood", train_domains, data.examples(train_domains, "train"), _all_tests(data))]
