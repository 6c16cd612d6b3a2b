"""Shared fixtures: a small toy suite on disk, and the real-data folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.data import DATA_DIR_ENV

REPO = Path(__file__).resolve().parent.parent

ENABLE_DATA = (f"set {DATA_DIR_ENV}=/path/to/data (a folder filled by 'bench data download NAME', as for "
               "--data-dir) or place the data at ../shared/data beside the clone")
"""How to enable the real-data tests; every skip for missing data says it."""


def data_candidates() -> list[Path]:
    """Where the real-data tests look, in order: ``$XDBENCH_DATA`` (the variable behind
    ``--data-dir``'s default), then ``<repo>/../shared/data``."""
    env = os.environ.get(DATA_DIR_ENV)
    return [*([Path(env).expanduser()] if env else []), REPO.parent / "shared" / "data"]


def find_data(*needed: str) -> Path | None:
    """The first candidate folder holding every path in ``needed`` (``"mmlu/test"``), or ``None``."""
    return next((c for c in data_candidates() if c.is_dir() and all((c / n).exists() for n in needed)), None)


def require_data(*needed: str) -> Path:
    """:func:`find_data`, or skip the test with a reason that says how to enable it."""
    found = find_data(*needed)
    if found is None:
        where = " or ".join(str(c) for c in data_candidates())
        pytest.skip(f"real data ({', '.join(needed) or 'the data folder'}) not found in {where}: {ENABLE_DATA}")
    return found


SHARED_DATA = find_data() or REPO.parent / "shared" / "data"
"""The real-data folder (see :func:`data_candidates`), for modules that read it at import."""

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
    """The real-data folder (``$XDBENCH_DATA`` or ``../shared/data``); skips, saying how to enable it, when absent."""
    return require_data()
