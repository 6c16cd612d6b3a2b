"""``source-only`` under ``transfer_matrix`` against what a user would pick instead:
scikit-learn's ``CountVectorizer`` (uni- and bigrams) + ``LogisticRegression`` on the same
cells, side by side on a generated bring-your-own suite (a CSV table of reviews, 4
domains, 2,000 reviews each, half of each domain for training).

xdbench runs the whole ``bench run`` pipeline (:func:`bench.pipeline.evaluate`: data,
training per fold, scoring, statistics, run folder); scikit-learn fits one model per
training domain on the same train splits and predicts the same test splits. Reported:
CPU seconds of each, their ratio (target ≤ 3×), where xdbench's time goes (cProfile of a
second run, CPU seconds, cumulative: featurizing, training, scoring the examples, statistics) and the largest accuracy
difference of a cell against the Wilson interval half-width of that cell::

    python -m pytest tests/benchmarks/test_transfer_speed.py --benchmark-enable -s

No time is asserted; the accuracies are.
"""

from __future__ import annotations

import cProfile
import csv
import math
import pstats
import time
from pathlib import Path

import numpy as np

from bench.data import load_suite_data
from bench.data.synthetic import generate_reviews
from bench.pipeline import evaluate
from bench.runner import RunConfig
from bench.scoring.intervals import wilson_interval
from bench.suites import load_suite

DOMAINS = ("books", "electronics", "kitchen", "movies")
FULL, SMOKE = 2_000, 40
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
PHASES = {"featurizing": ("features.py", "ids"), "training": ("text_model.py", "train_net"),
          "scoring examples": ("runner.py", "score_examples"), "statistics": ("tables.py", "score_tables")}


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


def _xdbench(path: Path, out: Path, profiled: bool) -> tuple[dict, float, dict[str, float]]:
    """The run's cells and CPU seconds; with ``profiled``, the CPU seconds of each phase
    from a second, profiled run (the profiler's overhead stays out of the total)."""
    cpu = time.process_time()
    done = evaluate(RunConfig(suites=(str(path),), models=("source-only",)), out, save_models=False)
    cpu = time.process_time() - cpu
    if not profiled:
        return _cells(done.result.records), cpu, {}
    profile = cProfile.Profile(time.process_time)
    profile.enable()
    evaluate(RunConfig(suites=(str(path),), models=("source-only",)), out, save_models=False)
    profile.disable()
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    phases = {name: sum(v[3] for (file, _, func), v in stats.items() if file.endswith(f) and func == fn)
              for name, (f, fn) in PHASES.items()}
    return _cells(done.result.records), cpu, phases


def _cells(records) -> dict:
    return {(train, test): float(part["correct"].mean())
            for (train, test), part in records.groupby(["train_domains", "domain"])}


def _sklearn(path: Path) -> tuple[dict, float]:
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


def test_transfer_matrix_against_sklearn(benchmark, tmp_path: Path) -> None:
    n = SMOKE if benchmark.disabled else FULL
    path = _write_suite(tmp_path, n)
    ours, ours_cpu, phases = benchmark.pedantic(_xdbench, args=(path, tmp_path / "results", not benchmark.disabled),
                                                rounds=1, iterations=1)
    theirs, theirs_cpu = _sklearn(path)
    n_test = n // 2
    worst = max(abs(ours[c] - theirs[c]) / _half_width(theirs[c], n_test) for c in theirs)
    print(f"\n{len(theirs)} cells, {n_test} test reviews each: xdbench CPU {ours_cpu:.1f} s, scikit-learn CPU "
          f"{theirs_cpu:.1f} s, ratio {ours_cpu / theirs_cpu:.1f}x; phases (cumulative CPU s): "
          + ", ".join(f"{k} {v:.1f}" for k, v in phases.items())
          + f"; largest |accuracy difference| / Wilson half-width of a cell: {worst:.2f}")
    for cell in sorted(theirs):
        print(f"  train {cell[0]:<12} test {cell[1]:<12} xdbench {ours[cell]:.3f}  sklearn {theirs[cell]:.3f}")
    benchmark.extra_info.update({"ratio": ours_cpu / theirs_cpu, **phases})
    assert set(ours) == set(theirs)
    if not benchmark.disabled:  # a few hundred examples per cell: differences within the intervals
        assert worst <= 2.0


def _half_width(p: float, n: int) -> float:
    low, high = wilson_interval(p * n, n, 0.95)
    return max((high - low) / 2, 1 / n) if math.isfinite(low) else 1.0
