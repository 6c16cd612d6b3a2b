"""What every importer shares: reading log files with errors that name file and line, the
records of multiple-choice and generation examples, and the imported run's description.

An importer reads another harness's per-sample output into an :class:`Imported`: per-example
records in xdbench's columns (``bench/outputs.py``, :data:`~bench.outputs.RECORD_COLUMNS`),
the :class:`~bench.suites.info.TaskInfo` of every ``(suite, task)`` and the provenance of
the files (harness, version, file names and SHA-256, the model and its arguments as the log
states them). :func:`bench.importers.import_run` turns it into a run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import logsumexp

from bench.errors import DataError
from bench.suites.info import TaskInfo
from bench.textscores import BLEU_STATS, CHRF_STATS, bleu_stats, chrf_stats, exact_match, token_f1

__all__ = ["Imported", "ImportedTask", "choice_records", "file_entry", "generation_records", "read_json",
           "read_jsonl", "rolling_records", "sha256_file"]


@dataclass
class ImportedTask:
    """One xdbench task of an import: its kind, its domains in order, their groups and its
    few-shot count as the log states it."""

    kind: str
    domains: list[str] = field(default_factory=list)
    domain_groups: dict[str, str] = field(default_factory=dict)
    num_fewshot: int | None = None
    primary_metric: str = ""

    def info(self) -> TaskInfo:
        """The task's :class:`TaskInfo`: zero-shot (no in-domain set), no class choices."""
        return TaskInfo(self.kind, (), tuple(self.domains), (), dict(self.domain_groups), self.primary_metric)


@dataclass
class Imported:
    """Another harness's output read into xdbench's terms.

    Attributes
    ----------
    harness
        ``"lm-eval"``, ``"inspect"`` or ``"helm"``.
    version
        The harness's version as its files state it (empty when they do not).
    records
        One row per example: ``model, suite, task, domain, split, example_id, target,
        prediction, correct, nll`` and the columns of the task's kind.
    tasks
        ``(suite, task)`` → :class:`ImportedTask`.
    files
        ``{"name": path relative to the imported folder, "sha256": hex}`` per file read.
    models
        Model name (as in ``records``) → what the log says of it (arguments, source).
    details
        Anything else worth keeping in ``run.json`` (per source task: its output type,
        the harness's own aggregate metrics …).
    generations
        Per generation example: ``example_id, model, suite, task, domain, generation,
        references`` (``generations.jsonl``).
    suite_versions
        The version of each suite that is one of xdbench's own (lm-eval's MMLU tasks become
        suite ``mmlu``, with its example ids), so that the leaderboard ranks the import with
        xdbench's runs of it; other suites have none.
    """

    harness: str
    version: str
    records: pd.DataFrame
    tasks: dict[tuple[str, str], ImportedTask]
    files: list[dict[str, str]]
    models: dict[str, dict[str, Any]]
    details: dict[str, Any] = field(default_factory=dict)
    generations: list[dict[str, Any]] = field(default_factory=list)
    suite_versions: dict[str, str] = field(default_factory=dict)


