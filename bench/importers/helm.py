"""HELM run folders → xdbench records, from HELM's public file format (HELM itself is not needed).

``helm-run`` writes one folder per run entry, ``benchmark_output/runs/<suite>/<run name>/``
(e.g. ``mmlu:subject=anatomy,method=multiple_choice_joint,model=openai_gpt2``), holding
``run_spec.json`` (the run's name, scenario and adapter), ``scenario_state.json`` (the adapter
spec and every ``request_state``: the ``instance`` with its ``id``, ``input``, ``references``
tagged ``correct``, ``split``; the ``output_mapping`` of multiple-choice letters; the ``result``
with its ``completions``) and ``per_instance_stats.json`` (per ``instance_id`` and
``train_trial_index``, a list of ``stats``, each with ``name.name``, ``count``, ``sum``, ``mean``).

Mapping (see ``docs/importing.md``): suite ``helm``, task the scenario (the run name before
``:``, kind ``generation``), domain the run's scenario arguments other than ``model`` and
``method`` (``subject=anatomy`` → ``anatomy``; the scenario itself when there are none) or,
with ``domain_field``, that field of each instance (or of its ``extra_data``); example id the
instance id; model ``adapter_spec.model``. ``correct`` is the instance's ``exact_match`` stat
(its mean), the answer the first completion (mapped through ``output_mapping``), the
references the correct references. Trial 0 of unperturbed instances only.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.errors import DataError
from bench.importers.common import Imported, ImportedTask, file_entry, generation_records, read_json

__all__ = ["read_helm"]

STATE_FILE = "scenario_state.json"
STATS_FILE = "per_instance_stats.json"
SPEC_FILE = "run_spec.json"
CORRECT_STAT = "exact_match"
"""The per-instance stat read as the example's correctness."""
_NOT_DOMAIN = ("model", "method", "model_deployment", "data_augmentation", "max_train_instances")


def read_helm(path: str | Path, domain_field: str | None = None) -> Imported:
    """Read a HELM run folder, or every run folder (one holding both JSON files) below ``path``.

    Raises
    ------
    DataError
        For a folder without run folders, a run folder missing one of the two files, invalid
        JSON, an instance without its ``exact_match`` stat, a field of an unknown layout, an
        instance without ``domain_field``, and two runs of the same model and run name.
    """
    root = Path(path)
    if not root.is_dir():
        raise DataError(f"{root} is not a folder; give a HELM run folder (holding {STATE_FILE} and {STATS_FILE}) "
                        "or a folder of them (benchmark_output/runs/<suite>).")
    folders = sorted({p.parent for name in (STATE_FILE, STATS_FILE) for p in root.rglob(name)})
    if not folders:
        raise DataError(f"{root}: no HELM run folders ({STATE_FILE} with {STATS_FILE}) in this folder or below.")
    frames: list[pd.DataFrame] = []
    tasks: dict[tuple[str, str], ImportedTask] = {}
    files: list[dict[str, str]] = []
    models: dict[str, dict[str, Any]] = {}
    details: dict[str, Any] = {}
    generations: list[dict[str, Any]] = []
    seen: dict[tuple[str, str], Path] = {}
    for folder in folders:
        for name in (STATE_FILE, STATS_FILE):
            if not (folder / name).is_file():
                raise DataError(f"{folder}: a HELM run folder needs both {STATE_FILE} and {STATS_FILE}; "
                                f"{name} is missing.")
        spec_path = folder / SPEC_FILE
        spec = read_json(spec_path) if spec_path.is_file() else {}
        state = read_json(folder / STATE_FILE)
        adapter = (state.get("adapter_spec") or spec.get("adapter_spec") or {}) if isinstance(state, dict) else {}
        model = str(adapter.get("model") or adapter.get("model_deployment") or "model")
        run_name = str(spec.get("name") or folder.name)
        if (model, run_name) in seen:
            raise DataError(f"{folder}: a second run {run_name!r} of model {model!r} (the first is "
                            f"{seen[(model, run_name)]}); import one of them at a time.")
        seen[(model, run_name)] = folder
        scenario, domain = _scenario(run_name)
        part, answers, references = _records(folder, state, model, scenario, domain, domain_field)
        frames.append(part)
        entry = tasks.setdefault(("helm", scenario), ImportedTask("generation"))
        entry.domains += [d for d in dict.fromkeys(part["domain"]) if d not in entry.domains]
        entry.num_fewshot = _shots(adapter)
        files += [file_entry(folder / n, root) for n in (SPEC_FILE, STATE_FILE, STATS_FILE) if (folder / n).is_file()]
        models[model] = {"model_args": {k: v for k, v in adapter.items() if k in ("model", "model_deployment")},
                         "adapter_spec": adapter}
        details[f"{model}/{run_name}"] = {"run": run_name, "scenario": scenario, "domain": domain,
                                          "examples": len(part), "method": adapter.get("method")}
        generations += [{"example_id": i, "model": model, "suite": "helm", "task": scenario, "domain": d,
                         "generation": a, "references": r}
                        for i, d, a, r in zip(part["example_id"], part["domain"], answers, references, strict=True)]
    return Imported("helm", "", pd.concat(frames, ignore_index=True), tasks, files, models,
                    {"tasks": details, "domain_field": domain_field,
                     "note": "read from HELM's file format; HELM records no version in these files"}, generations)


