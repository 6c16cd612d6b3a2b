"""The language-model mitigations (``lm-finetuned``, ``lm-augmented``, ``lm-multitask``) on a
tiny random Llama built in the test (no download): training lowers the loss the harness
scores, changes the scores, is seeded, is recorded, saves a ``peft`` adapter that loads
back, and bad input fails before any training with one clear error."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from bench.suites.types import Example, Task
from tests.adapters.conftest import tiny_lm_dir  # noqa: F401  (a fixture)

pytest.importorskip("transformers")
pytest.importorskip("peft")

SENTIMENT = Task("sentiment", "classification", ("negative", "positive"), prompt="Review: {text}\nAnswer:")
TEXTS = ["good film", "bad kettle", "great book", "awful lid", "lovely story", "broken screen"]
QUICK = "epochs=8&lr=0.01&rank=4&train_batch_size=4"


def labelled(n: int = 12, domain: str = "d") -> list[Example]:
    return [Example(f"{domain}-{i}", domain, TEXTS[i % len(TEXTS)], {"sentiment": i % 2}) for i in range(n)]


def build(folder: Path, options: str = QUICK, kind: str = "lm-finetuned"):
    from bench.adapters import make_model

    return make_model(f"{kind}:hf-causal-lm:{folder}?{options}")


def mean_loss(model, examples: list[Example], tasks: list[Task], lm_weight: float = 0.0) -> float:
    import torch

    from bench.baselines.lm_finetune import items_loss, train_items

    items = train_items(model.lm, examples, tasks, max_tokens=64, lm_weight=lm_weight)
    with torch.no_grad():
        return float(items_loss(model.lm.model, items, pad_id=model.lm.pad_id, device=model.lm.device))


def test_training_lowers_the_scored_loss_and_changes_the_scores(tiny_lm_dir: Path) -> None:  # noqa: F811
    from bench.adapters import make_model

    model = build(tiny_lm_dir)
    train = labelled()
    before, scores_before = mean_loss(model, train, [SENTIMENT]), model.log_probs(train[:4], SENTIMENT)
    model.fit(train, [SENTIMENT], seed=0)
    after = mean_loss(model, train, [SENTIMENT])
    assert after < before - 0.1, (before, after)
    assert model.log.epoch_loss[-1] < model.log.epoch_loss[0]
    assert not np.allclose(model.log_probs(train[:4], SENTIMENT), scores_before, atol=1e-4)
    plain = make_model(f"hf-causal-lm:{tiny_lm_dir}")  # the shared base weights are untouched
    np.testing.assert_allclose(plain.log_probs(train[:4], SENTIMENT), scores_before, atol=1e-6)


def test_the_loss_is_the_scored_log_likelihood(tiny_lm_dir: Path) -> None:  # noqa: F811
    """The training loss of one example is −ln p(gold continuation | prompt), the harness's own score."""
    model = build(tiny_lm_dir)
    example = labelled(1)
    sums = model.lm.choice_scores(example, SENTIMENT)  # unnormalised summed log-likelihoods
    assert mean_loss(model, example, [SENTIMENT]) == pytest.approx(-sums[0, 0], abs=1e-4)


def test_same_seed_same_adapter_and_the_record(tiny_lm_dir: Path) -> None:  # noqa: F811
    a, b, c = build(tiny_lm_dir), build(tiny_lm_dir), build(tiny_lm_dir)
    for model, seed in ((a, 0), (b, 0), (c, 1)):
        model.fit(labelled(), [SENTIMENT], seed=seed)
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()
    record = a.training_record()
    assert record["train"] | {"target_modules": list(record["train"]["target_modules"])} == {
        "method": "lora", "rank": 4, "alpha": 16, "dropout": 0.05, "target_modules": ["q_proj", "v_proj"],
        "lr": 0.01, "epochs": 8, "train_batch_size": 4, "max_train": None, "max_tokens": 256, "lm_weight": 1.0,
        "checkpoint_steps": 20}
    assert record["steps"] == 8 * 3 and record["items"] == 12 and len(record["epoch_loss"]) == 8
    assert record["trainable_parameters"] > 0


