"""Paired comparisons (McNemar, paired bootstrap, swap test) and robustness across models."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar

from bench.errors import StatisticsError, UnknownNameError
from bench.scoring import TaskInfo
from bench.scoring.compare import (
    compare_models,
    mcnemar_exact,
    paired_bootstrap,
    paired_swap_test,
)
from bench.scoring.options import StatisticsOptions
from bench.scoring.robustness import (
    domain_agreement_table,
    effective_robustness,
    effective_robustness_table,
    kendalls_w,
)

RNG = np.random.default_rng(5)
INFO = TaskInfo("classification", ("neg", "pos"), ("a", "b", "c"), ("a",))


def _mean_difference(sa: np.ndarray, sb: np.ndarray) -> np.ndarray:
    pooled_a, pooled_b = sa.sum(axis=-2), sb.sum(axis=-2)
    return pooled_b[..., 0] / pooled_b[..., 1] - pooled_a[..., 0] / pooled_a[..., 1]


@pytest.mark.parametrize(("b", "c"), [(12, 3), (5, 5), (0, 7), (40, 22)])
def test_mcnemar_matches_statsmodels(b: int, c: int) -> None:
    both, neither = 30, 9
    a = np.r_[np.ones(both), np.ones(b), np.zeros(c), np.zeros(neither)]
    bb = np.r_[np.ones(both), np.zeros(b), np.ones(c), np.zeros(neither)]
    ours = mcnemar_exact(a, bb)
    theirs = mcnemar([[both, b], [c, neither]], exact=True)
    assert (ours.a_only, ours.b_only, ours.statistic) == (b, c, theirs.statistic)
    assert math.isclose(ours.p_value, theirs.pvalue, rel_tol=1e-12)


def test_mcnemar_errors() -> None:
    with pytest.raises(StatisticsError, match="correct_a and correct_b must have the same length.*Got 3 and 2"):
        mcnemar_exact([1, 0, 1], [1, 0])
    with pytest.raises(StatisticsError, match="McNemar's test needs 0/1 correctness values"):
        mcnemar_exact([1, 0.5], [1, 0])
    assert mcnemar_exact([1, 0], [1, 0]).p_value == 1.0


def test_paired_bootstrap_matches_scipy_paired() -> None:
    x = RNG.exponential(1.0, 300)
    y = x * 0.8 + RNG.normal(0, 0.1, 300)
    ones = np.ones(300)
    ours = paired_bootstrap([np.c_[x, ones]], [np.c_[y, ones]], _mean_difference, n_resamples=20_000, rng=0,
                            method="percentile")
    theirs = stats.bootstrap((x, y), lambda a, b, axis: b.mean(axis=axis) - a.mean(axis=axis), paired=True,
                             vectorized=True, n_resamples=20_000, method="percentile", rng=np.random.default_rng(1))
    tolerance = 0.15 * theirs.standard_error
    assert abs(ours.low - theirs.confidence_interval.low) < tolerance
    assert abs(ours.high - theirs.confidence_interval.high) < tolerance
    # Pairing matters: the unpaired standard error is several times larger.
    assert ours.standard_error < 0.5 * math.sqrt(x.var() / 300 + y.var() / 300)


def test_paired_swap_test_matches_enumeration_of_sign_flips() -> None:
    x, y = RNG.normal(0, 1, 10), RNG.normal(0.6, 1, 10)
    d = y - x
    observed = abs(d.mean())
    flips = np.array(list(itertools.product([-1, 1], repeat=10)))
    exact = np.mean(np.abs((flips * d).mean(axis=1)) >= observed * (1 - 1e-9))
    ones = np.ones(10)
    p = paired_swap_test([np.c_[x, ones]], [np.c_[y, ones]], _mean_difference, n_permutations=40_000, rng=2)
    assert abs(p - exact) < 4 * math.sqrt(exact * (1 - exact) / 40_000) + 1e-4


def _pair_records(n: int = 300) -> pd.DataFrame:
    domain = np.repeat(["a", "b", "c"], n // 3)
    target = RNG.integers(0, 2, n)
    frames = []
    for model, strength in (("weak", 0.5), ("strong", 1.5)):
        shift = np.where(domain == "a", 1.0, 0.3) * strength
        p_pos = 1 / (1 + np.exp(-(2 * target - 1) * shift + RNG.normal(0, 1, n)))
        prediction = (p_pos > 0.5).astype(int)
        probs = np.c_[1 - p_pos, p_pos]
        frames.append(pd.DataFrame({
            "model": model, "suite": "s", "task": "t", "domain": domain, "split": "test",
            "example_id": [f"e{i}" for i in range(n)], "target": target, "prediction": prediction,
            "correct": (prediction == target).astype(int), "nll": -np.log(probs[np.arange(n), target]),
            "prob_neg": probs[:, 0], "prob_pos": probs[:, 1]}))
    return pd.concat(frames, ignore_index=True)


def test_compare_models_end_to_end() -> None:
    records = _pair_records()
    table = compare_models(records.sample(frac=1, random_state=0), {("s", "t"): INFO}, "weak", "strong",
                           options=StatisticsOptions(resamples=500, permutations=200))
    row = table[(table["metric"] == "accuracy") & (table["kind"] == "metric") & (table["domain_a"] == "ALL")].iloc[0]
    weak, strong = (records[records["model"] == m]["correct"].mean() for m in ("weak", "strong"))
    assert math.isclose(row["value_a"], weak) and math.isclose(row["difference"], strong - weak)
    assert row["test"] == "mcnemar_exact" and row["ci_low"] <= row["difference"] <= row["ci_high"]
    w = records[records["model"] == "weak"].set_index("example_id")["correct"]
    s = records[records["model"] == "strong"].set_index("example_id")["correct"]
    assert math.isclose(row["p_value"], mcnemar_exact(w, s[w.index]).p_value)
    gaps = table[table["kind"] == "id_ood_gap"]
    assert set(gaps["domain_b"]) == {"b", "c", "OOD"}
    ood = gaps[(gaps["metric"] == "accuracy") & (gaps["domain_b"] == "OOD")].iloc[0]
    assert math.isclose(ood["difference"], ood["value_a"] - ood["value_b"])
    ce = table[(table["metric"] == "cross_entropy") & (table["domain_a"] == "ALL")].iloc[0]
    assert ce["test"] == "paired_permutation" and 0 < ce["p_value"] <= 1


def test_compare_models_errors() -> None:
    records = _pair_records(60)
    with pytest.raises(UnknownNameError, match="No records of model 'nobody'. Models in the records: strong, weak"):
        compare_models(records, {("s", "t"): INFO}, "weak", "nobody")
    with pytest.raises(StatisticsError, match="Cannot compare model 'weak' with itself"):
        compare_models(records, {("s", "t"): INFO}, "weak", "weak")
    other = records.assign(example_id=records["example_id"] + "-other")
    other = pd.concat([records[records["model"] == "weak"], other[other["model"] == "strong"]])
    with pytest.raises(StatisticsError, match="share no example"):
        compare_models(other, {("s", "t"): INFO}, "weak", "strong")


def test_effective_robustness_matches_a_least_squares_fit_in_logit_space() -> None:
    acc_id = {"m1": 0.6, "m2": 0.7, "m3": 0.8, "m4": 0.9, "robust": 0.75}
    acc_ood = {"m1": 0.45, "m2": 0.52, "m3": 0.66, "m4": 0.78, "robust": 0.75}
    fit = effective_robustness(acc_id, acc_ood, reference=["m1", "m2", "m3", "m4"])
    def logit(p: np.ndarray) -> np.ndarray:
        return np.log(p / (1 - p))

    ref = ["m1", "m2", "m3", "m4"]
    line = stats.linregress(logit(np.array([acc_id[m] for m in ref])), logit(np.array([acc_ood[m] for m in ref])))
    assert math.isclose(fit.slope, line.slope) and math.isclose(fit.intercept, line.intercept)
    assert math.isclose(fit.r_squared, line.rvalue**2)
    expected = 0.75 - 1 / (1 + math.exp(-(line.slope * logit(0.75) + line.intercept)))
    assert math.isclose(fit.residuals["robust"], expected) and fit.residuals["robust"] > 0


def test_effective_robustness_errors() -> None:
    with pytest.raises(StatisticsError, match="needs at least 3 reference models with different in-domain accuracy"):
        effective_robustness({"a": 0.5, "b": 0.6}, {"a": 0.4, "b": 0.5})
    with pytest.raises(StatisticsError, match="acc_id and acc_ood must name the same models"):
        effective_robustness({"a": 0.5}, {"b": 0.5})
    with pytest.raises(StatisticsError, match=r"Accuracies must be finite fractions in \[0, 1\]"):
        effective_robustness({"a": 1.5, "b": 0.2, "c": 0.3}, {"a": 0.5, "b": 0.2, "c": 0.3})
    with pytest.raises(StatisticsError, match="Reference model\\(s\\) 'z' have no accuracies"):
        effective_robustness({"a": 0.5, "b": 0.2, "c": 0.3}, {"a": 0.5, "b": 0.2, "c": 0.3}, reference=["z"])


def test_effective_robustness_table_from_records() -> None:
    records = pd.concat([_pair_records(90).assign(model=lambda f, k=k: f["model"] + str(k)) for k in range(2)])
    table = effective_robustness_table(records, {("s", "t"): INFO})
    assert len(table) == 4 and table["n_reference"].eq(4).all()
    row = table.iloc[0]
    assert math.isclose(row["effective_robustness"], row["acc_ood"] - row["predicted_ood"])


@pytest.mark.parametrize("ties", [False, True])
def test_kendalls_w_matches_the_friedman_statistic(ties: bool) -> None:
    scores = RNG.normal(size=(4, 6))
    if ties:
        scores = np.round(scores)
    result = kendalls_w(scores)
    friedman = stats.friedmanchisquare(*scores.T)
    assert math.isclose(result.chi2, friedman.statistic, rel_tol=1e-12)
    assert math.isclose(result.p_value, friedman.pvalue, rel_tol=1e-9)
    assert math.isclose(result.w, friedman.statistic / (4 * 5), rel_tol=1e-12)


def test_kendalls_w_extremes_and_errors() -> None:
    assert kendalls_w([[1, 2, 3], [10, 20, 30]]).w == 1.0
    assert kendalls_w([[1, 2, 3], [3, 2, 1]]).w == 0.0
    with pytest.raises(StatisticsError, match=r"at least 2 of each. Got shape \(1, 3\)"):
        kendalls_w([[1, 2, 3]])
    with pytest.raises(StatisticsError, match="Kendall's W needs finite scores"):
        kendalls_w([[1, np.nan], [1, 2]])


def test_domain_agreement_table() -> None:
    metrics = pd.DataFrame({"model": "m", "suite": "s", "task": ["t"] * 3 + ["r"] * 3, "domain": ["a", "b", "c"] * 2,
                            "metric": ["accuracy"] * 3 + ["mse"] * 3, "value": [0.9, 0.7, 0.8, 1.0, 3.0, 2.0]})
    infos = {("s", "t"): INFO, ("s", "r"): TaskInfo("regression", (), ("a", "b", "c"), ("a",))}
    table = domain_agreement_table(metrics, infos)
    assert table.iloc[0]["kendall_w"] == 1.0  # the lowest mse is the best domain, as the highest accuracy
    assert table.iloc[0]["metrics"] == "accuracy+mse"
