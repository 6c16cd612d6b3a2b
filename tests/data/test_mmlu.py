"""The MMLU loader: both layouts, checksums, categories, and the download of data.tar."""

from __future__ import annotations

import csv
import hashlib
import http.server
import io
import tarfile
import threading
from collections import Counter
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from bench.data import load_examples
from bench.data.catalog import DATASETS, _clear_cache, require
from bench.data.download import download_dataset
from bench.data.mmlu import CATEGORIES, HEADER, SUBJECTS, parse_mmlu_csv, to_catalogued
from bench.errors import ChecksumError, DataError, SuiteError
from bench.suites import load_suite, parse_suite

TWO_SUBJECTS = """
[suite]
name = "mmlu-two"
protocol = "zero_shot"
[source]
type = "mmlu"
[[tasks]]
name = "mmlu"
kind = "multiple_choice"
[[domains]]
name = "abstract_algebra"
[[domains]]
name = "world_religions"
"""


def _original(raw: bytes) -> bytes:
    """A catalogued MMLU file back in the authors' layout: no header, answer letter."""
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8"), newline="")))
    assert rows[0] == HEADER
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    for row in rows[1:]:
        writer.writerow([*row[:5], "ABCD"[int(row[5])]])
    return out.getvalue().encode("utf-8")


@pytest.fixture(scope="module")
def mmlu_dir(shared_data: Path) -> Path:
    if not (shared_data / "mmlu" / "test").is_dir():
        pytest.skip(f"MMLU not found at {shared_data / 'mmlu'}")
    return shared_data / "mmlu"


def test_catalogued_sums_are_the_shared_copys(mmlu_dir: Path) -> None:
    files = DATASETS.get("mmlu").files
    assert len(files) == 114
    for item in files:
        assert hashlib.sha256((mmlu_dir.parent / item.path).read_bytes()).hexdigest() == item.sha256


def test_conversion_from_the_original_layout_is_exact(mmlu_dir: Path) -> None:
    for path in sorted(mmlu_dir.glob("*/*.csv")):
        raw = path.read_bytes()
        assert to_catalogued(_original(raw)) == raw, path.name
        assert to_catalogued(raw) == raw


def test_counts_none_options_and_fields_as_text(mmlu_dir: Path) -> None:
    rows = {split: [r for p in sorted((mmlu_dir / split).glob("*.csv")) for r in parse_mmlu_csv(p.read_bytes(), str(p))]
            for split in ("test", "dev")}
    assert (len(rows["test"]), len(rows["dev"])) == (14_042, 285)
    assert sum(option == "None" for _, options, _ in rows["test"] + rows["dev"] for option in options) == 10
    assert Counter(answer for *_, answer in rows["test"]).keys() == {0, 1, 2, 3}


def test_categories_follow_the_authors_mapping() -> None:
    assert len(SUBJECTS) == 57
    assert Counter(SUBJECTS.values()) == {"STEM": 18, "humanities": 13, "social sciences": 12, "other": 14}
    assert SUBJECTS["abstract_algebra"] == "STEM" and SUBJECTS["jurisprudence"] == "humanities"
    assert SUBJECTS["econometrics"] == "social sciences" and SUBJECTS["virology"] == "other"
    assert set(CATEGORIES) == {"STEM", "humanities", "social sciences", "other"}
    suite = load_suite("mmlu")
    assert dict(suite.domain_groups) == SUBJECTS and suite.domains == tuple(SUBJECTS)