def test_progress_reports_each_epoch_and_step(tiny_lm_dir: Path) -> None:  # noqa: F811
    import contextlib

    seen: list[tuple[int, str]] = []
    steps: list[int] = []

    @contextlib.contextmanager
    def progress(total, description):
        seen.append((total, description))
        yield steps.append

    model = build(tiny_lm_dir, "epochs=2&train_batch_size=4")
    model.report_progress(progress)
    model.fit(labelled(), [SENTIMENT], seed=0)
    assert [t for t, _ in seen] == [3, 3] and sum(steps) == 6
    assert seen[0][1] == "training lm-finetuned: epoch 1/2" and seen[1][1].startswith("training lm-finetuned: "
                                                                                       "epoch 2/2, last loss ")


def test_augmented_and_multitask_train_on_more_items(tiny_lm_dir: Path) -> None:  # noqa: F811
    augmented = build(tiny_lm_dir, "epochs=1&copies=2", "lm-augmented")
    multitask = build(tiny_lm_dir, "epochs=1&lm_weight=0.5", "lm-multitask")
    for model in (augmented, multitask):
        model.fit(labelled(), [SENTIMENT], seed=0)
    assert augmented.log.items == 36 and multitask.log.items == 24
    assert multitask.trains_all_tasks and not augmented.trains_all_tasks
    assert augmented.training_record()["augment"]["copies"] == 2


def test_multiple_choice_trains_on_the_gold_answer(tiny_lm_dir: Path) -> None:  # noqa: F811
    from bench.suites.prompts import PromptFormat

    task = Task("qa", "multiple_choice", format=PromptFormat())
    train = [Example(f"q{i}", "d", "Which is good?", {"qa": i % 2}, options=("film", "kettle")) for i in range(8)]
    model = build(tiny_lm_dir)
    before = mean_loss(model, train, [task])
    model.fit(train, [task], seed=0)
    assert mean_loss(model, train, [task]) < before