def sha256_file(path: Path) -> str:
    """SHA-256 (hex) of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_entry(path: Path, root: Path) -> dict[str, str]:
    """``{"name": path relative to root (or the file name), "sha256": …}``."""
    try:
        name = path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        name = path.name
    return {"name": name or path.name, "sha256": sha256_file(path)}


def read_json(path: Path) -> Any:
    """A JSON file's content.

    Raises
    ------
    DataError
        Naming the file, line and column of invalid JSON, or the reason it cannot be read.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read it: {exc}.") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}, line {exc.lineno}: not valid JSON ({exc.msg}, column {exc.colno}); "
                        "is the file truncated?") from exc


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` per non-empty line of a JSON Lines file.

    Raises
    ------
    DataError
        ``"<file>, line <n>: not valid JSON (…)"`` for a truncated or broken line, or a line
        that holds something other than a JSON object.
    """
    try:
        handle = open(path, encoding="utf-8")  # noqa: SIM115 - closed below, lines are streamed
    except OSError as exc:
        raise DataError(f"{path}: cannot read it: {exc.strerror or exc}.") from exc
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}, line {number}: not valid JSON ({exc.msg}, column {exc.colno}); "
                                "is the file truncated?") from exc
            if not isinstance(value, dict):
                raise DataError(f"{path}, line {number}: expected a JSON object per line, got "
                                f"{type(value).__name__}.")
            yield number, value


def choice_records(ids: Sequence[str], targets: Sequence[int], logprobs: Sequence[Sequence[float]],
                   choices: Sequence[Sequence[str]]) -> dict[str, np.ndarray]:
    """Record columns of multiple-choice examples, as :func:`bench.runner._choice_records`
    writes them for xdbench's own runs.

    Parameters
    ----------
    ids, targets
        Example ids and the index of each one's answer.
    logprobs
        Per example, the summed log-likelihood ℓ_k of each option's continuation (nats).
    choices
        Per example, each option's text without the target delimiter: ``chars_k`` and
        ``bytes_k`` are its length in characters and UTF-8 bytes (the denominators of
        ``acc_norm`` and ``acc_bytes``).

    Returns
    -------
    dict
        ``example_id, target, prediction = argmax_k ℓ_k, correct, nll = −ln softmax(ℓ)_target,
        n_options`` and ``logprob_k, chars_k, bytes_k`` for ``k`` below the largest option
        count (NaN beyond an example's own options).
    """
    n = len(ids)
    width = max((len(x) for x in logprobs), default=2)
    logprob = np.full((n, max(width, 2)), np.nan)
    chars = np.full_like(logprob, np.nan)
    size = np.full_like(logprob, np.nan)
    for i, (values, texts) in enumerate(zip(logprobs, choices, strict=True)):
        logprob[i, : len(values)] = values
        chars[i, : len(texts)] = [len(t) for t in texts]
        size[i, : len(texts)] = [len(t.encode("utf-8")) for t in texts]
    target = np.asarray(targets, dtype=np.int64)
    filled = np.where(np.isnan(logprob), -np.inf, logprob)
    prediction = filled.argmax(axis=1) if n else np.zeros(0, dtype=np.int64)
    norm = logsumexp(filled, axis=1) if n else np.zeros(0)
    columns: dict[str, np.ndarray] = {
        "example_id": np.asarray(ids, dtype=object), "target": target, "prediction": prediction,
        "correct": (prediction == target).astype(np.int64), "nll": norm - logprob[np.arange(n), target],
        "n_options": np.array([len(x) for x in logprobs], dtype=np.int64)}
    columns |= {f"logprob_{k}": logprob[:, k] for k in range(logprob.shape[1])}
    columns |= {f"chars_{k}": chars[:, k] for k in range(logprob.shape[1])}
    columns |= {f"bytes_{k}": size[:, k] for k in range(logprob.shape[1])}
    return columns


def rolling_records(ids: Sequence[str], loglikelihoods: Sequence[float],
                    n_bytes: Sequence[float]) -> dict[str, np.ndarray]:
    """Record columns of language-modelling examples from a log that states each text's summed
    log-likelihood (nats) and its UTF-8 bytes but not its tokens: ``nll = −ℓ``, ``n_bytes``,
    and ``n_tokens`` NaN (so ``bits_per_byte`` is the log's, Σ nll / (ln 2 · Σ bytes), and the
    per-token cross-entropy is NaN: no token counts were logged)."""
    n = len(ids)
    missing = np.full(n, np.nan)
    return {"example_id": np.asarray(ids, dtype=object), "target": missing, "prediction": missing.copy(),
            "correct": missing.copy(), "nll": -np.asarray(loglikelihoods, dtype=np.float64),
            "n_tokens": missing.copy(), "n_bytes": np.asarray(n_bytes, dtype=np.float64)}


def generation_records(ids: Sequence[str], answers: Sequence[str], references: Sequence[Sequence[str]],
                       normalization: str, correct: Sequence[float] | None = None) -> dict[str, np.ndarray]:
    """Record columns of generation examples, as xdbench's own runs write them.

    ``correct`` is the harness's own per-example exact match where it logged one (so that
    the imported accuracy is the harness's), else xdbench's ``exact_match`` after
    ``normalization`` (``"squad"`` or ``"ignore_case_punctuation"``); ``f1`` is the token F1
    after ``normalization``; ``nll`` is NaN (a log holds no reference log-likelihood) and
    ``ref_bytes`` the first reference's UTF-8 bytes; ``bleu_stat_k`` and ``chrf_stat_k``
    are sacrebleu's per-example statistics.
    """
    n = len(ids)
    pairs = list(zip(answers, references, strict=True))
    bleu = np.array([bleu_stats(a, r) for a, r in pairs], dtype=np.int64).reshape(n, BLEU_STATS)
    chrf = np.array([chrf_stats(a, r) for a, r in pairs], dtype=np.int64).reshape(n, CHRF_STATS)
    matched = [exact_match(a, r, normalization) for a, r in pairs] if correct is None else list(correct)
    missing = np.full(n, np.nan)
    columns: dict[str, np.ndarray] = {
        "example_id": np.asarray(ids, dtype=object), "target": missing, "prediction": missing,
        "correct": np.asarray(matched, dtype=np.float64), "nll": missing.copy(),
        "f1": np.array([token_f1(a, r, normalization) for a, r in pairs], dtype=np.float64),
        "ref_bytes": np.array([len(r[0].encode("utf-8")) if r else 0 for r in references], dtype=np.float64)}
    columns |= {f"bleu_stat_{k}": bleu[:, k] for k in range(BLEU_STATS)}
    columns |= {f"chrf_stat_{k}": chrf[:, k] for k in range(CHRF_STATS)}
    return columns


def frame(columns: Mapping[str, np.ndarray], **constant: str) -> pd.DataFrame:
    """A records frame: the ``constant`` columns (model, suite, task, domain …) first."""
    n = len(next(iter(columns.values()))) if columns else 0
    return pd.DataFrame({**{k: np.full(n, v, dtype=object) for k, v in constant.items()}, **columns})
