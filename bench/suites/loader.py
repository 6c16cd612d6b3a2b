"""Read suite definitions from TOML and validate them.

A suite file has the tables ``[suite]``, ``[source]``, ``[split]`` (optional),
``[[tasks]]`` and ``domains`` (a list of names, or ``[[domains]]`` tables with ``name``
and ``description``). Every problem is reported as a :class:`~bench.errors.SuiteError`
that names the file and the key (or the line, for malformed TOML).
"""

from __future__ import annotations

import difflib
import hashlib
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.errors import SuiteError
from bench.suites.prompts import FORMATS, SAMPLERS, PromptFormat
from bench.suites.types import TASK_KINDS, SplitRule, Suite, Task

__all__ = ["parse_suite", "read_suite_file"]

_TOP_KEYS = {"suite", "source", "split", "tasks", "domains"}
_SUITE_KEYS = {"name", "version", "description", "protocol", "in_domain", "models"}
_FORMAT_KEYS = {"style", "description", "num_fewshot", "fewshot_split", "fewshot_sampler", "target_delimiter",
                "fewshot_delimiter", "labels"}
_TASK_KEYS = {"name", "kind", "choices", "prompt", "verbalizers", "value_range"} | _FORMAT_KEYS
_SPLIT_KEYS = {"test_fraction", "seed"}


