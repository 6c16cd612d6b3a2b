"""lm-evaluation-harness's ``local-completions`` and ``local-chat-completions`` against ``bench serve``.

The real client (lm-eval 0.4.13's ``LocalCompletionsAPI`` / ``LocalChatCompletion``, real
HTTP) on SmolLM2 served in process, compared with the same model scored and generating in
process: log-likelihoods of MMLU letter options within 1e-4 nats with the same
``is_greedy`` (served echo scoring conditions on the prefix token, so the reference is
``prefix=bos``, and ``is_greedy`` is checked against a plain forward pass), and the same
generated texts under lm-eval's ``until`` / ``max_gen_toks``, with and without the chat
template.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.adapters import make_model
from bench.suites.generation import Decoding, GenerationRequest
from bench.suites.prompts import ChoiceRequest, Prompt
from bench.suites.types import Task
from tests.adapters.lm_eval_requests import SUBJECTS, has_data, mmlu_requests, mmlu_rows
from tests.conftest import ENABLE_DATA

from .conftest import serve_in_thread

pytest.importorskip("lm_eval", reason="needs lm-eval: pip install 'lm-eval[api]==0.4.13'")
pytest.importorskip("tenacity", reason="lm-eval's API models need its api extra: pip install 'lm-eval[api]==0.4.13'")
pytestmark = pytest.mark.skipif(not has_data(), reason=f"needs mmlu/test: {ENABLE_DATA}")

MC = Task("mmlu", "multiple_choice")
UNTIL = ["\n", "."]
MAX_GEN_TOKS = 12


@pytest.fixture(scope="module")
def root(smollm2) -> Iterator[str]:
    yield from serve_in_thread(smollm2)


@pytest.fixture(scope="module")
def bos(smollm2) -> Any:
    """SmolLM2 with the BOS token before every context, as served echo scoring conditions."""
    return make_model("smollm2-135m?prefix=bos")


@pytest.fixture(scope="module")
def tokenizer_dir(smollm2, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SmolLM2's tokenizer as a folder: lm-eval's ``AutoTokenizer.from_pretrained`` takes no GGUF file."""
    folder = tmp_path_factory.mktemp("smollm2-tokenizer")
    smollm2.tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def completions(root: str, tokenizer_dir: Path) -> Any:
    from lm_eval.models.openai_completions import LocalCompletionsAPI

    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    return LocalCompletionsAPI(base_url=f"{root}/completions", model="smollm2-135m", tokenizer_backend="huggingface",
                               tokenizer=str(tokenizer_dir), tokenized_requests=True, num_concurrent=1,
                               max_retries=1, batch_size=4)


def loglikelihood_pairs(bos) -> list[tuple[str, str]]:
    """(context, continuation): the four letters of two MMLU questions, and the greedy continuation
    of a third (greedy after BOS + context)."""
    pairs = loglikelihood_pairs_letters()
    row = mmlu_rows(SUBJECTS[2], "test")[0]
    context = f"Question: {row['question'].strip()}\nAnswer:"
    greedy = bos.generate_ids(bos.context_tokens([context]), ["0"], Decoding(max_new_tokens=4, stop=()))[0]
    return [*pairs, (context, greedy.text)]


def in_process_scores(bos, pairs: list[tuple[str, str]]) -> tuple[np.ndarray, list[bool]]:
    """``ln p(continuation | BOS, context)`` by ``HFCausalLM`` (``prefix=bos``) and whether each
    continuation is the argmax at every position of a plain forward pass."""
    import torch

    requests = [ChoiceRequest(f"r{i}", Prompt(question=ctx, target_delimiter=""), (cont,))
                for i, (ctx, cont) in enumerate(pairs)]
    assert [(r.prompt.text(), r.scored_continuations()[0]) for r in requests] == pairs
    logprobs = np.concatenate(bos.loglikelihood(requests, MC))
    built = bos.build([ctx for ctx, _ in pairs], [[c] for _, c in pairs])
    greedy = []
    for request in built.requests:
        ids = [*request.context, *request.branches[0]]
        with torch.inference_mode():
            logits = bos.model(torch.tensor([ids[:-1]])).logits[0]
        n = len(request.branches[0])
        greedy.append(logits[-n:].argmax(dim=-1).tolist() == list(request.branches[0]))
    return logprobs, greedy


