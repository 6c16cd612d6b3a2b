"""Example sources: where a suite's examples come from.

A source is a function ``(SourceContext) -> list[Example]`` registered in
:data:`bench.suites.sources.SOURCES` under the name a suite's ``[source] type`` gives,
with the options it takes; the built-in ones are the modules of this package.
"""

from __future__ import annotations

import os
from pathlib import Path

from bench.suites.sources import SOURCES, SourceContext
from bench.suites.splits import split_examples
from bench.suites.types import Example, Suite, SuiteData

__all__ = ["DATA_DIR_ENV", "default_data_dir", "load_examples", "load_suite_data"]

DATA_DIR_ENV = "XDBENCH_DATA"


def default_data_dir() -> Path:
    """``$XDBENCH_DATA`` if set, else the user's cache folder ``.../xdbench/data``."""
    if os.environ.get(DATA_DIR_ENV):
        return Path(os.environ[DATA_DIR_ENV]).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("xdbench")) / "data"


def load_examples(suite: Suite, *, data_dir: str | Path | None = None) -> list[Example]:
    """All examples of ``suite`` from its source, before splitting."""
    options = {k: v for k, v in suite.source.items() if k != "type"}
    base_dir = suite.path.parent if suite.path else Path.cwd()
    folder = Path(data_dir).expanduser() if data_dir else default_data_dir()
    loader = SOURCES.get(suite.source["type"])
    return loader(SourceContext(suite, options, base_dir, folder))


def load_suite_data(suite: Suite, *, data_dir: str | Path | None = None) -> SuiteData:
    """Load the suite's examples from its source and split them per domain."""
    return split_examples(suite, load_examples(suite, data_dir=data_dir))
