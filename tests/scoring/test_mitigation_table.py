"""The mitigation comparison table against independent computations, and its command."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.cli import main
from bench.scoring.mitigations import (
    MITIGATION_COLUMNS,
    ComparisonOptions,
    compare_mitigations,
    mitigation_pairs,
)
from bench.scoring.options import StatisticsOptions
from bench.scoring.tables import TaskInfo, gaps_table


def test_mitigation_pairs() -> None:
    models = ["source-only", "augmented", "finetuned", "source-only-minilm", "finetuned-minilm", "majority"]
    assert mitigation_pairs(models) == [("source-only", "augmented"), ("source-only", "finetuned"),
                                        ("source-only-minilm", "finetuned-minilm"), ("source-only", "majority")]
    assert mitigation_pairs(["augmented", "finetuned-minilm"]) == []


def _records() -> tuple[pd.DataFrame, dict[tuple[str, str], TaskInfo]]:
    rng = np.random.default_rng(11)
    rows = []
    accuracy = {("base", "id"): 0.9, ("base", "x"): 0.6, ("base", "y"): 0.65,
                ("fix", "id"): 0.88, ("fix", "x"): 0.75, ("fix", "y"): 0.8}
    for domain, n in (("id", 120), ("x", 150), ("y", 90)):
        truth = rng.random(n)
        for model in ("base", "fix"):
            correct = truth < accuracy[(model, domain)]  # shared draws: strongly paired outcomes
            p = np.where(correct, 0.8, 0.3)
            for i in range(n):
                rows.append({"model": model, "suite": "s", "task": "t", "domain": domain, "split": "test",
                             "example_id": f"{domain}{i}", "target": 1, "prediction": int(correct[i]),
                             "correct": int(correct[i]), "nll": -np.log(p[i]), "prob_no": 1 - p[i], "prob_yes": p[i]})
    return pd.DataFrame(rows), {("s", "t"): TaskInfo("classification", ("no", "yes"), ("id", "x", "y"), ("id",))}


def test_gap_reduction_matches_hand_computations() -> None:
    from statsmodels.stats.contingency_tables import mcnemar

    records, infos = _records()
    gaps = gaps_table(records, infos, StatisticsOptions(resamples=500, permutations=200))
    table = compare_mitigations(records, infos, gaps, [("base", "fix")],
                                ComparisonOptions(resamples=1000, permutations=500))
    assert list(table.columns) == MITIGATION_COLUMNS
    row = table[(table["metric"] == "accuracy") & (table["ood_domain"] == "OOD")].iloc[0]
    acc = records.groupby(["model", records["domain"] == "id"])["correct"].mean()
    gap_base = acc[("base", True)] - acc[("base", False)]
    gap_fix = acc[("fix", True)] - acc[("fix", False)]
    assert row["gap_baseline"] == pytest.approx(gap_base) and row["gap_model"] == pytest.approx(gap_fix)
    assert row["gap_reduction"] == pytest.approx(gap_base - gap_fix)
    assert row["closed"] == pytest.approx((gap_base - gap_fix) / gap_base)
    assert row["reduction_ci_low"] < row["gap_reduction"] < row["reduction_ci_high"]
    assert row["reduction_ci_low"] > 0 and row["reduction_p"] < 0.01  # a real, large reduction
    assert row["ood_baseline"] == pytest.approx(acc[("base", False)])
    ood = records[records["domain"] != "id"].pivot_table(index="example_id", columns="model", values="correct")
    counts = pd.crosstab(ood["base"], ood["fix"]).reindex(index=[0, 1], columns=[0, 1], fill_value=0).to_numpy()
    assert row["ood_p"] == pytest.approx(mcnemar(counts, exact=True).pvalue)
    assert row["ood_test"] == "mcnemar_exact"
    base_gap = gaps[(gaps["model"] == "base") & (gaps["metric"] == "accuracy") & (gaps["domain_b"] == "OOD")].iloc[0]
    assert row["gap_baseline_ci_low"] == base_gap["ci_low"]
    per_domain = table[(table["metric"] == "accuracy") & (table["ood_domain"] == "x")].iloc[0]
    x = records[records["domain"].isin(["id", "x"])].groupby(["model", "domain"])["correct"].mean()
    expected = (x["base", "id"] - x["base", "x"]) - (x["fix", "id"] - x["fix", "x"])
    assert per_domain["gap_reduction"] == pytest.approx(expected)


def test_bench_mitigations_writes_the_table(tiny_suite: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["mitigations", str(tiny_suite), "--out", str(tmp_path), "--resamples", "200", "--permutations", "100",
                 "-q", "--no-save-models"])
    out = capsys.readouterr().out
    assert code == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    table = pd.read_csv(run_dir / "mitigations.csv")
    assert set(table["model"]) >= {"augmented", "multitask", "finetuned"} and set(table["baseline"]) >= {"source-only"}
    assert {"accuracy", "mse"} <= set(table["metric"])
    for model in ("augmented", "multitask", "finetuned"):
        assert model in out
    assert "closed = reduction / gap(vs)" in out


def test_one_domain_values_and_tests_come_from_the_comparison(monkeypatch: pytest.MonkeyPatch) -> None:
    from statsmodels.stats.contingency_tables import mcnemar

    import bench.scoring.compare as compare

    calls: list[int] = []
    original = compare.mcnemar_exact

    def counted(a: np.ndarray, b: np.ndarray) -> compare.McNemarResult:
        calls.append(len(a))
        return original(a, b)

    monkeypatch.setattr(compare, "mcnemar_exact", counted)
    records, infos = _records()
    gaps = gaps_table(records, infos, StatisticsOptions(resamples=200, permutations=200))
    table = compare_mitigations(records, infos, gaps, [("base", "fix")],
                                ComparisonOptions(resamples=200, permutations=200))
    # the comparison tests id, x, y and ALL once each; only the pooled OOD test is added
    assert sorted(calls) == sorted([120, 150, 90, 360, 240])
    x = table[(table["metric"] == "accuracy") & (table["ood_domain"] == "x")].iloc[0]
    part = records[records["domain"] == "x"]
    assert x["ood_baseline"] == pytest.approx(part[part["model"] == "base"]["correct"].mean())
    wide = part.pivot_table(index="example_id", columns="model", values="correct")
    counts = pd.crosstab(wide["base"], wide["fix"]).reindex(index=[0, 1], columns=[0, 1], fill_value=0).to_numpy()
    assert x["ood_p"] == pytest.approx(mcnemar(counts, exact=True).pvalue) and x["ood_test"] == "mcnemar_exact"
    mse_free = table[table["metric"] != "accuracy"]
    assert mse_free["ood_p"].isna().all() and (mse_free["ood_test"].fillna("") == "").all()
