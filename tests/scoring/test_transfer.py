"""LODO and transfer-matrix bookkeeping on a tiny suite, and the tables built from them."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.data import load_suite_data
from bench.errors import SuiteError
from bench.runner import RunConfig, run
from bench.scoring.tables import TaskInfo
from bench.scoring.transfer import transfer_matrix, transfer_summary
from bench.suites import PROTOCOLS, SuiteData, load_suite, plan_folds


def _ids(examples: list) -> set[str]:
    return {ex.id for ex in examples}


def test_leave_one_domain_out_folds(tiny_suite: Path) -> None:
    data = load_suite_data(load_suite(tiny_suite))
    folds = plan_folds(data, "leave_one_domain_out")
    assert PROTOCOLS.canonical("lodo") == "leave_one_domain_out"
    assert [f.name for f in folds] == ["leave_out=books", "leave_out=electronics", "leave_out=movies"]
    for fold, held_out in zip(folds, data.suite.domains, strict=True):
        others = [d for d in data.suite.domains if d != held_out]
        assert fold.train_domains == tuple(others)
        assert _ids(fold.train) == set().union(*(_ids(data.domains[d].train) for d in others))
        assert list(fold.test) == [held_out] and _ids(fold.test[held_out]) == _ids(data.domains[held_out].test)
        assert list(fold.adapt) == [held_out] and _ids(fold.adapt[held_out]) == _ids(data.domains[held_out].train)
        assert not _ids(fold.train) & _ids(fold.test[held_out])


def test_transfer_matrix_folds(tiny_suite: Path) -> None:
    data = load_suite_data(load_suite(tiny_suite))
    folds = plan_folds(data, "transfer_matrix")
    assert [f.train_domains for f in folds] == [(d,) for d in data.suite.domains]
    for fold in folds:
        (source,) = fold.train_domains
        assert _ids(fold.train) == _ids(data.domains[source].train)
        assert list(fold.test) == list(data.suite.domains)
        assert set(fold.adapt) == set(data.suite.domains) - {source}
        for domain, pool in fold.adapt.items():
            assert _ids(pool) == _ids(data.domains[domain].train)
            assert not _ids(pool) & _ids(fold.test[domain])


def test_protocols_need_two_domains(tiny_suite: Path) -> None:
    full = load_suite_data(load_suite(tiny_suite))
    one = dataclasses.replace(full.suite, domains=("books",), in_domain=("books",))
    data = SuiteData(one, {"books": full.domains["books"]})
    for protocol in ("leave_one_domain_out", "transfer_matrix"):
        message = f"Protocol '{protocol}' needs at least 2 domains; suite 'tiny-reviews' has 1"
        with pytest.raises(SuiteError, match=message):
            plan_folds(data, protocol)


def _records() -> tuple[pd.DataFrame, dict[tuple[str, str], TaskInfo]]:
    rng = np.random.default_rng(3)
    rows = []
    for train in ("a", "b", "c"):
        for test in ("a", "b", "c"):
            n = int(rng.integers(5, 12))
            correct = rng.random(n) < (0.9 if train == test else 0.6)
            for i in range(n):
                rows.append({"model": "m", "suite": "s", "task": "t", "domain": test, "example_id": f"{test}{i}",
                             "train_domains": train, "fold": f"train={train}", "target": 1,
                             "prediction": int(correct[i]), "correct": int(correct[i]), "nll": 0.1 + (not correct[i]),
                             "prob_no": 0.2, "prob_yes": 0.8})
    info = TaskInfo("classification", ("no", "yes"), ("a", "b", "c"), ("a",))
    return pd.DataFrame(rows), {("s", "t"): info}


@pytest.mark.filterwarnings("ignore::bench.errors.EmptyDomainWarning")
def test_transfer_matrix_table_matches_group_means() -> None:
    records, infos = _records()
    matrix = transfer_matrix(records, infos)
    accuracy = matrix[matrix["metric"] == "accuracy"].set_index("train_domain")[["a", "b", "c"]]
    expected = records.pivot_table(index="train_domains", columns="domain", values="correct", aggfunc="mean")
    np.testing.assert_allclose(accuracy.to_numpy(), expected.loc[["a", "b", "c"], ["a", "b", "c"]].to_numpy())

    summary = transfer_summary(records, infos).set_index("metric")
    cells = expected.to_numpy()
    diagonal, off = np.diag(cells).mean(), cells[~np.eye(3, dtype=bool)].mean()
    assert summary.loc["accuracy", "diagonal"] == pytest.approx(diagonal)
    assert summary.loc["accuracy", "off_diagonal"] == pytest.approx(off)
    assert summary.loc["accuracy", "gap"] == pytest.approx(diagonal - off)
    worst = np.unravel_index(np.where(np.eye(3, dtype=bool), np.inf, cells).argmin(), cells.shape)
    assert (summary.loc["accuracy", "worst_train"], summary.loc["accuracy", "worst_test"]) == (
        "abc"[worst[0]], "abc"[worst[1]])
    nll = records.pivot_table(index="train_domains", columns="domain", values="nll", aggfunc="mean").to_numpy()
    loss_gap = nll[~np.eye(3, dtype=bool)].mean() - np.diag(nll).mean()
    assert summary.loc["cross_entropy", "gap"] == pytest.approx(loss_gap)  # a loss: off minus diagonal


def test_transfer_matrix_run_writes_the_matrix(tiny_suite: Path, tmp_path: Path) -> None:
    from bench.pipeline import evaluate

    config = RunConfig(suites=(str(tiny_suite),), models=("tests.baselines.test_mitigations:small_source_only",),
                       protocol="transfer_matrix", tasks=("sentiment",))
    done = evaluate(config, tmp_path / "out", save_models=False)
    matrix = pd.read_csv(done.run_dir / "transfer_matrix.csv")
    assert list(matrix.columns) == ["model", "suite", "task", "metric", "train_domain", "books", "electronics",
                                    "movies"]
    assert len(matrix[matrix["metric"] == "accuracy"]) == 3
    assert (done.run_dir / "transfer_summary.csv").is_file() and not (done.run_dir / "models").exists()
    records = pd.read_csv(done.run_dir / "records.csv.gz")
    assert sorted(records["fold"].unique()) == ["train=books", "train=electronics", "train=movies"]


def test_lodo_run_scores_each_domain_once(tiny_suite: Path) -> None:
    result = run(RunConfig(suites=(str(tiny_suite),), models=("tests.baselines.test_mitigations:small_source_only",),
                           protocol="lodo", tasks=("sentiment",)))
    assert not result.records.duplicated(["domain", "example_id"]).any()
    by_domain = result.records.groupby("domain")["train_domains"].unique()
    assert by_domain["books"].tolist() == ["electronics+movies"]


def test_cli_exposes_protocol_and_trials(tiny_suite: Path, tmp_path: Path) -> None:
    from bench.cli import main

    argv = ["run", str(tiny_suite), "--model", "tests.baselines.test_mitigations:small_source_only", "--task", "sentiment",
            "--protocol", "lodo", "--trials", "2", "--no-save-models", "--out", str(tmp_path), "-q"]
    assert main(argv) == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    records = pd.read_csv(run_dir / "records.csv.gz")
    assert sorted(records["trial"].unique()) == [0, 1]
    assert set(records["fold"]) == {"leave_out=books", "leave_out=electronics", "leave_out=movies"}
    trials = pd.read_csv(run_dir / "trials.csv")
    assert set(trials["trials"]) == {2} and {"seed_mean", "seed_std", "example_ci_low"} <= set(trials.columns)
    assert main(["run", str(tiny_suite), "--protocol", "lodox", "--out", str(tmp_path)]) == 2
