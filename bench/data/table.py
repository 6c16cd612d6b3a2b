"""``table``: bring your own data as a JSONL, CSV or Parquet table.

One row per example, with a text column, a domain column and one column per task
target (a classification label given as a choice name or a 0-based choice index; a
number for regression; language-modelling tasks need none). An empty cell (or a
missing JSON key, or null) means the row has no target for that task. Options of the
suite's ``[source]`` table:

==================  =======================================================  ===========
option              meaning                                                  default
==================  =======================================================  ===========
``path``            the table file, relative to the suite's TOML file        (required)
``format``          ``jsonl``, ``csv``, ``tsv`` or ``parquet``               from suffix
``text_column``     column holding the text                                  ``text``
``domain_column``   column holding the domain name                           ``domain``
``columns``         ``{task = "column"}`` where a target column is not       task names
                    named like its task
``split_column``    column with ``train`` / ``test`` (empty: split rule),    none
                    or a few-shot pool: ``dev``, ``validation``, ``fewshot``
``id_column``       column with stable unique example ids                    none
``encoding``        text encoding of CSV / JSONL files                       ``utf-8``
``text_template``   build the text from several columns, e.g.                none
                    ``"{title}\n{body}"`` (instead of ``text_column``)
``option_columns``  ``multiple_choice``: the columns holding each row's      none
                    options, in order (e.g. ``["a", "b", "c", "d"]``); an
                    empty cell means the row has fewer options
==================  =======================================================  ===========

Every column of a row is also an :attr:`~bench.suites.Example.fields` entry (as text), so a
task's prompt template can name any of them. A ``multiple_choice`` target is a 0-based
option index, an option label (``A``, ``B``, … or the task's ``labels``) or the text of
one of the row's options.

Without ``id_column`` an example's id is ``<file name>:<line>`` for CSV and JSONL (the
line where the record starts) and ``<file name>:row<k>`` (1-based) for Parquet.
Parquet needs ``pyarrow`` (``pip install xdbench[parquet]``).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.data.common import check_options
from bench.data.text import decode_text
from bench.errors import ConfigError, DataError, MissingDataError, SuiteError
from bench.suites.types import Example, Task

if TYPE_CHECKING:
    from bench.data import SourceContext

__all__ = ["FORMATS", "load_table", "read_rows"]

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet"}
_OPTIONS = ("path", "format", "text_column", "domain_column", "columns", "split_column", "id_column", "encoding",
            "text_template", "option_columns")
Row = tuple[str, Mapping[str, Any]]  # (location, row)
SPLIT_NAMES = ("train", "test", "dev", "validation", "fewshot")
"""Values of ``split_column``; the last three are few-shot pools (never scored)."""


def _csv_rows(path: Path, text: str, delimiter: str) -> tuple[list[str], Iterator[Row]]:
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = list(reader.fieldnames or [])

    def rows() -> Iterator[Row]:
        start = reader.line_num + 1
        for row in reader:
            yield f"line {start}", row
            start = reader.line_num + 1

    return header, rows()


def _jsonl_rows(path: Path, text: str) -> tuple[list[str], Iterator[Row]]:
    parsed: list[Row] = []
    columns: dict[str, None] = {}
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}, line {number}: not valid JSON ({exc.msg}, column {exc.colno}).") from exc
        if not isinstance(row, dict):
            raise DataError(f"{path}, line {number}: expected a JSON object, got {type(row).__name__}.")
        columns.update(dict.fromkeys(row))
        parsed.append((f"line {number}", row))
    return list(columns), iter(parsed)


def _parquet_rows(path: Path) -> tuple[list[str], Iterator[Row]]:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ConfigError(f"Reading {path} needs pyarrow: pip install 'xdbench[parquet]'.") from exc
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises its own error types for corrupt files
        raise DataError(f"{path}: not a readable Parquet file ({exc}).") from exc
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
    labels = [task.format.label(k) for k in range(len(options))]
    if text in labels:
        return labels.index(text)
    if text.isdigit() or (isinstance(value, float) and value.is_integer()):
        index = int(float(text))
        if 0 <= index < len(options):
            return index
    if text in options:
        return options.index(text)
    raise DataError(f"{where}: target {value!r} of task {task.name!r} is none of the row's {len(options)} options; "
                    f"give an index 0-{len(options) - 1}, a label ({', '.join(labels)}) or an option's text.")


def _label(value: Any, task: Task, where: str, options: tuple[str, ...] = ()) -> float | None:
    if _missing(value):
        return None
    if task.kind == "multiple_choice":
        return _option_label(value, task, options, where)
    if task.kind == "regression":
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise DataError(f"{where}: target of regression task {task.name!r} must be a number, got {value!r}.") from None
        if not math.isfinite(number):
            raise DataError(f"{where}: target of regression task {task.name!r} is not finite ({value!r}).")
        return number
    text = str(value).strip()
    if text in task.choices:
        return task.choices.index(text)
    is_index = (isinstance(value, int | float) and not isinstance(value, bool) and float(value).is_integer()) or text.isdigit()
    if is_index and 0 <= int(float(text)) < len(task.choices):
        return int(float(text))
    raise DataError(
        f"{where}: label {value!r} of task {task.name!r} is outside its choices "
        f"({', '.join(task.choices)}); give a choice name or an index 0-{len(task.choices) - 1}."
    )


def _target_columns(context: SourceContext, options: Mapping[str, Any], where: str) -> dict[str, str]:
    mapping = options.get("columns", {})
    if not isinstance(mapping, Mapping):
        raise SuiteError(f"{where}: 'source.columns' must be a table {{task = \"column\"}}.")
    names = {t.name for t in context.suite.tasks}
    for task_name in mapping:
        if task_name not in names:
            raise SuiteError(f"{where}: 'source.columns' names task {task_name!r}, which the suite does not declare.")
    return {t.name: str(mapping.get(t.name, t.name)) for t in context.suite.tasks if t.kind != "language_modeling"}


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
    path, fmt = _table_path(context, options, where)
    columns, rows = read_rows(path, fmt, str(options.get("encoding", "utf-8")))
    declared = {"domain_column": str(options.get("domain_column", "domain"))}
    if "text_template" not in options:
        declared["text_column"] = str(options.get("text_column", "text"))
    declared |= {f"columns.{t}": c for t, c in _target_columns(context, options, where).items()}
    declared |= {k: str(options[k]) for k in ("split_column", "id_column") if k in options}
    option_columns = _option_columns(options, where)
    declared |= {f"option_columns[{k}]": c for k, c in enumerate(option_columns)}
    absent = [f"{column!r} ({key})" for key, column in declared.items() if column not in columns]
    if absent:
        raise DataError(f"Table {path} lacks the declared column(s) {', '.join(absent)}. "
                        f"Its columns: {', '.join(columns) or '(none)'}.")
    template = options.get("text_template")
    if template is not None and not isinstance(template, str):
        raise SuiteError(f"{where}: 'source.text_template' must be a string, got {template!r}.")
    examples = [_example(context, path, location, row, declared, template, option_columns) for location, row in rows]
    _check_domains_present(context, path, examples, declared["domain_column"])
    return examples


def _option_columns(options: Mapping[str, Any], where: str) -> tuple[str, ...]:
    raw = options.get("option_columns", [])
    if not isinstance(raw, list) or not all(isinstance(c, str) and c for c in raw):
        raise SuiteError(f"{where}: 'source.option_columns' must be a list of column names, got {raw!r}.")
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
    return text


def _example(context: SourceContext, path: Path, location: str, row: Mapping[str, Any], declared: dict[str, str],
             template: str | None = None, option_columns: tuple[str, ...] = ()) -> Example:
    where = f"{path}, {location}"
    fields = {str(k): "" if _missing(v) else str(v) for k, v in row.items()}
    text, domain = _text(row, fields, declared, template, where), row.get(declared["domain_column"])
    choices = tuple(fields[c] for c in option_columns if fields.get(c, "").strip())
    domain = "" if domain is None else str(domain).strip()
    if domain not in context.suite.domains:
        raise DataError(f"{where}: domain {domain!r} is not declared by the suite. "
                        f"Domains: {', '.join(context.suite.domains)}.")
    targets = {}
    for task in context.suite.tasks:
        column = declared.get(f"columns.{task.name}")
        value = _label(row.get(column), task, f"{where}, column {column!r}", choices) if column else None
        if value is not None:
            targets[task.name] = value
    split = _split_value(row, declared, where)
    if "id_column" in declared:
        example_id = str(row[declared["id_column"]])
    else:
        example_id = f"{path.name}:{location.removeprefix('line ').replace('row ', 'row')}"
    return Example(example_id, domain, text, targets, split, choices, fields)


def _split_value(row: Mapping[str, Any], declared: dict[str, str], where: str) -> str | None:
    if "split_column" not in declared or _missing(row.get(declared["split_column"])):
        return None
    value = str(row[declared["split_column"]]).strip().lower()
    if value not in SPLIT_NAMES:
        raise DataError(f"{where}: split column {declared['split_column']!r} must be 'train', 'test', "
                        f"a few-shot pool ({', '.join(SPLIT_NAMES[2:])}) or empty; got {row[declared['split_column']]!r}.")
    return value


def _check_domains_present(context: SourceContext, path: Path, examples: list[Example], column: str) -> None:
    present = {ex.domain for ex in examples}
    empty = [d for d in context.suite.domains if d not in present]
    if empty:
        raise DataError(f"Table {path} has no rows for domain(s) {', '.join(empty)} (column {column!r}); "
                        "every domain the suite declares needs examples. Add rows or remove the domain from the suite.")
