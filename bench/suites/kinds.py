"""Task kinds: one registry entry per kind, holding every fact the harness dispatches on.

A task's ``kind`` (``classification``, ``regression``, ``language_modeling``,
``multiple_choice``, ``generation``) decides which adapter method scores it, what the
model is given, how its records are built, which metrics summarise it and whether
reports draw a chance line. Those decisions read the facts of :class:`TaskKind` here;
no other module compares a kind's name with a string.

Adding a kind is one entry of :data:`TASK_KIND` plus its test
(``tests/suites/test_kinds.py``), and a record builder in the runner only when its
:class:`RecordShape` is new.

Examples
--------
>>> kind_of("multiple_choice").method
'loglikelihood'
>>> [name for name, kind in TASK_KIND.items() if kind.few_shot]
['multiple_choice', 'generation']
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol

from bench.errors import UnknownNameError

__all__ = ["TASK_KIND", "TASK_KINDS", "ModelInput", "RecordShape", "TaskKind", "kind_of", "kinds_where", "known_kind"]


class RecordShape(enum.Enum):
    """What a model returns for a batch, hence which record builder of the runner turns
    it into per-example record columns."""

    LABEL_PROBABILITIES = "label_probabilities"
    """Natural log-probabilities of the task's choices, float array ``(n, k)``."""
    VALUE = "value"
    """One predicted number per example, float array ``(n,)``."""
    TOKEN_LOGLIKELIHOOD = "token_loglikelihood"
    """Summed negative log-likelihood of each text (nats) and its number of tokens, ``(n,)`` each."""
    OPTION_SCORES = "option_scores"
    """Per request, the summed log-likelihood (nats) of each answer option, ``(len(options),)``."""
    TEXT = "text"
    """Per request, the generated answer text."""


class ModelInput(enum.Enum):
    """What the adapter method of a kind receives for each example."""

    EXAMPLES = "examples"
    """The examples themselves (:class:`~bench.suites.types.Example`)."""
    CHOICE_REQUESTS = "choice_requests"
    """A rendered :class:`~bench.suites.prompts.ChoiceRequest` per example (prompt, few-shot
    context and the scored continuations)."""
    GENERATION_REQUESTS = "generation_requests"
    """A rendered :class:`~bench.suites.generation.GenerationRequest` per example."""


@dataclass(frozen=True)
class TaskKind:
    """One task kind and the facts the harness dispatches on.

    Attributes
    ----------
    name
        The kind's name, as written in a suite's ``kind = "…"`` and in ``run.json``.
    method
        The :class:`~bench.adapters.base.Adapter` method that scores a batch of this kind.
    model_input
        What that method receives per example (:class:`ModelInput`).
    record_shape
        What the method returns, hence the runner's record builder (:class:`RecordShape`).
    primary_metric
        Name of the metric that ranks domains (worst domain) and models on a leaderboard,
        a metric registered for this kind in :data:`bench.scoring.metrics.METRICS`. A task
        may name its own (suite key ``primary_metric``).
    summary_metrics
        Names of the metrics shown in the terminal table of ``bench run``, primary first
        (every registered metric of the kind is in ``metrics.csv``).
    has_label_choices
        Whether the task names a fixed set of labels (``task.choices``) and a target is an
        index into them: classification.
    has_numeric_target
        Whether a target is a real number (``task.value_range`` may bound it): regression.
    scores_options
        Whether the model scores each example's own answer options (``example.options``)
        by log-likelihood and the highest one is its answer: multiple choice.
    generates_text
        Whether the model writes an answer under ``task.decoding``, compared with the
        example's ``references``: generation.
    scores_tokens
        Whether the model scores the text itself token by token (cross-entropy, no
        target): language modelling.
    has_target
        Whether each scored example carries a target under the task's name
        (``example.targets[task.name]``); examples without one are not scored.
    few_shot
        Whether a prompt may start with solved examples (``--num-fewshot``, suite key
        ``num_fewshot``).
    has_chance
        Whether guessing has a level, ``1/k`` among ``k`` labels or options, that reports
        draw beside the accuracy.

    Notes
    -----
    Every gap family (``id_ood``, ``domain_rest``, ``pairwise``, ``best_worst``,
    ``spread``) applies to every kind, so no kind carries a list of them.
    """

    name: str
    method: str
    model_input: ModelInput
    record_shape: RecordShape
    primary_metric: str
    summary_metrics: tuple[str, ...]
    has_label_choices: bool = False
    has_numeric_target: bool = False
    scores_options: bool = False
    generates_text: bool = False
    scores_tokens: bool = False
    has_target: bool = False
    few_shot: bool = False
    has_chance: bool = False

    @property
    def prompted(self) -> bool:
        """Whether the model gets a rendered prompt (a request built from the task's prompt
        format and few-shot pool) rather than the example itself."""
        return self.model_input is not ModelInput.EXAMPLES


_ENTRIES = (
    TaskKind("classification", "log_probs", ModelInput.EXAMPLES, RecordShape.LABEL_PROBABILITIES,
             "accuracy", ("accuracy",), has_label_choices=True, has_target=True, has_chance=True),
    TaskKind("regression", "predict_values", ModelInput.EXAMPLES, RecordShape.VALUE,
             "mse", ("mse",), has_numeric_target=True, has_target=True),
    TaskKind("language_modeling", "text_nll", ModelInput.EXAMPLES, RecordShape.TOKEN_LOGLIKELIHOOD,
             "cross_entropy", ("cross_entropy", "bits_per_byte"), scores_tokens=True),
    TaskKind("multiple_choice", "loglikelihood", ModelInput.CHOICE_REQUESTS, RecordShape.OPTION_SCORES,
             "accuracy", ("accuracy",), scores_options=True, has_target=True, few_shot=True, has_chance=True),
    TaskKind("generation", "generate", ModelInput.GENERATION_REQUESTS, RecordShape.TEXT,
             "exact_match", ("exact_match", "chrf"), generates_text=True, few_shot=True),
)

TASK_KIND: Mapping[str, TaskKind] = MappingProxyType({kind.name: kind for kind in _ENTRIES})
"""Every task kind by name, in the order listings show them (read-only)."""

TASK_KINDS: tuple[str, ...] = tuple(TASK_KIND)
"""The names of the task kinds (the keys of :data:`TASK_KIND`)."""


class HasKind(Protocol):
    """Anything with a task kind's name: a task, a :class:`~bench.suites.info.TaskInfo`, a report's view."""

    @property
    def kind(self) -> str: ...


def kind_of(task: HasKind | str) -> TaskKind:
    """The :class:`TaskKind` of ``task`` (anything with a ``kind`` attribute, or a kind's name).

    Raises
    ------
    UnknownNameError
        For a name that is not a task kind, naming the valid ones.
    """
    name = task if isinstance(task, str) else task.kind
    found = TASK_KIND.get(name)
    if found is None:
        raise UnknownNameError(f"Unknown task kind {name!r}. Valid: {', '.join(TASK_KINDS)}.")
    return found


def kinds_where(fact: Callable[[TaskKind], bool]) -> tuple[str, ...]:
    """The names of the kinds for which ``fact(kind)`` holds, in registry order.

    Examples
    --------
    >>> kinds_where(lambda kind: kind.prompted)
    ('multiple_choice', 'generation')
    """
    return tuple(name for name, kind in TASK_KIND.items() if fact(kind))


def known_kind(name: str) -> TaskKind | None:
    """The :class:`TaskKind` named ``name``, or ``None`` for a name this version does not
    know (a run folder written by another version)."""
    return TASK_KIND.get(name)
