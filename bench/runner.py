"""Evaluate models on suites: train per the protocol, score in batches, collect records.

:func:`run` returns a :class:`RunResult` holding one record per scored example (the
columns of ``records.csv.gz``); it writes nothing and prints nothing. Progress is
reported through an optional callback so that the CLI can draw a progress bar.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

import numpy as np
import pandas as pd
from scipy.special import logsumexp

from bench.adapters import BASELINES, Adapter, expand_models, make_model
from bench.adapters.lm_options import DEVICE_RULE, DEVICES, DTYPE_RULE, DTYPES
from bench.adapters.spec_options import redact_spec
from bench.adapters.validate import (
    check_generations,
    check_log_probs,
    check_loglikelihoods,
    check_nll,
    check_values,
    generation_cap,
)
from bench.data import load_suite_data
from bench.errors import AdapterError, BenchError, CapabilityError, DataError, UnknownNameError
from bench.killpoints import kill_point
from bench.seeding import trial_seed
from bench.sinks import MemorySink
from bench.suites import (
    Fold,
    Suite,
    SuiteData,
    Task,
    load_suite,
    plan_folds,
)
from bench.suites.generation import DECODING_RULES, GenerationRequest
from bench.suites.info import TaskInfo, task_info
from bench.suites.kinds import TASK_KIND, ModelInput, RecordShape, kind_of
from bench.suites.loader import select_domains
from bench.suites.prompts import ChoiceRequest
from bench.suites.render import build_generation_requests, build_requests
from bench.suites.rules import MAX_COUNT, Bool, Either, Int, List, Number, Str, ValueType, check_config, optional
from bench.suites.types import Example
from bench.textscores import (
    BLEU_STATS,
    CHRF_STATS,
    bleu_from_stats,
    bleu_stats,
    chrf_from_stats,
    chrf_stats,
    exact_match,
    token_f1,
)

__all__ = ["DEVICES", "DTYPES", "FitKey", "OnFitted", "Progress", "RecordSink", "RunConfig", "RunResult", "make_run_id", "run",
           "score_examples"]

DEFAULT_BATCH_SIZE = 64
"""Examples per adapter call when ``batch_size`` is ``"auto"`` (the models choose their forward batches)."""

Progress = Callable[[int, str], AbstractContextManager[Callable[[int], None]]]
"""``progress(total, description)`` returns a context manager yielding ``advance(n)``."""


@contextlib.contextmanager
def _silent(total: int, description: str) -> Iterator[Callable[[int], None]]:
    yield lambda n: None


MAX_SECONDS_PER_BATCH = 7 * 86_400.0
"""Longest ``--timeout-per-batch`` (a week)."""
_RUN_RULES: dict[str, ValueType] = {
    "suites": List(Str(max_chars=4096), unique=False),
    "limit": optional(Int(1, MAX_COUNT)),
    "batch_size": Either((Int(1, MAX_COUNT), Str(choices=("auto",)))),
    "trials": Int(1, MAX_COUNT),
    "num_fewshot": optional(Int(0, MAX_COUNT)),
    "log_samples": Bool(),
    "device": optional(DEVICE_RULE),
    "dtype": optional(DTYPE_RULE),
    "apply_chat_template": Bool(),
    **{key: optional(DECODING_RULES[key]) for key in ("max_new_tokens", "stop", "temperature", "top_p")},
    "timeout_per_batch": optional(Number(0.0, MAX_SECONDS_PER_BATCH, bounds="(]")),
}
"""The rule of each checked field of :class:`RunConfig` (:func:`~bench.suites.rules.check_config`)."""
_RUN_FLAGS = {name: "--" + name.replace("_", "-") for name in _RUN_RULES if name != "suites"}
"""The ``bench run`` flag that sets each checked field, named in its error (``--batch-size``)."""


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a run's results (recorded in ``run.json``).

    Attributes
    ----------
    suites
        Registered suite names or paths to suite TOML files.
    models
        Registered model names, groups (``all-baselines``), plugin names, ``module:factory``
        specs or saved-model folders. Empty: each suite's own defaults (``[suite] models``,
        else :data:`~bench.adapters.BASELINES`), each skipped where it cannot serve.
    tasks
        Task names to score; empty means every task a model supports.
    seed
        Run seed; each component's seed is ``seed_hash(seed, component names...)``.
    limit
        Score at most this many test examples per domain (``None``: all).
    batch_size
        Examples per adapter call, or ``"auto"``: :data:`DEFAULT_BATCH_SIZE` examples per call,
        and each language model chooses the largest forward batch that fits in memory
        (``batch_size="auto"`` is passed to every model factory; a model that does not take
        it is a :class:`ConfigError`). The chosen batch is recorded in ``run.json``
        (``batch_sizes``).
    data_dir
        Folder searched for data files (``None``: ``$XDBENCH_DATA`` or the default).
    protocol
        Override the suites' own protocol.
    trials
        Train and score every trainable model this many times, with trial ``t``'s seeds
        ``trial_seed(seed, t, adapter name, suite, fold)``; records carry the ``trial`` column.
    num_fewshot
        Few-shot exemplars before each ``multiple_choice`` question (``None``: each task's
        own ``num_fewshot``).
    log_samples
        Keep, per scored ``multiple_choice`` example, the prompt the model saw, each
        continuation and its log-likelihood (``samples.jsonl`` in the run folder).
    device, dtype, apply_chat_template
        Passed to every model factory as keyword options (``device=``, ``dtype=``,
        ``apply_chat_template=``) when set; a factory that does not take one is built
        without it, with an :class:`~bench.errors.IgnoredOptionWarning` (none for
        ``device`` and ``dtype`` of trainable baselines, which ignore them).
    max_new_tokens, stop, temperature, top_p
        Override these decoding settings of every ``generation`` task (``None``: each
        task's own, see :class:`~bench.suites.generation.Decoding`). A task whose decoding
        ``seed`` is 0 (the default) samples with the run's ``seed``.
    domains
        Score only these domains of every suite: domain names or group names (``STEM``),
        see :func:`bench.suites.loader.select_domains`; empty: all.
    timeout_per_batch
        Seconds one model call (one batch of ``batch_size`` examples) may take; a call that
        has not returned by then fails the run with an :class:`~bench.errors.AdapterError`
        naming the model and the batch (``--timeout-per-batch``). The call itself cannot
        be stopped from outside: its thread is abandoned and ends with the process. ``None``
        (default): no limit. A server's requests have their own (``timeout``, ``deadline``).
    """

    suites: tuple[str, ...] = ("toy-reviews",)
    models: tuple[str, ...] = ()
    tasks: tuple[str, ...] = ()
    seed: int = 0
    limit: int | None = None
    batch_size: int | str = DEFAULT_BATCH_SIZE
    data_dir: str | None = None
    protocol: str | None = None
    trials: int = 1
    num_fewshot: int | None = None
    log_samples: bool = False
    device: str | None = None
    dtype: str | None = None
    apply_chat_template: bool = False
    max_new_tokens: int | None = None
    stop: tuple[str, ...] | None = None
    temperature: float | None = None
    top_p: float | None = None
    domains: tuple[str, ...] = ()
    timeout_per_batch: float | None = None

    def __post_init__(self) -> None:
        check_config(self, _RUN_RULES, flags=_RUN_FLAGS)

    @property
    def decoding_overrides(self) -> dict[str, Any]:
        """The decoding settings this run overrides in every generation task (only those set)."""
        values = {"max_new_tokens": self.max_new_tokens, "stop": None if self.stop is None else tuple(self.stop),
                  "temperature": self.temperature, "top_p": self.top_p}
        return {key: value for key, value in values.items() if value is not None}

    @property
    def examples_per_call(self) -> int:
        """Examples per adapter call (and per stored batch): ``batch_size``, or the default under ``"auto"``."""
        return self.batch_size if isinstance(self.batch_size, int) else DEFAULT_BATCH_SIZE

    @property
    def model_options(self) -> dict[str, Any]:
        """The keyword options every model factory gets (only those set)."""
        options: dict[str, Any] = {"device": self.device, "dtype": self.dtype}
        options["apply_chat_template"] = True if self.apply_chat_template else None
        options["batch_size"] = "auto" if self.batch_size == "auto" else None
        return {key: value for key, value in options.items() if value is not None}


