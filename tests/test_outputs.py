from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from bench.errors import AdapterError, OutputError
from bench.outputs import RECORD_COLUMNS, read_run, task_infos_from_metadata
from bench.pipeline import evaluate, score_records
from bench.report.leaderboard import merge_leaderboard
from bench.runner import RunConfig
from bench.scoring.options import StatisticsOptions
from bench.scoring.tables import GAP_COLUMNS, METRIC_COLUMNS


def broken_after_first_batch():
    import numpy as np

    from bench.adapters import CallableAdapter

    calls = []

    def fn(texts, choices):
        calls.append(1)
        if len(calls) > 1:
            return np.full((len(texts), len(choices)), np.nan)
        return np.full((len(texts), len(choices)), -np.log(len(choices)))

    return CallableAdapter("broken", log_probs=fn)


def test_run_folder_follows_the_contract(tiny_suite: Path, tmp_path: Path) -> None:
    done = evaluate(RunConfig(suites=(str(tiny_suite),), models=("majority", "source-only")), tmp_path / "out")
    assert sorted(p.name for p in done.run_dir.iterdir()) == ["domain_agreement.csv", "gaps.csv", "metrics.csv",
                                                               "models", "records.csv.gz", "run.json"]
    meta, records = read_run(done.run_dir)
    assert set(RECORD_COLUMNS) <= set(records.columns)
    assert {"prob_negative", "prob_positive"} <= set(records.columns)
    columns = list(pd.read_csv(done.run_dir / "metrics.csv").columns)
    assert columns[:len(METRIC_COLUMNS)] == METRIC_COLUMNS
    assert {"ci_method", "fold", "train_domains", "level", "stat_method", "resamples", "stat_seed"} <= set(columns)
    assert meta["statistics"] == StatisticsOptions().record()
    assert set(GAP_COLUMNS) <= set(pd.read_csv(done.run_dir / "gaps.csv").columns)
    assert meta["run_id"] == done.run_dir.name and meta["config"]["models"] == ["majority", "source-only"]
    assert meta["suites"][0]["content_hash"] and meta["versions"]["torch"]
    assert any(k.startswith("source-only/") for k in meta["fingerprints"])
    # Everything in metrics.csv can be recomputed from the records and run.json alone.
    again = score_records(records, task_infos_from_metadata(meta))
    pd.testing.assert_frame_equal(again.metrics, pd.read_csv(done.run_dir / "metrics.csv"), check_dtype=False)


def test_failed_run_leaves_no_output_that_looks_complete(tiny_suite: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(AdapterError, match="model 'broken'.*non-finite"):
        evaluate(RunConfig(suites=(str(tiny_suite),), models=("tests.test_outputs:broken_after_first_batch",),
                           batch_size=8), out)
    assert list((out / "runs").iterdir()) == []
    assert not (out / "leaderboard.csv").exists()


def test_unwritable_output_folder_is_reported_before_running(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match=f"Cannot write to output folder {blocker}/out"):
        evaluate(RunConfig(models=("no-such-model",)), blocker / "out")


def test_leaderboard_merge_replaces_same_model_suite_task(tmp_path: Path) -> None:
    path = tmp_path / "leaderboard.csv"
    first = pd.DataFrame({"model": ["a", "b"], "suite": "s", "task": "t", "mean_accuracy": [0.1, 0.2], "run_id": "r1"})
    merge_leaderboard(path, first)
    second = pd.DataFrame({"model": ["b", "c"], "suite": "s", "task": "t", "mean_accuracy": [0.9, 0.3], "run_id": "r2"})
    merged = merge_leaderboard(path, second)
    on_disk = pd.read_csv(path)
    assert list(on_disk["model"]) == ["a", "b", "c"]
    assert list(on_disk["mean_accuracy"]) == [0.1, 0.9, 0.3] and list(on_disk["run_id"]) == ["r1", "r2", "r2"]
    assert list(merged.columns) == ["model", "suite", "task", "mean_accuracy", "run_id"]
    assert not list(tmp_path.glob(".leaderboard-*"))


def test_run_json_is_valid_json(tiny_suite: Path, tmp_path: Path) -> None:
    done = evaluate(RunConfig(suites=(str(tiny_suite),), models=("uniform",)), tmp_path)
    meta = json.loads((done.run_dir / "run.json").read_text())
    assert meta["tasks"]["tiny-reviews/sentiment"]["choices"] == ["negative", "positive"]


def test_run_with_three_models_writes_effective_robustness_and_domain_agreement(tiny_suite: Path,
                                                                                  tmp_path: Path) -> None:
    from bench.scoring.robustness import domain_agreement_table, effective_robustness_table

    done = evaluate(RunConfig(suites=(str(tiny_suite),), models=("majority", "uniform", "source-only")),
                    tmp_path, save_models=False)
    robustness = pd.read_csv(done.run_dir / "robustness.csv")
    assert sorted(robustness["model"]) == ["majority", "source-only", "uniform"]
    expected = effective_robustness_table(done.result.records, done.scored.infos)
    pd.testing.assert_frame_equal(robustness, expected, check_dtype=False)
    agreement = pd.read_csv(done.run_dir / "domain_agreement.csv")
    assert len(agreement) == 3 and set(agreement["suite"]) == {"tiny-reviews"}
    expected = domain_agreement_table(done.scored.metrics, done.scored.infos)
    pd.testing.assert_frame_equal(agreement, expected, check_dtype=False, check_exact=False)
