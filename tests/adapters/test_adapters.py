from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.adapters import CallableAdapter, TorchModuleAdapter, make_model
from bench.errors import AdapterError, CapabilityError, ConfigError, UnknownNameError
from bench.runner import score_examples
from bench.suites import Example, Task

CLS = Task("sentiment", "classification", ("negative", "positive"))
REG = Task("rating", "regression", value_range=(1.0, 5.0))
LM = Task("text", "language_modeling")
EXAMPLES = [Example(f"e{i}", "d", f"text number {i}", {"sentiment": i % 2, "rating": 1.0 + i % 5}) for i in range(10)]


def uniform_log_probs(texts: list[str], choices: tuple[str, ...]) -> np.ndarray:
    return np.full((len(texts), len(choices)), -np.log(len(choices)))


def test_callable_adapter_in_one_line() -> None:
    model = CallableAdapter("coin", log_probs=uniform_log_probs)
    frame = score_examples(model, CLS, EXAMPLES, batch_size=3)
    assert len(frame) == 10
    assert np.allclose(frame["nll"], np.log(2)) and np.allclose(frame["prob_positive"], 0.5)
    assert model.supports(CLS) and not model.supports(REG)
    with pytest.raises(CapabilityError, match="Model 'coin' cannot score regression task 'rating'"):
        model.predict_values(EXAMPLES, REG)


def test_callable_adapter_needs_a_function() -> None:
    with pytest.raises(ConfigError, match="needs at least one of log_probs, predict_values, text_nll, loglikelihood, generate"):
        CallableAdapter("empty")


def test_callable_adapter_generates_from_prompt_texts_with_the_tasks_decoding() -> None:
    from bench.suites.generation import Decoding, GenerationRequest
    from bench.suites.prompts import Prompt

    seen = []

    def write(prompts: list[str], decoding: Decoding) -> list[str]:
        seen.append((prompts, decoding))
        return [p.upper() for p in prompts]

    model = CallableAdapter("shout", generate=write)
    task = Task("qa", "generation", decoding=Decoding(max_new_tokens=3, stop=("\n",)))
    requests = [GenerationRequest("q1", Prompt("Question: hi\nAnswer:", "Say.\n\n"), ("hello",))]
    assert model.task_kinds == frozenset({"generation"}) and model.supports(task) and not model.supports(CLS)
    assert model.generate(requests, task) == ["SAY.\n\nQUESTION: HI\nANSWER:"]
    assert seen == [(["Say.\n\nQuestion: hi\nAnswer:"], task.decoding)]  # references are never passed
    with pytest.raises(CapabilityError, match="Model 'coin' cannot score generation task 'qa'"):
        CallableAdapter("coin", log_probs=uniform_log_probs).generate(requests, task)
    other = CallableAdapter("shout", generate=lambda prompts, decoding: list(prompts))
    assert model.fingerprint() != other.fingerprint()


def test_callable_fingerprint_is_stable_and_follows_the_code() -> None:
    a = CallableAdapter("coin", log_probs=uniform_log_probs)
    b = CallableAdapter("coin", log_probs=uniform_log_probs)
    c = CallableAdapter("coin", log_probs=lambda t, c: uniform_log_probs(t, c) * 1.0)
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()


@pytest.mark.parametrize(("fn", "message"), [
    (lambda t, c: np.zeros((len(t), 3)), r"log_probs returned shape \(3, 3\), expected \(3, 2\)"),
    (lambda t, c: np.full((len(t), 2), np.nan), r"non-finite value\(s\)"),
    (lambda t, c: np.zeros((len(t), 2)), "rows must be normalised.*row 0 has logsumexp 0.693"),
    (lambda t, c: "nonsense", "log_probs output is not a numeric array"),
])
def test_invalid_outputs_name_adapter_and_batch(fn, message: str) -> None:
    model = CallableAdapter("broken", log_probs=fn)
    with pytest.raises(AdapterError, match=message) as info:
        score_examples(model, CLS, EXAMPLES[:3], batch_size=3, where="toy/sentiment/books")
    assert "model 'broken', toy/sentiment/books, examples 0-2" in str(info.value)


def test_adapter_raising_mid_run_is_wrapped_with_its_batch() -> None:
    calls = []

    def flaky(texts: list[str], choices: tuple[str, ...]) -> np.ndarray:
        calls.append(len(texts))
        if len(calls) == 2:
            raise RuntimeError("server went away")
        return uniform_log_probs(texts, choices)

    with pytest.raises(AdapterError, match="examples 4-7: log_probs raised RuntimeError: server went away"):
        score_examples(CallableAdapter("flaky", log_probs=flaky), CLS, EXAMPLES, batch_size=4)


def test_regression_and_language_model_outputs_are_checked() -> None:
    reg = CallableAdapter("r", predict_values=lambda t: np.full(len(t), 3.0))
    frame = score_examples(reg, REG, EXAMPLES)
    assert np.allclose(frame["nll"], (3.0 - frame["target"]) ** 2)
    bad = CallableAdapter("r", predict_values=lambda t: np.zeros((len(t), 2)))
    with pytest.raises(AdapterError, match=r"predict_values output has shape \(10, 2\), expected \(10,\)"):
        score_examples(bad, REG, EXAMPLES)
    lm = CallableAdapter("lm", text_nll=lambda t: (np.ones(len(t)), np.full(len(t), 2)))
    frame = score_examples(lm, LM, EXAMPLES)
    assert list(frame["n_tokens"]) == [2] * 10 and list(frame["n_bytes"]) == [len(e.text) for e in EXAMPLES]
    negative = CallableAdapter("lm", text_nll=lambda t: (-np.ones(len(t)), np.ones(len(t))))
    with pytest.raises(AdapterError, match="negative NLL"):
        score_examples(negative, LM, EXAMPLES)
    not_pair = CallableAdapter("lm", text_nll=lambda t: np.ones(len(t)))
    with pytest.raises(AdapterError, match=r"must return a pair \(nll, n_tokens\)"):
        score_examples(not_pair, LM, EXAMPLES)


def test_torch_module_adapter() -> None:
    torch.manual_seed(0)
    module = torch.nn.Linear(3, 2)

    def featurize(texts: list[str]) -> torch.Tensor:
        return torch.tensor([[len(t), t.count("1"), 1.0] for t in texts])

    model = TorchModuleAdapter("linear", module, featurize)
    log_p = model.log_probs(EXAMPLES, CLS)
    expected = torch.log_softmax(module(featurize([e.text for e in EXAMPLES])), -1).detach().numpy()
    assert np.allclose(log_p, expected, atol=1e-6)
    fingerprint = model.fingerprint()
    with torch.no_grad():
        module.bias.add_(1.0)
    assert model.fingerprint() != fingerprint
    with pytest.raises(ConfigError, match="kind must be 'classification' or 'regression'"):
        TorchModuleAdapter("x", module, featurize, kind="language_modeling")


def test_make_model_by_name_and_module_factory() -> None:
    assert make_model("majority").name == "majority"
    assert make_model("tests.adapters.test_adapters:_factory").name == "coin"
    with pytest.raises(UnknownNameError, match="Unknown model 'sorce-only'. Did you mean: source-only"):
        make_model("sorce-only")
    with pytest.raises(ConfigError, match="returned str, not an Adapter"):
        make_model("tests.adapters.test_adapters:_bad_factory")


def _factory() -> CallableAdapter:
    return CallableAdapter("coin", log_probs=uniform_log_probs)


def _bad_factory() -> str:
    return "not a model"