@dataclass
class RunResult:
    """What a run produced, before anything is written."""

    run_id: str
    config: RunConfig
    records: pd.DataFrame
    suites: list[Suite]
    task_infos: dict[tuple[str, str], TaskInfo]
    fingerprints: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    batch_sizes: dict[str, dict[str, int]] = field(default_factory=dict)
    """Under ``batch_size="auto"``: per fitted model label, the forward-batch limits it chose."""
    samples: list[dict[str, Any]] = field(default_factory=list)
    """With ``log_samples``: one entry per scored ``multiple_choice`` example (``samples.jsonl``)."""
    generations: list[dict[str, Any]] = field(default_factory=list)
    """One entry per scored ``generation`` example: prompt, answer, references, scores (``generations.jsonl``)."""
    decodings: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The decoding settings each generation task ran with (``"suite/task"`` → settings)."""
    training: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per fitted model label, what a model that says so (``training_record()``) trained:
    modules, rank, learning rate, epochs, batch, steps and losses (``run.json``'s ``training``)."""


@dataclass(frozen=True)
class FitKey:
    """Which fitted model: ``(model, suite, fold, trial)``; ``domain`` is set for an adapted copy."""

    model: str
    suite: str
    fold: str
    trial: int
    domain: str | None = None

    def label(self, trials: int) -> str:
        """``model/suite/fold[/trialT][/adapted=domain]`` (the trial only when ``trials > 1``)."""
        parts = [self.model, self.suite, self.fold]
        parts += [f"trial{self.trial}"] if trials > 1 else []
        parts += [f"adapted={self.domain}"] if self.domain else []
        return "/".join(parts)


OnFitted = Callable[[FitKey, Adapter], None]
"""Called with every model right after it is trained (e.g. to save its weights)."""


class RecordSink(Protocol):
    """Where the runner writes each scored batch (see :mod:`bench.store`).

    ``done(unit)``: committed already (resume); ``wrap(adapter)``: the adapter to score
    with (e.g. through the output cache); ``score(units, fn)``: score each unit with
    ``fn(unit) -> frame`` and commit it before the next (a distributed sink shards
    them over ranks); ``frame(unit)``: a committed batch's frame; ``restore(key)``: a
    saved trained model to reuse, or ``None``; ``checkpoint(key)``: the file a long
    training checkpoints to and resumes from, or ``None``; ``facts(section, values)``: run facts.
    """

    def done(self, unit: str) -> bool: ...
    def wrap(self, adapter: Adapter) -> Adapter: ...
    def score(self, units: Sequence[str], fn: Callable[[str], pd.DataFrame]) -> None: ...
    def frame(self, unit: str) -> pd.DataFrame: ...
    def restore(self, key: FitKey) -> Adapter | None: ...
    def checkpoint(self, key: FitKey) -> Path | None: ...
    def facts(self, section: str, values: dict[str, Any]) -> None: ...


