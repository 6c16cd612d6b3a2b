"""Fixtures for the data tests: the shared public data sets beside the repository."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``<repo>/../shared/data``, or skip: the real-data tests need the public data sets there."""
    if not (SHARED_DATA / "uci-sentiment").is_dir() or not (SHARED_DATA / "nltk_data" / "corpora").is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA} (CI provides it beside the clone); "
                    "real-data tests need uci-sentiment/ and nltk_data/corpora/ there")
    return SHARED_DATA
