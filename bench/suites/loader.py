"""Read suite definitions from TOML and validate them.

A suite file has the tables ``[suite]``, ``[source]``, ``[split]`` (optional),
``[[tasks]]`` and ``domains`` (a list of names, or ``[[domains]]`` tables with ``name``
and ``description``). The whole document is checked against the declarative schema in
:mod:`bench.suites.schema` before anything is built; then the checks that span keys
(unique names, ``in_domain`` among the domains, one verbalizer per choice) run. All
problems found are reported together in one :class:`~bench.errors.SuiteError` that names
the file, and for each problem the key and the (shortened) value, or the line for
malformed TOML.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.errors import ConfigError, SuiteError
from bench.suites.generation import Decoding
from bench.suites.kinds import kind_of
from bench.suites.prompts import PromptFormat, template_problems
from bench.suites.schema import check_document, quote
from bench.suites.types import SplitRule, Suite, Task

__all__ = ["MAX_SUITE_BYTES", "RESERVED_DOMAINS", "parse_suite", "read_suite_file", "select_domains"]

RESERVED_DOMAINS = ("ALL", "OOD", "REST")
"""Names the result tables use for pooled rows (``ALL``: every domain; ``OOD``: the pooled
out-of-domain set; ``REST``: the other domains); no domain or
group may be called so (nor start with ``group:``, the prefix of group rows), or a row of
``gaps.csv`` would be ambiguous."""

MAX_SUITE_BYTES = 2**20
"""Largest suite file read (1 MiB); a suite file declares data, it does not hold it."""


def read_suite_file(path: str | Path) -> Suite:
    """Load and validate the suite defined in the TOML file at ``path``.

    Raises
    ------
    SuiteError
        If the file is missing, larger than :data:`MAX_SUITE_BYTES`, not UTF-8, not valid
        TOML (the message gives line and column, never the file's content), nested too
        deeply, or its content is invalid (the message names each key).
    """
    path = Path(path)
    raw = _read_bytes(path)
    try:
        document = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise SuiteError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}).") from None
    except tomllib.TOMLDecodeError as exc:
        raise SuiteError(f"{path}: malformed TOML: {exc}.") from None
    except RecursionError:
        raise SuiteError(f"{path}: malformed TOML: arrays or tables nested too deeply.") from None
    return parse_suite(document, where=str(path), path=path, content=raw)


def _read_bytes(path: Path) -> bytes:
    try:
        if not path.is_file():
            raise SuiteError(f"Cannot read suite file {path}: not a regular file (or it does not exist).")
        size = path.stat().st_size
        if size > MAX_SUITE_BYTES:
            raise SuiteError(f"{path}: a suite file may have at most {MAX_SUITE_BYTES} bytes; this one has {size}.")
        return path.read_bytes()
    except OSError as exc:
        raise SuiteError(f"Cannot read suite file {path}: {exc.strerror or type(exc).__name__}.") from None


def parse_suite(
    document: Mapping[str, Any],
    *,
    where: str = "<suite>",
    path: Path | None = None,
    content: bytes | None = None,
) -> Suite:
    """Build a :class:`Suite` from a parsed TOML document, validating every field.

    Raises
    ------
    SuiteError
        Listing every problem, one per line, each naming ``where`` and the key.
    """
    _raise_if(where, check_document(document))
    head, tasks_raw = document["suite"], document["tasks"]
    domains, descriptions, groups = _parse_domains(document["domains"])
    _raise_if(where, _cross_checks(head, tasks_raw, domains, groups))
    digest = hashlib.sha256(content if content is not None else repr(document).encode()).hexdigest()
    split = document.get("split", {})
    return Suite(
        name=head["name"],
        version=str(head.get("version", "0")),
        description=str(head.get("description", "")),
        tasks=tuple(_task(raw) for raw in tasks_raw),
        domains=domains,
        in_domain=_in_domain(head, domains),
        source=dict(document["source"]),
        split=SplitRule(test_fraction=float(split.get("test_fraction", 0.5)), seed=split.get("seed", 0)),
        protocol=str(head.get("protocol", "id_ood")),
        domain_descriptions=descriptions,
        path=path,
        content_hash=digest[:16],
        models=tuple(head.get("models", ())),
        domain_groups=groups,
    )


def _raise_if(where: str, problems: list[str]) -> None:
    if len(problems) == 1:
        raise SuiteError(f"{where}: {problems[0]}")
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise SuiteError(f"{where}: {len(problems)} problems:\n{lines}")


def _parse_domains(raw: list[Any]) -> tuple[tuple[str, ...], dict[str, str], dict[str, str]]:
    """Domain names, their descriptions and their groups (``[[domains]] group = "STEM"``)."""
    if all(isinstance(item, str) for item in raw):
        return tuple(raw), {}, {}
    names = tuple(item["name"] for item in raw)
    descriptions = {item["name"]: str(item.get("description", "")) for item in raw}
    return names, descriptions, {item["name"]: item["group"] for item in raw if "group" in item}


def _in_domain(head: Mapping[str, Any], domains: tuple[str, ...]) -> tuple[str, ...]:
    raw = head.get("in_domain", [domains[0]])
    return (raw,) if isinstance(raw, str) else tuple(raw)


def _cross_checks(head: Mapping[str, Any], tasks: list[Mapping[str, Any]], domains: tuple[str, ...],
                  groups: Mapping[str, str]) -> list[str]:
    """Checks that span keys, run once every key has the right type."""
    found = []
    names = [t["name"] for t in tasks]
    if len(set(names)) != len(names):
        found.append(f"task names must be unique, got {quote(names)}.")
    if len(set(domains)) != len(domains):
        repeated = next(d for i, d in enumerate(domains) if d in domains[:i])
        found.append(f"domain names must be unique; {quote(repeated)} appears more than once.")
    for name in [*domains, *dict.fromkeys(groups.values())]:
        if name in RESERVED_DOMAINS or name.startswith("group:"):
            found.append(f"domain or group name {quote(name)} is reserved for pooled rows of the result tables "
                         f"({', '.join(RESERVED_DOMAINS)}, group:…); rename it.")
    for i, task in enumerate(tasks):
        verbalizers, choices = task.get("verbalizers"), task.get("choices", [])
        if verbalizers is not None and len(verbalizers) != len(choices):
            found.append(f"'tasks[{i}].verbalizers' needs one entry per choice ({len(choices)}), got {len(verbalizers)}.")
        found += _format_checks(task, i) + _decoding_checks(task, i) + _template_checks(task, i)
        low_high = task.get("value_range")
        if low_high is not None and not low_high[0] < low_high[1]:
            found.append(f"'tasks[{i}].value_range' must be [low, high] with low < high, got {quote(low_high)}.")
    in_domain = _in_domain(head, domains)
    for name in in_domain:
        if name not in domains:
            found.append(f"'suite.in_domain' names {quote(name)}, which is not a domain. "
                         f"Domains: {', '.join(domains[:20])}{' …' if len(domains) > 20 else ''}.")
    if set(domains) <= set(in_domain):
        found.append("'suite.in_domain' must leave at least one out-of-domain domain.")
    return found


def _format_checks(task: Mapping[str, Any], i: int) -> list[str]:
    """Few-shot keys that only make sense together."""
    k, split = task.get("num_fewshot", 0), task.get("fewshot_split", "")
    if split == "test":
        return [f"'tasks[{i}].fewshot_split' cannot be 'test': exemplars never come from scored examples."]
    if k and not split:
        return [f"'tasks[{i}].num_fewshot' = {k} needs 'tasks[{i}].fewshot_split' (e.g. \"dev\")."]
    return []


def _template_checks(task: Mapping[str, Any], i: int) -> list[str]:
    """The task's templates against :func:`~bench.suites.prompts.template_problems`: a
    classification, regression or language-modelling ``prompt`` may name ``{text}`` only;
    the ``prompt`` and ``description`` of a multiple-choice or generation task may name any
    field (checked on each example when its prompt is rendered) and ``{options[k]}``."""
    prompted = kind_of(task["kind"]).prompted
    fields = None if prompted else ("text",)
    return [p for key in ("prompt", "description") if isinstance(task.get(key), str)
            for p in template_problems(task[key], f"tasks[{i}].{key}", fields, options=prompted)]


def _decoding_checks(task: Mapping[str, Any], i: int) -> list[str]:
    """The rules of :class:`Decoding` that the schema's types do not say (a non-empty stop
    sequence, ``top_p > 0``)."""
    try:
        _decoding(task)
    except ConfigError as exc:
        return [f"'tasks[{i}].decoding': {exc}"]
    return []


def _decoding(raw: Mapping[str, Any]) -> Decoding:
    """The ``[tasks.decoding]`` table of a ``generation`` task (defaults elsewhere)."""
    table = raw.get("decoding", {})
    values: dict[str, Any] = {k: table[k] for k in ("max_new_tokens", "temperature", "top_p", "seed") if k in table}
    if "stop" in table:
        values["stop"] = tuple(table["stop"])
    if "temperature" in values:
        values["temperature"] = float(values["temperature"])
    if "top_p" in values:
        values["top_p"] = float(values["top_p"])
    return Decoding(**values)


def _prompt_format(raw: Mapping[str, Any]) -> PromptFormat:
    """The prompt format keys of a ``multiple_choice`` or ``generation`` task (see :class:`PromptFormat`)."""
    kind = kind_of(raw["kind"])
    if not kind.prompted:
        return PromptFormat()
    style = "cloze" if kind.generates_text else raw.get("style", "letter")  # generation: "Question: …\nAnswer:"
    return PromptFormat(style=style, template=raw.get("prompt"),
                        description=raw.get("description", ""), num_fewshot=raw.get("num_fewshot", 0),
                        fewshot_split=raw.get("fewshot_split", ""), fewshot_sampler=raw.get("fewshot_sampler", "first_n"),
                        target_delimiter=raw.get("target_delimiter", " "),
                        fewshot_delimiter=raw.get("fewshot_delimiter", "\n\n"), labels=tuple(raw.get("labels", ())))


def _task(raw: Mapping[str, Any]) -> Task:
    value_range = raw.get("value_range")
    return Task(
        name=raw["name"],
        kind=raw["kind"],
        choices=tuple(raw.get("choices", ())),
        prompt=raw.get("prompt"),
        verbalizers=tuple(raw.get("verbalizers", ())),
        value_range=(float(value_range[0]), float(value_range[1])) if value_range else None,
        format=_prompt_format(raw),
        decoding=_decoding(raw),
        default=bool(raw.get("default", True)),
        answer_normalization=str(raw.get("answer_normalization", "squad")),
        primary_metric=str(raw.get("primary_metric", "")),
    )


def select_domains(suite: Suite, wanted: tuple[str, ...], protocol: str | None = None) -> Suite:
    """``suite`` restricted to the domains ``wanted`` names (``bench run --domain``): domain
    names, or group names (MMLU's ``STEM``; any case) standing for every domain of the group;
    kept in the suite's order. Under ``id_ood`` (the suite's or ``protocol``) the in-domain
    set is kept, since the models train on it; otherwise the in-domain set is what stays of it
    (or the first domain kept). Empty ``wanted``: ``suite`` unchanged.

    Raises
    ------
    UnknownNameError
        If a name is neither a domain nor a group of the suite (with close matches).
    ConfigError
        If the selection leaves no domain beyond the in-domain set.
    """
    if not wanted:
        return suite
    import difflib

    from bench.errors import UnknownNameError

    groups: dict[str, list[str]] = {}
    for domain, group in suite.domain_groups.items():
        groups.setdefault(group.lower(), []).append(domain)
    chosen: set[str] = set()
    for name in wanted:
        if name in suite.domains:
            chosen.add(name)
        elif name.lower() in groups:
            chosen.update(groups[name.lower()])
        else:
            known = [*suite.domains, *dict.fromkeys(suite.domain_groups.values())]
            close = difflib.get_close_matches(name, known, n=3)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            group_list = ", ".join(dict.fromkeys(suite.domain_groups.values()))
            raise UnknownNameError(f"--domain {name!r}: suite {suite.name!r} has no such domain or domain group.{hint} "
                                   f"Domains: {', '.join(suite.domains)}" + (f"; groups: {group_list}." if group_list
                                                                             else "."))
    trains = (protocol or suite.protocol) == "id_ood"
    if trains:
        chosen.update(suite.in_domain)
    domains = tuple(d for d in suite.domains if d in chosen)
    in_domain = tuple(d for d in suite.in_domain if d in chosen) or domains[:1]
    if set(domains) <= set(in_domain):
        why = f" (kept: models train on it under {protocol or suite.protocol})" if trains else ""
        raise ConfigError(f"--domain {' '.join(wanted)}: suite {suite.name!r} would have no domain beyond its "
                          f"in-domain set {', '.join(in_domain)}{why}; name at least one more.")
    return replace(suite, domains=domains, in_domain=in_domain,
                   domain_descriptions={d: t for d, t in suite.domain_descriptions.items() if d in chosen},
                   domain_groups={d: g for d, g in suite.domain_groups.items() if d in chosen})
