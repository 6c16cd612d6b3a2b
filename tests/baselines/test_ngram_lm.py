"""The byte-level Kneser-Ney language model against a direct implementation of its formula."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from bench.adapters import MODELS, make_model
from bench.baselines.ngram_lm import ByteNgramLM, KneserNeyTables
from bench.errors import CapabilityError, ConfigError, DataError
from bench.suites import load_suite
from bench.suites.types import Example, Task

TRAIN = [b"abracadabra banana bandana", b"a cabana in havana", b"\xc3\xa9t\xc3\xa9 abc"]
LM = Task("text", "language_modeling")


def _reference(texts: list[bytes], order: int, context: bytes, byte: int) -> float:
    """P(byte | context) by the formulas of the module Notes, with plain dicts and loops."""
    pad = b"\x00" * (order - 1)
    raw = {k: Counter() for k in range(1, order + 1)}
    for text in texts:
        s = pad + text
        for i in range(order - 1, len(s)):
            for k in range(1, order + 1):
                raw[k][s[i - k + 1 : i + 1]] += 1
    tables = {order: raw[order]}
    for k in range(1, order):
        tables[k] = Counter(g[1:] for g in raw[k + 1])  # distinct left extensions
    p = 1 / 256
    history = (pad + context)[len(context):] if order > 1 else b""
    for k in range(1, order + 1):
        counts = tables[k]
        n1 = sum(1 for c in counts.values() if c == 1)
        n2 = sum(1 for c in counts.values() if c == 2)
        d = min(max(n1 / (n1 + 2 * n2) if n1 + n2 else 0.5, 0.05), 0.95)
        h = history[len(history) - (k - 1):] if k > 1 else b""
        following = {g: c for g, c in counts.items() if g[:-1] == h}
        total = sum(following.values())
        if total > 0:
            p = (max(following.get(h + bytes([byte]), 0) - d, 0) + d * len(following) * p) / total
    return p


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_matches_the_direct_formula(order: int) -> None:
    tables = KneserNeyTables(order).fit(TRAIN)
    for context in (b"", b"ab", b"abra", b"hav", b"zzz", b"\xc3"):
        got = np.exp(tables.next_byte_log_probs(context))
        want = np.array([_reference(TRAIN, order, context, b) for b in range(256)])
        np.testing.assert_allclose(got, want, rtol=1e-10)


@pytest.mark.parametrize("order", [1, 3, 5, 8])
def test_next_byte_distribution_sums_to_one(order: int) -> None:
    tables = KneserNeyTables(order).fit(TRAIN)
    for context in (b"", b"banan", b"qqqqqqqqq", b"a cab"):
        assert np.exp(tables.next_byte_log_probs(context)).sum() == pytest.approx(1.0, abs=1e-12)


def test_text_log_probs_follow_the_chain_rule() -> None:
    tables = KneserNeyTables(3).fit(TRAIN)
    text = b"banana cab"
    chain = [tables.next_byte_log_probs(text[:i])[text[i]] for i in range(len(text))]
    np.testing.assert_allclose(tables.log_probs(text), chain, rtol=1e-12)


def test_adapter_scores_bytes_and_prefers_in_domain_text() -> None:
    model = make_model("byte-ngram")
    assert isinstance(model, ByteNgramLM) and model.supports(LM)
    train = [Example(f"t{i}", "a", "the cat sat on the mat and the dog sat on the log") for i in range(5)]
    model.fit(train, [LM], seed=0)
    tests = [Example("x", "a", "the cat sat on the log"), Example("y", "b", "qwzx vbnm kjhg plok"),
             Example("z", "b", "été")]
    nll, tokens = model.text_nll(tests, LM)
    assert tokens.tolist() == [22, 19, 5]  # UTF-8 bytes
    per_byte = nll / tokens
    assert per_byte[0] < per_byte[1] < np.log(256) * 1.5


def test_fingerprint_changes_with_training_data() -> None:
    a, b = ByteNgramLM(), ByteNgramLM()
    a.fit([Example("1", "d", "hello world")], [LM], seed=0)
    b.fit([Example("1", "d", "goodbye world")], [LM], seed=0)
    assert a.fingerprint() != b.fingerprint() and a.fingerprint().startswith("byte-ngram@")


def test_errors() -> None:
    with pytest.raises(ConfigError, match=r"The 'order' of byte-ngram must be an int in the range \[1, 8\]\. Got 9"):
        KneserNeyTables(9)
    with pytest.raises(DataError, match=r"byte-ngram has no training text"):
        ByteNgramLM().fit([Example("1", "d", "")], [LM], seed=0)
    with pytest.raises(CapabilityError, match=r"must be fitted before it scores"):
        ByteNgramLM().text_nll([Example("1", "d", "x")], LM)
    with pytest.raises(CapabilityError, match=r"cannot score classification task"):
        ByteNgramLM().log_probs([], Task("s", "classification", ("a", "b")))


def test_registered_and_chosen_by_default_for_language_modelling_suites() -> None:
    from bench.runner import RunConfig, _suite_models

    assert "byte-ngram" in MODELS
    assert _suite_models(load_suite("masc-genres"), RunConfig()) == {"byte-ngram": True}
    assert _suite_models(load_suite("uci-sentiment"), RunConfig()) == {
        "majority": True, "uniform": True, "source-only": True}
    assert _suite_models(load_suite("masc-genres"), RunConfig(models=("majority",))) == {"majority": False}
