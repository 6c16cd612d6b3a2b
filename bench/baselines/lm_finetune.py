"""The three mitigations on a language model itself: fine-tuning (LoRA by default), on
augmented data, on several tasks at once.

=================  ==========================================================================
model              what its adapter is trained on (one adapter per fold, trial and model)
=================  ==========================================================================
``lm-finetuned``   the protocol's training split (the in-domain train split)
``lm-augmented``   the same split plus ``copies`` augmented copies of each example
                   (:mod:`bench.baselines.augment`: deletion, crop, synonyms, style)
``lm-multitask``   every task of the suite the model can train on, plus next-token loss on
                   the training texts (an auxiliary language-modelling task, weight
                   ``lm_weight``), all in the same shuffled mini-batches: one adapter shared
                   by every task, the language-model form of a shared representation
=================  ==========================================================================

Each is built from a causal language model that ``hf-causal-lm`` loads:
``lm-finetuned`` alone is SmolLM2-135M (``smollm2-135m``), ``lm-finetuned:SPEC`` any
``hf-causal-lm:…`` (or ``smollm2-135m``) spec. Options after ``?`` set the training
(:class:`LMTrainConfig`: ``method``, ``rank``, ``alpha``, ``dropout``,
``target_modules``, ``lr``, ``epochs``, ``train_batch_size``, ``max_train``,
``max_tokens``, ``lm_weight``, ``checkpoint_steps``, and for ``lm-augmented`` ``copies``
and ``strength``);
every other option goes to the language model (``device``, ``dtype``,
``apply_chat_template``, ``normalize``…), so ``--device`` and ``--dtype`` apply to
training too. The model scores exactly as the base model does (the same prompts, chat
template and requests), with the adapter in place.

Devices and dtypes
------------------
The model trains where its base model is loaded (``device``: ``cpu``, ``cuda``,
``cuda:N``, ``mps``; default the best available) and scores there too. Its weights'
``dtype`` is the base model's: the run's ``--dtype`` (``bfloat16`` is the one for a GPU),
else ``hf-causal-lm``'s default ``float32``. There is no separate default for fine-tunes,
so that the zero-shot floor and the remedies of one run always score in the same dtype and
a remedy's gain is not a change of precision. With
``bfloat16`` or ``float16`` weights, LoRA keeps its trainable matrices, their gradients
and AdamW's moments in ``float32`` (``peft``'s ``autocast_adapter_dtype``: the adapter's
input is cast to ``float32``, its output back to the weights' dtype), and the loss's
log-softmax is taken in ``float32``; the frozen base runs in the lower precision. Full
fine-tuning (``method="full"``) trains every weight in the weights' dtype (pure
``bfloat16`` training: no ``float32`` master copy). A device without CUDA asked for
``cuda`` is refused when the model is built, before any training, with
``hf-causal-lm``'s message. :meth:`FineTunedLM.training_record` says where and in what
dtype a training ran (``device``, ``dtype``, ``trainable_dtype``).

Objective
---------
Training maximises the log-likelihood the harness scores, token for token, after the
prompts the harness scores (in a run, :func:`bench.runner.training_requests` renders them
with the run's templates, ``num_fewshot`` and seed, each training example with the
exemplars of its own domain; a direct :meth:`FineTunedLM.fit` renders them zero-shot):

- classification: the verbalizer continuation of the gold label after the rendered
  prompt (``task.continuations[y]`` after ``prompt_text(task, text)``, chat template
  included), tokenized as :meth:`HFCausalLM.build <bench.adapters.hf_causal_lm.HFCausalLM.build>`
  tokenizes it for scoring (classification prompts have no exemplars);
- multiple choice: the gold answer's continuation (target delimiter + label or option
  text; no delimiter under a chat template) after the rendered question, with the task's
  description, template and few-shot exemplars;
- generation: the first reference, rendered as a continuation is, then the task's first
  stop sequence (the tokenizer's end-of-sequence token without one), after the rendered
  question: the continuation after which greedy decoding stops with exactly the reference;
- language modelling: every token of the text, as the rolling path scores it (windows of
  ``max_tokens − 1`` tokens, each after the token before it), 1 per token; and, for
  ``lm-multitask``'s auxiliary task, every training text with weight ``lm_weight`` per text.

A training example that is one of its own prompt's exemplars (a few-shot split that is
also the training split) is shown without that exemplar.

With items ``i`` of a mini-batch ``B``, continuation tokens ``c_{i,t}`` after context
``x_i`` and weights ``w_i`` (1 for a task item, ``lm_weight / n_i`` for an auxiliary text of
``n_i`` tokens), the loss is

.. math:: L = \\frac{1}{|B|} \\sum_{i \\in B} w_i \\sum_t -\\ln p_\\theta(c_{i,t} \\mid x_i, c_{i,<t})

in nats, minimised by AdamW (no weight decay) over the LoRA matrices (``method="lora"``:
``W x + (α / r) B A x`` on the ``target_modules``, ``B = 0`` at the start so the untrained
adapter changes nothing) or every weight (``method="full"``). Batches are a fresh
permutation per epoch from a generator seeded with the fold's seed; the LoRA matrices and
dropout draw from ``torch.manual_seed(seed)``: the same seed gives the same adapter on the
same machine (bit for bit on the CPU, in float32 and bfloat16; on a GPU to the rounding of
its non-deterministic kernels, unless ``torch.use_deterministic_algorithms`` is set).

Progress
--------
The runner hands the adapter its progress callback (:meth:`FineTunedLM.report_progress`):
each epoch is one step of it (``training lm-finetuned: epoch 2/3, last loss 0.512``),
advanced once per optimiser step; the loss of every epoch is kept in
:meth:`FineTunedLM.training_record`, which ``run.json`` holds under ``training``.

Checkpoints
-----------
In a stored run (``bench run``), the runner gives the model a checkpoint file in the run's
work folder (:meth:`FineTunedLM.checkpoint_to`, ``<out>/work/<run_id>/checkpoints/``).
Training writes it every ``checkpoint_steps`` optimiser steps and at the end of every
epoch (:mod:`bench.baselines.lm_checkpoint`: trained weights, AdamW's state, the steps,
losses and random state, written atomically); after a kill, ``bench run --resume`` starts
the training from it (``training lm-finetuned: epoch 2/3, resumed at step 4 of 9``) and
ends with the adapter an uninterrupted training gives. ``training_record`` notes the step
it resumed from (``resumed_from_step``).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import importlib.util
import json
import math
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.adapters import MODELS, make_model, parse_model_spec
from bench.adapters.base import Adapter, config_fingerprint, prompt_text
from bench.adapters.hf_causal_lm import HFCausalLM
from bench.baselines.augment import augment_examples, make_augmenter
from bench.baselines.lm_checkpoint import Checkpointer, TrainPosition
from bench.baselines.strategies import AugmentConfig
from bench.baselines.text_model import minibatches
from bench.errors import CapabilityError, ConfigError, DataError
from bench.seeding import seed_hash
from bench.suites.generation import GenerationRequest
from bench.suites.kinds import TaskKind, kind_of, kinds_where
from bench.suites.prompts import ChoiceRequest, Prompt
from bench.suites.render import continuations, render_template, template_fields
from bench.suites.rules import MAX_COUNT, Int, List, Number, Str, check_config, optional
from bench.suites.types import Example, Task

__all__ = ["DEFAULT_BASE", "MODES", "PEFT_INSTALL", "SCORING_OPTIONS", "TRAINED_KINDS", "FineTunedLM", "LMTrainConfig", "TrainItem",
           "TrainRequests", "lm_augmented", "lm_finetuned", "lm_multitask", "text_items",
           "train_items"]

DEFAULT_BASE = "smollm2-135m"
"""The language model ``lm-finetuned`` (and the other two) start from when no spec is given."""
MODES = ("finetuned", "augmented", "multitask")
PEFT_INSTALL = 'python -m pip install -e ".[peft]" (in the xdbench folder)'
SCORING_OPTIONS = frozenset({"device", "dtype", "batch_size"})
"""Run-wide options a saved fine-tune takes when loaded (``--model FOLDER``): where and how
fast it runs, not what it computes; they replace those it was trained with."""
_BASE_MODELS = ("hf-causal-lm", "smollm2-135m")
"""Registered models that are ``hf-causal-lm`` language models (they can be fine-tuned)."""

ProgressFn = Callable[[int, str], AbstractContextManager[Callable[[int], None]]]
"""``progress(total, description)``, as :data:`bench.runner.Progress`."""


@contextlib.contextmanager
def _silent(total: int, description: str) -> Iterator[Callable[[int], None]]:
    yield lambda n: None


@dataclass(frozen=True)
class LMTrainConfig:
    """What is trained and how (all recorded in ``run.json`` and the fingerprint).

    Attributes
    ----------
    method
        ``"lora"`` (low-rank adapters, ``peft``) or ``"full"`` (every weight).
    rank, alpha, dropout
        LoRA's rank ``r``, scale numerator ``α`` (the update is ``(α / r) B A``) and the
        dropout on its input.
    target_modules
        Names (last part) of the linear layers that get an adapter; empty: ``peft``'s
        default for the architecture (``q_proj``, ``v_proj`` for Llama/SmolLM2).
    lr, epochs, train_batch_size
        AdamW's learning rate, passes over the training items, items per step.
    max_train
        Train on at most this many training examples (drawn with the seed before any
        augmentation); ``None``: all.
    max_tokens
        Longest training sequence (context + continuation, tokens); longer contexts lose
        tokens from the left, as scoring's do beyond the model's context.
    lm_weight
        ``lm-multitask``: weight of the auxiliary next-token loss per text (0: none).
    checkpoint_steps
        Within a run that has a work folder, write a training checkpoint every this many
        optimiser steps, and at the end of every epoch (0: at epoch ends only). It changes
        where a killed training resumes from, never the adapter; so it is left out of the
        fingerprint.
    """

    method: str = "lora"
    rank: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: tuple[str, ...] = ()
    lr: float = 2e-4
    epochs: int = 1
    train_batch_size: int = 8
    max_train: int | None = None
    max_tokens: int = 256
    lm_weight: float = 1.0
    checkpoint_steps: int = 20

    def __post_init__(self) -> None:
        counts = ("rank", "alpha", "epochs", "train_batch_size", "max_tokens")
        check_config(self, dict.fromkeys(counts, Int(1, MAX_COUNT)) | {
            "method": Str(choices=("lora", "full")), "dropout": Number(0.0, 1.0, bounds="[)"),
            "target_modules": List(Str(), min_len=0), "lr": Number(0.0, math.inf, bounds="()"),
            "max_train": optional(Int(1, MAX_COUNT)), "lm_weight": Number(0.0)})


@dataclass(frozen=True)
class TrainItem:
    """One training sequence: ``target`` tokens scored after ``context`` tokens, with weight ``weight``."""

    context: tuple[int, ...]
    target: tuple[int, ...]
    weight: float = 1.0


# -- options ------------------------------------------------------------------------------
def _convert(key: str, value: Any, kind: str) -> Any:
    """A spec option (a string) as the type of its :class:`LMTrainConfig` field."""
    if not isinstance(value, str):
        return tuple(value) if "tuple" in kind and value is not None else value
    try:
        if "tuple" in kind:
            return tuple(v.strip() for v in value.split(",") if v.strip())
        if "int" in kind:
            return None if value.lower() == "none" and "None" in kind else int(value)
        if "float" in kind:
            return float(value)
    except ValueError:
        raise ConfigError(f"Fine-tuning option {key} must be {kind.split(' ')[0]}. Got {value!r} instead.") from None
    return value


def _split_options(options: Mapping[str, Any], mode: str) -> tuple[LMTrainConfig, AugmentConfig, dict[str, Any]]:
    """``(training config, augmentation config, the base model's options)`` from a spec's options."""
    train_types = {f.name: str(f.type) for f in fields(LMTrainConfig)}
    augment_types = {"copies": "int", "strength": "float"} if mode == "augmented" else {}
    train, augment, base = {}, {}, {}
    for key, value in options.items():
        if key in train_types:
            train[key] = _convert(key, value, train_types[key])
        elif key in augment_types:
            augment[key] = _convert(key, value, augment_types[key])
        else:
            base[key] = value
    return LMTrainConfig(**train), AugmentConfig(**augment), base


def _require_peft(what: str) -> None:
    if importlib.util.find_spec("peft") is None:
        raise CapabilityError(f"{what} needs the package 'peft', which is not installed. Install it with: {PEFT_INSTALL}")


def _base_model(spec: str, options: Mapping[str, Any], what: str) -> HFCausalLM:
    """The ``hf-causal-lm`` language model of ``spec``, built with ``options`` (the run's
    ``device``, ``dtype``…) as the zero-shot model is.

    Raises
    ------
    ConfigError
        If ``spec`` names a model that is not an ``hf-causal-lm`` language model (an HTTP
        endpoint, a callable, a trained baseline): only local weights can be fine-tuned.
    """
    name = parse_model_spec(spec)[0]
    if name in MODELS and name not in _BASE_MODELS:
        raise ConfigError(f"{what}: model {spec!r} cannot be fine-tuned; only a local language model can "
                          f"(hf-causal-lm:/path/to/folder or smollm2-135m), not an endpoint, a callable or a "
                          "trained baseline.")
    model = make_model(spec, options=options, note_ignored=False)
    if not isinstance(model, HFCausalLM):
        raise ConfigError(f"{what}: model {spec!r} ({type(model).__name__}) cannot be fine-tuned; only a local "
                          "language model can (hf-causal-lm:/path/to/folder or smollm2-135m).")
    return model


def _resolve_targets(lm: HFCausalLM, config: LMTrainConfig, what: str) -> tuple[str, ...]:
    """The LoRA target modules: the configured ones, each checked against the model's
    linear layers, or ``peft``'s default for the architecture.

    Raises
    ------
    ConfigError
        If a target names no linear layer of the model (the message lists them), or the
        architecture has no default and none were given.
    """
    if config.method != "lora":
        return ()
    linear = sorted({n.rsplit(".", 1)[-1] for n, m in lm.model.named_modules() if isinstance(m, torch.nn.Linear)})
    targets = config.target_modules
    if not targets:
        from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as defaults

        model_type = getattr(lm.model.config, "model_type", "")
        if model_type not in defaults:
            raise ConfigError(f"{what}: peft has no default LoRA target modules for model type {model_type!r}; "
                              f"give target_modules=… (its linear layers: {', '.join(linear)}).")
        targets = tuple(defaults[model_type])
    missing = [t for t in targets if t not in linear]
    if missing:
        raise ConfigError(f"{what}: target module(s) {', '.join(missing)} are not linear layers of "
                          f"{lm.name!r}; its linear layers: {', '.join(linear)}.")
    return tuple(targets)


# -- training items -------------------------------------------------------------------------
TrainRequests = Callable[[Task, Sequence[Example]], Sequence[ChoiceRequest | GenerationRequest]]
"""``requests(task, examples)``: the scoring requests of training examples of a
``multiple_choice`` or ``generation`` task, in order (the runner's
:func:`bench.runner.training_requests`: templates, few-shot exemplars and seed as scoring)."""

def _trains_on(kind: TaskKind) -> bool:
    """Whether the adapter trains on tasks of ``kind``: every kind a language model scores
    (a label's or an option's continuation, a reference, a text); not numeric targets."""
    return not kind.has_numeric_target


TRAINED_KINDS = frozenset(kinds_where(_trains_on))
"""Task kinds whose examples the adapter is trained on."""


def _has_target(example: Example, task: Task) -> bool:
    """Whether ``example`` gives ``task`` something to train on: a reference (generation), a
    non-blank text (language modelling), a label or an option index (the others)."""
    kind = kind_of(task)
    if kind.generates_text:
        return bool(example.references)
    if kind.scores_tokens:
        return bool(example.text.strip())
    return task.name in example.targets


def _zero_shot_prompt(example: Example, task: Task) -> Prompt:
    fmt = task.format
    where = f"Task {task.name!r}, training example {example.id!r}"
    values = template_fields(example, fmt)
    return Prompt(render_template(fmt.question_template, values, f"{where} (template)"),
                  render_template(fmt.description, values, f"{where} (description)"), (),
                  fmt.target_delimiter, fmt.fewshot_delimiter)


def _prompts(task: Task, examples: Sequence[Example], requests: TrainRequests | None) -> list[Prompt]:
    """The scoring prompts of ``examples``: ``requests``'s, or zero-shot ones (the task's
    template and description, no exemplars) without a run to render them."""
    if requests is None:
        return [_zero_shot_prompt(ex, task) for ex in examples]
    return [r.prompt for r in requests(task, examples)] if examples else []


def _answered(lm: HFCausalLM, request: ChoiceRequest, index: int) -> tuple[str, str]:
    """``(rendered prompt, rendered continuation index)``; a prompt that holds the example
    itself as an exemplar (a few-shot split that is also the training split) loses it."""
    prompt = request.prompt
    shots = tuple(s for s in prompt.shots if (s.context, s.target) != (prompt.question, request.continuations[index]))
    request = replace(request, prompt=replace(prompt, shots=shots))
    return lm.rendered_prompt(request.prompt), lm.rendered_continuations(request)[index]


def _classification_pairs(lm: HFCausalLM, examples: Sequence[Example], task: Task,
                          requests: TrainRequests | None) -> list[tuple[str, str]]:
    """The verbalizer of the gold label after the classification prompt."""
    return [(lm.rendered_prompt(Prompt(question=prompt_text(task, ex.text))),
             task.continuations[int(ex.targets[task.name])]) for ex in examples]


def _choice_pairs(lm: HFCausalLM, examples: Sequence[Example], task: Task,
                  requests: TrainRequests | None) -> list[tuple[str, str]]:
    """The gold answer's continuation after the rendered question."""
    prompts = _prompts(task, examples, requests)
    return [_answered(lm, ChoiceRequest(ex.id, prompt, continuations(ex, task.format)), int(ex.targets[task.name]))
            for ex, prompt in zip(examples, prompts, strict=True)]