def make_run_id(config: RunConfig, now: datetime | None = None) -> str:
    """``<UTC time>-<8 hex of the config hash>``, e.g. ``20261129T210501Z-3fa2c9d1``."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    digest = hashlib.sha256(json.dumps(asdict(config), sort_keys=True, default=str).encode()).hexdigest()
    return f"{stamp}-{digest[:8]}"


def run(config: RunConfig, *, progress: Progress | None = None, run_id: str | None = None,
        on_fitted: OnFitted | None = None, sink: RecordSink | None = None) -> RunResult:
    """Train and score every model on every suite per the protocol; return the records.

    Model groups (``all-baselines``) are expanded; a group member that cannot be built
    (a missing optional package) or supports none of a suite's tasks is skipped and
    named in ``RunResult.skipped``.

    Raises
    ------
    UnknownNameError, SuiteError, DataError
        For unknown or invalid suites and models, before any model is trained.
    CapabilityError
        If a model supports none of a suite's (selected) tasks.
    AdapterError
        If a model returns an invalid output (naming the model and the batch).

    Each scored batch goes to ``sink`` (default: kept in memory) before the next is
    scored; batches the sink holds already are not scored again, and a fold whose
    batches are all there is not trained again.
    """
    context = RunContext(config, progress or _silent, sink or MemorySink(), on_fitted)
    loaded = [_load(ref, config) for ref in config.suites]
    requests = {data.suite.name: _choice_requests(data, config) for data in loaded}
    plans = {data.suite.name: _suite_models(data.suite, config) for data in loaded}
    models = _checked_models(plans, config, {data.suite.name: data.suite for data in loaded}, context.progress)
    parts = [Outcome(skipped=models.skipped)]
    parts += [_run_suite(context, data, models, requests[data.suite.name]) for data in loaded]
    return _result(run_id or make_run_id(config), config, [data.suite for data in loaded], Outcome.merge(parts))


@dataclass(frozen=True)
class RunContext:
    """What every step of one run shares: its config, the progress callback, the sink
    (store, output cache, resume) and the hook called with every trained model."""

    config: RunConfig
    progress: Progress
    sink: RecordSink
    on_fitted: OnFitted | None = None


@dataclass(frozen=True, eq=False)
class Outcome:
    """What one step of a run produced (a test domain, a fold, a suite), returned to its
    caller, which merges the steps in order (:meth:`merge`); the run's merged outcome
    becomes its :class:`RunResult`.

    ``chunks`` are record frames (one per model, fold, task and test domain); the other
    fields are those of :class:`RunResult`.
    """

    chunks: tuple[pd.DataFrame, ...] = ()
    skipped: tuple[str, ...] = ()
    timings: Mapping[str, float] = field(default_factory=dict)
    fingerprints: Mapping[str, str] = field(default_factory=dict)
    training: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    batch_sizes: Mapping[str, dict[str, int]] = field(default_factory=dict)
    samples: tuple[dict[str, Any], ...] = ()
    generations: tuple[dict[str, Any], ...] = ()

    @classmethod
    def merge(cls, parts: Iterable[Outcome]) -> Outcome:
        """The outcomes one after the other: sequences concatenated, mappings updated in
        order, and each skip note kept once (a note repeats once per fold and trial)."""
        parts = list(parts)
        merged: dict[str, Any] = {}
        for item in fields(cls):
            values = [getattr(part, item.name) for part in parts]
            if isinstance(item.default, tuple):
                merged[item.name] = tuple(chain.from_iterable(values))
            else:
                merged[item.name] = {key: value for mapping in values for key, value in mapping.items()}
        merged["skipped"] = tuple(dict.fromkeys(merged["skipped"]))
        return cls(**merged)


def _result(run_id: str, config: RunConfig, suites: list[Suite], outcome: Outcome) -> RunResult:
    """The :class:`RunResult` of a run's merged outcome: records with their ``run_id``, the
    suites' task infos and the decoding settings of their generation tasks."""
    records = pd.concat(outcome.chunks, ignore_index=True) if outcome.chunks else pd.DataFrame()
    records.insert(0, "run_id", run_id)
    infos = {(suite.name, task.name): _task_info(suite, task) for suite in suites for task in suite.tasks}
    return RunResult(run_id, config, records, suites, infos, fingerprints=dict(outcome.fingerprints),
                     timings=dict(outcome.timings), skipped=list(outcome.skipped),
                     batch_sizes=dict(outcome.batch_sizes), samples=list(outcome.samples),
                     generations=list(outcome.generations), training=dict(outcome.training),
                     decodings={f"{suite.name}/{t.name}": asdict(t.decoding) for suite in suites
                                for t in suite.tasks if kind_of(t).generates_text})


def _task_info(suite: Suite, task: Task) -> TaskInfo:
    return task_info(suite, task)


AnyRequest = ChoiceRequest | GenerationRequest
Requests = dict[str, dict[str, AnyRequest]]
"""Per ``multiple_choice`` or ``generation`` task name: example id → its request."""


def _wanted(suite: Suite, config: RunConfig) -> list[Task]:
    """The tasks a run asks for: those named (``--task``), else every task with ``default``."""
    return [suite.task(n) for n in config.tasks] if config.tasks else [t for t in suite.tasks if t.default]


_BUILD: dict[ModelInput, Callable[..., Mapping[str, Sequence[AnyRequest]]]] = {
    ModelInput.CHOICE_REQUESTS: build_requests, ModelInput.GENERATION_REQUESTS: build_generation_requests}
"""The request builder of each model input that is rendered into prompts (the task kinds'
:attr:`~bench.suites.kinds.TaskKind.model_input`)."""


def _choice_requests(data: SuiteData, config: RunConfig) -> Requests:
    """The rendered request of every test example (within ``limit``) of each
    ``multiple_choice`` and ``generation`` task: options, references, templates and
    few-shot pools are checked here, before any model runs."""
    out: Requests = {}
    for task in _wanted(data.suite, config):
        if (builder := _BUILD.get(kind_of(task).model_input)) is None:
            continue
        tests = {d: _scored(data.domains[d].test, task, config) for d in data.suite.domains}
        built = builder(data, task, tests, num_fewshot=config.num_fewshot, seed=config.seed)
        out[task.name] = {r.example_id: r for domain_requests in built.values() for r in domain_requests}
    return out


def training_requests(data: SuiteData, config: RunConfig, task: Task,
                      examples: Sequence[Example]) -> list[AnyRequest]:
    """The requests of training ``examples`` of a ``multiple_choice`` or ``generation``
    task, in their order, rendered as the test examples' are (:func:`_choice_requests`):
    the same templates, ``num_fewshot`` and seed, each with the exemplars of its own domain.
    A fine-tune trains on the prompts it is scored on (``render_training_with``)."""
    by_domain: dict[str, list[Example]] = {}
    for example in examples:
        by_domain.setdefault(example.domain, []).append(example)
    build = _BUILD[kind_of(task).model_input]
    built = {d: iter(r) for d, r in build(data, task, by_domain, num_fewshot=config.num_fewshot, seed=config.seed).items()}
    return [next(built[example.domain]) for example in examples]


def _scored(examples: Sequence[Example], task: Task, config: RunConfig) -> list[Example]:
    """The examples of one domain's test split that a task scores, within ``limit``:
    those with a target (all, for language modelling and generation, whose references
    are checked when their requests are built), in source order."""
    if kind_of(task).has_target:
        examples = [ex for ex in examples if task.name in ex.targets]
    return list(examples[: config.limit] if config.limit else examples)


def _load(ref: str, config: RunConfig) -> SuiteData:
    suite = load_suite(ref)
    _check_suite_models(suite)
    for name in config.tasks:
        suite.task(name)  # raises with the list of the suite's tasks
    suite = replace(suite, tasks=tuple(_decoded(task, config) for task in suite.tasks))
    chosen = select_domains(suite, config.domains, config.protocol)  # before the data: a typo fails fast
    data = load_suite_data(suite, data_dir=config.data_dir)
    return data if chosen is suite else SuiteData(chosen, {d: data.domains[d] for d in chosen.domains})


def _check_suite_models(suite: Suite) -> None:
    """Raise if ``[suite] models`` names a model that is neither registered, a group, a
    ``module:factory`` nor a folder (checked whether or not the run names its own models)."""
    from pathlib import Path

    from bench.adapters import MODEL_GROUPS, MODELS

    for spec in suite.models:
        body = spec.partition("?")[0]
        name = body.partition(":")[0]
        if body in MODEL_GROUPS or name in MODELS or ":" in body or Path(body).is_dir():
            continue
        try:
            MODELS.canonical(name)
        except UnknownNameError as exc:
            raise UnknownNameError(f"Suite {suite.name!r}, 'suite.models': {exc} Fix the name in the suite file.") from None


