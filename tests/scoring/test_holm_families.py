"""Holm families that follow the question, and the shared draws of subset-against-rest tests.

The simulation at the end (57 subjects × 20 questions, as a ``--limit 20`` MMLU run) runs
at a small size here; ``python tests/scoring/test_holm_families.py 500`` prints the
full-size table of ``docs/statistics.md``.
"""

from __future__ import annotations

import itertools
import math
import sys

import numpy as np
import pytest
from scipy.stats import fisher_exact

from bench.scoring.gaps import domain_gaps, gap_statistic, holm
from bench.scoring.metrics import get_metric
from bench.scoring.options import GAP_KINDS
from bench.scoring.permutation import decided, permutation_result, subset_permutation_results

ACC = get_metric("classification", "accuracy")
CE = get_metric("classification", "cross_entropy")


def _ratio(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    return np.column_stack([x, np.ones_like(x)])


def test_two_domains_against_the_rest_are_one_test_counted_once() -> None:
    # exact match 6/20 against 0/20: Fisher's p = 0.020, and nothing else is tested in that family
    strata = {"news": _ratio([1] * 6 + [0] * 14), "medical": _ratio([0] * 20)}
    gaps = domain_gaps(strata, ACC, in_domain=[], resamples=500, seed=0, kinds=GAP_KINDS)
    rest = [g for g in gaps if g.kind == "domain_rest"]
    expected = fisher_exact([[6, 14], [0, 20]]).pvalue
    assert [g.p_value for g in rest] == pytest.approx([expected] * 2, rel=1e-9) and expected == pytest.approx(0.0202, abs=1e-4)
    assert [g.family_size for g in rest] == [1, 1]
    assert [g.p_adjusted for g in rest] == [g.p_value for g in rest]  # not multiplied by 5
    pairwise = next(g for g in gaps if g.kind == "pairwise")
    assert pairwise.p_adjusted == pytest.approx(expected) and pairwise.family_size == 1


def test_shared_draws_give_each_subset_its_exact_null_distribution() -> None:
    # 7 rows: every subset of size k is one of C(7, k); the Monte Carlo p-value must match the
    # enumeration within its standard error, for every test of the shared draws
    pooled = _ratio([0.1, 0.4, 0.5, 1.3, 2.0, 3.1, 7.5])
    statistic = gap_statistic(CE, [0], [1])
    total = pooled.sum(axis=0)
    tests = [(2, 0.9), (3, 1.0), (1, 4.0), (5, 0.3)]  # (size, observed |T|)
    results = subset_permutation_results(pooled, [k for k, _ in tests], [t for _, t in tests], statistic,
                                         n_permutations=20_000, rng=1, family_size=1, alpha=1e-9)
    for (k, observed), result in zip(tests, results, strict=True):
        sums = [pooled[list(c)].sum(axis=0) for c in itertools.combinations(range(7), k)]
        values = np.abs([float(statistic(np.stack([total - b, b]))) for b in sums])
        exact = np.mean(values >= observed * (1 - 1e-9) - 1e-12)
        se = math.sqrt(exact * (1 - exact) / result.n_permutations) + 1e-4
        assert result.method == "monte_carlo" and abs(result.p_value - exact) < 4 * se


def test_shared_draws_agree_with_one_test_at_a_time() -> None:
    rng = np.random.default_rng(5)
    domains = [rng.lognormal(0, 1 + 0.3 * (d == 2), 30) for d in range(6)]
    pooled = np.concatenate([_ratio(np.sort(x)) for x in domains])
    statistic = gap_statistic(CE, [0], [1])
    observed, separate = [], []
    for d, x in enumerate(domains):
        rest = np.concatenate([domains[j] for j in range(6) if j != d])
        a, b = _ratio(rest), _ratio(x)
        observed.append(float(statistic(np.stack([a.sum(axis=0), b.sum(axis=0)]))))
        separate.append(permutation_result([a, b], statistic, n_permutations=20_000, rng=d, alpha=1e-9).p_value)
    shared = subset_permutation_results(pooled, [30] * 6, observed, statistic, n_permutations=20_000, rng=0,
                                        alpha=1e-9)
    for p, q in zip(separate, shared, strict=True):
        assert abs(p - q.p_value) < 4 * math.sqrt(p * (1 - p) / 20_000) + 1e-4


def test_undefined_tests_are_nan_and_decisions_stop_the_draws() -> None:
    pooled = _ratio(np.arange(50.0))
    results = subset_permutation_results(pooled, [10, 10], [math.nan, 1e9], gap_statistic(CE, [0], [1]),
                                         n_permutations=200, rng=0, family_size=15, alpha=0.05)
    assert math.isnan(results[0].p_value) and results[0].method == "undefined"
    # no hit: 1/201 is not below 0.05/15 = 0.0033, 1/401 is: decided after 400 of the 3,000 the family allows
    assert results[1].n_permutations == 400 and results[1].p_value == 1 / 401
    assert decided(np.array([0, 100, 10]), 1_000, 0.05, 3).tolist() == [True, True, False]


# --- the simulation: power and family-wise error of the summary's claim ----------------------


def _subjects(rng: np.random.Generator, planted: bool, n_subjects: int = 57, n_questions: int = 20
              ) -> dict[str, np.ndarray]:
    rates = [0.27] * n_subjects
    if planted:
        rates[0] = 0.5
    return {f"s{d:02d}": _ratio(rng.random(n_questions) < p) for d, p in enumerate(rates)}


def _claims(strata: dict[str, np.ndarray], seed: int) -> tuple[bool, bool, bool, bool]:
    """Whether subject s00 / any other subject is called different from the rest: with the
    family of the subjects against the rest, and with one family of every comparison (the
    former Holm family: subjects and pairs together)."""
    gaps = domain_gaps(strata, ACC, in_domain=[], resamples=100, seed=seed, kinds=("domain_rest", "pairwise"))
    rest = [g for g in gaps if g.kind == "domain_rest"]
    everything = holm([g.p_value for g in gaps])[: len(rest)]
    family = np.array([g.p_adjusted for g in rest])
    return bool(family[0] < 0.05), bool((family[1:] < 0.05).any()), bool(everything[0] < 0.05), \
        bool((everything[1:] < 0.05).any())


def simulate(replicates: int, n_subjects: int = 57, seed: int = 0) -> dict[str, float]:
    """Power (subject s00 truly at 0.5, the rest at 0.27) and family-wise error (all at
    0.27) of "subject d differs from the rest", Holm over the subjects against the rest
    (57 tests) and over every comparison (57 + 1,596 pairs)."""
    rng = np.random.default_rng(seed)
    power = [_claims(_subjects(rng, True, n_subjects), r) for r in range(replicates)]
    null = [_claims(_subjects(rng, False, n_subjects), r) for r in range(replicates)]
    return {"power_family": np.mean([p[0] for p in power]), "power_all": np.mean([p[2] for p in power]),
            "fwer_family": np.mean([n[0] or n[1] for n in null]), "fwer_all": np.mean([n[2] or n[3] for n in null]),
            "false_in_power_runs": np.mean([p[1] for p in power])}


def test_the_smaller_family_gains_power_and_keeps_the_error_rate() -> None:
    result = simulate(40, n_subjects=12)  # 12 + 66 comparisons: the full size is the script's
    assert result["power_family"] >= result["power_all"]
    assert result["fwer_family"] <= 0.15  # 40 replicates: 0.05 plus Monte Carlo error


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    for name, value in simulate(n).items():
        print(f"{name}: {value:.3f} (Monte Carlo s.e. {math.sqrt(value * (1 - value) / n):.3f})")


def test_statistics_progress_steps_through_each_metric_and_gap_family() -> None:
    import contextlib

    import pandas as pd

    from bench.scoring.gaps import FAMILIES
    from bench.scoring.metrics import metrics_for
    from bench.scoring.tables import score_tables
    from bench.suites.info import TaskInfo

    rng = np.random.default_rng(0)
    domains = ("a", "b", "c")
    n = 90
    probs = rng.dirichlet([1, 1], n)
    target = rng.integers(0, 2, n)
    records = pd.DataFrame({"model": "m", "suite": "s", "task": "t", "domain": np.repeat(domains, n // 3),
                            "example_id": [f"e{i}" for i in range(n)], "target": target,
                            "prediction": probs.argmax(axis=1), "correct": (probs.argmax(axis=1) == target).astype(int),
                            "nll": -np.log(probs[np.arange(n), target]), "prob_x": probs[:, 0], "prob_y": probs[:, 1]})
    seen: list[tuple[int, str]] = []
    steps: list[int] = []

    @contextlib.contextmanager
    def progress(total: int, description: str):  # type: ignore[no-untyped-def]
        seen.append((total, description))
        yield steps.append

    info = TaskInfo("classification", ("x", "y"), domains, ())
    score_tables(records, {("s", "t"): info}, progress=progress)
    metrics = len(metrics_for("classification"))
    assert seen == [(metrics * (1 + len(FAMILIES)), "statistics")] and sum(steps) == seen[0][0]
