"""A saved fine-tune scoring as ``--model FOLDER`` (tiny random Llama, no download): it
takes the run's ``--device``, ``--dtype`` and ``--batch-size auto``, an unknown device is
the usual error, and its LoRA update is merged into the weights it adapts without
changing the scores."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from tests.adapters.conftest import tiny_lm_dir  # noqa: F401  (a fixture)
from tests.baselines.test_lm_finetune import SENTIMENT, build, labelled

pytest.importorskip("transformers")
pytest.importorskip("peft")


@pytest.fixture
def saved(tiny_lm_dir: Path, tmp_path: Path):  # noqa: F811
    """``(trained model, its saved folder)``."""
    from bench.baselines.persist import save_model

    model = build(tiny_lm_dir, "epochs=2&lr=0.01&rank=4&train_batch_size=4")
    model.fit(labelled(), [SENTIMENT], seed=0)
    return model, save_model(model, tmp_path / "saved")


def test_the_adapter_is_merged_for_scoring_and_scores_as_unmerged(saved) -> None:
    model, _ = saved
    assert model.merged
    examples = labelled()[:6]
    merged = model.log_probs(examples, SENTIMENT)
    model.peft_model.unmerge_adapter()
    np.testing.assert_allclose(merged, model.log_probs(examples, SENTIMENT), atol=1e-5)
    assert not np.allclose(merged, build_plain(model).log_probs(examples, SENTIMENT), atol=1e-4)  # it was trained


def build_plain(model):
    from bench.adapters import make_model

    return make_model(model.base)


def test_a_saved_fine_tune_takes_the_runs_dtype_and_device(saved) -> None:
    import torch

    from bench.adapters import make_model

    model, folder = saved
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "does not take --device, --dtype"
        default = make_model(str(folder))
        half = make_model(str(folder), options={"dtype": "bfloat16", "device": "cpu", "batch_size": "auto"})
    assert default.lm.model.dtype == torch.float32 and default.merged
    assert half.lm.model.dtype == torch.bfloat16 and half.lm.device == torch.device("cpu") and half.merged
    assert {p.dtype for n, p in half.lm.model.named_parameters() if "lora_" not in n} == {torch.bfloat16}
    assert {"dtype": "bfloat16", "device": "cpu", "batch_size": "auto"}.items() <= half.options()["base_options"].items()
    assert half.fingerprint() != default.fingerprint() == model.fingerprint()
    examples = labelled()[:6]
    np.testing.assert_allclose(half.log_probs(examples, SENTIMENT), default.log_probs(examples, SENTIMENT), atol=0.1)


def test_options_a_saved_fine_tune_does_not_take(saved) -> None:
    from bench.adapters import make_model
    from bench.errors import ConfigError, IgnoredOptionWarning
    from bench.runner import RunConfig

    _, folder = saved
    with pytest.raises(ConfigError, match=r"'HFCausalLMConfig.device' must be one of cpu, cuda, cuda:N, mps, auto; got 'tpu'"):
        make_model(str(folder), options={"device": "tpu"})
    with pytest.raises(ConfigError, match=r"'RunConfig.device' \(--device\) must be one of cpu, cuda, cuda:N, mps; got 'tpu'"):
        RunConfig(suites=("toy-reviews",), models=(str(folder),), device="tpu")
    with pytest.warns(IgnoredOptionWarning, match=r"does not take --apply-chat-template"):
        make_model(str(folder), options={"apply_chat_template": True})  # it keeps the prompts it was trained on


def test_a_run_scores_a_saved_fine_tune_in_bfloat16(saved) -> None:
    from bench.runner import RunConfig, run

    _, folder = saved
    with warnings.catch_warnings():
        warnings.simplefilter("error", category=Warning)
        warnings.filterwarnings("ignore", category=Warning, message=".*(needs at least|examples).*")
        result = run(RunConfig(suites=("toy-reviews",), models=(str(folder),), limit=2, tasks=("sentiment",),
                               device="cpu", dtype="bfloat16"))
    assert len(result.records) == 2 * result.records["domain"].nunique() and result.records["model"].nunique() == 1


def test_the_loader_names_an_option_it_does_not_take(saved) -> None:
    from bench.baselines.persist import load_model
    from bench.errors import ConfigError

    _, folder = saved
    with pytest.raises(ConfigError, match=r"the saved lm-lora model does not take option\(s\) apply_chat_template"):
        load_model(folder, apply_chat_template=True)
