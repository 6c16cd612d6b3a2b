"""Bad tables: each one ends in one error naming file, line (or row) and column; nothing quoted beyond need."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.data import load_examples
from bench.data.table import MAX_CSV_FIELD_CHARS, MAX_TEXT_CHARS
from bench.errors import DataError, SuiteError
from bench.suites import read_suite_file
from tests.data.test_table import SUITE

HEADER = "text,domain,sentiment,stars\n"
GOOD = "good one,a,positive,5\nbad one,b,negative,1\n"
NO_TARGETS = ', "sentiment": null, "stars": null'


def _load(folder: Path, content: str | bytes, name: str = "rows.csv", source: str = ""):
    target = folder / name
    if isinstance(content, bytes):
        target.write_bytes(content)
    else:
        target.write_text(content, encoding="utf-8", newline="")
    suite_path = folder / "suite.toml"
    suite_path.write_text(SUITE.format(source=f'path = "{name}"\n{source}'), encoding="utf-8")
    return load_examples(read_suite_file(suite_path), data_dir=folder)


# (file name, content, extra [source] lines, expected message)
CSV_PROBES = [
    ("rows.csv", "text,domain,text,stars\n" + GOOD, "",
     r"rows\.csv, line 1: column 'text' appears more than once; column names must be unique"),
    ("rows.csv", HEADER + "good one,a,positive,5,extra\n" + GOOD, "",
     r"rows\.csv, line 2: the row has 5 field\(s\) but the header has 4; quote fields that contain the delimiter ','"),
    ("rows.csv", HEADER + GOOD + "short,a\n", "", r"rows\.csv, line 4: the row has 2 field\(s\) but the header has 4"),
    ("rows.csv", HEADER + GOOD + '"' + "x" * (MAX_CSV_FIELD_CHARS + 10) + '",a,positive,5\n', "",
     rf"rows\.csv, line 4: a field is longer than {MAX_CSV_FIELD_CHARS} characters, the CSV reader's limit"),
    ("rows.csv", HEADER + GOOD + '"unterminated,a,positive,5\n', "", r"rows\.csv, line 4: the row has 1 field\(s\)"),
    ("rows.csv", "id," + HEADER + "k1," + GOOD.replace("\nbad", "\n,bad"), 'id_column = "id"',
     r"rows\.csv, line 3: id column 'id' is empty, null or not a scalar \(''\); every row needs a unique id"),
    ("rows.csv", "id," + HEADER + "k1,good one,a,positive,5\nk1,bad one,b,negative,1\n", 'id_column = "id"',
     r"rows\.csv, line 3: example id 'k1' \(column 'id'\) was already used at line 2; ids must be unique"),
    ("rows.csv", HEADER + GOOD, 'text_column = ["title", "text"]',
     r"suite\.toml: 'source\.text_column' must be a non-empty string, got an array \['title', 'text'\]"),
    ("rows.csv", HEADER + GOOD, 'columns = "np"', r"suite\.toml: 'source\.columns' must be a table, got a string 'np'"),
    ("rows.csv", HEADER + GOOD, 'columns = { sentiment = ["a", "b"] }',
     r"suite\.toml: 'source\.columns\.sentiment' must be a non-empty string, got an array"),
    ("rows.csv", HEADER + GOOD + "odd,a,²,5\n", "", r"rows\.csv, line 4, column 'sentiment': label '²' of task 'sentiment'"),
    ("rows.jsonl", '{"text": "a", "text": "b", "domain": "a"}\n', "",
     r"rows\.jsonl, line 1: key 'text' appears more than once in the object"),
    ("rows.jsonl", '{"text": "a", "domain": "a", "x": ' + "[" * 100_000 + "]" * 100_000 + "}\n", "",
     r"rows\.jsonl, line 1: (JSON nested too deeply|not valid JSON)"),
    ("rows.jsonl", '{"text": "good", "domain": "a", "sentiment": true, "stars": 1}\n', "",
     r"rows\.jsonl, line 1, column 'sentiment': target of task 'sentiment' is a boolean \(True\)"),
    ("rows.jsonl", '{"text": "good", "domain": "a", "sentiment": 1, "stars": ' + "9" * 400 + "}\n", "",
     r"rows\.jsonl, line 1, column 'stars': target of regression task 'stars' must be a number, got 9{59}…\.$"),
    ("rows.jsonl", '{"text": "good", "domain": "a", "stars": 1, "sentiment": ' + "9" * 400 + "}\n", "",
     r"rows\.jsonl, line 1, column 'sentiment': label 9999.*… of task 'sentiment' is outside its choices"),
    ("rows.jsonl", '{"text": 12, "domain": "a"' + NO_TARGETS + '}\n', "", r"rows\.jsonl, line 1: empty or non-text value in text column 'text'"),
    ("rows.jsonl", '{"text": "' + "y" * (MAX_TEXT_CHARS + 1) + '", "domain": "a"' + NO_TARGETS + '}\n', "",
     rf"rows\.jsonl, line 1: the text in column 'text' has {MAX_TEXT_CHARS + 1} characters; at most {MAX_TEXT_CHARS}"),
    ("rows.jsonl", '{"text": "t", "domain": "a", "id": null' + NO_TARGETS + '}\n', 'id_column = "id"',
     r"rows\.jsonl, line 1: id column 'id' is empty, null or not a scalar \(None\)"),
    ("rows.jsonl", '{"text": "t", "domain": "a", "id": [1]' + NO_TARGETS + '}\n', 'id_column = "id"',
     r"rows\.jsonl, line 1: id column 'id' is empty, null or not a scalar \(\[1\]\)"),
    ("rows.jsonl", '{"text": "t", "domain": "' + "z" * 500 + '"' + NO_TARGETS + '}\n', "",
     r"rows\.jsonl, line 1: domain 'z{58}… is not declared by the suite"),
]


@pytest.mark.parametrize(("name", "content", "source", "message"), CSV_PROBES)
def test_bad_tables_say_file_line_and_column(tmp_path: Path, name: str, content: str, source: str, message: str) -> None:
    with pytest.raises((DataError, SuiteError), match=message) as caught:
        _load(tmp_path, content, name, source)
    assert len(str(caught.value)) < 1000


def test_byte_order_mark_and_crlf_are_accepted(tmp_path: Path) -> None:
    for name, content in [("rows.csv", "\ufeff" + (HEADER + GOOD).replace("\n", "\r\n")),
                          ("rows.jsonl", '\ufeff{"text": "good", "domain": "a"' + NO_TARGETS + '}\r\n{"text": "bad", "domain": "b"'
                           + NO_TARGETS + '}\r\n')]:
        examples = _load(tmp_path, content, name)
        assert [ex.text for ex in examples] == ["good one", "bad one"] if name.endswith("csv") else ["good", "bad"]
        assert [ex.domain for ex in examples] == ["a", "b"]


def test_a_field_of_one_megabyte_is_read_from_jsonl(tmp_path: Path) -> None:
    text = "w " * (MAX_TEXT_CHARS // 2)
    rows = f'{{"text": "{text}", "domain": "a"{NO_TARGETS}}}\n{{"text": "b", "domain": "b"{NO_TARGETS}}}\n'
    examples = _load(tmp_path, rows, "rows.jsonl")
    assert len(examples[0].text) == MAX_TEXT_CHARS


def test_an_unrelated_file_is_not_copied_into_the_error(tmp_path: Path) -> None:
    passwd = "root:x:0:0:root-SECRET:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    with pytest.raises(DataError, match=r"rows\.csv lacks the declared column\(s\) 'text' \(text_column\).*"
                                        r"Its first line holds 1 field\(s\) that do not look like column names") as caught:
        _load(tmp_path, passwd)
    assert "SECRET" not in str(caught.value) and "nologin" not in str(caught.value)


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl"])
def test_a_suite_pointing_at_etc_passwd_does_not_quote_it(tmp_path: Path, fmt: str) -> None:
    passwd = Path("/etc/passwd")
    if not passwd.is_file():
        pytest.skip("no /etc/passwd on this system")
    first_line = passwd.read_text(encoding="utf-8", errors="replace").splitlines()[0]
    suite_path = tmp_path / "suite.toml"
    suite_path.write_text(SUITE.format(source=f'path = "/etc/passwd"\nformat = "{fmt}"'), encoding="utf-8")
    with pytest.raises(DataError, match=r"/etc/passwd") as caught:
        load_examples(read_suite_file(suite_path), data_dir=tmp_path)
    message = str(caught.value)
    assert first_line not in message and "/bin/" not in message and "root:" not in message
    assert len(message) < 400


def test_corrupt_parquet_names_the_file(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow", reason="Parquet tables need the 'parquet' extra (pyarrow)")
    with pytest.raises(DataError, match=r"rows\.parquet: not a readable Parquet file"):
        _load(tmp_path, b"PAR1" + b"\0" * 64 + b"PAR1", "rows.parquet")


def test_duplicate_parquet_columns_are_refused(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow", reason="Parquet tables need the 'parquet' extra (pyarrow)")
    import pyarrow.parquet as pq

    table = pa.Table.from_arrays([pa.array(["x", "y"]), pa.array(["a", "b"]), pa.array(["z", "w"])],
                                 names=["text", "domain", "text"])
    pq.write_table(table, tmp_path / "rows.parquet")
    with pytest.raises(DataError, match=r"rows\.parquet, header: column 'text' appears more than once"):
        _load(tmp_path, (tmp_path / "rows.parquet").read_bytes(), "rows.parquet")
