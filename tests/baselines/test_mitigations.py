"""The mitigation baselines: multi-task losses, fine-tuning hygiene, trials and model groups."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
import torch

from bench.adapters import MODEL_GROUPS, MODELS, expand_models
from bench.baselines import (
    AugmentConfig,
    AugmentedTextModel,
    FineTuneConfig,
    FineTunedTextModel,
    NgramTextModel,
)
from bench.baselines.strategies import sample_labelled
from bench.baselines.text_model import TrainConfig, batch_loss, task_targets
from bench.data import load_suite_data
from bench.errors import ConfigError, DataError
from bench.runner import FitKey, RunConfig, run
from bench.scoring.transfer import trials_table
from bench.suites import Example, Task, load_suite, plan_folds

CLS = Task("sentiment", "classification", ("negative", "positive"))
CLS3 = Task("topic", "classification", ("a", "b", "c"))
REG = Task("rating", "regression", value_range=(1.0, 5.0))
SMALL = TrainConfig(n_buckets=4096, dim=8, epochs=4)


def small_finetuned() -> FineTunedTextModel:
    return SpyFineTuned("finetuned", SMALL, FineTuneConfig(k=5, epochs=2))


def plain_finetuned() -> FineTunedTextModel:
    return FineTunedTextModel("finetuned", SMALL, FineTuneConfig(k=5, epochs=2))


def small_multitask() -> NgramTextModel:
    return NgramTextModel("multitask", SMALL, joint=True)


def small_source_only() -> NgramTextModel:
    return NgramTextModel("source-only", SMALL)


def small_augmented() -> AugmentedTextModel:
    return AugmentedTextModel("augmented", SMALL, AugmentConfig(copies=1))


class SpyFineTuned(FineTunedTextModel):
    """Records every example id the model is trained or fine-tuned on."""

    seen: ClassVar[list[tuple[str, str]]] = []  # (stage, example id), shared by all instances

    def fit(self, train: Sequence[Example], tasks: Sequence[Task], *, seed: int) -> None:
        SpyFineTuned.seen += [("fit", ex.id) for ex in train]
        super().fit(train, tasks, seed=seed)

    def adapted(self, pool: Sequence[Example], tasks: Sequence[Task], *, seed: int) -> FineTunedTextModel:
        clone = super().adapted(pool, tasks, seed=seed)
        SpyFineTuned.seen += [("adapt", i) for i in clone.adapted_on]
        return clone


# -- losses -------------------------------------------------------------------------------
def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def test_joint_loss_matches_a_hand_computation() -> None:
    train = [Example(f"x{i}", "d", "t", {"sentiment": i % 2, "topic": i % 3, "rating": float(1 + i % 5)})
             for i in range(10)]
    del train[3].targets["rating"]  # type: ignore[attr-defined]  # one example without a rating
    train[5] = Example("x5", "d", "t", {"rating": 2.0})  # one without the classification targets
    targets = {t.name: task_targets(train, t) for t in (CLS, CLS3, REG)}
    batch = np.array([7, 3, 5, 0, 9])
    rng = np.random.default_rng(0)
    outputs = {"sentiment": rng.normal(size=(5, 2)), "topic": rng.normal(size=(5, 3)),
               "rating": rng.normal(size=(5, 1))}
    loss = batch_loss({k: torch.tensor(v) for k, v in outputs.items()}, batch, targets, regression_weight=0.3)

    expected = 0.0
    for name in ("sentiment", "topic"):
        rows = [j for j, i in enumerate(batch) if name in train[i].targets]
        labels = [int(train[batch[j]].targets[name]) for j in rows]
        expected += -np.mean(_log_softmax(outputs[name][rows])[np.arange(len(rows)), labels])
    ratings = np.array([ex.targets["rating"] for ex in train if "rating" in ex.targets])
    rows = [j for j, i in enumerate(batch) if "rating" in train[i].targets]
    standard = (np.array([train[batch[j]].targets["rating"] for j in rows]) - ratings.mean()) / ratings.std()
    expected += 0.3 * np.mean((outputs["rating"][rows, 0] - standard) ** 2)
    assert loss.item() == pytest.approx(expected, rel=1e-9)


def test_a_task_without_targets_in_the_batch_adds_nothing() -> None:
    train = [Example("a", "d", "t", {"sentiment": 1}), Example("b", "d", "t", {"rating": 3.0}),
             Example("c", "d", "t", {"rating": 5.0})]
    targets = {t.name: task_targets(train, t) for t in (CLS, REG)}
    outputs = {"sentiment": torch.zeros(1, 2), "rating": torch.zeros(1, 1)}
    assert batch_loss(outputs, np.array([0]), targets).item() == pytest.approx(np.log(2))
    with pytest.raises(DataError, match="No training example has a target for task 'topic'"):
        task_targets(train, CLS3)


def test_multitask_trains_every_task_of_the_suite_even_when_one_is_scored(tiny_suite: Path) -> None:
    fitted = {}
    result = run(RunConfig(suites=(str(tiny_suite),), models=("tests.baselines.test_mitigations:small_multitask",),
                           tasks=("sentiment",)), on_fitted=lambda key, model: fitted.update({key.model: model}))
    model = next(iter(fitted.values()))
    assert set(model.nets) == {"sentiment", "rating"} and model.nets["sentiment"] is model.nets["rating"]
    assert set(model.groups()) == {"sentiment+rating"}
    assert set(result.records["task"]) == {"sentiment"}


# -- fine-tuning ------------------------------------------------------------------------
def test_sample_labelled_is_seeded_and_respects_k() -> None:
    pool = [Example(f"p{i}", "d", "t", {"sentiment": i % 2} if i % 4 else {}) for i in range(40)]
    chosen = sample_labelled(pool, [CLS], 7, seed=3)
    assert len(chosen) == 7 and all("sentiment" in ex.targets for ex in chosen)
    assert [ex.id for ex in chosen] == [ex.id for ex in sample_labelled(pool, [CLS], 7, seed=3)]
    assert [ex.id for ex in chosen] == sorted((ex.id for ex in chosen), key=lambda i: int(i[1:]))  # pool order
    assert len(sample_labelled(pool, [CLS], 100, seed=0)) == 30
    with pytest.raises(DataError, match="No example of the adaptation pool has a target for task"):
        sample_labelled(pool[:1], [CLS], 3, seed=0)
    with pytest.raises(ConfigError, match=r"'FineTuneConfig.k' must be an integer in \[1, 1000000000\], got an integer 0\."):
        FineTuneConfig(k=0)


@pytest.mark.parametrize(("make", "message"), [
    (lambda: TrainConfig(epochs=True), r"'TrainConfig.epochs' must be an integer in \[1, 1000000000\], got a boolean True\."),
    (lambda: TrainConfig(lr=0.0, dim=2.0), r"'TrainConfig.dim' must be an integer .* got a float 2.0\. "
                                           r"'TrainConfig.lr' must be a finite number > 0, got a float 0.0\."),
    (lambda: FineTuneConfig(lr_scale=float("nan")), r"'FineTuneConfig.lr_scale' must be a finite number > 0, got a float nan\."),
    (lambda: AugmentConfig(copies=-1), r"'AugmentConfig.copies' must be an integer in \[0, 1000000000\]"),
    (lambda: AugmentConfig(strength=True), r"'AugmentConfig.strength' must be a number in \[0, 1\], got a boolean True\."),
    (lambda: AugmentConfig(augmenters=("synonyms",)),
     r"'AugmentConfig.augmenters\[0\]' must be one of casual, crop, delete, formal, synonym; got 'synonyms'\. Did you mean 'synonym'\?"),
])
def test_training_configs_share_the_schemas_checks(make, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=message):
        make()


@pytest.mark.parametrize("protocol", ["id_ood", "leave_one_domain_out", "transfer_matrix"])
def test_fine_tuning_never_touches_a_test_example(tiny_suite: Path, protocol: str) -> None:
    SpyFineTuned.seen = []
    config = RunConfig(suites=(str(tiny_suite),), models=("tests.baselines.test_mitigations:small_finetuned",),
                       protocol=protocol, tasks=("sentiment",))
    result = run(config)
    data = load_suite_data(load_suite(tiny_suite))
    test_ids = {ex.id for d in data.domains.values() for ex in d.test}
    train_ids = {ex.id: ex.domain for d in data.domains.values() for ex in d.train}
    seen = SpyFineTuned.seen
    assert seen and not {i for _, i in seen} & test_ids
    assert {i for _, i in seen} <= set(train_ids)
    adapted = [i for stage, i in seen if stage == "adapt"]
    folds = plan_folds(data, protocol)
    assert len(adapted) == 5 * sum(len(f.adapt) for f in folds)  # k = 5 per adapted domain
    assert set(result.records["example_id"]) <= test_ids


def test_adapted_copy_is_fine_tuned_on_the_target_domain_only(tiny_suite: Path) -> None:
    data = load_suite_data(load_suite(tiny_suite))
    model = FineTunedTextModel("finetuned", SMALL, FineTuneConfig(k=8, epochs=3))
    model.fit(data.domains["books"].train, [CLS, REG], seed=1)
    before = model.log_probs(data.domains["movies"].test, CLS)
    copy = model.adapted(data.domains["movies"].train, [CLS, REG], seed=2)
    assert len(copy.adapted_on) == 8 and all(i.startswith("movies-") for i in copy.adapted_on)
    assert np.array_equal(model.log_probs(data.domains["movies"].test, CLS), before)  # the original is unchanged
    assert not np.allclose(copy.log_probs(data.domains["movies"].test, CLS), before)
    assert copy.targets["rating"].mean == model.targets["rating"].mean  # pre-training standardisation kept
    again = model.adapted(data.domains["movies"].train, [CLS, REG], seed=2)
    assert again.fingerprint() == copy.fingerprint()


# -- augmentation ---------------------------------------------------------------------
def test_augmented_model_trains_on_originals_plus_copies(tiny_suite: Path) -> None:
    data = load_suite_data(load_suite(tiny_suite))
    train = data.domains["books"].train
    model = AugmentedTextModel("augmented", SMALL, AugmentConfig(copies=2, strength=0.3))
    split = model.augmented_split(train, seed=4)
    assert len(split) == 3 * len(train) and split[: len(train)] == train
    assert {ex.id for ex in split[len(train):]} == {f"{ex.id}~aug{j}" for ex in train for j in range(2)}
    with pytest.raises(ConfigError, match=r"'AugmentConfig.copies' must be an integer in \[0, "):
        AugmentConfig(copies=-2)


# -- trials and groups ------------------------------------------------------------------
def test_trials_add_a_column_and_trial_zero_reproduces_a_single_run(tiny_suite: Path) -> None:
    spec = "tests.baselines.test_mitigations:small_source_only"
    single = run(RunConfig(suites=(str(tiny_suite),), models=(spec,), tasks=("sentiment",)))
    multi = run(RunConfig(suites=(str(tiny_suite),), models=(spec,), tasks=("sentiment",), trials=3))
    assert sorted(multi.records["trial"].unique()) == [0, 1, 2]
    columns = ["domain", "example_id", "prediction", "nll"]
    first = multi.records[multi.records["trial"] == 0][columns].reset_index(drop=True)
    pd.testing.assert_frame_equal(first, single.records[columns].reset_index(drop=True))
    assert not np.allclose(multi.records[multi.records["trial"] == 1]["nll"], first["nll"])

    table = trials_table(multi.records, multi.task_infos)
    row = table[(table["kind"] == "metric") & (table["domain"] == "movies") & (table["metric"] == "accuracy")].iloc[0]
    per_trial = multi.records[multi.records["domain"] == "movies"].groupby("trial")["correct"].mean()
    assert row["trials"] == 3
    assert row["seed_mean"] == pytest.approx(per_trial.mean())
    assert row["seed_std"] == pytest.approx(np.std(per_trial, ddof=1))
    assert row["value_trial0"] == pytest.approx(per_trial[0])
    gap = table[(table["kind"] == "id_ood_gap") & (table["metric"] == "accuracy")].iloc[0]
    books = multi.records[multi.records["domain"] == "books"].groupby("trial")["correct"].mean()
    ood = multi.records[multi.records["domain"] != "books"].groupby("trial")["correct"].mean()
    assert gap["seed_mean"] == pytest.approx((books - ood).mean())
    with pytest.raises(ConfigError, match=r"'RunConfig\.trials' \(--trials\) must be an integer in \[1, 1000000000\], got an integer 0\."):
        RunConfig(trials=0)


def test_fit_key_labels() -> None:
    assert FitKey("m", "s", "id_ood", 2, "movies").label(3) == "m/s/id_ood/trial2/adapted=movies"
    assert FitKey("m", "s", "id_ood", 0).label(1) == "m/s/id_ood"


def test_groups_expand_and_optional_members_are_skipped_with_a_reason(tiny_suite: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    assert expand_models(["source-only", "mitigations"])[:4] == [
        ("source-only", False), ("augmented", True), ("multitask", True), ("finetuned", True)]
    assert set(MODEL_GROUPS["mitigations"]) <= set(MODEL_GROUPS["all-baselines"])
    from bench.baselines import encoder_model
    from bench.errors import CapabilityError

    def missing() -> None:
        raise CapabilityError("The MiniLM baselines need the sentence encoder: test. Install ...")

    monkeypatch.setattr(encoder_model, "shared_encoder", missing)
    for member in ("majority", "finetuned-minilm"):  # a group is a fact of its members' entries
        facts = MODELS.entry(member).facts
        monkeypatch.setitem(facts, "groups", (*facts["groups"], "tiny-group"))
    assert MODEL_GROUPS["tiny-group"] == ("majority", "finetuned-minilm")
    result = run(RunConfig(suites=(str(tiny_suite),), models=("tiny-group",), limit=4))
    assert set(result.records["model"]) == {"majority"}
    assert result.skipped == ["finetuned-minilm: The MiniLM baselines need the sentence encoder: test. Install ..."]
    with pytest.raises(CapabilityError, match="need the sentence encoder"):
        run(RunConfig(suites=(str(tiny_suite),), models=("finetuned-minilm",), limit=4))
