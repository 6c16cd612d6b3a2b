"""Inputs a reliability probe got past the checks (issue 26): each now ends in one clear error.

Suites (templates, labels, names, reserved domains, splits, ``suite.models``) and tables
(surrogates, NaN targets, ``value_range``, shifted options, a text column that is the
domain column, out-of-domain rows without targets). Each case names where it is and what
to do, and none leaves a run folder.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from bench.data import load_examples, load_suite_data
from bench.errors import ConfigError, DataError, SuiteError, UnknownNameError
from bench.runner import RunConfig, run
from bench.suites import parse_suite, read_suite_file
from bench.suites.prompts import PromptFormat, fill_text, template_problems

QA_CSV = """id,domain,split,title,body,a,b,c,d,answer
q1,geo,test,Capitals,What is the capital of France?,Paris,Rome,Berlin,Madrid,A
q2,geo,test,Capitals,What is the capital of Italy?,Paris,Rome,Berlin,Madrid,1
q3,math,test,Sums,What is 1+1?,1,2,3,4,B
q4,math,test,Sums,What is 2+2?,1,2,3,4,D
"""

QA_SUITE = """domains = ["geo", "math"]
[suite]
name = "probe"
protocol = "zero_shot"
{head}
[source]
type = "table"
path = "qa.csv"
id_column = "id"
split_column = "split"
text_template = "{{title}}: {{body}}"
option_columns = ["a", "b", "c", "d"]
columns = {{ qa = "answer" }}
[[tasks]]
name = "qa"
kind = "multiple_choice"
{task}
"""


def _qa(folder: Path, task: str = "", head: str = "", csv: str = QA_CSV) -> Path:
    (folder / "qa.csv").write_text(csv, encoding="utf-8")
    path = folder / "suite.toml"
    path.write_text(QA_SUITE.format(task=task, head=head), encoding="utf-8")
    return path


def _run(suite: Path, out: Path, models: tuple[str, ...] = ("tests.generation_models:qa_with_loglikelihood",)) -> Any:
    return run(RunConfig(suites=(str(suite),), models=models, data_dir=str(suite.parent)))


# --- suites -----------------------------------------------------------------------------


def test_letter_labels_fewer_than_the_options_name_the_row_and_what_to_do(tmp_path: Path) -> None:
    suite = read_suite_file(_qa(tmp_path, 'labels = ["X", "Y"]'))
    with pytest.raises(DataError, match=r"qa\.csv, line 2, column 'answer': task 'qa': option 2 has no label: the task "
                                        r"has 2 label\(s\) \(X, Y\); give one label per option"):
        load_examples(suite, data_dir=tmp_path)


def test_prompt_format_label_beyond_its_labels_is_a_data_error() -> None:
    with pytest.raises(DataError, match="option 3 has no label"):
        PromptFormat(labels=("X", "Y")).label(3)


TEMPLATE_CASES = [
    ('prompt = "{text.upper}\\nAnswer:"', r"'tasks\[0\]\.prompt' accesses an attribute or index in \{text\.upper\}"),
    ('prompt = "{text!r:>10}\\nAnswer:"', r"'tasks\[0\]\.prompt' uses a conversion or format spec in \{text!r:>10\}"),
    ('prompt = "{text\\nAnswer:"', r"'tasks\[0\]\.prompt' has unbalanced braces"),
    ('prompt = "text}\\nAnswer:"', r"'tasks\[0\]\.prompt' has unbalanced braces"),
    ('prompt = "{} {text}"', r"'tasks\[0\]\.prompt' has a positional placeholder \{\}"),
    ('prompt = "{0}"', r"'tasks\[0\]\.prompt' has a positional placeholder \{0\}"),
    ('description = "About {domain.title}"', r"'tasks\[0\]\.description' accesses an attribute"),
    ('prompt = "{options[0][1]}"', r"accesses an attribute or index in \{options\[0\]\[1\]\}"),
]


@pytest.mark.parametrize(("task", "message"), TEMPLATE_CASES)
def test_multiple_choice_templates_are_checked_when_the_suite_is_read(tmp_path: Path, task: str, message: str) -> None:
    with pytest.raises(SuiteError, match=r"suite\.toml: .*" + message):
        read_suite_file(_qa(tmp_path, task))


def test_a_multiple_choice_field_no_example_has_fails_before_any_model_runs(tmp_path: Path) -> None:
    with pytest.raises(SuiteError, match=r"Suite 'probe', task 'qa', example 'q1' \(template\): the template names field "
                                         r"\{nope\}, which the example lacks"):
        _run(_qa(tmp_path, 'prompt = "{nope}\\nAnswer:"'), tmp_path / "out")


CLASSIFICATION: dict[str, Any] = {
    "suite": {"name": "probe", "in_domain": ["books"]},
    "source": {"type": "toy-reviews", "n_per_domain": 6},
    "tasks": [{"name": "sentiment", "kind": "classification", "choices": ["negative", "positive"]}],
    "domains": ["books", "movies"],
}


def _with(path: tuple, value: Any) -> dict[str, Any]:
    document = copy.deepcopy(CLASSIFICATION)
    parent: Any = document
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return document


@pytest.mark.parametrize(("prompt", "message"), [
    ("Review: {nope}\nSentiment:", r"'tasks\[0\]\.prompt' names field \{nope\}, which is not available here\. "
                                   r"Available: text\."),
    ("Review: {text.upper}", r"accesses an attribute or index in \{text\.upper\}; only \{name\} placeholders are"),
    ("Review: {text!r:>10}", r"uses a conversion or format spec"),
    ("Review: {text", r"has unbalanced braces"),
    ("Review: {options[0]} {text}", r"accesses an attribute or index in \{options\[0\]\}"),
])
def test_classification_prompts_follow_the_same_template_rule(prompt: str, message: str) -> None:
    with pytest.raises(SuiteError, match=r"probe\.toml: .*" + message):
        parse_suite(_with(("tasks", 0, "prompt"), prompt), where="probe.toml")


def test_regression_and_language_modelling_prompts_are_checked_too() -> None:
    document = _with(("tasks",), [{"name": "lm", "kind": "language_modeling", "prompt": "{title}: {text}"}])
    with pytest.raises(SuiteError, match=r"'tasks\[0\]\.prompt' names field \{title\}"):
        parse_suite(document, where="probe.toml")


def test_literal_braces_are_written_as_in_every_other_template() -> None:
    assert template_problems('JSON {{"review": "{text}"}}', "prompt", fields=("text",)) == []
    assert fill_text('JSON {{"review": "{text}"}}', "a {b}") == 'JSON {"review": "a {b}"}'


@pytest.mark.parametrize(("path", "value", "message"), [
    (("suite", "name"), "../../../../x", r"'suite\.name' holds '/' or '\\'"),
    (("suite", "name"), "a/b", r"'suite\.name' holds '/' or '\\'"),
    (("suite", "name"), "..", r"'suite\.name' starts with '\.' or holds '\.\.'"),
    (("suite", "name"), "a\x07b", r"'suite\.name' holds a character that is not printable"),
    (("suite", "name"), " padded", r"'suite\.name' starts or ends with whitespace"),
    (("tasks", 0, "name"), "sen/timent", r"'tasks\[0\]\.name' holds '/'"),
    (("domains",), ["books", "mo\nvies"], r"'domains\[1\]' holds a character that is not printable"),
    (("domains",), ["books", "a\\b"], r"'domains\[1\]' holds '/' or '\\'"),
])
def test_names_that_become_file_names_follow_one_rule(path: tuple, value: Any, message: str) -> None:
    with pytest.raises(SuiteError, match=r"probe\.toml: " + message + r".*rename it"):
        parse_suite(_with(path, value), where="probe.toml")


@pytest.mark.parametrize("name", ["ALL", "OOD", "REST", "group:STEM"])
def test_domains_named_like_pooled_rows_are_refused(name: str) -> None:
    document = _with(("domains",), ["books", name])
    with pytest.raises(SuiteError, match=rf"domain or group name '{name}' is reserved for pooled rows"):
        parse_suite(document, where="probe.toml")


def test_groups_named_like_pooled_rows_are_refused() -> None:
    document = _with(("domains",), [{"name": "books", "group": "OOD"}, {"name": "movies"}])
    with pytest.raises(SuiteError, match=r"domain or group name 'OOD' is reserved"):
        parse_suite(document, where="probe.toml")


def test_a_test_fraction_leaving_a_domain_without_test_examples_is_refused() -> None:
    suite = parse_suite(_with(("split",), {"test_fraction": 0.01}), where="probe.toml")
    with pytest.raises(DataError, match=r"Suite 'probe', domain 'books': split\.test_fraction = 0\.01 of its 6 examples "
                                        r"leaves its test split empty; give a test_fraction in \[0\.25, 0\.75\]"):
        load_suite_data(suite)


def test_a_test_fraction_leaving_a_domain_without_train_examples_is_refused() -> None:
    suite = parse_suite(_with(("split",), {"test_fraction": 0.95}), where="probe.toml")
    with pytest.raises(DataError, match=r"leaves its train split empty"):
        load_suite_data(suite)


def test_suite_models_naming_an_unknown_model_fail_before_any_run(tmp_path: Path) -> None:
    suite = _qa(tmp_path, head='models = ["nosuchmodel"]')
    for models in ((), ("majority",)):  # also when the run names its own models
        with pytest.raises(UnknownNameError, match=r"Suite 'probe', 'suite\.models': Unknown model 'nosuchmodel'.*"
                                                   r"Fix the name in the suite file"):
            run(RunConfig(suites=(str(suite),), models=models, data_dir=str(tmp_path)))


def test_a_factory_that_raises_is_named_as_a_model_that_could_not_be_built() -> None:
    from bench.adapters import make_model

    with pytest.raises(ConfigError, match=r"Model 'tests\.test_input_holes:_broken_factory' could not be built: "
                                          r"RuntimeError: weights missing"):
        make_model("tests.test_input_holes:_broken_factory")


def test_a_model_whose_name_holds_a_control_character_is_refused() -> None:
    from bench.adapters import make_model

    with pytest.raises(ConfigError, match=r"its name 'bad\\x07name' holds a character that is not printable"):
        make_model("tests.test_input_holes:_badly_named")


def _broken_factory() -> Any:
    raise RuntimeError("weights missing")


def _badly_named() -> Any:
    from bench.adapters import CallableAdapter

    return CallableAdapter("bad\x07name", predict_values=lambda texts: [0.0] * len(texts))


# --- tables -----------------------------------------------------------------------------

TABLE_SUITE = """domains = ["a", "b"]
[suite]
name = "t"
[source]
type = "table"
path = "{name}"
{source}
[[tasks]]
name = "y"
kind = "{kind}"
{task}
"""


def _table(folder: Path, name: str, content: str | bytes, kind: str = "regression", task: str = "",
           source: str = "") -> Any:
    target = folder / name
    if isinstance(content, bytes):
        target.write_bytes(content)
    else:
        target.write_text(content, encoding="utf-8")
    suite = folder / "suite.toml"
    suite.write_text(TABLE_SUITE.format(name=name, kind=kind, task=task, source=source), encoding="utf-8")
    return load_examples(read_suite_file(suite), data_dir=folder)


def test_a_lone_surrogate_in_a_jsonl_string_names_the_line_and_key(tmp_path: Path) -> None:
    rows = '{"text": "fine", "domain": "a", "y": 1}\n{"text": "a \\ud800 b", "domain": "b", "y": 2}\n'
    with pytest.raises(DataError, match=r"rows\.jsonl, line 2: key 'text' holds a lone surrogate"):
        _table(tmp_path, "rows.jsonl", rows)


def test_nan_targets_in_jsonl_are_refused_as_in_csv(tmp_path: Path) -> None:
    rows = '{"text": "fine", "domain": "a", "y": 1}\n{"text": "ok", "domain": "b", "y": NaN}\n'
    with pytest.raises(DataError, match=r"rows\.jsonl, line 2, column 'y': target of task 'y' is NaN; leave the cell "
                                        r"empty \(null in JSON\)"):
        _table(tmp_path, "rows.jsonl", rows)
    with pytest.raises(DataError, match=r"rows\.csv, line 3, column 'y'.*not finite"):
        _table(tmp_path, "rows.csv", "text,domain,y\nfine,a,1\nok,b,nan\n")


def test_nan_targets_in_parquet_are_refused(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"text": ["fine", "ok"], "domain": ["a", "b"], "y": [1.0, float("nan")]}),
                   tmp_path / "rows.parquet")
    with pytest.raises(DataError, match=r"rows\.parquet, row 2, column 'y': target of task 'y' is NaN"):
        _table(tmp_path, "rows.parquet", (tmp_path / "rows.parquet").read_bytes())


def test_regression_targets_outside_value_range_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"rows\.csv, line 3, column 'y': target 9 of regression task 'y' is outside its "
                                        r"value_range \[1, 5\]; fix the value or widen 'value_range'"):
        _table(tmp_path, "rows.csv", "text,domain,y\nfine,a,1\nok,b,9\n", task="value_range = [1, 5]")


def test_a_text_column_that_is_the_domain_column_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SuiteError, match=r"\[source\] uses column 'domain' both as text_column and as domain_column"):
        _table(tmp_path, "rows.csv", "text,domain,y\nfine,a,1\nok,b,2\n", source='text_column = "domain"')


def test_a_text_template_naming_a_missing_column_fails_before_any_row(tmp_path: Path) -> None:
    with pytest.raises(SuiteError, match=r"'source\.text_template' names field \{title\}, which is not available here\. "
                                         r"Available: domain, text, y"):
        _table(tmp_path, "rows.csv", "text,domain,y\nfine,a,1\nok,b,2\n", source='text_template = "{title}: {text}"')


def test_an_empty_option_cell_before_a_filled_one_is_refused(tmp_path: Path) -> None:
    shifted = QA_CSV.replace("Paris,Rome,Berlin,Madrid,1", "Paris,,Rome,Berlin,1")
    suite = read_suite_file(_qa(tmp_path, csv=shifted))
    with pytest.raises(DataError, match=r"qa\.csv, line 3: option column 'b' is empty but a later one \('c'\) is not; the "
                                        r"later options would shift"):
        load_examples(suite, data_dir=tmp_path)


def test_trailing_empty_option_cells_mean_fewer_options(tmp_path: Path) -> None:
    fewer = QA_CSV.replace("Paris,Rome,Berlin,Madrid,1", "Paris,Rome,,,1")
    examples = load_examples(read_suite_file(_qa(tmp_path, csv=fewer)), data_dir=tmp_path)
    assert next(ex for ex in examples if ex.id == "q2").options == ("Paris", "Rome")


def test_out_of_domain_rows_without_targets_fail_before_any_model_is_trained(tmp_path: Path) -> None:
    rows = "text,domain,y\ngood,a,positive\nbad,a,negative\nfine,a,positive\nnice,b,\nmeh,b,\n"
    (tmp_path / "rows.csv").write_text(rows, encoding="utf-8")
    suite = tmp_path / "suite.toml"
    suite.write_text(TABLE_SUITE.format(name="rows.csv", kind="classification", source="",
                                        task='choices = ["negative", "positive"]'), encoding="utf-8")
    with pytest.raises(DataError, match=r"Suite 't', fold 'id_ood': task 'y' has no test example with a target in its "
                                        r"out-of-domain domain\(s\) b; give those rows targets"):
        run(RunConfig(suites=(str(suite),), models=("majority",), data_dir=str(tmp_path)))


def test_a_huge_target_cell_is_quoted_shortened(tmp_path: Path) -> None:
    huge = QA_CSV.replace("Paris,Rome,Berlin,Madrid,1", "Paris,Rome,Berlin,Madrid," + "x" * 100_000)
    with pytest.raises(DataError, match=r"qa\.csv, line 3, column 'answer': target 'x+… of task 'qa'") as caught:
        load_examples(read_suite_file(_qa(tmp_path, csv=huge)), data_dir=tmp_path)
    assert len(str(caught.value)) < 500
