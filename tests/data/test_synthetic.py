from __future__ import annotations

import numpy as np
import pytest

from bench.data import load_suite_data
from bench.data.synthetic import DOMAIN_LEXICON, FLIP_WORDS, SHARED_LEXICON, generate_reviews
from bench.errors import SuiteError
from bench.suites import load_suite


def test_generation_is_deterministic_and_seeded() -> None:
    a = generate_reviews("books", 50, seed=1)
    b = generate_reviews("books", 50, seed=1)
    c = generate_reviews("books", 50, seed=2)
    assert [(e.id, e.text, dict(e.targets)) for e in a] == [(e.id, e.text, dict(e.targets)) for e in b]
    assert [e.text for e in a] != [e.text for e in c]


def test_targets_are_consistent() -> None:
    for ex in generate_reviews("kitchen", 300):
        stars, label = ex.targets["rating"], ex.targets["sentiment"]
        assert stars in {1, 2, 3, 4, 5}
        if stars != 3:
            assert label == int(stars > 3)


def test_domain_words_stay_in_their_domain() -> None:
    texts = " ".join(e.text for e in generate_reviews("electronics", 400))
    for word in DOMAIN_LEXICON["books"][1] + DOMAIN_LEXICON["movies"][-1]:
        assert f" {word} " not in texts
    assert any(f" {w} " in texts for w in DOMAIN_LEXICON["electronics"][1])
    assert any(f" {w} " in texts for w in SHARED_LEXICON[1])


def test_flip_words_change_polarity_across_domains() -> None:
    def polarity_of(word: str, domain: str) -> float:
        labels = [e.targets["sentiment"] for e in generate_reviews(domain, 2000, contrast_rate=0.0)
                  if f" {word} " in f" {e.text} "]
        return float(np.mean(labels))

    assert FLIP_WORDS["unpredictable"]["books"] == 1 and FLIP_WORDS["unpredictable"]["kitchen"] == -1
    assert polarity_of("unpredictable", "books") > 0.9
    assert polarity_of("unpredictable", "kitchen") < 0.1


def test_label_shift_moves_out_of_domain_positive_rates(tmp_path) -> None:
    from tests.conftest import TINY_SUITE, write_tiny_suite

    text = TINY_SUITE.format(n=2000).replace("seed = 0\n", "seed = 0\nlabel_shift = 0.3\n", 1)
    data = load_suite_data(load_suite(write_tiny_suite(tmp_path, text=text)))
    rate = {d: np.mean([e.targets["sentiment"] for e in dd.train + dd.test]) for d, dd in data.domains.items()}
    assert abs(rate["books"] - 0.5) < 0.05
    assert rate["electronics"] < 0.35 and rate["movies"] > 0.65


def test_unknown_domain_and_bad_options_are_rejected(tmp_path) -> None:
    from tests.conftest import TINY_SUITE, write_tiny_suite

    with pytest.raises(SuiteError, match="toy-reviews has no domain 'garden'"):
        generate_reviews("garden", 3)
    text = TINY_SUITE.format(n=10).replace("seed = 0\n", "seed = 0\ncolour = 1\n", 1)
    with pytest.raises(SuiteError, match=r"unknown key 'source\.colour'\."):
        load_suite_data(load_suite(write_tiny_suite(tmp_path, text=text)))
