"""Model outputs a reliability probe got past the checks (issue 26): each is now one clear
``AdapterError`` naming the model and the batch, or a documented, bounded behaviour
(generated text cut at :func:`~bench.adapters.validate.generation_cap`, a per-batch
time limit for in-process models)."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest

from bench.adapters import CallableAdapter
from bench.adapters.openai_compatible import OpenAICompatible, OpenAICompatibleConfig
from bench.adapters.validate import MAX_GENERATION_CHARS, generation_cap
from bench.errors import AdapterError, ConfigError
from bench.runner import RunConfig, run, score_examples
from bench.suites.types import Example, Task
from tests.conftest import REPO

ROOT = REPO
QA_SUITE = str(ROOT / "examples" / "own-qa-generation" / "suite.toml")
SENTIMENT = Task("sentiment", "classification", ("negative", "positive"))
STARS = Task("stars", "regression")
LM = Task("lm", "language_modeling")
EXAMPLES = [Example(f"e{i}", "d", f"text {i}", {"sentiment": i % 2, "stars": float(i)}) for i in range(2)]


def _score(task: Task, **functions: Any) -> Any:
    adapter = CallableAdapter("probe", **functions)
    return score_examples(adapter, task, EXAMPLES, where="s/t/d")


@pytest.mark.parametrize(("task", "functions", "message"), [
    (SENTIMENT, {"log_probs": lambda texts, choices: np.log(np.full((len(texts), 2), 0.5)) + 1j},
     r"log_probs output has dtype complex128 \(kind 'c'\); return real numbers"),
    (SENTIMENT, {"log_probs": lambda texts, choices: [[complex(np.log(0.5), 1.0)] * 2] * len(texts)},
     r"log_probs output holds a complex"),
    (STARS, {"predict_values": lambda texts: [True] * len(texts)}, r"predict_values output holds a bool"),
    (STARS, {"predict_values": lambda texts: np.ones(len(texts), dtype=bool)}, r"predict_values output has dtype bool"),
    (STARS, {"predict_values": lambda texts: ["1.5"] * len(texts)}, r"predict_values output holds a str"),
    (LM, {"text_nll": lambda texts: (np.ones(len(texts)), np.full(len(texts), 2.5))},
     r"text_nll's n_tokens must be whole numbers; text 0 has 2\.5"),
])
def test_odd_numbers_from_a_model_are_refused(task: Task, functions: dict[str, Any], message: str) -> None:
    with pytest.raises(AdapterError, match=r"model 'probe', s/t/d, examples 0-1: " + message):
        _score(task, **functions)


class CannedAnswer(OpenAICompatible):
    answer: Any = None

    def _post(self, payload: dict[str, Any], where: str, url: str | None = None) -> Any:
        return self.answer


@pytest.mark.parametrize(("logprobs", "message"), [
    ([-0.5, 0.7], r"a token log-probability of 0\.7 in choice 0 \(field 'logprobs\.token_logprobs'\); log-probabilities "
                  r"are finite and ≤ 0"),
    ([-0.5, True], r"'token_logprobs' numbers or null"),
    ([-0.5, float("nan")], r"a token log-probability of nan"),
])
def test_server_log_probabilities_must_be_real_and_not_positive(logprobs: list[Any], message: str) -> None:
    adapter = CannedAnswer(OpenAICompatibleConfig(base_url="http://127.0.0.1:9/v1", model="m"))
    adapter.answer = {"choices": [{"index": 0, "logprobs": {"token_logprobs": logprobs, "text_offset": [0, 4]}}]}
    with pytest.raises(AdapterError, match=r"model 'm'.*" + message):
        score_examples(adapter, LM, EXAMPLES[:1], where="s/t/d")


def surrogate() -> CallableAdapter:
    """A generation model whose answers hold a lone surrogate."""
    return CallableAdapter("surrogate", generate=lambda prompts, decoding: ["Ottawa \ud800"] * len(prompts))


def huge() -> CallableAdapter:
    """A generation model that writes 10 MB per answer."""
    return CallableAdapter("huge", generate=lambda prompts, decoding: ["Ottawa " + "x" * 10_000_000] * len(prompts))


def test_a_lone_surrogate_in_a_generation_names_the_example() -> None:
    with pytest.raises(AdapterError, match=r"model 'surrogate', own-qa-generation/answer/geography, examples 0-\d+: "
                                           r"example '[\w-]+': field 'generation' holds a lone surrogate"):
        run(RunConfig(suites=(QA_SUITE,), models=("tests.adapters.test_output_holes:surrogate",), limit=2))


def test_a_huge_generation_is_cut_at_the_cap_and_marked_truncated() -> None:
    result = run(RunConfig(suites=(QA_SUITE,), models=("tests.adapters.test_output_holes:huge",), limit=1))
    cap = generation_cap(result.decodings["own-qa-generation/answer"]["max_new_tokens"])
    assert generation_cap(64) == 2048 and generation_cap(10**6) == MAX_GENERATION_CHARS
    assert result.generations and all(len(g["generation"]) == cap and g["truncated"] for g in result.generations)
    assert "generation_truncated" not in result.records.columns


def test_a_model_that_never_returns_fails_at_the_per_batch_timeout() -> None:
    release = threading.Event()

    def stuck(texts: list[str]) -> np.ndarray:
        release.wait(60)
        return np.zeros(len(texts))

    try:
        with pytest.raises(AdapterError, match=r"model 'probe', s/t/d, examples 0-1: predict_values did not return within "
                                               r"--timeout-per-batch 0\.2 s"):
            score_examples(CallableAdapter("probe", predict_values=stuck), STARS, EXAMPLES, where="s/t/d", timeout=0.2)
    finally:
        release.set()


def test_a_per_batch_timeout_passes_errors_and_outputs_through() -> None:
    adapter = CallableAdapter("probe", predict_values=lambda texts: np.arange(len(texts), dtype=float))
    frame = score_examples(adapter, STARS, EXAMPLES, where="s/t/d", timeout=30)
    assert frame["prediction"].tolist() == [0.0, 1.0]
    broken = CallableAdapter("probe", predict_values=lambda texts: 1 / 0)
    with pytest.raises(AdapterError, match=r"predict_values raised ZeroDivisionError"):
        score_examples(broken, STARS, EXAMPLES, where="s/t/d", timeout=30)


@pytest.mark.parametrize("value", [0, -1, float("nan"), float("inf"), True, "5"])
def test_the_per_batch_timeout_must_be_a_positive_number(value: Any) -> None:
    with pytest.raises(ConfigError, match=r"'RunConfig\.timeout_per_batch' \(--timeout-per-batch\) must be a number in \(0, 604800\](, got| or None, got)"):
        RunConfig(timeout_per_batch=value)


def test_a_prediction_whose_loss_overflows_is_refused_by_score_examples() -> None:
    with pytest.raises(AdapterError, match=r"model 'probe', s/t/d, examples 0-1: record column '\w+' is infinite for "
                                           r"example 'e1'"):
        _score(STARS, predict_values=lambda texts: np.array([0.0, 1.3407807929942597e154]))
