"""bench leaderboard: values, paired bootstrap rank intervals, comparability, formats."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.cli import main
from bench.errors import DataError
from bench.report.board import BoardOptions, build_board, display_table, rank_intervals, to_markdown


def _accuracy(correct: np.ndarray) -> np.ndarray:
    return np.column_stack([correct, np.ones_like(correct)])


def test_identical_models_tie_in_every_resample() -> None:
    correct = (np.arange(200) % 3 == 0).astype(float)
    comps = {m: {"d": _accuracy(correct)} for m in ("a", "b")}
    ranks = rank_intervals(comps, "accuracy", "classification", BoardOptions(resamples=300))
    assert list(ranks["rank"]) == [1.5, 1.5]
    assert list(ranks["rank_low"]) == [1.5, 1.5] and list(ranks["rank_high"]) == [1.5, 1.5]


def test_resampling_is_paired_across_models() -> None:
    # b is right wherever a is, and on one example more: in every paired resample b >= a,
    # so b's rank is 1 or tied (1.5), never 2. An unpaired bootstrap would let them swap.
    rng = np.random.default_rng(0)
    a = (rng.random(1000) < 0.6).astype(float)
    b = a.copy()
    b[np.flatnonzero(a == 0)[0]] = 1.0
    comps = {"a": {"d": _accuracy(a)}, "b": {"d": _accuracy(b)}}
    ranks = rank_intervals(comps, "accuracy", "classification", BoardOptions(resamples=500)).set_index("model")
    assert ranks.loc["b", "rank"] == 1 and ranks.loc["b", "rank_high"] <= 1.5
    assert ranks.loc["a", "rank_low"] >= 1.5


def test_rank_interval_matches_a_direct_bootstrap() -> None:
    """An independent loop over resamples with the same index draws gives the same quantiles."""
    rng = np.random.default_rng(1)
    data = {m: {"x": rng.normal(loc, 1.0, 50), "y": rng.normal(loc, 1.0, 30)} for m, loc in
            (("a", 1.0), ("b", 1.1), ("c", 3.0))}
    comps = {m: {d: np.column_stack([v ** 2, np.ones_like(v)]) for d, v in ds.items()} for m, ds in data.items()}
    options = BoardOptions(resamples=400, seed=7)
    ranks = rank_intervals(comps, "mse", "regression", options).set_index("model")
    draw = np.random.default_rng(7)
    index = {d: draw.integers(0, n, size=(400, n)) for d, n in (("x", 50), ("y", 30))}
    resampled = np.array([[np.mean([np.mean(data[m][d][index[d][b]] ** 2) for d in ("x", "y")])
                           for m in ("a", "b", "c")] for b in range(400)])
    order = resampled.argsort(axis=1).argsort(axis=1) + 1.0  # mse: lower is better, no ties here
    for k, m in enumerate(("a", "b", "c")):
        assert ranks.loc[m, "rank_low"] == np.quantile(order[:, k], 0.025, method="lower")
        assert ranks.loc[m, "rank_high"] == np.quantile(order[:, k], 0.975, method="higher")
        point = np.mean([np.mean(data[m][d] ** 2) for d in ("x", "y")])
        assert ranks.loc[m, "value"] == pytest.approx(point)
    assert ranks.loc["c", "rank"] == 3 and ranks.loc["c", "rank_low"] == 3


def test_board_of_a_run_agrees_with_its_tables(tiny_run: Path) -> None:
    board = build_board([tiny_run], BoardOptions(resamples=200))
    metrics = pd.read_csv(tiny_run / "metrics.csv")
    sentiment = board[board["task"] == "sentiment"].set_index("model")
    per_domain = metrics[(metrics["task"] == "sentiment") & (metrics["metric"] == "accuracy")
                         & (metrics["domain"] != "ALL")]
    records = pd.read_csv(tiny_run / "records.csv.gz")
    for model, part in records[records["task"] == "sentiment"].groupby("model"):
        assert sentiment.loc[model, "value"] == pytest.approx(part.groupby("domain")["correct"].mean().mean())
    worst = per_domain[per_domain["model"] == "source-only"].sort_values("value").iloc[0]
    assert sentiment.loc["source-only", "worst_domain"] == worst["domain"]
    gaps = pd.read_csv(tiny_run / "gaps.csv")
    pooled = gaps[(gaps["model"] == "source-only") & (gaps["task"] == "sentiment") & (gaps["kind"] == "id_ood")
                  & (gaps["metric"] == "accuracy") & (gaps["domain_b"] == "OOD")].iloc[0]
    assert sentiment.loc["source-only", ["gap", "gap_ci_low", "gap_ci_high"]].tolist() == pytest.approx(
        [pooled["gap"], pooled["ci_low"], pooled["ci_high"]])
    ece = metrics[(metrics["model"] == "source-only") & (metrics["metric"] == "ece") & (metrics["domain"] == "ALL")
                  & (metrics["task"] == "sentiment")]["value"].iloc[0]
    assert sentiment.loc["source-only", "ece"] == pytest.approx(ece)
    assert np.isfinite(sentiment.loc["source-only", "effective_robustness"])
    assert set(sentiment["rank"]) <= {1.0, 1.5, 2.0, 2.5, 3.0} and (sentiment["rank_low"] <= sentiment["rank"]).all()
    rating = board[board["task"] == "rating"]
    assert list(rating["rank"]) == sorted(rating["rank"]) and rating["metric"].iloc[0] == "mse"


def test_runs_on_other_examples_are_not_comparable(tiny_run: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    shutil.copytree(tiny_run, other)
    records = pd.read_csv(other / "records.csv.gz", dtype={"example_id": str})
    records = records[records["example_id"] != records["example_id"].iloc[0]]
    records.to_csv(other / "records.csv.gz", index=False)
    meta = (other / "run.json").read_text().replace(tiny_run.name, "other-run")
    (other / "run.json").write_text(meta)
    with pytest.raises(DataError, match="Runs are not comparable on tiny-reviews/sentiment: .* other test examples"):
        build_board([tiny_run, other], BoardOptions(resamples=50))


def test_runs_of_other_suite_versions_are_not_comparable(tiny_run: Path, tmp_path: Path) -> None:
    other = tmp_path / "v2"
    shutil.copytree(tiny_run, other)
    text = (other / "run.json").read_text().replace('"version": "1"', '"version": "2"')
    (other / "run.json").write_text(text.replace(tiny_run.name, "v2-run"))
    with pytest.raises(DataError, match=r"different suite versions \(.*version 1.*version 2"):
        build_board([tiny_run, other], BoardOptions(resamples=50))


def test_cli_leaderboard_formats_filters_and_sorting(tiny_run: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["leaderboard", str(tiny_run), "--task", "sentiment", "--resamples", "100"]) == 0
    out = capsys.readouterr().out
    assert "rank [95% CI]" in out and "source-only" in out and "tiny-reviews/rating" not in out
    target = tmp_path / "board.csv"
    assert main(["leaderboard", str(tiny_run), "--format", "csv", "-o", str(target), "--sort", "ece"]) == 0
    assert f"leaderboard: {target} (6 rows)" in capsys.readouterr().out
    table = pd.read_csv(target)
    assert list(table["ece"].dropna()) == sorted(table["ece"].dropna())
    assert {"rank", "rank_low", "rank_high", "gap_ci_low", "effective_robustness"} <= set(table.columns)
    assert main(["leaderboard", str(tiny_run), "--format", "markdown", "--metric", "brier", "--task",
                 "sentiment", "--resamples", "50"]) == 0
    markdown = capsys.readouterr().out
    assert markdown.startswith("| rank [95% CI] | model | suite/task | brier |")


def test_cli_leaderboard_reads_leaderboard_csvs(tiny_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tiny_run.parent.parent / "leaderboard.csv"
    assert main(["leaderboard", str(csv), "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert "| 1 | source-only | tiny-reviews/sentiment |" in out


def test_cli_leaderboard_errors(tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["leaderboard", str(tmp_path / "nothing")]) == 2
    assert "is neither a run folder nor a leaderboard CSV" in capsys.readouterr().err
    assert main(["leaderboard", str(tiny_run), "--sort", "nope", "--resamples", "20"]) == 2
    assert "Cannot sort by 'nope': no such column" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    assert main(["leaderboard", str(bad)]) == 2
    assert "is not a leaderboard CSV: no column model" in capsys.readouterr().err


def test_markdown_escapes_pipes() -> None:
    board = pd.DataFrame({"model": ["a|b"], "value": [0.5]})
    assert "a\\|b" in to_markdown(board, ["model", "value"])


def test_the_gap_header_reads_the_runs_level(tiny_run: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    copy = shutil.copytree(tiny_run, tmp_path / "run")
    assert main(["score", str(copy), "--level", "0.9", "--resamples", "200", "--permutations", "200", "-q"]) == 0
    capsys.readouterr()
    board = build_board([copy], BoardOptions(resamples=50, task="sentiment"))
    assert set(board["gap_level"].dropna()) == {0.9} and set(board["rank_level"]) == {0.95}
    shown = display_table(board)
    assert "gap ID→OOD [90% CI]" in shown.columns and "rank [95% CI]" in shown.columns
    mixed = pd.concat([board, build_board([tiny_run], BoardOptions(resamples=50, task="sentiment"))], ignore_index=True)
    assert "gap ID→OOD [CI]" in display_table(mixed).columns  # two levels: the header names none
