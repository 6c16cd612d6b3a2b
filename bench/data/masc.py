"""``masc-genres``: language modelling over the genres of MASC, plus webtext and abc.

Domains:

- the 20 MASC genres of ``masc_tagged/categories.txt`` (``blog``, ``email``, ``essays``,
  ``fiction``, ``newspaper``, ``technical``, ``twitter``, ``telephone``, ...). Files are
  UTF-8, one sentence a line, tokens ``word_TAG``; the tag (after the last ``_``) is
  stripped. Three files that ``categories.txt`` does not list are not used.
- :data:`EXTRA_DOMAINS`: the NLTK ``webtext`` files (ISO-8859-2, the encoding NLTK's
  reader documents) and ``abc`` (rural news UTF-8, science news latin-1).

Tokens are whitespace-separated words (MASC's own tokenisation for MASC). Each domain's
files are ordered by ``sha256(seed, file)`` and concatenated into one token stream;
the first ``round((1 - test_fraction) * N)`` tokens are the train split and the rest the
test split (a contiguous split, so held-out text shares at most one file with the
training text). Each split is cut into documents of exactly ``doc_tokens`` tokens (the
shorter tail is dropped); a document keeps the line breaks of its source and joins
words with single spaces. A document's id is ``<zip member>@<token offset>`` of its
first token. ``max_test_docs`` keeps that many test documents per domain (those with
the smallest ``sha256(seed, id)``) to bound the cost of a run.

Options: ``doc_tokens`` (default 256), ``max_test_docs`` (default: all),
``max_train_docs`` (default: all; same selection rule).
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.data.catalog import require
from bench.data.common import check_domains, check_options
from bench.data.text import read_member
from bench.errors import DataError, SuiteError
from bench.suites.types import Example

if TYPE_CHECKING:
    from bench.suites.sources import SourceContext

__all__ = ["EXTRA_DOMAINS", "load_masc_genres", "masc_categories", "strip_tags"]

EXTRA_DOMAINS: dict[str, tuple[str, tuple[str, ...], str]] = {
    # domain: (corpus, members, encoding)
    "webtext-firefox": ("webtext", ("webtext/firefox.txt",), "ISO-8859-2"),
    "webtext-overheard": ("webtext", ("webtext/overheard.txt",), "ISO-8859-2"),
    "webtext-movie-scripts": ("webtext", ("webtext/grail.txt", "webtext/pirates.txt"), "ISO-8859-2"),
    "webtext-singles": ("webtext", ("webtext/singles.txt",), "ISO-8859-2"),
    "webtext-wine": ("webtext", ("webtext/wine.txt",), "ISO-8859-2"),
    "abc-rural": ("abc", ("abc/rural.txt",), "utf-8"),
    "abc-science": ("abc", ("abc/science.txt",), "latin-1"),
}
_OPTIONS = ("doc_tokens", "max_test_docs", "max_train_docs")


@dataclass
class _Stream:
    """A domain's tokens in order: words, whether each ends a line, and where files start."""

    words: list[str] = field(default_factory=list)
    line_ends: list[bool] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)
    members: list[str] = field(default_factory=list)

    def add(self, member: str, text: str, tagged: bool) -> None:
        self.starts.append(len(self.words))
        self.members.append(member)
        for line in text.replace("\r\n", "\n").split("\n"):
            words = strip_tags(line) if tagged else line.split()
            self.words += words
            self.line_ends += [False] * (len(words) - 1) + [True] * bool(words)

    def origin(self, position: int) -> str:
        """``<member>@<offset>`` of the token at ``position``."""
        k = bisect.bisect_right(self.starts, position) - 1
        return f"{self.members[k]}@{position - self.starts[k]}"


def strip_tags(line: str) -> list[str]:
    """Words of a MASC line ``word_TAG word_TAG ...`` without their tags."""
    words = []
    for token in line.split():
        word, sep, tag = token.rpartition("_")
        word = word if sep and tag else token
        if word:
            words.append(word)
    return words


