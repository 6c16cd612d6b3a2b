"""What every gap row compares, under each protocol: its two sides are the domains it names,
scored by the model (and fold) it names, recomputed from the records with pandas."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.cli import main
from bench.outputs import read_run
from tests.conftest import ENABLE_DATA, SHARED_DATA, find_data

PROTOCOLS = {"id_ood": "majority", "leave_one_domain_out": "majority", "transfer_matrix": "majority",
             "zero_shot": "uniform"}
DATA = find_data("uci-sentiment") or SHARED_DATA


def _run(out: Path, suite: str, protocol: str, *extra: str) -> Path:
    argv = ["run", suite, "--model", PROTOCOLS[protocol], "--protocol", protocol, "--out", str(out), "--quiet",
            "--no-save-models", "--resamples", "200", "--permutations", "200", *extra]
    assert main(argv) == 0
    (folder,) = (out / "runs").iterdir()
    return folder


def _model_records(records: pd.DataFrame, model: str) -> pd.DataFrame:
    """The records of a gap row's model: ``name@fold`` is one fold of ``name``."""
    name, _, fold = model.partition("@")
    part = records[records["model"] == name]
    return part[part["fold"] == fold] if fold else part


def _side(records: pd.DataFrame, label: str, other: str, domains: list[str]) -> pd.DataFrame:
    if label == "REST":
        inside = [d for d in domains if d != other]
    elif label == "OOD":
        return records[~records["domain"].isin(other.split("+"))]
    else:
        inside = label.split("+")
    return records[records["domain"].isin(inside)]


def _check_run(folder: Path, protocol: str) -> pd.DataFrame:
    meta, records = read_run(folder)
    gaps = pd.read_csv(folder / "gaps.csv")
    acc = gaps[gaps["metric"] == "accuracy"]
    domains = list(meta["suites"][0]["domains"])
    assert len(acc)
    for row in acc[acc["kind"].isin(["id_ood", "domain_rest", "pairwise"])].itertuples(index=False):
        mine = _model_records(records[records["task"] == row.task], row.model)
        a = _side(mine, row.domain_a, row.domain_b, domains)
        b = _side(mine, row.domain_b, row.domain_a, domains)
        assert len(a) == row.n_a and len(b) == row.n_b
        assert row.gap == pytest.approx(a["correct"].mean() - b["correct"].mean(), abs=1e-12)
        assert set(mine["fold"]) >= set(str(row.fold).split(";"))
        if row.kind == "id_ood":  # the in-domain side is exactly what the model was trained on
            (trained,) = set(mine["train_domains"])
            assert row.domain_a == trained
            assert row.domain_b == "OOD" or row.domain_b not in trained.split("+")
    kinds = set(acc["kind"])
    if protocol in ("id_ood", "transfer_matrix"):
        assert "id_ood" in kinds and "domain_rest" not in kinds
    else:  # every scored domain is one its model never saw: no in-domain side exists
        assert "id_ood" not in kinds and "domain_rest" in kinds
        assert (records["domain"].to_numpy() != records["train_domains"].to_numpy()).all()
    if protocol == "transfer_matrix":
        assert all("@train=" in m for m in gaps["model"])
        for row in acc[acc["kind"] == "id_ood"].itertuples(index=False):
            assert row.model.endswith(f"@train={row.domain_a}")  # the diagonal against the off-diagonal
    if protocol == "leave_one_domain_out":
        per_domain = records.groupby("domain")["fold"].unique()
        assert all(list(f) == [f"leave_out={d}"] for d, f in per_domain.items())
    return gaps


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_toy_reviews_gap_rows_compare_what_they_name(protocol: str, tmp_path: Path) -> None:
    folder = _run(tmp_path, "toy-reviews", protocol, "--limit", "30")
    gaps = _check_run(folder, protocol)
    board = pd.read_csv(tmp_path / "leaderboard.csv")
    if protocol == "transfer_matrix":  # one leaderboard row per fold, its gap that fold's own
        row = board[(board["model"] == "majority@train=movies") & (board["task"] == "sentiment")].iloc[0]
        own = gaps[(gaps["model"] == "majority@train=movies") & (gaps["metric"] == "accuracy")
                   & (gaps["domain_b"] == "OOD")].iloc[0]
        assert own["domain_a"] == "movies" and row["gap_accuracy"] == pytest.approx(own["gap"])
    if protocol == "leave_one_domain_out":  # no in-domain value that other models produced
        assert "gap_accuracy" not in board.columns or board["gap_accuracy"].isna().all()


