"""Suites: task × domain data sets declared in TOML, their loading and their protocols.

Bundled suites live in the repository's top-level ``suites/*.toml``; the wheel ships them
as ``bench/suites/bundled/*.toml`` (see setup.py). They are registered under their
``suite.name``. A user's own suite is any TOML file path.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from bench.registry import Registry
from bench.suites.info import TaskInfo
from bench.suites.loader import parse_suite, read_suite_file
from bench.suites.protocols import PROTOCOLS, Fold, plan_folds
from bench.suites.splits import split_examples
from bench.suites.types import (
    SPLITS,
    TASK_KINDS,
    DomainData,
    Example,
    SplitRule,
    Suite,
    SuiteData,
    Task,
)

__all__ = [
    "BUNDLED_DIR",
    "DEFAULT_SUITE",
    "PROTOCOLS",
    "SPLITS",
    "SUITES",
    "TASK_KINDS",
    "DomainData",
    "Example",
    "Fold",
    "SplitRule",
    "Suite",
    "SuiteData",
    "Task",
    "TaskInfo",
    "load_suite",
    "parse_suite",
    "plan_folds",
    "read_suite_file",
    "split_examples",
]

def _bundled_dir() -> Path:
    """``bench/suites/bundled`` in an installed wheel, else ``<repository>/suites``."""
    installed = Path(__file__).parent / "bundled"
    return installed if any(installed.glob("*.toml")) else Path(__file__).resolve().parents[2] / "suites"


BUNDLED_DIR = _bundled_dir()
"""The folder of the bundled suite definitions (``*.toml``)."""
SUITES: Registry[Path] = Registry("suite")
DEFAULT_SUITE = "toy-reviews"
"""The suite ``bench run`` and ``bench mitigations`` run when none is named (built in, no data to fetch)."""


def _register_bundled() -> None:
    for path in sorted(BUNDLED_DIR.glob("*.toml")):
        head = tomllib.loads(path.read_text(encoding="utf-8")).get("suite", {})
        SUITES.add(head["name"], path, description=head.get("description", "").strip().splitlines()[0])


def load_suite(name_or_path: str | Path) -> Suite:
    """The suite registered as ``name_or_path``, or defined in the TOML file at that path.

    Raises
    ------
    UnknownNameError
        If it is neither a registered name nor an existing ``.toml`` file.
    SuiteError
        If the file is invalid.
    """
    text = str(name_or_path)
    if text.endswith(".toml") or Path(text).is_file():
        return read_suite_file(text)
    return read_suite_file(SUITES.get(text))


_register_bundled()
