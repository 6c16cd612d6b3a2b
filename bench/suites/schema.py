"""The schema of a suite file: every key, its type, range and whether it is required.

One declarative table (:data:`SUITE_SCHEMA`, with :data:`SOURCE_OPTIONS` for the options of
each built-in example source) says what a suite file may contain. :func:`check_document`
walks a parsed TOML document against it *before* anything is built or loaded and returns
one message per problem, each naming the key (``tasks[1].choices``) and quoting the value
(shortened, never more than :data:`QUOTE_CHARS` characters). Adding a key is adding one
entry to a table.

Rules the value types enforce:

- strings are never split into lists: ``choices = "np"`` is an error, not ``["n", "p"]``;
- numbers must be finite (TOML allows ``nan`` and ``inf``); integers are not floats
  (``n_per_domain = 1e9`` is an error) and booleans are not numbers;
- every list, string and integer has an upper bound, so that no suite file can make a run
  hang or exhaust memory (``n_per_domain`` ≤ 100,000, ≤ 10,000 domains, ...);
- lists of names have no duplicates (``choices = ["pos", "pos"]`` is an error).

Keys of a table that the schema does not list are errors with a "did you mean"; the
options of a source type the schema does not know (a plugin's) are left to that source.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bench.errors import ConfigError
from bench.suites.generation import MAX_NEW_TOKENS
from bench.suites.kinds import TASK_KINDS, kinds_where
from bench.suites.prompts import FORMATS, SAMPLERS
from bench.suites.protocols import PROTOCOLS
from bench.textscores import NORMALIZATIONS

__all__ = [
    "MAX_DOMAINS",
    "MAX_N_PER_DOMAIN",
    "QUOTE_CHARS",
    "SOURCE_OPTIONS",
    "SUITE_SCHEMA",
    "Bool",
    "Either",
    "Int",
    "Key",
    "List",
    "Map",
    "Name",
    "Number",
    "Str",
    "Table",
    "check_config",
    "check_document",
    "check_source_options",
    "key_rows",
    "name_problem",
    "quote",
]

QUOTE_CHARS = 60
MAX_NAME_CHARS = 200
MAX_TEXT_CHARS = 20_000
MAX_DOMAINS = 10_000
MAX_TASKS = 100
MAX_CHOICES = 1_000
MAX_N_PER_DOMAIN = 100_000
MAX_SEED = 2**63 - 1
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


def check_config(config: Any, rules: Mapping[str, ValueType]) -> None:
    """Check the fields of a config object with the suite schema's value types, so that
    every config states its rules the same way and words its errors as a suite file's.

    ``rules`` maps a field name to its :class:`ValueType` (``Int(1, MAX_COUNT)``,
    ``Number(0, math.inf, open=True)``, …); problems name the field as
    ``ClassName.field``.

    Raises
    ------
    ConfigError
        Listing every field that breaks its rule, e.g. ``'TrainConfig.epochs' must be an
        integer in [1, 1000000000], got a boolean True.``
    """
    owner = type(config).__name__
    problems = [p for name, rule in rules.items() for p in rule.problems(getattr(config, name), f"{owner}.{name}")]
    if problems:
        raise ConfigError(" ".join(problems))


class ValueType:
    """A rule for one value: :meth:`problems` lists what is wrong with ``value`` at ``key``."""

    description = "a value"

    def problems(self, value: Any, key: str) -> list[str]:
        raise NotImplementedError

    def _wrong(self, value: Any, key: str) -> list[str]:
        return [f"'{key}' must be {self.description}, got {_type_name(value)} {quote(value)}."]


@dataclass(frozen=True)
class Str(ValueType):
    """A string, non-empty unless ``empty``, at most ``max_chars`` long, optionally one of ``choices``."""

    max_chars: int = MAX_NAME_CHARS
    empty: bool = False
    choices: Callable[[], Iterable[str]] | tuple[str, ...] | None = None

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
        if not isinstance(value, str) or (not self.empty and not value.strip()):
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
    """A finite number in ``[low, high]``, or ``(low, high)`` where ``open``."""

    low: float = -math.inf
    high: float = math.inf
    open: bool = False

    @property
    def description(self) -> str:  # type: ignore[override]
        brackets = "()" if self.open else "[]"
        if math.isinf(self.low) and math.isinf(self.high):
            return "a finite number"
        return f"a number in {brackets[0]}{self.low:g}, {self.high:g}{brackets[1]}"

    def problems(self, value: Any, key: str) -> list[str]:
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
            return self._wrong(value, key)
        inside = self.low < value < self.high if self.open else self.low <= value <= self.high
        return [] if inside else self._wrong(value, key)


@dataclass(frozen=True)
class List(ValueType):
    """An array of ``min_len``..``max_len`` items of type ``item``; ``unique`` forbids repeats."""

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
        if not isinstance(value, list):
            return self._wrong(value, key)
        if not self.min_len <= len(value) <= self.max_len:
            return [f"'{key}' must have {self._size} items, got {len(value)}."]
        found = [p for i, v in enumerate(value) for p in self.item.problems(v, f"{key}[{i}]")]
        if not found and self.unique:
            repeated = _first_repeat(value)
            if repeated is not None:
                found.append(f"'{key}' must not repeat items; {quote(repeated)} appears more than once.")
        return found


def _first_repeat(values: list[Any]) -> Any:
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
        List: lambda v: isinstance(v, list) and (not v or _same_kind(rule.item, v[0])),  # type: ignore[attr-defined]
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


def _protocols() -> tuple[str, ...]:
    return tuple(PROTOCOLS.names())


def _task_kinds() -> tuple[str, ...]:
    return TASK_KINDS


def _formats() -> tuple[str, ...]:
    return FORMATS


def _samplers() -> tuple[str, ...]:
    return SAMPLERS


def _normalizations() -> tuple[str, ...]:
    return NORMALIZATIONS


_MULTIPLE_CHOICE = ("kind", kinds_where(lambda kind: kind.scores_options))
_PROMPTED = ("kind", kinds_where(lambda kind: kind.prompted))
_GENERATION = ("kind", kinds_where(lambda kind: kind.generates_text))
_CLASSIFICATION = ("kind", kinds_where(lambda kind: kind.has_label_choices))
_REGRESSION = ("kind", kinds_where(lambda kind: kind.has_numeric_target))
MAX_FEWSHOT = 100
MAX_STOP_CHARS = 200


NAME = Str()
SAFE_NAME = Name()
"""Suite, task, domain and group names (they reach file names and reports): see :func:`name_problem`."""
NAMES = List(SAFE_NAME, min_len=1, max_len=MAX_DOMAINS)
TEXT = Str(max_chars=MAX_TEXT_CHARS, empty=True)

SUITE_TABLE = Table({
    "name": Key(SAFE_NAME, required=True, doc="the suite's name"),
    "version": Key(Either((Str(empty=True), Number())), doc="version string recorded in run.json"),
    "description": Key(TEXT, doc="one paragraph shown by `bench suites`"),
    "protocol": Key(Str(choices=_protocols), doc="what is trained on what"),
    "in_domain": Key(Either((SAFE_NAME, NAMES)), doc="the in-domain domain(s)"),
    "models": Key(List(NAME, max_len=MAX_TASKS), doc="models `bench run` scores by default"),
})

DECODING_TABLE = Table({
    "max_new_tokens": Key(Int(1, MAX_NEW_TOKENS), doc="tokens generated at most per answer (default 64)"),
    "stop": Key(List(Str(max_chars=MAX_STOP_CHARS, empty=True), min_len=0, max_len=16),
                doc="stop sequences, each non-empty; the answer ends before the first (default [\"\\n\\n\"])"),
    "temperature": Key(Number(0.0, 100.0), doc="0 (default): greedy; > 0: sampling"),
    "top_p": Key(Number(0.0, 1.0), doc="nucleus mass when sampling, in (0, 1] (default 1)"),
    "seed": Key(Int(0, MAX_SEED), doc="sampler seed (default 0: the run's --seed)"),
})

TASK_TABLE = Table({
    "name": Key(SAFE_NAME, required=True, doc="task name"),
    "kind": Key(Str(choices=_task_kinds), required=True, doc="the task kind"),
    "choices": Key(List(Str(), min_len=2, max_len=MAX_CHOICES), doc="label names",
                   when=_CLASSIFICATION, required_when=_CLASSIFICATION),
    "prompt": Key(Str(max_chars=MAX_TEXT_CHARS), doc="prompt template with {text}"),
    "verbalizers": Key(List(Str(empty=True), min_len=2, max_len=MAX_CHOICES, unique=True),
                       doc="continuation per choice", when=_CLASSIFICATION),
    "value_range": Key(List(Number(), min_len=2, max_len=2, unique=False), doc="[low, high] of the targets",
                       when=_REGRESSION),
    "style": Key(Str(choices=_formats), doc="letter (options listed as A. …) or cloze (option text scored)",
                 when=_MULTIPLE_CHOICE),
    "description": Key(Str(max_chars=MAX_TEXT_CHARS, empty=True), doc="line before the exemplars, with {fields}",
                       when=_PROMPTED),
    "num_fewshot": Key(Int(0, MAX_FEWSHOT), doc="exemplars before each question (default 0)", when=_PROMPTED),
    "fewshot_split": Key(NAME, doc="split the exemplars come from (e.g. dev); never test", when=_PROMPTED),
    "fewshot_sampler": Key(Str(choices=_samplers), doc="first_n (lm-eval's MMLU) or random (seeded)",
                           when=_PROMPTED),
    "target_delimiter": Key(Str(max_chars=40, empty=True), doc="between a prompt and its answer (default ' ')",
                            when=_PROMPTED),
    "fewshot_delimiter": Key(Str(max_chars=40, empty=True), doc="after each exemplar (default blank line)",
                             when=_PROMPTED),
    "labels": Key(List(Str(max_chars=40), min_len=2, max_len=MAX_CHOICES), doc="option labels (default A, B, C, …)",
                  when=_MULTIPLE_CHOICE),
    "default": Key(Bool(), doc="scored when no --task is named (default true); false: only when named"),
    "answer_normalization": Key(Str(choices=_normalizations),
                                doc="how answers and references are normalised for exact match and F1 (default squad)",
                                when=_GENERATION),
    "decoding": Key(DECODING_TABLE, doc="how answers are decoded", when=_GENERATION),
    "primary_metric": Key(NAME, doc="metric that ranks domains and models (default: the kind's, e.g. exact_match); "
                                    "checked when a run starts"),
})

DOMAIN_TABLE = Table({
    "name": Key(SAFE_NAME, required=True, doc="domain name"),
    "description": Key(TEXT, doc="what the domain holds"),
    "group": Key(SAFE_NAME, doc="group of the domain (MMLU: its category); metrics and gaps are also reported per group"),
})

SPLIT_TABLE = Table({
    "test_fraction": Key(Number(0.0, 1.0, open=True), doc="share of each domain in the test split"),
    "seed": Key(Int(0, MAX_SEED), doc="seed of the split order"),
})

SOURCE_TABLE = Table({"type": Key(NAME, required=True, doc="a string naming the example source")}, open=True)

SUITE_SCHEMA = Table({
    "suite": Key(SUITE_TABLE, required=True),
    "source": Key(SOURCE_TABLE, required=True),
    "split": Key(SPLIT_TABLE),
    "tasks": Key(List(TASK_TABLE, min_len=1, max_len=MAX_TASKS, unique=False), required=True,
                 doc="at least one [[tasks]] table"),
    "domains": Key(Either((List(SAFE_NAME, min_len=2, max_len=MAX_DOMAINS),
                           List(DOMAIN_TABLE, min_len=2, max_len=MAX_DOMAINS, unique=False))),
                   required=True, doc="a list of domain names, or [[domains]] tables"),
})
"""Every key of a suite file (see ``docs/suites.md``)."""

_FRACTION = Number(0.0, 1.0)
SOURCE_OPTIONS: dict[str, Table] = {
    "toy-reviews": Table({
        "n_per_domain": Key(Int(1, MAX_N_PER_DOMAIN), doc="reviews generated per domain"),
        "seed": Key(Int(0, MAX_SEED), doc="generator seed"),
        "label_shift": Key(Number(0.0, 0.5), doc="positive-rate shift of out-of-domain domains"),
        "shared_rate": Key(_FRACTION, doc="chance a sentiment word is shared across domains"),
        "contrast_rate": Key(_FRACTION, doc="chance of a contrast clause"),
    }),
    "uci-sentiment": Table({}),
    "mmlu": Table({}),
    "reviews-movies-products": Table({
        "split_products": Key(Bool(), doc="one domain per product"),
        "max_examples": Key(Either((Int(2, 10**9), Map(Int(2, 10**9)))), doc="cap per domain"),
    }),
    "masc-genres": Table({
        "doc_tokens": Key(Int(1, 1_000_000), doc="words per document"),
        "max_test_docs": Key(Int(1, 10**9), doc="test documents per genre"),
        "max_train_docs": Key(Int(1, 10**9), doc="train documents per genre"),
    }),
    "table": Table({
        "path": Key(Str(max_chars=4096), required=True, doc="the table file, relative to the suite file"),
        "format": Key(Str(choices=("jsonl", "csv", "tsv", "parquet")), doc="file format"),
        "text_column": Key(NAME, doc="column holding the text"),
        "domain_column": Key(NAME, doc="column holding the domain"),
        "columns": Key(Map(NAME, max_len=MAX_TASKS), doc="{task = column}"),
        "split_column": Key(NAME, doc="column with train/test"),
        "id_column": Key(NAME, doc="column with unique ids"),
        "encoding": Key(Str(max_chars=40), doc="text encoding"),
        "text_template": Key(Str(max_chars=MAX_TEXT_CHARS), doc="text built from several columns, e.g. \"{title}\\n{text}\""),
        "option_columns": Key(List(NAME, min_len=2, max_len=MAX_CHOICES), doc="one column per option (multiple choice)"),
        "reference_columns": Key(List(NAME, min_len=1, max_len=MAX_CHOICES),
                                 doc="columns of reference answers (generation); empty cells skipped"),
    }, exclusive=(("text_column", "text_template"),)),
}
"""Options of each built-in source's ``[source]`` table, besides ``type``."""


