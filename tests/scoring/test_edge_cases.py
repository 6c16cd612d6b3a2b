"""Intervals and values that do not contradict themselves at the edges (issue 27): the
range and spread hold their own estimate, a one-example domain gets no bootstrap
interval, and one non-finite value is dropped with a counted warning."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from bench.errors import EmptyDomainWarning
from bench.scoring.bootstrap import StratifiedBootstrap
from bench.scoring.gaps import domain_gaps, range_statistic, spread_statistic
from bench.scoring.metrics import get_metric
from bench.scoring.options import StatisticsOptions
from bench.scoring.tables import TaskInfo, score_tables

ACC = get_metric("classification", "accuracy")


def _mmlu_like(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """57 subjects of ``n`` questions, true accuracies spread over 0.35–0.6."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.35, 0.6, 57)
    return {f"s{d}": np.column_stack([(rng.random(n) < p[d]).astype(float), np.ones(n)]) for d in range(57)}


def test_spread_and_range_intervals_hold_their_estimate_where_the_basic_interval_does_not() -> None:
    # MMLU's accuracy spread 0.131 had the basic interval [0.048, 0.105]: with 57 small
    # domains the bootstrap's bias estimate exceeds the half-width
    strata = _mmlu_like(20)
    boot = StratifiedBootstrap(list(strata.values()), n_resamples=1000, rng=0)
    gaps = domain_gaps(strata, ACC, in_domain=[], resamples=1000, seed=0, kinds=["best_worst", "spread"],
                       method="auto", bootstrap=boot)
    for g, statistic in zip(gaps, (range_statistic(ACC), spread_statistic(ACC)), strict=True):
        low_q, high_q = np.percentile(boot.distribution(statistic), [2.5, 97.5])
        assert 2 * g.gap - low_q < g.gap  # the plain basic interval lies wholly below the estimate here
        assert g.ci_low <= g.gap <= g.ci_high and g.ci_high == g.gap
        assert g.ci_low == max(0.0, 2 * g.gap - high_q)  # the lower bound keeps the bias correction
        assert g.ci_method == "basic"


def _records(sizes: dict[str, int], seed: int = 3) -> pd.DataFrame:
    """Classification records of a zero-shot model (no in-domain set), binary choices."""
    rng = np.random.default_rng(seed)
    domains = np.concatenate([[d] * n for d, n in sizes.items()])
    n = len(domains)
    p1 = 1 / (1 + np.exp(-2.5 * rng.standard_normal(n)))
    target = (rng.random(n) < 1 / (1 + np.exp(-1.2 * np.log(p1 / (1 - p1))))).astype(int)
    probs = np.column_stack([1 - p1, p1])
    prediction = probs.argmax(axis=1)
    return pd.DataFrame({"model": "m", "suite": "s", "task": "t", "domain": domains, "split": "test",
                         "example_id": [f"e{i}" for i in range(n)], "target": target, "prediction": prediction,
                         "correct": (prediction == target).astype(int),
                         "nll": -np.log(probs[np.arange(n), target]), "prob_no": probs[:, 0], "prob_yes": probs[:, 1]})


INFO = TaskInfo("classification", ("no", "yes"), ("a", "b", "c"), ())
OPTIONS = StatisticsOptions(resamples=400, permutations=400)


def test_a_one_example_domain_gets_no_bootstrap_interval_but_keeps_wilson_and_newcombe() -> None:
    records = _records({"a": 120, "b": 1, "c": 150})
    with pytest.warns(EmptyDomainWarning, match=r"m/s/t/b: one example; no bootstrap interval \(NaN\)"):
        tables = score_tables(records, {("s", "t"): INFO}, options=OPTIONS)
    metrics, gaps = tables.metrics.set_index(["metric", "domain"]), tables.gaps
    ce = metrics.loc[("cross_entropy", "b")]
    assert math.isfinite(ce["value"]) and math.isnan(ce["ci_low"]) and math.isnan(ce["ci_high"])
    assert ce["ci_method"] == ""
    acc = metrics.loc[("accuracy", "b")]  # Wilson's closed form is an honest interval of one example
    assert acc["ci_method"] == "wilson" and acc["ci_low"] < acc["ci_high"]
    assert metrics.loc[("cross_entropy", "ALL"), "ci_low"] < metrics.loc[("cross_entropy", "ALL"), "ci_high"]
    rest = gaps[(gaps["kind"] == "domain_rest") & (gaps["domain_b"] == "b")].set_index("metric")
    assert rest.loc["cross_entropy", ["ci_low", "ci_high"]].isna().all()  # no interval excluding 0 at p = 0.3
    assert rest.loc["cross_entropy", "p_value"] > 0.05
    assert rest.loc["accuracy", "ci_method"] == "newcombe" and rest.loc["accuracy", ["ci_low", "ci_high"]].notna().all()
    spread = gaps[(gaps["kind"].isin(["best_worst", "spread"])) & (gaps["metric"] == "cross_entropy")]
    assert spread[["ci_low", "ci_high"]].isna().all().all()


