from __future__ import annotations

import bench


def test_public_names_are_importable() -> None:
    for name in bench.__all__:
        assert hasattr(bench, name), name


def test_library_round_trip_in_a_few_lines(tiny_suite, tmp_path) -> None:
    import numpy as np

    bench.MODELS.add("test-coin", lambda: bench.CallableAdapter(
        "test-coin", log_probs=lambda t, c: np.full((len(t), len(c)), -np.log(len(c)))))
    try:
        done = bench.evaluate(bench.RunConfig(suites=(str(tiny_suite),), models=("test-coin",)), tmp_path)
    finally:
        bench.MODELS._entries.pop("test-coin")
    acc = done.scored.metrics.query("metric == 'accuracy' and domain == 'ALL'")["value"].iloc[0]
    assert 0.3 < acc < 0.7
