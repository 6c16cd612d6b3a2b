"""hf-causal-lm generation: transformers' own greedy ``generate`` as the reference, batch
invariance (left padding), stop sequences, EOS, seeded sampling and the prefix policy."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bench.adapters import make_model
from bench.adapters.decoding import cut_at_stop, request_seed
from bench.adapters.hf_generate import generate_batched, sample_next
from bench.errors import CapabilityError, ConfigError
from bench.suites.generation import Decoding, GenerationRequest
from bench.suites.prompts import Prompt
from bench.suites.types import Task

from .conftest import CORPUS, TEXTS
from .lm_eval_requests import SUBJECTS, has_data, mmlu_requests

pytest.importorskip("transformers")

GREEDY = Decoding(max_new_tokens=12, stop=())
SAMPLED = Decoding(max_new_tokens=12, stop=(), temperature=1.0, top_p=0.9, seed=7)


def gen_task(decoding: Decoding = GREEDY) -> Task:
    return Task("gen", "generation", decoding=decoding)


def requests(texts: list[str]) -> list[GenerationRequest]:
    return [GenerationRequest(f"q{i}", Prompt(question=t), ("x",)) for i, t in enumerate(texts)]


@pytest.fixture(scope="module")
def tiny(tiny_lm_dir: Path):
    return make_model(f"hf-causal-lm:{tiny_lm_dir}")


def reference_ids(lm, prompt: list[int], max_new_tokens: int) -> list[int]:
    """transformers' ``generate(do_sample=False)`` on one prompt, cut before the first EOS."""
    with torch.inference_mode():
        out = lm.model.generate(torch.tensor([prompt], device=lm.device), do_sample=False,
                                attention_mask=torch.ones(1, len(prompt), dtype=torch.long, device=lm.device),
                                max_new_tokens=max_new_tokens, eos_token_id=sorted(lm.eos_ids), pad_token_id=lm.pad_id)
    ids = out[0, len(prompt):].tolist()
    ends = [i for i, t in enumerate(ids) if t in lm.eos_ids]
    return ids[: ends[0]] if ends else ids


def test_greedy_tokens_equal_transformers_generate(tiny) -> None:
    prompts = tiny.context_tokens(TEXTS)
    got = tiny.generate_ids(prompts, [f"q{i}" for i in range(len(prompts))], GREEDY)
    for prompt, generated in zip(prompts, got, strict=True):
        assert list(generated.token_ids) == reference_ids(tiny, prompt, GREEDY.max_new_tokens)


def test_left_padding_does_not_change_any_text(tiny_lm_dir: Path, tiny) -> None:
    one = make_model(f"hf-causal-lm:{tiny_lm_dir}?max_batch_size=1")
    for decoding in (GREEDY, SAMPLED):
        batched = tiny.generate(requests(TEXTS + CORPUS), gen_task(decoding))
        assert batched == one.generate(requests(TEXTS + CORPUS), gen_task(decoding))


def test_stop_sequences_cut_before_their_first_occurrence(tiny) -> None:
    free = tiny.generate_ids(tiny.context_tokens(TEXTS[:1]), ["q0"], Decoding(max_new_tokens=20, stop=()))[0]
    text = free.text
    boundary = len(tiny.decode(free.token_ids[:3]))
    spanning = text[boundary - 2 : boundary + 2]  # the last 2 characters of token 3 and the first 2 of token 4
    assert len(spanning) == 4
    for stops in ((spanning,), ("never-in-text", spanning), (text[-3:], spanning)):
        got = tiny.generate_ids(tiny.context_tokens(TEXTS[:1]), ["q0"], Decoding(max_new_tokens=20, stop=stops))[0]
        assert got.text == cut_at_stop(text, stops)[0] == text[: min(text.find(s) for s in stops if s in text)]
        assert got.finish_reason == "stop"
        assert len(got.token_ids) < len(free.token_ids)


def test_cut_at_stop() -> None:
    assert cut_at_stop("a\n\nb\nc", ("\n", "\n\n")) == ("a", True)
    assert cut_at_stop("abc", ("x",)) == ("abc", False)
    assert cut_at_stop("abc", ()) == ("abc", False)


def test_eos_ends_a_row_and_is_not_in_the_text(tiny) -> None:
    prompts = tiny.context_tokens(TEXTS)
    free = tiny.generate_ids(prompts, ["k"] * len(prompts), GREEDY)
    eos = frozenset({free[0].token_ids[2]})  # the third token of the first prompt's answer
    got = generate_batched(tiny.model, prompts, ["k"] * len(prompts), GREEDY, decode=tiny.decode, eos_ids=eos,
                           pad_id=tiny.pad_id, device=tiny.device)
    assert got[0].token_ids == free[0].token_ids[:2] and got[0].finish_reason == "stop"
    assert got[0].text == tiny.decode(free[0].token_ids[:2])
    for full, cut in zip(free, got, strict=True):  # every row stops at its own first such token
        ids = list(full.token_ids)
        end = next((i for i, t in enumerate(ids) if t in eos), len(ids))
        assert list(cut.token_ids) == ids[:end]


