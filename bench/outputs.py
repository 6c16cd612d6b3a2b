"""Write a run's files: ``run.json``, ``records.csv.gz``, ``metrics.csv``, ``gaps.csv``.

A run folder appears complete or not at all: everything is written into a hidden
temporary folder beside it, which is renamed to ``<out>/runs/<run_id>`` only once every
file is on disk (and the leaderboard merged). A run that fails leaves no folder that looks
finished. Files and folders get the permissions the process's umask allows (``0644`` /
``0755`` under the usual umask 022), not the owner-only ones of :mod:`tempfile`.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from bench.adapters.spec_options import redact_spec
from bench.errors import OutputError
from bench.runner import RunResult
from bench.suites.info import TaskInfo

__all__ = ["GENERATIONS_FILE", "RECORD_COLUMNS", "SAMPLES_FILE", "check_writable", "make_readable", "read_run", "replace_tables",
           "run_metadata", "write_run"]

RECORD_COLUMNS = ["run_id", "model", "suite", "task", "domain", "split", "example_id", "target", "prediction",
                  "correct", "nll"]
_PACKAGES = ("xdbench", "torch", "numpy", "scipy", "pandas", "transformers")


def check_writable(out: str | Path) -> Path:
    """Create ``out/runs`` if needed and check a file can be written there.

    Raises
    ------
    OutputError
        Naming the folder and the operating system's reason.
    """
    runs = Path(out) / "runs"
    try:
        runs.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=runs, prefix=".write-check-"):
            pass
    except OSError as exc:
        raise OutputError(f"Cannot write to output folder {Path(out)}: {exc.strerror or exc}.") from exc
    return runs


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


def make_readable(path: str | Path) -> None:
    """Give ``path`` (and, for a folder, everything in it) the permissions a newly created
    file or folder gets under the process's umask: ``0o666 & ~umask`` for files,
    ``0o777 & ~umask`` for folders (``tempfile`` makes them owner-only)."""
    mask = _umask()
    path = Path(path)
    items = [path, *path.rglob("*")] if path.is_dir() else [path]
    for item in items:
        os.chmod(item, (0o777 if item.is_dir() else 0o666) & ~mask)


def _versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def _git_commit() -> str | None:
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                              cwd=Path(__file__).parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def run_metadata(result: RunResult) -> dict[str, Any]:
    """The content of ``run.json``: config, suites, tasks, fingerprints, versions, timings.

    Model specs are recorded with their URLs redacted
    (:func:`~bench.adapters.spec_options.redact_url`): no user-info, token-like path
    segments and query values as ``***``."""
    return {
        "run_id": result.run_id,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": asdict(result.config) | {"models": [redact_spec(m) for m in result.config.models]},
        "suites": [
            {"name": s.name, "version": s.version, "content_hash": s.content_hash, "protocol": s.protocol,
             "path": str(s.path) if s.path else None, "domains": list(s.domains), "in_domain": list(s.in_domain),
             "split": asdict(s.split), "domain_groups": dict(s.domain_groups)}
            for s in result.suites
        ],
        "tasks": {f"{suite}/{task}": {"suite": suite, "task": task, **asdict(info),
                                      "num_fewshot": _own_fewshot(result, suite, task)}
                  for (suite, task), info in result.task_infos.items()},
        "decoding": result.decodings,
        "fingerprints": result.fingerprints,
        "training": result.training,
        "skipped": result.skipped,
        "batch_sizes": result.batch_sizes,
        "timings_s": {k: round(v, 3) for k, v in result.timings.items()},
        "versions": _versions(),
        "git_commit": _git_commit(),
    }


def _own_fewshot(result: RunResult, suite: str, task: str) -> int | None:
    """The task's own number of few-shot exemplars (its suite's ``num_fewshot``), which
    ``--num-fewshot`` overrides; ``None`` when the run does not hold the task's suite."""
    for s in result.suites:
        for t in s.tasks if s.name == suite else ():
            if t.name == task:
                return int(t.format.num_fewshot)
    return None


def task_infos_from_metadata(meta: Mapping[str, Any]) -> dict[tuple[str, str], TaskInfo]:
    """The :class:`TaskInfo` per ``(suite, task)`` stored in ``run.json``."""
    infos = {}
    for key, raw in meta["tasks"].items():
        suite, _, task = key.rpartition("/")  # a suite name may hold "/", a task name does not
        suite, task = raw.get("suite", suite), raw.get("task", task)
        infos[(suite, task)] = TaskInfo(raw["kind"], tuple(raw["choices"]), tuple(raw["domains"]),
                                        tuple(raw["in_domain"]), dict(raw.get("domain_groups", {})),
                                        str(raw.get("primary_metric", "")))
    return infos