@pytest.mark.skipif(find_data("uci-sentiment") is None, reason=f"uci-sentiment data not found: {ENABLE_DATA}")
@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_uci_sentiment_gap_rows_compare_what_they_name(protocol: str, tmp_path: Path) -> None:
    folder = _run(tmp_path, "uci-sentiment", protocol, "--limit", "60", "--data-dir", str(DATA))
    _check_run(folder, protocol)


def test_a_domain_without_records_is_a_nan_row_and_named(tmp_path: Path) -> None:
    from bench.errors import EmptyDomainWarning
    from bench.scoring.options import StatisticsOptions
    from bench.scoring.tables import TaskInfo, score_tables

    rng = np.random.default_rng(0)
    rows = [{"model": "m", "suite": "s", "task": "t", "domain": d, "correct": float(c), "nll": 0.5,
             "target": 0, "prediction": 0, "prob_a": 0.6, "prob_b": 0.4, "fold": "id_ood", "train_domains": "a"}
            for d in ("a", "b") for c in rng.random(50) < 0.7]
    info = TaskInfo("classification", ("a", "b"), ("a", "b", "c"), ("a",))
    with pytest.warns(EmptyDomainWarning, match="accuracy for m/s/t/c: no examples; value is NaN"):
        tables = score_tables(pd.DataFrame(rows), {("s", "t"): info}, options=StatisticsOptions(resamples=200, permutations=200))
    row = tables.metrics[(tables.metrics["domain"] == "c") & (tables.metrics["metric"] == "accuracy")]
    assert len(row) == 1 and np.isnan(row["value"].iloc[0]) and row["n"].iloc[0] == 0
    gaps = tables.gaps[tables.gaps["metric"] == "accuracy"]
    pooled = gaps[(gaps["kind"] == "id_ood") & (gaps["domain_b"] == "OOD")].iloc[0]
    assert pooled["missing"] == "c" and pooled["n_b"] == 50  # the OOD side pooled b alone, and says so
    alone = gaps[(gaps["kind"] == "id_ood") & (gaps["domain_b"] == "c")].iloc[0]
    assert np.isnan(alone["gap"]) and np.isnan(alone["p_value"])


def test_effective_robustness_uses_each_folds_own_in_domain_set() -> None:
    from bench.scoring.robustness import effective_robustness_table
    from bench.scoring.tables import TaskInfo

    rng = np.random.default_rng(4)
    rows = []
    for k, trained in enumerate("abc"):
        for d in "abc":
            p = 0.9 - 0.1 * k if d == trained else 0.6 - 0.05 * k
            rows += [{"model": "m", "suite": "s", "task": "t", "domain": d, "correct": float(c),
                      "fold": f"train={trained}", "train_domains": trained} for c in rng.random(100) < p]
    records = pd.DataFrame(rows)
    info = TaskInfo("classification", ("x", "y"), ("a", "b", "c"), ("a",))
    table = effective_robustness_table(records, {("s", "t"): info}).set_index("model")
    assert list(table.index) == ["m@train=a", "m@train=b", "m@train=c"]
    for trained in "abc":
        fold = records[records["fold"] == f"train={trained}"]
        own = fold["domain"] == trained
        assert table.loc[f"m@train={trained}", "acc_id"] == pytest.approx(fold[own]["correct"].mean())
        assert table.loc[f"m@train={trained}", "acc_ood"] == pytest.approx(fold[~own]["correct"].mean())
    lodo = records[records["domain"] != records["train_domains"]].assign(train_domains="x")
    assert effective_robustness_table(lodo, {("s", "t"): info}).empty  # no model has in-domain records


def test_trials_table_gap_is_each_folds_own() -> None:
    from bench.scoring.tables import TaskInfo
    from bench.scoring.transfer import trials_table

    rng = np.random.default_rng(6)
    rows = [{"model": "m", "suite": "s", "task": "t", "domain": d, "correct": float(c), "nll": 0.3, "target": 0,
             "prediction": 0, "prob_x": 0.7, "prob_y": 0.3, "fold": f"train={k}", "train_domains": k, "trial": trial}
            for trial in (0, 1) for k in "ab" for d in "ab" for c in rng.random(60) < (0.9 if d == k else 0.6)]
    records = pd.DataFrame(rows)
    info = TaskInfo("classification", ("x", "y"), ("a", "b"), ("a",))
    table = trials_table(records, {("s", "t"): info})
    gap = table[(table["kind"] == "id_ood_gap") & (table["metric"] == "accuracy")].set_index("model")
    assert set(gap.index) == {"m@train=a", "m@train=b"}
    fold = records[(records["fold"] == "train=b") & (records["trial"] == 0)]
    expected = fold[fold["domain"] == "b"]["correct"].mean() - fold[fold["domain"] == "a"]["correct"].mean()
    assert gap.loc["m@train=b", "value_trial0"] == pytest.approx(expected)
