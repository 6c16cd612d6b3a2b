"""`bench serve` generation over real sockets: the same tokens as the model in process, token-id
prompts, echo with generation, top_logprobs against a plain forward pass, chat completions."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from bench.adapters import make_model
from bench.suites.generation import Decoding

from .conftest import TEXTS, serve_in_thread

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tiny(tiny_lm_dir: Path):
    return make_model(f"hf-causal-lm:{tiny_lm_dir}")


@pytest.fixture(scope="module")
def url(tiny) -> Iterator[str]:
    yield from serve_in_thread(tiny)


def post(url: str, path: str, payload: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(url + path, data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.loads(answer.read())


def error_of(url: str, path: str, payload: dict[str, Any]) -> tuple[int, str]:
    with pytest.raises(urllib.error.HTTPError) as info:
        post(url, path, payload)
    return info.value.code, json.loads(info.value.read())["error"]["message"]


def test_text_prompts_generate_what_the_model_generates_in_process(url: str, tiny) -> None:
    answer = post(url, "/completions", {"prompt": TEXTS, "max_tokens": 10, "stop": ["e"]})
    expected = tiny.generate_ids(tiny.context_tokens(TEXTS), [str(i) for i in range(len(TEXTS))],
                                 Decoding(max_new_tokens=10, stop=("e",)))
    assert [c["text"] for c in answer["choices"]] == [g.text for g in expected]
    assert [c["index"] for c in answer["choices"]] == list(range(len(TEXTS)))
    assert [c["finish_reason"] for c in answer["choices"]] == [g.finish_reason for g in expected]
    assert all(c["logprobs"] is None for c in answer["choices"])
    assert answer["usage"]["prompt_tokens"] == sum(len(p) for p in tiny.context_tokens(TEXTS))


def test_token_id_prompts_one_or_many(url: str, tiny) -> None:
    ids = tiny.encode(TEXTS[:3])
    many = post(url, "/completions", {"prompt": ids, "max_tokens": 6, "stop": []})
    one = post(url, "/completions", {"prompt": ids[1], "max_tokens": 6})
    expected = tiny.generate_ids(ids, ["0", "1", "2"], Decoding(max_new_tokens=6, stop=()))
    assert [c["text"] for c in many["choices"]] == [g.text for g in expected]
    assert one["choices"][0]["text"] == expected[1].text
    code, message = error_of(url, "/completions", {"prompt": [5, 10**6], "max_tokens": 2})
    assert code == 400 and "Prompt 0 has token id 1000000, outside the vocabulary" in message


def test_seeded_sampling_is_reproducible(url: str) -> None:
    payload = {"prompt": TEXTS, "max_tokens": 8, "temperature": 1.0, "top_p": 0.9, "seed": 3}
    first = [c["text"] for c in post(url, "/completions", payload)["choices"]]
    assert first == [c["text"] for c in post(url, "/completions", payload)["choices"]]
    assert first != [c["text"] for c in post(url, "/completions", payload | {"seed": 4})["choices"]]


def test_echo_with_generation_scores_prompt_and_answer(url: str, tiny) -> None:
    ids = tiny.encode(TEXTS[:2])
    answer = post(url, "/completions", {"prompt": ids, "max_tokens": 3, "echo": True, "logprobs": 2})
    generated = tiny.generate_ids(ids, ["0", "1"], Decoding(max_new_tokens=3, stop=()))
    for choice, prompt, g in zip(answer["choices"], ids, generated, strict=True):
        block = choice["logprobs"]
        assert choice["text"] == tiny.tokenizer.decode(prompt) + g.text
        full = prompt + list(g.token_ids)
        assert len(block["tokens"]) == len(block["token_logprobs"]) == len(block["top_logprobs"]) == len(full)
        reference = plain_forward(tiny, full)
        np.testing.assert_allclose(block["token_logprobs"], reference[np.arange(len(full)), full], atol=1e-4)
        for row, top in zip(reference, block["top_logprobs"], strict=True):
            assert len(top) <= 2
            np.testing.assert_allclose(sorted(top.values(), reverse=True), np.sort(row)[::-1][:len(top)], atol=1e-4)
        # greedy answer tokens are the most likely ones: exactly the top value (lm-eval's is_greedy)
        for value, top in zip(block["token_logprobs"][len(prompt):], block["top_logprobs"][len(prompt):], strict=True):
            assert value == max(top.values())
        assert block["text_offset"][0] == 0 and block["text_offset"] == sorted(block["text_offset"])


def test_generated_logprobs_without_echo(url: str, tiny) -> None:
    answer = post(url, "/completions", {"prompt": TEXTS[0], "max_tokens": 4, "logprobs": 0, "stop": []})
    choice = answer["choices"][0]
    choice_block = choice["logprobs"]
    assert "".join(choice_block["tokens"]) == choice["text"]
    assert choice_block["text_offset"][0] == 0 and len(choice_block["token_logprobs"]) == 4
    assert choice_block["top_logprobs"] is None


def plain_forward(lm, ids: list[int]) -> np.ndarray:
    """``ln p(· | prefix token, ids_<t)`` for every position ``t``, one plain forward pass, ``(len(ids), V)``."""
    with torch.inference_mode():
        logits = lm.model(torch.tensor([[lm.prefix_id, *ids[:-1]]])).logits[0].float()
    return torch.log_softmax(logits, dim=-1).double().numpy()


def test_echo_scoring_of_token_ids_equals_text_scoring(url: str, tiny) -> None:
    by_text = post(url, "/completions", {"prompt": TEXTS[:2], "echo": True, "max_tokens": 0, "logprobs": 1})
    by_ids = post(url, "/completions", {"prompt": tiny.encode(TEXTS[:2]), "echo": True, "max_tokens": 0, "logprobs": 1})
    for a, b in zip(by_text["choices"], by_ids["choices"], strict=True):
        assert a["text"] == b["text"]
        np.testing.assert_allclose(a["logprobs"]["token_logprobs"], b["logprobs"]["token_logprobs"], atol=1e-6)
        assert a["logprobs"]["tokens"] == b["logprobs"]["tokens"]
        assert all(len(top) == 1 for top in a["logprobs"]["top_logprobs"])


def test_chat_needs_a_chat_template(url: str) -> None:
    code, message = error_of(url, "/chat/completions", {"messages": [{"role": "user", "content": "hi"}]})
    assert code == 400 and "has no chat template" in message


def test_chat_completions_generate_after_the_chat_template(smollm2) -> None:
    chat = make_model("smollm2-135m?apply_chat_template=true")
    messages = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]
    for root in serve_in_thread(smollm2):
        answer = post(root, "/chat/completions", {"messages": messages, "max_tokens": 12, "stop": ["\n\n"],
                                                  "model": "smollm2-135m"})
    rendered = chat.render_chat(messages)
    expected = chat.generate_ids(chat.context_tokens([rendered]), ["0"], Decoding(max_new_tokens=12))[0]
    assert answer["object"] == "chat.completion"
    assert answer["choices"][0]["message"] == {"role": "assistant", "content": expected.text}
    assert expected.text.strip()
