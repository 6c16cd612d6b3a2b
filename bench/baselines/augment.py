"""Text augmenters for the ``augmented`` baseline: small, seeded, label-preserving edits.

An augmenter is a callable ``(text, rng) -> text`` with a ``strength`` in ``[0, 1]``:
the expected fraction of the places it could edit that it does edit. The same text and
the same :class:`numpy.random.Generator` state always give the same result.

==================  ========================================================================
name                what it changes
==================  ========================================================================
``delete``          drops each word with probability ``strength`` (at least one word stays)
``crop``            keeps one contiguous span, cutting up to ``strength`` of the words
                    from the two ends together
``synonym``         replaces each word of :data:`SYNONYMS` with probability ``strength``
                    by one of its synonyms (same sentiment; case of the first letter kept)
``casual``          moves toward an informal register: contractions, lower case, slang
                    spellings, repeated punctuation and a neutral slang/emoji marker
``formal``          moves toward a formal register: contractions expanded, slang
                    spelled out, sentence case, markers and repeated punctuation removed
==================  ========================================================================

:func:`augment_examples` makes ``copies`` augmented copies of every training example;
each copy applies one augmenter drawn uniformly from the list, with a generator seeded
by ``seed_hash(seed, example id, copy)``, so a copy does not depend on the order or the
number of the other examples. Copies keep the domain and every target (labels are
preserved); their ids are ``"<id>~aug<j>"``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from bench.errors import ConfigError
from bench.registry import Registry
from bench.seeding import seed_hash
from bench.suites.rules import Number, Str, check_config
from bench.suites.types import Example

__all__ = [
    "AUGMENTERS",
    "CASUAL_MARKERS",
    "NEGATIONS",
    "SYNONYMS",
    "Augmenter",
    "RandomCrop",
    "StyleTransfer",
    "SynonymReplacement",
    "WordDeletion",
    "augment_examples",
    "make_augmenter",
]


class Augmenter(Protocol):
    """``(text, rng) -> text``; deterministic given the generator's state."""

    @property
    def name(self) -> str: ...

    @property
    def strength(self) -> float: ...

    def __call__(self, text: str, rng: np.random.Generator) -> str: ...


STRENGTH = Number(0.0, 1.0)
"""The rule of every augmenter's ``strength``."""


_WORD = re.compile(r"\S+")


NEGATIONS: frozenset[str] = frozenset({
    "not", "no", "never", "nor", "nothing", "none", "nobody", "neither", "nowhere", "without", "hardly", "barely",
})
"""Words :class:`WordDeletion` never drops (nor any word ending in ``n't``): dropping one flips the meaning."""


def _is_negation(word: str) -> bool:
    core = word.strip(".,!?;:\"'()").lower()
    return core in NEGATIONS or core.endswith("n't")


@dataclass(frozen=True)
class WordDeletion:
    """Drop each whitespace-separated word with probability ``strength``; keep at least one.

    Negations (:data:`NEGATIONS`, words ending in ``n't``) are never dropped, so that a
    deletion does not turn "not good" into "good".
    """

    strength: float = 0.2
    name: str = "delete"

    def __post_init__(self) -> None:
        check_config(self, {"strength": STRENGTH})

    def __call__(self, text: str, rng: np.random.Generator) -> str:
        words = text.split()
        if len(words) < 2:
            return text
        keep = (rng.random(len(words)) >= self.strength) | np.array([_is_negation(w) for w in words])
        if not keep.any():
            keep[rng.integers(len(words))] = True
        return " ".join(w for w, k in zip(words, keep, strict=True) if k)


@dataclass(frozen=True)
class RandomCrop:
    """Keep one contiguous span of words, cutting ``c ~ U{0..⌊strength·n⌋}`` words from the ends.

    The cut is split between the start and the end uniformly; at least one word stays.
    A span never starts right after a negation (the negation is kept instead).
    """

    strength: float = 0.2
    name: str = "crop"

    def __post_init__(self) -> None:
        check_config(self, {"strength": STRENGTH})

    def __call__(self, text: str, rng: np.random.Generator) -> str:
        words = text.split()
        n = len(words)
        cut = int(rng.integers(0, min(int(self.strength * n), n - 1) + 1)) if n > 1 else 0
        head = int(rng.integers(0, cut + 1))
        end = n - (cut - head)
        while head > 0 and _is_negation(words[head - 1]):  # never cut a negation off its phrase
            head -= 1
        return " ".join(words[head:end])


