"""bench score and bench compare, end to end on a real run folder."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from bench.cli import main


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("results")
    assert main(["run", "toy-reviews", "--model", "majority", "--model", "uniform", "--out", str(out),
                 "--limit", "40", "--quiet"]) == 0
    (folder,) = (out / "runs").iterdir()
    return folder


def test_score_recomputes_the_tables_from_the_records(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = pd.read_csv(run_dir / "gaps.csv")
    assert main(["score", str(run_dir), "--resamples", "300", "--permutations", "200", "--level", "0.8",
                 "--seed", "3", "-q"]) == 0
    captured = capsys.readouterr()
    printed = captured.out
    assert "gap ID→OOD" in printed and "gaps.csv" in printed
    assert "80% interval" in printed and "95% interval" not in printed
    assert ("NOTE: replaced metrics.csv and gaps.csv scored with level=0.95, stat_method=auto, resamples=10000, "
            "permutations=2000, stat_seed=0 by level=0.8, stat_method=auto, resamples=300, permutations=200, "
            "stat_seed=3") in captured.err
    gaps, metrics = pd.read_csv(run_dir / "gaps.csv"), pd.read_csv(run_dir / "metrics.csv")
    for table in (gaps, metrics):  # every row says how it was scored
        assert (table["level"] == 0.8).all() and (table["stat_seed"] == 3).all()
        assert (table["resamples"] == 300).all() and (table["permutations"] == 200).all()
        assert (table["stat_method"] == "auto").all()
    assert set(metrics.loc[metrics["metric"] == "accuracy", "ci_method"]) == {"wilson"}
    assert set(metrics.loc[metrics["metric"] == "mse", "ci_method"]) == {"studentized"}
    assert set(gaps["kind"]) == {"id_ood", "best_worst", "spread"}  # pairwise is opt-in (--gaps)
    assert gaps["mdg"].notna().any() and gaps["p_adjusted"].notna().any()
    assert len(gaps) == len(before)
    pd.testing.assert_series_equal(gaps["gap"], before["gap"])  # point estimates do not depend on options
    width, width_before = gaps["ci_high"] - gaps["ci_low"], before["ci_high"] - before["ci_low"]
    wide = width_before > 0
    assert (width[wide] < width_before[wide]).mean() > 0.9  # an 80% interval is narrower than a 95% one
    assert metrics["ci_low"].notna().all()


def test_score_method_is_case_insensitive_and_recorded(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["score", str(run_dir), "--resamples", "200", "--permutations", "200", "--method", "bca", "-q"]) == 0
    assert "stat_method=BCa" in capsys.readouterr().err
    gaps, metrics = pd.read_csv(run_dir / "gaps.csv"), pd.read_csv(run_dir / "metrics.csv")
    assert (gaps["stat_method"] == "BCa").all()
    assert set(gaps["ci_method"].dropna()) <= {"BCa", "BCa->percentile"}
    assert set(metrics.loc[metrics["metric"] == "accuracy", "ci_method"]) == {"wilson"}  # closed form kept
    with pytest.raises(SystemExit, match="2"):
        main(["score", str(run_dir), "--method", "jackknife"])
    assert "must be one of auto, studentized, BCa, percentile (any case), got 'jackknife'" in capsys.readouterr().err


def test_score_is_reproducible(run_dir: Path) -> None:
    assert main(["score", str(run_dir), "--resamples", "200", "--permutations", "200", "-q"]) == 0
    first = pd.read_csv(run_dir / "gaps.csv")
    assert main(["score", str(run_dir), "--resamples", "200", "--permutations", "200", "-q"]) == 0
    pd.testing.assert_frame_equal(first, pd.read_csv(run_dir / "gaps.csv"))


def test_compare_writes_a_paired_comparison(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", str(run_dir), "--models", "majority", "uniform", "--resamples", "300",
                 "--permutations", "200"]) == 0
    printed = capsys.readouterr().out
    assert "mcnemar_exact" in printed and "uniform better than majority" in printed
    table = pd.read_csv(run_dir / "compare-majority-vs-uniform.csv")
    assert set(table["kind"]) == {"metric", "id_ood_gap"}
    assert (table["n"] > 0).all()


def test_compare_two_run_folders(run_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "cmp.csv"
    assert main(["compare", str(run_dir), str(run_dir), "--models", "uniform", "uniform", "--resamples", "200",
                 "--permutations", "200", "-o", str(target)]) == 0
    table = pd.read_csv(target)
    assert (table["model_b"] == "uniform@b").all()
    assert (table["difference"].abs() < 1e-12).all()  # the same model's records against themselves


@pytest.mark.parametrize(("argv", "message"), [
    (["--level", "2"], r"'StatisticsOptions\.level' \(--level\) must be a number in \(0, 1\), got a float 2\.0\."),
    (["--resamples", "10"], r"'StatisticsOptions\.resamples' \(--resamples\) must be an integer in \[100, 1000000000\], got an integer 10\."),
    (["--permutations", "1"], r"'StatisticsOptions\.permutations' \(--permutations\) must be an integer in \[100, 1000000000\], got an integer 1\."),
])
def test_score_rejects_bad_options_before_writing(run_dir: Path, argv: list[str], message: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    stamp = (run_dir / "gaps.csv").stat().st_mtime_ns
    assert main(["score", str(run_dir), *argv]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert (run_dir / "gaps.csv").stat().st_mtime_ns == stamp


def test_score_of_a_folder_that_is_not_a_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["score", str(tmp_path)]) == 2
    assert "is not a complete run folder: run.json is missing" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_compare_errors(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", str(run_dir), "--models", "majority", "nobody", "--resamples", "200"]) == 2
    assert "No records of model 'nobody'. Models in the records: majority, uniform" in \
        capsys.readouterr().err
    assert main(["compare", str(run_dir), str(run_dir), str(run_dir), "--models", "a", "b"]) == 2
    assert "takes one run folder, or two" in capsys.readouterr().err


def test_run_takes_the_statistics_options_and_records_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert main(["run", "toy-reviews", "--model", "majority", "--out", str(tmp_path), "--limit", "20", "--quiet",
                 "--no-save-models", "--level", "0.9", "--method", "PERCENTILE", "--resamples", "200",
                 "--permutations", "300", "--stat-seed", "4"]) == 0
    printed = " ".join(capsys.readouterr().out.split())  # the footnote is wrapped to the table's width
    assert "90% interval (accuracy: Wilson, gap percentile bootstrap; mse: percentile bootstrap" in printed
    (folder,) = (tmp_path / "runs").iterdir()
    meta = json.loads((folder / "run.json").read_text())
    assert meta["statistics"] | {"kinds": None} == {"resamples": 200, "level": 0.9, "seed": 4, "method": "percentile",
                                                    "permutations": 300, "kinds": None}
    gaps = pd.read_csv(folder / "gaps.csv")
    assert (gaps["level"] == 0.9).all() and (gaps["stat_seed"] == 4).all() and (gaps["permutations"] == 300).all()
    bootstrapped = gaps["ci_method"].dropna()
    assert len(bootstrapped) and (bootstrapped == "percentile").all()  # forced on every bootstrapped row
    assert main(["run", "toy-reviews", "--model", "majority", "--out", str(tmp_path / "x"), "--level", "1.5"]) == 2
    assert "'StatisticsOptions.level' (--level) must be a number in (0, 1), got a float 1.5." in capsys.readouterr().err
    assert not (tmp_path / "x" / "runs").exists() or not list((tmp_path / "x" / "runs").iterdir())


@pytest.mark.parametrize(("value", "message"), [
    ("pairs", r"argument --gaps: Unknown gap kind\(s\) 'pairs' in --gaps 'pairs'. Valid: default, all, "
              r"id_ood, domain_rest, pairwise, best_worst, spread."),
    (",", r"argument --gaps: --gaps needs at least one gap kind."),
])
def test_an_unknown_gap_family_is_refused_before_anything_runs(run_dir: Path, value: str, message: str,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    stamp = (run_dir / "gaps.csv").stat().st_mtime_ns
    with pytest.raises(SystemExit) as stopped:
        main(["score", str(run_dir), "--gaps", value])
    assert stopped.value.code == 2 and re.search(message, capsys.readouterr().err)
    assert (run_dir / "gaps.csv").stat().st_mtime_ns == stamp


def test_pairwise_gaps_are_opt_in_and_get_their_own_holm_family(run_dir: Path) -> None:
    assert main(["score", str(run_dir), "--resamples", "200", "--permutations", "200", "-q"]) == 0
    default = pd.read_csv(run_dir / "gaps.csv")
    assert "pairwise" not in set(default["kind"])
    assert main(["score", str(run_dir), "--resamples", "200", "--permutations", "200", "--gaps", "default,pairwise",
                 "-q"]) == 0
    gaps = pd.read_csv(run_dir / "gaps.csv")
    pairs = gaps[gaps["kind"] == "pairwise"]
    domains = 4  # toy-reviews
    per_model_task_metric = pairs.groupby(["model", "task", "metric"]).size()
    assert (per_model_task_metric == domains * (domains - 1) // 2).all()
    assert set(pairs["family"]) == {"pairwise"} and (pairs["family_size"] <= 6).all()
    same = ["model", "task", "metric", "kind", "domain_a", "domain_b"]
    kept = gaps[gaps["kind"] != "pairwise"].merge(default, on=same, suffixes=("", "_default"))
    assert len(kept) == len(default)  # the other families are the same rows with the same adjusted p-values
    assert (kept["p_adjusted"].fillna(-1) == kept["p_adjusted_default"].fillna(-1)).all()
    assert main(["score", str(run_dir), "--resamples", "200", "--permutations", "200", "--gaps", "best_worst",
                 "-q"]) == 0
    assert set(pd.read_csv(run_dir / "gaps.csv")["kind"]) == {"best_worst"}
