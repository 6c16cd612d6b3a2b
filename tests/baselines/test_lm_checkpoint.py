"""Mid-training checkpoints of the language-model fine-tunes (tiny random Llama, no
download): a training killed between checkpoints, or by SIGKILL right after one, resumes
from the last one and ends with the adapter an uninterrupted training gives; a corrupt
checkpoint, or one of another training, is one clear error naming the file."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.adapters.conftest import tiny_lm_dir  # noqa: F401  (a fixture)
from tests.baselines.test_lm_finetune import SENTIMENT, build, labelled
from tests.conftest import REPO

pytest.importorskip("transformers")
pytest.importorskip("peft")

OPTIONS = "epochs=3&lr=0.01&rank=4&train_batch_size=4&checkpoint_steps=2"  # 12 items: 3 steps an epoch, 9 in all


def lora_weights(model) -> dict[str, np.ndarray]:
    from bench.baselines.lm_finetune import trained_state

    return {n: p.detach().numpy().copy() for n, p in trained_state(model.lm.model).items()}


def assert_same_adapter(a, b) -> None:
    wa, wb = lora_weights(a), lora_weights(b)
    assert wa.keys() == wb.keys() and wa
    for name in wa:
        np.testing.assert_allclose(wa[name], wb[name], rtol=1e-5, atol=1e-7, err_msg=name)


def killed_after(steps: int):
    """A progress callback that raises KeyboardInterrupt once ``steps`` optimiser steps are reported."""
    taken = [0]

    @contextlib.contextmanager
    def progress(total, description):
        def advance(n):
            taken[0] += n
            if taken[0] >= steps:
                raise KeyboardInterrupt

        yield advance

    return progress


def test_a_training_killed_between_checkpoints_resumes_to_the_same_adapter(tiny_lm_dir: Path,  # noqa: F811
                                                                            tmp_path: Path) -> None:
    whole = build(tiny_lm_dir, OPTIONS)
    whole.checkpoint_to(tmp_path / "whole.pt")
    whole.fit(labelled(), [SENTIMENT], seed=0)

    path = tmp_path / "cut.pt"
    cut = build(tiny_lm_dir, OPTIONS)
    cut.checkpoint_to(path)
    cut.report_progress(killed_after(5))  # checkpoints after steps 2, 3 (epoch end) and 4; killed after 5
    with pytest.raises(KeyboardInterrupt):
        cut.fit(labelled(), [SENTIMENT], seed=0)
    assert path.is_file() and not list(tmp_path.glob(".*.tmp"))  # written whole, no staging file left

    seen: list[str] = []
    advanced: list[int] = []

    @contextlib.contextmanager
    def progress(total, description):
        seen.append(description)
        yield advanced.append

    resumed = build(tiny_lm_dir, OPTIONS)
    resumed.checkpoint_to(path)
    resumed.report_progress(progress)
    resumed.fit(labelled(), [SENTIMENT], seed=0)
    assert seen[0].startswith("training lm-finetuned: epoch 2/3, resumed at step 4 of 9, last loss ")
    assert "resumed" not in seen[1] and len(seen) == 2 and advanced[0] == 1 and sum(advanced) == 6
    assert resumed.log.steps == 9 and resumed.log.resumed_from == 4
    assert resumed.training_record()["resumed_from_step"] == 4
    np.testing.assert_allclose(resumed.log.epoch_loss, whole.log.epoch_loss, rtol=1e-6)
    assert_same_adapter(resumed, whole)
    assert resumed.fingerprint() == whole.fingerprint()  # the output cache's key too


def test_checkpoint_steps_is_not_part_of_the_fingerprint(tiny_lm_dir: Path) -> None:  # noqa: F811
    a, b = build(tiny_lm_dir, "epochs=1&checkpoint_steps=1"), build(tiny_lm_dir, "epochs=1&checkpoint_steps=0")
    for model in (a, b):
        model.fit(labelled(), [SENTIMENT], seed=0)
    assert a.fingerprint() == b.fingerprint()
    assert a.training_record()["train"]["checkpoint_steps"] == 1


def test_a_finished_checkpoint_trains_nothing_more(tiny_lm_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    first = build(tiny_lm_dir, OPTIONS)
    first.checkpoint_to(tmp_path / "c.pt")
    first.fit(labelled(), [SENTIMENT], seed=0)
    again = build(tiny_lm_dir, OPTIONS)
    again.checkpoint_to(tmp_path / "c.pt")
    again.report_progress(killed_after(1))  # any step taken would raise
    again.fit(labelled(), [SENTIMENT], seed=0)
    assert again.log.resumed_from == again.log.steps == 9
    assert_same_adapter(again, first)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "other-seed"])
def test_a_bad_checkpoint_is_one_clear_error_naming_the_file(tiny_lm_dir: Path, tmp_path: Path,  # noqa: F811
                                                             damage: str) -> None:
    from bench.errors import DataError

    path = tmp_path / "c.pt"
    first = build(tiny_lm_dir, "epochs=1&checkpoint_steps=1")
    first.checkpoint_to(path)
    first.fit(labelled(), [SENTIMENT], seed=0)
    if damage == "garbage":
        path.write_bytes(b"not a checkpoint")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:100])
    model = build(tiny_lm_dir, "epochs=1&checkpoint_steps=1")
    model.checkpoint_to(path)
    what = "was written by another training" if damage == "other-seed" else "cannot be read"
    with pytest.raises(DataError, match=rf"Training checkpoint {path} of model 'lm-finetuned' {what}.*; "
                                        "delete it to train from the start"):
        model.fit(labelled(), [SENTIMENT], seed=1 if damage == "other-seed" else 0)


def test_a_run_killed_at_a_checkpoint_resumes_from_it(tiny_lm_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    """``bench run`` SIGKILLed right after its second checkpoint; ``--resume`` trains on from
    it and saves the adapter an uninterrupted run saves."""
    from safetensors.numpy import load_file

    from bench.pipeline import evaluate
    from bench.runner import RunConfig
    from bench.store import KILL_ENV, RunStore

    spec = f"lm-finetuned:hf-causal-lm:{tiny_lm_dir}?epochs=2&max_train=8&train_batch_size=2&checkpoint_steps=3"
    config = RunConfig(suites=("toy-reviews",), models=(spec,), limit=4, tasks=("sentiment",), batch_size=4)
    env = {**os.environ, "PYTHONPATH": str(REPO), KILL_ENV: "checkpoint:2"}  # after step 4 (epoch end): 3, 4
    killed = subprocess.run([sys.executable, "-m", "bench", "run", "toy-reviews", "--model", spec, "--limit", "4",
                             "--task", "sentiment", "--batch-size", "4", "-q", "--out", str(tmp_path / "cut")],
                            env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr
    (checkpoint,) = (tmp_path / "cut" / "work").rglob("*.pt")
    assert checkpoint.parent.name == "checkpoints"

    seen: list[str] = []

    @contextlib.contextmanager
    def progress(total, description):
        seen.append(description)
        yield lambda n: None

    (run_id,) = [r.run_id for r in RunStore(tmp_path / "cut").runs()]
    done = evaluate(config, tmp_path / "cut", progress=progress, resume=run_id)
    assert any(d.startswith("training lm-finetuned: epoch 2/2, resumed at step 4 of 8") for d in seen)
    assert not (tmp_path / "cut" / "work").exists()  # checkpoints go with the work folder
    whole = evaluate(config, tmp_path / "whole")
    (a,), (b,) = (list(run.run_dir.glob("models/*/adapter_model.safetensors")) for run in (done, whole))
    wa, wb = load_file(a), load_file(b)
    assert wa.keys() == wb.keys()
    for name in wa:
        np.testing.assert_allclose(wa[name], wb[name], rtol=1e-5, atol=1e-7, err_msg=name)
