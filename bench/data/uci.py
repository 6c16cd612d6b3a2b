"""``uci-sentiment``: Sentiment Labelled Sentences (Kotzias et al., KDD 2015).

Three files of 1000 sentences each, one per domain: ``amazon`` (cell phones and
accessories), ``imdb`` (movies) and ``yelp`` (restaurants). A line is
``<sentence>\\t<0|1>`` (UTF-8); 1 is positive. Some imdb lines end with spaces before
the tab; the text is stripped. Example ids are ``<file>:<line>`` (1-based).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.data.catalog import require
from bench.data.common import binary_task, check_domains, check_options
from bench.data.text import decode_text
from bench.errors import DataError
from bench.suites.types import Example

if TYPE_CHECKING:
    from bench.suites.sources import SourceContext

__all__ = ["UCI_DOMAINS", "load_uci_sentiment", "parse_labelled_lines"]

UCI_DOMAINS: dict[str, str] = {
    "amazon": "amazon_cells_labelled.txt",
    "imdb": "imdb_labelled.txt",
    "yelp": "yelp_labelled.txt",
}


def parse_labelled_lines(text: str, where: str) -> list[tuple[int, str, int]]:
    """``(line number, sentence, label)`` for each non-blank ``sentence<TAB>label`` line.

    Raises
    ------
    DataError
        For a line without a tab or with a label other than 0 or 1 (naming the line).
    """
    rows = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        sentence, tab, label = line.rstrip("\r").rpartition("\t")
        if not tab or label.strip() not in ("0", "1"):
            raise DataError(f"{where}, line {number}: expected '<sentence>\\t<0|1>', got {line[:60]!r}.")
        rows.append((number, sentence.strip(), int(label)))
    return rows


def load_uci_sentiment(context: SourceContext) -> list[Example]:
    """Source ``uci-sentiment`` (no options): one domain per file, binary sentiment."""
    check_options(context, "uci-sentiment", ())
    task = binary_task(context, "uci-sentiment")
    check_domains(context, "uci-sentiment", UCI_DOMAINS)
    examples = []
    for domain in context.suite.domains:
        name = UCI_DOMAINS[domain]
        path = require("uci-sentiment", f"uci-sentiment/{name}", context.data_dir)
        text = decode_text(path.read_bytes(), "utf-8", str(path))
        for number, sentence, label in parse_labelled_lines(text, str(path)):
            examples.append(Example(f"{name}:{number}", domain, sentence, {task.name: label}))
    return examples