SYNONYMS: dict[str, tuple[str, ...]] = {
    # positive
    "great": ("excellent", "superb", "terrific"), "excellent": ("great", "superb", "outstanding"),
    "good": ("fine", "decent", "solid"), "nice": ("pleasant", "lovely", "fine"),
    "wonderful": ("marvellous", "delightful", "terrific"), "amazing": ("astonishing", "incredible", "stunning"),
    "fantastic": ("fabulous", "terrific", "superb"), "perfect": ("flawless", "ideal", "impeccable"),
    "lovely": ("delightful", "charming", "pleasant"), "love": ("adore", "enjoy", "like"),
    "best": ("finest", "greatest", "top"), "happy": ("pleased", "glad", "satisfied"),
    "fun": ("enjoyable", "entertaining", "amusing"), "beautiful": ("gorgeous", "stunning", "lovely"),
    "recommend": ("endorse", "suggest", "advise"), "easy": ("simple", "effortless", "straightforward"),
    # negative
    "terrible": ("dreadful", "atrocious", "abysmal"), "awful": ("dreadful", "horrid", "lousy"),
    "horrible": ("horrid", "dreadful", "ghastly"), "bad": ("poor", "lousy", "inferior"),
    "poor": ("bad", "inferior", "shoddy"), "disappointing": ("underwhelming", "unsatisfying", "letdown"),
    "useless": ("worthless", "pointless", "futile"), "worst": ("poorest", "lousiest", "weakest"),
    "boring": ("dull", "tedious", "monotonous"), "hate": ("detest", "loathe", "dislike"),
    "broken": ("damaged", "busted", "faulty"), "cheap": ("shoddy", "flimsy", "tacky"),
    "waste": ("squander", "loss", "drain"), "annoying": ("irritating", "grating", "tiresome"),
    "stupid": ("dumb", "foolish", "silly"), "ugly": ("unsightly", "hideous", "unattractive"),
    # neutral
    "movie": ("film", "picture", "flick"), "film": ("movie", "picture", "flick"),
    "phone": ("handset", "cellphone", "mobile"), "book": ("novel", "volume", "title"),
    "food": ("meal", "dishes", "cooking"), "product": ("item", "purchase", "unit"),
    "bought": ("purchased", "got", "ordered"), "really": ("truly", "very", "genuinely"),
    "very": ("really", "extremely", "quite"), "buy": ("purchase", "get", "order"),
}
"""A small built-in synonym table: each word maps to words of the same sentiment."""


def _match_case(original: str, replacement: str) -> str:
    return replacement[:1].upper() + replacement[1:] if original[:1].isupper() else replacement


@dataclass(frozen=True)
class SynonymReplacement:
    """Replace each word found in ``table`` (case-insensitively) with probability ``strength``.

    Punctuation attached to a word (``"great,"``) is kept; the replacement keeps the
    capitalisation of the word's first letter.
    """

    strength: float = 0.2
    table: tuple[tuple[str, tuple[str, ...]], ...] = tuple(SYNONYMS.items())
    name: str = "synonym"

    def __post_init__(self) -> None:
        check_config(self, {"strength": STRENGTH})

    def __call__(self, text: str, rng: np.random.Generator) -> str:
        table = dict(self.table)

        def swap(match: re.Match[str]) -> str:
            token = match.group(0)
            core = token.strip(".,!?;:\"'()")
            options = table.get(core.lower())
            if not options or rng.random() >= self.strength:
                return token
            replacement = _match_case(core, str(options[rng.integers(len(options))]))
            return token.replace(core, replacement, 1)

        return _WORD.sub(swap, text)


_CONTRACTIONS: tuple[tuple[str, str], ...] = (
    ("do not", "don't"), ("does not", "doesn't"), ("did not", "didn't"), ("is not", "isn't"),
    ("are not", "aren't"), ("was not", "wasn't"), ("were not", "weren't"), ("can not", "can't"),
    ("cannot", "can't"), ("will not", "won't"), ("would not", "wouldn't"), ("could not", "couldn't"),
    ("should not", "shouldn't"), ("have not", "haven't"), ("i am", "i'm"), ("it is", "it's"),
    ("that is", "that's"), ("there is", "there's"), ("i have", "i've"), ("you are", "you're"),
    ("we are", "we're"), ("they are", "they're"), ("i will", "i'll"), ("i would", "i'd"),
)
_SLANG: tuple[tuple[str, str], ...] = (
    ("you", "u"), ("are", "r"), ("really", "rly"), ("because", "cuz"), ("though", "tho"),
    ("probably", "prob"), ("please", "pls"), ("thanks", "thx"), ("going to", "gonna"), ("want to", "wanna"),
)
CASUAL_MARKERS: tuple[str, ...] = ("tbh", "imo", "ngl", "fwiw", "👀", "🤷")
"""Sentiment-neutral markers the ``casual`` register appends."""


