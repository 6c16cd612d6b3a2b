"""Speed of hf-causal-lm on SmolLM2: batched, length-sorted scoring vs one example at a time.

Run with ``python -m pytest tests/benchmarks/test_hf_speed.py --benchmark-enable``. Each
benchmark records ``tokens_per_s`` (prompt + continuation tokens of the examples scored,
the same count for every path) in ``extra_info``; the last test records the ratios of the
batched path to the others, measured in the same run. Nothing asserts a time.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from bench.data import load_suite_data
from bench.suites import load_suite
from tests.adapters.conftest import smollm2  # noqa: F401 (the fixture)

N_BATCHED = 48
N_SINGLE = 12
RESULTS: dict[str, float] = {}


@pytest.fixture(scope="module")
def setup(smollm2, request: pytest.FixtureRequest) -> tuple[Any, Any, list, int]:  # noqa: F811 (the imported fixture)
    """Model, task, examples and how many to score singly (a few when benchmarks are disabled)."""
    options = request.config.getoption
    measuring = options("benchmark_enable", default=False) or not options("benchmark_disable", default=False)
    n_batched, n_single = (N_BATCHED, N_SINGLE) if measuring else (8, 2)
    data = load_suite_data(load_suite("toy-reviews"))
    task = data.suite.task("sentiment")
    examples = [ex for d in data.suite.domains for ex in data.domains[d].test[: n_batched // 4]]
    smollm2.log_probs(examples[:2], task)  # warm-up
    return smollm2, task, examples, n_single


def _tokens(lm, task, examples) -> int:
    return sum(len(r.context) + sum(len(b) for b in r.branches) for r in lm.choice_requests(examples, task))


def _measure(benchmark, key: str, tokens: int, fn) -> Any:
    started = time.perf_counter()
    out = benchmark.pedantic(fn, rounds=1, iterations=1)
    seconds = benchmark.stats.stats.mean if benchmark.stats else time.perf_counter() - started
    RESULTS[key] = tokens / seconds
    benchmark.extra_info.update({"tokens": tokens, "tokens_per_s": round(RESULTS[key], 1)})
    return out


@pytest.mark.benchmark(group="hf-causal-lm scoring")
def test_batched_length_sorted(benchmark, setup) -> None:
    lm, task, examples, _ = setup
    out = _measure(benchmark, "batched", _tokens(lm, task, examples), lambda: lm.log_probs(examples, task))
    assert out.shape == (len(examples), 2)


@pytest.mark.benchmark(group="hf-causal-lm scoring")
def test_one_example_at_a_time(benchmark, setup) -> None:
    lm, task, examples, n_single = setup
    few = examples[:: len(examples) // n_single][:n_single]
    out = _measure(benchmark, "one_at_a_time", _tokens(lm, task, few),
                   lambda: np.concatenate([lm.log_probs([ex], task) for ex in few]))
    np.testing.assert_allclose(out, lm.log_probs(few, task), atol=1e-4)  # same numbers (float32), only slower


@pytest.mark.benchmark(group="hf-causal-lm scoring")
def test_one_sequence_per_choice(benchmark, setup) -> None:
    """lm-eval's plain recipe: every (prompt + choice) its own unbatched forward pass."""
    import torch

    lm, task, examples, n_single = setup
    few = examples[:: len(examples) // n_single][:n_single]
    requests = lm.choice_requests(few, task)

    def plain() -> np.ndarray:
        rows = []
        with torch.inference_mode():
            for r in requests:
                row = []
                for b in r.branches:
                    ids = torch.tensor([[*r.context, *b[:-1]]])
                    log_p = lm.model(ids).logits[0, len(r.context) - 1 :].log_softmax(-1)
                    row.append(log_p[torch.arange(len(b)), torch.tensor(b)].sum().item())
                rows.append(row)
        return np.array(rows)

    out = _measure(benchmark, "one_sequence_per_choice", _tokens(lm, task, few), plain)
    np.testing.assert_allclose(out, lm.choice_scores(few, task), atol=1e-4)


def test_speedup(benchmark) -> None:
    """Ratios of tokens/s, batched over the others (targets: ≥ 3× over one at a time)."""
    if set(RESULTS) != {"batched", "one_at_a_time", "one_sequence_per_choice"}:
        pytest.skip("run the whole module to compare")
    ratios = {f"batched_over_{k}": round(RESULTS["batched"] / RESULTS[k], 2) for k in RESULTS if k != "batched"}
    benchmark.extra_info.update(ratios | {k: round(v, 1) for k, v in RESULTS.items()})
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    assert all(v > 0 for v in ratios.values())
