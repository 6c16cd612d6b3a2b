"""Hypothesis profiles of the property tests, and the count of inputs each generated.

Two profiles (``--hypothesis-profile NAME``; ``xdbench-ci`` unless named):

- ``xdbench-ci``: :data:`CI_EXAMPLES` inputs per property test, derandomized (the same
  inputs every run), no deadline: the whole folder generates a few hundred inputs per
  strategy family and runs in well under a minute of CPU;
- ``xdbench-long``: :data:`LONG_EXAMPLES` inputs per property test, random (a new sample
  each run), for a long local run::

      PYTHONPATH=. python -m pytest tests/properties --hypothesis-profile xdbench-long -p no:cacheprovider

The counts of inputs (ran / clear error) are printed at the end of the run; a traceback
fails the test that met it, and every test bounds its sizes so that none can hang.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import HealthCheck, settings

CI_EXAMPLES = 150
LONG_EXAMPLES = 2000
_COMMON: dict[str, Any] = {"deadline": None, "database": None, "print_blob": True,
                           "suppress_health_check": [HealthCheck.too_slow, HealthCheck.filter_too_much,
                                                     HealthCheck.data_too_large]}
settings.register_profile("xdbench-ci", max_examples=CI_EXAMPLES, derandomize=True, **_COMMON)
settings.register_profile("xdbench-long", max_examples=LONG_EXAMPLES, derandomize=False, **_COMMON)
settings.load_profile("xdbench-ci")  # the pytest plugin loads --hypothesis-profile after this, if given

EXAMPLES: Counter[str] = Counter()
"""Inputs generated per property test (incremented by each test body)."""
OUTCOMES: Counter[tuple[str, str]] = Counter()
"""``(property, "ran" | "clear error")`` → how many inputs ended that way."""


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if EXAMPLES:
        terminalreporter.section("hypothesis inputs per property test")
        for name, count in sorted(EXAMPLES.items()):
            ran, refused = OUTCOMES[(name, "ran")], OUTCOMES[(name, "clear error")]
            terminalreporter.write_line(f"{name}: {count} inputs ({ran} ran, {refused} ended in a clear BenchError)")
