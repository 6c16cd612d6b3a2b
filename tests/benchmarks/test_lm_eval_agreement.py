"""xdbench against lm-evaluation-harness's HFLM (batch 16, its default logits cache) on SmolLM2:
agreement and throughput on the same requests, in one process, interleaved.

Run the full comparison (5 subjects × 20 questions × {0, 5}-shot × {letter, cloze} MMLU
requests and 600 uci-sentiment requests, 200 per domain) with::

    python -m pytest tests/benchmarks/test_lm_eval_agreement.py --benchmark-enable -s

(``XDBENCH_MMLU_QUESTIONS``, ``XDBENCH_SENTIMENT_LINES``, ``XDBENCH_ROUNDS`` and
``XDBENCH_BARE=0`` shrink it). Every case records in
``extra_info`` and prints: the agreement (max |Δ log-likelihood|, share of equal
predictions, both accuracies), tokens/s of xdbench, of lm-eval and of a bare batched
forward pass over lm-eval-style padded batches (sorted by length, 16 rows, one row per
option, full logits), and the ratios. Under ``--benchmark-disable`` (CI) it runs one
question per subject and a few sentiment lines. Nothing asserts a time.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest
import torch

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
    timed,
)
from tests.conftest import ENABLE_DATA

pytest.importorskip("lm_eval", reason="needs lm-eval: pip install lm-eval==0.4.13")
pytestmark = pytest.mark.skipif(not has_data(), reason=f"needs mmlu/test and uci-sentiment: {ENABLE_DATA}")

MC = Task("mc", "multiple_choice")
ROUNDS = int(os.environ.get("XDBENCH_ROUNDS", 2))
"""Interleaved rounds (xdbench, lm-eval, bare) per case; the best round of each counts."""
BARE = os.environ.get("XDBENCH_BARE", "1") != "0"
"""Whether to time the bare batched forward too (``XDBENCH_BARE=0`` skips it: it is the slowest)."""


def _measuring(config: pytest.Config) -> bool:
    return bool(config.getoption("benchmark_enable", default=False)) or not config.getoption(
        "benchmark_disable", default=False)


@pytest.fixture(scope="module")
def sizes(request: pytest.FixtureRequest) -> tuple[int, int]:
    if _measuring(request.config):
        return int(os.environ.get("XDBENCH_MMLU_QUESTIONS", 20)), int(os.environ.get("XDBENCH_SENTIMENT_LINES", 200))
    return 1, 4


@pytest.fixture(scope="module")
def hflm(smollm2):  # noqa: F811 (the imported fixture)
    return make_hflm(smollm2)


def bare_forward(model: Any, tokenizer: Any, requests: list, batch_size: int = 16) -> list[float]:
    """One padded row per (context, option), sorted by length, full logits: the plain batched loop."""
    rows = []
    for r in requests:
        ctx = r.prompt.text()
        ctx_ids = tokenizer.encode(ctx)
        for c in r.scored_continuations():
            whole = tokenizer.encode(ctx + c)
            rows.append((ctx_ids + whole[len(ctx_ids):], len(whole) - len(ctx_ids)))
    order = sorted(range(len(rows)), key=lambda i: -len(rows[i][0]))
    out = [0.0] * len(rows)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            width = len(rows[chunk[0]][0]) - 1
            ids = torch.zeros((len(chunk), width), dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for j, i in enumerate(chunk):
                seq = rows[i][0][:-1]
                ids[j, : len(seq)] = torch.tensor(seq)
                mask[j, : len(seq)] = 1
            log_p = model(input_ids=ids, attention_mask=mask).logits.float().log_softmax(-1)
            for j, i in enumerate(chunk):
                seq, n = rows[i]
                positions = torch.arange(len(seq) - 1 - n, len(seq) - 1)
                out[i] = float(log_p[j, positions, torch.tensor(seq[-n:])].sum())
    return out


def _compare(benchmark, lm, hflm, pairs, label: str) -> None:
    requests = [r for r, _ in pairs]
    tokens = n_tokens(lm, requests)
    best = {"xdbench": np.inf, "lm_eval": np.inf, "bare": np.inf}
    ours = theirs = None
    smoke = len(pairs) <= 12  # the CI smoke size (see ``sizes``): one pass, no bare loop
    bare = BARE and not smoke
    for _ in range(1 if smoke else ROUNDS):
        ours, seconds = timed(lambda: lm.loglikelihood(requests, MC))
        best["xdbench"] = min(best["xdbench"], seconds)
        theirs, seconds = timed(lambda: lm_eval_loglikelihood(hflm, requests))
        best["lm_eval"] = min(best["lm_eval"], seconds)
        if bare:
            _, seconds = timed(lambda: bare_forward(lm.model, lm.tokenizer, requests))
            best["bare"] = min(best["bare"], seconds)
    result = agreement(ours, theirs, [t for _, t in pairs])
    info = {"case": label, "requests": result.n_requests, "tokens": tokens,
            "max_abs_diff": float(f"{result.max_abs_diff:.3g}"), "same_prediction": result.same_argmax,
            "accuracy_xdbench": round(result.accuracy_a, 4), "accuracy_lm_eval": round(result.accuracy_b, 4)}
    info |= {f"tokens_per_s_{k}": round(tokens / v, 1) for k, v in best.items() if np.isfinite(v)}
    info |= _per_group_accuracy(requests, ours, theirs, [t for _, t in pairs])
    info |= {"xdbench_over_lm_eval": round(best["lm_eval"] / best["xdbench"], 2)}
    if bare:
        info["xdbench_over_bare"] = round(best["bare"] / best["xdbench"], 2)
    benchmark.extra_info.update(info)
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    print(f"\n{info}")  # noqa: T201 (a benchmark report, not library code)
    assert result.max_abs_diff <= 1e-4 and result.same_argmax >= 0.999, info


def _per_group_accuracy(requests: list, ours: list, theirs: list, targets: list[int]) -> dict[str, str]:
    """Accuracy of both per domain (the example id's part before the last '-'): 'xdbench/lm-eval'."""
    out: dict[str, list[tuple[bool, bool]]] = {}
    for r, a, b, t in zip(requests, ours, theirs, targets, strict=True):
        out.setdefault(r.example_id.rsplit("-", 1)[0], []).append((int(np.argmax(a)) == t, int(np.argmax(b)) == t))
    return {f"accuracy_{group}": f"{np.mean([x for x, _ in v]):.3f}/{np.mean([y for _, y in v]):.3f}"
            for group, v in out.items()}


@pytest.mark.benchmark(group="lm-eval agreement")
@pytest.mark.parametrize("shots", [0, 5])
@pytest.mark.parametrize("style", ["letter", "cloze"])
def test_mmlu(benchmark, smollm2, hflm, sizes, shots: int, style: str) -> None:  # noqa: F811
    pairs = mmlu_requests(SUBJECTS[:5], sizes[0], shots, style)
    _compare(benchmark, smollm2, hflm, pairs, f"mmlu {shots}-shot {style}")


@pytest.mark.benchmark(group="lm-eval agreement")
def test_sentiment(benchmark, smollm2, hflm, sizes) -> None:  # noqa: F811
    _compare(benchmark, smollm2, hflm, sentiment_requests(sizes[1]), "uci-sentiment 0-shot")
