"""Inspect logs (``.eval`` and ``.json``) → xdbench records, read with Inspect's own log reader
(``inspect_ai.log.read_eval_log``; the optional extra ``inspect``).

Mapping (see ``docs/importing.md``): one log is one model on one task. The xdbench suite is
``inspect``, the task is the log's task name (kind ``generation``), the domain is the task name
or, with ``domain_field``, that field of each sample's ``metadata``; the example id is the
sample id (``<id>#<epoch>`` when the log has several epochs); the model is ``eval.model``.
``correct`` is the first scorer's value (``C`` = 1, ``I`` = 0, ``P`` = 0.5, a number or a
boolean as it is), the answer is the sample's ``output.completion`` and the references its
``target``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.errors import CapabilityError, DataError
from bench.importers.common import Imported, ImportedTask, file_entry, generation_records

__all__ = ["SCORE_VALUES", "read_inspect"]

SCORE_VALUES: Mapping[str, float] = {"C": 1.0, "I": 0.0, "P": 0.5}
"""Inspect's letter scores as numbers (its ``value_to_float``: correct, incorrect, partial)."""
LOG_SUFFIXES = (".eval", ".json")


def _reader() -> Any:
    try:
        from inspect_ai.log import read_eval_log
    except ImportError as exc:
        raise CapabilityError("bench import inspect reads logs with Inspect's own reader, which is not installed; "
                              'install it with: python -m pip install -e ".[inspect]"') from exc
    return read_eval_log


def read_inspect(path: str | Path, domain_field: str | None = None) -> Imported:
    """Read an Inspect log file, or every ``.eval`` / ``.json`` log in a folder and below.

    Raises
    ------
    DataError
        For a folder with no logs, a file Inspect cannot read, a log without samples or
        scores, a score that is not C/I/P or numeric, a sample without the metadata field
        ``domain_field``, and two logs of the same model and task.
    CapabilityError
        If ``inspect_ai`` is not installed.
    """
    root = Path(path)
    if not root.exists():
        raise DataError(f"{root} does not exist; give an Inspect log (.eval, .json) or a folder of logs.")
    logs = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.suffix in LOG_SUFFIXES)
    if not logs:
        raise DataError(f"{root}: no Inspect logs (*.eval, *.json) in this folder or below.")
    read = _reader()
    base = root if root.is_dir() else root.parent
    frames: list[pd.DataFrame] = []
    tasks: dict[tuple[str, str], ImportedTask] = {}
    files: list[dict[str, str]] = []
    models: dict[str, dict[str, Any]] = {}
    details: dict[str, Any] = {}
    generations: list[dict[str, Any]] = []
    seen: dict[tuple[str, str], Path] = {}
    version = ""
    for log_path in logs:
        try:
            log = read(str(log_path))
        except Exception as exc:  # Inspect raises its own and pydantic's errors for a broken file
            raise DataError(f"{log_path}: Inspect cannot read this log ({type(exc).__name__}: "
                            f"{str(exc).splitlines()[0] if str(exc) else ''}); is it truncated?") from exc
        model, task = str(log.eval.model), str(log.eval.task)
        if (model, task) in seen:
            raise DataError(f"{log_path}: a second log of model {model!r} on task {task!r} (the first is "
                            f"{seen[(model, task)]}); import one of them at a time.")
        seen[(model, task)] = log_path
        version = version or str((log.eval.packages or {}).get("inspect_ai", ""))
        part, scorer, answers, references = _records(log, log_path, task, model, domain_field)
        frames.append(part)
        entry = tasks.setdefault(("inspect", task), ImportedTask("generation"))
        entry.domains += [d for d in dict.fromkeys(part["domain"]) if d not in entry.domains]
        files.append(file_entry(log_path, base))
        models[model] = {"model_args": dict(log.eval.model_args or {}), "log": log_path.name}
        details[f"{model}/{task}"] = {"task": task, "scorer": scorer, "status": str(log.status),
                                      "examples": len(part), "results": _aggregates(log)}
        generations += [{"example_id": i, "model": model, "suite": "inspect", "task": task, "domain": d,
                         "generation": a, "references": r}
                        for i, d, a, r in zip(part["example_id"], part["domain"], answers, references, strict=True)]
    records = pd.concat(frames, ignore_index=True)
    return Imported("inspect", version, records, tasks, files, models,
                    {"tasks": details, "domain_field": domain_field}, generations)


def _records(log: Any, path: Path, task: str, model: str, domain_field: str | None
             ) -> tuple[pd.DataFrame, str, list[str], list[list[str]]]:
    """The log's records, the scorer read, and each sample's answer and references."""
    samples = list(log.samples or [])
    if not samples:
        raise DataError(f"{path}: the log has no samples (status {log.status}); was it written with samples?")
    epochs = len({s.epoch for s in samples}) > 1
    scorer = _scorer(log, samples[0], path)
    ids, domains, answers, references, values = [], [], [], [], []
    for sample in samples:
        where = f"{path}, sample {sample.id!r}" + (f" epoch {sample.epoch}" if epochs else "")
        ids.append(f"{sample.id}#{sample.epoch}" if epochs else str(sample.id))
        domains.append(_domain(sample.metadata, domain_field, task, where))
        answers.append(sample.output.completion if sample.output else "")
        target = sample.target
        references.append([str(t) for t in target] if isinstance(target, list) else [str(target)])
        values.append(_score_value((sample.scores or {}).get(scorer), scorer, where))
    columns = generation_records(ids, answers, references, "squad", values)
    n = len(ids)
    frame = pd.DataFrame({"model": np.full(n, model, dtype=object), "suite": np.full(n, "inspect", dtype=object),
                          "task": np.full(n, task, dtype=object), "domain": np.asarray(domains, dtype=object),
                          "split": np.full(n, "test", dtype=object)} | columns)
    return frame, scorer, answers, references


def _scorer(log: Any, sample: Any, path: Path) -> str:
    """The first scorer of the log's results (else of the first sample)."""
    names = [s.name for s in (log.results.scores if log.results else [])] or list(sample.scores or {})
    if not names:
        raise DataError(f"{path}: the log has no scores; score it (inspect score) before importing.")
    return str(names[0])


def _score_value(score: Any, scorer: str, where: str) -> float:
    value = getattr(score, "value", None)
    if score is None:
        raise DataError(f"{where}: no score of scorer {scorer!r}.")
    if isinstance(value, bool | int | float):
        return float(value)
    if isinstance(value, str) and value in SCORE_VALUES:
        return SCORE_VALUES[value]
    raise DataError(f"{where}: score {value!r} of scorer {scorer!r} is neither C, I, P nor a number; "
                    "bench import reads those.")


def _domain(metadata: Mapping[str, Any] | None, domain_field: str | None, default: str, where: str) -> str:
    if domain_field is None:
        return default
    if not metadata or domain_field not in metadata:
        raise DataError(f"{where}: the sample's metadata has no field {domain_field!r} to take the domain from "
                        f"(--domain-field); its fields: {', '.join(sorted(metadata or {})) or 'none'}.")
    return str(metadata[domain_field])


def _aggregates(log: Any) -> dict[str, float]:
    """The log's own metrics: ``<scorer>/<metric>`` → value."""
    out = {}
    for score in log.results.scores if log.results else []:
        for name, metric in (score.metrics or {}).items():
            out[f"{score.name}/{name}"] = float(metric.value)
    return out