def masc_categories(path: Path) -> dict[str, list[str]]:
    """Genre → zip members, from ``masc_tagged/categories.txt``."""
    genres: dict[str, list[str]] = {}
    text = read_member(path, "masc_tagged/categories.txt", "utf-8")
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        parts = line.rsplit(None, 1)
        if len(parts) != 2:
            raise DataError(f"{path}:masc_tagged/categories.txt, line {number}: expected '<file> <genre>'.")
        genres.setdefault(parts[1], []).append(f"masc_tagged/{parts[0]}")
    return genres


def _order(seed: int, key: str) -> bytes:
    return hashlib.sha256(f"{seed}\x00{key}".encode()).digest()


def _documents(domain: str, stream: _Stream, begin: int, end: int, size: int, split: str) -> list[Example]:
    documents = []
    for start in range(begin, end - size + 1, size):
        text = "".join(w + ("\n" if e else " ") for w, e in zip(stream.words[start : start + size],
                                                              stream.line_ends[start : start + size], strict=True))
        documents.append(Example(stream.origin(start), domain, text.strip(), {}, split))
    return documents


def _cap(documents: list[Example], limit: int | None, seed: int) -> list[Example]:
    if limit is None or len(documents) <= limit:
        return documents
    keep = {ex.id for ex in sorted(documents, key=lambda ex: _order(seed, ex.id))[:limit]}
    return [ex for ex in documents if ex.id in keep]


def _domain_sources(context: SourceContext, domain: str, genres: dict[str, list[str]] | None) -> Iterable[tuple[Path, str, str, bool]]:
    """``(zip path, member, encoding, tagged)`` for each file of ``domain``."""
    if domain in EXTRA_DOMAINS:
        corpus, members, encoding = EXTRA_DOMAINS[domain]
        path = require(corpus, f"nltk_data/corpora/{corpus}.zip", context.data_dir)
        return [(path, member, encoding, False) for member in members]
    path = require("masc_tagged", "nltk_data/corpora/masc_tagged.zip", context.data_dir)
    return [(path, member, "utf-8", True) for member in (genres or {})[domain]]


def _positive_int(options: dict[str, Any], key: str, default: int | None) -> int | None:
    value = options.get(key, default)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise SuiteError(f"Source 'masc-genres': '{key}' must be a positive integer, got {value!r}.")
    return value


def load_masc_genres(context: SourceContext) -> list[Example]:
    """Source ``masc-genres``: held-out documents of ``doc_tokens`` words per genre."""
    options = check_options(context, "masc-genres", _OPTIONS)
    size = _positive_int(options, "doc_tokens", 256) or 256
    caps = {"test": _positive_int(options, "max_test_docs", None), "train": _positive_int(options, "max_train_docs", None)}
    genres = None
    if any(d not in EXTRA_DOMAINS for d in context.suite.domains):
        genres = masc_categories(require("masc_tagged", "nltk_data/corpora/masc_tagged.zip", context.data_dir))
    check_domains(context, "masc-genres", [*(genres or {}), *EXTRA_DOMAINS])
    rule = context.suite.split
    examples: list[Example] = []
    for domain in context.suite.domains:
        sources = sorted(_domain_sources(context, domain, genres), key=lambda s: _order(rule.seed, s[1]))
        stream = _Stream()
        for path, member, encoding, tagged in sources:
            stream.add(member, read_member(path, member, encoding), tagged)
        total = len(stream.words)
        cut = round((1 - rule.test_fraction) * total)
        for split, begin, end in (("train", 0, cut), ("test", cut, total)):
            documents = _documents(domain, stream, begin, end, size, split)
            if not documents:
                raise DataError(
                    f"Source 'masc-genres': domain {domain!r} has {total} tokens, too few for one "
                    f"{split} document of {size} tokens (test_fraction {rule.test_fraction}). "
                    "Lower 'doc_tokens' or drop the domain."
                )
            examples += _cap(documents, caps[split], rule.seed)
    return examples
