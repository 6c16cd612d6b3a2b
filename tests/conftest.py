"""Shared fixtures: a small toy suite on disk, and the shared real-data folder."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"

TINY_SUITE = """
domains = ["books", "electronics", "movies"]

[suite]
name = "tiny-reviews"
version = "1"
description = "A small toy-reviews suite for fast tests."
protocol = "id_ood"
in_domain = ["books"]

[source]
type = "toy-reviews"
n_per_domain = {n}
seed = 0

[split]
test_fraction = 0.5
seed = 0

[[tasks]]
name = "sentiment"
kind = "classification"
choices = ["negative", "positive"]

[[tasks]]
name = "rating"
kind = "regression"
value_range = [1, 5]
"""


def write_tiny_suite(folder: Path, n: int = 60, text: str | None = None) -> Path:
    """Write the tiny suite (or ``text``) to ``folder/tiny.toml`` and return its path."""
    path = folder / "tiny.toml"
    body = TINY_SUITE.format(n=n) if text is None else text
    path.write_text(body, encoding="utf-8")
    return path


@pytest.fixture
def tiny_suite(tmp_path: Path) -> Path:
    """Path of a small toy suite (60 reviews per domain, 3 domains)."""
    return write_tiny_suite(tmp_path)


@pytest.fixture
def shared_data() -> Path:
    """The shared real-data folder; skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared real data not found at {SHARED_DATA} (CI places ../shared beside the clone)")
    return SHARED_DATA
