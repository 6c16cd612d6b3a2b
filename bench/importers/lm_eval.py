"""lm-evaluation-harness ``--log_samples`` output → xdbench records.

``lm_eval --output_path OUT --log_samples`` writes, per model, ``OUT/<model>/results_<date>.json``
(aggregate metrics, every task's configuration, groups, model arguments, versions) and one
``samples_<task>_<date>.jsonl`` per task: a JSON object per example with ``doc_id``, ``doc``,
``target``, ``arguments`` (each request's context and continuation), ``resps`` and
``filtered_resps`` (numbers written as strings) and the metrics of the example.

Mapping (see ``docs/importing.md``):

- each lm-eval task is a domain; MMLU's tasks ``mmlu_<subject>`` become xdbench's own suite
  ``mmlu``, task ``mmlu`` (``mmlu_generative`` for ``mmlu_<subject>_generative``), domain
  ``<subject>``, example id ``<subject>/test:<doc_id + 1>`` and group the subject's category,
  so that an import pairs with ``bench run mmlu`` on the same questions; any other task is
  suite ``lm-eval``, task its top-level lm-eval group (or itself), domain its name without the
  group's prefix, group its parent group, example id ``<lm-eval task>:<doc_id>``;
- ``domain_field``: the domain is that field of each ``doc`` instead;
- ``multiple_choice``: every option's log-likelihood (``filtered_resps``) and its length
  without the target delimiter (``arguments``), so that accuracy and ``acc_norm`` are lm-eval's;
- ``generate_until``: the filtered response (the first filter of the task when it has
  several), the target(s), and ``correct`` = the example's logged ``exact_match``;
- ``loglikelihood_rolling``: language modelling, ``nll`` = −log-likelihood over the text's
  logged UTF-8 bytes (no token counts: the task's primary metric is ``bits_per_byte``).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.data.mmlu import SUBJECTS
from bench.errors import DataError
from bench.importers.common import (
    Imported,
    ImportedTask,
    choice_records,
    file_entry,
    generation_records,
    read_json,
    read_jsonl,
    rolling_records,
)
from bench.suites import load_suite
from bench.suites.kinds import TASK_KIND, TaskKind, kind_of

__all__ = ["read_lm_eval"]

_DATE = r"\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}(?:\.\d+)?"
SAMPLES_FILE = re.compile(rf"^samples_(?P<task>.+)_(?P<date>{_DATE})\.jsonl$")
RESULTS_FILE = re.compile(rf"^results_(?P<date>{_DATE})\.json$")
KINDS: dict[str, TaskKind] = {"multiple_choice": TASK_KIND["multiple_choice"], "generate_until": TASK_KIND["generation"],
                              "loglikelihood_rolling": TASK_KIND["language_modeling"]}
"""lm-eval output types this importer reads → xdbench task kinds (the only place that reads
lm-eval's ``output_type`` vocabulary)."""


@dataclass
class _Results:
    """One ``results_<date>.json``: the model and the tasks' configurations."""

    path: Path
    model: str
    model_args: dict[str, Any]
    version: str
    configs: dict[str, dict[str, Any]]
    n_shot: dict[str, Any]
    parents: dict[str, str]
    aggregates: dict[str, Any]
    chat_template: bool


@dataclass
class _Target:
    """Where one lm-eval task's examples go in xdbench."""

    suite: str
    task: str
    domain: str
    group: str | None
    ids: str  # "mmlu" (native MMLU ids) or "generic"


@dataclass
class _Rows:
    """The parsed examples of one samples file, before they become columns."""

    ids: list[str] = field(default_factory=list)
    domains: list[str] = field(default_factory=list)
    targets: list[Any] = field(default_factory=list)
    values: list[Any] = field(default_factory=list)
    choices: list[list[str]] = field(default_factory=list)
    logged: list[float] = field(default_factory=list)


def read_lm_eval(path: str | Path, domain_field: str | None = None) -> Imported:
    """Read an lm-eval output folder (or one ``results_*.json`` / ``samples_*.jsonl`` file).

    Raises
    ------
    DataError
        One message naming the file (and line) for: no samples files, a file name or line of
        an unknown layout, truncated JSON, a samples file without its ``results_<date>.json``,
        a doc without ``domain_field``, an output type this importer does not read, and two
        logs of the same model and task.
    """
    root = Path(path)
    pairs = _find(root)
    results: dict[Path, _Results] = {}
    seen: dict[tuple[str, str], Path] = {}
    frames: list[pd.DataFrame] = []
    tasks: dict[tuple[str, str], ImportedTask] = {}
    files, details, generations = [], {}, []
    for samples, task_name, results_path in pairs:
        if results_path not in results:
            results[results_path] = _read_results(results_path)
            files.append(file_entry(results_path, root if root.is_dir() else root.parent))
        info = results[results_path]
        key = (info.model, task_name)
        if key in seen:
            raise DataError(f"{samples}: a second log of model {info.model!r} on task {task_name!r} (the first is "
                            f"{seen[key]}); import one of them at a time.")
        seen[key] = samples
        files.append(file_entry(samples, root if root.is_dir() else root.parent))
        config = info.configs.get(task_name)
        if config is None:
            raise DataError(f"{info.path}: no configuration of task {task_name!r}, whose samples are {samples}; "
                            "is this the results file of the same run?")
        output_type = str(config.get("output_type", ""))
        if output_type not in KINDS:
            raise DataError(f"{samples}: task {task_name!r} has output type {output_type!r}; bench import reads "
                            f"lm-eval's {', '.join(KINDS)} tasks.")
        kind = KINDS[output_type]
        target = _target(task_name, kind, info.parents)
        rows, used_filter = _read_samples(samples, config, kind, target, domain_field)
        part = _frame(rows, kind, config, info.model, target)
        frames.append(part)
        _add_task(tasks, (target.suite, target.task), kind, rows.domains,
                  None if domain_field else target.group, info.n_shot.get(task_name))
        details[f"{info.model}/{task_name}"] = {
            "lm_eval_task": task_name, "output_type": output_type, "filter": used_filter,
            "suite": target.suite, "task": target.task, "examples": len(rows.ids),
            "results": info.aggregates.get(task_name, {})}
        if kind.generates_text:
            generations += [{"example_id": i, "model": info.model, "suite": target.suite, "task": target.task,
                             "domain": d, "generation": a, "references": r}
                            for i, d, a, r in zip(rows.ids, rows.domains, rows.values, rows.targets, strict=True)]
    records = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    first = next(iter(results.values()))
    versions = {"mmlu": load_suite("mmlu").version} if any(suite == "mmlu" for suite, _ in tasks) else {}
    return Imported("lm-eval", first.version, records, tasks, files,
                    {r.model: {"model_args": r.model_args, "results_file": r.path.name,
                               "chat_template": r.chat_template} for r in results.values()},
                    {"tasks": details, "domain_field": domain_field}, generations, versions)


def _find(root: Path) -> list[tuple[Path, str, Path]]:
    """``(samples file, lm-eval task, its results file)`` for every samples file under ``root``."""
    if not root.exists():
        raise DataError(f"{root} does not exist; give lm-eval's --output_path folder.")
    if root.is_file():
        match = RESULTS_FILE.match(root.name)
        candidates = sorted(root.parent.glob(f"samples_*_{match['date']}.jsonl")) if match else [root]
    else:
        candidates = sorted(root.rglob("samples_*.json*"))
    if not candidates:
        raise DataError(f"{root}: no lm-eval samples files (samples_<task>_<date>.jsonl) in this folder or below; "
                        "run lm_eval with --log_samples and --output_path.")
    found = []
    for samples in candidates:
        match = SAMPLES_FILE.match(samples.name)
        if match is None:
            raise DataError(f"{samples}: not an lm-eval samples file of a known layout (expected "
                            "samples_<task>_<YYYY-MM-DDTHH-MM-SS.ffffff>.jsonl, as lm-eval 0.4 writes).")
        results = samples.parent / f"results_{match['date']}.json"
        if not results.is_file():
            raise DataError(f"{samples}: no results file {results.name} beside it; lm-eval writes both into "
                            "the same folder, and the task configurations and model are read from it.")
        found.append((samples, match["task"], results))
    return found


def _read_results(path: Path) -> _Results:
    raw = read_json(path)
    if not isinstance(raw, dict) or not isinstance(raw.get("configs"), dict):
        raise DataError(f"{path}: not an lm-eval results file of a known layout (no 'configs').")
    config = raw.get("config", {}) or {}
    args = config.get("model_args", {}) or {}
    if isinstance(args, str):
        args = dict(part.split("=", 1) for part in args.split(",") if "=" in part)
    parents = {child: parent for parent, children in (raw.get("group_subtasks", {}) or {}).items()
               for child in children}
    return _Results(path, _model_name(args, raw, config), dict(args), str(raw.get("lm_eval_version", "") or ""),
                    raw["configs"], dict(raw.get("n-shot", {}) or {}), parents, dict(raw.get("results", {}) or {}),
                    bool(raw.get("chat_template")))


def _model_name(args: Mapping[str, Any], raw: Mapping[str, Any], config: Mapping[str, Any]) -> str:
    """The model as the log names it: the GGUF file's stem, else ``pretrained`` (or
    ``model``), a local path shortened to its last part."""
    if args.get("gguf_file"):
        return Path(str(args["gguf_file"])).stem
    name = str(args.get("pretrained") or args.get("model") or raw.get("model_name") or config.get("model") or "model")
    return Path(name).name if name.startswith(("/", ".", "~")) else name


def _target(task: str, kind: TaskKind, parents: Mapping[str, str]) -> _Target:
    subject = _mmlu_subject(task, kind)
    if subject:
        return _Target("mmlu", "mmlu" if kind.scores_options else "mmlu_generative", subject,
                       SUBJECTS[subject], "mmlu")
    chain = [task]
    while chain[-1] in parents and parents[chain[-1]] not in chain:
        chain.append(parents[chain[-1]])
    top = chain[-1]
    domain = task[len(top) + 1:] if task.startswith(f"{top}_") else task
    group = chain[1] if len(chain) > 2 else None
    return _Target("lm-eval", top, domain, group, "generic")


def _mmlu_subject(task: str, kind: TaskKind) -> str | None:
    """The MMLU subject of ``mmlu_<subject>`` (multiple choice) or ``mmlu_<subject>_generative``,
    ``mmlu_generative_<subject>`` (generate_until); ``None`` for any other task."""
    if kind.scores_options:
        names = [task.removeprefix("mmlu_")]
    else:
        names = [task.removeprefix("mmlu_").removesuffix("_generative"), task.removeprefix("mmlu_generative_")]
    return next((n for n in names if task.startswith("mmlu_") and n in SUBJECTS), None)


def _read_samples(path: Path, config: Mapping[str, Any], kind: TaskKind, target: _Target,
                  domain_field: str | None) -> tuple[_Rows, str | None]:
    rows = _Rows()
    delimiter = str(config.get("target_delimiter", " "))
    used: str | None = None
    lm_task = _task_of(path)
    for number, line in read_jsonl(path):
        where = f"{path}, line {number}"
        if "doc_id" not in line or ("filtered_resps" not in line and "resps" not in line):
            raise DataError(f"{where}: not an lm-eval samples line of a known layout (it has no 'doc_id' or no "
                            f"'filtered_resps'; keys: {', '.join(sorted(line)) or 'none'}).")
        chosen = line.get("filter")
        used = chosen if used is None else used
        if chosen != used:
            continue  # the same example under another filter of the task
        doc_id = int(line["doc_id"])
        rows.ids.append(f"{target.domain}/test:{doc_id + 1}" if target.ids == "mmlu"
                        else f"{lm_task}:{doc_id}")
        rows.domains.append(_domain(line, domain_field, target.domain, where))
        responses = line.get("filtered_resps", line.get("resps"))
        if kind.scores_tokens:
            rows.values.append(_loglikelihoods(responses, 1, where)[0])
            rows.targets.append(_logged_bytes(line, where))
        elif kind.scores_options:
            continuations = _continuations(line.get("arguments"), where)
            values = _loglikelihoods(responses, len(continuations), where)
            texts = [c[len(delimiter):] if c.startswith(delimiter) else c for c in continuations]
            rows.values.append(values)
            rows.choices.append(texts)
            rows.targets.append(_choice_target(line.get("target"), texts, where))
        else:
            rows.values.append(_answer(responses, where))
            rows.targets.append(_references(line.get("target")))
            if isinstance(line.get("exact_match"), int | float):
                rows.logged.append(float(line["exact_match"]))
    return rows, used


def _logged_bytes(line: Mapping[str, Any], where: str) -> float:
    """The UTF-8 bytes of the scored text, as lm-eval logged them with ``bits_per_byte`` or
    ``byte_perplexity`` (``[log-likelihood, bytes]``), else of ``target``."""
    for name in ("bits_per_byte", "byte_perplexity"):
        value = line.get(name)
        if isinstance(value, list) and len(value) == 2:
            return float(value[1])
    if isinstance(line.get("target"), str):
        return float(len(line["target"].encode("utf-8")))
    raise DataError(f"{where}: no byte count of the text (bits_per_byte, byte_perplexity or target).")


def _task_of(path: Path) -> str:
    match = SAMPLES_FILE.match(path.name)
    return match["task"] if match else path.stem


def _domain(line: Mapping[str, Any], domain_field: str | None, default: str, where: str) -> str:
    if domain_field is None:
        return default
    doc = line.get("doc")
    if not isinstance(doc, dict) or domain_field not in doc:
        known = ", ".join(sorted(doc)) if isinstance(doc, dict) else "none (no 'doc')"
        raise DataError(f"{where}: the doc has no field {domain_field!r} to take the domain from "
                        f"(--domain-field); its fields: {known}.")
    return str(doc[domain_field])


def _continuations(arguments: Any, where: str) -> list[str]:
    """Each request's continuation: ``{"gen_args_i": {"arg_0": context, "arg_1": continuation}}``
    (lm-eval ≥ 0.4.3) or ``[[context, continuation], …]`` (earlier 0.4 releases)."""
    if isinstance(arguments, dict):
        items = [arguments[f"gen_args_{i}"] for i in range(len(arguments)) if f"gen_args_{i}" in arguments]
        if len(items) == len(arguments) and all(isinstance(a, dict) and "arg_1" in a for a in items):
            return [str(a["arg_1"]) for a in items]
    elif isinstance(arguments, list) and all(isinstance(a, list | tuple) and len(a) >= 2 for a in arguments):
        return [str(a[1]) for a in arguments]
    raise DataError(f"{where}: 'arguments' is not of a known lm-eval layout (expected gen_args_0, gen_args_1, … "
                    "with arg_0 = context and arg_1 = continuation).")


def _loglikelihoods(responses: Any, n_options: int, where: str) -> list[float]:
    """Each option's log-likelihood from ``filtered_resps``: ``[[ll, is_greedy], …]`` with the
    numbers as strings (lm-eval writes ``str(float)``, which reads back exactly)."""
    if not isinstance(responses, list) or not responses:
        raise DataError(f"{where}: 'filtered_resps' holds no log-likelihoods.")
    try:
        values = [float(r[0] if isinstance(r, list | tuple) else r) for r in responses]
    except (TypeError, ValueError, IndexError) as exc:
        raise DataError(f"{where}: 'filtered_resps' is not a list of [log-likelihood, is_greedy] pairs "
                        f"({exc}).") from exc
    if len(values) == 2 * n_options:  # acc_mutual_info: the unconditional ones follow
        values = values[:n_options]
    if len(values) != n_options:
        raise DataError(f"{where}: {len(values)} log-likelihoods for {n_options} options.")
    return values


def _choice_target(raw: Any, choices: list[str], where: str) -> int:
    text = str(raw).strip()
    if re.fullmatch(r"-?\d+", text) and 0 <= int(text) < len(choices):
        return int(text)
    if text in choices:
        return choices.index(text)
    raise DataError(f"{where}: target {raw!r} is neither an option index below {len(choices)} nor one of the "
                    f"options {choices}.")


def _answer(responses: Any, where: str) -> str:
    value = responses
    while isinstance(value, list):
        if not value:
            raise DataError(f"{where}: 'filtered_resps' holds no answer.")
        value = value[0]
    return str(value)


def _references(raw: Any) -> list[str]:
    if isinstance(raw, list):
        return [str(r) for r in raw]
    text = str(raw)
    if text.startswith("[") and text.endswith("]"):
        try:
            parsed = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return [text]
        if isinstance(parsed, list):
            return [str(r) for r in parsed]
    return [text]


def _normalization(config: Mapping[str, Any]) -> str:
    for metric in config.get("metric_list", []) or []:
        if metric.get("metric") == "exact_match" and metric.get("ignore_case") and metric.get("ignore_punctuation"):
            return "ignore_case_punctuation"
    return "squad"


def _frame(rows: _Rows, kind: TaskKind, config: Mapping[str, Any], model: str, target: _Target) -> pd.DataFrame:
    if kind.scores_options:
        columns = choice_records(rows.ids, rows.targets, rows.values, rows.choices)
    elif kind.scores_tokens:
        columns = rolling_records(rows.ids, rows.values, rows.targets)
    else:
        logged = rows.logged if len(rows.logged) == len(rows.ids) else None
        columns = generation_records(rows.ids, rows.values, rows.targets, _normalization(config), logged)
    n = len(rows.ids)
    head = {"model": np.full(n, model, dtype=object), "suite": np.full(n, target.suite, dtype=object),
            "task": np.full(n, target.task, dtype=object), "domain": np.asarray(rows.domains, dtype=object),
            "split": np.full(n, "test", dtype=object)}
    return pd.DataFrame(head | columns)


def _add_task(tasks: dict[tuple[str, str], ImportedTask], key: tuple[str, str], kind: TaskKind, domains: list[str],
              group: str | None, shots: Any) -> None:
    # no token counts in the log: bits per byte ranks domains and models, not nats per token
    entry = tasks.setdefault(key, ImportedTask(kind.name, primary_metric="bits_per_byte" if kind.scores_tokens else ""))
    if kind_of(entry) is not kind:
        raise DataError(f"Task {key[0]}/{key[1]} gathers lm-eval tasks of two output types ({entry.kind}, {kind.name}).")
    for domain in dict.fromkeys(domains):
        if domain not in entry.domains:
            entry.domains.append(domain)
        if group:
            entry.domain_groups[domain] = group
    shots = int(shots) if isinstance(shots, int | float | str) and str(shots).isdigit() else None
    entry.num_fewshot = shots if entry.num_fewshot in (None, shots) else entry.num_fewshot
