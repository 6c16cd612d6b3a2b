"""Example sources: where a suite's examples come from.

A source is a function ``(SourceContext) -> list[Example]`` registered in
:data:`SOURCES` under the name a suite's ``[source] type`` gives.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.registry import Registry
from bench.suites.splits import split_examples
from bench.suites.types import Example, Suite, SuiteData

__all__ = ["DATA_DIR_ENV", "SOURCES", "SourceContext", "default_data_dir", "load_examples", "load_suite_data"]

DATA_DIR_ENV = "XDBENCH_DATA"


@dataclass(frozen=True)
class SourceContext:
    """What a source needs to produce a suite's examples.

    Attributes
    ----------
    suite
        The suite being loaded (tasks, domains).
    options
        The suite's ``[source]`` table without ``type``.
    base_dir
        Folder of the suite's TOML file: relative paths in ``options`` start here.
    data_dir
        The user's data directory (``--data-dir``, ``$XDBENCH_DATA`` or the default).
    """

    suite: Suite
    options: Mapping[str, Any]
    base_dir: Path
    data_dir: Path


SourceLoader = Callable[[SourceContext], list[Example]]
SOURCES: Registry[SourceLoader] = Registry("example source")
"""Example sources; an entry's fact ``datasets`` names the catalogued data sets it reads
(:data:`bench.data.catalog.DATASETS`; none for generators and your own tables)."""
SOURCES.add(
    "toy-reviews",
    "bench.data.synthetic:load_toy_reviews",
    description="Synthetic product reviews in four domains with built-in shift.",
)
SOURCES.add("uci-sentiment", "bench.data.uci:load_uci_sentiment",
            description="UCI Sentiment Labelled Sentences: amazon, imdb, yelp.",
            facts={"datasets": ("uci-sentiment",)})
SOURCES.add("reviews-movies-products", "bench.data.reviews:load_reviews",
            description="Rotten Tomatoes snippets against Hu & Liu product-review sentences.",
            facts={"datasets": ("sentence_polarity", "product_reviews_1", "product_reviews_2")})
SOURCES.add("masc-genres", "bench.data.masc:load_masc_genres",
            description="MASC genres (plus webtext, abc) as fixed-length documents for language modelling.",
            facts={"datasets": ("masc_tagged", "webtext", "abc")})
SOURCES.add("mmlu", "bench.data.mmlu:load_mmlu",
            description="MMLU: 57 subjects of four-choice questions, test and dev (few-shot) splits.",
            facts={"datasets": ("mmlu",)})
SOURCES.add("table", "bench.data.table:load_table",
            description="Your own JSONL, CSV or Parquet table: text, domain and target columns.")


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
