"""xdbench's hf-causal-lm against lm-evaluation-harness's HFLM on the same requests (SmolLM2).

The acceptance check of the LLM scoring: MMLU (5 subjects, 0- and 5-shot, letter and
cloze) and uci-sentiment, the same model object in both harnesses, per-option
log-likelihoods within 1e-4 nats and the same prediction. A few dozen requests here; the
full comparison with throughput is ``tests/benchmarks/test_lm_eval_agreement.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.adapters.lm_eval_requests import (
    SUBJECTS,
    agreement,
    has_data,
    lm_eval_loglikelihood,
    make_hflm,
    mmlu_requests,
    sentiment_requests,
)
from tests.conftest import ENABLE_DATA

pytest.importorskip("lm_eval", reason="needs lm-eval: pip install lm-eval==0.4.13")
pytestmark = pytest.mark.skipif(not has_data(), reason=f"needs mmlu/test and uci-sentiment: {ENABLE_DATA}")

MC = __import__("bench.suites.types", fromlist=["Task"]).Task("mmlu", "multiple_choice")


@pytest.fixture(scope="module")
def hflm(smollm2):
    return make_hflm(smollm2)


@pytest.mark.parametrize("shots", [0, 5])
@pytest.mark.parametrize("style", ["letter", "cloze"])
def test_mmlu_log_likelihoods_equal_lm_evals(smollm2, hflm, shots: int, style: str) -> None:
    pairs = mmlu_requests(SUBJECTS[:5], 1, shots, style)
    requests = [r for r, _ in pairs]
    ours = smollm2.loglikelihood(requests, MC)
    theirs = lm_eval_loglikelihood(hflm, requests)
    result = agreement(ours, theirs, [t for _, t in pairs])
    assert result.max_abs_diff <= 1e-4, result
    assert result.same_argmax == 1.0, result
    if shots:
        assert smollm2.prefix_caching  # the 5-shot prefix came from the cache


def test_sentiment_log_likelihoods_and_accuracy_equal_lm_evals(smollm2, hflm) -> None:
    pairs = sentiment_requests(8)
    requests = [r for r, _ in pairs]
    ours = smollm2.loglikelihood(requests, MC)
    theirs = lm_eval_loglikelihood(hflm, requests)
    result = agreement(ours, theirs, [t for _, t in pairs])
    assert result.max_abs_diff <= 1e-4, result
    assert result.same_argmax == 1.0 and result.accuracy_a == result.accuracy_b
    assert np.isfinite(np.concatenate(ours)).all()