def _generation_pairs(lm: HFCausalLM, examples: Sequence[Example], task: Task,
                      requests: TrainRequests | None) -> list[tuple[str, str]]:
    """The first reference after the rendered question, then the first stop sequence (the
    tokenizer's end-of-sequence token without one): greedy decoding writes exactly the
    reference when it writes this continuation."""
    end = (task.decoding.stop or (lm.tokenizer.eos_token or "",))[0]
    pairs = []
    for ex, prompt in zip(examples, _prompts(task, examples, requests), strict=True):
        context, answer = _answered(lm, ChoiceRequest(ex.id, prompt, (ex.references[0],)), 0)
        pairs.append((context, answer + end))
    return pairs


PairsBuilder = Callable[[HFCausalLM, Sequence[Example], Task, TrainRequests | None], list[tuple[str, str]]]
"""``builder(lm, examples, task, requests)``: the ``(context, continuation)`` training pairs."""


def _pairs_builder(kind: TaskKind) -> PairsBuilder | None:
    """The pair builder of a kind trained on a continuation; ``None`` for language
    modelling (trained on its text, :func:`text_items`)."""
    if kind.has_label_choices:
        return _classification_pairs
    if kind.scores_options:
        return _choice_pairs
    return _generation_pairs if kind.generates_text else None