def _decoded(task: Task, config: RunConfig) -> Task:
    """``task`` with the run's decoding overrides (generation tasks; others unchanged).
    When sampling, a decoding seed of 0 (the default) becomes the run seed."""
    if not kind_of(task).generates_text:
        return task
    decoding = replace(task.decoding, **config.decoding_overrides)
    if not decoding.greedy and decoding.seed == 0:
        decoding = replace(decoding, seed=config.seed)
    return replace(task, decoding=decoding)


def _supports_any(adapter: Adapter, suite: Suite, config: RunConfig) -> bool:
    return any(adapter.supports(t) for t in _wanted(suite, config))


def _suite_models(suite: Suite, config: RunConfig) -> dict[str, bool]:
    """``{model: optional}`` for ``suite``: the models named in the config, groups expanded,
    or else the suite's own default models (``[suite] models``, or :data:`BASELINES`).
    An optional model (a group member or a default) is skipped where it cannot serve."""
    if config.models:
        return dict(expand_models(config.models))
    return {name: True for name, _ in expand_models(suite.models or BASELINES)}


@dataclass(frozen=True)
class Models:
    """A run's models, checked: per suite the models planned (``{model: optional}``), a
    factory per model that could be built, the ``(model, suite)`` pairs where a model
    supports none of the suite's tasks, and the notes of the optional models skipped."""

    plans: dict[str, dict[str, bool]]
    makers: dict[str, Callable[[], Adapter]]
    idle: set[tuple[str, str]]
    skipped: tuple[str, ...]

    @property
    def optional(self) -> set[str]:
        """The models that some suite runs only where they can serve (group members, defaults)."""
        return {name for plan in self.plans.values() for name, optional in plan.items() if optional}


def _checked_models(plans: dict[str, dict[str, bool]], config: RunConfig, suites: Mapping[str, Suite],
                    progress: Progress = _silent) -> Models:
    """A factory per model of ``plans`` (suite → {model: optional}), each built once here to
    fail fast on unknown names and options (an optional model that cannot be built is
    skipped; each build is a ``loading model NAME`` step of ``progress``), and the
    ``(model, suite)`` pairs where that model supports none of the tasks.

    The model built here is dropped before the next is built (not kept for the run: a run of
    several large models would then hold them all at once)."""
    makers: dict[str, Callable[[], Adapter]] = {}
    idle: set[tuple[str, str]] = set()
    skipped: list[str] = []
    options = config.model_options
    for name in dict.fromkeys(name for plan in plans.values() for name in plan):
        from_group = all(plan.get(name, True) for plan in plans.values())
        try:
            with progress(1, f"loading model {redact_spec(name)}") as loaded:  # a language model loads for minutes
                adapter = make_model(name, options=options)  # fail fast on unknown names, before any training
                loaded(1)
        except CapabilityError as exc:
            if not from_group:
                raise
            skipped.append(f"{name}: {exc}")
            continue
        idle |= {(name, suite) for suite, plan in plans.items()
                 if name in plan and not _supports_any(adapter, suites[suite], config)}
        del adapter
        makers[name] = lambda name=name: make_model(name, options=options, note_ignored=False)  # type: ignore[misc]
    return Models(plans, makers, idle, tuple(skipped))


@dataclass(frozen=True)
class FoldContext:
    """What the steps of one model × fold × trial share: the run's context, the suite and
    its data, the fold, which fitted model (``key``, its model name without URL secrets) and
    the suite's rendered requests (task name → example id → request)."""

    run: RunContext
    data: SuiteData
    fold: Fold
    key: FitKey
    requests: Requests

    @property
    def config(self) -> RunConfig:
        return self.run.config

    @property
    def suite(self) -> Suite:
        return self.data.suite

    @property
    def label(self) -> str:
        """The fitted model's label in timings, fingerprints and ``run.json`` (:meth:`FitKey.label`)."""
        return self.key.label(self.run.config.trials)


def _run_suite(context: RunContext, data: SuiteData, models: Models, requests: Requests) -> Outcome:
    """Every model of the suite's plan, each trial and fold in turn (a fresh model per fold)."""
    suite = data.suite
    folds = plan_folds(data, context.config.protocol)
    parts: list[Outcome] = []
    for name in models.plans[suite.name]:
        if name not in models.makers:
            continue
        if name in models.optional and (name, suite.name) in models.idle:
            parts.append(Outcome(skipped=(f"{name} on {suite.name}: supports none of its tasks",)))
            continue
        for trial in range(context.config.trials):
            key = FitKey(redact_spec(name), suite.name, "", trial)  # records, timings carry no URL secrets
            parts += [_run_fold(FoldContext(context, data, fold, replace(key, fold=fold.name), requests),
                                models.makers[name]) for fold in folds]
    return Outcome.merge(parts)


def _selected_tasks(adapter: Adapter, suite: Suite, config: RunConfig) -> tuple[list[Task], tuple[str, ...]]:
    """The tasks ``adapter`` scores of those the run wants, and a note per task it skips."""
    wanted = _wanted(suite, config)
    for task in wanted:
        if config.tasks and not adapter.supports(task):
            raise CapabilityError(
                f"Model {adapter.name!r} cannot score {task.kind} task {task.name!r} of suite {suite.name!r}; "
                f"it supports: {', '.join(sorted(adapter.task_kinds))}.")
    chosen = [t for t in wanted if adapter.supports(t)]
    if not chosen:
        kinds = ", ".join(sorted({t.kind for t in wanted}))
        raise CapabilityError(
            f"Model {adapter.name!r} supports none of the tasks of suite {suite.name!r} ({kinds}); "
            f"it supports: {', '.join(sorted(adapter.task_kinds)) or 'none'}.")
    notes = tuple(f"{adapter.name} on {suite.name}/{t.name}: {t.kind} not supported" for t in wanted if t not in chosen)
    return chosen, notes


def _run_fold(ctx: FoldContext, factory: Callable[[], Adapter]) -> Outcome:
    """Train a fresh model on the fold (unless the sink holds all its batches) and score it."""
    adapter = factory()
    tasks, skipped = _selected_tasks(adapter, ctx.suite, ctx.config)
    _check_test_examples(ctx.suite, tasks, ctx.fold, ctx.config)
    by_domain: dict[str, Adapter] = dict.fromkeys(ctx.fold.test, adapter)  # untrained: renders prompts only
    trained = Outcome()
    if not all(ctx.run.sink.done(u) for task in tasks for u in _fold_units(ctx.key, task, ctx.fold, ctx.config)):
        adapter, by_domain, trained = _train(ctx, adapter, tasks)
    started = time.perf_counter()
    scored = Outcome.merge([_score_fold(ctx, by_domain, task) for task in tasks])
    timings = {f"score/{ctx.label}": time.perf_counter() - started}
    chosen = getattr(adapter, "chosen_batch_size", None)
    sizes = {ctx.label: dict(chosen)} if ctx.config.batch_size == "auto" and chosen else {}
    return Outcome.merge([Outcome(skipped=skipped), trained, scored, Outcome(timings=timings, batch_sizes=sizes)])