def test_local_completions_loglikelihood_equals_in_process_scores(completions, bos) -> None:
    from lm_eval.api.instance import Instance

    pairs = loglikelihood_pairs(bos)
    instances = [Instance("loglikelihood", {}, pair, i) for i, pair in enumerate(pairs)]
    served = completions.loglikelihood(instances, disable_tqdm=True)
    expected, greedy = in_process_scores(bos, pairs)
    diff = np.abs(np.array([ll for ll, _ in served]) - expected)
    print(f"max |delta logprob| = {diff.max():.2e} nats over {len(pairs)} requests")
    assert diff.max() <= 1e-4, (diff.max(), served, expected)
    assert [g for _, g in served] == greedy
    assert greedy[-1] and not all(greedy)  # the greedy continuation is greedy, some letter is not


def generation_prompts() -> list[str]:
    rows = [mmlu_rows(subject, "test")[0] for subject in SUBJECTS[3:7]]
    return [f"Question: {row['question'].strip()}\nAnswer:" for row in rows]


def generation_task() -> Task:
    return Task("gen", "generation", decoding=Decoding(max_new_tokens=MAX_GEN_TOKS, stop=tuple(UNTIL)))


def test_local_completions_generate_until_equals_in_process_generate(completions, smollm2) -> None:
    from lm_eval.api.instance import Instance

    prompts = generation_prompts()
    gen_kwargs = {"until": UNTIL, "max_gen_toks": MAX_GEN_TOKS}
    instances = [Instance("generate_until", {}, (p, dict(gen_kwargs)), i) for i, p in enumerate(prompts)]
    served = completions.generate_until(instances, disable_tqdm=True)
    requests = [GenerationRequest(f"g{i}", Prompt(question=p), ()) for i, p in enumerate(prompts)]
    expected = smollm2.generate(requests, generation_task())
    assert served == expected
    assert any(text.strip() for text in expected)


def test_local_chat_completions_generate_until_equals_in_process_chat_generate(root: str) -> None:
    from lm_eval.api.instance import Instance
    from lm_eval.models.api_models import JsonChatStr
    from lm_eval.models.openai_completions import LocalChatCompletion

    chat = make_model("smollm2-135m?apply_chat_template=true")
    lm = LocalChatCompletion(base_url=f"{root}/chat/completions", model="smollm2-135m", max_retries=1)
    prompts = [Prompt(question=q, description=d) for q, d in (
        ("What is the capital of France? Answer in one word.", ""),
        ("Name a primary colour.", "You are a helpful assistant."),
        (generation_prompts()[0], ""))]
    gen_kwargs = {"until": UNTIL, "max_gen_toks": MAX_GEN_TOKS}
    instances = [Instance("generate_until", {}, (JsonChatStr(json.dumps(p.messages())), dict(gen_kwargs)), i)
                 for i, p in enumerate(prompts)]
    served = lm.generate_until(instances, disable_tqdm=True)
    expected = chat.generate([GenerationRequest(f"c{i}", p, ()) for i, p in enumerate(prompts)], generation_task())
    assert served == expected
    assert all(text.strip() for text in expected)


def test_echo_reports_the_eos_token_that_ended_the_generation(root: str, smollm2) -> None:
    """After "… Answer: B" SmolLM2 ends at once: the EOS token is still the generated token of
    ``max_tokens: 1, echo`` (lm-eval drops it as ``token_logprobs[ctxlen:-1]``), with no text."""
    import torch

    context, continuation = loglikelihood_pairs_letters()[1]
    ids = smollm2.tokenizer(context + continuation, add_special_tokens=False)["input_ids"]
    generated = smollm2.generate_ids([ids], ["0"], Decoding(max_new_tokens=1, stop=()))[0]
    assert generated.token_ids == () and generated.eos_id in smollm2.eos_ids and generated.finish_reason == "stop"
    answer = post(f"{root}/completions", {"prompt": [ids], "max_tokens": 1, "echo": True, "logprobs": 1})
    choice = answer["choices"][0]
    block = choice["logprobs"]
    assert choice["text"] == smollm2.tokenizer.decode(ids) and choice["finish_reason"] == "stop"
    assert len(block["token_logprobs"]) == len(ids) + 1
    assert block["tokens"][-1] == smollm2.tokenizer.decode([generated.eos_id])
    with torch.inference_mode():
        logits = smollm2.model(torch.tensor([[smollm2.prefix_id, *ids]])).logits[0, -1].double()
    np.testing.assert_allclose(block["token_logprobs"][-1], float(torch.log_softmax(logits, -1)[generated.eos_id]),
                               atol=1e-4)
    assert block["token_logprobs"][-1] == max(block["top_logprobs"][-1].values())  # greedy: the top token
    assert answer["usage"]["completion_tokens"] == 1


def loglikelihood_pairs_letters() -> list[tuple[str, str]]:
    return [(r.prompt.text(), c) for r, _ in mmlu_requests(SUBJECTS[:2], 1, 0, "letter")
            for c in r.scored_continuations()]


def post(url: str, payload: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as answer:
        return json.loads(answer.read())
