"""Protocols: what a trainable model is trained on, and what it is tested on.

A protocol turns a loaded suite into a list of :class:`Fold` objects. Each fold trains
one copy of each trainable model on ``train`` and scores every split in ``test``.

- ``zero_shot``: no training; every domain's test split.
- ``id_ood``: train on the in-domain domains' train splits; test on every domain.
- ``leave_one_domain_out``: for each domain d, train on the train splits of all the
  other domains and test on d's test split (one fold per domain, named ``leave_out=d``).
- ``transfer_matrix``: for each domain d, train on d's train split alone and test on
  every domain (one fold per domain, named ``train=d``): the domains × domains matrix of
  :func:`bench.scoring.transfer.transfer_matrix`.

Every training fold also offers, in ``Fold.adapt``, the *train* split of each domain it
tests but does not train on: the pool from which an adaptable model (``finetuned``)
draws its few labelled target examples. Test splits are never in ``adapt``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bench.errors import SuiteError
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
    adapt
        Per tested domain outside ``train_domains``: that domain's *train* split, which an
        adaptable model may fine-tune on before scoring the domain's test split.
    """

    name: str
    train_domains: tuple[str, ...]
    train: list[Example]
    test: dict[str, list[Example]] = field(default_factory=dict)
    adapt: dict[str, list[Example]] = field(default_factory=dict)


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


def _fold(data: SuiteData, name: str, train_domains: tuple[str, ...], test_domains: tuple[str, ...]) -> Fold:
    adapt = {d: data.domains[d].train for d in test_domains if d not in train_domains}
    return Fold(name, train_domains, data.examples(train_domains, "train"),
                {d: data.domains[d].test for d in test_domains}, adapt)


@PROTOCOLS.register("id_ood", description="Train on the in-domain train splits; test on every domain.")
def id_ood(data: SuiteData) -> list[Fold]:
    """Train on the in-domain train splits; test on every domain."""
    return [_fold(data, "id_ood", data.suite.in_domain, data.suite.domains)]


@PROTOCOLS.register("leave_one_domain_out", aliases=("lodo",),
                    description="For each domain d: train on all other domains, test on d.")
def leave_one_domain_out(data: SuiteData) -> list[Fold]:
    """For each domain d: train on the other domains' train splits, test on d's test split."""
    _need_domains(data, 2, "leave_one_domain_out")
    domains = data.suite.domains
    return [_fold(data, f"leave_out={d}", tuple(x for x in domains if x != d), (d,)) for d in domains]


@PROTOCOLS.register("transfer_matrix", description="For each domain d: train on d alone, test on every domain.")
def transfer_matrix(data: SuiteData) -> list[Fold]:
    """For each domain d: train on d's train split alone, test on every domain's test split."""
    _need_domains(data, 2, "transfer_matrix")
    return [_fold(data, f"train={d}", (d,), data.suite.domains) for d in data.suite.domains]


def _need_domains(data: SuiteData, n: int, protocol: str) -> None:
    if len(data.suite.domains) < n:
        raise SuiteError(f"Protocol {protocol!r} needs at least {n} domains; suite {data.suite.name!r} has "
                         f"{len(data.suite.domains)}. Use protocol 'id_ood' instead.")