def _train(ctx: FoldContext, adapter: Adapter, tasks: list[Task]) -> tuple[Adapter, dict[str, Adapter], Outcome]:
    """The model trained on the fold (or restored from the sink), the model that scores each
    test domain (:func:`_adapt`), and the timings, fingerprints and training facts."""
    config, sink = ctx.config, ctx.run.sink
    seed = trial_seed(config.seed, ctx.key.trial, adapter.name, ctx.suite.name, ctx.fold.name)  # a saved model keeps its seeds
    restored = sink.restore(ctx.key) if adapter.trainable else None
    if restored is not None:  # resuming: the model trained before the interruption
        adapter = restored
        sink.facts("restored", {ctx.label: True})
    elif adapter.trainable and callable(checkpoint_to := getattr(adapter, "checkpoint_to", None)):
        checkpoint_to(sink.checkpoint(ctx.key))  # a long training resumes from its last checkpoint
    if adapter.trainable and callable(render := getattr(adapter, "render_training_with", None)):
        render(functools.partial(training_requests, ctx.data, config))  # trains on the prompts it is scored on
    with ctx.run.progress(1, f"training {ctx.key.model} · {ctx.suite.name}/{ctx.fold.name}") as advance:
        fit_tasks, fitted = _fit(ctx, adapter, tasks, seed)
        advance(1)
    kill_point("fit")
    if adapter.trainable and ctx.run.on_fitted:
        ctx.run.on_fitted(ctx.key, adapter)
    by_domain, adapted = _adapt(ctx, adapter, fit_tasks, seed)
    outcome = Outcome.merge([fitted, adapted])
    sink.facts("fingerprints", dict(outcome.fingerprints))  # the store merges them with the other folds'
    return adapter, by_domain, outcome


def _fit(ctx: FoldContext, adapter: Adapter, tasks: list[Task], seed: int) -> tuple[list[Task], Outcome]:
    """Train ``adapter`` on the fold (if trainable); the tasks it was trained for, and its
    training time, fingerprint and training record. An adapter with
    ``report_progress(progress)`` is given the run's progress callback first."""
    fit_tasks = [t for t in ctx.suite.tasks if adapter.supports(t)] if adapter.trains_all_tasks else tasks
    started = time.perf_counter()
    if adapter.trainable:
        if not ctx.fold.train:
            raise CapabilityError(
                f"Model {ctx.key.model!r} must be trained, but protocol {ctx.fold.name!r} of suite "
                f"{ctx.suite.name!r} has no training data. Use a pretrained model or another protocol.")
        if callable(report := getattr(adapter, "report_progress", None)):  # a long training shows its steps
            report(ctx.run.progress)
        adapter.fit(ctx.fold.train, fit_tasks, seed=seed)
    timings = {f"fit/{ctx.label}": time.perf_counter() - started}
    fingerprints = {ctx.label: adapter.fingerprint()}
    training = {ctx.label: record()} if callable(record := getattr(adapter, "training_record", None)) else {}
    return fit_tasks, Outcome(timings=timings, fingerprints=fingerprints, training=training)


def _adapt(ctx: FoldContext, adapter: Adapter, tasks: list[Task], seed: int) -> tuple[dict[str, Adapter], Outcome]:
    """The model that scores each test domain (an adapted copy where the fold offers a pool),
    and each adaptation's time and fingerprint."""
    by_domain = {domain: adapter for domain in ctx.fold.test}
    if not adapter.adaptable:
        return by_domain, Outcome()
    timings: dict[str, float] = {}
    fingerprints: dict[str, str] = {}
    for domain, pool in ctx.fold.adapt.items():
        started = time.perf_counter()
        # the pool is the domain's train split: fold.adapt never holds a test example
        by_domain[domain] = adapter.adapted(pool, tasks, seed=trial_seed(seed, 0, "adapt", domain))
        label = replace(ctx.key, domain=domain).label(ctx.config.trials)
        timings[f"adapt/{label}"] = time.perf_counter() - started
        fingerprints[label] = by_domain[domain].fingerprint()
    return by_domain, Outcome(timings=timings, fingerprints=fingerprints)


def _unit(key: FitKey, task: Task, domain: str, start: int) -> str:
    """The store's name of one batch: model, suite, trial, fold, task, domain, first example."""
    return json.dumps([key.model, key.suite, key.trial, key.fold, task.name, domain, start])


def _fold_units(key: FitKey, task: Task, fold: Fold, config: RunConfig) -> list[str]:
    return [_unit(key, task, domain, start) for domain, examples in fold.test.items()
            for start in range(0, len(_scored(examples, task, config)), config.examples_per_call)]


@dataclass(frozen=True)
class DomainBatches:
    """One task's scoring work on one test domain of a fold: the examples scored, the
    store's batch units (unit → first example), and what :func:`score_examples` needs
    besides the examples: the task's rendered requests (example id → request) and the
    suite's largest option count."""

    task: Task
    domain: str
    examples: Sequence[Example]
    units: dict[str, int]
    requests: Mapping[str, AnyRequest] = field(default_factory=dict)
    n_options: int = 0


def _score_fold(ctx: FoldContext, by_domain: Mapping[str, Adapter], task: Task) -> Outcome:
    """Score ``task`` on every test domain of the fold, each with its own model."""
    requests = ctx.requests.get(task.name, {})
    n_options = max((len(r.continuations) for r in requests.values() if isinstance(r, ChoiceRequest)), default=0)
    parts = []
    for domain, all_examples in ctx.fold.test.items():
        examples = _scored(all_examples, task, ctx.config)
        starts = range(0, len(examples), ctx.config.examples_per_call)
        units = {_unit(ctx.key, task, domain, start): start for start in starts}
        work = DomainBatches(task, domain, examples, units, requests=requests, n_options=n_options)
        parts.append(_score_test_domain(ctx, by_domain[domain], work))
    return Outcome.merge(parts)


def _score_test_domain(ctx: FoldContext, adapter: Adapter, work: DomainBatches) -> Outcome:
    """One domain's labelled records of one task, and its samples or generations."""
    task = work.task
    description = f"{ctx.key.model} · {ctx.suite.name}/{task.name} · {work.domain}"
    with ctx.run.progress(len(work.examples), description) as advance:
        frame = _score_domain(ctx, adapter, work, advance)
    samples: list[dict[str, Any]] = []
    generations: list[dict[str, Any]] = []
    kind = kind_of(task)
    if ctx.config.log_samples and kind.scores_options:
        samples = _samples(ctx, adapter, work, frame)
    if kind.generates_text:
        generations = _generations(ctx, adapter, work, frame)
        frame = frame.drop(columns=[GENERATION_COLUMN, TRUNCATED_COLUMN], errors="ignore")
    return Outcome(chunks=(_labelled(ctx, task, work.domain, frame),), samples=tuple(samples),
                   generations=tuple(generations))


