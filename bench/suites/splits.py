"""Divide a suite's examples into per-domain train and test splits."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from bench.errors import DataError
from bench.suites.types import DomainData, Example, SplitRule, Suite, SuiteData

__all__ = ["split_examples"]


def _order_key(seed: int, example_id: str) -> bytes:
    return hashlib.sha256(f"{seed}\x00{example_id}".encode()).digest()


def split_examples(suite: Suite, examples: Iterable[Example]) -> SuiteData:
    """Group ``examples`` by domain and assign each to train or test.

    Examples whose source fixed a split keep it. The others of a domain are ordered by
    ``sha256(seed, id)`` and the first ``round(test_fraction * n)`` become test.
    A domain of two or more such examples must get at least one of each split from the
    fraction itself: a ``test_fraction`` that rounds to no test example (or to no train
    example) of a domain is an error, not a split of one example forced by a rule.

    Raises
    ------
    DataError
        If an example names an unknown domain, two examples share an id, a domain
        has no examples, or ``test_fraction`` leaves a domain's test or train split empty.
    """
    by_domain: dict[str, list[Example]] = {d: [] for d in suite.domains}
    seen: set[str] = set()
    for example in examples:
        if example.domain not in by_domain:
            raise DataError(
                f"Suite {suite.name!r}: example {example.id!r} has domain {example.domain!r}, "
                f"which the suite does not declare. Domains: {', '.join(suite.domains)}."
            )
        if example.id in seen:
            raise DataError(f"Suite {suite.name!r}: example id {example.id!r} occurs twice; ids must be unique.")
        seen.add(example.id)
        by_domain[example.domain].append(example)
    empty = [d for d, items in by_domain.items() if not items]
    if empty:
        raise DataError(f"Suite {suite.name!r}: domain(s) {', '.join(empty)} have no examples.")
    return SuiteData(suite, {d: _split_domain(items, suite.split, f"Suite {suite.name!r}, domain {d!r}")
                             for d, items in by_domain.items()})


def _split_domain(items: list[Example], rule: SplitRule, where: str) -> DomainData:
    data = DomainData()
    free = [ex for ex in items if ex.split is None]
    for ex in items:
        if ex.split is not None:
            data.split(ex.split).append(ex)
    free.sort(key=lambda ex: _order_key(rule.seed, ex.id))
    n_test = round(rule.test_fraction * len(free))
    if len(free) >= 2 and not 1 <= n_test <= len(free) - 1:
        side = "test" if n_test < 1 else "train"
        raise DataError(f"{where}: split.test_fraction = {rule.test_fraction:g} of its {len(free)} examples leaves its "
                        f"{side} split empty; give a test_fraction in [{1.5 / len(free):.3g}, "
                        f"{1 - 1.5 / len(free):.3g}] or more examples per domain.")
    data.test.extend(free[:n_test])
    data.train.extend(free[n_test:])
    return data