def test_sampling_is_seeded_per_request(tiny) -> None:
    texts = TEXTS + CORPUS
    first = tiny.generate(requests(texts), gen_task(SAMPLED))
    assert first == tiny.generate(requests(texts), gen_task(SAMPLED))
    alone = tiny.generate(requests(texts)[3:4], gen_task(SAMPLED))  # another batch composition
    assert alone == first[3:4]
    other_seed = tiny.generate(requests(texts), gen_task(Decoding(12, (), 1.0, 0.9, seed=8)))
    assert other_seed != first
    assert first != tiny.generate(requests(texts), gen_task())  # sampling a random model is not greedy
    assert request_seed(7, "q1") != request_seed(7, "q2") != request_seed(8, "q2")


def test_sample_next_restricts_to_the_nucleus() -> None:
    logits = torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05]))
    generator = torch.Generator().manual_seed(0)
    nucleus = Decoding(temperature=1.0, top_p=0.75)  # {0, 1} reach 0.8 ≥ 0.75
    draws = {sample_next(logits, nucleus, generator) for _ in range(300)}
    assert draws == {0, 1}
    tiny_p = Decoding(temperature=1.0, top_p=1e-6)  # only the most likely token
    assert {sample_next(logits, tiny_p, generator) for _ in range(50)} == {0}
    assert sample_next(logits, Decoding(), None) == 0


def test_prefix_policy_and_empty_prompt(tiny_lm_dir: Path, tiny) -> None:
    bos = make_model(f"hf-causal-lm:{tiny_lm_dir}?prefix=bos")
    with_bos = bos.generate(requests(TEXTS[:2]), gen_task())
    expected = tiny.generate_ids([[bos.prefix_id, *ids] for ids in tiny.encode(TEXTS[:2])], ["q0", "q1"], GREEDY)
    assert with_bos == [g.text for g in expected]
    empty = tiny.generate(requests([""]), gen_task())
    assert empty == [tiny.generate_ids([[tiny.prefix_id]], ["q0"], GREEDY)[0].text]


def test_long_prompts_are_cut_from_the_left(tiny_lm_dir: Path) -> None:
    short = make_model(f"hf-causal-lm:{tiny_lm_dir}?max_length=16")
    ids = short.encode([" ".join(CORPUS)])[0]
    assert len(ids) > 16
    got = short.generate_ids([ids], ["q"], Decoding(max_new_tokens=6, stop=()))
    assert got == short.generate_ids([ids[-10:]], ["q"], Decoding(max_new_tokens=6, stop=()))
    with pytest.raises(ConfigError, match=r"max_new_tokens = 16 leaves no room for a prompt"):
        short.generate_ids([ids], ["q"], Decoding(max_new_tokens=16, stop=()))


def test_generate_refuses_other_task_kinds(tiny) -> None:
    with pytest.raises(CapabilityError, match="cannot score classification task"):
        tiny.generate(requests(["x"]), Task("c", "classification", ("a", "b")))
    assert "generation" in tiny.task_kinds


@pytest.mark.skipif(not has_data(), reason="needs ../shared/data (MMLU)")
def test_smollm2_batch_of_16_equals_one_at_a_time_and_transformers(smollm2) -> None:
    chat = make_model("smollm2-135m?apply_chat_template=true")
    one = make_model("smollm2-135m?apply_chat_template=true&max_batch_size=1")
    mmlu = [GenerationRequest(r.example_id, r.prompt, ("A",)) for r, _ in mmlu_requests(SUBJECTS, 2, 0, "letter")]
    assert len(mmlu) == 16
    task = gen_task(Decoding(max_new_tokens=16, stop=("\n\n",)))
    batched = chat.generate(mmlu, task)
    assert batched == one.generate(mmlu, task)
    assert sum(bool(t) for t in batched) >= 12 and not any("<|im_end|>" in t or "<|im_start|>" in t for t in batched)
    prompts = chat.context_tokens([chat.rendered_prompt(r.prompt) for r in mmlu[:4]])
    got = chat.generate_ids(prompts, ["k"] * 4, Decoding(max_new_tokens=16, stop=()))
    for prompt, generated in zip(prompts, got, strict=True):
        assert list(generated.token_ids) == reference_ids(chat, prompt, 16)