def key_rows(table: Table = SUITE_SCHEMA, prefix: str = "") -> list[tuple[str, str, str, str]]:
    """``(key, rule, required, meaning)`` for every key of ``table``, nested tables flattened
    (``tasks[].choices``): the reference table of ``docs/suites.md``."""
    rows = []
    for name, spec in table.keys.items():
        path = f"{prefix}{name}"
        inner = spec.type.item if isinstance(spec.type, List) else spec.type
        nested = inner if isinstance(inner, Table) else None
        if isinstance(spec.type, Either):
            nested = next((o.item for o in spec.type.options if isinstance(o, List) and isinstance(o.item, Table)), None)
        required = "yes" if spec.required else (f"where {spec.required_when[0]} is {'/'.join(spec.required_when[1])}"
                                                 if spec.required_when else "no")
        rule = "table" if isinstance(spec.type, Table) else getattr(spec.type, "rule", spec.type.description)
        if spec.when:
            rule += f"; only where {spec.when[0]} is {'/'.join(spec.when[1])}"
        rows.append((path, rule, required, spec.doc))
        if nested is not None and nested.keys:
            marker = "[]." if isinstance(spec.type, List | Either) else "."
            rows += key_rows(nested, f"{path}{marker}")
    return rows


def check_source_options(source_type: str, options: Mapping[str, Any]) -> list[str]:
    """Problems of a ``[source]`` table's options for ``source_type`` (none for unknown types)."""
    schema = SOURCE_OPTIONS.get(source_type)
    return [] if schema is None else schema.problems(options, "source")


def check_document(document: Mapping[str, Any]) -> list[str]:
    """Every problem of a parsed suite file against :data:`SUITE_SCHEMA`, one message each."""
    found = SUITE_SCHEMA.problems(document, "")
    source = document.get("source")
    if isinstance(source, Mapping) and isinstance(source.get("type"), str):
        found += check_source_options(source["type"], {k: v for k, v in source.items() if k != "type"})
    return found

