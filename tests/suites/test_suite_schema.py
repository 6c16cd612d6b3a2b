"""The suite schema: every malformed suite file ends in one SuiteError naming file, key and value."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.data import load_suite_data
from bench.errors import SuiteError
from bench.suites import load_suite, read_suite_file
from bench.suites.loader import MAX_SUITE_BYTES
from bench.suites.rules import QUOTE_CHARS, quote
from bench.suites.schema import SOURCE_OPTIONS, SUITE_SCHEMA, check_document
from tests.conftest import REPO, TINY_SUITE, write_tiny_suite

# (old text, new text, expected message): the probes of issue 14 and the neighbours of each.
PROBES = [
    ('domains = ["books", "electronics", "movies"]', "domains = 5",
     r"'domains' must be an array of 2-10000 items, each a non-empty string or .*got an integer 5"),
    ('protocol = "id_ood"', 'protocol = ["x"]', r"'suite\.protocol' must be a non-empty string, got an array \['x'\]"),
    ("value_range = [1, 5]", "value_range = 5", r"'tasks\[1\]\.value_range' must be an array .*got an integer 5"),
    ("value_range = [1, 5]", 'value_range = "np"', r"'tasks\[1\]\.value_range' must be an array of 2 items, each a finite number, got a string 'np'"),
    ("value_range = [1, 5]", "value_range = [1, 2, 3]", r"'tasks\[1\]\.value_range' must have 2 items, got 3"),
    ("value_range = [1, 5]", "value_range = [5, 1]", r"'tasks\[1\]\.value_range' must be \[low, high\] with low < high"),
    ("value_range = [1, 5]", "value_range = [1, nan]", r"'tasks\[1\]\.value_range\[1\]' must be a finite number, got a float nan"),
    ("value_range = [1, 5]", "value_range = [1, inf]", r"'tasks\[1\]\.value_range\[1\]' must be a finite number, got a float inf"),
    ("n_per_domain = 10", 'n_per_domain = "abc"', r"'source\.n_per_domain' must be an integer in \[1, 100000\], got a string 'abc'"),
    ("n_per_domain = 10", "n_per_domain = 1e9", r"'source\.n_per_domain' must be an integer in \[1, 100000\], got a float 1000000000\.0"),
    ("n_per_domain = 10", "n_per_domain = 1000000000", r"'source\.n_per_domain' must be an integer in \[1, 100000\]"),
    ("n_per_domain = 10", "n_per_domain = true", r"'source\.n_per_domain' must be an integer .*got a boolean True"),
    ("n_per_domain = 10", "n_per_domain = 10\nshared_rate = nan", r"'source\.shared_rate' must be a number in \[0, 1\], got a float nan"),
    ("test_fraction = 0.5", "test_fraction = inf", r"'split\.test_fraction' must be a number in \(0, 1\), got a float inf"),
    ("test_fraction = 0.5", "test_fraction = true", r"'split\.test_fraction' must be a number in \(0, 1\), got a boolean"),
    ('choices = ["negative", "positive"]', 'choices = ["pos", "pos"]',
     r"'tasks\[0\]\.choices' must not repeat items; 'pos' appears more than once"),
    ('choices = ["negative", "positive"]', 'choices = "np"', r"'tasks\[0\]\.choices' must be an array .*got a string 'np'"),
    ('choices = ["negative", "positive"]', 'choices = ["a", 1]', r"'tasks\[0\]\.choices\[1\]' must be a non-empty string, got an integer 1"),
    ('choices = ["negative", "positive"]', "", r"missing required key 'tasks\[0\]\.choices' \(required where 'tasks\[0\]\.kind' is classification\)"),
    ("value_range = [1, 5]", 'value_range = [1, 5]\nchoices = ["a", "b"]',
     r"'tasks\[1\]\.choices' is only allowed where 'tasks\[1\]\.kind' is classification \(here it is 'regression'\)"),
    ('in_domain = ["books"]', 'in_domain = "books"\nmodels = "byte-ngram"', r"'suite\.models' must be an array .*got a string"),
    ('in_domain = ["books"]', "in_domain = 3", r"'suite\.in_domain' must be a non-empty string or an array"),
    ('in_domain = ["books"]', 'in_domain = ["books", "electronics", "movies"]', "must leave at least one out-of-domain"),
    ('name = "tiny-reviews"', 'name = ""', r"'suite\.name' must be a non-empty string, got a string ''"),
    ('name = "tiny-reviews"', "name = 7", r"'suite\.name' must be a non-empty string, got an integer 7"),
    ('type = "toy-reviews"', "type = []", r"'source\.type' must be a non-empty string, got an array"),
    ("seed = 0\n\n[split]", "seed = -1\n\n[split]", r"'source\.seed' must be an integer in \[0, "),
    ("[split]", "split = 3\n[splitt]", r"unknown key 'splitt'\. Did you mean 'split'"),
    ('kind = "regression"', 'kind = "regresion"', r"'tasks\[1\]\.kind' must be one of .* Did you mean 'regression'"),
    ('protocol = "id_ood"', 'protocol = "zero-shot"', r"Did you mean 'zero_shot'"),
    ('name = "rating"', 'name = "sentiment"', r"task names must be unique"),
    ('domains = ["books", "electronics", "movies"]', 'domains = ["books", "movies", "books"]',
     r"'domains' must not repeat items; 'books' appears more than once"),
    ('domains = ["books", "electronics", "movies"]', 'domains = ["books"]', r"'domains' must have 2-10000 items, got 1"),
    ('domains = ["books", "electronics", "movies"]', "domains = [{ name = 1 }, { name = \"b\" }]",
     r"'domains\[0\]\.name' must be a non-empty string, got an integer 1"),
    ('domains = ["books", "electronics", "movies"]', 'domains = [{ name = "books" }, { name = "books" }]',
     r"domain names must be unique; 'books' appears more than once"),
    ('domains = ["books", "electronics", "movies"]', 'domains = [{ name = "books", descr = "x" }, { name = "b" }]',
     r"unknown key 'domains\[0\]\.descr'\. Did you mean 'domains\[0\]\.description'"),
    ("[[tasks]]\nname = \"sentiment\"", "tasks = 3\n[[taskz]]\nname = \"sentiment\"", r"unknown key 'taskz'"),
    ('choices = ["negative", "positive"]', 'choices = ["negative", "positive"]\nverbalizers = [" no"]',
     r"'tasks\[0\]\.verbalizers' must have 2-1000 items, got 1"),
    ('choices = ["negative", "positive"]', 'choices = ["negative", "positive"]\nverbalizers = [" a", " b", " c"]',
     r"'tasks\[0\]\.verbalizers' needs one entry per choice \(2\), got 3"),
    ('choices = ["negative", "positive"]', 'choices = ["negative", "positive"]\nprompt = ["x"]',
     r"'tasks\[0\]\.prompt' must be a non-empty string, got an array"),
    ('version = "1"', "version = [1]", r"'suite\.version' must be a string or a finite number"),
]


def _suite_text() -> str:
    return TINY_SUITE.format(n=10)


@pytest.mark.parametrize(("old", "new", "message"), PROBES)
def test_every_probe_is_one_clear_suite_error(tmp_path: Path, old: str, new: str, message: str) -> None:
    text = _suite_text()
    assert old in text
    path = write_tiny_suite(tmp_path, text=text.replace(old, new, 1))
    with pytest.raises(SuiteError, match=rf"tiny\.toml: [\s\S]*{message}"):
        load_suite(path)


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    text = _suite_text().replace("n_per_domain = 10", 'n_per_domain = "abc"').replace(
        "test_fraction = 0.5", "test_fraction = 2").replace('version = "1"', 'versoin = "1"')
    with pytest.raises(SuiteError, match=r"tiny\.toml: 3 problems:\n  - ") as caught:
        load_suite(write_tiny_suite(tmp_path, text=text))
    lines = str(caught.value).splitlines()[1:]
    assert len(lines) == 3
    assert any("'suite.versoin'" in line for line in lines) and any("'split.test_fraction'" in line for line in lines)
    assert any("'source.n_per_domain'" in line for line in lines)


def test_toy_reviews_bounds_are_checked_before_generation(tmp_path: Path) -> None:
    # 1e9 reviews would run for hours; the schema refuses it before the source is called.
    text = _suite_text().replace("n_per_domain = 10", "n_per_domain = 100001")
    with pytest.raises(SuiteError, match=r"'source\.n_per_domain' must be an integer in \[1, 100000\], got an integer 100001"):
        load_suite(write_tiny_suite(tmp_path, text=text))
    suite = load_suite(write_tiny_suite(tmp_path, text=_suite_text()))
    assert sum(len(d.train) + len(d.test) for d in load_suite_data(suite).domains.values()) == 30


def test_deep_nesting_and_huge_files_are_refused(tmp_path: Path) -> None:
    deep = tmp_path / "deep.toml"
    deep.write_text("x = " + "[" * 100_000 + "]" * 100_000 + "\n", encoding="utf-8")
    with pytest.raises(SuiteError, match=r"deep\.toml: malformed TOML: arrays or tables nested too deeply"):
        load_suite(deep)
    huge = tmp_path / "huge.toml"
    huge.write_text(_suite_text() + "#" * MAX_SUITE_BYTES, encoding="utf-8")
    with pytest.raises(SuiteError, match=rf"huge\.toml: a suite file may have at most {MAX_SUITE_BYTES} bytes"):
        load_suite(huge)
    with pytest.raises(SuiteError, match=r"Cannot read suite file .*: not a regular file"):
        read_suite_file(tmp_path)


def test_a_file_that_is_not_a_suite_is_not_quoted(tmp_path: Path) -> None:
    secret_line = "root:x:0:0:root:/root:/bin/bash-SECRET-LINE"
    path = tmp_path / "passwd.toml"
    path.write_text(secret_line + "\ndaemon:x:1:1::/usr/sbin\n", encoding="utf-8")
    with pytest.raises(SuiteError, match=r"passwd\.toml: malformed TOML: .*line 1") as caught:
        load_suite(path)
    assert "SECRET" not in str(caught.value) and "bin/bash" not in str(caught.value)
    assert "daemon" not in str(caught.value)


def test_long_values_are_quoted_shortened(tmp_path: Path) -> None:
    text = _suite_text().replace("n_per_domain = 10", f'n_per_domain = "{"x" * 5000}"')
    with pytest.raises(SuiteError) as caught:
        load_suite(write_tiny_suite(tmp_path, text=text))
    assert "x" * QUOTE_CHARS not in str(caught.value) and "…" in str(caught.value)
    assert quote("y" * 500) == repr("y" * 500)[: QUOTE_CHARS - 1] + "…" and quote("ab") == "'ab'"


def test_schema_lists_every_key_the_loader_reads() -> None:
    assert set(SUITE_SCHEMA.keys) == {"suite", "source", "split", "tasks", "domains"}
    tasks = SUITE_SCHEMA.keys["tasks"].type.item  # type: ignore[attr-defined]
    assert set(tasks.keys) == {"name", "kind", "choices", "prompt", "verbalizers", "value_range", "style",
                               "description", "num_fewshot", "fewshot_split", "fewshot_sampler", "target_delimiter",
                               "fewshot_delimiter", "labels", "default", "answer_normalization", "decoding", "primary_metric"}
    assert set(tasks.keys["decoding"].type.keys) == {"max_new_tokens", "stop", "temperature", "top_p", "seed"}
    assert set(SOURCE_OPTIONS) == {"toy-reviews", "uci-sentiment", "reviews-movies-products", "masc-genres", "table",
                                   "mmlu"}
    # A plugin source's options are its own business; only 'type' is checked.
    assert check_document({"suite": {"name": "s"}, "source": {"type": "my-plugin", "anything": [1]},
                           "tasks": [{"name": "t", "kind": "language_modeling"}], "domains": ["a", "b"]}) == []


def test_bundled_suites_pass_the_schema() -> None:
    from bench.suites import SUITES

    for name in SUITES.names():
        assert load_suite(name).name == name


def test_docs_list_every_key_of_the_schema() -> None:
    from bench.suites.schema import key_rows

    docs = (REPO / "docs" / "suites.md").read_text(encoding="utf-8")
    rows = key_rows() + [r for table in SOURCE_OPTIONS.values() for r in key_rows(table, "source.")]
    for key, rule, required, _ in rows:
        assert f"| `{key}` | {rule} | {required} |" in docs, key


def test_a_sources_options_are_a_fact_of_its_registry_entry() -> None:
    from bench.suites.rules import Int, Key, Table
    from bench.suites.sources import SOURCES

    document = {"suite": {"name": "s"}, "source": {"type": "test-counted", "count": 0, "colour": "red"},
                "tasks": [{"name": "t", "kind": "language_modeling"}], "domains": ["a", "b"]}
    SOURCES.add("test-counted", lambda context: [], facts={"options": Table({"count": Key(Int(1, 9), doc="how many")})})
    try:
        assert "test-counted" in SOURCE_OPTIONS
        assert check_document(document) == [
            "unknown key 'source.colour'. Allowed: count.",
            "'source.count' must be an integer in [1, 9], got an integer 0."]
    finally:
        SOURCES.remove("test-counted")
    assert "test-counted" not in SOURCE_OPTIONS
