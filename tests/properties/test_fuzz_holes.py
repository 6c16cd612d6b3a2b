"""Property tests for the holes of issue 26: templates, multiple-choice tables (options,
labels, answers, surrogates, encodings, huge and empty cells), names, and what models
return (numbers of every dtype, strings, huge strings, exceptions, generations).

Each input ends in a valid result or one :class:`~bench.errors.BenchError` with a message;
sizes are bounded, so nothing can hang. Settings come from the hypothesis profile (see
``conftest.py``); the counts per test are printed at the end of the run.
"""

from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.adapters.base import prompt_text
from bench.adapters.callable_adapter import CallableAdapter
from bench.adapters.validate import generation_cap
from bench.data import load_examples
from bench.errors import AdapterError, BenchError, SuiteError
from bench.runner import score_examples
from bench.suites import parse_suite, read_suite_file
from bench.suites.generation import GenerationRequest
from bench.suites.prompts import Prompt
from bench.suites.render import render_template, template_fields
from bench.suites.types import Example, Task
from tests.properties.conftest import EXAMPLES, OUTCOMES

PROPERTY = settings()  # the loaded profile's (xdbench-ci unless --hypothesis-profile names another)


def _clear(error: BaseException, name: str, where: str = "") -> None:
    OUTCOMES[(name, "clear error")] += 1
    message = str(error)
    assert isinstance(error, BenchError), repr(error)
    assert message and where in message and "Traceback" not in message, message
    assert len(message) < 5000, len(message)


def _ran(name: str) -> None:
    OUTCOMES[(name, "ran")] += 1


# --- templates and names ------------------------------------------------------------------

PIECES = st.sampled_from(["{", "}", "{{", "}}", "text", "nope", "domain", "option_list", "options[0]", "options[9]",
                          ".upper", "!r", ":>10", "[0]", "title", " ", "Answer:", "\n", "{}", "{0}", "é"])
TEMPLATES = st.lists(PIECES, max_size=8).map("".join)
NAMES = st.one_of(st.text(max_size=8), st.sampled_from(["ALL", "OOD", "REST", "group:x", "..", "a/b", ".hidden",
                                                        " pad", "ok", "a\x00b", "\ud800", "x" * 300]))
BASE: dict[str, Any] = {
    "suite": {"name": "probe", "in_domain": ["books"]},
    "source": {"type": "toy-reviews", "n_per_domain": 6},
    "tasks": [{"name": "sentiment", "kind": "classification", "choices": ["negative", "positive"]}],
    "domains": ["books", "movies"],
}


@PROPERTY
@given(TEMPLATES, st.sampled_from(["classification", "multiple_choice", "generation"]), st.sampled_from(
    ["prompt", "description"]))
def test_templates_are_refused_at_once_or_render(template: str, kind: str, key: str) -> None:
    name = "templates (every task kind)"
    EXAMPLES[name] += 1
    document = copy.deepcopy(BASE)
    task: dict[str, Any] = {"name": "t", "kind": kind}
    if kind == "classification":
        task["choices"] = ["negative", "positive"]
        key = "prompt"
    task[key] = template
    document["tasks"] = [task]
    try:
        suite = parse_suite(document, where="probe.toml")
    except SuiteError as exc:
        _clear(exc, name, "probe.toml: ")
        return
    parsed = suite.tasks[0]
    example = Example("e", "books", "a {text} b", {}, options=("x", "y"), fields={"title": "T"})
    if kind == "classification":
        assert isinstance(prompt_text(parsed, example.text), str)  # accepted: renders without error
    else:
        try:
            render_template(template, template_fields(example, parsed.format), "probe")
        except SuiteError as exc:  # a field or option this example lacks: named at render time
            _clear(exc, name, "probe: the template names")
            return
    _ran(name)


@PROPERTY
@given(NAMES, st.sampled_from([("suite", "name"), ("tasks", 0, "name"), ("domains", 1)]))
def test_names_are_refused_or_safe_for_file_names(value: str, path: tuple) -> None:
    name = "names (suite, task, domain)"
    EXAMPLES[name] += 1
    document = copy.deepcopy(BASE)
    parent: Any = document
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    try:
        suite = parse_suite(document, where="probe.toml")
    except SuiteError as exc:
        _clear(exc, name, "probe.toml: ")
        return
    for shown in (suite.name, suite.tasks[0].name, *suite.domains):
        assert "/" not in shown and "\\" not in shown and ".." not in shown and not shown.startswith(".")
        assert shown.isprintable() and shown == shown.strip()
    assert not {"ALL", "OOD", "REST"} & set(suite.domains)
    _ran(name)


# --- multiple-choice tables -----------------------------------------------------------------

