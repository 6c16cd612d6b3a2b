"""One check over every registry entry: every bundled suite loads and every registered
model scores the toy suite with valid outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.adapters import MODELS, make_model
from bench.data import load_suite_data
from bench.errors import MissingDataError
from bench.runner import RunConfig, run
from bench.scoring.metrics import METRICS
from bench.suites import SUITES, load_suite
from tests.conftest import SHARED_DATA


def _model_cases() -> list[object]:
    """Every registered model; one that needs an optional extra or weights (its ``requires``
    fact) or an argument (its ``example`` fact) is skipped with the reason: the adapter
    conformance test (tests/adapters/test_conformance.py) builds and scores those."""
    cases: list[object] = []
    for name in MODELS.names():
        facts = MODELS.entry(name).facts
        needs = sorted(set(facts.get("requires", {}).values()))
        reason = (f"needs {', '.join(needs)}" if needs else f"needs an argument ({facts['example']})"
                  if "example" in facts else None)
        cases.append(name if reason is None else pytest.param(name, marks=pytest.mark.skip(
            reason=f"{name} is scored by tests/adapters/test_conformance.py, not here, whether or not installed "
                   f"(it {reason})")))
    return cases


@pytest.mark.parametrize("name", SUITES.names())
def test_every_bundled_suite_loads(name: str) -> None:
    suite = load_suite(name)
    assert suite.name == name and suite.tasks and suite.domains
    try:
        data = load_suite_data(suite, data_dir=SHARED_DATA)
    except MissingDataError as exc:
        pytest.skip(f"data for {name} not present: {exc}")
    for domain in suite.domains:
        assert data.domains[domain].test, f"{name}/{domain} has an empty test split"


@pytest.mark.parametrize("name", _model_cases())
def test_every_model_scores_the_toy_suite(name: str, tiny_suite: Path) -> None:
    adapter = make_model(name)
    suite = load_suite(tiny_suite)
    if not any(adapter.supports(t) for t in suite.tasks):
        pytest.skip(f"{name} supports none of the toy tasks ({', '.join(sorted(adapter.task_kinds))})")
    result = run(RunConfig(suites=(str(tiny_suite),), models=(name,), limit=8))
    assert len(result.records) > 0 and result.records["nll"].notna().all()


@pytest.mark.parametrize("name", METRICS.names())
def test_every_metric_is_order_invariant(name: str) -> None:
    import numpy as np

    metric = METRICS.get(name)
    rng = np.random.default_rng(1)
    n = 50
    probs = rng.dirichlet([1, 1], n)
    target = rng.integers(0, 2, n)
    columns = {"target": target, "prediction": probs.argmax(1), "correct": (probs.argmax(1) == target).astype(float),
               "nll": rng.uniform(0.1, 3, n), "probs": probs, "n_tokens": rng.integers(1, 9, n),
               "n_bytes": rng.integers(5, 40, n), "logprobs": np.log(probs) - rng.uniform(0, 2, (n, 1)),
               "chars": rng.integers(1, 9, (n, 2)).astype(float), "bytes": rng.integers(1, 12, (n, 2)).astype(float),
               "f1": rng.uniform(0, 1, n), "ref_bytes": rng.integers(1, 30, n)}
    columns |= {f"{prefix}{k}": rng.integers(0, 9, n) for prefix, width in (("bleu_stat_", 10), ("chrf_stat_", 18))
                for k in range(width)}
    order = rng.permutation(n)
    shuffled = {k: v[order] for k, v in columns.items()}
    assert metric.compute(columns) == pytest.approx(metric.compute(shuffled), rel=1e-12)
