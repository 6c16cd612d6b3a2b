from __future__ import annotations

import numpy as np
import pytest

from bench.baselines.augment import (
    AUGMENTERS,
    CASUAL_MARKERS,
    SYNONYMS,
    RandomCrop,
    StyleTransfer,
    SynonymReplacement,
    WordDeletion,
    augment_examples,
    make_augmenter,
)
from bench.errors import ConfigError, UnknownNameError
from bench.suites import Example

TEXTS = [
    "I do not think the plot is great , it is really bad and boring .",
    "We bought this phone because it is excellent and you are going to love it .",
    "The food was awful but the service was nice . I will not come back .",
    "a lovely film , wonderful acting and a perfect ending .",
]


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


@pytest.mark.parametrize("name", AUGMENTERS.names())
def test_every_augmenter_is_deterministic_for_a_seed_and_varies_with_it(name: str) -> None:
    augmenter = make_augmenter(name, 0.5)
    first = [augmenter(t, rng(7)) for t in TEXTS]
    assert first == [augmenter(t, rng(7)) for t in TEXTS]
    others = {tuple(augmenter(t, rng(seed)) for t in TEXTS) for seed in range(8)}
    assert len(others) > 1
    assert [make_augmenter(name, 0.0)(t, rng(1)) for t in TEXTS] == TEXTS  # strength 0 changes nothing


def test_deletion_drops_words_in_order_and_keeps_negations() -> None:
    text = " ".join(f"w{i}" for i in range(200)) + " not never don't"
    out = WordDeletion(0.3)(text, rng()).split()
    words = text.split()
    it = iter(words)
    assert all(w in it for w in out)  # a subsequence: order kept, nothing added
    assert 0.55 * 200 < len(out) - 3 < 0.85 * 200  # about 70% of the plain words stay
    assert out[-3:] == ["not", "never", "don't"]
    assert WordDeletion(1.0)("not good at all", rng()).split()[0] == "not"
    assert len(WordDeletion(1.0)("alpha beta gamma", rng()).split()) == 1  # at least one word stays


def test_crop_keeps_one_contiguous_span_within_its_strength() -> None:
    words = [f"w{i}" for i in range(50)]
    for seed in range(20):
        out = RandomCrop(0.4)(" ".join(words), rng(seed)).split()
        start = words.index(out[0])
        assert out == words[start : start + len(out)]
        assert len(out) >= 50 - 20
    assert RandomCrop(1.0)("x", rng()) == "x"
    for seed in range(30):  # a span never starts right after a negation
        out = RandomCrop(0.9)("a b not c d e", rng(seed)).split()
        if "c" in out:
            assert out[0] != "c"


def test_synonyms_replace_only_table_words_with_their_synonyms() -> None:
    text = "Great plot , terrible ending ; the movie was really boring ."
    out = SynonymReplacement(1.0)(text, rng()).split()
    for before, after in zip(text.split(), out, strict=True):
        options = SYNONYMS.get(before.lower())
        if options:
            assert after.lower() in options
            assert after[0].isupper() == before[0].isupper()
        else:
            assert after == before
    assert SynonymReplacement(1.0)("great,", rng()).endswith(",")


def test_casual_register() -> None:
    out = StyleTransfer(1.0, "casual")("I do not think you are right. It is great.", rng())
    assert out == out.lower()
    assert "don't" in out and "you're" in out and "it's" in out
    assert StyleTransfer(1.0, "casual")("thank you because they are", rng()).startswith("thank u cuz they're")
    assert out.split()[-1] in CASUAL_MARKERS
    assert out.split()[-2] in ("!!", "...")


def test_formal_register_undoes_casual_markers() -> None:
    out = StyleTransfer(1.0, "formal")("i don't think u r right tbh!! it's fine 👀", rng())
    assert out == "I do not think you are right! It is fine"
    with pytest.raises(ConfigError, match=r"'StyleTransfer\.register' must be one of casual, formal; got 'shouty'\."):
        StyleTransfer(0.5, "shouty")


def test_strength_is_validated_and_names_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"'WordDeletion\.strength' must be a number in \[0, 1\], got a float 1\.5\."):
        WordDeletion(1.5)
    with pytest.raises(UnknownNameError, match="Unknown augmenter 'synonyms'. Did you mean: synonym"):
        make_augmenter("synonyms", 0.2)


def test_augment_examples_preserves_labels_and_is_order_independent() -> None:
    examples = [Example(f"e{i}", "books", t, {"sentiment": i % 2, "rating": float(i + 1)}) for i, t in enumerate(TEXTS)]
    augmenters = [make_augmenter(n, 0.3) for n in AUGMENTERS.names()]
    copies = augment_examples(examples, augmenters, copies=3, seed=5)
    assert len(copies) == 12
    for k, copy in enumerate(copies):
        source = examples[k // 3]
        assert copy.id == f"{source.id}~aug{k % 3}"
        assert copy.domain == source.domain and dict(copy.targets) == dict(source.targets)
    assert any(c.text != examples[k // 3].text for k, c in enumerate(copies))
    alone = augment_examples(examples[2:3], augmenters, copies=3, seed=5)
    assert [c.text for c in alone] == [c.text for c in copies[6:9]]
    assert augment_examples(examples, augmenters, copies=0, seed=5) == []
    with pytest.raises(ConfigError, match="copies must be a non-negative integer. Got -1"):
        augment_examples(examples, augmenters, copies=-1, seed=0)
    with pytest.raises(ConfigError, match="At least one augmenter is needed"):
        augment_examples(examples, [], copies=1, seed=0)
