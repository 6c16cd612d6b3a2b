"""Run identity: the prompt settings that change a model's scores, and the labels that carry them.

The same model scored 0-shot and 5-shot, with and without its chat template, with other
decoding settings or on a subset of a suite's domains is, for every table, leaderboard,
plot and comparison, a different entry. :func:`task_settings` reads those settings of one
task of a run from its ``run.json``; :func:`model_labels` is the single source of the
labels that tell such entries apart (``"smollm2-135m (5-shot)"``).

Settings (each a string; the leaderboard has a column for each, :data:`SETTINGS`):

- ``num_fewshot``: exemplars before each question, ``--num-fewshot`` or the task's own
  default (multiple-choice and generation tasks; empty for other kinds, and for a run
  whose ``run.json`` does not record the task's default);
- ``chat_template``: ``"yes"`` when prompts were rendered with the tokenizer's chat
  template (``--apply-chat-template``), else ``"no"``;
- ``decoding``: a generation task's decoding (temperature, top-p, tokens, stop
  sequences) as it ran; empty for other kinds;
- ``domains``: the ``--domain`` selection joined with ``+``, or ``"all"``;
- ``protocol``: what the trainable models were trained on (``--protocol`` or the suite's
  own, e.g. ``id_ood``, ``leave_one_domain_out``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import pandas as pd

from bench.report.rundata import RunData
from bench.suites.kinds import known_kind

__all__ = ["SETTINGS", "label_runs", "model_labels", "run_settings", "setting_text", "task_settings"]

SETTINGS = ("num_fewshot", "chat_template", "decoding", "domains", "protocol")
"""The settings that make two scorings of one model different entries, in label order."""


def _decoding_text(decoding: Mapping[str, Any]) -> str:
    temperature = decoding.get("temperature")
    parts = ["greedy" if not temperature else f"T={temperature:g}"]
    if temperature and decoding.get("top_p") not in (None, 1.0):
        parts.append(f"top-p={decoding['top_p']:g}")
    if decoding.get("max_new_tokens") is not None:
        parts.append(f"max {decoding['max_new_tokens']} tokens")
    if decoding.get("stop"):
        parts.append("stop " + json.dumps(list(decoding["stop"])))
    return ", ".join(parts)


def task_settings(meta: Mapping[str, Any], suite: str, task: str) -> dict[str, str]:
    """The settings (:data:`SETTINGS`) of task ``suite/task`` in the run of ``meta`` (the
    content of ``run.json``), with the task's own default where the run gave no flag.

    Examples
    --------
    ``bench run mmlu --num-fewshot 5`` → ``{"num_fewshot": "5", "chat_template": "no",
    "decoding": "", "domains": "all", "protocol": "zero_shot"}``.
    """
    config = meta.get("config", {}) or {}
    raw = (meta.get("tasks", {}) or {}).get(f"{suite}/{task}", {}) or {}
    kind = known_kind(str(raw.get("kind", "")))
    shots = ""
    if kind is not None and kind.few_shot:
        chosen = config.get("num_fewshot")
        chosen = raw.get("num_fewshot") if chosen is None else chosen
        shots = "" if chosen is None else str(int(chosen))
    decoding = (meta.get("decoding", {}) or {}).get(f"{suite}/{task}")
    domains = [str(d) for d in config.get("domains", ()) or ()]
    protocol = config.get("protocol") or next((s.get("protocol") for s in meta.get("suites", []) or []
                                                if s.get("name") == suite), "")
    return {"num_fewshot": shots, "chat_template": "yes" if config.get("apply_chat_template") else "no",
            "decoding": _decoding_text(decoding) if kind is not None and kind.generates_text and decoding else "",
            "domains": "+".join(domains) if domains else "all", "protocol": str(protocol or "").lower()}


def run_settings(meta: Mapping[str, Any]) -> dict[tuple[str, str], dict[str, str]]:
    """:func:`task_settings` of every task of a run, by ``(suite, task)``."""
    out = {}
    for key, raw in (meta.get("tasks", {}) or {}).items():
        suite, _, task = str(key).rpartition("/")
        suite, task = str(raw.get("suite", suite)), str(raw.get("task", task))
        out[(suite, task)] = task_settings(meta, suite, task)
    return out


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def setting_text(name: str, value: object) -> str:
    """How a label writes one setting: ``5-shot``, ``chat template``, ``no chat template``,
    ``greedy, max 32 tokens``, ``domains STEM``, ``all domains``; ``run <id>`` for
    ``run_id``; ``<name> ?`` where a run does not record the setting."""
    text = _text(value)
    if name == "run_id":
        return f"run {text}"
    if not text:
        return f"{name.replace('_', ' ')} ?" if name != "num_fewshot" else "n-shot ?"
    if name == "num_fewshot":
        return f"{text}-shot"
    if name == "chat_template":
        return "chat template" if text == "yes" else "no chat template"
    if name == "domains":
        return "all domains" if text == "all" else f"domains {text}"
    return text


def model_labels(models: Sequence[str], settings: Sequence[Mapping[str, object]],
                 tiebreak: str | None = None) -> list[str]:
    """One label per entry: the model's name, followed in parentheses by the settings
    that tell it apart from the other entries of the same model.

    Parameters
    ----------
    models
        The entries' model names (a fold's ``name@fold`` keeps its suffix after the label).
    settings
        Each entry's settings (:func:`task_settings`; missing keys count as unknown).
    tiebreak
        A key of ``settings`` (e.g. ``"run_id"``) added where entries of one model agree
        on every setting of :data:`SETTINGS` but differ on it; ``None``: never.

    Returns
    -------
    list of str
        ``"smollm2-135m (0-shot)"`` and ``"smollm2-135m (5-shot)"`` for two entries that
        differ in n-shot; the plain name for a model that appears once or always with the
        same settings. Only the settings that differ within the model's entries are shown.
    """
    if len(models) != len(settings):
        raise ValueError(f"model_labels: {len(models)} models but {len(settings)} settings.")
    bases = [str(m).split("@", 1)[0] for m in models]
    labels = []
    for i, base in enumerate(bases):
        group = [settings[j] for j, b in enumerate(bases) if b == base]
        shown = [k for k in SETTINGS if len({_text(s.get(k)) for s in group}) > 1]
        mine = tuple(_text(settings[i].get(k)) for k in SETTINGS)
        twins = [s for s in group if tuple(_text(s.get(k)) for k in SETTINGS) == mine]
        if tiebreak is not None and len({_text(s.get(tiebreak)) for s in twins}) > 1:
            shown = [*shown, tiebreak]
        parts = ", ".join(setting_text(k, settings[i].get(k)) for k in shown)
        suffix = str(models[i])[len(base):]
        labels.append(f"{base} ({parts}){suffix}" if parts else str(models[i]))
    return labels


def _relabel(frame: pd.DataFrame, names: Mapping[tuple[str, str, str], str]) -> pd.DataFrame:
    if frame.empty or not {"model", "suite", "task"} <= set(frame.columns):
        return frame
    models = frame["model"].astype(str)
    bases = models.str.split("@", n=1).str[0]
    keys = list(zip(frame["suite"].astype(str), frame["task"].astype(str), bases, strict=True))
    renamed = [names[k] + m[len(k[2]):] if k in names else m for k, m in zip(keys, models, strict=True)]
    return frame.assign(model=renamed)


def label_runs(runs: Sequence[RunData]) -> list[RunData]:
    """``runs`` with each model renamed by :func:`model_labels` where several runs score it
    on one task under different prompt settings (or, with equal settings, in different
    runs: then the run id), in every table, so that merged figures and tables keep the
    entries apart. A single run, or models that appear once per task, are left as they are."""
    if len(runs) < 2:
        return list(runs)
    names: list[dict[tuple[str, str, str], str]] = [{} for _ in runs]
    tasks = dict.fromkeys((v.suite, v.task) for run in runs for v in run.tasks)
    for suite, task in tasks:
        entries = [(i, base) for i, run in enumerate(runs) if not run.metrics.empty
                   for base in dict.fromkeys(run.metrics[(run.metrics["suite"] == suite) & (run.metrics["task"] == task)]
                                             ["model"].astype(str).str.split("@", n=1).str[0])]
        settings = [task_settings(runs[i].meta, suite, task) | {"run_id": runs[i].run_id} for i, _ in entries]
        for (i, base), label in zip(entries, model_labels([b for _, b in entries], settings, "run_id"), strict=True):
            if label != base:
                names[i][(suite, task, base)] = label
    return [run if not mine else replace(run, records=_relabel(run.records, mine), metrics=_relabel(run.metrics, mine),
                                         gaps=_relabel(run.gaps, mine),
                                         extra={n: _relabel(f, mine) for n, f in run.extra.items()})
            for run, mine in zip(runs, names, strict=True)]