def read_suite_file(path: str | Path) -> Suite:
    """Load and validate the suite defined in the TOML file at ``path``.

    Raises
    ------
    SuiteError
        If the file is missing, is not valid TOML (the message gives line and column),
        or its content is invalid (the message names the key).
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SuiteError(f"Cannot read suite file {path}: {exc.strerror or exc}.") from exc
    try:
        document = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise SuiteError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}).") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SuiteError(f"{path}: malformed TOML: {exc}.") from exc
    return parse_suite(document, where=str(path), path=path, content=raw)


def parse_suite(
    document: Mapping[str, Any],
    *,
    where: str = "<suite>",
    path: Path | None = None,
    content: bytes | None = None,
) -> Suite:
    """Build a :class:`Suite` from a parsed TOML document, validating every field."""
    _check_keys(document, _TOP_KEYS, where, "")
    head = _require_table(document, "suite", where)
    _check_keys(head, _SUITE_KEYS, where, "suite.")
    name = _require_str(head, "name", where, "suite.")
    tasks = _parse_tasks(document, where)
    domains, descriptions, groups = _parse_domains(document, where)
    in_domain = _parse_in_domain(head, domains, where)
    source = dict(_require_table(document, "source", where))
    if not isinstance(source.get("type"), str):
        raise SuiteError(f"{where}: missing required key 'source.type' (a string naming the example source).")
    digest = hashlib.sha256(content if content is not None else repr(document).encode()).hexdigest()
    return Suite(
        name=name,
        version=str(head.get("version", "0")),
        description=str(head.get("description", "")),
        tasks=tasks,
        domains=domains,
        in_domain=in_domain,
        source=source,
        split=_parse_split(document, where),
        protocol=_parse_protocol(head, where),
        domain_descriptions=descriptions,
        path=path,
        content_hash=digest[:16],
        models=_parse_models(head, where),
        domain_groups=groups,
    )


def _parse_models(head: Mapping[str, Any], where: str) -> tuple[str, ...]:
    """``suite.models``: the models ``bench run`` scores on this suite when none is named."""
    raw = head.get("models", [])
    if not isinstance(raw, list) or not all(isinstance(m, str) and m.strip() for m in raw):
        raise SuiteError(f"{where}: 'suite.models' must be a list of model names, got {raw!r}.")
    return tuple(raw)


def _check_keys(table: Mapping[str, Any], allowed: set[str], where: str, prefix: str) -> None:
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(key, sorted(allowed), n=1)
            hint = f" Did you mean '{prefix}{close[0]}'?" if close else ""
            raise SuiteError(
                f"{where}: unknown key '{prefix}{key}'.{hint} Allowed: {', '.join(sorted(allowed))}."
            )


def _require_table(document: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    if key not in document:
        raise SuiteError(f"{where}: missing required table [{key}].")
    value = document[key]
    if not isinstance(value, Mapping):
        raise SuiteError(f"{where}: '{key}' must be a table, got {type(value).__name__}.")
    return value


def _require_str(table: Mapping[str, Any], key: str, where: str, prefix: str) -> str:
    if key not in table:
        raise SuiteError(f"{where}: missing required key '{prefix}{key}'.")
    value = table[key]
    if not isinstance(value, str) or not value.strip():
        raise SuiteError(f"{where}: '{prefix}{key}' must be a non-empty string, got {value!r}.")
    return value


def _parse_tasks(document: Mapping[str, Any], where: str) -> tuple[Task, ...]:
    raw_tasks = document.get("tasks")
    if not raw_tasks:
        raise SuiteError(f"{where}: missing required key 'tasks' (at least one [[tasks]] table).")
    if not isinstance(raw_tasks, list):
        raise SuiteError(f"{where}: 'tasks' must be an array of tables ([[tasks]]).")
    tasks = [_parse_task(raw, where, i) for i, raw in enumerate(raw_tasks)]
    names = [t.name for t in tasks]
    if len(set(names)) != len(names):
        raise SuiteError(f"{where}: task names must be unique, got {names}.")
    return tuple(tasks)


def _parse_task(raw: Any, where: str, index: int) -> Task:
    prefix = f"tasks[{index}]."
    if not isinstance(raw, Mapping):
        raise SuiteError(f"{where}: 'tasks[{index}]' must be a table.")
    _check_keys(raw, _TASK_KEYS, where, prefix)
    name = _require_str(raw, "name", where, prefix)
    kind = _require_str(raw, "kind", where, prefix)
    if kind not in TASK_KINDS:
        raise SuiteError(f"{where}: '{prefix}kind' must be one of {', '.join(TASK_KINDS)}; got {kind!r}.")
    choices = tuple(raw.get("choices", ()))
    if kind == "classification" and len(choices) < 2:
        raise SuiteError(f"{where}: classification task {name!r} needs 'choices' with at least 2 labels.")
    if kind != "classification" and choices:
        raise SuiteError(f"{where}: only classification tasks take 'choices' (task {name!r} is {kind}).")
    verbalizers = tuple(raw.get("verbalizers", ()))
    if verbalizers and len(verbalizers) != len(choices):
        raise SuiteError(f"{where}: '{prefix}verbalizers' needs one entry per choice ({len(choices)}).")
    value_range = raw.get("value_range")
    if value_range is not None and (len(value_range) != 2 or value_range[0] >= value_range[1]):
        raise SuiteError(f"{where}: '{prefix}value_range' must be [low, high] with low < high.")
    return Task(
        name=name,
        kind=kind,  # type: ignore[arg-type]
        choices=tuple(str(c) for c in choices),
        prompt=raw.get("prompt"),
        verbalizers=tuple(str(v) for v in verbalizers),
        value_range=tuple(float(v) for v in value_range) if value_range else None,  # type: ignore[arg-type]
        format=_parse_format(raw, kind, name, where, prefix),
    )


def _parse_format(raw: Mapping[str, Any], kind: str, name: str, where: str, prefix: str) -> PromptFormat:
    """The prompt format keys of a ``multiple_choice`` task (see :class:`PromptFormat`)."""
    given = sorted(set(raw) & _FORMAT_KEYS)
    if kind != "multiple_choice":
        if given:
            raise SuiteError(f"{where}: only multiple_choice tasks take {', '.join(given)} (task {name!r} is {kind}).")
        return PromptFormat()
    style = raw.get("style", "letter")
    if style not in FORMATS:
        raise SuiteError(f"{where}: '{prefix}style' must be one of {', '.join(FORMATS)}; got {style!r}.")
    sampler = raw.get("fewshot_sampler", "first_n")
    if sampler not in SAMPLERS:
        raise SuiteError(f"{where}: '{prefix}fewshot_sampler' must be one of {', '.join(SAMPLERS)}; got {sampler!r}.")
    k = raw.get("num_fewshot", 0)
    if not isinstance(k, int) or isinstance(k, bool) or k < 0:
        raise SuiteError(f"{where}: '{prefix}num_fewshot' must be a non-negative integer, got {k!r}.")
    split = str(raw.get("fewshot_split", ""))
    if split == "test":
        raise SuiteError(f"{where}: '{prefix}fewshot_split' cannot be 'test': exemplars never come from scored examples.")
    if k and not split:
        raise SuiteError(f"{where}: '{prefix}num_fewshot' = {k} needs '{prefix}fewshot_split' (e.g. \"dev\").")
    texts = {key: raw[key] for key in ("prompt", "description", "target_delimiter", "fewshot_delimiter") if key in raw}
    for key, value in texts.items():
        if not isinstance(value, str):
            raise SuiteError(f"{where}: '{prefix}{key}' must be a string, got {value!r}.")
    labels = raw.get("labels", [])
    if not isinstance(labels, list) or not all(isinstance(x, str) and x for x in labels) or len(set(labels)) != len(labels):
        raise SuiteError(f"{where}: '{prefix}labels' must be a list of distinct non-empty strings, got {labels!r}.")
    return PromptFormat(style=style, template=texts.get("prompt"), description=texts.get("description", ""),
                        num_fewshot=k, fewshot_split=split, fewshot_sampler=sampler,
                        target_delimiter=texts.get("target_delimiter", " "),
                        fewshot_delimiter=texts.get("fewshot_delimiter", "\n\n"), labels=tuple(labels))


def _parse_domains(document: Mapping[str, Any], where: str
                   ) -> tuple[tuple[str, ...], dict[str, str], dict[str, str]]:
    raw = document.get("domains")
    if not raw:
        raise SuiteError(f"{where}: missing required key 'domains' (a list of domain names).")
    names: list[str] = []
    descriptions: dict[str, str] = {}
    groups: dict[str, str] = {}
    for i, item in enumerate(raw):
        if isinstance(item, str):
            names.append(item)
        elif isinstance(item, Mapping) and isinstance(item.get("name"), str):
            _check_keys(item, {"name", "description", "group"}, where, f"domains[{i}].")
            names.append(item["name"])
            descriptions[item["name"]] = str(item.get("description", ""))
            if "group" in item:
                if not isinstance(item["group"], str) or not item["group"].strip():
                    raise SuiteError(f"{where}: 'domains[{i}].group' must be a non-empty string.")
                groups[item["name"]] = item["group"]
        else:
            raise SuiteError(f"{where}: 'domains[{i}]' must be a name or a table with 'name'.")
    if len(set(names)) != len(names):
        raise SuiteError(f"{where}: domain names must be unique, got {names}.")
    if "ALL" in names:
        raise SuiteError(f"{where}: 'ALL' is reserved for pooled metrics; rename that domain.")
    return tuple(names), descriptions, groups


def _parse_in_domain(head: Mapping[str, Any], domains: tuple[str, ...], where: str) -> tuple[str, ...]:
    raw = head.get("in_domain", [domains[0]])
    if isinstance(raw, str):
        raw = [raw]
    for name in raw:
        if name not in domains:
            raise SuiteError(
                f"{where}: 'suite.in_domain' names {name!r}, which is not a domain. Domains: {', '.join(domains)}."
            )
    if len(raw) == len(domains):
        raise SuiteError(f"{where}: 'suite.in_domain' must leave at least one out-of-domain domain.")
    return tuple(raw)


def _parse_split(document: Mapping[str, Any], where: str) -> SplitRule:
    raw = document.get("split", {})
    _check_keys(raw, _SPLIT_KEYS, where, "split.")
    fraction = raw.get("test_fraction", 0.5)
    if not isinstance(fraction, int | float) or not 0 < fraction < 1:
        raise SuiteError(f"{where}: 'split.test_fraction' must be a number in (0, 1), got {fraction!r}.")
    seed = raw.get("seed", 0)
    if not isinstance(seed, int):
        raise SuiteError(f"{where}: 'split.seed' must be an integer, got {seed!r}.")
    return SplitRule(test_fraction=float(fraction), seed=seed)


def _parse_protocol(head: Mapping[str, Any], where: str) -> str:
    from bench.suites.protocols import PROTOCOLS

    protocol = head.get("protocol", "id_ood")
    if protocol not in PROTOCOLS:
        raise SuiteError(f"{where}: 'suite.protocol' must be one of {', '.join(PROTOCOLS.names())}; got {protocol!r}.")
    return str(protocol)
