"""Run → score → write: the whole job behind ``bench run``, as one library call."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from bench.outputs import (
    check_writable,
    read_run,
    replace_tables,
    run_metadata,
    task_infos_from_metadata,
    write_run,
)
from bench.report.leaderboard import leaderboard_rows, merge_leaderboard
from bench.runner import Progress, RunConfig, RunResult, run
from bench.scoring.options import SETTING_COLUMNS, StatisticsOptions
from bench.scoring.tables import TaskInfo, score_tables
from bench.scoring.transfer import transfer_matrix, transfer_summary, trials_table

__all__ = ["CompletedRun", "MoreTables", "ScoredRun", "compare_run", "describe_settings", "evaluate", "extra_tables",
           "first_trial", "rescore_run", "score_run"]


@dataclass
class ScoredRun:
    """Metrics and gaps computed from a run's records."""

    metrics: pd.DataFrame
    gaps: pd.DataFrame
    infos: dict[tuple[str, str], TaskInfo]
    options: StatisticsOptions = StatisticsOptions()
    replaced: str = ""
    """What a rescoring replaced, when the old tables were scored with other settings."""


@dataclass
class CompletedRun:
    """A run written to disk: its folder, its tables and the updated leaderboard."""

    result: RunResult
    scored: ScoredRun
    run_dir: Path
    leaderboard: pd.DataFrame


def score_run(records: pd.DataFrame, infos: dict[tuple[str, str], TaskInfo],
              options: StatisticsOptions | None = None, **settings: Any) -> ScoredRun:
    """Per-domain metrics and cross-domain gaps of ``records`` (of trial 0 when there are
    several; one bootstrap per metric serves both tables). ``options`` (or ``settings``:
    ``resamples, level, seed, method, permutations``): see
    :class:`~bench.scoring.options.StatisticsOptions`."""
    options = options or StatisticsOptions(**settings)
    tables = score_tables(first_trial(records), infos, options=options)
    return ScoredRun(tables.metrics, tables.gaps, infos, options)


def first_trial(records: pd.DataFrame) -> pd.DataFrame:
    """The records of trial 0 (all records when there is no ``trial`` column)."""
    if "trial" not in records.columns:
        return records
    return records[records["trial"] == 0]


def _uses_protocol(result: RunResult, name: str) -> bool:
    return any((result.config.protocol or suite.protocol) == name for suite in result.suites)


def across_model_tables(records: pd.DataFrame, metrics: pd.DataFrame,
                        infos: dict[tuple[str, str], TaskInfo]) -> dict[str, pd.DataFrame]:
    """``robustness.csv`` (effective robustness, where a task has ≥ 3 models) and
    ``domain_agreement.csv`` (Kendall's W across tasks, where a suite has ≥ 2 tasks);
    tables with no rows are left out. Uses trial 0 only."""
    from bench.scoring.robustness import domain_agreement_table, effective_robustness_table

    tables = {"robustness.csv": effective_robustness_table(first_trial(records), infos),
              "domain_agreement.csv": domain_agreement_table(metrics, infos)}
    return {name: table for name, table in tables.items() if len(table)}


