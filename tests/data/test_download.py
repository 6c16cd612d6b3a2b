"""Downloads against a local HTTP server on 127.0.0.1 that serves the shared data."""

from __future__ import annotations

import hashlib
import http.server
import os
import shutil
import threading
import time
import zipfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from bench.cli import main
from bench.data.catalog import DATASETS, sha256_file
from bench.data.download import MIRROR_ENV, DownloadError, download_dataset
from bench.data.status import resolve_datasets
from bench.errors import ChecksumError, UnknownNameError

UCI_NAMES = ("amazon_cells_labelled.txt", "imdb_labelled.txt", "yelp_labelled.txt")


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves files; ``/drop/...`` announces the full length and closes halfway; ``/stall/...`` never sends."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.startswith("/drop/"):
            body = Path(self.translate_path(self.path.removeprefix("/drop"))).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        if self.path.startswith("/stall/"):
            time.sleep(3)
            return
        super().do_GET()


@pytest.fixture(scope="module")
def mirror(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a server whose root mirrors the catalog's ``mirror_path`` layout.

    ``nltk_data`` links to the shared copy; the UCI zip is built from the shared files in
    the layout of the original archive; ``bad/`` holds corrupted copies.
    """
    root = tmp_path_factory.mktemp("mirror")
    (root / "nltk_data").symlink_to(shared_data / "nltk_data")
    (root / "uci-sentiment").mkdir()
    with zipfile.ZipFile(root / "uci-sentiment" / "sentiment+labelled+sentences.zip", "w") as archive:
        for name in UCI_NAMES:
            archive.write(shared_data / "uci-sentiment" / name, f"sentiment labelled sentences/{name}")
        archive.writestr("sentiment labelled sentences/readme.txt", "readme")
    bad = root / "bad" / "nltk_data" / "corpora"
    bad.mkdir(parents=True)
    data = bytearray((shared_data / "nltk_data/corpora/sentence_polarity.zip").read_bytes())
    data[1000] ^= 0xFF
    (bad / "sentence_polarity.zip").write_bytes(bytes(data))
    (root / "bad" / "uci-sentiment").mkdir()
    with zipfile.ZipFile(root / "bad" / "uci-sentiment" / "sentiment+labelled+sentences.zip", "w") as archive:
        for name in UCI_NAMES:
            text = (shared_data / "uci-sentiment" / name).read_bytes()
            archive.writestr(f"sentiment labelled sentences/{name}", text.replace(b"\t1\n", b"\t0\n", 1))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _all_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*")) if folder.exists() else []


def test_download_nltk_corpus_verifies_and_writes(mirror: str, tmp_path: Path) -> None:
    report = download_dataset("sentence_polarity", tmp_path, base_url=mirror)
    target = tmp_path / "nltk_data/corpora/sentence_polarity.zip"
    assert report.written == (target,)
    assert hashlib.sha256(target.read_bytes()).hexdigest() == DATASETS.get("sentence_polarity").files[0].sha256
    assert [p.name for p in _all_files(tmp_path) if p.is_file()] == ["sentence_polarity.zip"]
    again = download_dataset("sentence_polarity", tmp_path, base_url=mirror)
    assert again.written == () and again.present == (target,)


def test_download_uci_extracts_members_from_the_zip(mirror: str, tmp_path: Path, shared_data: Path) -> None:
    download_dataset("uci-sentiment", tmp_path, base_url=mirror)
    files = [p for p in _all_files(tmp_path) if p.is_file()]
    assert sorted(p.name for p in files) == sorted(UCI_NAMES)  # no zip, readme or temporary left
    for name in UCI_NAMES:
        assert sha256_file(tmp_path / "uci-sentiment" / name) == sha256_file(shared_data / "uci-sentiment" / name)


def test_mirror_from_environment(mirror: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MIRROR_ENV, mirror)
    download_dataset("product_reviews_1", tmp_path)
    assert (tmp_path / "nltk_data/corpora/product_reviews_1.zip").is_file()


def test_corrupted_download_is_rejected_and_nothing_is_left(mirror: str, tmp_path: Path) -> None:
    with pytest.raises(ChecksumError, match=r"SHA-256 of .*sentence_polarity.zip is [0-9a-f]{64}, expected 6e1ed44"):
        download_dataset("sentence_polarity", tmp_path, base_url=f"{mirror}/bad")
    assert _all_files(tmp_path) == []


def test_corrupted_archive_member_is_rejected_and_nothing_is_left(mirror: str, tmp_path: Path) -> None:
    with pytest.raises(ChecksumError, match=r"SHA-256 of 'sentiment labelled sentences/amazon_cells_labelled.txt'"):
        download_dataset("uci-sentiment", tmp_path, base_url=f"{mirror}/bad")
    assert _all_files(tmp_path) == []


def test_dropped_connection_is_an_error_and_nothing_is_left(mirror: str, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=r"connection dropped after \d+ of 490256 bytes"):
        download_dataset("sentence_polarity", tmp_path, base_url=f"{mirror}/drop")
    assert _all_files(tmp_path) == []


def test_timeout_is_an_error(mirror: str, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=r"timeout|timed out"):
        download_dataset("abc", tmp_path, base_url=f"{mirror}/stall", timeout=0.5)
    assert _all_files(tmp_path) == []


def test_http_error_and_refused_connection(mirror: str, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=r"HTTP 404"):
        download_dataset("webtext", tmp_path, base_url=f"{mirror}/nowhere")
    with pytest.raises(DownloadError, match=r"Download of http://127.0.0.1:9/nltk_data/corpora/webtext.zip failed"):
        download_dataset("webtext", tmp_path, base_url="http://127.0.0.1:9", timeout=2)
    assert _all_files(tmp_path) == []


def test_corrupt_file_in_place_is_replaced(mirror: str, tmp_path: Path) -> None:
    target = tmp_path / "nltk_data/corpora/abc.zip"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"not the corpus")
    download_dataset("abc", tmp_path, base_url=mirror)
    assert sha256_file(target) == DATASETS.get("abc").files[0].sha256


def test_names_resolve_to_data_sets() -> None:
    assert resolve_datasets("masc-genres") == ("masc_tagged", "webtext", "abc")
    assert resolve_datasets("abc") == ("abc",)
    with pytest.raises(UnknownNameError, match=r"Unknown data set or data-backed suite 'masc'.*masc_tagged"):
        resolve_datasets("masc")
    with pytest.raises(UnknownNameError, match=r"'toy-reviews'"):
        resolve_datasets("toy-reviews")  # generated, no files


def test_cli_download_a_suite_then_check(mirror: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = str(tmp_path)
    assert main(["data", "download", "reviews-movies-products", "--data-dir", folder, "--base-url", mirror, "-q"]) == 0
    out = capsys.readouterr().out
    assert out.count("downloaded") == 3
    assert main(["data", "check", "reviews-movies-products", "--data-dir", folder]) == 0
    assert main(["data", "check", "--data-dir", folder]) == 1  # the other suites' files are missing
    shutil.copy(tmp_path / "nltk_data/corpora/product_reviews_1.zip", tmp_path / "nltk_data/corpora/product_reviews_2.zip")
    os.utime(tmp_path / "nltk_data/corpora/product_reviews_2.zip", (1, 1))
    assert main(["data", "check", "reviews-movies-products", "--data-dir", folder]) == 1
    assert "CHECKSUM MISMATCH" in capsys.readouterr().out
