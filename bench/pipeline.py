"""Run → score → write: the whole job behind ``bench run``, as one library call."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from bench.outputs import check_writable, read_run, replace_tables, run_metadata, task_infos_from_metadata, write_run
from bench.report.leaderboard import leaderboard_rows, merge_leaderboard
from bench.runner import Progress, RunConfig, RunResult, run
from bench.scoring.tables import TaskInfo, score_tables

__all__ = ["CompletedRun", "ScoredRun", "compare_run", "evaluate", "rescore_run", "score_run"]


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


def score_run(records: pd.DataFrame, infos: dict[tuple[str, str], TaskInfo], **options: Any) -> ScoredRun:
    """Per-domain metrics and cross-domain gaps of ``records`` (one bootstrap per metric
    serves both tables). ``options``: ``resamples, level, seed, method, permutations``
    as for :func:`bench.scoring.tables.score_tables`."""
    tables = score_tables(records, infos, **options)
    return ScoredRun(tables.metrics, tables.gaps, infos)


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


def rescore_run(run_dir: str | Path, *, progress: Progress | None = None, **options: Any) -> ScoredRun:
    """Recompute ``metrics.csv`` and ``gaps.csv`` of a run folder from ``records.csv.gz``
    and ``run.json`` (no model runs) and write them in place.

    ``options``: ``resamples, level, seed, method, permutations`` as for
    :func:`bench.scoring.tables.score_tables`. They are validated before anything is read.

    Raises
    ------
    StatisticsError
        For an invalid option.
    DataError
        If the folder lacks ``run.json`` or ``records.csv.gz``.
    """
    from bench.scoring.tables import ScoreOptions

    ScoreOptions(**options)
    meta, records = read_run(run_dir)
    infos = task_infos_from_metadata(meta)
    tables = score_tables(records, infos, progress=progress, **options)
    replace_tables(run_dir, {"metrics.csv": tables.metrics, "gaps.csv": tables.gaps})
    return ScoredRun(tables.metrics, tables.gaps, infos)


def compare_run(run_dir: str | Path, model_a: str, model_b: str, *, run_dir_b: str | Path | None = None,
                output: str | Path | None = None, **options: Any) -> tuple[pd.DataFrame, Path]:
    """Paired comparison of two models of a run (or of two runs on the same examples);
    writes ``compare-<A>-vs-<B>.csv`` into ``run_dir`` (or ``output``).

    ``options``: ``resamples, level, seed, method, permutations`` as for
    :func:`bench.scoring.compare.compare_models`.
    """
    from bench.scoring.compare import compare_models

    meta, records = read_run(run_dir)
    infos = task_infos_from_metadata(meta)
    records_b = None
    if run_dir_b is not None:
        meta_b, records_b = read_run(run_dir_b)
        infos = task_infos_from_metadata(meta_b) | infos
    table = compare_models(records, infos, model_a, model_b, records_b=records_b, **options)
    target = Path(output) if output else Path(run_dir) / f"compare-{_safe(model_a)}-vs-{_safe(model_b)}.csv"
    replace_tables(target.parent, {target.name: table})
    return table, target


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
