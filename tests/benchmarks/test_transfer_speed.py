"""``source-only`` under ``transfer_matrix`` against what a user would pick instead:
scikit-learn's ``CountVectorizer`` (uni- and bigrams) + ``LogisticRegression`` on the same
cells, side by side on a generated bring-your-own suite (a CSV table of reviews, 4
domains, 2,000 reviews each, half of each domain for training).

xdbench runs the whole ``bench run`` pipeline (:func:`bench.pipeline.evaluate`: data,
training per fold, scoring, statistics, run folder); scikit-learn fits one model per
training domain on the same train splits and predicts the same test splits. CPU seconds
(``time.process_time``, every thread of the process) of:

- ``source-only``: its own methods inside that run (``fit``, ``log_probs``,
  ``fingerprint``), the counterpart of scikit-learn's fits and predictions (target: at
  most 5× scikit-learn's CPU time);
- ``statistics``: :func:`bench.pipeline.score_records` (intervals, gaps, tests), work
  scikit-learn does not do;
- ``pipeline``: the whole run, both of the above included.

Both sides' libraries are imported before the clocks start. Printed: the CPU seconds and
ratios, and the accuracy of every cell of both models as two train × test tables::

    python -m pytest tests/benchmarks/test_transfer_speed.py --benchmark-enable -s

Plain ``pytest`` (benchmark disabled) runs 200 reviews per domain. No time is asserted;
the accuracies are: in-domain cells ≥ 0.85 for both, ``source-only``'s out-of-domain cells
more than 0.1 below its in-domain ones on average, and its mean accuracy over the cells
not below scikit-learn's by more than twice the Wilson half-width of all the test
predictions of the matrix.
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import bench.pipeline
import bench.scoring.tables  # noqa: F401  (imported before the clock starts, as scikit-learn is)
from bench.baselines.text_model import NgramTextModel
from bench.data import load_suite_data
from bench.data.synthetic import generate_reviews
from bench.pipeline import evaluate
from bench.runner import RunConfig
from bench.scoring.intervals import wilson_interval
from bench.suites import load_suite

DOMAINS = ("books", "electronics", "kitchen", "movies")
FULL, SMOKE = 2_000, 200
MODEL_METHODS = ("fit", "log_probs", "fingerprint")
SUITE = """[suite]
name = "generated-reviews"
version = "1.0"
description = "Generated reviews from a CSV table, every domain against every other."
protocol = "transfer_matrix"

[source]
type = "table"
path = "reviews.csv"
text_column = "text"
domain_column = "domain"

[split]
test_fraction = 0.5
seed = 0

[[tasks]]
name = "sentiment"
kind = "classification"
choices = ["negative", "positive"]

""" + "".join(f'[[domains]]\nname = "{d}"\n' for d in DOMAINS)
Cells = dict[tuple[str, str], float]


def _write_suite(folder: Path, n: int) -> Path:
    with (folder / "reviews.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "domain", "sentiment"])
        for domain in DOMAINS:
            for ex in generate_reviews(domain, n, seed=1):
                writer.writerow([ex.text, domain, ("negative", "positive")[ex.targets["sentiment"]]])
    path = folder / "suite.toml"
    path.write_text(SUITE, encoding="utf-8")
    return path


def _timed(function: Callable[..., Any], spent: dict[str, float], key: str) -> Callable[..., Any]:
    """``function``, adding the CPU seconds of each call to ``spent[key]``."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            spent[key] = spent.get(key, 0.0) + time.process_time() - started

    return wrapper


def _xdbench(path: Path, out: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Cells, dict[str, float]]:
    """The run's cells and CPU seconds: ``pipeline`` (all), ``source-only`` (its methods),
    ``statistics`` (``score_records``)."""
    spent: dict[str, float] = {}
    for method in MODEL_METHODS:
        monkeypatch.setattr(NgramTextModel, method, _timed(getattr(NgramTextModel, method), spent, "source-only"))
    monkeypatch.setattr(bench.pipeline, "score_records", _timed(bench.pipeline.score_records, spent, "statistics"))
    started = time.process_time()
    done = evaluate(RunConfig(suites=(str(path),), models=("source-only",)), out, save_models=False)
    spent["pipeline"] = time.process_time() - started
    monkeypatch.undo()
    assert done is not None
    records = done.result.records
    return {(train, test): float(part["correct"].mean())
            for (train, test), part in records.groupby(["train_domains", "domain"])}, spent


def _sklearn(path: Path) -> tuple[Cells, float]:
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    data = load_suite_data(load_suite(path))
    cpu = time.process_time()
    cells = {}
    for train in DOMAINS:
        split = data.domains[train].train
        vectorizer = CountVectorizer(ngram_range=(1, 2))
        model = LogisticRegression(max_iter=1_000).fit(vectorizer.fit_transform([ex.text for ex in split]),
                                                       [ex.targets["sentiment"] for ex in split])
        for test in DOMAINS:
            examples = data.domains[test].test
            predicted = model.predict(vectorizer.transform([ex.text for ex in examples]))
            cells[(train, test)] = float(np.mean(predicted == [ex.targets["sentiment"] for ex in examples]))
    return cells, time.process_time() - cpu


def _table(title: str, cells: Cells) -> str:
    lines = [f"{title} (rows: trained on, columns: tested on)", " " * 12 + "".join(f"{d:>12}" for d in DOMAINS)]
    lines += [f"{train:<12}" + "".join(f"{cells[(train, test)]:>12.3f}" for test in DOMAINS) for train in DOMAINS]
    return "\n".join(lines)


def test_transfer_matrix_against_sklearn(benchmark, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    n = SMOKE if benchmark.disabled else FULL
    path = _write_suite(tmp_path, n)
    ours, spent = benchmark.pedantic(_xdbench, args=(path, tmp_path / "results", monkeypatch), rounds=1,
                                     iterations=1)
    theirs, theirs_cpu = _sklearn(path)
    n_test = n // 2
    print(f"\n{len(theirs)} cells, {n // 2} training and {n_test} test reviews per domain; CPU seconds "
          f"(ratio to scikit-learn's {theirs_cpu:.2f} s): "
          + ", ".join(f"{k} {v:.2f} ({v / theirs_cpu:.1f}x)" for k, v in spent.items()))
    print(_table("xdbench source-only accuracy", ours))
    print(_table("scikit-learn CountVectorizer(1-2) + LogisticRegression accuracy", theirs))
    benchmark.extra_info.update({"sklearn_cpu_s": theirs_cpu, **{f"{k}_cpu_s": v for k, v in spent.items()},
                                 "ratio": spent["source-only"] / theirs_cpu})
    assert set(ours) == set(theirs) == {(a, b) for a in DOMAINS for b in DOMAINS}
    assert all(ours[(d, d)] >= 0.85 and theirs[(d, d)] >= 0.85 for d in DOMAINS)
    off_diagonal = [ours[(a, b)] for a in DOMAINS for b in DOMAINS if a != b]
    assert np.mean(off_diagonal) < np.mean([ours[(d, d)] for d in DOMAINS]) - 0.1  # the shift the suite is built on
    mean_ours, mean_theirs = np.mean(list(ours.values())), np.mean(list(theirs.values()))
    assert mean_ours >= mean_theirs - 2 * _half_width(mean_theirs, len(theirs) * n_test)


def _half_width(p: float, n: int) -> float:
    low, high = wilson_interval(p * n, n, 0.95)
    return max((high - low) / 2, 1 / n) if math.isfinite(low) else 1.0
