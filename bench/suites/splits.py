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
    ``sha256(seed, id)`` and the first ``round(test_fraction * n)`` become test
    (at least one of each split when the domain has two or more examples).

    Raises
    ------
    DataError
        If an example names an unknown domain, two examples share an id, or a domain
        has no examples.
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
    return SuiteData(suite, {d: _split_domain(items, suite.split) for d, items in by_domain.items()})


def _split_domain(items: list[Example], rule: SplitRule) -> DomainData:
    data = DomainData()
    free = [ex for ex in items if ex.split is None]
    for ex in items:
        if ex.split is not None:
            data.split(ex.split).append(ex)
    free.sort(key=lambda ex: _order_key(rule.seed, ex.id))
    n_test = round(rule.test_fraction * len(free))
    if len(free) >= 2:
        n_test = min(max(n_test, 1), len(free) - 1)
    data.test.extend(free[:n_test])
    data.train.extend(free[n_test:])
    return data