def _labelled(ctx: FoldContext, task: Task, domain: str, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the columns that say where its records come from (``frame`` changed)."""
    for position, (column, value) in enumerate({"model": ctx.key.model, "suite": ctx.suite.name, "task": task.name,
                                                "domain": domain, "split": "test"}.items()):
        frame.insert(position, column, value)
    frame["fold"] = ctx.fold.name
    frame["train_domains"] = "+".join(ctx.fold.train_domains)
    frame["trial"] = ctx.key.trial
    return frame


def _score_domain(ctx: FoldContext, adapter: Adapter, work: DomainBatches,
                  advance: Callable[[int], None]) -> pd.DataFrame:
    """Score the batches (``work.units``: unit → first example) the sink lacks; the domain's records."""
    config, sink, units = ctx.config, ctx.run.sink, work.units
    where = f"{ctx.suite.name}/{work.task.name}/{work.domain}"
    missing = [u for u in units if not sink.done(u)]
    advance(sum(min(config.examples_per_call, len(work.examples) - units[u]) for u in units if u not in missing))
    if missing:
        scorer = sink.wrap(adapter)

        def score(unit: str) -> pd.DataFrame:
            start = units[unit]
            with np.errstate(over="ignore"):  # an overflow is reported by _check_finite
                frame = score_examples(scorer, work.task, work.examples[start : start + config.examples_per_call],
                                       batch_size=config.examples_per_call, where=where, advance=advance, offset=start,
                                       requests=work.requests, n_options=work.n_options,
                                       timeout=config.timeout_per_batch)
            _check_finite(frame, f"model {adapter.name!r}, {where}, examples {start}-{start + len(frame) - 1}")
            return frame

        sink.score(missing, score)
    if not units:
        return pd.DataFrame(columns=["example_id", "target", "prediction", "correct", "nll"])
    return pd.concat([sink.frame(u) for u in units], ignore_index=True)


def _check_test_examples(suite: Suite, tasks: Sequence[Task], fold: Fold, config: RunConfig) -> None:
    """Raise before any training if a task has no test example in any domain of the fold, or
    none in any of its out-of-domain domains (every gap would be empty)."""
    home = set(fold.train_domains or suite.in_domain)
    for task in tasks:
        if not any(len(_scored(examples, task, config)) for examples in fold.test.values()):
            sizes = ", ".join(f"{d}: {len(ex)}" for d, ex in fold.test.items())
            raise DataError(
                f"Suite {suite.name!r}, fold {fold.name!r}: task {task.name!r} has no test examples in any domain "
                f"(test split sizes {sizes}); give the suite more examples per domain or a larger test fraction.")
        away = [d for d in fold.test if d not in home]
        if away and not any(_scored(fold.test[d], task, config) for d in away):
            raise DataError(
                f"Suite {suite.name!r}, fold {fold.name!r}: task {task.name!r} has no test example with a target in "
                f"its out-of-domain domain(s) {', '.join(away[:10])}; give those rows targets, or leave the task out "
                "of the suite.")


def _check_finite(frame: pd.DataFrame, label: str) -> None:
    """Reject records with ±inf (e.g. the squared error of a prediction of 1e308)."""
    for column in frame.columns:
        values = frame[column]
        if values.dtype.kind == "f" and np.isinf(values.to_numpy()).any():
            row = int(np.flatnonzero(np.isinf(values.to_numpy()))[0])
            raise AdapterError(f"{label}: record column {column!r} is infinite for example "
                               f"{frame['example_id'].iloc[row]!r} (prediction {float(frame['prediction'].iloc[row]):g}); "
                               "the model's output is out of range.")


def score_examples(adapter: Adapter, task: Task, examples: Sequence[Example], *, batch_size: int = 64,
                   where: str = "", advance: Callable[[int], None] = lambda n: None,
                   requests: Mapping[str, AnyRequest] | None = None, n_options: int = 0,
                   offset: int = 0, timeout: float | None = None) -> pd.DataFrame:
    """Score ``examples`` on ``task`` in batches; validated per-example record columns.

    ``offset``: the position of ``examples[0]`` in its domain, for error messages;
    ``timeout``: seconds each model call may take (see ``RunConfig.timeout_per_batch``).
    The task's kind (:func:`~bench.suites.kinds.kind_of`) names the adapter method, what
    it is given (the examples, or their rendered ``requests``: example id → request) and
    the record builder of its record shape (:data:`RECORD_BUILDERS`).

    Columns: ``example_id, target, prediction, correct, nll`` plus ``prob_<choice>``
    (classification), ``n_tokens, n_bytes`` (language modelling), or for
    ``multiple_choice`` ``n_options``, ``logprob_k``, ``chars_k`` and ``bytes_k`` for
    ``k < n_options`` (NaN beyond an example's own options; see :func:`_choice_records`),
    or for ``generation`` the columns of :func:`_generation_records`, the answer text in
    ``generation`` included.
    """
    kind = kind_of(task)
    build = RECORD_BUILDERS[kind.record_shape]
    parts: list[dict[str, np.ndarray]] = []
    for start in range(0, len(examples), batch_size):
        batch = examples[start : start + batch_size]
        label = f"model {adapter.name!r}, {where}, examples {offset + start}-{offset + start + len(batch) - 1}"
        inputs: Sequence[Any] = [(requests or {})[ex.id] for ex in batch] if kind.prompted else batch
        output = _call(getattr(adapter, kind.method), inputs, task, label=label, timeout=timeout)
        parts.append(build(ScoredBatch(adapter, task, batch, inputs, label, n_options=max(n_options, 2)), output))
        advance(len(batch))
    if not parts:
        return pd.DataFrame(columns=["example_id", "target", "prediction", "correct", "nll"])
    frame = pd.DataFrame({name: np.concatenate([part[name] for part in parts]) for name in parts[0]})
    _check_finite(frame, f"model {adapter.name!r}, {where}, examples {offset}-{offset + len(frame) - 1}")
    return frame


def _call(method: Callable[..., Any], inputs: Sequence[Any], task: Task, *, label: str,
          timeout: float | None) -> Any:
    """``method(inputs, task)`` (within ``timeout`` s, if set); a model's own exception
    becomes an :class:`AdapterError` naming the model, the batch and the method."""
    try:
        return method(inputs, task) if timeout is None else _within(timeout, method, inputs, task, label)
    except BenchError:
        raise
    except Exception as exc:
        raise AdapterError(f"{label}: {kind_of(task).method} raised {type(exc).__name__}: {exc}") from exc


def _within(timeout: float, method: Callable[..., Any], inputs: Any, task: Task, label: str) -> Any:
    """``method(inputs, task)`` on a daemon thread, or an :class:`AdapterError` after ``timeout`` s
    (the thread is abandoned: Python cannot stop it)."""
    import threading

    box: dict[str, Any] = {}

    def call() -> None:
        try:
            box["output"] = method(inputs, task)
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc

    worker = threading.Thread(target=call, name=f"xdbench batch {label}", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise AdapterError(f"{label}: {kind_of(task).method} did not return within --timeout-per-batch "
                           f"{timeout:g} s; the model hangs or the batch is too large (lower --batch-size or raise "
                           "the limit).")
    if "error" in box:
        raise box["error"]
    return box["output"]


@dataclass(frozen=True)
class ScoredBatch:
    """One batch a model scored: what a record builder needs besides the model's output.

    Attributes
    ----------
    adapter, task
        The model and the task.
    examples
        The batch's examples.
    inputs
        What the adapter method was given (the kind's ``model_input``): the examples, or
        their rendered requests.
    where
        The batch's label in error messages (model, suite/task/domain, example range).
    n_options
        Option columns (``logprob_k`` …) of an option-scoring batch: the suite's largest
        option count, at least 2.
    """

    adapter: Adapter
    task: Task
    examples: Sequence[Example]
    inputs: Sequence[Any]
    where: str
    n_options: int = 2


RecordBuilder = Callable[[ScoredBatch, Any], dict[str, np.ndarray]]
"""``build(batch, output)``: validated record columns (one array per column, one row per
example) from a model's ``output`` for ``batch``."""


def _label_records(batch: ScoredBatch, output: Any) -> dict[str, np.ndarray]:
    """Record columns from log-probabilities of the task's labels: ``prob_<choice>`` besides
    the common columns; ``nll = −ln p(target)``."""
    task, examples = batch.task, batch.examples
    n = len(examples)
    log_p = check_log_probs(output, n, len(task.choices), batch.where)
    target = np.array([int(ex.targets[task.name]) for ex in examples])
    prediction = log_p.argmax(axis=1)
    columns: dict[str, Any] = {"example_id": np.array([ex.id for ex in examples], dtype=object), "target": target,
                               "prediction": prediction, "correct": (prediction == target).astype(np.int64),
                               "nll": -log_p[np.arange(n), target]}
    columns |= {f"prob_{c}": np.exp(log_p[:, k]) for k, c in enumerate(task.choices)}
    return columns


def _value_records(batch: ScoredBatch, output: Any) -> dict[str, np.ndarray]:
    """Record columns from predicted values: ``nll`` is the squared error, ``correct`` NaN."""
    task, examples = batch.task, batch.examples
    n = len(examples)
    values = check_values(output, n, batch.where)
    target = np.array([float(ex.targets[task.name]) for ex in examples])
    with np.errstate(over="ignore"):  # an overflow (inf) is reported by _check_finite
        squared = (values - target) ** 2
    return {"example_id": np.array([ex.id for ex in examples], dtype=object), "target": target,
            "prediction": values, "correct": np.full(n, np.nan), "nll": squared}


def _token_records(batch: ScoredBatch, output: Any) -> dict[str, np.ndarray]:
    """Record columns from each text's summed NLL (nats) and token count: ``n_tokens`` and
    ``n_bytes`` (UTF-8) besides the common columns, whose target, prediction and correct are NaN."""
    examples = batch.examples
    n = len(examples)
    nll, tokens = check_nll(output, n, batch.where)
    n_bytes = np.array([len(ex.text.encode("utf-8")) for ex in examples])
    missing = np.full(n, np.nan)
    return {"example_id": np.array([ex.id for ex in examples], dtype=object), "target": missing,
            "prediction": missing, "correct": missing, "nll": nll, "n_tokens": tokens.astype(np.int64),
            "n_bytes": n_bytes}


def _choice_records(batch: ScoredBatch, output: Any) -> dict[str, np.ndarray]:
    """Record columns of an option-scoring (``multiple_choice``) batch.

    ``logprob_k`` is the raw summed log-likelihood of continuation ``k`` (nats, not
    normalised), ``chars_k`` / ``bytes_k`` its length in characters / UTF-8 bytes without
    the target delimiter (lm-eval's ``acc_norm`` / ``acc_bytes`` denominators); all NaN for
    ``k ≥ n_options``. ``prediction = argmax_k logprob_k``; ``nll = −ln softmax(logprob)[target]``.
    """
    requests: Sequence[ChoiceRequest] = batch.inputs
    sizes = [len(r.continuations) for r in requests]
    ids = [ex.id for ex in batch.examples]
    arrays = check_loglikelihoods(output, sizes, ids, batch.where)
    n, n_max = len(ids), batch.n_options
    logprob, chars, size = (np.full((n, n_max), np.nan) for _ in range(3))
    for i, (array, request) in enumerate(zip(arrays, requests, strict=True)):
        logprob[i, : len(array)] = array
        chars[i, : len(array)] = [len(c) for c in request.continuations]
        size[i, : len(array)] = [len(c.encode("utf-8")) for c in request.continuations]
    target = np.array([int(ex.targets[batch.task.name]) for ex in batch.examples])
    prediction = np.array([int(np.argmax(a)) for a in arrays])
    log_norm = np.array([float(logsumexp(a)) for a in arrays])
    columns: dict[str, Any] = {"example_id": np.array(ids, dtype=object), "target": target,
                               "prediction": prediction, "correct": (prediction == target).astype(np.int64),
                               "nll": log_norm - logprob[np.arange(n), target],
                               "n_options": np.array(sizes, dtype=np.int64)}
    columns |= {f"logprob_{k}": logprob[:, k] for k in range(n_max)}
    columns |= {f"chars_{k}": chars[:, k] for k in range(n_max)}
    columns |= {f"bytes_{k}": size[:, k] for k in range(n_max)}
    return columns


def _samples(ctx: FoldContext, adapter: Adapter, work: DomainBatches, frame: pd.DataFrame) -> list[dict[str, Any]]:
    """One ``samples.jsonl`` entry per row of ``frame`` (a domain's scored records)."""
    out = []
    for row in frame.itertuples(index=False):
        request = work.requests[row.example_id]
        assert isinstance(request, ChoiceRequest)
        k = len(request.continuations)
        out.append({"model": ctx.key.model, "suite": ctx.suite.name, "task": work.task.name, "domain": work.domain,
                    "example_id": row.example_id,
                    "prompt": adapter.rendered_prompt(request.prompt),
                    "continuations": list(adapter.rendered_continuations(request)),
                    "loglikelihoods": [float(getattr(row, f"logprob_{j}")) for j in range(k)],
                    "target": int(row.target), "prediction": int(row.prediction)})
    return out


GENERATION_COLUMN = "generation"
TRUNCATED_COLUMN = "generation_truncated"
"""Whether a generated answer was cut at :func:`~bench.adapters.validate.generation_cap`
(kept for ``generations.jsonl``, not in ``records.csv.gz``)."""
"""The batch-frame column holding each answer's text; it goes to ``generations.jsonl``, not
to ``records.csv.gz``."""


_REFERENCE_KIND = next(kind for kind in TASK_KIND.values() if kind.model_input is ModelInput.CHOICE_REQUESTS)
"""The kind whose adapter method scores given continuations after a prompt (``loglikelihood``);
it scores a generation task's first reference."""


def _reference_nll(adapter: Adapter, task: Task, requests: Sequence[GenerationRequest],
                   where: str) -> tuple[np.ndarray, np.ndarray]:
    """Per request, the NLL (nats) of its first reference after its prompt and the UTF-8
    bytes of the scored string (target delimiter + reference); NaN NLL where the adapter
    has no ``loglikelihood``."""
    scored = [r.prompt.target_delimiter + r.references[0] for r in requests]
    n_bytes = np.array([len(text.encode("utf-8")) for text in scored], dtype=np.float64)
    if _REFERENCE_KIND.name not in getattr(adapter, "task_kinds", ()):
        return np.full(len(requests), np.nan), n_bytes
    choice = [ChoiceRequest(r.example_id, r.prompt, (r.references[0],)) for r in requests]
    try:
        output = adapter.loglikelihood(choice, replace(task, kind=_REFERENCE_KIND.name))
    except BenchError:
        raise
    except Exception as exc:
        raise AdapterError(f"{where}: loglikelihood of the references raised {type(exc).__name__}: {exc}") from exc
    arrays = check_loglikelihoods(output, [1] * len(choice), [r.example_id for r in requests], where)
    return np.array([-float(a[0]) for a in arrays]), n_bytes


def _generation_records(batch: ScoredBatch, output: Any) -> dict[str, np.ndarray]:
    """Record columns of a ``generation`` batch.

    ``correct`` is the exact match and ``f1`` the token F1 (both max over the references,
    after the task's ``answer_normalization``), ``nll`` the first reference's NLL (nats;
    NaN without ``loglikelihood``) over ``ref_bytes`` UTF-8 bytes, ``bleu_stat_k`` and
    ``chrf_stat_k`` sacrebleu's per-example statistics (:mod:`bench.textscores`);
    ``target`` and ``prediction`` are NaN.
    """
    adapter, task, where = batch.adapter, batch.task, batch.where
    requests: Sequence[GenerationRequest] = batch.inputs
    ids = [r.example_id for r in requests]
    cap = generation_cap(task.decoding.max_new_tokens)
    answers = check_generations(output, ids, where)
    truncated = np.array([len(text) > cap for text in answers])
    texts = [text[:cap] for text in answers]
    how = task.answer_normalization
    nll, n_bytes = _reference_nll(adapter, task, requests, where)
    pairs = list(zip(texts, requests, strict=True))
    bleu = np.array([bleu_stats(t, r.references) for t, r in pairs], dtype=np.int64).reshape(len(ids), BLEU_STATS)
    chrf = np.array([chrf_stats(t, r.references) for t, r in pairs], dtype=np.int64).reshape(len(ids), CHRF_STATS)
    missing = np.full(len(ids), np.nan)
    columns: dict[str, Any] = {
        "example_id": np.array(ids, dtype=object), "target": missing, "prediction": missing,
        "correct": np.array([exact_match(t, r.references, how) for t, r in pairs]),
        "nll": nll,
        "f1": np.array([token_f1(t, r.references, how) for t, r in pairs]),
        "ref_bytes": n_bytes,
    }
    columns |= {f"bleu_stat_{k}": bleu[:, k] for k in range(BLEU_STATS)}
    columns |= {f"chrf_stat_{k}": chrf[:, k] for k in range(CHRF_STATS)}
    columns[GENERATION_COLUMN] = np.array(texts, dtype=object)
    columns[TRUNCATED_COLUMN] = truncated
    return columns


RECORD_BUILDERS: Mapping[RecordShape, RecordBuilder] = MappingProxyType({
    RecordShape.LABEL_PROBABILITIES: _label_records,
    RecordShape.VALUE: _value_records,
    RecordShape.TOKEN_LOGLIKELIHOOD: _token_records,
    RecordShape.OPTION_SCORES: _choice_records,
    RecordShape.TEXT: _generation_records,
})
"""The record builder of each record shape (:class:`~bench.suites.kinds.RecordShape`) a task
kind declares: a new kind with a new shape adds its builder here."""


def _generations(ctx: FoldContext, adapter: Adapter, work: DomainBatches, frame: pd.DataFrame) -> list[dict[str, Any]]:
    """One ``generations.jsonl`` entry per row of ``frame`` (a domain's scored records):
    the exact prompt, the answer, the references and the per-example scores (``bleu`` and
    ``chrf`` are those of the example alone, as a one-sentence corpus)."""
    if GENERATION_COLUMN not in frame.columns:
        return []
    bleu = bleu_from_stats(frame[[c for c in frame.columns if c.startswith("bleu_stat_")]].to_numpy(dtype=np.float64))
    chrf = chrf_from_stats(frame[[c for c in frame.columns if c.startswith("chrf_stat_")]].to_numpy(dtype=np.float64))
    numbers = {name: frame[name].to_numpy(dtype=np.float64) for name in ("correct", "f1", "nll", "ref_bytes")}
    cut = frame[TRUNCATED_COLUMN].to_numpy(dtype=bool) if TRUNCATED_COLUMN in frame.columns else np.zeros(len(frame), bool)
    out = []
    for i, (example_id, text) in enumerate(zip(frame["example_id"], frame[GENERATION_COLUMN], strict=True)):
        request = work.requests[str(example_id)]
        assert isinstance(request, GenerationRequest)
        nll = float(numbers["nll"][i])
        out.append({"example_id": example_id, "model": ctx.key.model, "suite": ctx.key.suite, "task": work.task.name,
                    "domain": work.domain, "fold": ctx.key.fold, "trial": ctx.key.trial,
                    "prompt": adapter.rendered_prompt(request.prompt), "generation": text,
                    "references": list(request.references), "exact_match": float(numbers["correct"][i]),
                    "f1": float(numbers["f1"][i]), "bleu": float(bleu[i]), "chrf": float(chrf[i]),
                    "nll": None if math.isnan(nll) else nll, "ref_bytes": int(numbers["ref_bytes"][i]),
                    "truncated": bool(cut[i])})
    return out
