"""smollm2-135m, the real model of the tests: registered, scores like a plain forward pass."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.cli import main
from bench.runner import RunConfig, run
from tests.adapters.conftest import LM, SENTIMENT, examples

TEXT = "The committee will meet on Tuesday to discuss the budget for next year."


def test_text_nll_equals_a_plain_forward_pass(smollm2) -> None:
    ids = [smollm2.prefix_id, *smollm2.encode([TEXT])[0]]
    with torch.inference_mode():
        log_p = smollm2.model(torch.tensor([ids])).logits[0].double().log_softmax(-1)
    expected = -sum(log_p[i - 1, ids[i]].item() for i in range(1, len(ids)))
    nll, n_tokens = smollm2.text_nll(examples([TEXT]), LM)
    assert n_tokens[0] == len(ids) - 1
    assert nll[0] == pytest.approx(expected, abs=1e-3)
    assert 1.0 < nll[0] / n_tokens[0] < 6.0  # plain English: a few nats per token


def test_choice_scores_equal_one_sequence_per_choice(smollm2) -> None:
    exs = examples(["I loved it, best purchase ever.", "Broke on day one. Avoid."])
    for request, row in zip(smollm2.choice_requests(exs, SENTIMENT), smollm2.choice_scores(exs, SENTIMENT), strict=True):
        for branch, score in zip(request.branches, row, strict=True):
            ids = [*request.context, *branch]
            with torch.inference_mode():
                log_p = smollm2.model(torch.tensor([ids])).logits[0].double().log_softmax(-1)
            c = len(request.context)
            assert score == pytest.approx(sum(log_p[c - 1 + t, branch[t]].item() for t in range(len(branch))), abs=1e-3)


def test_run_on_toy_reviews_scores_sentiment_and_skips_rating(smollm2) -> None:
    result = run(RunConfig(models=("smollm2-135m",), limit=3))
    records = result.records
    assert set(records["task"]) == {"sentiment"}
    assert len(records) == 4 * 3
    assert any("rating: regression not supported" in note for note in result.skipped)
    probs = records[["prob_negative", "prob_positive"]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    assert result.fingerprints["smollm2-135m/toy-reviews/id_ood"].startswith("smollm2-135m@")


def test_serving_a_model_that_cannot_be_served(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--model", "uniform", "--port", "0"]) == 2
    assert "error: Model 'uniform' cannot be served over the completions API" in capsys.readouterr().err


def test_smollm2_implements_every_served_feature(smollm2) -> None:  # type: ignore[no-untyped-def]
    from bench.serve import SERVED_FEATURES, served_features

    assert served_features(smollm2) == list(SERVED_FEATURES)
