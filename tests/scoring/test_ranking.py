"""AUROC, the first metric that is not a function of summed components, against scikit-learn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench.errors import StatisticsError
from bench.scoring.options import StatisticsOptions
from bench.scoring.ranking import AUROC, auroc, ranking_tables, weighted_auroc
from bench.suites import TaskInfo

metrics = pytest.importorskip("sklearn.metrics", reason="needs scikit-learn (xdbench[test])")

INFO = TaskInfo("classification", ("neg", "pos"), ("id", "x", "y"), ("id",))
SEPARATION = {"id": 2.0, "x": 0.8, "y": 0.3}


def _records(n: int = 150, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for domain, shift in SEPARATION.items():
        target = rng.integers(0, 2, n)
        score = 1 / (1 + np.exp(-(shift * (2 * target - 1) + rng.normal(size=n))))
        score = np.round(score, 2)  # ties, which AUROC counts one half
        frames.append(pd.DataFrame({"model": "m", "suite": "s", "task": "t", "domain": domain, "split": "test",
                                    "example_id": [f"{domain}{i}" for i in range(n)], "target": target,
                                    "prediction": (score > 0.5).astype(int),
                                    "correct": ((score > 0.5) == target).astype(int), "nll": 0.0,
                                    "prob_neg": 1 - score, "prob_pos": score}))
    return pd.concat(frames, ignore_index=True)


def test_auroc_matches_sklearn_with_ties_and_weights() -> None:
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 300)
    scores = np.round(rng.random(300) + 0.3 * labels, 1)
    assert auroc(labels, scores) == pytest.approx(metrics.roc_auc_score(labels, scores), abs=1e-12)
    counts = rng.integers(0, 4, size=(5, 300))
    expected = [metrics.roc_auc_score(labels, scores, sample_weight=c) for c in counts]
    np.testing.assert_allclose(weighted_auroc(labels, scores, counts), expected, atol=1e-12)
    assert np.isnan(auroc(np.ones(4), np.arange(4.0)))  # one class: undefined, not 0.5


def test_tables_values_gaps_and_intervals() -> None:
    records = _records()
    table, gaps = ranking_tables(records, {("s", "t"): INFO}, AUROC, StatisticsOptions(resamples=400, permutations=300))
    by_domain = table.set_index("domain")
    for domain in (*SEPARATION, "ALL"):
        part = records if domain == "ALL" else records[records["domain"] == domain]
        assert by_domain.loc[domain, "value"] == pytest.approx(metrics.roc_auc_score(part["target"], part["prob_pos"]))
        assert by_domain.loc[domain, "ci_low"] < by_domain.loc[domain, "value"] < by_domain.loc[domain, "ci_high"]
        assert by_domain.loc[domain, "n"] == len(part)
    ood = records[records["domain"] != "id"]
    pooled = gaps[gaps["domain_b"] == "OOD"].iloc[0]
    assert pooled["value_b"] == pytest.approx(metrics.roc_auc_score(ood["target"], ood["prob_pos"]))
    assert pooled["gap"] == pytest.approx(by_domain.loc["id", "value"] - pooled["value_b"])
    assert pooled["ci_low"] > 0 and pooled["p_value"] < 0.01  # a large, real gap
    assert list(gaps["domain_b"]) == ["x", "y", "OOD"] and (gaps["p_adjusted"] >= gaps["p_value"]).all()
    x = gaps[gaps["domain_b"] == "x"].iloc[0]
    assert x["gap"] == pytest.approx(by_domain.loc["id", "value"] - by_domain.loc["x", "value"])


def test_same_seed_same_tables() -> None:
    options = StatisticsOptions(resamples=200, permutations=200)
    first = ranking_tables(_records(60), {("s", "t"): INFO}, options=options)
    second = ranking_tables(_records(60), {("s", "t"): INFO}, options=options)
    pd.testing.assert_frame_equal(first[0], second[0])
    pd.testing.assert_frame_equal(first[1], second[1])


def test_the_interval_covers_the_truth_of_a_known_population() -> None:
    # AUROC of N(1, 1) against N(0, 1) scores is Φ(1/√2) ≈ 0.7602; 40 draws of 200 examples
    from scipy.stats import norm

    truth = norm.cdf(1 / np.sqrt(2))
    rng = np.random.default_rng(5)
    covered = 0
    for trial in range(40):
        target = rng.integers(0, 2, 200)
        score = rng.normal(size=200) + target
        frame = pd.DataFrame({"model": "m", "suite": "s", "task": "t", "domain": "id", "target": target,
                              "prob_neg": 0.0, "prob_pos": score})
        table, _ = ranking_tables(frame, {("s", "t"): TaskInfo("classification", ("neg", "pos"), ("id",), ("id",))},
                                  options=StatisticsOptions(resamples=300, seed=trial))
        row = table.iloc[0]
        covered += int(row["ci_low"] <= truth <= row["ci_high"])
    assert covered >= 33  # nominal 95 %: 38 of 40 expected; 33 is far in the binomial tail


def test_auroc_refuses_tasks_that_are_not_binary_classification() -> None:
    info = TaskInfo("classification", ("a", "b", "c"), ("id",), ("id",))
    frame = pd.DataFrame({"model": "m", "suite": "s", "task": "t", "domain": "id", "target": [0, 1, 2],
                          "prob_a": 0.3, "prob_b": 0.3, "prob_c": 0.4})
    with pytest.raises(StatisticsError, match=r"AUROC needs a binary classification task; got a classification task "
                                              r"with 3 choices \(a, b, c\)"):
        ranking_tables(frame, {("s", "t"): info})
    with pytest.raises(StatisticsError, match=r"No task description for s/t \(records of model 'm'\)"):
        ranking_tables(frame, {})
