"""The value types of :mod:`bench.suites.rules` that config objects use beyond the suite schema."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from bench.errors import ConfigError, StatisticsError
from bench.suites.rules import Bool, Either, Int, List, Match, Null, Number, Str, check_config, optional


@pytest.mark.parametrize(("rule", "value", "problem"), [
    (Number(0, 1, bounds="(]"), 0, "'k' must be a number in (0, 1], got an integer 0."),
    (Number(0, 1, bounds="[)"), 1.0, "'k' must be a number in [0, 1), got a float 1.0."),
    (Number(0, float("inf"), bounds="()"), 0.0, "'k' must be a finite number > 0, got a float 0.0."),
    (Number(0), -1, "'k' must be a finite number ≥ 0, got an integer -1."),
    (Number(0, 1), True, "'k' must be a number in [0, 1], got a boolean True."),
    (Bool(), 1, "'k' must be true or false, got an integer 1."),
    (optional(Int(1, 9)), 0, "'k' must be an integer in [1, 9], got an integer 0."),
    (optional(Int(1, 9)), "3", "'k' must be an integer in [1, 9] or None, got a string '3'."),
    (Match(pattern=r"cpu|cuda(:\d+)?", means="cpu, cuda, cuda:N"), "gpu", "'k' must be one of cpu, cuda, cuda:N; got 'gpu'."),
    (Str(blank=True), "", "'k' must be a non-empty string, got a string ''."),
    (Str(), " ", "'k' must be a non-empty string, got a string ' '."),
    (List(Str()), "ab", "'k' must be an array of 1-1000 items, each a non-empty string, got a string 'ab'."),
    (Null(), 0, "'k' must be None, got an integer 0."),
    (Either((Int(1, 9), Str(choices=("auto",)))), "big", "'k' must be one of auto; got 'big'."),
])
def test_problems_are_worded_in_one_form(rule: Any, value: Any, problem: str) -> None:
    assert rule.problems(value, "k") == [problem]


@pytest.mark.parametrize(("rule", "value"), [
    (Number(0, 1, bounds="(]"), 1), (Str(blank=True), "\n\n"), (List(Str()), ("a", "b")), (optional(Int(1, 9)), None),
    (Match(pattern=r"cpu|cuda(:\d+)?", means="cpu, cuda:N"), "cuda:1"),
])
def test_valid_values_pass(rule: Any, value: Any) -> None:
    assert rule.problems(value, "k") == []


def test_a_number_needs_known_bounds() -> None:
    with pytest.raises(ValueError, match=r"Number bounds must be one of"):
        Number(0, 1, bounds="<>")


@dataclass
class Settings:
    epochs: Any = 1
    rate: Any = 0.5


def test_check_config_names_every_field_and_raises_the_given_error() -> None:
    rules = {"epochs": Int(1, 10), "rate": Number(0, 1)}
    check_config(Settings(), rules)
    with pytest.raises(ConfigError, match=r"^'Settings\.epochs' must be an integer in \[1, 10\], got a boolean True\. "
                                          r"'Settings\.rate' must be a number in \[0, 1\], got a float 2\.0\.$"):
        check_config(Settings(True, 2.0), rules)
    with pytest.raises(StatisticsError, match=r"'Settings\.epochs'"):
        check_config(Settings(0), rules, error=StatisticsError)