def test_one_nan_value_is_left_out_with_a_counted_warning() -> None:
    records = _records({"a": 120, "b": 100, "c": 150})
    clean = score_tables(records, {("s", "t"): INFO}, options=OPTIONS)
    broken = records.copy()
    row = int(np.flatnonzero(broken["domain"] == "b")[5])
    broken.loc[row, ["nll", "prob_no", "prob_yes"]] = np.nan
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tables = score_tables(broken, {("s", "t"): INFO}, options=OPTIONS)
    said = [str(w.message) for w in caught]
    assert any("m/s/t/b: 1 of 100 examples have a non-finite value" in m for m in said), said
    assert not any("zero total weight" in m for m in said), said
    metrics = tables.metrics.set_index(["metric", "domain"])
    before = clean.metrics.set_index(["metric", "domain"])
    for name in ("cross_entropy", "brier", "ece", "ece_equal_mass"):
        for domain in ("b", "ALL"):
            assert math.isfinite(metrics.loc[(name, domain), "value"]), (name, domain)
        assert metrics.loc[(name, "b"), "n"] == 99
        for domain in ("a", "c"):  # another domain's value, method and interval are untouched
            assert metrics.loc[(name, domain), "ci_method"] == before.loc[(name, domain), "ci_method"]
            if name != "ece_equal_mass":  # whose bin edges are quantiles over all records
                assert metrics.loc[(name, domain), "value"] == pytest.approx(before.loc[(name, domain), "value"])
    assert metrics.loc[("ece", "a"), "ci_method"] == "BCa"
    kept = records.drop(index=row)
    expected = kept.loc[kept["domain"] == "b", "nll"].mean()
    assert metrics.loc[("cross_entropy", "b"), "value"] == pytest.approx(expected)
    gaps = tables.gaps
    assert gaps.loc[gaps["metric"] == "cross_entropy", "gap"].notna().all()


def test_a_small_domain_leaves_the_other_ece_intervals_bca() -> None:
    # ECE needs 15 examples: a domain of 5 is NaN, and its undefined jackknife must not switch
    # the other domains' and ALL's BCa to percentile
    records = _records({"a": 120, "b": 5, "c": 150})
    with pytest.warns(EmptyDomainWarning):
        tables = score_tables(records, {("s", "t"): INFO}, options=OPTIONS, gaps=False)
    ece = tables.metrics[tables.metrics["metric"] == "ece"].set_index("domain")
    assert ece.loc[["a", "c", "ALL"], "ci_method"].tolist() == ["BCa"] * 3
    assert math.isnan(ece.loc["b", "value"]) and ece.loc["b", "ci_method"] == ""


def test_metric_value_names_a_non_finite_value_not_zero_weight() -> None:
    ce = get_metric("classification", "cross_entropy")
    with pytest.warns(EmptyDomainWarning, match=r"3 examples, some with a non-finite value"):
        assert math.isnan(ce.value(np.array([[1.0, 1.0], [np.nan, 1.0], [2.0, 1.0]]), where="x"))


def test_words_a_missing_domain_once_and_an_unsigned_zero_gap() -> None:
    from bench.report.summary import _cell

    ce = get_metric("classification", "cross_entropy")
    same = np.column_stack([np.full(30, 0.5), np.ones(30), np.full(30, 0.25), np.full(30, 0.5), np.ones(30)])
    strata = {"a": same, "b": same.copy(), "c": same[:0]}
    gaps = domain_gaps(strata, ce, in_domain=[], resamples=200, seed=0, method="auto", values=[0.5, 0.5, math.nan])
    spread = next(g for g in gaps if g.kind == "spread")
    assert spread.missing == "c"  # not 'c;c': the spread's two sides are the same domains
    rest = next(g for g in gaps if g.kind == "domain_rest" and g.domain_b == "a")
    assert rest.gap == 0 and (rest.ci_low, rest.ci_high) == (0.0, 0.0)
    assert f"{rest.gap}, {rest.ci_low}, {rest.ci_high}" == "0.0, 0.0, 0.0"  # no -0.0 (a loss gap is -(a - b))
    assert _cell(-0.0, -0.0, 0.0) == "0.000 [0.000, 0.000]" and _cell(-0.0001, -0.2, 0.1) == "0.000 [-0.200, 0.100]"
