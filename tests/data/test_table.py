"""The ``table`` source: bring-your-own JSONL, CSV and Parquet tables, and their bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from bench.cli import main
from bench.data import load_examples, load_suite_data
from bench.data.describe import describe_suite
from bench.errors import ConfigError, DataError, MissingDataError, SuiteError
from bench.suites import read_suite_file

REPO = Path(__file__).resolve().parents[2]

SUITE = """
[suite]
name = "mine"
in_domain = ["a"]

[source]
type = "table"
{source}

[[tasks]]
name = "sentiment"
kind = "classification"
choices = ["negative", "positive"]

[[tasks]]
name = "stars"
kind = "regression"

[[domains]]
name = "a"
[[domains]]
name = "b"
"""

ROWS = [
    {"text": "good one", "domain": "a", "sentiment": "positive", "stars": 5},
    {"text": "bad one", "domain": "a", "sentiment": 0, "stars": 1},
    {"text": "fine thing", "domain": "a", "sentiment": "1", "stars": 4},
    {"text": "awful thing", "domain": "b", "sentiment": "negative", "stars": 2},
    {"text": "nice", "domain": "b", "sentiment": 1, "stars": None},
    {"text": "meh", "domain": "b", "sentiment": None, "stars": 3},
]


def _suite(folder: Path, source: str) -> Path:
    path = folder / "suite.toml"
    path.write_text(SUITE.format(source=source), encoding="utf-8")
    return path


def _write(folder: Path, name: str, rows: list[dict]) -> None:
    frame = pd.DataFrame(rows)
    target = folder / name
    if name.endswith(".jsonl"):
        target.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    elif name.endswith(".csv"):
        frame.to_csv(target, index=False)
    else:
        frame.astype({"sentiment": "string"}).to_parquet(target)


@pytest.mark.parametrize("name", ["rows.jsonl", "rows.csv", "rows.parquet"])
def test_every_format_gives_the_same_examples(tmp_path: Path, name: str) -> None:
    if name.endswith(".parquet"):
        pytest.importorskip("pyarrow", reason="Parquet tables need the 'parquet' extra (pyarrow)")
    (tmp_path / "data").mkdir()
    _write(tmp_path / "data", name, ROWS)
    suite = read_suite_file(_suite(tmp_path, f'path = "data/{name}"'))
    examples = load_examples(suite, data_dir=tmp_path / "nowhere")
    assert [ex.text for ex in examples] == [r["text"] for r in ROWS]
    assert [ex.targets.get("sentiment") for ex in examples] == [1, 0, 1, 0, 1, None]
    assert [ex.targets.get("stars") for ex in examples] == [5.0, 1.0, 4.0, 2.0, None, 3.0]
    expected = [f"rows.parquet:row{k}" for k in range(1, 7)] if name.endswith("parquet") else \
        [f"{name}:{k}" for k in (range(2, 8) if name.endswith("csv") else range(1, 7))]
    assert [ex.id for ex in examples] == expected


def test_split_id_and_renamed_columns(tmp_path: Path) -> None:
    rows = [{"t": r["text"], "d": r["domain"], "label": r["sentiment"], "stars": r["stars"], "key": f"k{i}",
             "part": "test" if i % 2 else "train"} for i, r in enumerate(ROWS)]
    _write(tmp_path, "rows.jsonl", rows)
    source = ('path = "rows.jsonl"\ntext_column = "t"\ndomain_column = "d"\nid_column = "key"\n'
              'split_column = "part"\ncolumns = { sentiment = "label" }')
    data = load_suite_data(read_suite_file(_suite(tmp_path, source)))
    assert [ex.id for ex in data.domains["a"].train] == ["k0", "k2"]
    assert [ex.id for ex in data.domains["a"].test] == ["k1"]
    assert data.domains["b"].train[0].targets == {"sentiment": 1}


def test_missing_declared_column(tmp_path: Path) -> None:
    _write(tmp_path, "rows.csv", [{k: v for k, v in r.items() if k != "domain"} for r in ROWS])
    suite = read_suite_file(_suite(tmp_path, 'path = "rows.csv"'))
    with pytest.raises(DataError, match=r"rows.csv lacks the declared column\(s\) 'domain' \(domain_column\)\. "
                                        r"Its columns: text, sentiment, stars"):
        load_examples(suite)


def test_label_outside_choices(tmp_path: Path) -> None:
    _write(tmp_path, "rows.jsonl", ROWS[:2] + [{"text": "so-so", "domain": "b", "sentiment": "neutral"}] + ROWS[3:])
    suite = read_suite_file(_suite(tmp_path, 'path = "rows.jsonl"'))
    with pytest.raises(DataError, match=r"rows.jsonl, line 3, column 'sentiment': label 'neutral' of task 'sentiment' "
                                        r"is outside its choices \(negative, positive\); give a choice name or an "
                                        r"index 0-1"):
        load_examples(suite)
    _write(tmp_path, "rows.jsonl", [{"text": "x", "domain": "a", "sentiment": 2, "stars": 1}])
    with pytest.raises(DataError, match=r"label 2 of task 'sentiment' is outside its choices"):
        load_examples(suite)


def test_non_utf8_text_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "rows.csv").write_bytes(b"text,domain,sentiment,stars\nok,a,1,4\ncaf\xe9 au lait,b,0,2\n")
    suite = read_suite_file(_suite(tmp_path, 'path = "rows.csv"'))
    with pytest.raises(DataError, match=r"rows.csv, line 3, column 4: not valid utf-8 text .*re-save the file as "
                                        r"utf-8\. Or set 'encoding'"):
        load_examples(suite)
    latin = read_suite_file(_suite(tmp_path, 'path = "rows.csv"\nencoding = "latin-1"'))
    assert [ex.text for ex in load_examples(latin)] == ["ok", "café au lait"]


def test_empty_domain(tmp_path: Path) -> None:
    _write(tmp_path, "rows.jsonl", [r for r in ROWS if r["domain"] == "a"])
    suite = read_suite_file(_suite(tmp_path, 'path = "rows.jsonl"'))
    with pytest.raises(DataError, match=r"rows.jsonl has no rows for domain\(s\) b \(column 'domain'\)"):
        load_examples(suite)


def test_undeclared_domain_and_bad_values(tmp_path: Path) -> None:
    suite = read_suite_file(_suite(tmp_path, 'path = "rows.jsonl"'))
    cases = [
        ({"text": "x", "domain": "c", "sentiment": 1, "stars": 1}, r"line 1: domain 'c' is not declared by the suite"),
        ({"text": "", "domain": "a", "sentiment": 1, "stars": 1}, r"line 1: empty or non-text value in text column"),
        ({"text": "x", "domain": "a", "sentiment": 1, "stars": "many"}, r"target of regression task 'stars' must be a number"),
    ]
    for row, message in cases:
        _write(tmp_path, "rows.jsonl", [row])
        with pytest.raises(DataError, match=message):
            load_examples(suite)
    (tmp_path / "rows.jsonl").write_text('{"text": "x", "domain": "a", "sentiment": 1, "stars": 1}\n{"text": \n',
                                         encoding="utf-8")
    with pytest.raises(DataError, match=r"rows.jsonl, line 2: not valid JSON"):
        load_examples(suite)


def test_missing_table_and_bad_options(tmp_path: Path) -> None:
    _write(tmp_path, "rows.csv", ROWS)
    with pytest.raises(MissingDataError, match=r"Table file .*absent.csv \(source.path = 'absent.csv' in .*suite.toml\)"):
        load_examples(read_suite_file(_suite(tmp_path, 'path = "absent.csv"')))
    with pytest.raises(SuiteError, match=r"cannot tell the format of 'rows.txt'"):
        load_examples(read_suite_file(_suite(tmp_path, 'path = "rows.txt"')))
    with pytest.raises(SuiteError, match=r"unknown key 'source\.txt_column'\. Did you mean 'source\.text_column'"):
        load_examples(read_suite_file(_suite(tmp_path, 'path = "rows.csv"\ntxt_column = "t"')))
    with pytest.raises(SuiteError, match=r"'source.columns' names task 'rating'"):
        load_examples(read_suite_file(_suite(tmp_path, 'path = "rows.csv"\ncolumns = { rating = "r" }')))


def test_describe_matches_pandas(tmp_path: Path) -> None:
    _write(tmp_path, "rows.jsonl", ROWS)
    path = _suite(tmp_path, 'path = "rows.jsonl"')
    table = describe_suite(path).set_index(["domain", "split"])
    data = load_suite_data(read_suite_file(path))
    for domain in ("a", "b"):
        for split in ("train", "test"):
            ids = {ex.text for ex in data.domains[domain].split(split)}
            frame = pd.DataFrame([r for r in ROWS if r["text"] in ids])
            row = table.loc[(domain, split)]
            assert row["n"] == len(frame)
            labels = frame["sentiment"].dropna().map(lambda v: 1 if v in ("positive", "1", 1) else 0)
            assert row["sentiment:positive"] == pytest.approx(labels.mean(), nan_ok=True)
            words = frame["text"].str.split().str.len()
            assert row["words_mean"] == pytest.approx(words.mean())
            assert row["words_p90"] == pytest.approx(words.quantile(0.9))
            stars = frame["stars"].dropna()
            assert row["stars:std"] == pytest.approx(stars.std(ddof=1), nan_ok=True)


def test_documented_example_runs(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    suite = str(REPO / "examples" / "own-table" / "suite.toml")
    assert main(["data", "describe", suite]) == 0
    assert "restaurants" in capsys.readouterr().out
    assert main(["run", suite, "--out", str(tmp_path), "-m", "majority", "-q"]) == 0
    assert "own-reviews" in capsys.readouterr().out


def test_parquet_without_pyarrow_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    (tmp_path / "rows.parquet").write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    suite = read_suite_file(_suite(tmp_path, 'path = "rows.parquet"'))
    with pytest.raises(ConfigError, match=r'rows.parquet needs pyarrow: python -m pip install -e "\.\[parquet\]"'):
        load_examples(suite)


def test_corrupt_parquet(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow", reason="Parquet tables need the 'parquet' extra (pyarrow)")
    (tmp_path / "rows.parquet").write_bytes(b"not parquet at all")
    suite = read_suite_file(_suite(tmp_path, 'path = "rows.parquet"'))
    with pytest.raises(DataError, match=r"rows.parquet: not a readable Parquet file"):
        load_examples(suite)