def test_saved_adapter_is_a_peft_folder_that_scores_the_same(tiny_lm_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    import peft
    import transformers

    from bench.adapters import make_model
    from bench.baselines.persist import save_model

    model = build(tiny_lm_dir)
    model.fit(labelled(), [SENTIMENT], seed=0)
    folder = save_model(model, tmp_path / "saved")
    assert {"adapter_config.json", "adapter_model.safetensors", "model.json"} <= {p.name for p in folder.iterdir()}
    loaded = make_model(str(folder))
    assert not loaded.trainable and loaded.fingerprint() == model.fingerprint()
    np.testing.assert_allclose(loaded.log_probs(labelled()[:4], SENTIMENT), model.log_probs(labelled()[:4], SENTIMENT),
                               atol=1e-6)
    header = json.loads((folder / "model.json").read_text())
    assert header["kind"] == "lm-lora" and header["training"]["steps"] == model.log.steps
    base = transformers.AutoModelForCausalLM.from_pretrained(tiny_lm_dir)  # a peft user's own loading
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # peft asks transformers for a deprecated name
        assert isinstance(peft.PeftModel.from_pretrained(base, folder), peft.PeftModel)


# -- bad input: one clear error each, before any training ---------------------------------
@pytest.mark.parametrize(("options", "message"), [
    ("rank=0", r"'LMTrainConfig\.rank' must be an integer in \[1, 1000000000\], got an integer 0\."),
    ("rank=-2", r"'LMTrainConfig\.rank' must be an integer in \[1, 1000000000\], got an integer -2\."),
    ("target_modules=q_proj,attn_out", r"target module\(s\) attn_out are not linear layers of 'tiny-lm.*'; "
                                       "its linear layers: down_proj, gate_proj"),
    ("lr=fast", "option lr must be float. Got 'fast'"),
    ("method=adapters", r"'LMTrainConfig\.method' must be one of lora, full; got 'adapters'\."),
])
def test_bad_training_options(tiny_lm_dir: Path, options: str, message: str) -> None:  # noqa: F811
    from bench.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        build(tiny_lm_dir, options)


@pytest.mark.parametrize("spec", ["lm-finetuned:openai-compatible:http://127.0.0.1:9/v1",
                                  "lm-finetuned:source-only"])
def test_models_that_cannot_be_fine_tuned(spec: str) -> None:
    from bench.adapters import make_model
    from bench.errors import ConfigError

    with pytest.raises(ConfigError, match="cannot be fine-tuned; only a local language model can"):
        make_model(spec)


def test_a_callable_model_cannot_be_fine_tuned() -> None:
    from bench.adapters import make_model
    from bench.errors import ConfigError

    with pytest.raises(ConfigError, match=r"'tests.baselines.test_lm_finetune:a_callable' \(CallableAdapter\) "
                                          "cannot be fine-tuned"):
        make_model("lm-finetuned:tests.baselines.test_lm_finetune:a_callable")


def a_callable():
    from bench.adapters import CallableAdapter

    return CallableAdapter("fn", log_probs=lambda texts, task: np.zeros((len(texts), len(task.choices))))


def test_missing_peft_says_how_to_install(tiny_lm_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    import importlib.util

    from bench.errors import CapabilityError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "peft" else real(name, *a))
    with pytest.raises(CapabilityError, match=r"needs the package 'peft', which is not installed. Install it with: "
                                              r"python -m pip install -e \"\.\[peft\]\""):
        build(tiny_lm_dir)


def test_a_training_split_without_examples(tiny_lm_dir: Path) -> None:  # noqa: F811
    from bench.errors import DataError

    model = build(tiny_lm_dir)
    unlabelled = [Example("u0", "d", "no label here", {})]
    for train in ([], unlabelled):
        with pytest.raises(DataError, match=r"the training split has no example with a target for task\(s\) "
                                            "sentiment"):
            model.fit(train, [SENTIMENT], seed=0)
    assert model.peft_model is None  # nothing was trained


def test_a_corrupt_saved_adapter(tiny_lm_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    from bench.adapters import make_model
    from bench.baselines.persist import save_model
    from bench.errors import DataError

    model = build(tiny_lm_dir, "epochs=1")
    model.fit(labelled(), [SENTIMENT], seed=0)
    folder = save_model(model, tmp_path / "saved")
    (folder / "adapter_model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(DataError, match=r"the saved fine-tuned model cannot be restored: its adapter "
                                        r"\(adapter_config.json, adapter_model.safetensors\) does not load"):
        make_model(str(folder))


# -- through the runner: run.json, the run folder's adapter, --resume ------------------------
def interrupted_run(folder: Path, out: Path):
    """A toy-reviews run of lm-finetuned interrupted while scoring its second domain."""
    import contextlib

    from bench.pipeline import evaluate
    from bench.runner import RunConfig
    from bench.store import RunStore

    config = RunConfig(suites=("toy-reviews",), models=(f"lm-finetuned:hf-causal-lm:{folder}?epochs=1&max_train=8",),
                       limit=4, tasks=("sentiment",), batch_size=4)
    seen: list[str] = []

    @contextlib.contextmanager
    def progress(total, description):
        seen.append(description)
        if sum(" · toy-reviews/sentiment · " in d for d in seen) == 2:
            raise KeyboardInterrupt
        yield lambda n: None

    with pytest.raises(KeyboardInterrupt):
        evaluate(config, out, progress=progress)
    (run_id,) = [r.run_id for r in RunStore(out).runs()]
    return config, run_id, seen


def test_a_resumed_run_reloads_the_saved_adapter_instead_of_training(tiny_lm_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    import contextlib

    from bench.pipeline import evaluate
    from bench.store import RunStore

    config, run_id, seen = interrupted_run(tiny_lm_dir, tmp_path)
    assert any(d.startswith("training lm-finetuned: epoch 1/1") for d in seen)
    again: list[str] = []

    @contextlib.contextmanager
    def progress(total, description):
        again.append(description)
        yield lambda n: None

    done = evaluate(config, tmp_path, progress=progress, resume=run_id)
    assert not any(d.startswith("training lm-finetuned: epoch") for d in again)  # reloaded, not retrained
    assert list(RunStore(tmp_path).run(run_id).facts["restored"].values()) == [True]
    meta = json.loads((done.run_dir / "run.json").read_text())
    (record,) = meta["training"].values()
    assert record["train"]["method"] == "lora" and record["steps"] == 1 and record["items"] == 8
    assert (record["device"], record["dtype"], record["trainable_dtype"]) == ("cpu", "float32", "float32")
    (saved,) = (done.run_dir / "models").iterdir()
    assert (saved / "adapter_model.safetensors").is_file()


def test_resume_with_a_corrupt_adapter_fails_before_scoring(tiny_lm_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    from bench.errors import DataError
    from bench.pipeline import evaluate

    config, run_id, _ = interrupted_run(tiny_lm_dir, tmp_path)
    (weights,) = (tmp_path / "work").rglob("adapter_model.safetensors")  # the unfinished run's models
    weights.write_bytes(weights.read_bytes()[:40])  # truncated
    with pytest.raises(DataError, match="cannot be restored: its adapter"):
        evaluate(config, tmp_path, resume=run_id)
    assert not (tmp_path / "runs" / run_id).exists()  # no run folder that looks complete


def test_bench_mitigations_compares_the_lm_fine_tunes_with_the_model_zero_shot(
        tiny_lm_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    import pandas as pd

    from bench.cli import main

    base = f"hf-causal-lm:{tiny_lm_dir}"
    tuned = [f"lm-{mode}:{base}?epochs=1&max_train=8" for mode in ("finetuned", "augmented", "multitask")]
    code = main(["mitigations", "toy-reviews", "--model", base, *(x for m in tuned for x in ("--model", m)),
                 "--limit", "6", "--out", str(tmp_path), "--resamples", "200", "--permutations", "100", "-q"])
    assert code == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    table = pd.read_csv(run_dir / "mitigations.csv")
    accuracy = table[(table["metric"] == "accuracy") & (table["ood_domain"] == "OOD")]
    assert sorted(accuracy["model"]) == sorted(tuned) and set(accuracy["baseline"]) == {base}
    assert accuracy[["reduction_ci_low", "reduction_ci_high", "reduction_p"]].notna().all().all()
    assert "lm-finetuned" in capsys.readouterr().out
    assert len(list((run_dir / "models").iterdir())) == 3


def test_full_fine_tuning_trains_every_weight_and_saves_the_model(tiny_lm_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    from bench.adapters import make_model
    from bench.baselines.persist import save_model

    model = build(tiny_lm_dir, "method=full&epochs=4&lr=0.001&train_batch_size=4")
    train = labelled()
    before = mean_loss(model, train, [SENTIMENT])
    model.fit(train, [SENTIMENT], seed=0)
    assert mean_loss(model, train, [SENTIMENT]) < before
    assert model.trainable_parameters() == sum(p.numel() for p in model.lm.model.parameters())
    folder = save_model(model, tmp_path / "full")
    assert (folder / "model" / "config.json").is_file() and not (folder / "adapter_config.json").exists()
    loaded = make_model(str(folder))
    np.testing.assert_allclose(loaded.log_probs(train[:4], SENTIMENT), model.log_probs(train[:4], SENTIMENT), atol=1e-5)


@pytest.mark.parametrize(("options", "message"), [
    ({"epochs": True}, r"'LMTrainConfig\.epochs' must be an integer in \[1, 1000000000\], got a boolean True\."),
    ({"max_train": 0}, r"'LMTrainConfig\.max_train' must be an integer in \[1, 1000000000\], got an integer 0\."),
    ({"lr": 0.0}, r"'LMTrainConfig\.lr' must be a finite number > 0, got a float 0\.0\."),
    ({"dropout": 1.0}, r"'LMTrainConfig\.dropout' must be a number in \[0, 1\), got a float 1\.0\."),
    ({"lm_weight": -1.0}, r"'LMTrainConfig\.lm_weight' must be a finite number ≥ 0, got a float -1\.0\."),
    ({"target_modules": "q_proj"}, r"'LMTrainConfig\.target_modules' must be an array of 0-1000 items"),
])
def test_training_config_fields_are_checked(options: dict, message: str) -> None:
    from bench.baselines.lm_finetune import LMTrainConfig
    from bench.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        LMTrainConfig(**options)
