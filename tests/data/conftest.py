"""Fixtures for the data tests: the public data sets in ``$XDBENCH_DATA`` or ``../shared/data``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import require_data


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real-data folder holding ``uci-sentiment/`` and ``nltk_data/corpora/`` (session-wide), or skip
    with a reason that says how to enable the real-data tests."""
    return require_data("uci-sentiment", "nltk_data/corpora")
