"""ECE against a direct computation; metric conformance; the tables' invariances."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pandas as pd
import pytest

from bench.errors import EmptyDomainWarning, StatisticsError, UnknownNameError
from bench.scoring import (
    METRICS,
    TaskInfo,
    gaps_table,
    get_metric,
    metrics_table,
    score_tables,
)
from bench.scoring.options import StatisticsOptions

RNG = np.random.default_rng(11)
CHOICES = ("neg", "neu", "pos")
INFO = TaskInfo("classification", CHOICES, ("a", "b", "c"), ("a",))


def _ece_reference(probs: np.ndarray, target: np.ndarray, bins: int = 15, equal_mass: bool = False) -> float:
    """ECE by a plain loop over bins (Guo et al. 2017)."""
    confidence, prediction = probs.max(axis=1), probs.argmax(axis=1)
    if equal_mass:
        edges = np.r_[-np.inf, np.quantile(confidence, np.arange(1, bins) / bins), np.inf]
        inside = [(confidence > lo) & (confidence <= hi) for lo, hi in itertools.pairwise(edges)]
    else:
        edges = np.arange(bins + 1) / bins
        inside = [((confidence > lo) | (b == 0) & (confidence >= 0)) & (confidence <= hi)
                  for b, (lo, hi) in enumerate(itertools.pairwise(edges))]
    total = 0.0
    for mask in inside:
        if mask.any():
            total += mask.mean() * abs((prediction[mask] == target[mask]).mean() - confidence[mask].mean())
    return total


def _records(n: int = 600, model: str = "m") -> pd.DataFrame:
    logits = RNG.normal(size=(n, 3)) * 2
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    target = np.array([RNG.choice(3, p=p) for p in probs])
    prediction = probs.argmax(axis=1)
    frame = pd.DataFrame({"model": model, "suite": "s", "task": "t", "domain": RNG.choice(["a", "b", "c"], n),
                          "split": "test", "example_id": [f"e{i}" for i in range(n)], "target": target,
                          "prediction": prediction, "correct": (prediction == target).astype(int),
                          "nll": -np.log(probs[np.arange(n), target])})
    for k, c in enumerate(CHOICES):
        frame[f"prob_{c}"] = probs[:, k]
    return frame


@pytest.mark.parametrize("equal_mass", [False, True])
def test_ece_matches_a_direct_loop(equal_mass: bool) -> None:
    frame = _records()
    probs = frame[[f"prob_{c}" for c in CHOICES]].to_numpy()
    metric = get_metric("classification", "ece_equal_mass" if equal_mass else "ece")
    value = metric.compute({"probs": probs, "correct": frame["correct"].to_numpy()})
    assert math.isclose(value, _ece_reference(probs, frame["target"].to_numpy(), equal_mass=equal_mass),
                        rel_tol=1e-12)


def test_ece_hand_computed_case() -> None:
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.6, 0.4]] * 4)
    correct = np.array([1, 0, 1, 1] * 4)  # bin 0.9: acc 0.5 vs 0.9; bin 0.6: acc 1 vs 0.6
    value = get_metric("classification", "ece").compute({"probs": probs, "correct": correct})
    assert math.isclose(value, 0.5 * 0.4 + 0.5 * 0.4)


def test_ece_of_too_few_examples_is_nan_with_a_warning() -> None:
    with pytest.warns(EmptyDomainWarning, match=r"ece for d: 3 examples \(needs at least 15\); value is NaN"):
        value = get_metric("classification", "ece").compute({"probs": np.full((3, 2), 0.5), "correct": np.ones(3)},
                                                            where="d")
    assert math.isnan(value)


@pytest.mark.parametrize("name", METRICS.names())
def test_every_metric_is_invariant_to_example_order(name: str) -> None:
    metric = METRICS.get(name)
    n = 60
    probs = RNG.dirichlet(np.ones(2), n)
    target = RNG.integers(0, 2, n)
    columns = {"probs": probs, "target": target, "correct": (probs.argmax(1) == target).astype(float),
               "nll": RNG.exponential(size=n), "prediction": RNG.normal(size=n), "n_tokens": RNG.integers(1, 9, n),
               "n_bytes": RNG.integers(5, 40, n), "logprobs": np.log(probs) - RNG.uniform(0, 2, (n, 1)),
               "chars": RNG.integers(1, 9, (n, 2)).astype(float), "bytes": RNG.integers(1, 12, (n, 2)).astype(float),
               "f1": RNG.uniform(0, 1, n), "ref_bytes": RNG.integers(1, 30, n)}
    columns |= {f"{prefix}{k}": RNG.integers(0, 9, n) for prefix, width in (("bleu_stat_", 10), ("chrf_stat_", 18))
                for k in range(width)}
    order = RNG.permutation(n)
    shuffled = {k: v[order] for k, v in columns.items()}
    assert math.isclose(metric.compute(columns), metric.compute(shuffled), rel_tol=1e-12)


def test_unknown_metric_lists_the_valid_names() -> None:
    with pytest.raises(UnknownNameError, match=r"Unknown metric 'classification/acuracy'. Did you mean: "
                                               r"classification/accuracy"):
        get_metric("classification", "acuracy")


def test_tables_do_not_depend_on_record_order() -> None:
    records = _records(400)
    options = StatisticsOptions(resamples=300, permutations=200)
    first = score_tables(records, {("s", "t"): INFO}, options=options)
    second = score_tables(records.sample(frac=1, random_state=3), {("s", "t"): INFO}, options=options)
    pd.testing.assert_frame_equal(first.metrics, second.metrics)
    pd.testing.assert_frame_equal(first.gaps, second.gaps)


def test_relabelling_domains_permutes_the_tables() -> None:
    records = _records(400)
    options = StatisticsOptions(resamples=300, permutations=200)
    first = score_tables(records, {("s", "t"): INFO}, options=options)
    names = {"a": "x", "b": "y", "c": "z"}
    relabelled = records.assign(domain=records["domain"].map(names))
    info = TaskInfo("classification", CHOICES, ("x", "y", "z"), ("x",))
    second = score_tables(relabelled, {("s", "t"): info}, options=options)
    renamed = first.gaps.replace({"domain_a": names, "domain_b": names})
    pd.testing.assert_frame_equal(renamed, second.gaps)
    pd.testing.assert_frame_equal(first.metrics.replace({"domain": names}), second.metrics)


def test_metric_rows_have_intervals_around_the_values() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = metrics_table(_records(500), {("s", "t"): INFO}, StatisticsOptions(resamples=500))
    assert set(table["metric"]) == {"accuracy", "cross_entropy", "brier", "ece", "ece_equal_mass"}
    smooth = table[table["metric"].isin(["accuracy", "cross_entropy", "brier"])]
    assert (smooth["ci_low"] <= smooth["value"]).all() and (smooth["value"] <= smooth["ci_high"]).all()
    assert table["ci_low"].notna().all()


def test_gaps_table_has_the_contract_columns_and_one_pooled_ood_row_per_metric() -> None:
    gaps = gaps_table(_records(300), {("s", "t"): INFO}, StatisticsOptions(resamples=200, permutations=200))
    for column in ("model", "suite", "task", "metric", "kind", "domain_a", "domain_b", "gap", "ci_low", "ci_high",
                   "p_value", "p_adjusted", "mdg", "n_a", "n_b"):
        assert column in gaps.columns
    pooled = gaps[(gaps["kind"] == "id_ood") & (gaps["domain_b"] == "OOD")]
    assert len(pooled) == 5 and (pooled["n_b"] == gaps["n_b"].max()).all()


def test_table_errors_are_named() -> None:
    with pytest.raises(StatisticsError, match=r"No task description for s/t \(records of model 'm'\); known: x/y"):
        metrics_table(_records(30), {("x", "y"): INFO})
    with pytest.raises(StatisticsError, match=r"'StatisticsOptions\.resamples' \(--resamples\) must be an integer in \[100, 1000000000\], got an "):
        metrics_table(_records(30), {("s", "t"): INFO}, StatisticsOptions(resamples=50))
    with pytest.raises(StatisticsError, match=r"'StatisticsOptions\.level' \(--level\) must be a number in \(0, 1\), got a float -0\.5\."):
        gaps_table(_records(30), {("s", "t"): INFO}, StatisticsOptions(level=-0.5))


def test_the_spread_table_is_computed_only_when_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    import bench.scoring.tables as tables

    calls: list[int] = []
    original = tables.spread_table
    monkeypatch.setattr(tables, "spread_table", lambda m, g: calls.append(1) or original(m, g))
    scored = tables.score_tables(_records(300), {("s", "t"): INFO},
                                 options=StatisticsOptions(resamples=200, permutations=200))
    assert calls == []  # a scoring pass (bench run, bench score) never pays for it
    spread = scored.spread
    assert calls == [1] and scored.spread is spread  # computed once, then kept
    acc = scored.metrics[(scored.metrics["metric"] == "accuracy") & scored.metrics["domain"].isin(["a", "b", "c"])]
    row = spread[spread["metric"] == "accuracy"].iloc[0]
    assert row["std"] == pytest.approx(np.std(acc["value"])) and row["worst"] == acc["value"].min()


def test_each_domain_value_is_computed_once_per_scoring_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.scoring.metrics import Metric

    calls: list[str] = []
    original = Metric.value

    def counted(self: Metric, components: np.ndarray, *, where: str = "") -> float:
        calls.append(f"{self.name}@{where}")
        return original(self, components, where=where)

    monkeypatch.setattr(Metric, "value", counted)
    records = _records(300)
    with pytest.warns(EmptyDomainWarning) as caught:
        tables = score_tables(records[records["domain"] != "c"], {("s", "t"): INFO},
                              options=StatisticsOptions(resamples=200, permutations=200))
    assert len(calls) == len(set(calls)) == 5 * 3  # five metrics, three domains (c is empty), once each
    assert len([w for w in caught if "/c:" in str(w.message)]) == 5  # one warning per metric for the empty domain
    acc = tables.metrics.query("metric == 'accuracy' and domain == 'a'")["value"].iloc[0]
    gap = tables.gaps.query("metric == 'accuracy' and kind == 'id_ood' and domain_b == 'b'").iloc[0]
    assert gap["value_a"] == acc == records[records["domain"] == "a"]["correct"].mean()
