"""``reviews-movies-products``: movie snippets against product-review sentences.

- ``movies``: the 10,662 Rotten Tomatoes snippets of ``sentence_polarity``
  (``rt-polarity.pos`` / ``.neg``, one snippet a line). The NLTK package's README says
  its text was converted from ISO-8859-1 to UTF-8, so it is decoded as UTF-8.
- ``products``: the Hu & Liu customer-review sentences of ``product_reviews_1`` (5
  products) and ``product_reviews_2`` (9 products), UTF-8. A line is
  ``feature[+2],other[-1]##the sentence .``; ``[t]`` starts a review title (skipped).
  A sentence's label is the sign of the sum of its ``[±n]`` aspect scores: positive if
  the sum is > 0, negative if < 0. Sentences whose sum is 0, and lines with no score
  (no sentiment), are dropped. A tag with a sign but no strength (``[+]``) counts as
  ±1 (the README allows using only the sign); a strength with no sign (``[2]``) is not
  a polarity and is ignored.

Options: ``split_products = true`` makes each product its own domain (names in
:data:`PRODUCTS`) instead of the single ``products`` domain; ``max_examples`` (an
integer for every domain, or a table ``{movies = 3000}``) keeps at most that many
examples of a domain, those with the smallest ``sha256("cap", id)`` (a fixed, stable
subset that keeps the label balance up to sampling). Example ids are
``<corpus>/<file>:<line>``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bench.data.catalog import require
from bench.data.common import binary_task, check_domains, check_options
from bench.data.text import read_member
from bench.errors import SuiteError
from bench.suites.types import Example

if TYPE_CHECKING:
    from bench.suites.sources import SourceContext

__all__ = ["PRODUCTS", "load_reviews", "parse_product_reviews", "review_label"]

PRODUCTS: dict[str, tuple[str, str]] = {
    # domain: (corpus, file inside the corpus folder)
    "apex-dvd-player": ("product_reviews_1", "Apex_AD2600_Progressive_scan_DVD player.txt"),
    "canon-g3": ("product_reviews_1", "Canon_G3.txt"),
    "creative-zen-mp3": ("product_reviews_1", "Creative_Labs_Nomad_Jukebox_Zen_Xtra_40GB.txt"),
    "nikon-coolpix-4300": ("product_reviews_1", "Nikon_coolpix_4300.txt"),
    "nokia-6610": ("product_reviews_1", "Nokia_6610.txt"),
    "canon-sd500": ("product_reviews_2", "Canon_PowerShot_SD500.txt"),
    "canon-s100": ("product_reviews_2", "Canon_S100.txt"),
    "diaper-champ": ("product_reviews_2", "Diaper_Champ.txt"),
    "hitachi-router": ("product_reviews_2", "Hitachi_router.txt"),
    "ipod": ("product_reviews_2", "ipod.txt"),
    "linksys-router": ("product_reviews_2", "Linksys_Router.txt"),
    "micro-mp3": ("product_reviews_2", "MicroMP3.txt"),
    "nokia-6600": ("product_reviews_2", "Nokia_6600.txt"),
    "norton-antivirus": ("product_reviews_2", "norton.txt"),
}
_SCORE = re.compile(r"\[([+-])(\d*)(?=[\]\[}])")


def review_label(head: str) -> int | None:
    """1 (positive), 0 (negative) or ``None`` (no score, or scores summing to 0).

    ``head`` is the part of a line before ``##``; the label is the sign of the sum of
    its ``[+n]`` / ``[-n]`` tags.
    """
    scores = [int(sign + (strength or "1")) for sign, strength in _SCORE.findall(head)]
    total = sum(scores)
    if not scores or total == 0:
        return None
    return int(total > 0)


def parse_product_reviews(text: str) -> list[tuple[int, str, int]]:
    """``(line number, sentence, label)`` for each scored sentence of a review file."""
    rows = []
    for number, line in enumerate(text.split("\n"), start=1):
        if line.startswith("[t]") or "##" not in line:
            continue
        head, _, sentence = line.partition("##")
        label = review_label(head)
        if label is not None and sentence.strip():
            rows.append((number, sentence.strip(), label))
    return rows


def _movies(context: SourceContext, task_name: str) -> list[Example]:
    path = require("sentence_polarity", "nltk_data/corpora/sentence_polarity.zip", context.data_dir)
    examples = []
    for suffix, label in (("neg", 0), ("pos", 1)):
        member = f"sentence_polarity/rt-polarity.{suffix}"
        for number, line in enumerate(read_member(path, member, "utf-8").split("\n"), start=1):
            if line.strip():
                examples.append(Example(f"{member}:{number}", "movies", line.strip(), {task_name: label}))
    return examples


def _products(context: SourceContext, task_name: str, split: bool) -> list[Example]:
    wanted = set(context.suite.domains)
    examples = []
    for domain, (corpus, name) in PRODUCTS.items():
        target_domain = domain if split else "products"
        if target_domain not in wanted:
            continue
        path = require(corpus, f"nltk_data/corpora/{corpus}.zip", context.data_dir)
        member = f"{corpus}/{name}"
        for number, sentence, label in parse_product_reviews(read_member(path, member, "utf-8")):
            examples.append(Example(f"{member}:{number}", target_domain, sentence, {task_name: label}))
    return examples


def _caps(value: Any, domains: tuple[str, ...]) -> dict[str, int]:
    caps = dict(value) if isinstance(value, Mapping) else {d: value for d in domains} if value is not None else {}
    for domain, cap in caps.items():
        if domain not in domains:
            raise SuiteError(f"Source 'reviews-movies-products': 'max_examples' names {domain!r}, not a domain of the suite.")
        if not isinstance(cap, int) or isinstance(cap, bool) or cap < 2:
            raise SuiteError(f"Source 'reviews-movies-products': 'max_examples' must be an integer ≥ 2, got {cap!r}.")
    return caps


def _apply_caps(examples: list[Example], caps: dict[str, int]) -> list[Example]:
    kept: list[Example] = []
    for domain in dict.fromkeys(ex.domain for ex in examples):
        items = [ex for ex in examples if ex.domain == domain]
        if domain in caps and len(items) > caps[domain]:
            chosen = sorted(items, key=lambda ex: hashlib.sha256(f"cap\x00{ex.id}".encode()).digest())
            keep = {ex.id for ex in chosen[: caps[domain]]}
            items = [ex for ex in items if ex.id in keep]
        kept += items
    return kept


def load_reviews(context: SourceContext) -> list[Example]:
    """Source ``reviews-movies-products``; options ``split_products``, ``max_examples``."""
    options = check_options(context, "reviews-movies-products", ("split_products", "max_examples"))
    caps = _caps(options.get("max_examples"), context.suite.domains)
    split = options.get("split_products", False)
    if not isinstance(split, bool):
        raise SuiteError(f"Source 'reviews-movies-products': 'split_products' must be true or false, got {split!r}.")
    task = binary_task(context, "reviews-movies-products")
    check_domains(context, "reviews-movies-products", ["movies", *(PRODUCTS if split else ["products"])])
    examples = _movies(context, task.name) if "movies" in context.suite.domains else []
    return _apply_caps(examples + _products(context, task.name, split), caps)
