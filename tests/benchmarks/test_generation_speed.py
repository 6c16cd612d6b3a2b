"""Speed of hf-causal-lm generation on SmolLM2: batched greedy generation vs one prompt at a time.

Run with ``python -m pytest tests/benchmarks/test_generation_speed.py --benchmark-enable -s``.
Both paths generate after the same 32 MMLU prompts (chat template, 24 new tokens at most)
in the same run; ``extra_info`` records generated tokens per second of each and their
ratio. The texts must be equal; nothing asserts a time.
"""

from __future__ import annotations

import time

import pytest

from bench.adapters import make_model
from bench.suites.generation import Decoding, GenerationRequest
from bench.suites.types import Task
from tests.adapters.conftest import smollm2  # noqa: F401 (the fixture)
from tests.adapters.lm_eval_requests import SUBJECTS, has_data, mmlu_requests

TASK = Task("mmlu-gen", "generation", decoding=Decoding(max_new_tokens=24, stop=("\n\n",)))


@pytest.mark.skipif(not has_data(), reason="needs ../shared/data (MMLU)")
def test_batched_against_one_at_a_time(smollm2, benchmark, request: pytest.FixtureRequest) -> None:  # noqa: F811
    options = request.config.getoption
    measuring = options("benchmark_enable", default=False) or not options("benchmark_disable", default=False)
    n = 4 if measuring else 1
    requests = [GenerationRequest(r.example_id, r.prompt, ("A",)) for r, _ in mmlu_requests(SUBJECTS, n, 0, "letter")]
    batched = make_model("smollm2-135m?apply_chat_template=true")
    single = make_model("smollm2-135m?apply_chat_template=true&max_batch_size=1")
    start = time.perf_counter()
    one_at_a_time = single.generate(requests, TASK)
    single_s = time.perf_counter() - start
    texts = benchmark.pedantic(batched.generate, args=(requests, TASK), rounds=1, iterations=1)
    assert texts == one_at_a_time
    tokens = sum(len(batched.encode([t])[0]) for t in texts)
    batched_s = benchmark.stats.stats.mean if benchmark.stats else single_s
    benchmark.extra_info.update({"prompts": len(requests), "generated_tokens": tokens,
                                 "tokens_per_s_batched": tokens / batched_s, "tokens_per_s_single": tokens / single_s,
                                 "ratio": single_s / batched_s})
