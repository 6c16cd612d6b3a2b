from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, brier_score_loss, log_loss, mean_absolute_error, mean_squared_error
from statsmodels.stats.proportion import proportion_confint

from bench.errors import EmptyDomainWarning, StatisticsError
from bench.scoring import METRICS, TaskInfo, gaps_table, metrics_table, wilson_interval

rng = np.random.default_rng(0)
N = 400
P_POS = rng.uniform(0.01, 0.99, N)
TARGET = rng.integers(0, 2, N)
INFO = TaskInfo("classification", ("negative", "positive"), ("a", "b"), ("a",))


def classification_records() -> pd.DataFrame:
    probs = np.column_stack([1 - P_POS, P_POS])
    prediction = probs.argmax(1)
    return pd.DataFrame({
        "model": "m", "suite": "s", "task": "t", "domain": np.where(np.arange(N) < 250, "a", "b"),
        "target": TARGET, "prediction": prediction, "correct": (prediction == TARGET).astype(int),
        "nll": -np.log(probs[np.arange(N), TARGET]), "prob_negative": probs[:, 0], "prob_positive": probs[:, 1]})


def value(table: pd.DataFrame, domain: str, metric: str) -> float:
    return float(table.query("domain == @domain and metric == @metric")["value"].iloc[0])


def test_classification_metrics_match_sklearn() -> None:
    table = metrics_table(classification_records(), {("s", "t"): INFO})
    prediction = (P_POS > 0.5).astype(int)
    assert math.isclose(value(table, "ALL", "accuracy"), accuracy_score(TARGET, prediction))
    assert math.isclose(value(table, "ALL", "cross_entropy"), log_loss(TARGET, P_POS), rel_tol=1e-12)
    # Multi-class Brier sums over both classes: twice the binary brier_score_loss.
    assert math.isclose(value(table, "ALL", "brier"), 2 * brier_score_loss(TARGET, P_POS), rel_tol=1e-12)
    part = slice(250, N)
    assert math.isclose(value(table, "b", "accuracy"), accuracy_score(TARGET[part], prediction[part]))


def test_brier_uses_the_task_choice_order_not_column_order() -> None:
    records = classification_records()
    swapped = records[["prob_positive", *[c for c in records.columns if c != "prob_positive"]]]
    a = metrics_table(records, {("s", "t"): INFO})
    b = metrics_table(swapped, {("s", "t"): INFO})
    assert math.isclose(value(a, "ALL", "brier"), value(b, "ALL", "brier"))


def test_accuracy_interval_is_wilson() -> None:
    table = metrics_table(classification_records(), {("s", "t"): INFO})
    row = table.query("domain == 'a' and metric == 'accuracy'").iloc[0]
    low, high = proportion_confint(int(round(row["value"] * 250)), 250, alpha=0.05, method="wilson")
    assert math.isclose(row["ci_low"], low, rel_tol=1e-9) and math.isclose(row["ci_high"], high, rel_tol=1e-9)
    for x, n in [(0, 10), (10, 10), (3, 7)]:
        assert np.allclose(wilson_interval(x, n, 0.9), proportion_confint(x, n, alpha=0.1, method="wilson"))


def test_wilson_errors() -> None:
    with pytest.raises(StatisticsError, match=r"confidence level must be a number in the open interval \(0, 1\). Got 1.5"):
        wilson_interval(1, 2, level=1.5)
    with pytest.raises(StatisticsError, match=r"successes must be in \[0, n\] = \[0, 2\]. Got 3"):
        wilson_interval(3, 2)
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


def test_regression_and_lm_metrics() -> None:
    y, p = rng.normal(3, 1, 50), rng.normal(3, 1, 50)
    cols = {"target": y, "prediction": p, "nll": (p - y) ** 2}
    assert math.isclose(METRICS.get("regression/mse").compute(cols), mean_squared_error(y, p))
    assert math.isclose(METRICS.get("regression/mae").compute(cols), mean_absolute_error(y, p))
    lm = {"nll": np.array([10.0, 20.0]), "n_tokens": np.array([5, 5]), "n_bytes": np.array([20, 30])}
    assert METRICS.get("language_modeling/cross_entropy").compute(lm) == 3.0
    assert math.isclose(METRICS.get("language_modeling/bits_per_byte").compute(lm), 30 / (50 * math.log(2)))


def test_empty_group_is_nan_with_a_warning_never_zero() -> None:
    metric = METRICS.get("classification/accuracy")
    with pytest.warns(EmptyDomainWarning, match="accuracy for books: no examples; value is NaN"):
        assert math.isnan(metric.compute({"correct": np.array([])}, where="books"))


def test_id_ood_gaps_are_signed_worse_out_of_domain() -> None:
    records = classification_records()
    gaps = gaps_table(records, {("s", "t"): INFO})
    table = metrics_table(records, {("s", "t"): INFO})
    acc = gaps.query("metric == 'accuracy' and domain_b == 'b'").iloc[0]
    assert math.isclose(acc["gap"], value(table, "a", "accuracy") - value(table, "b", "accuracy"))
    ce = gaps.query("metric == 'cross_entropy' and domain_b == 'b'").iloc[0]
    assert math.isclose(ce["gap"], value(table, "b", "cross_entropy") - value(table, "a", "cross_entropy"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert set(gaps.query("kind == 'id_ood'")["domain_b"]) == {"b", "OOD"}
