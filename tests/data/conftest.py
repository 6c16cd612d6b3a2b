"""Fixtures for the data tests: the shared public data sets beside the repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import SHARED_DATA


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``<repo>/../shared/data`` (session-wide), or skip: real-data tests need the public data sets there."""
    if not (SHARED_DATA / "uci-sentiment").is_dir() or not (SHARED_DATA / "nltk_data" / "corpora").is_dir():
        pytest.skip(f"shared real data not found at {SHARED_DATA} (CI places ../shared beside the clone); "
                    "the real-data tests need uci-sentiment/ and nltk_data/corpora/ there")
    return SHARED_DATA
