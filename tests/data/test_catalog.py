"""The catalog of public data sets: checksums, file lookup, missing and corrupt files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench.cli import main
from bench.data.catalog import DATASETS, datasets_for_source, locate, require, sha256_file
from bench.data.status import data_status
from bench.errors import ChecksumError, MissingDataError
from bench.suites import SUITES, load_suite


def _sums(folder: Path) -> dict[str, str]:
    lines = (folder / "SHA256SUMS").read_text().splitlines()
    return {name.strip(): digest for digest, name in (line.split(None, 1) for line in lines if line.strip())}


def test_catalog_checksums_match_the_published_sums(shared_data: Path) -> None:
    published = {f"uci-sentiment/{k}": v for k, v in _sums(shared_data / "uci-sentiment").items()}
    published |= {f"nltk_data/{k}": v for k, v in _sums(shared_data / "nltk_data").items()}
    published |= {f"mmlu/{k}": v for k, v in _sums(shared_data / "mmlu").items()}
    for dataset in DATASETS.entries():
        for item in dataset.resolve().files:
            assert published[item.path] == item.sha256
            assert sha256_file(shared_data / item.path) == item.sha256


def test_every_data_backed_suite_names_catalogued_data_sets() -> None:
    for name in SUITES.names():
        for dataset in datasets_for_source(load_suite(name).source["type"]):
            assert dataset in DATASETS


def test_require_finds_and_verifies(shared_data: Path) -> None:
    path = require("masc_tagged", "nltk_data/corpora/masc_tagged.zip", shared_data)
    assert path == shared_data / "nltk_data/corpora/masc_tagged.zip"


def test_nltk_data_folder_layout_is_accepted(shared_data: Path, tmp_path: Path) -> None:
    (tmp_path / "corpora").mkdir()
    (tmp_path / "corpora" / "abc.zip").symlink_to(shared_data / "nltk_data/corpora/abc.zip")
    item = DATASETS.get("abc").files[0]
    assert locate(item, tmp_path) == tmp_path / "corpora" / "abc.zip"
    assert require("abc", item.path, tmp_path) == tmp_path / "corpora" / "abc.zip"


def test_missing_file_says_which_where_and_how(tmp_path: Path) -> None:
    with pytest.raises(MissingDataError, match=(
            r"Data file 'yelp_labelled.txt' of data set 'uci-sentiment' is missing\. "
            r"Looked in: .*uci-sentiment/yelp_labelled.txt, .*sentiment labelled sentences/yelp_labelled.txt\. "
            r"Get it with `bench data download uci-sentiment --data-dir .*` \(from https://archive.ics.uci.edu/")):
        require("uci-sentiment", "uci-sentiment/yelp_labelled.txt", tmp_path)


def test_checksum_mismatch_is_an_error(shared_data: Path, tmp_path: Path) -> None:
    target = tmp_path / "uci-sentiment" / "imdb_labelled.txt"
    target.parent.mkdir()
    shutil.copy(shared_data / "uci-sentiment" / "imdb_labelled.txt", target)
    with target.open("ab") as handle:
        handle.write(b"one more line\t1\n")
    with pytest.raises(ChecksumError, match=r"imdb_labelled.txt of data set 'uci-sentiment' has SHA-256 [0-9a-f]{64}, "
                                            r"expected aef2e49e.*bench data download uci-sentiment"):
        require("uci-sentiment", "uci-sentiment/imdb_labelled.txt", tmp_path)
    states = {row.path.name: row.state for row in data_status(tmp_path) if row.dataset == "uci-sentiment"}
    assert states == {"imdb_labelled.txt": "checksum mismatch", "amazon_cells_labelled.txt": "missing",
                      "yelp_labelled.txt": "missing"}


def test_cli_list_and_check(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "list", "--data-dir", str(shared_data)]) == 0
    out = capsys.readouterr().out
    assert "masc-genres" in out and "uci-sentiment" in out and "missing" not in out
    assert main(["data", "check", "--data-dir", str(shared_data)]) == 0
    assert "all 123 file(s) verified" in capsys.readouterr().out  # 9 + MMLU 57 subjects × (test, dev)
