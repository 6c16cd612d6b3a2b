"""Declarative rules for values: the value types of the suite schema and of every config object.

A rule (:class:`ValueType`) says what one value may be: :class:`Str` (optionally one of
``choices``), :class:`Match` (a string matching a regular expression), :class:`Name`,
:class:`Bool`, :class:`Int`, :class:`Number`, :class:`List`, :class:`Map`,
:class:`Either`, :class:`Null` (``None``; :func:`optional` is ``Either((rule, Null()))``)
and :class:`Table` (keys described by :class:`Key`). :meth:`ValueType.problems` returns
one message per problem, each naming the key and quoting the value in one form:

    'TrainConfig.epochs' must be an integer in [1, 1000000000], got a boolean True.

The suite schema (:mod:`bench.suites.schema`) is written with these rules, and so is the
validation of every config dataclass: :func:`check_config` in its ``__post_init__``.
Booleans are never numbers, integers are not floats where an integer is asked for, and a
string is never taken for a list of strings.

This module imports nothing of ``bench`` but :mod:`bench.errors`, so that any module may
state its rules with it (:mod:`bench.suites.generation` does, below the schema).
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bench.errors import BenchError, ConfigError

__all__ = [
    "MAX_CHOICES",
    "MAX_COUNT",
    "MAX_DOMAINS",
    "MAX_NAME_CHARS",
    "MAX_SEED",
    "QUOTE_CHARS",
    "Bool",
    "Either",
    "Int",
    "Key",
    "List",
    "Map",
    "Match",
    "Name",
    "Null",
    "Number",
    "Str",
    "Table",
    "ValueType",
    "check_config",
    "name_problem",
    "optional",
    "quote",
]

QUOTE_CHARS = 60
"""Longest quote of a value in a message (characters)."""
MAX_NAME_CHARS = 200
"""Default longest :class:`Str` (characters)."""
MAX_DOMAINS = 10_000
"""Default most entries of a :class:`Map` (a suite's domains)."""
MAX_CHOICES = 1_000
"""Default most items of a :class:`List`."""
MAX_SEED = 2**63 - 1
"""Default upper bound of an :class:`Int` (the largest seed)."""
MAX_COUNT = 10**9
"""Upper bound of a count in a config object (epochs, batch size, buckets, …)."""


def quote(value: Any) -> str:
    """``repr(value)`` cut to :data:`QUOTE_CHARS` characters (``…`` marks a cut)."""
    text = repr(value)
    return text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 1] + "…"


def _type_name(value: Any) -> str:
    names = {str: "a string", bool: "a boolean", int: "an integer", float: "a float", list: "an array"}
    if isinstance(value, Mapping):
        return "a table"
    return names.get(type(value), type(value).__name__)


def check_config(config: Any, rules: Mapping[str, ValueType], *, error: type[BenchError] = ConfigError,
                 flags: Mapping[str, str] | None = None) -> None:
    """Check the fields of a config object with the suite schema's value types, so that
    every config states its rules the same way and words its errors as a suite file's.

    ``rules`` maps a field name to its :class:`ValueType` (``Int(1, MAX_COUNT)``,
    ``Number(0, math.inf, bounds="(]")``, ``optional(Int(1))``, …); problems name the
    field as ``ClassName.field``, followed by the command-line flag that sets it where
    ``flags`` names one (``'RunConfig.device' (--device) must be …``).

    Raises
    ------
    ConfigError
        (or ``error``) Listing every field that breaks its rule, e.g.
        ``'TrainConfig.epochs' must be an integer in [1, 1000000000], got a boolean True.``

    Examples
    --------
    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Settings:
    ...     epochs: int = 1
    >>> check_config(Settings(True), {"epochs": Int(1, 10)})
    Traceback (most recent call last):
    ...
    bench.errors.ConfigError: 'Settings.epochs' must be an integer in [1, 10], got a boolean True.
    """
    owner = type(config).__name__
    problems = [_with_flag(p, f"{owner}.{name}", (flags or {}).get(name))
                for name, rule in rules.items() for p in rule.problems(getattr(config, name), f"{owner}.{name}")]
    if problems:
        raise error(" ".join(problems))


