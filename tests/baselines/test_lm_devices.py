"""``--device`` and ``--dtype`` reach the training of the language-model fine-tunes (on a
tiny random Llama, on the CPU): bfloat16 weights train with float32 LoRA matrices and
float32 AdamW moments, the same seed gives the same adapter in float32 and in bfloat16,
the record says where and in what dtype the training ran, the default dtype follows the
device, and a ``cuda`` request without CUDA fails when the model is built."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from tests.adapters.conftest import tiny_lm_dir  # noqa: F401  (a fixture)
from tests.baselines.test_lm_finetune import QUICK, SENTIMENT, build, labelled

pytest.importorskip("transformers")
pytest.importorskip("peft")

NO_CUDA = "device 'cuda' requested but torch.cuda.is_available() is False (no CUDA GPU, or torch built without CUDA)"


def adapter(model) -> dict[str, np.ndarray]:
    from bench.baselines.lm_finetune import trained_state

    return {n: p.detach().float().numpy().copy() for n, p in trained_state(model.lm.model).items()}


def test_bfloat16_trains_float32_lora_with_finite_losses_and_saves_the_adapter(
        tiny_lm_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    import torch

    from bench.adapters import make_model
    from bench.baselines.persist import save_model

    model = build(tiny_lm_dir, f"{QUICK}&dtype=bfloat16&checkpoint_steps=1")
    model.checkpoint_to(tmp_path / "train.pt")
    model.fit(labelled(), [SENTIMENT], seed=0)
    assert model.lm.model.dtype == torch.bfloat16
    losses = model.log.epoch_loss
    assert len(losses) == 8 and all(math.isfinite(x) for x in losses) and losses[-1] < losses[0]
    assert {p.dtype for p in adapter_params(model)} == {torch.float32}
    record = model.training_record()
    assert (record["device"], record["dtype"], record["trainable_dtype"]) == ("cpu", "bfloat16", "float32")
    saved = torch.load(tmp_path / "train.pt", map_location="cpu", weights_only=True)
    moments = [s["exp_avg"] for s in saved["optimiser"]["state"].values()]
    assert moments and {m.dtype for m in moments} == {torch.float32}
    folder = save_model(model, tmp_path / "saved")
    assert {"adapter_config.json", "adapter_model.safetensors"} <= {p.name for p in folder.iterdir()}
    assert json.loads((folder / "model.json").read_text())["training"]["dtype"] == "bfloat16"
    loaded = make_model(str(folder), options={"dtype": "bfloat16"})
    assert loaded.lm.model.dtype == torch.bfloat16 and loaded.training_record()["dtype"] == "bfloat16"
    assert np.isfinite(loaded.log_probs(labelled()[:4], SENTIMENT)).all()


def adapter_params(model) -> list:
    return [p for n, p in model.lm.model.named_parameters() if "lora_" in n]


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_the_same_seed_gives_the_same_adapter(tiny_lm_dir: Path, dtype: str) -> None:  # noqa: F811
    a, b, c = (build(tiny_lm_dir, f"{QUICK}&epochs=2&dtype={dtype}") for _ in range(3))
    for model, seed in ((a, 0), (b, 0), (c, 1)):
        model.fit(labelled(), [SENTIMENT], seed=seed)
    wa, wb, wc = adapter(a), adapter(b), adapter(c)
    assert wa.keys() == wb.keys() and wa
    for name in wa:
        np.testing.assert_array_equal(wa[name], wb[name], err_msg=name)
    assert any(not np.array_equal(wa[n], wc[n]) for n in wa)
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()
    assert a.training_record()["dtype"] == dtype


def test_a_fine_tune_takes_the_dtype_of_its_zero_shot_floor(tiny_lm_dir: Path) -> None:  # noqa: F811
    """No default of its own: with no dtype the fine-tune's base model is float32 as
    hf-causal-lm's is, and with one both take it, so the floor and the remedies compare at
    one precision."""
    import torch

    from bench.adapters import make_model

    model = build(tiny_lm_dir)
    floor = make_model(f"hf-causal-lm:{tiny_lm_dir}")
    assert model.lm.model.dtype == floor.model.dtype == torch.float32 and "dtype" not in model.base_options
    options = {"dtype": "bfloat16"}
    tuned = make_model(f"lm-finetuned:hf-causal-lm:{tiny_lm_dir}?{QUICK}", options=options)
    assert tuned.lm.model.dtype == make_model(f"hf-causal-lm:{tiny_lm_dir}", options=options).model.dtype == torch.bfloat16


@pytest.mark.parametrize("how", ["spec", "run option"])
def test_a_cuda_request_without_cuda_fails_before_training(tiny_lm_dir: Path, how: str) -> None:  # noqa: F811
    import torch

    from bench.adapters import make_model
    from bench.errors import ConfigError

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is here: the request would be granted")
    spec = f"lm-finetuned:hf-causal-lm:{tiny_lm_dir}?{QUICK}"
    with pytest.raises(ConfigError, match=NO_CUDA.replace("(", r"\(").replace(")", r"\)")):
        if how == "spec":
            make_model(f"{spec}&device=cuda")
        else:  # as bench run --device cuda hands it to the model
            make_model(spec, options={"device": "cuda"})