MC_SUITE = """domains = ["a", "b"]
[suite]
name = "mc"
protocol = "zero_shot"
[source]
type = "table"
path = "{name}"
option_columns = ["o1", "o2", "o3", "o4"]
columns = {{ qa = "answer" }}
{extra}
[[tasks]]
name = "qa"
kind = "multiple_choice"
{task}
"""
OPTION = st.one_of(st.sampled_from(["Paris", "Rome", "", " ", "Berlin", "Madrid", "Paris"]), st.text(max_size=6),
                   st.just("\ud800"), st.just("x" * 200_000))
ANSWER = st.one_of(st.sampled_from(["0", "1", "3", "4", "A", "B", "D", "E", "X", "Paris", "", "nan", "1.0", "-1"]),
                   st.integers(-2, 6), st.none(), st.floats(allow_nan=True), st.booleans())
MC_ROW = st.fixed_dictionaries({"text": st.sampled_from(["Capital?", "", "Q \ud800", "Which?"]),
                                "domain": st.sampled_from(["a", "b"]), "o1": OPTION, "o2": OPTION, "o3": OPTION,
                                "o4": OPTION, "answer": ANSWER})
GOOD_ROW = st.fixed_dictionaries({"text": st.sampled_from(["Capital?", "Which?", "Sum?"]),
                                  "domain": st.sampled_from(["a", "b"]),
                                  "o1": st.just("Paris"), "o2": st.just("Rome"),
                                  "o34": st.sampled_from([("Berlin", "Madrid"), ("Berlin", ""), ("", "")]),
                                  "answer": st.sampled_from(["0", "1", "A", "Rome", ""])}).map(
    lambda row: {**{k: v for k, v in row.items() if k != "o34"}, "o3": row["o34"][0], "o4": row["o34"][1]})
FAULTS = st.lists(st.tuples(st.integers(0, 5), st.sampled_from(["text", "o1", "o2", "o3", "o4", "answer"]),
                            st.one_of(OPTION, ANSWER)), max_size=2)


def _plausible(rows: list[dict[str, Any]], faults: list[tuple[int, str, Any]]) -> list[dict[str, Any]]:
    """Valid rows (both domains present) with a few cells replaced by arbitrary ones."""
    rows = [dict(row, domain="ab"[i]) if i < 2 else dict(row) for i, row in enumerate(rows)]
    for index, column, value in faults:
        if index < len(rows):
            rows[index][column] = value
    return rows


MC_ROWS = st.one_of(st.lists(MC_ROW, min_size=0, max_size=6),
                    st.builds(_plausible, st.lists(GOOD_ROW, min_size=2, max_size=6), FAULTS))
TASK_EXTRA = st.sampled_from(["", 'labels = ["X", "Y"]', 'labels = ["1", "2", "3", "4"]', 'style = "cloze"',
                              'prompt = "{text}\\n{option_list}\\nAnswer:"', 'prompt = "{text} {options[3]}"',
                              'prompt = "{text} {missing}"'])
ENCODING = st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "utf-16"])


def _mc_file(folder: Path, rows: list[dict[str, Any]], fmt: str, encoding: str) -> tuple[str, str]:
    if fmt == "jsonl":
        text = "".join(json.dumps(row) + "\n" for row in rows)  # lone surrogates as \\ud800 escapes
        (folder / "rows.jsonl").write_text(text, encoding="utf-8")
        return "rows.jsonl", ""
    header = ["text", "domain", "o1", "o2", "o3", "o4", "answer"]
    lines = [",".join(header)] + [",".join('"' + str("" if row.get(c) is None else row[c]).replace('"', '""') + '"'
                                           for c in header) for row in rows]
    data = ("\n".join(lines) + "\n").encode(encoding, "surrogatepass" if encoding.startswith("utf-8") else "replace")
    (folder / "rows.csv").write_bytes(data)
    return "rows.csv", f'encoding = "{encoding}"' if encoding != "utf-8" else ""


@PROPERTY
@given(MC_ROWS, st.sampled_from(["jsonl", "csv"]), ENCODING, TASK_EXTRA)
def test_multiple_choice_tables_load_with_gold_answers_kept_or_fail_clearly(rows: list[dict[str, Any]], fmt: str,
                                                                           encoding: str, task: str) -> None:
    name = "tables (multiple choice, encodings)"
    EXAMPLES[name] += 1
    from bench.runner import RunConfig, _choice_requests
    from bench.suites.splits import split_examples

    with tempfile.TemporaryDirectory() as folder:
        file, extra = _mc_file(Path(folder), rows, fmt, encoding)
        suite_path = Path(folder) / "suite.toml"
        suite_path.write_text(MC_SUITE.format(name=file, extra=extra, task=task), encoding="utf-8")
        try:
            suite = read_suite_file(suite_path)
            examples = load_examples(suite, data_dir=folder)
            _choice_requests(split_examples(suite, examples), RunConfig(suites=(str(suite_path),)))
        except BenchError as exc:
            _clear(exc, name)
            return
    for example in examples:
        options = example.options
        assert all(o.strip() for o in options) and "\ud800" not in example.text
        cells = [example.fields[c] for c in ("o1", "o2", "o3", "o4")]
        filled = [c for c in cells if c.strip()]
        assert options == tuple(filled) and cells[: len(filled)] == filled  # no option shifted past a gap
        if "qa" in example.targets:
            assert 0 <= example.targets["qa"] < len(options)
    _ran(name)