def _replace_words(text: str, pairs: Sequence[tuple[str, str]], p: float, rng: np.random.Generator) -> str:
    for source, target in pairs:
        pattern = re.compile(rf"\b{re.escape(source)}\b(?!')", re.IGNORECASE)

        def swap(match: re.Match[str], target: str = target) -> str:
            return _match_case(match.group(0), target) if rng.random() < p else match.group(0)

        text = pattern.sub(swap, text)
    return text


def _sentence_case(text: str) -> str:
    text = re.sub(r"\bi\b", "I", text)
    return re.sub(r"(^|[.!?]\s+)([a-z])", lambda m: m.group(1) + m.group(2).upper(), text)


@dataclass(frozen=True)
class StyleTransfer:
    """Move a text toward another register; each rule fires with probability ``strength``.

    ``register="casual"``: contractions (``do not`` → ``don't``), slang spellings
    (``you`` → ``u``), the whole text lower-cased, sentence-final ``.`` → ``!!`` or
    ``...``, and a neutral marker from :data:`CASUAL_MARKERS` appended.
    ``register="formal"``: the inverse rules (contractions expanded, slang spelled out,
    markers and repeated punctuation removed, sentence case, ``i`` → ``I``).
    """

    strength: float = 0.2
    register: str = "casual"
    name: str = "style"

    def __post_init__(self) -> None:
        check_config(self, {"strength": STRENGTH, "register": Str(choices=("casual", "formal"))})

    def __call__(self, text: str, rng: np.random.Generator) -> str:
        return self._casual(text, rng) if self.register == "casual" else self._formal(text, rng)

    def _casual(self, text: str, rng: np.random.Generator) -> str:
        p = self.strength
        text = _replace_words(text, _CONTRACTIONS, p, rng)
        text = _replace_words(text, _SLANG, p, rng)
        if rng.random() < p:
            text = text.lower()
        if rng.random() < p:
            text = re.sub(r"\s*\.\s*$", " " + ("!!" if rng.random() < 0.5 else "..."), text)
        if rng.random() < p:
            text = f"{text.rstrip()} {CASUAL_MARKERS[rng.integers(len(CASUAL_MARKERS))]}"
        return text

    def _formal(self, text: str, rng: np.random.Generator) -> str:
        p = self.strength
        text = _replace_words(text, [(b, a) for a, b in _CONTRACTIONS], p, rng)
        text = _replace_words(text, [(b, a) for a, b in _SLANG], p, rng)
        if rng.random() < p:
            for marker in CASUAL_MARKERS:
                text = re.sub(rf"\s*{re.escape(marker)}(?!\w)", "", text)
            text = re.sub(r"([!?.])\1+", r"\1", text)
        if rng.random() < p:
            text = _sentence_case(text)
        return text


AugmenterFactory = Callable[[float], Augmenter]
AUGMENTERS: Registry[AugmenterFactory] = Registry("augmenter")
AUGMENTERS.add("delete", lambda s: WordDeletion(s), description="Drop each word with probability strength.")
AUGMENTERS.add("crop", lambda s: RandomCrop(s), description="Keep a contiguous span; cut up to strength of the words.")
AUGMENTERS.add("synonym", lambda s: SynonymReplacement(s), description="Swap words for same-sentiment synonyms.")
AUGMENTERS.add("casual", lambda s: StyleTransfer(s, "casual", "casual"), description="Informal register.")
AUGMENTERS.add("formal", lambda s: StyleTransfer(s, "formal", "formal"), description="Formal register.")


def make_augmenter(name: str, strength: float) -> Augmenter:
    """The registered augmenter ``name`` at ``strength`` (unknown names list the valid ones)."""
    return AUGMENTERS.get(name)(strength)


def augment_examples(examples: Sequence[Example], augmenters: Sequence[Augmenter], *, copies: int,
                     seed: int) -> list[Example]:
    """``copies`` augmented copies of each example (the originals are not included).

    Copy ``j`` of example ``x`` applies ``augmenters[u]`` with ``u`` uniform, using the
    generator ``default_rng(seed_hash(seed, x.id, j))`` to ``x``'s text; it keeps ``x``'s
    domain, targets, options, fields and references, has id ``"<x.id>~aug<j>"`` and split
    ``"train"``.

    Raises
    ------
    ConfigError
        If ``copies`` is negative or ``augmenters`` is empty while ``copies > 0``.
    """
    if not isinstance(copies, int) or copies < 0:
        raise ConfigError(f"copies must be a non-negative integer. Got {copies!r} instead.")
    if copies and not augmenters:
        raise ConfigError("At least one augmenter is needed to make augmented copies.")
    out = []
    for example in examples:
        for j in range(copies):
            rng = np.random.default_rng(seed_hash(seed, example.id, j))
            augmenter = augmenters[int(rng.integers(len(augmenters)))]
            out.append(replace(example, id=f"{example.id}~aug{j}", text=augmenter(example.text, rng),
                               targets=dict(example.targets), split="train"))
    return out
