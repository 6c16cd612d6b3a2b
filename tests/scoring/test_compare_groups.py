"""``bench compare`` per category: a suite's domain groups (MMLU's STEM, humanities, …) get
rows of their own (``kind = "group"``), their domains pooled, with the exact McNemar test
for accuracy and a Holm family of their own (the before/after capability profile of a
fine-tuned model)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from bench.scoring.compare import compare_models, mcnemar_exact
from bench.scoring.gaps import holm
from bench.scoring.options import StatisticsOptions
from bench.suites.info import TaskInfo

INFO = TaskInfo("classification", ("neg", "pos"), ("a", "b", "c", "d"), ("a",),
                {"a": "first", "b": "first", "c": "second", "d": "second"})


def records(n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    domain = np.repeat(["a", "b", "c", "d"], n // 4)
    target = rng.integers(0, 2, n)
    frames = []
    for model, hit in (("before", 0.6), ("after", 0.75)):
        correct = rng.random(n) < np.where(np.isin(domain, ["c", "d"]), hit, 0.6)  # only "second" improves
        prediction = np.where(correct, target, 1 - target)
        probs = np.where(correct[:, None] == (np.arange(2)[None, :] == target[:, None]), 0.8, 0.2)
        frames.append(pd.DataFrame({
            "model": model, "suite": "s", "task": "t", "domain": domain, "split": "test",
            "example_id": [f"e{i}" for i in range(n)], "target": target, "prediction": prediction,
            "correct": correct.astype(int), "nll": -np.log(probs[np.arange(n), target]),
            "prob_neg": probs[:, 0], "prob_pos": probs[:, 1]}))
    return pd.concat(frames, ignore_index=True)


def test_each_domain_group_is_compared_with_its_domains_pooled() -> None:
    data = records()
    table = compare_models(data, {("s", "t"): INFO}, "before", "after",
                           options=StatisticsOptions(resamples=300, permutations=200), metrics=["accuracy"])
    groups = table[table["kind"] == "group"].set_index("domain_a")
    assert list(groups.index) == ["first", "second"]
    for name, members in (("first", ["a", "b"]), ("second", ["c", "d"])):
        part = data[data["domain"].isin(members)]
        a, b = (part[part["model"] == m].sort_values("example_id")["correct"].to_numpy() for m in ("before", "after"))
        row = groups.loc[name]
        assert math.isclose(row["value_a"], a.mean()) and math.isclose(row["difference"], b.mean() - a.mean())
        assert row["test"] == "mcnemar_exact" and math.isclose(row["p_value"], mcnemar_exact(a, b).p_value)
        assert row["ci_low"] <= row["difference"] <= row["ci_high"] and row["n"] == len(a)
    np.testing.assert_allclose(groups["p_adjusted"], holm(groups["p_value"].to_numpy()))  # a family of its own


def test_a_loss_is_compared_per_group_with_the_paired_permutation_test() -> None:
    data = records()
    table = compare_models(data, {("s", "t"): INFO}, "before", "after",
                           options=StatisticsOptions(resamples=300, permutations=200), metrics=["cross_entropy"])
    groups = table[table["kind"] == "group"].set_index("domain_a")
    for name, members in (("first", ["a", "b"]), ("second", ["c", "d"])):
        part = data[data["domain"].isin(members)]
        a, b = (part[part["model"] == m]["nll"].mean() for m in ("before", "after"))
        row = groups.loc[name]
        assert math.isclose(row["difference"], a - b) and row["test"] == "paired_permutation"
        assert 0 < row["p_value"] <= 1 and row["ci_low"] <= row["difference"] <= row["ci_high"]
    assert set(table[table["kind"] == "metric"]["domain_a"]) == {"a", "b", "c", "d", "ALL"}  # unchanged rows