def _cut(context: Sequence[int], target: Sequence[int], max_tokens: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Context and target within ``max_tokens``: the context loses tokens from the left (it
    keeps at least one), then the target from the right."""
    target = tuple(target[: max_tokens - 1])
    keep = max(1, max_tokens - len(target))
    return tuple(context[-keep:]), target


def text_items(lm: HFCausalLM, texts: Sequence[str], max_tokens: int,
               weight: Callable[[int], float]) -> list[TrainItem]:
    """Next-token items of ``texts``, as the rolling path scores them: windows of
    ``max_tokens − 1`` tokens, the first after the prefix token, each later one after the
    token before it (lm-eval's rolling windows, ``context_len = 1``), so every token is
    predicted once; each window weighs ``weight(n)`` for a text of ``n`` tokens."""
    items = []
    width = max(1, max_tokens - 1)
    for ids in lm.encode(list(texts)):
        for start in range(0, len(ids), width):
            context = (lm.prefix_id,) if start == 0 else (ids[start - 1],)
            items.append(TrainItem(context, tuple(ids[start:start + width]), weight(len(ids))))
    return items


def train_items(lm: HFCausalLM, examples: Sequence[Example], tasks: Sequence[Task], *, max_tokens: int,
                lm_weight: float = 0.0, requests: TrainRequests | None = None) -> list[TrainItem]:
    """The training sequences of ``examples`` for ``tasks`` (see the module docstring): the
    continuation items of every task in task and example order, then the next-token items
    of language-modelling tasks (1 per token), then with ``lm_weight > 0`` those of every
    text (``lm_weight`` per text). ``requests`` renders the prompts of multiple-choice and
    generation examples (``None``: zero-shot)."""
    pairs: list[tuple[str, str]] = []
    texts: list[TrainItem] = []
    for task in tasks:
        if not _trains_on(kind_of(task)):
            continue
        chosen = [ex for ex in examples if _has_target(ex, task)]
        builder = _pairs_builder(kind_of(task))
        if builder is not None:
            pairs += builder(lm, chosen, task, requests)
        elif chosen:  # language modelling
            texts += text_items(lm, [ex.text for ex in chosen], max_tokens, lambda n: 1.0)
    items = []
    if pairs:
        built = lm.build([c for c, _ in pairs], [[g] for _, g in pairs], where="Training: ")
        items = [TrainItem(*_cut(r.context, r.branches[0], max_tokens)) for r in built.requests]
    if lm_weight > 0:
        texts += text_items(lm, [ex.text for ex in examples if ex.text.strip()], max_tokens, lambda n: lm_weight / n)
    return items + texts


def items_loss(model: Any, items: Sequence[TrainItem], *, pad_id: int, device: torch.device) -> torch.Tensor:
    """:math:`L` of the module docstring for one mini-batch of a ``transformers`` causal LM
    (adapters in place): one right-padded forward pass of the decoder, then the output
    layer only at the positions that predict a target token (a plain ``model(...).logits``
    computes the vocabulary's logits at every position, most of them unused here)."""
    sequences = [list(it.context) + list(it.target) for it in items]
    width = max(len(s) for s in sequences)
    ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(items), width), dtype=torch.long)
    rows: list[int] = []
    cols: list[int] = []
    tokens: list[int] = []
    weights: list[float] = []
    for i, (item, sequence) in enumerate(zip(items, sequences, strict=True)):
        ids[i, : len(sequence)] = torch.tensor(sequence)
        mask[i, : len(sequence)] = 1
        start = len(item.context) - 1  # the logits at position p predict token p + 1
        rows += [i] * len(item.target)
        cols += range(start, start + len(item.target))
        tokens += item.target
        weights += [item.weight] * len(item.target)
    decoder = getattr(model, model.base_model_prefix, None) or model.get_decoder()
    hidden = decoder(input_ids=ids.to(device), attention_mask=mask.to(device), use_cache=False).last_hidden_state
    logits = model.get_output_embeddings()(hidden[torch.tensor(rows, device=device), torch.tensor(cols, device=device)])
    cap = getattr(model.config, "final_logit_softcapping", None)
    picked = torch.log_softmax((torch.tanh(logits / cap) * cap if cap else logits).float(), -1)
    nll = -picked[torch.arange(len(tokens), device=device), torch.tensor(tokens, device=device)]
    return (nll * torch.tensor(weights, device=device)).sum() / len(items)


@dataclass
class TrainingLog:
    """What a training did: items, optimiser steps, the mean loss of each epoch (nats), the
    step it resumed from (0: it started afresh), the device it ran on, the weights' dtype,
    the dtype of the trained parameters (and of AdamW's moments), and each step's loss."""

    items: int = 0
    steps: int = 0
    epoch_loss: list[float] = field(default_factory=list)
    resumed_from: int = 0
    device: str = ""
    dtype: str = ""
    trainable_dtype: str = ""
    step_loss: list[float] = field(default_factory=list)
    """The loss of each optimiser step taken in this process (nats; not after a reload)."""


def _dtype_name(dtype: torch.dtype) -> str:
    """``torch.bfloat16`` → ``"bfloat16"``."""
    return str(dtype).removeprefix("torch.")


def train_model(model: Any, items: Sequence[TrainItem], config: LMTrainConfig, *, seed: int, pad_id: int,
                device: torch.device, progress: ProgressFn = _silent, label: str = "",
                checkpoint: Checkpointer | None = None) -> TrainingLog:
    """Minimise :func:`items_loss` over ``items`` with AdamW on the parameters that require
    a gradient (``config.epochs`` passes, batches of ``config.train_batch_size``).

    With ``checkpoint``, training starts from its file where there is one (the steps it
    holds are not taken again) and writes it as :meth:`Checkpointer.due` says.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.0)
    per_epoch = math.ceil(len(items) / config.train_batch_size)
    total = per_epoch * config.epochs
    position = (checkpoint.load(model, optimiser, device) if checkpoint else None) or TrainPosition()
    batches = minibatches(len(items), epochs=config.epochs, batch_size=config.train_batch_size,
                          seed=seed_hash(seed, "lm-batches"))
    for _ in range(position.steps):  # the batches the checkpoint has trained on
        next(batches)
    log = TrainingLog(len(items), position.steps, position.epoch_loss, resumed_from=position.steps,
                      device=str(device), dtype=_dtype_name(getattr(model, "dtype", params[0].dtype)),
                      trainable_dtype=",".join(sorted({_dtype_name(p.dtype) for p in params})))
    model.train()
    try:
        for epoch in range(position.steps // per_epoch, config.epochs):
            done = position.steps - epoch * per_epoch
            description = _epoch_description(label, epoch, config.epochs, position, log.resumed_from, total)
            with progress(per_epoch, description) as advance:
                if done:
                    advance(done)
                for step in range(done, per_epoch):
                    batch = next(batches)
                    loss = items_loss(model, [items[i] for i in batch], pad_id=pad_id, device=device)
                    optimiser.zero_grad()
                    loss.backward()
                    optimiser.step()
                    log.step_loss.append(float(loss.detach()))
                    position.running += log.step_loss[-1] * len(batch)
                    position.steps += 1
                    if step == per_epoch - 1:
                        position.epoch_loss.append(position.running / len(items))
                        position.running = 0.0
                    if checkpoint and checkpoint.due(position.steps, epoch_end=step == per_epoch - 1):
                        checkpoint.save(model, optimiser, position, device)
                    advance(1)
    finally:
        model.eval()
    log.steps, log.epoch_loss = position.steps, position.epoch_loss
    return log


def _epoch_description(label: str, epoch: int, epochs: int, position: TrainPosition, resumed_from: int,
                       total: int) -> str:
    """``training LABEL: epoch e/E[, resumed at step k of n][, last loss x]`` (the resume
    only for the epoch a checkpoint restarts in)."""
    resumed = f", resumed at step {resumed_from} of {total}" if position.steps == resumed_from > 0 else ""
    last = f", last loss {position.epoch_loss[-1]:.4f}" if position.epoch_loss else ""
    return f"training {label}: epoch {epoch + 1}/{epochs}{resumed}{last}"


def adapter_digest(model: Any) -> bytes:
    """SHA-256 of the trained parameters (those requiring a gradient, or the LoRA ones), in name order."""
    digest = hashlib.sha256()
    for name, tensor in sorted(trained_state(model).items()):
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.digest()


def trained_state(model: Any) -> dict[str, torch.Tensor]:
    """The LoRA parameters of a model with adapters in place (``lora_`` in their names)."""
    return {n: p for n, p in model.named_parameters() if "lora_" in n}


# -- the adapter ------------------------------------------------------------------------------
class FineTunedLM(Adapter):
    """A causal language model fine-tuned per fold (LoRA by default); scores as its base does.

    Parameters
    ----------
    name
        The model's name in records (``lm-finetuned``…).
    base
        The base model's spec (``smollm2-135m``, ``hf-causal-lm:/path``).
    lm
        The base model, loaded (its weights are copied before training, never changed).
    config
        What is trained and how.
    mode
        ``"finetuned"``, ``"augmented"`` or ``"multitask"`` (see the module docstring).
    augment
        The augmentation of ``lm-augmented``.
    base_options
        The options the base model was built with (``dtype``, ``device``…), for saving.
    """

    task_kinds = TRAINED_KINDS
    trainable = True
    saved_kind = "lm-lora"  # the "kind" of its saved folder (bench.baselines.persist)

    def __init__(self, name: str, base: str, lm: HFCausalLM, config: LMTrainConfig | None = None,
                 mode: str = "finetuned", augment: AugmentConfig | None = None,
                 base_options: Mapping[str, Any] | None = None) -> None:
        if mode not in MODES:
            raise ConfigError(f"mode must be one of {', '.join(MODES)}. Got {mode!r} instead.")
        self.name, self.base, self.lm, self.mode = name, base, lm, mode
        self.config = config or LMTrainConfig()
        self.augment = augment or AugmentConfig()
        self.base_options = dict(base_options or {})
        self.target_modules = _resolve_targets(lm, self.config, f"Model {name!r}")
        self._pristine = lm.model  # the loaded (shared, cached) weights: copied, never changed
        self.trained_tasks: list[str] = []
        self.log = TrainingLog()
        self.peft_model: Any = None
        self._progress: ProgressFn = _silent
        self._checkpoint: Path | None = None
        self._requests: TrainRequests | None = None
        self.merged = False

    @property
    def trains_all_tasks(self) -> bool:
        return self.mode == "multitask"

    def report_progress(self, progress: ProgressFn) -> None:
        """Report training progress (steps, loss per epoch) through ``progress``."""
        self._progress = progress

    def render_training_with(self, requests: TrainRequests | None) -> None:
        """Render the prompts of multiple-choice and generation training examples with
        ``requests`` (the run's templates, few-shot exemplars and seed; ``None``: zero-shot)."""
        self._requests = requests

    def checkpoint_to(self, path: Path | None) -> None:
        """Write training checkpoints to the file ``path`` (:mod:`bench.baselines.lm_checkpoint`)
        and resume from it where it exists; ``None``: no checkpoints."""
        self._checkpoint = path

    # -- training -----------------------------------------------------------------------
    def training_examples(self, train: Sequence[Example], *, seed: int) -> list[Example]:
        """The examples trained on: at most ``max_train`` of ``train`` (drawn with the seed,
        kept in order), then for ``lm-augmented`` their augmented copies."""
        chosen = list(train)
        if self.config.max_train is not None and len(chosen) > self.config.max_train:
            rng = np.random.default_rng(seed_hash(seed, "max_train"))
            chosen = [chosen[i] for i in np.sort(rng.choice(len(chosen), self.config.max_train, replace=False))]
        if self.mode == "augmented":
            augmenters = [make_augmenter(n, self.augment.strength) for n in self.augment.augmenters]
            chosen += augment_examples(chosen, augmenters, copies=self.augment.copies, seed=seed_hash(seed, "augment"))
        return chosen

    def fit(self, train: Sequence[Example], tasks: Sequence[Task], *, seed: int) -> None:
        """Train a fresh adapter on ``train`` for the trainable ``tasks`` (see the module docstring).

        Raises
        ------
        CapabilityError
            If no task is of a kind the model trains on (:data:`TRAINED_KINDS`).
        DataError
            If no training example has a target for those tasks (a label, a reference, a text).
        """
        trained = [t for t in tasks if _trains_on(kind_of(t))]
        if not trained:
            kinds = ", ".join(sorted({t.kind for t in tasks})) or "none"
            raise CapabilityError(f"Model {self.name!r} trains on {', '.join(sorted(TRAINED_KINDS))} tasks; "
                                  f"the tasks given are {kinds}.")
        labelled = [ex for ex in train if any(_has_target(ex, t) for t in trained)]
        if not labelled:
            names = ", ".join(t.name for t in trained)
            raise DataError(f"Model {self.name!r}: the training split has no example with a target for task(s) "
                            f"{names} ({len(train)} examples in all); there is nothing to fine-tune on.")
        examples = self.training_examples(labelled, seed=seed)
        lm_weight = self.config.lm_weight if self.mode == "multitask" else 0.0
        items = train_items(self.lm, examples, trained, max_tokens=self.config.max_tokens, lm_weight=lm_weight,
                            requests=self._requests)
        identity = self._identity(items, seed)
        self.attach(seed=seed)
        checkpoint = None if self._checkpoint is None else \
            Checkpointer(self._checkpoint, self.config.checkpoint_steps, identity, f"model {self.name!r}")
        self.log = train_model(self.lm.model, items, self.config,
                               seed=seed, pad_id=self.lm.pad_id, device=self.lm.device, progress=self._progress,
                               label=self.name, checkpoint=checkpoint)
        self.trained_tasks = [t.name for t in trained]
        self.merge()

    def _identity(self, items: Sequence[TrainItem], seed: int) -> str:
        """A digest of what a training is (base model, options, seed, items): its checkpoint's identity."""
        what = {"base": self.lm.fingerprint(), "options": self._fingerprinted(), "seed": seed}
        digest = hashlib.sha256(json.dumps(what, sort_keys=True, default=list).encode())
        for item in items:
            digest.update(np.asarray([*item.context, -1, *item.target, -1], dtype=np.int64).tobytes())
            digest.update(np.float64(item.weight).tobytes())
        return digest.hexdigest()

    def attach(self, *, seed: int, folder: str | None = None) -> None:
        """Give the model its own copy of the base weights with a fresh adapter (seeded), or
        the adapter saved in ``folder``; the base model's shared weights never change."""
        torch.manual_seed(seed)
        own = copy.deepcopy(self._pristine)
        self.merged = False
        if self.config.method == "full":
            if folder is not None:
                raise ConfigError(f"Model {self.name!r}: a fully fine-tuned model is loaded as hf-causal-lm:FOLDER.")
            for param in own.parameters():
                param.requires_grad_(True)
            self.lm.model, self.peft_model = own, None
            return
        _require_peft(f"Model {self.name!r}")
        import peft

        with warnings.catch_warnings():  # peft asks transformers for names it has deprecated
            warnings.simplefilter("ignore", FutureWarning)
            if folder is None:
                settings = peft.LoraConfig(r=self.config.rank, lora_alpha=self.config.alpha,
                                           lora_dropout=self.config.dropout, target_modules=list(self.target_modules),
                                           task_type="CAUSAL_LM")
                self.peft_model = peft.get_peft_model(own, settings)
            else:
                self.peft_model = peft.PeftModel.from_pretrained(own, folder, is_trainable=False)
        self.peft_model.eval()
        self.lm.model = self.peft_model.get_base_model()  # the copy, adapters in place: scoring uses it as is

    def merge(self) -> None:
        """Fold the LoRA update into the weights it adapts for scoring, ``W ← W + (α / r) B A``
        (peft's ``merge_adapter``): the same scores, to rounding, without the adapter's two
        extra products per adapted layer. The LoRA matrices stay as they are (saved and
        fingerprinted unchanged); peft's ``unmerge_adapter`` undoes it. Nothing to do for a
        fully fine-tuned model or one merged already."""
        if self.peft_model is None or self.merged:
            return
        with warnings.catch_warnings():  # peft asks transformers for names it has deprecated
            warnings.simplefilter("ignore", FutureWarning)
            self.peft_model.merge_adapter()
        self.merged = True

    def trainable_parameters(self) -> int:
        """Number of parameters trained (LoRA matrices, or every weight)."""
        if self.config.method == "full":
            return sum(p.numel() for p in self.lm.model.parameters())
        return sum(p.numel() for p in trained_state(self.lm.model).values())

    # -- scoring: the base model's, adapter in place ----------------------------------------
    def log_probs(self, examples: Sequence[Example], task: Task) -> np.ndarray:
        return self.lm.log_probs(examples, task)

    def loglikelihood(self, requests: Sequence[ChoiceRequest], task: Task) -> list[np.ndarray]:
        return self.lm.loglikelihood(requests, task)

    def text_nll(self, examples: Sequence[Example], task: Task) -> tuple[np.ndarray, np.ndarray]:
        return self.lm.text_nll(examples, task)

    def generate(self, requests: Sequence[GenerationRequest], task: Task) -> list[str]:
        return self.lm.generate(requests, task)

    def rendered_prompt(self, prompt: Prompt) -> str:
        return self.lm.rendered_prompt(prompt)

    def rendered_continuations(self, request: ChoiceRequest) -> tuple[str, ...]:
        return self.lm.rendered_continuations(request)

    @property
    def chosen_batch_size(self) -> dict[str, int] | None:
        return self.lm.chosen_batch_size

    # -- records ----------------------------------------------------------------------------
    def options(self) -> dict[str, Any]:
        """What the model is: base spec and options, mode, training and augmentation settings,
        the resolved target modules."""
        out = {"base": self.base, "base_options": self.base_options, "mode": self.mode,
               "train": asdict(replace(self.config, target_modules=self.target_modules or self.config.target_modules))}
        if self.mode == "augmented":
            out["augment"] = asdict(self.augment)
        return out

    def _fingerprinted(self) -> dict[str, Any]:
        """:meth:`options` less ``checkpoint_steps``, which never changes the adapter."""
        out = self.options()
        out["train"] = {k: v for k, v in out["train"].items() if k != "checkpoint_steps"}
        return out

    def training_record(self) -> dict[str, Any]:
        """``run.json``'s ``training`` entry: the options, trained parameters, items, steps,
        losses, the step a checkpoint resumed the training from (0: none), and where and in
        what precision it trained: ``device`` (``"cpu"``, ``"cuda:0"``…), ``dtype`` (the
        weights') and ``trainable_dtype`` (the trained parameters' and AdamW's moments')."""
        return {**self.options(), "trainable_parameters": self.trainable_parameters(),
                "tasks": list(self.trained_tasks), "items": self.log.items, "steps": self.log.steps,
                "epoch_loss": [round(x, 6) for x in self.log.epoch_loss], "resumed_from_step": self.log.resumed_from,
                "device": self.log.device, "dtype": self.log.dtype, "trainable_dtype": self.log.trainable_dtype}

    def fingerprint(self) -> str:
        trained = [adapter_digest(self.lm.model)] if self.peft_model is not None else []
        if self.config.method == "full" and self.log.steps:
            from bench.adapters.torch_module import state_dict_digest

            trained = [state_dict_digest(self.lm.model)]
        return config_fingerprint(self.name, {"class": type(self).__qualname__, "base": self.lm.fingerprint(),
                                              **self._fingerprinted()}, *trained)


# -- saved folders (bench.baselines.persist) ---------------------------------------------------
def saved_lm_files(header: Mapping[str, Any]) -> tuple[str, ...]:
    """The files a saved fine-tuned model's folder holds besides ``model.json``: a ``peft``
    adapter (LoRA), or the whole model under ``model/`` (``method="full"``)."""
    if header.get("options", {}).get("train", {}).get("method", "lora") == "lora":
        return ("adapter_config.json", "adapter_model.safetensors")
    return ("model/config.json",)


def save_lm(model: FineTunedLM, folder: Path, header: Mapping[str, Any]) -> None:
    """Write ``model`` to ``folder``: its ``peft`` adapter (``adapter_config.json`` and
    ``adapter_model.safetensors``, loadable with ``peft.PeftModel.from_pretrained(base, folder)``)
    or, fully fine-tuned, the model and tokenizer under ``model/``; then ``model.json``.

    Raises
    ------
    CapabilityError
        If the model has not been trained.
    """
    if not model.trained_tasks:
        raise CapabilityError(f"Model {model.name!r} has not been trained; there is nothing to save.")
    if model.peft_model is not None:
        with warnings.catch_warnings():  # peft asks transformers for names it has deprecated
            warnings.simplefilter("ignore", FutureWarning)
            model.peft_model.save_pretrained(folder)
    else:
        model.lm.model.save_pretrained(folder / "model")
        model.lm.tokenizer.save_pretrained(folder / "model")
    full = {**header, "tasks": list(model.trained_tasks), "training": model.training_record()}
    (folder / "model.json").write_text(json.dumps(full, indent=2, sort_keys=True, default=list) + "\n",
                                       encoding="utf-8")


def load_lm(folder: Path, header: Mapping[str, Any], overrides: Mapping[str, Any] | None = None) -> FineTunedLM:
    """The fine-tuned model saved in ``folder`` by :func:`save_lm`, ready to score (not
    trainable), its adapter merged into its weights (:meth:`FineTunedLM.merge`).
    ``overrides`` (:data:`SCORING_OPTIONS`: ``device``, ``dtype``, ``batch_size``) replace
    the base model's saved options.

    Raises
    ------
    DataError
        If the header's options are not a fine-tuned model's, or the adapter (or model)
        files cannot be loaded: corrupt, truncated or of another model.
    """
    options = header["options"]
    where = f"{folder}: the saved fine-tuned model"
    try:
        config = LMTrainConfig(**{**options["train"], "target_modules": tuple(options["train"]["target_modules"])})
        raw = dict(options.get("augment") or {})
        augment = AugmentConfig(**{**raw, "augmenters": tuple(raw["augmenters"])}) if raw else None
        base, mode = str(options["base"]), str(options["mode"])
        base_options = {**dict(options["base_options"]), **dict(overrides or {})}
    except (KeyError, TypeError, ValueError, ConfigError) as exc:
        raise DataError(f"{where} has unreadable options in model.json ({type(exc).__name__}: {exc}).") from exc
    if config.method == "full":
        base = f"hf-causal-lm:{folder / 'model'}"
    model = FineTunedLM(str(header["name"]), base, _base_model(base, base_options, f"Model {header['name']!r}"),
                        config, mode, augment, base_options)
    if config.method == "lora":
        try:
            model.attach(seed=0, folder=str(folder))
        except Exception as exc:  # safetensors, peft and torch raise their own kinds on a bad file
            raise DataError(f"{where} cannot be restored: its adapter (adapter_config.json, "
                            f"adapter_model.safetensors) does not load ({type(exc).__name__}: {exc}).") from exc
        model.merge()
    training = header.get("training", {})
    model.trained_tasks = [str(t) for t in header.get("tasks", [])]
    model.log = TrainingLog(int(training.get("items", 0)), int(training.get("steps", 0)),
                            [float(x) for x in training.get("epoch_loss", [])],
                            device=str(training.get("device", "")), dtype=str(training.get("dtype", "")),
                            trainable_dtype=str(training.get("trainable_dtype", "")))
    model.trainable = False  # type: ignore[misc]
    return model


def _factory(mode: str, base: str | None, options: Mapping[str, Any]) -> FineTunedLM:
    name = f"lm-{mode}"
    config, augment, base_options = _split_options(options, mode)
    if config.method == "lora":
        _require_peft(f"Model {name!r}")
    spec = base or DEFAULT_BASE
    return FineTunedLM(name, spec, _base_model(spec, base_options, f"Model {name!r}"), config, mode, augment,
                       base_options)


def lm_finetuned(base: str | None = None, **options: Any) -> FineTunedLM:
    """``lm-finetuned[:SPEC][?options]``: SPEC (default ``smollm2-135m``) fine-tuned on the training split."""
    return _factory("finetuned", base, options)


def lm_augmented(base: str | None = None, **options: Any) -> FineTunedLM:
    """``lm-augmented[:SPEC]``: fine-tuned on the training split plus augmented copies."""
    return _factory("augmented", base, options)


def lm_multitask(base: str | None = None, **options: Any) -> FineTunedLM:
    """``lm-multitask[:SPEC]``: one adapter trained on every task at once, plus next-token loss."""
    return _factory("multitask", base, options)