# --- what models return -------------------------------------------------------------------------

SENTIMENT = Task("sentiment", "classification", ("negative", "positive"))
STARS = Task("stars", "regression")
LM = Task("lm", "language_modeling")
GEN = Task("gen", "generation")


class Boom(Exception):
    pass


def _raise(exc: BaseException) -> Any:
    raise exc


ODD_ARRAYS = st.one_of(
    st.builds(lambda n, d: np.full((n, 2), np.log(0.5)).astype(d) if d is not bool else np.ones((n, 2), bool),
              st.integers(1, 3), st.sampled_from([np.float64, np.float32, np.complex128, bool, np.int64, object])),
    st.lists(st.lists(st.one_of(st.floats(), st.booleans(), st.complex_numbers(max_magnitude=2), st.text(max_size=3),
                                st.none()), min_size=2, max_size=2), min_size=1, max_size=3),
    st.sampled_from([np.array(["a", "b"]), np.array([[np.log(0.5)] * 2] * 2, dtype=object), {"a": 1}, b"bytes",
                     np.log(np.full((2, 2), 0.5)) + 0j, np.log(np.full((2, 2), 0.5)) + 1e-3j]),
    st.tuples(st.lists(st.floats(0, 10), min_size=2, max_size=2),
              st.lists(st.one_of(st.floats(0.5, 5), st.integers(0, 5), st.booleans()), min_size=2, max_size=2)),
)
RAISES = st.sampled_from([Boom("model broke"), MemoryError("out of memory"), RecursionError("deep"),
                          UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"), KeyError("k")])


@PROPERTY
@given(st.one_of(ODD_ARRAYS, RAISES.map(lambda e: ("raise", e))), st.sampled_from([SENTIMENT, STARS, LM]))
def test_model_outputs_of_every_dtype_are_refused_or_valid(output: Any, task: Task) -> None:
    name = "adapter outputs (dtypes, exceptions)"
    EXAMPLES[name] += 1
    raising = isinstance(output, tuple) and len(output) == 2 and output[0] == "raise"

    def answer(*args: Any) -> Any:
        return _raise(output[1]) if raising else output

    adapter = CallableAdapter("fuzz", log_probs=answer, predict_values=answer, text_nll=answer)
    examples = [Example(f"e{i}", "d", f"text {i}", {"sentiment": i % 2, "stars": 1.0}) for i in range(2)]
    try:
        frame = score_examples(adapter, task, examples, where="probe/task/d")
    except AdapterError as exc:
        _clear(exc, name, "model 'fuzz', probe/task/d, examples 0-1: ")
        return
    assert not raising and len(frame) == 2 and np.isfinite(frame["nll"].to_numpy(dtype=float)).all()
    _ran(name)


GENERATED = st.one_of(
    st.text(max_size=30), st.just("ok \ud800"), st.just("\udfff"), st.integers(1, 300_000).map(lambda n: "w " * n),
    st.none(), st.integers(), st.binary(max_size=4), st.just(["nested"]),
)


@PROPERTY
@given(st.one_of(st.lists(GENERATED, min_size=0, max_size=4), st.lists(GENERATED, min_size=3, max_size=3),
                 st.lists(st.one_of(st.text(max_size=20), st.integers(1, 300_000).map(lambda n: "w " * n)),
                          min_size=3, max_size=3),
                 RAISES.map(lambda e: ("raise", e)), st.none(), st.text(max_size=4)))
def test_generations_are_refused_or_cut_at_the_cap(output: Any) -> None:
    name = "adapter outputs (generations)"
    EXAMPLES[name] += 1
    raising = isinstance(output, tuple) and len(output) == 2 and output[0] == "raise"
    adapter = CallableAdapter("fuzz", generate=lambda prompts, decoding: _raise(output[1]) if raising else output)
    requests = {f"e{i}": GenerationRequest(f"e{i}", Prompt(f"Question {i}\nAnswer:"), ("yes",)) for i in range(3)}
    examples = [Example(f"e{i}", "d", f"Question {i}", {}) for i in range(3)]
    try:
        frame = score_examples(adapter, GEN, examples, where="probe/task/d", requests=requests)
    except AdapterError as exc:
        _clear(exc, name, "model 'fuzz', probe/task/d, examples 0-2: ")
        return
    cap = generation_cap(GEN.decoding.max_new_tokens)
    texts = frame["generation"].tolist()
    assert len(texts) == 3 and all(isinstance(t, str) and len(t) <= cap for t in texts)
    assert frame["generation_truncated"].tolist() == [len(t) > cap for t in output]
    _ran(name)
