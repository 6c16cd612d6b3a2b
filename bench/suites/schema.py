"""The schema of a suite file: every key, its type, range and whether it is required.

One declarative table (:data:`SUITE_SCHEMA`, with the ``options`` fact of each
:data:`~bench.suites.sources.SOURCES` entry for the options of its ``[source]`` table) says what a suite file may contain. :func:`check_document`
walks a parsed TOML document against it *before* anything is built or loaded and returns
one message per problem, each naming the key (``tasks[1].choices``) and quoting the value
(shortened, never more than :data:`~bench.suites.rules.QUOTE_CHARS` characters). Adding a
key is adding one entry to a table. The value types are those of :mod:`bench.suites.rules`.

Rules the value types enforce:

- strings are never split into lists: ``choices = "np"`` is an error, not ``["n", "p"]``;
- numbers must be finite (TOML allows ``nan`` and ``inf``); integers are not floats
  (``n_per_domain = 1e9`` is an error) and booleans are not numbers;
- every list, string and integer has an upper bound, so that no suite file can make a run
  hang or exhaust memory (``n_per_domain`` ≤ 100,000, ≤ 10,000 domains, ...);
- lists of names have no duplicates (``choices = ["pos", "pos"]`` is an error).

Keys of a table that the schema does not list are errors with a "did you mean"; the
options of a source that declares no ``options`` table (a plugin's may not) are left to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench.registry import View
from bench.suites.generation import DECODING_RULES
from bench.suites.kinds import TASK_KINDS, kinds_where
from bench.suites.prompts import FORMATS, SAMPLERS
from bench.suites.protocols import PROTOCOLS
from bench.suites.rules import (
    MAX_CHOICES,
    MAX_DOMAINS,
    MAX_SEED,
    Bool,
    Either,
    Int,
    Key,
    List,
    Name,
    Number,
    Str,
    Table,
)
from bench.suites.sources import SOURCES, source_options
from bench.textscores import NORMALIZATIONS

__all__ = [
    "SOURCE_OPTIONS",
    "SUITE_SCHEMA",
    "check_document",
    "check_source_options",
    "key_rows",
]

MAX_TEXT_CHARS = 20_000
MAX_TASKS = 100


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
    "max_new_tokens": Key(DECODING_RULES["max_new_tokens"], doc="tokens generated at most per answer (default 64)"),
    "stop": Key(DECODING_RULES["stop"],
                doc="stop sequences, each non-empty; the answer ends before the first (default [\"\\n\\n\"])"),
    "temperature": Key(DECODING_RULES["temperature"], doc="0 (default): greedy; > 0: sampling"),
    "top_p": Key(DECODING_RULES["top_p"], doc="nucleus mass when sampling (default 1)"),
    "seed": Key(DECODING_RULES["seed"], doc="sampler seed (default 0: the run's --seed)"),
})
"""``[tasks.decoding]``: the rules of :class:`~bench.suites.generation.Decoding`'s fields."""

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
    "test_fraction": Key(Number(0.0, 1.0, bounds="()"), doc="share of each domain in the test split"),
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

SOURCE_OPTIONS: Mapping[str, Table] = View(lambda: {name: table for name in SOURCES.names()
                                                    if (table := source_options(name)) is not None})
"""The ``options`` fact of every :data:`~bench.suites.sources.SOURCES` entry that has one (a read-only view)."""


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
    """Problems of a ``[source]`` table's options for ``source_type``, by the ``options`` fact
    of its :data:`~bench.suites.sources.SOURCES` entry (none for a source without one)."""
    schema = source_options(source_type)
    return [] if schema is None else schema.problems(options, "source")


def check_document(document: Mapping[str, Any]) -> list[str]:
    """Every problem of a parsed suite file against :data:`SUITE_SCHEMA`, one message each."""
    found = SUITE_SCHEMA.problems(document, "")
    source = document.get("source")
    if isinstance(source, Mapping) and isinstance(source.get("type"), str):
        found += check_source_options(source["type"], {k: v for k, v in source.items() if k != "type"})
    return found

