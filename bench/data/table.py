"""``table``: bring your own data as a JSONL, CSV or Parquet table.

One row per example, with a text column, a domain column and one column per task
target (a classification label given as a choice name or a 0-based choice index; a
number for regression; language-modelling tasks need none). An empty cell (or a
missing JSON key, or null) means the row has no target for that task. Options of the
suite's ``[source]`` table:

=====================  =======================================================  ===========
option                 meaning                                                  default
=====================  =======================================================  ===========
``path``               the table file, relative to the suite's TOML file        (required)
``format``             ``jsonl``, ``csv``, ``tsv`` or ``parquet``               from suffix
``text_column``        column holding the text                                  ``text``
``domain_column``      column holding the domain name                           ``domain``
``columns``            ``{task = "column"}`` where a target column is not       task names
                       named like its task
``split_column``       column with ``train`` / ``test`` (empty: split rule),    none
                       or a few-shot pool: ``dev``, ``validation``, ``fewshot``
``id_column``          column with stable unique example ids                    none
``encoding``           text encoding of CSV / JSONL files                       ``utf-8``
``text_template``      build the text from several columns, e.g.                none
                       ``"{title}\n{body}"`` (instead of ``text_column``)
``option_columns``     ``multiple_choice``: the columns holding each row's      none
                       options, in order (e.g. ``["a", "b", "c", "d"]``); an
                       empty cell means the row has fewer options
``reference_columns``  ``generation``: the columns holding each row's           none
                       reference answers, in order (e.g. ``["answer",
                       "alt_answer"]``); empty cells are skipped
=====================  =======================================================  ===========

Every column of a row is also an :attr:`~bench.suites.Example.fields` entry (as text), so a
task's prompt template can name any of them. A ``multiple_choice`` target is a 0-based
option index, an option label (``A``, ``B``, … or the task's ``labels``) or the text of
one of the row's options.

Without ``id_column`` an example's id is ``<file name>:<line>`` for CSV and JSONL (the
line where the record starts) and ``<file name>:row<k>`` (1-based) for Parquet.
Parquet needs ``pyarrow`` (``python -m pip install -e ".[parquet]"``).

What is checked, each with a :class:`~bench.errors.DataError` naming the file, the line
(or row) and the column: duplicate column names (a CSV header or a JSON object naming
a column twice), rows with more or fewer fields than the header, a text that is empty,
not a string or longer than :data:`MAX_TEXT_CHARS` characters (CSV fields are limited to
:data:`MAX_CSV_FIELD_CHARS` by the CSV reader), a null or repeated id in ``id_column``
(both lines named), a label outside the choices, a boolean where a label or number is
expected, a file larger than :data:`MAX_TABLE_BYTES` and a corrupt Parquet file. Accepted
on purpose: a UTF-8 byte-order mark at the start of a CSV or JSONL file, and CRLF line
ends. Messages quote cells and header names shortened, and list a header only where it
looks like column names, so that pointing ``path`` at an unrelated file does not copy
its content into an error.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.data.common import check_options
from bench.data.text import decode_text
from bench.errors import ConfigError, DataError, MissingDataError, SuiteError
from bench.suites.kinds import kind_of
from bench.suites.prompts import template_problems
from bench.suites.schema import check_source_options, quote
from bench.suites.types import Example, Task

if TYPE_CHECKING:
    from bench.data import SourceContext

__all__ = ["FORMATS", "MAX_CSV_FIELD_CHARS", "MAX_TABLE_BYTES", "MAX_TEXT_CHARS", "load_table", "read_rows"]

MAX_TABLE_BYTES = 2**31
"""Largest CSV / JSONL table read (2 GiB): the file is read into memory whole."""
MAX_TEXT_CHARS = 2**20
"""Longest text accepted in the text column (1 Mi characters)."""
MAX_CSV_FIELD_CHARS = csv.field_size_limit()
"""Longest CSV / TSV field (the :mod:`csv` reader's limit, 131,072 characters)."""
_HEADER_NAME = re.compile(r"[\w .()\[\]-]{1,64}")

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet"}
_OPTIONS = ("path", "format", "text_column", "domain_column", "columns", "split_column", "id_column", "encoding",
            "text_template", "option_columns", "reference_columns")
Row = tuple[str, Mapping[str, Any]]  # (location, row)
SPLIT_NAMES = ("train", "test", "dev", "validation", "fewshot")
"""Values of ``split_column``; the last three are few-shot pools (never scored)."""


def _csv_rows(path: Path, text: str, delimiter: str) -> tuple[list[str], Iterator[Row]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader, [])
    except csv.Error as exc:
        raise _csv_error(path, reader.line_num or 1, exc) from None
    _check_header(path, header, "line 1")

    def rows() -> Iterator[Row]:
        start = reader.line_num + 1
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise _csv_error(path, start, exc) from None
            if fields:
                if len(fields) != len(header):
                    raise DataError(f"{path}, line {start}: the row has {len(fields)} field(s) but the header has "
                                    f"{len(header)}; quote fields that contain the delimiter {delimiter!r}.")
                yield f"line {start}", dict(zip(header, fields, strict=True))
            start = reader.line_num + 1

    return header, rows()


def _csv_error(path: Path, line: int, exc: csv.Error) -> DataError:
    if "field larger than field limit" in str(exc):
        return DataError(f"{path}, line {line}: a field is longer than {MAX_CSV_FIELD_CHARS} characters, the CSV "
                         "reader's limit. Store long texts as JSONL or Parquet.")
    return DataError(f"{path}, line {line}: not a valid CSV row ({exc}).")


def _check_header(path: Path, header: list[str], where: str) -> None:
    seen: set[str] = set()
    for column in header:
        if column in seen:
            raise DataError(f"{path}, {where}: column {quote(column)} appears more than once; column names must be unique.")
        seen.add(column)


def _describe_columns(columns: list[str]) -> str:
    """The columns for an error message, or only their count where they do not look like names."""
    if columns and all(isinstance(c, str) and _HEADER_NAME.fullmatch(c) for c in columns):
        shown = ", ".join(columns[:30])
        return f"Its columns: {shown}{' …' if len(columns) > 30 else ''}."
    if not columns:
        return "It has no columns."
    return (f"Its first line holds {len(columns)} field(s) that do not look like column names; "
            "is this file a table with a header row?")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


class _DuplicateKey(ValueError):
    pass


def _jsonl_rows(path: Path, text: str) -> tuple[list[str], Iterator[Row]]:
    parsed: list[Row] = []
    columns: dict[str, None] = {}
    for number, line in enumerate(text.removeprefix("\ufeff").split("\n"), start=1):
        if not line.strip():
            continue
        row = _json_line(path, number, line)
        columns.update(dict.fromkeys(row))
        parsed.append((f"line {number}", row))
    return list(columns), iter(parsed)


def _json_line(path: Path, number: int, line: str) -> dict[str, Any]:
    try:
        row = json.loads(line, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}, line {number}: not valid JSON ({exc.msg}, column {exc.colno}).") from None
    except _DuplicateKey as exc:
        raise DataError(f"{path}, line {number}: key {quote(exc.args[0])} appears more than once in the object.") from None
    except RecursionError:
        raise DataError(f"{path}, line {number}: JSON nested too deeply.") from None
    if not isinstance(row, dict):
        raise DataError(f"{path}, line {number}: expected a JSON object, got {type(row).__name__}.")
    for key, value in row.items():
        if _has_surrogate(key) or _has_surrogate(value):
            raise DataError(f"{path}, line {number}: key {quote(key)} holds a lone surrogate (a \\ud800-\\udfff "
                            "escape without its pair), which is not text; fix the escape or drop the character.")
    return row


_SURROGATE = re.compile("[\ud800-\udfff]")


def _has_surrogate(value: Any) -> bool:
    """Whether a parsed JSON value holds a string with a lone surrogate code point."""
    if isinstance(value, str):
        return _SURROGATE.search(value) is not None
    if isinstance(value, list):
        return any(_has_surrogate(v) for v in value)
    if isinstance(value, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in value.items())
    return False


def _parquet_rows(path: Path) -> tuple[list[str], Iterator[Row]]:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ConfigError(f'Reading {path} needs pyarrow: python -m pip install -e ".[parquet]" (in the xdbench folder).') from exc
    try:
        _check_header(path, list(pq.read_schema(path).names), "header")
        table = pq.read_table(path)
    except DataError:
        raise
    except Exception as exc:  # pyarrow raises its own error types for corrupt files
        raise DataError(f"{path}: not a readable Parquet file ({str(exc)[:200]}).") from None
    rows = table.to_pylist()
    return list(table.column_names), ((f"row {k}", row) for k, row in enumerate(rows, start=1))


def read_rows(path: Path, fmt: str, encoding: str = "utf-8") -> tuple[list[str], Iterator[Row]]:
    """The column names of a table file and its rows as ``(location, row)`` pairs.

    Raises
    ------
    DataError
        If the file cannot be decoded (with the line number) or parsed.
    """
    if fmt == "parquet":
        return _parquet_rows(path)
    size = path.stat().st_size
    if size > MAX_TABLE_BYTES:
        raise DataError(f"{path}: {size} bytes is more than the {MAX_TABLE_BYTES} a {fmt} table may have; "
                        "split it or convert it to Parquet.")
    text = decode_text(path.read_bytes(), encoding, str(path), hint=" Or set 'encoding' in [source].")
    if fmt == "jsonl":
        return _jsonl_rows(path, text)
    return _csv_rows(path, text.removeprefix("\ufeff"), "\t" if fmt == "tsv" else ",")


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or (
        isinstance(value, float) and math.isnan(value))


def _option_label(value: Any, task: Task, options: tuple[str, ...], where: str) -> float:
    """A ``multiple_choice`` target: an index, a label or an option's text."""
    text = str(value).strip()
    try:
        labels = [task.format.label(k) for k in range(len(options))] if task.format.style == "letter" else []
    except DataError as exc:
        raise DataError(f"{where}: task {task.name!r}: {exc}") from None
    if text in labels:
        return labels.index(text)
    if text.isdigit() or (isinstance(value, float) and value.is_integer()):
        index = int(float(text))
        if 0 <= index < len(options):
            return index
    if text in options:
        return options.index(text)
    shown = ", ".join(labels[:8]) + (" …" if len(labels) > 8 else "")
    raise DataError(f"{where}: target {quote(value)} of task {task.name!r} is none of the row's {len(options)} options; "
                    f"give an index 0-{len(options) - 1}, a label ({shown}) or an option's text.")


def _label(value: Any, task: Task, where: str, options: tuple[str, ...] = ()) -> float | None:
    if isinstance(value, float) and math.isnan(value):
        raise DataError(f"{where}: target of task {task.name!r} is NaN; leave the cell empty (null in JSON) for a "
                        "row without a target.")
    if _missing(value):
        return None
    if isinstance(value, bool):
        raise DataError(f"{where}: target of task {task.name!r} is a boolean ({quote(value)}); "
                        "give a choice name, a choice index or a number.")
    if kind_of(task).scores_options:
        return _option_label(value, task, options, where)
    if kind_of(task).has_numeric_target:
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            raise DataError(f"{where}: target of regression task {task.name!r} must be a number, got {quote(value)}.") from None
        if not math.isfinite(number):
            raise DataError(f"{where}: target of regression task {task.name!r} is not finite ({quote(value)}).")
        low, high = task.value_range or (-math.inf, math.inf)
        if not low <= number <= high:
            raise DataError(f"{where}: target {number:g} of regression task {task.name!r} is outside its value_range "
                            f"[{low:g}, {high:g}]; fix the value or widen 'value_range' in the suite.")
        return number
    text = str(value).strip() if isinstance(value, str | int | float) else ""
    if text in task.choices:
        return task.choices.index(text)
    index = _as_index(value, text)
    if index is not None and 0 <= index < len(task.choices):
        return index
    raise DataError(
        f"{where}: label {quote(value)} of task {task.name!r} is outside its choices "
        f"({', '.join(task.choices)}); give a choice name or an index 0-{len(task.choices) - 1}."
    )


def _as_index(value: Any, text: str) -> int | None:
    """``value`` as a whole number (``1``, ``1.0``, ``"1"``), else ``None``."""
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() else None
    return int(text) if text.isascii() and text.isdecimal() and len(text) < 10 else None


def _target_columns(context: SourceContext, options: Mapping[str, Any], where: str) -> dict[str, str]:
    mapping = options.get("columns", {})
    if not isinstance(mapping, Mapping):
        raise SuiteError(f"{where}: 'source.columns' must be a table {{task = \"column\"}}.")
    names = {t.name for t in context.suite.tasks}
    for task_name in mapping:
        if task_name not in names:
            raise SuiteError(f"{where}: 'source.columns' names task {task_name!r}, which the suite does not declare.")
    return {t.name: str(mapping.get(t.name, t.name)) for t in context.suite.tasks
            if kind_of(t).has_target}


def _table_path(context: SourceContext, options: Mapping[str, Any], where: str) -> tuple[Path, str]:
    if not isinstance(options.get("path"), str):
        raise SuiteError(f"{where}: source 'table' needs 'path', the table file (relative to the suite file).")
    path = (context.base_dir / options["path"]).expanduser()
    fmt = options.get("format") or FORMATS.get(path.suffix.lower())
    if fmt not in set(FORMATS.values()):
        raise SuiteError(f"{where}: cannot tell the format of {path.name!r}; set 'source.format' to one of "
                         f"jsonl, csv, tsv, parquet (got {fmt!r}).")
    if not path.is_file():
        raise MissingDataError(f"Table file {path} (source.path = {options['path']!r} in {where}) does not exist.")
    return path, fmt


def load_table(context: SourceContext) -> list[Example]:
    """Source ``table``: examples from a JSONL, CSV or Parquet file (see the module doc)."""
    where = str(context.suite.path or context.suite.name)
    options = check_options(context, "table", _OPTIONS)
    problems = check_source_options("table", options)
    if problems:
        raise SuiteError(f"{where}: {problems[0]}")
    path, fmt = _table_path(context, options, where)
    columns, rows = read_rows(path, fmt, str(options.get("encoding", "utf-8")))
    declared = {} if "text_template" in options else {"text_column": str(options.get("text_column", "text"))}
    declared["domain_column"] = str(options.get("domain_column", "domain"))
    declared |= {f"columns.{t}": c for t, c in _target_columns(context, options, where).items()}
    declared |= {k: str(options[k]) for k in ("split_column", "id_column") if k in options}
    option_columns = _option_columns(options, where)
    declared |= {f"option_columns[{k}]": c for k, c in enumerate(option_columns)}
    reference_columns = _option_columns(options, where, "reference_columns")
    declared |= {f"reference_columns[{k}]": c for k, c in enumerate(reference_columns)}
    _check_distinct(declared, where)
    template = options.get("text_template")
    if template is not None:
        problems = template_problems(template, "source.text_template", fields=columns)
        if problems:
            raise SuiteError(f"{where}: {problems[0]}")
    absent = [f"{column!r} ({key})" for key, column in declared.items() if column not in columns]
    if absent:
        raise DataError(f"Table {path} lacks the declared column(s) {', '.join(absent)}. {_describe_columns(columns)}")
    examples: list[Example] = []
    first_seen: dict[str, str] = {}
    for location, row in rows:
        example = _example(context, path, location, row, declared, template, option_columns, reference_columns)
        if example.id in first_seen:
            raise DataError(f"{path}, {location}: example id {quote(example.id)} (column {declared.get('id_column')!r}) "
                            f"was already used at {first_seen[example.id]}; ids must be unique.")
        first_seen[example.id] = location
        examples.append(example)
    _check_domains_present(context, path, examples, declared["domain_column"])
    return examples


def _check_distinct(declared: Mapping[str, str], where: str) -> None:
    """The text, domain, target, split and id columns are distinct columns (options and
    references may share columns with each other, not with these)."""
    roles = {k: c for k, c in declared.items() if not k.startswith(("option_columns", "reference_columns"))}
    seen: dict[str, str] = {}
    for key, column in roles.items():
        if column in seen:
            raise SuiteError(f"{where}: [source] uses column {quote(column)} both as {seen[column]} and as {key}; "
                             "each role needs its own column.")
        seen[column] = key


def _option_columns(options: Mapping[str, Any], where: str, key: str = "option_columns") -> tuple[str, ...]:
    raw = options.get(key, [])
    if not isinstance(raw, list) or not all(isinstance(c, str) and c for c in raw):
        raise SuiteError(f"{where}: 'source.{key}' must be a list of column names, got {raw!r}.")
    return tuple(raw)


def _text(row: Mapping[str, Any], fields: dict[str, str], declared: dict[str, str], template: str | None,
          where: str) -> str:
    """The example's text: the text column, or ``text_template`` filled from the row's columns."""
    if template is not None:
        from bench.suites.render import render_template

        text: Any = render_template(template, fields, f"{where} (source.text_template)")
        if not text.strip():
            raise DataError(f"{where}: 'source.text_template' gives an empty text.")
        return str(text)
    text = row.get(declared["text_column"])
    if _missing(text) or not isinstance(text, str):
        raise DataError(f"{where}: empty or non-text value in text column {declared['text_column']!r}.")
    if len(text) > MAX_TEXT_CHARS:
        raise DataError(f"{where}: the text in column {declared['text_column']!r} has {len(text)} characters; "
                        f"at most {MAX_TEXT_CHARS} are accepted.")
    return text


def _example(context: SourceContext, path: Path, location: str, row: Mapping[str, Any], declared: dict[str, str],
             template: str | None = None, option_columns: tuple[str, ...] = (),
             reference_columns: tuple[str, ...] = ()) -> Example:
    where = f"{path}, {location}"
    fields = {str(k): "" if _missing(v) else str(v) for k, v in row.items()}
    text, domain = _text(row, fields, declared, template, where), row.get(declared["domain_column"])
    choices = _row_options(fields, option_columns, where)
    references = tuple(fields[c] for c in reference_columns if fields.get(c, "").strip())
    domain = "" if domain is None else str(domain).strip()
    if domain not in context.suite.domains:
        raise DataError(f"{where}: domain {quote(domain)} is not declared by the suite. "
                        f"Domains: {', '.join(context.suite.domains[:20])}{' …' if len(context.suite.domains) > 20 else ''}.")
    targets = {}
    for task in context.suite.tasks:
        column = declared.get(f"columns.{task.name}")
        value = _label(row.get(column), task, f"{where}, column {column!r}", choices) if column else None
        if value is not None:
            targets[task.name] = value
    split = _split_value(row, declared, where)
    if "id_column" in declared:
        raw_id = row.get(declared["id_column"])
        if _missing(raw_id) or isinstance(raw_id, bool | list | dict):
            raise DataError(f"{where}: id column {declared['id_column']!r} is empty, null or not a scalar "
                            f"({quote(raw_id)}); every row needs a unique id.")
        example_id = str(raw_id).strip()
    else:
        example_id = f"{path.name}:{location.removeprefix('line ').replace('row ', 'row')}"
    return Example(example_id, domain, text, targets, split, choices, fields, references)


def _row_options(fields: Mapping[str, str], option_columns: tuple[str, ...], where: str) -> tuple[str, ...]:
    """A row's options: its non-empty option cells, which must come first (an empty cell
    before a filled one would shift the later options and so change the gold answer)."""
    filled = [bool(fields.get(c, "").strip()) for c in option_columns]
    first_empty = next((k for k, full in enumerate(filled) if not full), len(filled))
    if any(filled[first_empty:]):
        gap = option_columns[first_empty]
        later = option_columns[first_empty + filled[first_empty:].index(True)]
        raise DataError(f"{where}: option column {gap!r} is empty but a later one ({later!r}) is not; the later "
                        "options would shift and the target would point at another option. Fill the cell, or move "
                        "the row's options to the first columns.")
    return tuple(fields[c] for c, full in zip(option_columns, filled, strict=True) if full)


def _split_value(row: Mapping[str, Any], declared: dict[str, str], where: str) -> str | None:
    if "split_column" not in declared or _missing(row.get(declared["split_column"])):
        return None
    value = str(row[declared["split_column"]]).strip().lower()
    if value not in SPLIT_NAMES:
        raise DataError(f"{where}: split column {declared['split_column']!r} must be 'train', 'test', "
                        f"a few-shot pool ({', '.join(SPLIT_NAMES[2:])}) or empty; got {quote(row[declared['split_column']])}.")
    return value


def _check_domains_present(context: SourceContext, path: Path, examples: list[Example], column: str) -> None:
    present = {ex.domain for ex in examples}
    empty = [d for d in context.suite.domains if d not in present]
    if empty:
        raise DataError(f"Table {path} has no rows for domain(s) {', '.join(empty)} (column {column!r}); "
                        "every domain the suite declares needs examples. Add rows or remove the domain from the suite.")
