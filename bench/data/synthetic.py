"""``toy-reviews``: a deterministic generator of short product reviews with built-in shift.

Each review has a star rating (1-5) and a sentiment label (``negative`` for 1-2 stars,
``positive`` for 4-5; 3-star reviews get the polarity their words lean to). The text is
a few short clauses built from five kinds of words, chosen so that a model trained on
one domain must lose accuracy on the others:

- **shared sentiment words** ("great", "awful") mean the same in every domain;
- **domain sentiment words** ("gripping" for books, "overheats" for electronics) occur
  only in their own domain, so a model trained elsewhere has never seen them;
- **polarity-flipping words** mean opposite things in different domains: "unpredictable"
  praises a thriller and condemns a toaster; "light" praises a laptop and faults a plot;
- **topic words** ("chapter", "battery") carry no sentiment but mark the domain;
- a **contrast clause** ("but the battery was awful"), added with probability
  ``contrast_rate``, names the opposite polarity, so the labels are not trivially separable.

The number of sentiment words grows with how extreme the rating is (1 or 5 stars: three,
2 or 4: two, 3: one), so the rating is learnable as a regression target.

``shared_rate`` (default 0.35) is the chance that a sentiment word comes from the shared
lexicon; lowering it widens the cross-domain gap. ``label_shift`` (default 0) moves the
positive rate of each out-of-domain domain away from 0.5, alternately down and up by that
amount, to add label shift on top of covariate shift.

Generation is seeded per domain (``seed_hash(seed, "toy-reviews", domain)``), so a
domain's reviews do not change when another domain is added. Example ids are
``"<domain>-<index>"`` within that seed's stream.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from bench.errors import SuiteError
from bench.seeding import seed_hash
from bench.suites.types import Example

if TYPE_CHECKING:
    from bench.suites.sources import SourceContext

__all__ = ["DOMAIN_LEXICON", "FLIP_WORDS", "SHARED_LEXICON", "TOPIC_WORDS", "generate_reviews", "load_toy_reviews"]

SHARED_LEXICON: dict[int, tuple[str, ...]] = {
    1: ("great", "excellent", "wonderful", "fantastic", "perfect", "amazing", "lovely"),
    -1: ("terrible", "awful", "horrible", "disappointing", "poor", "useless", "bad"),
}

DOMAIN_LEXICON: dict[str, dict[int, tuple[str, ...]]] = {
    "books": {
        1: ("gripping", "insightful", "well-written", "engrossing", "beautifully-paced"),
        -1: ("tedious", "shallow", "preachy", "clumsy", "meandering"),
    },
    "electronics": {
        1: ("reliable", "responsive", "crisp", "long-lasting", "snappy"),
        -1: ("defective", "overheats", "laggy", "glitchy", "unresponsive"),
    },
    "kitchen": {
        1: ("sturdy", "dishwasher-safe", "durable", "easy-to-clean", "nonstick"),
        -1: ("flimsy", "rusted", "leaky", "wobbly", "scratched"),
    },
    "movies": {
        1: ("hilarious", "moving", "stunning", "riveting", "heartfelt"),
        -1: ("unfunny", "overlong", "wooden", "bland", "forgettable"),
    },
}

FLIP_WORDS: dict[str, dict[str, int]] = {
    "unpredictable": {"books": 1, "movies": 1, "electronics": -1, "kitchen": -1},
    "light": {"electronics": 1, "kitchen": 1, "books": -1, "movies": -1},
    "quiet": {"electronics": 1, "kitchen": 1, "movies": -1, "books": -1},
}

TOPIC_WORDS: dict[str, tuple[str, ...]] = {
    "books": ("novel", "author", "chapter", "plot", "paperback", "story"),
    "electronics": ("battery", "screen", "charger", "device", "speaker", "cable"),
    "kitchen": ("blender", "pan", "knife", "kettle", "pot", "lid"),
    "movies": ("film", "actor", "scene", "director", "sequel", "soundtrack"),
}

_OPENERS = ("i bought this", "we got this", "this", "my new", "the")
_CLAUSES = ("the {topic} is {word}", "a {word} {topic}", "really {word}", "i found it {word}", "{word} overall")
_WORDS_BY_STARS = {1: 3, 2: 2, 3: 1, 4: 2, 5: 3}


def _sentiment_words(domain: str, polarity: int) -> tuple[str, ...]:
    flips = tuple(w for w, by_domain in FLIP_WORDS.items() if by_domain.get(domain) == polarity)
    return DOMAIN_LEXICON[domain][polarity] + flips


def _draw_word(rng: np.random.Generator, domain: str, polarity: int, shared_rate: float) -> str:
    if rng.random() < shared_rate:
        return str(rng.choice(SHARED_LEXICON[polarity]))
    return str(rng.choice(_sentiment_words(domain, polarity)))


def _draw_stars(rng: np.random.Generator, positive_rate: float) -> int:
    if rng.random() < 0.1:
        return 3
    positive = rng.random() < positive_rate
    return int(rng.choice([4, 5])) if positive else int(rng.choice([1, 2]))


def _review(rng: np.random.Generator, domain: str, stars: int, shared_rate: float, contrast_rate: float) -> tuple[str, int]:
    polarity = 1 if stars > 3 else -1 if stars < 3 else int(rng.choice([-1, 1]))
    topics = TOPIC_WORDS[domain]
    parts = [f"{rng.choice(_OPENERS)} {rng.choice(topics)}"]
    for _ in range(_WORDS_BY_STARS[stars]):
        template = str(rng.choice(_CLAUSES))
        word = _draw_word(rng, domain, polarity, shared_rate)
        parts.append(template.format(topic=rng.choice(topics), word=word))
    if rng.random() < contrast_rate:
        word = _draw_word(rng, domain, -polarity, shared_rate)
        parts.append(f"but the {rng.choice(topics)} was {word}")
    return " , ".join(parts) + " .", polarity


def generate_reviews(
    domain: str,
    n: int,
    *,
    seed: int = 0,
    positive_rate: float = 0.5,
    shared_rate: float = 0.35,
    contrast_rate: float = 0.3,
) -> list[Example]:
    """Generate ``n`` reviews of ``domain`` with targets ``sentiment`` and ``rating``.

    Parameters
    ----------
    domain
        One of ``books``, ``electronics``, ``kitchen``, ``movies``.
    n
        Number of reviews.
    seed
        Run seed; the domain's stream is ``seed_hash(seed, "toy-reviews", domain)``.
    positive_rate
        Probability that a non-neutral review is positive (label shift).
    shared_rate
        Probability that a sentiment word is drawn from the shared lexicon.
    contrast_rate
        Probability of a clause with the opposite polarity.

    Returns
    -------
    list of Example
        Targets: ``sentiment`` (0 = negative, 1 = positive) and ``rating`` (1-5 stars).
    """
    if domain not in DOMAIN_LEXICON:
        raise SuiteError(f"toy-reviews has no domain {domain!r}. Domains: {', '.join(DOMAIN_LEXICON)}.")
    rng = np.random.default_rng(seed_hash(seed, "toy-reviews", domain))
    examples = []
    for index in range(n):
        stars = _draw_stars(rng, positive_rate)
        text, polarity = _review(rng, domain, stars, shared_rate, contrast_rate)
        targets = {"sentiment": int(polarity > 0), "rating": float(stars)}
        examples.append(Example(f"{domain}-{index:05d}", domain, text, targets))
    return examples


def load_toy_reviews(context: SourceContext) -> list[Example]:
    """Source ``toy-reviews``: options ``n_per_domain``, ``seed``, ``shared_rate``,
    ``contrast_rate`` and ``label_shift`` (see the module docstring)."""
    options = dict(context.options)
    n = int(options.pop("n_per_domain", 500))
    seed = int(options.pop("seed", 0))
    label_shift = float(options.pop("label_shift", 0.0))
    shared_rate = float(options.pop("shared_rate", 0.35))
    contrast_rate = float(options.pop("contrast_rate", 0.3))
    if options:
        raise SuiteError(f"Source 'toy-reviews' does not take option(s) {', '.join(sorted(options))}.")
    if not 0 <= label_shift < 0.5:
        raise SuiteError(f"Source 'toy-reviews': 'label_shift' must be in [0, 0.5), got {label_shift}.")
    suite = context.suite
    examples: list[Example] = []
    ood_index = {d: i for i, d in enumerate(suite.out_domain)}
    for domain in suite.domains:
        sign = -1 if ood_index.get(domain, 0) % 2 == 0 else 1
        rate = 0.5 if domain in suite.in_domain else 0.5 + sign * label_shift
        examples += generate_reviews(
            domain, n, seed=seed, positive_rate=rate, shared_rate=shared_rate, contrast_rate=contrast_rate
        )
    return examples
