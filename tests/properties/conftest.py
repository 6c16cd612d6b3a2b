"""Counts the inputs each property test generates and reports them at the end of the run."""

from __future__ import annotations

from collections import Counter
from typing import Any

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