def _with_flag(problem: str, key: str, flag: str | None) -> str:
    """``problem`` with ``flag`` after the quoted ``key`` (or an item of it, ``key[0]``)."""
    if flag is None:
        return problem
    return re.sub(re.escape(f"'{key}") + r"(\[[^']*\])?'", lambda m: f"{m.group(0)} ({flag})", problem, count=1)


class ValueType:
    """A rule for one value: :meth:`problems` lists what is wrong with ``value`` at ``key``."""

    description = "a value"

    def problems(self, value: Any, key: str) -> list[str]:
        raise NotImplementedError

    def _wrong(self, value: Any, key: str) -> list[str]:
        return [f"'{key}' must be {self.description}, got {_type_name(value)} {quote(value)}."]


@dataclass(frozen=True)
class Str(ValueType):
    """A string, non-empty unless ``empty``, at most ``max_chars`` long, optionally one of ``choices``.

    A string of whitespace only counts as empty, unless ``blank`` (a stop sequence ``"\\n\\n"``).
    """

    max_chars: int = MAX_NAME_CHARS
    empty: bool = False
    choices: Callable[[], Iterable[str]] | tuple[str, ...] | None = None
    blank: bool = False

    @property
    def description(self) -> str:  # type: ignore[override]
        return "a string" if self.empty else "a non-empty string"

    @property
    def rule(self) -> str:
        """The description with the allowed values, for the reference table."""
        if self.choices is None:
            return self.description
        allowed = tuple(self.choices() if callable(self.choices) else self.choices)
        return f"one of {', '.join(allowed)}"

    def problems(self, value: Any, key: str) -> list[str]:
        if not isinstance(value, str) or (not self.empty and not (value if self.blank else value.strip())):
            return self._wrong(value, key)
        if len(value) > self.max_chars:
            return [f"'{key}' is {len(value)} characters long; at most {self.max_chars} are allowed."]
        if self.choices is not None:
            allowed = tuple(self.choices() if callable(self.choices) else self.choices)
            if value not in allowed:
                close = difflib.get_close_matches(value, allowed, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                return [f"'{key}' must be one of {', '.join(allowed)}; got {quote(value)}.{hint}"]
        return []


def name_problem(value: str, *, allow_slash: bool = False) -> str | None:
    """Why ``value`` cannot name a suite, task, domain or group (``None``: it can).

    Such names become parts of file names, CSV cells and report text, so they follow one
    rule: only printable characters (``str.isprintable``: no control or format character,
    lone surrogate, unassigned code point or separator but the space), no ``/`` or
    ``\\`` (a model's name may hold ``/``, as a Hugging Face id does, where
    ``allow_slash``), not starting with ``.`` and not ``..`` anywhere (no name can point
    outside its folder), no leading or trailing whitespace.
    """
    if not value.isprintable():
        return "holds a character that is not printable (a control or format character, a lone surrogate, a line break)"
    if ("/" in value and not allow_slash) or "\\" in value:
        return "holds '/' or '\\' (it becomes part of file names)"
    if value.startswith(".") or ".." in value:
        return "starts with '.' or holds '..' (it becomes part of file names)"
    if value != value.strip():
        return "starts or ends with whitespace"
    return None


@dataclass(frozen=True)
class Name(Str):
    """A :class:`Str` that names a suite, task, domain or group: see :func:`name_problem`."""

    @property
    def rule(self) -> str:
        return "a name (see Names)"

    def problems(self, value: Any, key: str) -> list[str]:
        found = super().problems(value, key)
        why = None if found else name_problem(value)
        return found if why is None else [f"'{key}' {why}, got {quote(value)}; rename it."]


@dataclass(frozen=True)
class Match(Str):
    """A :class:`Str` that matches the regular expression ``pattern`` in full (``re.fullmatch``);
    ``means`` says which values those are, in words (``"cpu, cuda, cuda:N or mps"``)."""

    pattern: str = ".*"
    means: str = ""

    @property
    def rule(self) -> str:
        return f"one of {self.means}"

    def problems(self, value: Any, key: str) -> list[str]:
        found = super().problems(value, key)
        if found or re.fullmatch(self.pattern, value):
            return found
        return [f"'{key}' must be one of {self.means}; got {quote(value)}."]


@dataclass(frozen=True)
class Null(ValueType):
    """``None`` (in a config object: the field is left unset); see :func:`optional`."""

    description = "None"

    def problems(self, value: Any, key: str) -> list[str]:
        return [] if value is None else self._wrong(value, key)


def optional(rule: ValueType) -> Either:
    """``rule`` or ``None``: ``optional(Int(1))`` accepts ``None``, ``1``, ``2``, …"""
    return Either((rule, Null()))


@dataclass(frozen=True)
class Bool(ValueType):
    """``true`` or ``false``."""

    description = "true or false"

    def problems(self, value: Any, key: str) -> list[str]:
        return [] if isinstance(value, bool) else self._wrong(value, key)


@dataclass(frozen=True)
class Int(ValueType):
    """An integer (not a float, not a boolean) in ``[low, high]``."""

    low: int = 0
    high: int = MAX_SEED

    @property
    def description(self) -> str:  # type: ignore[override]
        return f"an integer in [{self.low}, {self.high}]"

    def problems(self, value: Any, key: str) -> list[str]:
        if not isinstance(value, int) or isinstance(value, bool) or not self.low <= value <= self.high:
            return self._wrong(value, key)
        return []


@dataclass(frozen=True)
class Number(ValueType):
    """A finite number (not a boolean) between ``low`` and ``high``; ``bounds`` says which
    ends are included: ``"[]"`` (both), ``"()"`` (neither), ``"(]"`` or ``"[)"``."""

    low: float = -math.inf
    high: float = math.inf
    bounds: str = "[]"

    def __post_init__(self) -> None:
        if self.bounds not in ("[]", "()", "(]", "[)"):
            raise ValueError(f"Number bounds must be one of [], (), (], [); got {self.bounds!r}.")

    @property
    def description(self) -> str:  # type: ignore[override]
        if math.isinf(self.low) and math.isinf(self.high):
            return "a finite number"
        if math.isinf(self.high):
            return f"a finite number {'>' if self.bounds[0] == '(' else '≥'} {self.low:g}"
        return f"a number in {self.bounds[0]}{self.low:g}, {self.high:g}{self.bounds[1]}"

    def problems(self, value: Any, key: str) -> list[str]:
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
            return self._wrong(value, key)
        above = self.low < value if self.bounds[0] == "(" else self.low <= value
        below = value < self.high if self.bounds[1] == ")" else value <= self.high
        return [] if above and below else self._wrong(value, key)


@dataclass(frozen=True)
class List(ValueType):
    """An array (in a config object a list or a tuple) of ``min_len``..``max_len`` items of
    type ``item``; ``unique`` forbids repeats. A string is never taken for a list."""

    item: ValueType
    min_len: int = 1
    max_len: int = MAX_CHOICES
    unique: bool = True

    @property
    def description(self) -> str:  # type: ignore[override]
        return f"an array of {self._size} items, each {self.item.description}"

    @property
    def _size(self) -> str:
        return str(self.min_len) if self.min_len == self.max_len else f"{self.min_len}-{self.max_len}"

    def problems(self, value: Any, key: str) -> list[str]:
        if not isinstance(value, list | tuple):
            return self._wrong(value, key)
        if not self.min_len <= len(value) <= self.max_len:
            return [f"'{key}' must have {self._size} items, got {len(value)}."]
        found = [p for i, v in enumerate(value) for p in self.item.problems(v, f"{key}[{i}]")]
        if not found and self.unique:
            repeated = _first_repeat(value)
            if repeated is not None:
                found.append(f"'{key}' must not repeat items; {quote(repeated)} appears more than once.")
        return found


def _first_repeat(values: Iterable[Any]) -> Any:
    """The first item of ``values`` equal to an earlier one (tables are skipped), else ``None``."""
    seen: set[Any] = set()
    for value in values:
        if isinstance(value, Mapping | list):
            continue
        if value in seen:
            return value
        seen.add(value)
    return None


@dataclass(frozen=True)
class Map(ValueType):
    """A table of free keys (strings) whose values are all of type ``value``."""

    value: ValueType
    max_len: int = MAX_DOMAINS

    description = "a table"

    def problems(self, value: Any, key: str) -> list[str]:
        if not isinstance(value, Mapping):
            return self._wrong(value, key)
        if len(value) > self.max_len:
            return [f"'{key}' has {len(value)} entries; at most {self.max_len} are allowed."]
        return [p for k, v in value.items() for p in self.value.problems(v, f"{key}.{k}")]


@dataclass(frozen=True)
class Either(ValueType):
    """The first of ``options`` whose type matches: ``Either(Str(), List(Str()))``."""

    options: tuple[ValueType, ...]

    @property
    def description(self) -> str:  # type: ignore[override]
        return " or ".join(o.description for o in self.options)

    def problems(self, value: Any, key: str) -> list[str]:
        results = [o.problems(value, key) for o in self.options]
        if any(not r for r in results):
            return []
        typed = [r for o, r in zip(self.options, results, strict=True) if _same_kind(o, value)]
        return typed[0] if typed else self._wrong(value, key)


def _same_kind(rule: ValueType, value: Any) -> bool:
    kinds: dict[type, Callable[[Any], bool]] = {
        Str: lambda v: isinstance(v, str), Bool: lambda v: isinstance(v, bool),
        Int: lambda v: isinstance(v, int) and not isinstance(v, bool),
        Number: lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        Null: lambda v: v is None,
        List: lambda v: isinstance(v, list | tuple) and (not v or _same_kind(rule.item, v[0])),  # type: ignore[attr-defined]
        Map: lambda v: isinstance(v, Mapping),
        Table: lambda v: isinstance(v, Mapping),
    }
    test = next((check for kind, check in kinds.items() if isinstance(rule, kind)), None)
    return bool(test and test(value))


@dataclass(frozen=True)
class Key:
    """One key of a :class:`Table`.

    Attributes
    ----------
    type
        The rule its value must follow.
    required
        Whether the key must be present.
    doc
        What the key means (shown in ``docs/suites.md``).
    when
        ``(other_key, values)``: the key is allowed only where ``other_key`` has one of
        ``values`` (``choices`` only for classification tasks).
    required_when
        ``(other_key, values)``: the key is required where ``other_key`` has one of ``values``.
    """

    type: ValueType
    required: bool = False
    doc: str = ""
    when: tuple[str, tuple[str, ...]] | None = None
    required_when: tuple[str, tuple[str, ...]] | None = None


@dataclass(frozen=True)
class Table(ValueType):
    """A TOML table with the given ``keys``; ``exclusive`` lists groups of keys of which at
    most one may be given; ``open`` tables accept keys they do not list."""

    keys: Mapping[str, Key]
    exclusive: tuple[tuple[str, ...], ...] = ()
    open: bool = False
    description = "a table"

    def problems(self, value: Any, key: str) -> list[str]:
        if not isinstance(value, Mapping):
            return self._wrong(value, key)
        prefix = f"{key}." if key else ""
        found = [] if self.open else [_unknown(name, self.keys, prefix) for name in value if name not in self.keys]
        for name, spec in self.keys.items():
            found += _key_problems(value, name, spec, prefix)
        for group in self.exclusive:
            given = [name for name in group if name in value]
            if len(given) > 1:
                found.append(f"keys {', '.join(prefix + g for g in given)} exclude each other; give only one.")
        return found


def _unknown(name: str, keys: Mapping[str, Key], prefix: str) -> str:
    close = difflib.get_close_matches(str(name), sorted(keys), n=1)
    hint = f" Did you mean '{prefix}{close[0]}'?" if close else ""
    return f"unknown key '{prefix}{name}'.{hint} Allowed: {', '.join(sorted(keys)) or '(none)'}."


def _key_problems(table: Mapping[str, Any], name: str, spec: Key, prefix: str) -> list[str]:
    full = f"{prefix}{name}"
    if name not in table:
        needed = spec.required or (spec.required_when is not None and _applies(table, spec.required_when))
        if not needed:
            return []
        reason = f" ({spec.doc})" if spec.doc else ""
        if spec.required_when is not None and not spec.required:
            other, values = spec.required_when
            reason = f" (required where '{prefix}{other}' is {' or '.join(values)})"
        return [f"missing required key '{full}'{reason}."]
    if spec.when is not None and not _applies(table, spec.when):
        other, values = spec.when
        return [f"'{full}' is only allowed where '{prefix}{other}' is {' or '.join(values)} "
                f"(here it is {quote(table.get(other))})."]
    return spec.type.problems(table[name], full)


def _applies(table: Mapping[str, Any], rule: tuple[str, tuple[str, ...]]) -> bool:
    other, values = rule
    value = table.get(other)
    return isinstance(value, str) and value in values