def write_run(out: str | Path, result: RunResult, tables: Mapping[str, pd.DataFrame],
              meta: Mapping[str, Any], folders: Mapping[str, Path] | None = None,
              before_publish: Callable[[], None] | None = None) -> Path:
    """Write the run folder atomically; return its path ``<out>/runs/<run_id>``.

    ``tables`` maps file names (``"metrics.csv"``, ``"gaps.csv"``, …) to tables;
    ``folders`` maps sub-folder names (``"models"``) to finished folders that are moved in;
    ``before_publish`` runs once every file is written, just before the folder is renamed
    into place (if it raises, no folder appears).
    """
    from bench.killpoints import kill_point

    runs = check_writable(out)
    final = runs / result.run_id
    if final.exists():
        raise OutputError(f"Run folder {final} exists already; refusing to overwrite it.")
    staging = Path(tempfile.mkdtemp(prefix=f".{result.run_id}-", dir=runs))
    try:
        result.records.to_csv(staging / "records.csv.gz", index=False,
                              compression={"method": "gzip", "mtime": 0})
        kill_point("export")
        for name, table in tables.items():
            table.to_csv(staging / name, index=False)
        if result.config.log_samples:
            _write_samples(staging / SAMPLES_FILE, result.samples)
        if result.generations:
            _write_samples(staging / GENERATIONS_FILE, result.generations)
        (staging / "run.json").write_text(json.dumps(meta, indent=2, default=str) + "\n", encoding="utf-8")
        for name, folder in (folders or {}).items():
            if folder.is_dir():
                os.replace(folder, staging / name)
        make_readable(staging)
        if before_publish is not None:
            before_publish()
        os.replace(staging, final)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise OutputError(f"Cannot write run folder {final}: {exc.strerror or exc}.") from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final


SAMPLES_FILE = "samples.jsonl"
"""With ``--log-samples``: one JSON object a line per scored ``multiple_choice`` example."""
GENERATIONS_FILE = "generations.jsonl"
"""One JSON object a line per scored ``generation`` example: ``example_id, model, suite,
task, domain, fold, trial, prompt`` (the exact string the model read), ``generation`` (its
answer, cut at :func:`~bench.adapters.validate.generation_cap` characters), ``references``,
the example's ``exact_match, f1, bleu, chrf, nll, ref_bytes``, and ``truncated`` (whether the
answer was cut)."""


def _write_samples(path: Path, samples: list[dict[str, Any]]) -> None:
    """``samples.jsonl``: ``model, suite, task, domain, example_id, prompt`` (the exact string
    the model read), ``continuations`` (scored strings), ``loglikelihoods`` (nats), ``target``,
    ``prediction``."""
    with open(path, "w", encoding="utf-8") as handle:
        for sample in samples:
            handle.write(json.dumps(sample, ensure_ascii=False) + "\n")


def read_run(run_dir: str | Path) -> tuple[dict[str, Any], pd.DataFrame]:
    """``(run.json content, records)`` of a run folder.

    Raises
    ------
    DataError
        "Run folder … does not exist." when there is no such folder, "… is not a complete
        run folder: run.json is missing." when the folder lacks one of its files.
    """
    from bench.errors import DataError

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DataError(f"Run folder {run_dir} does not exist" + (" (it is a file)." if run_dir.exists() else "."))
    meta_path, records_path = run_dir / "run.json", run_dir / "records.csv.gz"
    for path in (meta_path, records_path):
        if not path.is_file():
            raise DataError(f"{run_dir} is not a complete run folder: {path.name} is missing.")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    records = pd.read_csv(records_path, dtype={"example_id": str})
    return meta, records


def replace_tables(run_dir: str | Path, tables: Mapping[str, pd.DataFrame]) -> list[Path]:
    """Write ``tables`` (file name → table) into an existing run folder, each through a
    temporary file renamed over the old one, so that a reader never sees half a file.

    Raises
    ------
    OutputError
        Naming the file and the operating system's reason.
    """
    run_dir = Path(run_dir)
    written = []
    for name, table in tables.items():
        final = run_dir / name
        handle, temp = tempfile.mkstemp(prefix=f".{name}-", dir=run_dir)
        try:
            with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
                table.to_csv(stream, index=False)
            make_readable(temp)
            os.replace(temp, final)
        except OSError as exc:
            Path(temp).unlink(missing_ok=True)
            raise OutputError(f"Cannot write {final}: {exc.strerror or exc}.") from exc
        written.append(final)
    return written
