"""Zero-shot gaps: each domain and each domain group against the pooled rest, on a
synthetic suite with planted group differences (and one with none)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from bench.outputs import task_infos_from_metadata
from bench.report.summary import chance_notes
from bench.scoring.options import StatisticsOptions
from bench.scoring.tables import TaskInfo, score_tables

GROUPS = {"alg": "STEM", "phys": "STEM", "chem": "STEM", "law": "humanities", "hist": "humanities",
          "phil": "humanities"}


def _records(rates: dict[str, float], n: int = 150, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for d, p in rates.items():
        for i, c in enumerate(rng.random(n) < p):
            prob = 0.8 if c else 0.3
            rows.append({"model": "lm", "suite": "org/mmlu-like", "task": "qa", "domain": d, "example_id": f"{d}{i}",
                         "target": 0, "prediction": 0 if c else 1, "correct": float(c), "nll": -np.log(prob),
                         "prob_a": prob, "prob_b": 1 - prob, "fold": "zero_shot", "train_domains": ""})
    return pd.DataFrame(rows)


INFO = TaskInfo("classification", ("a", "b"), tuple(GROUPS), (), GROUPS)


def _score(records: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    tables = score_tables(records, {("org/mmlu-like", "qa"): INFO}, options=StatisticsOptions(resamples=300, permutations=300))
    return tables.metrics, tables.gaps


def test_planted_group_difference_is_found_and_every_number_recomputes() -> None:
    records = _records({d: (0.9 if g == "STEM" else 0.6) for d, g in GROUPS.items()})
    metrics, gaps = _score(records)
    acc = metrics[metrics["metric"] == "accuracy"].set_index("domain")
    stem = records[records["domain"].isin(["alg", "phys", "chem"])]["correct"]
    assert acc.loc["group:STEM", "value"] == pytest.approx(stem.mean())
    assert acc.loc["group:STEM", "n"] == len(stem)
    low, high = proportion_confint(stem.sum(), len(stem), alpha=0.05, method="wilson")
    assert (acc.loc["group:STEM", "ci_low"], acc.loc["group:STEM", "ci_high"]) == pytest.approx((low, high))
    rows = gaps[gaps["metric"] == "accuracy"]
    assert "id_ood" not in set(rows["kind"])  # a zero-shot model has no in-domain side
    rest = rows[rows["kind"] == "domain_rest"].set_index("domain_b")
    assert list(rest.index) == [*GROUPS, "group:STEM", "group:humanities"] and set(rest["domain_a"]) == {"REST"}
    hum = records[records["domain"].isin(["law", "hist", "phil"])]["correct"]
    assert rest.loc["group:humanities", "gap"] == pytest.approx(stem.mean() - hum.mean())  # + = worse on humanities
    expected = confint_proportions_2indep(stem.sum(), len(stem), hum.sum(), len(hum), method="newcomb",
                                          compare="diff")
    assert (rest.loc["group:humanities", "ci_low"], rest.loc["group:humanities", "ci_high"]) == \
        pytest.approx(expected)
    assert rest.loc["group:humanities", "ci_method"] == "newcombe"
    assert rest.loc["group:humanities", "p_adjusted"] < 1e-6 and rest.loc["group:STEM", "gap"] < 0
    assert set(rest["family"]) == {"domain_rest", "group_rest"}
    singles = rest.loc[list(GROUPS)]  # Holm within each family: the question it answers
    np.testing.assert_allclose(singles["p_adjusted"], multipletests(singles["p_value"], method="holm")[1], atol=1e-12)
    assert (singles["family_size"] == len(GROUPS)).all()
    groups = rest.loc[["group:STEM", "group:humanities"]]  # two groups: each against the rest is one test
    assert (groups["family_size"] == 1).all() and groups["p_value"].nunique() == 1
    assert (groups["p_adjusted"] == groups["p_value"]).all()
    spread = rows[rows["kind"] == "spread"].iloc[0]
    values = acc.loc[list(GROUPS), "value"]
    assert spread["gap"] == pytest.approx(values.std(ddof=0)) and spread["value_a"] == pytest.approx(values.mean())
    assert spread["ci_low"] <= spread["gap"] <= spread["ci_high"]
    notes = chance_notes(gaps)
    assert any("accuracy: differ from the rest" in n and "group:humanities" in n for n in notes)


def test_no_difference_is_said_plainly() -> None:
    metrics, gaps = _score(_records(dict.fromkeys(GROUPS, 0.7), seed=3))
    rest = gaps[(gaps["kind"] == "domain_rest") & (gaps["metric"] == "accuracy")]
    assert (rest["p_adjusted"] >= 0.05).all()
    assert "org/mmlu-like/qa lm accuracy: no domain differs from the rest beyond chance (Holm-adjusted p >= 0.05 " \
           "for all 6 domains)." in chance_notes(gaps)


def test_no_note_where_no_domain_could_be_tested() -> None:
    _, gaps = _score(_records(dict.fromkeys(GROUPS, 0.7), seed=3))
    gaps = gaps.copy()
    gaps.loc[gaps["metric"] == "accuracy", "p_adjusted"] = np.nan  # as for a metric with no values (all NaN)
    assert not any("accuracy" in note for note in chance_notes(gaps))


def test_domain_groups_and_a_suite_name_with_a_slash_survive_run_json() -> None:
    from dataclasses import asdict

    meta = {"tasks": {"org/mmlu-like/qa": {"suite": "org/mmlu-like", "task": "qa", **asdict(INFO)}}}
    assert task_infos_from_metadata(meta) == {("org/mmlu-like", "qa"): INFO}
    legacy = {"tasks": {"org/mmlu-like/qa": {k: v for k, v in asdict(INFO).items() if k != "domain_groups"}}}
    (key,) = task_infos_from_metadata(legacy)
    assert key == ("org/mmlu-like", "qa")
