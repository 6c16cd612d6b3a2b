"""Tokens/s of xdbench's hf-causal-lm against lm-evaluation-harness's HFLM (batch 16) on
SmolLM2-135M, the same requests, in one process, interleaved: three request shapes.

- ``uci-sentiment 0-shot``: 100 lines per domain (300 requests), " negative"/" positive";
- ``mmlu 5-shot letter``: 10 subjects × 20 questions, continuations " A"…" D";
- ``mmlu 5-shot cloze``: the same questions, the answer texts as continuations.

Run with::

    python -m pytest tests/benchmarks/test_lm_eval_speed.py --benchmark-enable -s

Each case prints and records in ``extra_info`` the tokens (context + continuation of every
pair, what lm-eval runs without its logits cache), tokens/s of each harness by wall clock
and by process CPU time (the best of ``XDBENCH_ROUNDS`` interleaved rounds, default 2),
the ratios xdbench / lm-eval, and the agreement. Under ``--benchmark-disable`` (plain
pytest) it runs 2 questions of 2 subjects and 2 lines per domain, one round. Nothing
asserts a time; every case asserts max |Δ log-likelihood| ≤ 1e-4 nats and the same
predictions.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from bench.suites.types import Task
from tests.adapters.conftest import smollm2  # noqa: F401 (the fixture)
from tests.adapters.lm_eval_requests import (
    SUBJECTS,
    agreement,
    has_data,
    lm_eval_loglikelihood,
    make_hflm,
    mmlu_requests,
    n_tokens,
    sentiment_requests,
)
from tests.conftest import ENABLE_DATA

pytest.importorskip("lm_eval", reason="needs lm-eval: pip install lm-eval==0.4.13")
pytestmark = pytest.mark.skipif(not has_data(), reason=f"needs mmlu/test and uci-sentiment: {ENABLE_DATA}")

MC = Task("mc", "multiple_choice")
SPEED_SUBJECTS = (*SUBJECTS, "college_physics", "econometrics")
"""The 10 MMLU subjects of the 5-shot cases."""
ROUNDS = int(os.environ.get("XDBENCH_ROUNDS", 2))


def _measuring(config: pytest.Config) -> bool:
    return bool(config.getoption("benchmark_enable", default=False)) or not config.getoption(
        "benchmark_disable", default=False)


@pytest.fixture(scope="module")
def sizes(request: pytest.FixtureRequest) -> dict[str, int]:
    """Subjects, questions per subject and sentiment lines per domain, and rounds."""
    if _measuring(request.config):
        return {"subjects": 10, "questions": 20, "lines": 100, "rounds": ROUNDS}
    return {"subjects": 2, "questions": 2, "lines": 2, "rounds": 1}


@pytest.fixture(scope="module")
def hflm(smollm2):  # noqa: F811 (the imported fixture)
    return make_hflm(smollm2, batch_size=16)


def _clock(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """``(result, wall seconds, process CPU seconds)`` of ``fn()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def _compare(benchmark, lm, hflm, pairs: list, label: str, rounds: int) -> dict[str, Any]:
    requests = [r for r, _ in pairs]
    tokens = n_tokens(lm, requests)
    lm.loglikelihood(requests[:2], MC)  # warm-up of both
    lm_eval_loglikelihood(hflm, requests[:2])
    best = {k: np.inf for k in ("wall_xdbench", "cpu_xdbench", "wall_lm_eval", "cpu_lm_eval")}
    ours = theirs = None
    for _ in range(rounds):
        ours, wall, cpu = _clock(lambda: lm.loglikelihood(requests, MC))
        best["wall_xdbench"], best["cpu_xdbench"] = min(best["wall_xdbench"], wall), min(best["cpu_xdbench"], cpu)
        theirs, wall, cpu = _clock(lambda: lm_eval_loglikelihood(hflm, requests))
        best["wall_lm_eval"], best["cpu_lm_eval"] = min(best["wall_lm_eval"], wall), min(best["cpu_lm_eval"], cpu)
    result = agreement(ours, theirs, [t for _, t in pairs])
    info = {"case": label, "requests": len(requests), "tokens": tokens,
            **{f"tokens_per_s_{k}": round(tokens / v, 1) for k, v in best.items()},
            "ratio_wall": round(best["wall_lm_eval"] / best["wall_xdbench"], 2),
            "ratio_cpu": round(best["cpu_lm_eval"] / best["cpu_xdbench"], 2),
            "max_abs_diff": float(f"{result.max_abs_diff:.3g}"), "same_prediction": result.same_argmax,
            "load_average": round(os.getloadavg()[0], 2)}
    benchmark.extra_info.update(info)
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    print(f"\n{info}")  # noqa: T201 (a benchmark report, not library code)
    assert result.max_abs_diff <= 1e-4 and result.same_argmax == 1.0, info
    return info


@pytest.mark.benchmark(group="lm-eval speed")
def test_sentiment_zero_shot(benchmark, smollm2, hflm, sizes) -> None:  # noqa: F811
    _compare(benchmark, smollm2, hflm, sentiment_requests(sizes["lines"]), "uci-sentiment 0-shot", sizes["rounds"])


@pytest.mark.benchmark(group="lm-eval speed")
@pytest.mark.parametrize("style", ["letter", "cloze"])
def test_mmlu_five_shot(benchmark, smollm2, hflm, sizes, style: str) -> None:  # noqa: F811
    pairs = mmlu_requests(SPEED_SUBJECTS[: sizes["subjects"]], sizes["questions"], 5, style)
    _compare(benchmark, smollm2, hflm, pairs, f"mmlu 5-shot {style}", sizes["rounds"])