def test_loader_reads_both_layouts_alike(mmlu_dir: Path, tmp_path: Path) -> None:
    suite = parse_suite(__import__("tomllib").loads(TWO_SUBJECTS))
    catalogued = load_examples(suite, data_dir=mmlu_dir.parent)
    for split in ("test", "dev"):
        (tmp_path / "data" / split).mkdir(parents=True)
        for subject in suite.domains:
            name = f"{subject}_{split}.csv"
            (tmp_path / "data" / split / name).write_bytes(_original((mmlu_dir / split / name).read_bytes()))
    original = load_examples(suite, data_dir=tmp_path)
    assert [(e.id, e.text, e.options, dict(e.targets), e.split, dict(e.fields)) for e in original] == \
        [(e.id, e.text, e.options, dict(e.targets), e.split, dict(e.fields)) for e in catalogued]
    first = catalogued[0]
    assert first.id == "abstract_algebra/test:1" and first.split == "test"
    assert first.fields["subject"] == "abstract algebra" and first.text == first.fields["question"].strip()
    assert sum(e.split == "dev" for e in catalogued) == 10


def test_corrupt_original_file_is_a_checksum_error(mmlu_dir: Path, tmp_path: Path) -> None:
    _clear_cache()
    target = tmp_path / "data" / "test" / "anatomy_test.csv"
    target.parent.mkdir(parents=True)
    target.write_bytes(_original((mmlu_dir / "test" / "anatomy_test.csv").read_bytes()).replace(b",A\n", b",B\n", 1))
    with pytest.raises(ChecksumError, match=r"anatomy_test.csv of data set 'mmlu' has SHA-256"):
        require("mmlu", "mmlu/test/anatomy_test.csv", tmp_path)


def test_bad_rows_name_the_row() -> None:
    with pytest.raises(DataError, match=r"f.csv, row 2: expected 6 fields"):
        parse_mmlu_csv(b"q,a,b,c,d,A\nq,a,b\n", "f.csv")
    with pytest.raises(DataError, match=r"f.csv, row 1: the answer must be a letter A-D, got 'E'"):
        parse_mmlu_csv(b"q,a,b,c,d,E\n", "f.csv")


def test_source_needs_one_multiple_choice_task() -> None:
    text = TWO_SUBJECTS.replace('kind = "multiple_choice"', 'kind = "classification"\nchoices = ["a", "b"]')
    suite = parse_suite(__import__("tomllib").loads(text))
    with pytest.raises(SuiteError, match=r"Source 'mmlu' fills one multiple_choice task"):
        load_examples(suite, data_dir=".")


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def tar_mirror(mmlu_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server with ``mmlu/data.tar`` in the authors' layout (built from the shared copy),
    and ``bad/mmlu/data.tar`` with one answer changed."""
    root = tmp_path_factory.mktemp("mmlu-mirror")
    for folder, corrupt in ((root / "mmlu", False), (root / "bad" / "mmlu", True)):
        folder.mkdir(parents=True)
        with tarfile.open(folder / "data.tar", "w") as archive:
            for path in sorted(mmlu_dir.glob("*/*.csv")):
                body = _original(path.read_bytes())
                if corrupt and path.name == "virology_test.csv":
                    body = body.replace(b",A\n", b",C\n", 1)
                info = tarfile.TarInfo(f"data/{path.parent.name}/{path.name}")
                info.size = len(body)
                archive.addfile(info, io.BytesIO(body))
            extra = tarfile.TarInfo("data/val/README")
            extra.size = 2
            archive.addfile(extra, io.BytesIO(b"hi"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_download_extracts_converts_and_verifies_every_member(tar_mirror: str, tmp_path: Path,
                                                              mmlu_dir: Path) -> None:
    report = download_dataset("mmlu", tmp_path, base_url=tar_mirror, timeout=10)
    assert len(report.written) == 114
    for item in DATASETS.get("mmlu").files:
        assert (tmp_path / item.path).read_bytes() == (mmlu_dir.parent / item.path).read_bytes()
    assert not list(tmp_path.rglob("*.part")) and not (tmp_path / "mmlu" / "data.tar").exists()


def test_download_with_a_corrupt_member_writes_nothing(tar_mirror: str, tmp_path: Path) -> None:
    with pytest.raises(ChecksumError, match=r"'data/test/virology_test.csv' of .*data.tar is .*Nothing was written"):
        download_dataset("mmlu", tmp_path, base_url=f"{tar_mirror}/bad", timeout=10)
    assert list(tmp_path.rglob("*")) == []
