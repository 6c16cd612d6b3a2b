"""Run → score → write: the whole job behind ``bench run``, as one library call."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bench.outputs import check_writable, run_metadata, write_run
from bench.report.leaderboard import leaderboard_rows, merge_leaderboard
from bench.runner import Progress, RunConfig, RunResult, run
from bench.scoring.tables import TaskInfo, gaps_table, metrics_table

__all__ = ["CompletedRun", "ScoredRun", "evaluate", "score_run"]


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
    """Per-domain metrics and cross-domain gaps of ``records``."""
    return ScoredRun(metrics_table(records, infos), gaps_table(records, infos), infos)


def evaluate(config: RunConfig, out: str | Path = "results", *, progress: Progress | None = None) -> CompletedRun:
    """Run ``config``, score it, write ``<out>/runs/<run_id>/`` and merge ``<out>/leaderboard.csv``.

    The output folder is checked for writing before any model runs. Nothing is
    written if the run fails.
    """
    check_writable(out)
    result = run(config, progress=progress)
    scored = score_run(result.records, result.task_infos)
    tables = {"metrics.csv": scored.metrics, "gaps.csv": scored.gaps}
    run_dir = write_run(out, result, tables, run_metadata(result))
    rows = leaderboard_rows(scored.metrics, scored.gaps, scored.infos, result.run_id)
    board = merge_leaderboard(Path(out) / "leaderboard.csv", rows)
    return CompletedRun(result, scored, run_dir, board)