def _scenario(run_name: str) -> tuple[str, str]:
    """``(scenario, domain)`` of a run name ``scenario:key=value,…``: the domain joins the values
    of the arguments that are not the model or the adaptation method (the scenario without any)."""
    scenario, _, arguments = run_name.partition(":")
    pairs = [part.partition("=") for part in arguments.split(",") if part]
    values = [value for key, _, value in pairs if key not in _NOT_DOMAIN]
    return scenario, ",".join(values) if values else scenario


def _shots(adapter: Mapping[str, Any]) -> int | None:
    value = adapter.get("max_train_instances")
    return int(value) if isinstance(value, int) else None


def _records(folder: Path, state: Any, model: str, scenario: str, domain: str,
             domain_field: str | None) -> tuple[pd.DataFrame, list[str], list[list[str]]]:
    requests = state.get("request_states") if isinstance(state, dict) else None
    if not isinstance(requests, list):
        raise DataError(f"{folder / STATE_FILE}: not a HELM scenario state of a known layout (no 'request_states').")
    correct = _correct_by_instance(folder / STATS_FILE)
    ids, domains, answers, references, values = [], [], [], [], []
    for k, request in enumerate(requests):
        where = f"{folder / STATE_FILE}, request_states[{k}]"
        instance = request.get("instance") if isinstance(request, dict) else None
        if not isinstance(instance, dict) or "id" not in instance:
            raise DataError(f"{where}: no 'instance' with an 'id'.")
        if request.get("train_trial_index", 0) != 0 or instance.get("perturbation") or \
                request.get("reference_index") is not None:
            continue
        instance_id = str(instance["id"])
        if instance_id not in correct:
            raise DataError(f"{folder / STATS_FILE}: instance {instance_id!r} has no {CORRECT_STAT!r} stat "
                            "(trial 0, unperturbed); bench import reads it as the example's correctness.")
        ids.append(instance_id)
        domains.append(_domain(instance, domain_field, domain, where))
        answers.append(_answer(request))
        references.append([str(r.get("output", {}).get("text", "")) for r in instance.get("references", [])
                           if "correct" in (r.get("tags") or [])])
        values.append(correct[instance_id])
    columns = generation_records(ids, answers, references, "squad", values)
    n = len(ids)
    frame = pd.DataFrame({"model": np.full(n, model, dtype=object), "suite": np.full(n, "helm", dtype=object),
                          "task": np.full(n, scenario, dtype=object), "domain": np.asarray(domains, dtype=object),
                          "split": np.full(n, "test", dtype=object)} | columns)
    return frame, answers, references


def _correct_by_instance(path: Path) -> dict[str, float]:
    """Instance id → the mean of its ``exact_match`` stat (trial 0, unperturbed)."""
    raw = read_json(path)
    if not isinstance(raw, list):
        raise DataError(f"{path}: not HELM per-instance stats of a known layout (expected a list).")
    out = {}
    for k, entry in enumerate(raw):
        if not isinstance(entry, dict) or "instance_id" not in entry or not isinstance(entry.get("stats"), list):
            raise DataError(f"{path}, entry {k}: not a PerInstanceStats of a known layout (instance_id, stats).")
        if entry.get("train_trial_index", 0) != 0 or entry.get("perturbation"):
            continue
        for stat in entry["stats"]:
            name = stat.get("name", {}) if isinstance(stat, dict) else {}
            if name.get("name") == CORRECT_STAT and not name.get("perturbation") and stat.get("count"):
                out[str(entry["instance_id"])] = float(stat["sum"]) / float(stat["count"])
    return out


def _domain(instance: Mapping[str, Any], domain_field: str | None, default: str, where: str) -> str:
    if domain_field is None:
        return default
    extra = instance.get("extra_data") or {}
    if domain_field in instance:
        return str(instance[domain_field])
    if domain_field in extra:
        return str(extra[domain_field])
    raise DataError(f"{where}: the instance has no field {domain_field!r} to take the domain from (--domain-field); "
                    f"its fields: {', '.join(sorted([*instance, *extra]))}.")


def _answer(request: Mapping[str, Any]) -> str:
    completions = (request.get("result") or {}).get("completions") or []
    text = str(completions[0].get("text", "")) if completions else ""
    mapping = request.get("output_mapping") or {}
    return str(mapping.get(text.strip(), text))
