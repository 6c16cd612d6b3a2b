"""The example sources a suite's ``[source] type`` names, each with the options it takes.

A source is a function ``(SourceContext) -> list[Example]`` registered in :data:`SOURCES`.
The built-in ones live in :mod:`bench.data` and are registered here by name
(``"bench.data.synthetic:load_toy_reviews"``: nothing is imported until a suite loads
its examples), so that the suite schema can check a ``[source]`` table against the
entry's facts before anything is loaded:

``options``
    A :class:`~bench.suites.rules.Table` of the keys the ``[source]`` table may hold
    besides ``type`` (:func:`bench.suites.schema.check_source_options`). A source without
    it (a plugin's) checks its options itself.
``datasets``
    The catalogued data sets it reads (:data:`bench.data.catalog.DATASETS`; none for
    generators and your own tables).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.registry import Registry
from bench.suites.rules import MAX_CHOICES, MAX_SEED, Bool, Either, Int, Key, List, Map, Number, Str, Table
from bench.suites.types import Example, Suite

__all__ = ["MAX_N_PER_DOMAIN", "SOURCES", "SourceContext", "SourceLoader", "source_options"]

MAX_N_PER_DOMAIN = 100_000
"""The most examples a generator makes per domain."""
MAX_COLUMNS = 100
MAX_TEMPLATE_CHARS = 20_000


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
"""Example sources; each entry's facts are ``options`` and ``datasets`` (see the module docstring)."""

_NAME = Str()
_FRACTION = Number(0.0, 1.0)
_COUNT = Int(2, 10**9)

SOURCES.add(
    "toy-reviews", "bench.data.synthetic:load_toy_reviews",
    description="Synthetic product reviews in four domains with built-in shift.",
    facts={"options": Table({
        "n_per_domain": Key(Int(1, MAX_N_PER_DOMAIN), doc="reviews generated per domain"),
        "seed": Key(Int(0, MAX_SEED), doc="generator seed"),
        "label_shift": Key(Number(0.0, 0.5), doc="positive-rate shift of out-of-domain domains"),
        "shared_rate": Key(_FRACTION, doc="chance a sentiment word is shared across domains"),
        "contrast_rate": Key(_FRACTION, doc="chance of a contrast clause"),
    })})
SOURCES.add("uci-sentiment", "bench.data.uci:load_uci_sentiment",
            description="UCI Sentiment Labelled Sentences: amazon, imdb, yelp.",
            facts={"options": Table({}), "datasets": ("uci-sentiment",)})
SOURCES.add("reviews-movies-products", "bench.data.reviews:load_reviews",
            description="Rotten Tomatoes snippets against Hu & Liu product-review sentences.",
            facts={"options": Table({
                "split_products": Key(Bool(), doc="one domain per product"),
                "max_examples": Key(Either((_COUNT, Map(_COUNT))), doc="cap per domain"),
            }), "datasets": ("sentence_polarity", "product_reviews_1", "product_reviews_2")})
SOURCES.add("masc-genres", "bench.data.masc:load_masc_genres",
            description="MASC genres (plus webtext, abc) as fixed-length documents for language modelling.",
            facts={"options": Table({
                "doc_tokens": Key(Int(1, 1_000_000), doc="words per document"),
                "max_test_docs": Key(Int(1, 10**9), doc="test documents per genre"),
                "max_train_docs": Key(Int(1, 10**9), doc="train documents per genre"),
            }), "datasets": ("masc_tagged", "webtext", "abc")})
SOURCES.add("mmlu", "bench.data.mmlu:load_mmlu",
            description="MMLU: 57 subjects of four-choice questions, test and dev (few-shot) splits.",
            facts={"options": Table({}), "datasets": ("mmlu",)})
SOURCES.add("table", "bench.data.table:load_table",
            description="Your own JSONL, CSV or Parquet table: text, domain and target columns.",
            facts={"options": Table({
                "path": Key(Str(max_chars=4096), required=True, doc="the table file, relative to the suite file"),
                "format": Key(Str(choices=("jsonl", "csv", "tsv", "parquet")), doc="file format"),
                "text_column": Key(_NAME, doc="column holding the text"),
                "domain_column": Key(_NAME, doc="column holding the domain"),
                "columns": Key(Map(_NAME, max_len=MAX_COLUMNS), doc="{task = column}"),
                "split_column": Key(_NAME, doc="column with train/test"),
                "id_column": Key(_NAME, doc="column with unique ids"),
                "encoding": Key(Str(max_chars=40), doc="text encoding"),
                "text_template": Key(Str(max_chars=MAX_TEMPLATE_CHARS),
                                     doc="text built from several columns, e.g. \"{title}\\n{text}\""),
                "option_columns": Key(List(_NAME, min_len=2, max_len=MAX_CHOICES),
                                      doc="one column per option (multiple choice)"),
                "reference_columns": Key(List(_NAME, min_len=1, max_len=MAX_CHOICES),
                                         doc="columns of reference answers (generation); empty cells skipped"),
            }, exclusive=(("text_column", "text_template"),))})


def source_options(source_type: str) -> Table | None:
    """The ``options`` table of the source ``source_type`` (``None``: unknown, or it declares none)."""
    if source_type not in SOURCES:
        return None
    options = SOURCES.entry(source_type).facts.get("options")
    return options if isinstance(options, Table) else None
