"""Write an imported log as a run: store, score, run folder, leaderboard.

An importer (:data:`IMPORTERS`) reads another harness's per-sample output into an
:class:`~bench.importers.common.Imported`; :func:`import_run` registers it in the run store
of ``out`` as a complete run, scores its records as ``bench run`` scores its own (metrics,
gaps, across-model tables), merges its leaderboard rows and writes an ordinary run folder
``<out>/runs/<run_id>/`` whose ``run.json`` says where it came from (``imported``: harness,
version, every file read with its SHA-256, the models and their arguments as the logs state
them). ``bench score``, ``bench compare``, ``bench leaderboard`` and ``bench report`` read it
unchanged. Any error leaves no run folder and no stored run.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from bench.errors import UnknownNameError
from bench.importers.common import Imported
from bench.outputs import RECORD_COLUMNS, check_writable, run_metadata, write_run
from bench.pipeline import ScoredRun, across_model_tables, score_records
from bench.report.identity import run_settings
from bench.report.leaderboard import leaderboard_rows, merge_leaderboard
from bench.runner import RunConfig, RunResult
from bench.scoring.options import StatisticsOptions
from bench.store import RunStore

__all__ = ["ImportedRun", "import_run", "read_log"]


@dataclass
class ImportedRun:
    """An imported run written to disk."""

    imported: Imported
    scored: ScoredRun
    run_dir: Path
    leaderboard: pd.DataFrame


def read_log(source: str, path: str | Path, domain_field: str | None = None) -> Imported:
    """Read ``path`` with the importer of ``source`` (no run is written).

    Raises
    ------
    UnknownNameError
        For a source with no importer (naming those there are).
    DataError
        For bad input, naming the file and line.
    """
    from importlib import import_module

    from bench.importers.sources import IMPORTERS

    if source.lower() not in IMPORTERS:
        raise UnknownNameError(f"Unknown source {source!r} to import; sources: {', '.join(IMPORTERS)}.")
    module, _, name = IMPORTERS[source.lower()].partition(":")
    reader: Callable[[Path, str | None], Imported] = getattr(import_module(module), name)
    return reader(Path(path), domain_field)


def import_run(source: str, path: str | Path, out: str | Path = "results", *, domain_field: str | None = None,
               statistics: StatisticsOptions | None = None) -> ImportedRun:
    """Import another harness's per-sample output as a complete xdbench run of ``out``.

    Parameters
    ----------
    source
        ``"lm-eval"``, ``"inspect"`` or ``"helm"`` (:data:`IMPORTERS`).
    path
        What the harness wrote: lm-eval's ``--output_path`` folder, an Inspect log file or
        folder, a HELM run folder.
    out
        The results folder: ``<out>/store.sqlite``, ``<out>/runs/<run_id>/``, ``<out>/leaderboard.csv``.
    domain_field
        Take each example's domain from this field of the harness's document or metadata
        instead of the source's default (lm-eval: the task; Inspect: the task; HELM: the scenario).
    statistics
        The intervals' and tests' settings (default :class:`StatisticsOptions`).

    Raises
    ------
    DataError
        For bad input, naming the file and line; nothing is written then.
    """
    statistics = statistics or StatisticsOptions()
    imported = read_log(source, path, domain_field)
    runs = check_writable(out)
    config = RunConfig(suites=tuple(dict.fromkeys(s for s, _ in imported.tasks)), models=tuple(imported.models),
                       protocol="zero_shot", num_fewshot=_shots(imported),
                       apply_chat_template=any(m.get("chat_template") for m in imported.models.values()))
    provenance = _provenance(imported, source, path, domain_field)
    store = RunStore(out)
    try:
        run_id = store.create_run(_run_id(imported), asdict(config) | {"imported": provenance},
                                  taken=lambda r: (runs / r).exists())
        try:
            records = _with_run_id(imported.records, run_id)
            store.commit_batches(run_id, [(json.dumps([m, s, t, d]), part.reset_index(drop=True))
                                          for (m, s, t, d), part in records.groupby(
                                              ["model", "suite", "task", "domain"], sort=False)])
            result = RunResult(run_id, config, records, [], {key: t.info() for key, t in imported.tasks.items()},
                               generations=imported.generations)
            done = _publish(out, result, imported, provenance, statistics)
        except BaseException as exc:
            store.delete_run(run_id)
            raise exc
        store.set_state(run_id, "complete")
    finally:
        store.close()
    return done


def _shots(imported: Imported) -> int | None:
    shots = {t.num_fewshot for t in imported.tasks.values()}
    return shots.pop() if len(shots) == 1 else None


def _provenance(imported: Imported, source: str, path: str | Path, domain_field: str | None) -> dict[str, Any]:
    command = f"bench import {source} {shlex.quote(str(path))}"
    command += f" --domain-field {shlex.quote(domain_field)}" if domain_field else ""
    return {"harness": imported.harness, "version": imported.version, "path": str(Path(path).resolve()),
            "command": command, "files": imported.files, "models": imported.models, **imported.details}


def _run_id(imported: Imported) -> str:
    """``<UTC time>-<8 hex of the imported files' hashes>``, like ``bench run``'s ids."""
    digest = hashlib.sha256(json.dumps(imported.files, sort_keys=True).encode()).hexdigest()
    return f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-{digest[:8]}"


def _with_run_id(records: pd.DataFrame, run_id: str) -> pd.DataFrame:
    """The records with ``run_id`` first and the common columns in xdbench's order."""
    records = records.assign(run_id=run_id)
    first = [c for c in RECORD_COLUMNS if c in records.columns]
    return records[first + [c for c in records.columns if c not in first]]


def _metadata(result: RunResult, imported: Imported, provenance: dict[str, Any],
              statistics: StatisticsOptions) -> dict[str, Any]:
    """``run.json`` of an imported run: as ``bench run`` writes it (suites described by the
    import: zero-shot, no in-domain set), plus ``imported`` and ``statistics``."""
    meta = run_metadata(result)
    suites: dict[str, dict[str, Any]] = {}
    for (suite, name), task in imported.tasks.items():
        entry = suites.setdefault(suite, {"name": suite, "version": imported.suite_versions.get(suite, ""),
                                          "content_hash": "", "protocol": "zero_shot",
                                          "path": None, "domains": [], "in_domain": [], "domain_groups": {}})
        entry["domains"] += [d for d in task.domains if d not in entry["domains"]]
        entry["domain_groups"] |= task.domain_groups
        meta["tasks"][f"{suite}/{name}"]["num_fewshot"] = task.num_fewshot
    return meta | {"suites": list(suites.values()), "imported": provenance, "statistics": statistics.record()}


def _publish(out: str | Path, result: RunResult, imported: Imported, provenance: dict[str, Any],
             statistics: StatisticsOptions) -> ImportedRun:
    scored = score_records(result.records, result.task_infos, statistics)
    tables = {"metrics.csv": scored.metrics, "gaps.csv": scored.gaps,
              **across_model_tables(result.records, scored.metrics, scored.infos)}
    meta = _metadata(result, imported, provenance, statistics)
    rows = leaderboard_rows(scored.metrics, scored.gaps, scored.infos, result.run_id, settings=run_settings(meta))
    board: list[pd.DataFrame] = []
    run_dir = write_run(out, result, tables, meta,
                        before_publish=lambda: board.append(merge_leaderboard(Path(out) / "leaderboard.csv", rows)))
    return ImportedRun(imported, scored, run_dir, board[0])
