from __future__ import annotations

import bench


def test_public_names_are_importable() -> None:
    for name in bench.__all__:
        assert hasattr(bench, name), name


def test_library_round_trip_in_a_few_lines(tiny_suite, tmp_path) -> None:
    import numpy as np

    def coin() -> bench.CallableAdapter:
        return bench.CallableAdapter("test-coin", log_probs=lambda t, c: np.full((len(t), len(c)), -np.log(len(c))))

    with bench.MODELS.override("test-coin", coin):
        done = bench.evaluate(bench.RunConfig(suites=(str(tiny_suite),), models=("test-coin",)), tmp_path)
    assert "test-coin" not in bench.MODELS
    acc = done.scored.metrics.query("metric == 'accuracy' and domain == 'ALL'")["value"].iloc[0]
    assert 0.3 < acc < 0.7


def test_scoring_names_are_the_defining_modules_objects() -> None:
    from bench import errors, pipeline
    from bench.scoring import metrics, options, tables
    from bench.suites import protocols

    assert bench.METRICS is metrics.METRICS and bench.PROTOCOLS is protocols.PROTOCOLS
    assert bench.StatisticsError is errors.StatisticsError and bench.EmptyDomainWarning is errors.EmptyDomainWarning
    assert bench.TaskInfo is tables.TaskInfo and bench.StatisticsOptions is options.StatisticsOptions
    assert bench.score_records is pipeline.score_records and bench.rescore_run_folder is pipeline.rescore_run_folder
    assert "classification/accuracy" in bench.METRICS and "id_ood" in bench.PROTOCOLS


def _coin_records() -> tuple[object, dict]:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    n = 200
    domains = np.repeat(["a", "b"], n // 2)
    correct = (rng.random(n) < np.where(domains == "a", 0.8, 0.6)).astype(int)
    prob = np.where(correct == 1, 0.7, 0.3)
    records = pd.DataFrame({
        "model": "m", "suite": "s", "task": "t", "domain": domains, "split": "test",
        "example_id": [f"e{i}" for i in range(n)], "target": 1, "prediction": np.where(correct == 1, 1, 0),
        "correct": correct, "nll": -np.log(prob), "prob_neg": 1 - prob, "prob_pos": prob})
    infos = {("s", "t"): bench.TaskInfo("classification", ("neg", "pos"), ("a", "b"), ("a",))}
    return records, infos


def test_score_records_needs_only_public_names() -> None:
    records, infos = _coin_records()
    scored = bench.score_records(records, infos, bench.StatisticsOptions(resamples=200, permutations=200))
    acc = scored.metrics.query("metric == 'accuracy'").set_index("domain")["value"]
    expected = records.groupby("domain")["correct"].mean()  # type: ignore[attr-defined]
    assert acc["a"] == expected["a"] and acc["b"] == expected["b"]
    gap = scored.gaps.query("metric == 'accuracy' and kind == 'id_ood' and domain_b == 'OOD'")["gap"].iloc[0]
    assert abs(gap - (expected["a"] - expected["b"])) < 1e-12


def test_old_scoring_names_still_work_and_warn() -> None:
    import pandas as pd
    import pytest

    records, infos = _coin_records()
    with pytest.warns(DeprecationWarning, match=r"bench.score_run is deprecated; use bench.score_records"):
        old = bench.score_run(records, infos, resamples=200, permutations=200)
    new = bench.score_records(records, infos, bench.StatisticsOptions(resamples=200, permutations=200))
    pd.testing.assert_frame_equal(old.metrics, new.metrics)
    assert "score_run" not in bench.__all__ and "score_run" in dir(bench.pipeline)