def extra_tables(result: RunResult, scored: ScoredRun) -> dict[str, pd.DataFrame]:
    """``trials.csv`` (with ``--trials`` > 1), ``transfer_matrix.csv`` + ``transfer_summary.csv``
    (under the ``transfer_matrix`` protocol) and the across-model tables."""
    tables = across_model_tables(result.records, scored.metrics, scored.infos)
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
             save_models: bool = True, more_tables: MoreTables | None = None,
             statistics: StatisticsOptions | None = None) -> CompletedRun:
    """Run ``config``, score it, write ``<out>/runs/<run_id>/`` and merge ``<out>/leaderboard.csv``.

    The output folder is checked for writing before any model runs. Nothing is
    written if the run fails. With ``save_models``, trial 0's trained baselines are
    saved under ``<run folder>/models/`` (see :mod:`bench.baselines.persist`);
    ``more_tables`` adds tables (e.g. ``mitigations.csv``) to the run folder;
    ``statistics`` sets every interval and test (recorded in ``run.json`` under
    ``statistics`` and on every row of ``metrics.csv`` and ``gaps.csv``).
    """
    from bench.baselines.persist import ModelSaver

    runs = check_writable(out)
    models = Path(tempfile.mkdtemp(prefix=".models-", dir=runs))
    try:
        saver = ModelSaver(models) if save_models else None
        result = run(config, progress=progress, on_fitted=saver)
        statistics = statistics or StatisticsOptions()
        scored = score_run(result.records, result.task_infos, statistics)
        tables = {"metrics.csv": scored.metrics, "gaps.csv": scored.gaps, **extra_tables(result, scored)}
        tables |= more_tables(result, scored) if more_tables else {}
        meta = {**run_metadata(result), "saved_models": saver.saved if saver else [],
                "statistics": statistics.record()}
        run_dir = write_run(out, result, tables, meta, {"models": models} if saver and saver.saved else None)
    finally:
        shutil.rmtree(models, ignore_errors=True)
    rows = leaderboard_rows(scored.metrics, scored.gaps, scored.infos, result.run_id)
    board = merge_leaderboard(Path(out) / "leaderboard.csv", rows)
    return CompletedRun(result, scored, run_dir, board)


def rescore_run(run_dir: str | Path, *, progress: Progress | None = None,
                options: StatisticsOptions | None = None, **settings: Any) -> ScoredRun:
    """Recompute ``metrics.csv``, ``gaps.csv`` (and the across-model tables) of a run
    folder from ``records.csv.gz`` and ``run.json`` (no model runs); write them in place.

    ``options`` (or ``settings``: ``resamples, level, seed, method, permutations``) are
    validated before anything is read. Every row of the new tables records its settings;
    where the old tables were scored with others, :attr:`ScoredRun.replaced` says which.

    Raises
    ------
    StatisticsError
        For an invalid option.
    DataError
        If the folder lacks ``run.json`` or ``records.csv.gz``.
    """
    options = options or StatisticsOptions(**settings)
    meta, records = read_run(run_dir)
    infos = task_infos_from_metadata(meta)
    previous = _previous_settings(Path(run_dir), meta)
    tables = score_tables(first_trial(records), infos, progress=progress, options=options)
    replace_tables(run_dir, {"metrics.csv": tables.metrics, "gaps.csv": tables.gaps,
                             **across_model_tables(records, tables.metrics, infos)})
    now = describe_settings(options.columns())
    replaced = "" if previous == now else f"replaced metrics.csv and gaps.csv scored with {previous} by {now}"
    return ScoredRun(tables.metrics, tables.gaps, infos, options, replaced)


def describe_settings(settings: dict[str, Any]) -> str:
    """``level=0.95, stat_method=auto, resamples=10000, permutations=2000, stat_seed=0``."""
    return ", ".join(f"{k}={settings.get(k, '?')}" for k in SETTING_COLUMNS)


def _previous_settings(run_dir: Path, meta: dict[str, Any]) -> str:
    """The settings the run folder's current ``gaps.csv`` was scored with."""
    path = run_dir / "gaps.csv"
    try:
        head = pd.read_csv(path, nrows=1) if path.exists() else pd.DataFrame()
    except (OSError, ValueError, pd.errors.EmptyDataError):
        head = pd.DataFrame()
    if len(head) and set(SETTING_COLUMNS) <= set(head.columns):
        return describe_settings({k: head.iloc[0][k] for k in SETTING_COLUMNS})
    if "statistics" in meta:
        stats = meta["statistics"]
        return describe_settings({**stats, "stat_method": stats.get("method"), "stat_seed": stats.get("seed")})
    return "unrecorded settings"


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
    records_b = None if records_b is None else first_trial(records_b)
    table = compare_models(first_trial(records), infos, model_a, model_b, records_b=records_b, **options)
    target = Path(output) if output else Path(run_dir) / f"compare-{_safe(model_a)}-vs-{_safe(model_b)}.csv"
    replace_tables(target.parent, {target.name: table})
    return table, target


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
