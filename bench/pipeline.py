"""Run → score → write: the whole job behind ``bench run``, as one library call."""

from __future__ import annotations

import contextlib
import os
import shutil
import warnings
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import pandas as pd

from bench.errors import ConfigError, OutputError, RunInterrupted
from bench.killpoints import kill_point
from bench.outputs import (
    check_writable,
    read_run,
    replace_tables,
    run_metadata,
    task_infos_from_metadata,
    write_run,
)
from bench.report.identity import model_labels, run_settings, task_settings
from bench.report.leaderboard import forget_run, leaderboard_rows, merge_leaderboard
from bench.runner import Progress, RunConfig, RunResult, make_run_id, run
from bench.scoring.metrics import get_metric
from bench.scoring.options import SETTING_COLUMNS, StatisticsOptions
from bench.scoring.tables import TaskInfo, score_tables
from bench.scoring.transfer import transfer_matrix, transfer_summary, trials_table
from bench.store import DistributedSink, RunStore, StoreSink, resume_command
from bench.suites import load_suite

__all__ = ["CompletedRun", "MoreTables", "RepeatCheck", "ScoredRun", "compare_run", "config_from_dict",
           "describe_settings", "evaluate", "export_run", "extra_tables", "first_trial", "mitigation_tables", "repeat_run",
           "rescore_run", "rescore_run_folder", "score_records",
           "score_run"]


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
    cache_hits: int = 0
    cache_misses: int = 0


def score_records(records: pd.DataFrame, infos: Mapping[tuple[str, str], TaskInfo],
                  options: StatisticsOptions | None = None, *, progress: Progress | None = None) -> ScoredRun:
    """Per-domain metrics and cross-domain gaps of per-example ``records`` (of trial 0 when
    there are several; one bootstrap per metric serves both tables).

    ``infos`` holds the :class:`~bench.suites.TaskInfo` of each ``(suite, task)``
    (:attr:`RunResult.task_infos <bench.runner.RunResult>`); ``options`` sets every
    interval and test (default :class:`~bench.scoring.options.StatisticsOptions`);
    ``progress`` is told of each (model, suite, task, metric) group the statistics are
    computed for. To score a run folder on disk again, see :func:`rescore_run_folder`.
    """
    options = options or StatisticsOptions()
    tables = score_tables(first_trial(records), infos, progress=progress, options=options)
    return ScoredRun(tables.metrics, tables.gaps, dict(infos), options)


def score_run(records: pd.DataFrame, infos: Mapping[tuple[str, str], TaskInfo],
              options: StatisticsOptions | None = None, **settings: Any) -> ScoredRun:
    """Deprecated name of :func:`score_records` (``settings`` are :class:`StatisticsOptions` fields)."""
    warnings.warn("bench.score_run is deprecated; use bench.score_records(records, infos, options).",
                  DeprecationWarning, stacklevel=2)
    return score_records(records, infos, options or StatisticsOptions(**settings))


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


def mitigation_tables(options: StatisticsOptions | None = None) -> MoreTables:
    """A ``more_tables`` hook for :func:`evaluate` writing ``mitigations.csv``
    (:func:`bench.scoring.mitigations.compare_mitigations` of every mitigation present
    against its baseline)."""
    from bench.scoring.mitigations import compare_mitigations, mitigation_pairs

    def tables(result: RunResult, scored: ScoredRun) -> dict[str, pd.DataFrame]:
        models = list(dict.fromkeys(result.records["model"]))
        table = compare_mitigations(first_trial(result.records), scored.infos, scored.gaps,
                                    mitigation_pairs(models), options)
        return {"mitigations.csv": table}

    return tables


