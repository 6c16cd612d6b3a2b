"""Run → score → write: the whole job behind ``bench run``, as one library call."""

from __future__ import annotations

import shutil
from collections.abc import Callable
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bench.outputs import check_writable, run_metadata, write_run
from bench.report.leaderboard import leaderboard_rows, merge_leaderboard
from bench.runner import Progress, RunConfig, RunResult, run
from bench.scoring.tables import TaskInfo, gaps_table, metrics_table
from bench.scoring.transfer import transfer_matrix, transfer_summary, trials_table

__all__ = ["CompletedRun", "ScoredRun", "MoreTables", "evaluate", "extra_tables", "first_trial", "score_run"]


@dataclass
class ScoredRun:
    """Metrics and gaps computed from a run's records."""

    metrics: pd.DataFrame
    gaps: pd.DataFrame
    infos: dict[tuple[str, str], TaskInfo]


@dataclass
class CompletedRun:
    """A run written to disk: its folder, its tables and the updated leaderboard."""

    result: RunResult
    scored: ScoredRun
    run_dir: Path
    leaderboard: pd.DataFrame


def score_run(records: pd.DataFrame, infos: dict[tuple[str, str], TaskInfo]) -> ScoredRun:
    """Per-domain metrics and cross-domain gaps of ``records`` (trial 0 when there are several)."""
    records = first_trial(records)
    return ScoredRun(metrics_table(records, infos), gaps_table(records, infos), infos)


def first_trial(records: pd.DataFrame) -> pd.DataFrame:
    """The records of trial 0 (all records when there is no ``trial`` column)."""
    if "trial" not in records.columns:
        return records
    return records[records["trial"] == 0]


def _uses_protocol(result: RunResult, name: str) -> bool:
    return any((result.config.protocol or suite.protocol) == name for suite in result.suites)


def extra_tables(result: RunResult, scored: ScoredRun) -> dict[str, pd.DataFrame]:
    """``trials.csv`` (with ``--trials`` > 1) and ``transfer_matrix.csv`` + ``transfer_summary.csv``
    (under the ``transfer_matrix`` protocol)."""
    tables: dict[str, pd.DataFrame] = {}
    if result.config.trials > 1:
        gaps = scored.gaps[scored.gaps["domain_b"] == "OOD"].rename(columns={"domain_b": "domain", "gap": "value"})
        intervals = pd.concat([scored.metrics.assign(kind="metric"), gaps.assign(kind="id_ood_gap")])
        tables["trials.csv"] = trials_table(result.records, scored.infos, intervals)
    if _uses_protocol(result, "transfer_matrix"):
        trial0 = first_trial(result.records)
        tables["transfer_matrix.csv"] = transfer_matrix(trial0, scored.infos)
        tables["transfer_summary.csv"] = transfer_summary(trial0, scored.infos)
    return tables


MoreTables = Callable[[RunResult, ScoredRun], dict[str, pd.DataFrame]]
"""Computes further run-folder tables (file name → table) from a run and its scores."""


def evaluate(config: RunConfig, out: str | Path = "results", *, progress: Progress | None = None,
             save_models: bool = True, more_tables: MoreTables | None = None) -> CompletedRun:
    """Run ``config``, score it, write ``<out>/runs/<run_id>/`` and merge ``<out>/leaderboard.csv``.

    The output folder is checked for writing before any model runs. Nothing is
    written if the run fails. With ``save_models``, trial 0's trained baselines are
    saved under ``<run folder>/models/`` (see :mod:`bench.baselines.persist`);
    ``more_tables`` adds tables (e.g. ``mitigations.csv``) to the run folder.
    """
    from bench.baselines.persist import ModelSaver

    runs = check_writable(out)
    models = Path(tempfile.mkdtemp(prefix=".models-", dir=runs))
    try:
        saver = ModelSaver(models) if save_models else None
        result = run(config, progress=progress, on_fitted=saver)
        scored = score_run(result.records, result.task_infos)
        tables = {"metrics.csv": scored.metrics, "gaps.csv": scored.gaps, **extra_tables(result, scored)}
        tables |= more_tables(result, scored) if more_tables else {}
        meta = {**run_metadata(result), "saved_models": saver.saved if saver else []}
        run_dir = write_run(out, result, tables, meta, {"models": models} if saver and saver.saved else None)
    finally:
        shutil.rmtree(models, ignore_errors=True)
    rows = leaderboard_rows(scored.metrics, scored.gaps, scored.infos, result.run_id)
    board = merge_leaderboard(Path(out) / "leaderboard.csv", rows)
    return CompletedRun(result, scored, run_dir, board)
