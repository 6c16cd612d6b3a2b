"""The real-data tests find their data through ``$XDBENCH_DATA`` (``--data-dir``'s default)
as well as ``../shared/data``, and a skip says how to enable them."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.data import DATA_DIR_ENV
from tests import conftest


def test_data_is_found_through_the_environment_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "uci-sentiment").mkdir()
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    assert conftest.data_candidates()[0] == tmp_path
    assert conftest.find_data("uci-sentiment") == tmp_path
    assert conftest.require_data("uci-sentiment") == tmp_path


def test_a_folder_lacking_the_data_falls_through_to_the_next(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    assert conftest.find_data("no-such-data-set") is None
    assert conftest.find_data() == tmp_path


def test_the_skip_reason_says_how_to_enable_the_tests(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    with pytest.raises(pytest.skip.Exception, match=f"not found in {tmp_path} or .*: set {DATA_DIR_ENV}="):
        conftest.require_data("no-such-data-set")