def config_from_dict(raw: Mapping[str, Any]) -> RunConfig:
    """The :class:`RunConfig` stored as JSON (``run.json``'s ``config``, the store's ``runs.config``).

    Raises
    ------
    ConfigError
        If ``raw`` has a field that :class:`RunConfig` does not know.
    """
    known = {f.name: f for f in fields(RunConfig)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ConfigError(f"Unknown run configuration field(s) {', '.join(unknown)}; known: {', '.join(known)}.")
    values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
    return RunConfig(**values)


def _work(runs: Path, run_id: str) -> Path:
    """A run's work folder, ``<out>/work/<run_id>``: its saved models and training
    checkpoints until the run completes."""
    return runs.parent / "work" / run_id


def delete_run(out: str | Path, run_id: str, *, force: bool = False) -> list[Path]:
    """Remove a run from the store ``<out>/store.sqlite`` (:meth:`RunStore.delete_run`), with
    what an interrupted export left of it: its hidden staging folders ``<out>/runs/.<run_id>-*``
    and its work folder ``<out>/work/<run_id>``, and an unfinished run's rows in the leaderboard
    history (:func:`~bench.report.leaderboard.forget_run`). A complete run's folder and rows are
    kept. Returns the folders removed.

    Raises
    ------
    ConfigError
        If the store has no such run, or (without ``force``) it shows as running.
    """
    store = RunStore(out)
    try:
        complete = store.run(run_id).state == "complete"
        store.delete_run(run_id, force=force)
    finally:
        store.close()
    if not complete:  # a kill during the leaderboard merge may have left its rows in the history
        forget_run(Path(out) / "leaderboard.csv", run_id)
    runs = Path(out) / "runs"
    leftovers = [p for p in [*runs.glob(f".{run_id}-*"), _work(runs, run_id)] if p.is_dir()]
    for folder in leftovers:
        shutil.rmtree(folder, ignore_errors=True)
    return leftovers


def _start(store: RunStore, config: RunConfig, runs: Path, resume: str | None, new: bool,
           force: bool = False) -> tuple[str, RunConfig]:
    """The run id and configuration of a new run, or of the unfinished run to resume
    (``force``: even one that shows as running, see :meth:`RunStore.claim`)."""
    if resume:
        info = store.claim(resume, force=force)
        models = _work(runs, resume) / "models"
        for leftover in [*runs.glob(f".{resume}-*"), runs / resume]:  # an export cut short; written again
            if (leftover / "models").is_dir() and not models.exists():
                models.parent.mkdir(parents=True, exist_ok=True)
                os.replace(leftover / "models", models)
            shutil.rmtree(leftover, ignore_errors=True)
        return resume, _with_secrets(config_from_dict(info.config), config, resume)
    # A run that failed before storing any batch has nothing to resume: it never blocks a rerun.
    unfinished = [] if new else [r for r in store.unfinished(_storable(config))
                                 if not (r.state == "failed" and r.batches == 0)]
    if unfinished:
        last = unfinished[0]
        raise ConfigError(
            f"Run {last.run_id} has the same configuration and is {last.state} ({last.batches} batches stored). "
            f"Resume it with '{resume_command(runs.parent, last.run_id)}', or start a new run by adding '--new' "
            "to this command.")
    return store.create_run(make_run_id(config), _storable(config), taken=lambda r: (runs / r).exists()), config


def _storable(config: RunConfig) -> dict[str, Any]:
    """``config`` as the store keeps it: model specs with their URL secrets redacted."""
    from bench.adapters.spec_options import redact_spec

    return asdict(config) | {"models": [redact_spec(m) for m in config.models]}


def _with_secrets(stored: RunConfig, given: RunConfig, run_id: str) -> RunConfig:
    """The stored configuration with each redacted model spec replaced by the one given again
    on the command line (the store never holds URL secrets).

    Raises
    ------
    ConfigError
        If a stored spec was redacted and no spec given now redacts to it.
    """
    from bench.adapters.spec_options import redact_spec

    if stored.models == tuple(redact_spec(m) for m in stored.models) and "***" not in "".join(stored.models):
        return stored
    by_redacted = {redact_spec(m): m for m in given.models}
    missing = [m for m in stored.models if "***" in m and m not in by_redacted]
    if missing:
        raise ConfigError(f"Run {run_id} names model(s) {', '.join(missing)} whose URL held a secret, which the store "
                          "does not keep; resume with the same --model spec(s) as the first run.")
    return replace(stored, models=tuple(by_redacted.get(m, m) for m in stored.models))


def _check_primary_metrics(config: RunConfig) -> None:
    """Raise :class:`~bench.errors.UnknownNameError` (with the kind's metrics) for a task whose
    ``primary_metric`` names no metric of its kind, before any model runs."""
    for ref in config.suites:
        for task in load_suite(ref).tasks:
            if task.primary_metric:
                get_metric(task.kind, task.primary_metric)


def evaluate(config: RunConfig, out: str | Path = "results", *, progress: Progress | None = None,
             save_models: bool = True, more_tables: MoreTables | None = None, resume: str | None = None,
             new: bool = False, cache: bool = True,
             statistics: StatisticsOptions | None = None, force: bool = False) -> CompletedRun | None:
    """Run ``config``, score it, write ``<out>/runs/<run_id>/`` and merge ``<out>/leaderboard.csv``.

    Every scored batch is committed to the run store ``<out>/store.sqlite`` first
    (:mod:`bench.store`), so that a run killed at any point can be finished with
    ``resume=<run_id>`` (the stored configuration is used, ``config`` is ignored): only the
    missing batches are scored, trained baselines are reloaded from
    ``<out>/work/<run_id>/models/``, and a fine-tuning cut short resumes from its last
    checkpoint in ``<out>/work/<run_id>/checkpoints/``. With ``cache``, adapter outputs are looked up
    in, and added to, the store's output cache.

    The output folder is checked for writing before any model runs. A run folder appears
    only once everything (tables, leaderboard rows) has been computed; a failed run is
    marked ``failed`` in the store and leaves no folder. With ``save_models``, trial 0's
    trained baselines are saved under ``<run folder>/models/`` (see
    :mod:`bench.baselines.persist`); ``more_tables`` adds tables (e.g. ``mitigations.csv``);
    ``statistics`` sets every interval and test (recorded in ``run.json`` under
    ``statistics`` and on every row of ``metrics.csv`` and ``gaps.csv``). ``force`` with
    ``resume`` takes over a run that shows as running (see :meth:`RunStore.claim`).

    Under ``torchrun`` (``WORLD_SIZE`` > 1) every rank calls this: the missing batches are
    sharded over the ranks (:class:`bench.store.DistributedSink`), rank 0 owns the store
    and writes the same files as one process, and the other ranks return ``None``.

    Raises
    ------
    ConfigError
        If a run of the same configuration is unfinished (and neither ``resume`` nor
        ``new`` is given), or ``resume`` names no unfinished run.
    """
    from bench.baselines.persist import ModelSaver

    ranks = _Ranks.from_env()
    lead = ranks is None or ranks.rank == 0
    opened: list[RunStore] = []

    def setup() -> tuple[str, dict[str, Any], list[str]]:
        if resume is None:
            _check_primary_metrics(config)
        runs = check_writable(out)
        opened.append(RunStore(out))
        run_id, chosen = _start(opened[0], config, runs, resume, new, force)
        return run_id, asdict(chosen), sorted(opened[0].done_units(run_id))

    try:
        run_id, raw, done_units = ranks.share(setup) if ranks else setup()
        work = _work(Path(out) / "runs", run_id)
        try:
            inner = StoreSink(opened[0], run_id, cache=cache, models=work / "models",
                              checkpoints=work / "checkpoints") if lead else None
            sink = DistributedSink(inner, set(done_units), ranks.rank, ranks.world, cache=cache) if ranks else inner
            saver = ModelSaver(work / "models") if save_models and lead else None
            result = run(config_from_dict(raw), progress=progress, run_id=run_id, on_fitted=saver, sink=sink)
            if not lead:
                return None
            result.fingerprints = {**opened[0].run(run_id).facts.get("fingerprints", {}), **result.fingerprints}
            done = _publish(out, result, work / "models" if save_models else None, more_tables,
                            statistics=statistics or StatisticsOptions(), progress=progress)
        except KeyboardInterrupt as exc:
            if lead and not isinstance(exc, RunInterrupted):
                opened[0].set_state(run_id, "interrupted")
                raise RunInterrupted(run_id, resume_command(out, run_id)) from exc
            raise
        except Exception as exc:
            if lead:
                opened[0].set_state(run_id, "failed", error=f"{type(exc).__name__}: {exc}")
                _remove_work(work)
            raise
        opened[0].set_state(run_id, "complete")
        _remove_work(work)
        done.cache_hits, done.cache_misses = sink.cache_counts()  # type: ignore[union-attr]
        return done
    finally:
        for store in opened:
            store.close()


@dataclass(frozen=True)
class _Ranks:
    """This process's place in a ``torchrun`` job."""

    rank: int
    world: int

    @classmethod
    def from_env(cls) -> _Ranks | None:
        """The job's ranks when ``WORLD_SIZE`` > 1 (``torch.distributed`` is initialised, gloo on
        CPU, nccl on GPUs); ``None`` for a single process."""
        if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
            return None
        import torch
        import torch.distributed as dist

        if not dist.is_initialized():
            backend = "nccl" if torch.cuda.is_available() else "gloo"
            if backend == "nccl":
                torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
            dist.init_process_group(backend)
        return cls(dist.get_rank(), dist.get_world_size())

    def share(self, fn: Callable[[], Any]) -> Any:
        """``fn()`` computed on rank 0 and sent to every rank (an error is raised on every rank)."""
        import torch.distributed as dist

        box: list[Any] = [None]
        if self.rank == 0:
            try:
                box[0] = (fn(), None)
            except Exception as exc:
                box[0] = (None, exc)
        dist.broadcast_object_list(box, src=0)
        value, error = box[0]
        if error is not None:
            raise error
        return value


def _remove_work(work: Path) -> None:
    shutil.rmtree(work, ignore_errors=True)
    with contextlib.suppress(OSError):
        work.parent.rmdir()  # only if no other run has a work folder


def export_run(out: str | Path, run_id: str) -> CompletedRun:
    """Write the folder ``<out>/runs/<run_id>`` of a complete run again, from the store alone
    (no model is built or trained; the leaderboard is left as it is; saved models are not
    in the store, so the folder has none).

    Raises
    ------
    ConfigError
        If the store has no such run or it is not complete.
    OutputError
        If the run folder exists.
    """
    runs = check_writable(out)
    store = RunStore(out)
    try:
        info = store.run(run_id)
        if info.state != "complete":
            raise ConfigError(f"Run {run_id} is {info.state}, not complete; finish it with "
                              f"'{resume_command(out, run_id)}'.")
        if (runs / run_id).exists():
            raise OutputError(f"Run folder {runs / run_id} exists already; remove it to write it again.")
        sink = StoreSink(store, run_id, cache=False)
        result = run(config_from_dict(info.config), run_id=run_id, sink=sink)
        result.fingerprints = {**info.facts.get("fingerprints", {}), **result.fingerprints}
        return _publish(out, result, None, None, update_leaderboard=False)
    finally:
        store.close()


def _publish(out: str | Path, result: RunResult, models: Path | None, more_tables: MoreTables | None,
             *, update_leaderboard: bool = True, statistics: StatisticsOptions | None = None,
             progress: Progress | None = None) -> CompletedRun:
    """Score the records, compute the leaderboard rows, write the run folder, merge the leaderboard."""
    statistics = statistics or StatisticsOptions()
    scored = score_records(result.records, result.task_infos, statistics, progress=progress)
    tables = {"metrics.csv": scored.metrics, "gaps.csv": scored.gaps, **extra_tables(result, scored)}
    tables |= more_tables(result, scored) if more_tables else {}
    saved = sorted(p.name for p in models.iterdir() if p.is_dir() and not p.name.startswith(".")) \
        if models and models.is_dir() else []
    meta = {**run_metadata(result), "saved_models": saved, "statistics": statistics.record()}
    rows = leaderboard_rows(scored.metrics, scored.gaps, scored.infos, result.run_id, settings=run_settings(meta))
    board: list[pd.DataFrame] = []

    def merge() -> None:
        kill_point("export")
        board.append(merge_leaderboard(Path(out) / "leaderboard.csv", rows) if update_leaderboard else rows)

    run_dir = write_run(out, result, tables, meta, {"models": models} if models and saved else None,
                        before_publish=merge)
    return CompletedRun(result, scored, run_dir, board[0])


@dataclass
class RepeatCheck:
    """A repeated run and how its metrics compare with the original's."""

    original: Path
    repeated: CompletedRun
    differences: pd.DataFrame

    @property
    def identical(self) -> bool:
        """Whether every metric (value, interval, n) matches exactly."""
        return self.differences.empty


def repeat_run(run_dir: str | Path, out: str | Path | None = None, *, progress: Progress | None = None,
               save_models: bool = False) -> RepeatCheck:
    """Run again the configuration in ``run_dir/run.json`` (no output cache), into ``out``
    (default: the results folder that holds ``run_dir``, i.e. ``run_dir/../..`` when
    ``run_dir`` lies in a ``runs/`` folder; elsewhere ``out`` is required), with the statistics options it
    recorded (``run.json``'s ``statistics``), and compare ``metrics.csv``.

    ``differences`` has one row per metric row whose value, interval or ``n`` differs
    (compared exactly, NaN equal to NaN), with the original's and the repeat's values.

    Raises
    ------
    DataError
        If ``run_dir`` is not a complete run folder.
    """
    run_dir = Path(run_dir)
    meta, _ = read_run(run_dir)
    if out is None and run_dir.resolve().parent.name != "runs":
        raise ConfigError(f"{run_dir} is not inside a results folder's runs/; name the results folder the repeat "
                          "goes to with --out DIR (nothing is written outside it).")
    out = Path(out) if out is not None else run_dir.resolve().parent.parent
    stored = meta.get("statistics")  # the original's intervals and tests, so that they can match
    statistics = StatisticsOptions(**{**stored, "kinds": tuple(stored["kinds"])}) if stored else None
    repeated = evaluate(config_from_dict(meta["config"]), out, progress=progress, save_models=save_models,
                        new=True, cache=False, statistics=statistics)
    if repeated is None:
        raise ConfigError("bench run --repeat runs in one process; start it without torchrun.")
    before = pd.read_csv(run_dir / "metrics.csv")
    after = pd.read_csv(repeated.run_dir / "metrics.csv")
    return RepeatCheck(run_dir, repeated, _metric_differences(before, after))


def _metric_differences(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    keys = ["model", "suite", "task", "domain", "metric"]
    both = before.merge(after, on=keys, how="outer", suffixes=("_original", "_repeat"), indicator=True)
    differs = both["_merge"] != "both"
    for column in ("value", "ci_low", "ci_high", "n"):
        a, b = both[f"{column}_original"], both[f"{column}_repeat"]
        differs |= ~((a == b) | (a.isna() & b.isna()))
    return both[differs].drop(columns="_merge").reset_index(drop=True)


def rescore_run_folder(run_dir: str | Path, *, progress: Progress | None = None,
                       options: StatisticsOptions | None = None) -> ScoredRun:
    """Recompute ``metrics.csv``, ``gaps.csv`` (and the across-model tables) of a run
    folder from ``records.csv.gz`` and ``run.json`` (no model runs); write them in place.

    ``options`` (default :class:`~bench.scoring.options.StatisticsOptions`) are validated
    before anything is read. Every row of the new tables records its settings;
    where the old tables were scored with others, :attr:`ScoredRun.replaced` says which.

    Raises
    ------
    StatisticsError
        For an invalid option.
    DataError
        If the folder lacks ``run.json`` or ``records.csv.gz``.
    """
    options = options or StatisticsOptions()
    meta, records = read_run(run_dir)
    infos = task_infos_from_metadata(meta)
    previous = _previous_settings(Path(run_dir), meta)
    tables = score_tables(first_trial(records), infos, progress=progress, options=options)
    replace_tables(run_dir, {"metrics.csv": tables.metrics, "gaps.csv": tables.gaps,
                             **across_model_tables(records, tables.metrics, infos)})
    now = describe_settings(options.columns())
    replaced = "" if previous == now else f"replaced metrics.csv and gaps.csv scored with {previous} by {now}"
    return ScoredRun(tables.metrics, tables.gaps, infos, options, replaced)


def rescore_run(run_dir: str | Path, *, progress: Progress | None = None,
                options: StatisticsOptions | None = None, **settings: Any) -> ScoredRun:
    """Deprecated name of :func:`rescore_run_folder` (``settings`` are :class:`StatisticsOptions` fields)."""
    warnings.warn("bench.pipeline.rescore_run is deprecated; use rescore_run_folder(run_dir, options=...).",
                  DeprecationWarning, stacklevel=2)
    return rescore_run_folder(run_dir, progress=progress, options=options or StatisticsOptions(**settings))


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
                output: str | Path | None = None,
                statistics: StatisticsOptions | None = None) -> tuple[pd.DataFrame, Path]:
    """Paired comparison of two models of a run (or of two runs on the same examples);
    writes ``compare-<A>-vs-<B>.csv`` into ``run_dir`` (or ``output``).

    ``statistics``: the settings of the intervals and tests, as for
    :func:`bench.scoring.compare.compare_models`.
    """
    from bench.scoring.compare import compare_models

    meta, records = read_run(run_dir)
    infos = task_infos_from_metadata(meta)
    records_b = None
    meta_b = meta
    if run_dir_b is not None:
        meta_b, records_b = read_run(run_dir_b)
        infos = task_infos_from_metadata(meta_b) | infos
    records_b = None if records_b is None else first_trial(records_b)
    table = compare_models(first_trial(records), infos, model_a, model_b, records_b=records_b, options=statistics)
    table = _label_compared(table, (meta, model_a), (meta_b, model_b))
    names = (table["model_a"].iloc[0], table["model_b"].iloc[0]) if len(table) else (model_a, model_b)
    target = Path(output) if output else Path(run_dir) / f"compare-{_safe(names[0])}-vs-{_safe(names[1])}.csv"
    replace_tables(target.parent, {target.name: table})
    return table, target


def _label_compared(table: pd.DataFrame, a: tuple[dict[str, Any], str], b: tuple[dict[str, Any], str]
                    ) -> pd.DataFrame:
    """``table`` with ``model_a``/``model_b`` labelled by their prompt settings per task
    (:func:`bench.report.identity.model_labels`) where the two runs score one model under
    different settings: ``smollm2-135m (0-shot)`` against ``smollm2-135m (5-shot)``."""
    if table.empty:
        return table
    table = table.copy()
    for (suite, task), part in table.groupby(["suite", "task"], sort=False):
        settings = [task_settings(meta, str(suite), str(task)) | {"run_id": str(meta.get("run_id", ""))}
                    for meta, _ in (a, b)]
        label_a, label_b = model_labels([a[1], b[1]], settings, tiebreak="run_id")
        if label_a != label_b:
            table.loc[part.index, "model_a"], table.loc[part.index, "model_b"] = label_a, label_b
    return table


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
