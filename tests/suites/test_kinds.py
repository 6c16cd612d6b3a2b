"""Each task kind's registry facts agree with what the code does with them."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest

from bench.adapters.base import METHOD_BY_KIND, Adapter
from bench.errors import UnknownNameError
from bench.runner import score_examples
from bench.scoring.metrics import METRICS, PRIMARY_METRIC, get_metric, metrics_for, summary_metrics
from bench.scoring.tables import task_columns
from bench.suites import TASK_KINDS, Example, Task, TaskInfo
from bench.suites.generation import GenerationRequest
from bench.suites.kinds import TASK_KIND, ModelInput, RecordShape, TaskKind, kind_of, known_kind
from bench.suites.prompts import ChoiceRequest, Prompt

KINDS = list(TASK_KIND.values())
WHAT_IT_IS = ("has_label_choices", "has_numeric_target", "scores_options", "generates_text", "scores_tokens")
"""The facts that say what a task of the kind asks; each kind has exactly one."""


def test_the_names_are_the_registry_keys() -> None:
    assert TASK_KINDS == tuple(TASK_KIND)
    assert all(name == kind.name for name, kind in TASK_KIND.items())


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_the_adapter_method_exists(kind: TaskKind) -> None:
    assert callable(getattr(Adapter, kind.method, None)), f"Adapter has no method {kind.method!r}"
    assert METHOD_BY_KIND[kind.name] == kind.method


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_the_metrics_are_registered(kind: TaskKind) -> None:
    registered = {m.name for m in metrics_for(kind.name)}
    assert kind.primary_metric in registered and set(kind.summary_metrics) <= registered
    assert kind.summary_metrics[0] == kind.primary_metric == PRIMARY_METRIC[kind.name]
    assert summary_metrics(kind.name) == kind.summary_metrics
    assert [m.name for m in metrics_for(kind.name) if m.primary] == [kind.primary_metric]


def test_every_metric_belongs_to_a_kind() -> None:
    assert {METRICS.get(name).kind for name in METRICS.names()} <= set(TASK_KIND)


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_one_fact_says_what_the_kind_asks(kind: TaskKind) -> None:
    assert [fact for fact in WHAT_IT_IS if getattr(kind, fact)] != []
    assert sum(getattr(kind, fact) for fact in WHAT_IT_IS) == 1


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_chance_is_what_its_metrics_draw(kind: TaskKind) -> None:
    assert kind.has_chance == any(m.chance for m in metrics_for(kind.name))


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_few_shot_needs_a_rendered_prompt(kind: TaskKind) -> None:
    assert not kind.few_shot or kind.model_input is not ModelInput.EXAMPLES


def test_every_record_shape_has_a_kind() -> None:
    assert {kind.record_shape for kind in KINDS} == set(RecordShape)


def test_an_unknown_kind_is_named_with_the_valid_ones() -> None:
    with pytest.raises(UnknownNameError, match=r"Unknown task kind 'ranking'\. Valid: classification, regression"):
        kind_of("ranking")
    assert known_kind("ranking") is None
    assert kind_of(Task("t", "generation")) is TASK_KIND["generation"]


class _Everything(Adapter):
    """Answers every kind's method with a fixed, valid output."""

    name = "everything"
    task_kinds = frozenset(TASK_KIND)

    def log_probs(self, examples: Sequence[Example], task: Task) -> np.ndarray:
        return np.log(np.full((len(examples), len(task.choices)), 1 / len(task.choices)))

    def predict_values(self, examples: Sequence[Example], task: Task) -> np.ndarray:
        return np.full(len(examples), 0.5)

    def text_nll(self, examples: Sequence[Example], task: Task) -> tuple[np.ndarray, np.ndarray]:
        return np.full(len(examples), 3.0), np.full(len(examples), 2)

    def loglikelihood(self, requests: Sequence[ChoiceRequest], task: Task) -> list[np.ndarray]:
        return [-np.arange(1.0, len(r.continuations) + 1) for r in requests]

    def generate(self, requests: Sequence[GenerationRequest], task: Task) -> list[str]:
        return [r.references[0] for r in requests]


def _task(kind: TaskKind) -> Task:
    return Task("t", kind.name, choices=("neg", "pos") if kind.has_label_choices else ())


def _requests(kind: TaskKind, examples: Sequence[Example]) -> dict[str, ChoiceRequest | GenerationRequest]:
    prompt = Prompt("Q?")
    if kind.model_input is ModelInput.CHOICE_REQUESTS:
        return {ex.id: ChoiceRequest(ex.id, prompt, ex.options) for ex in examples}
    if kind.model_input is ModelInput.GENERATION_REQUESTS:
        return {ex.id: GenerationRequest(ex.id, prompt, ex.references) for ex in examples}
    return {}


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_the_runner_builds_records_its_metrics_read(kind: TaskKind) -> None:
    examples = [Example(f"e{i}", "d", f"text {i}", targets={"t": i % 2} if kind.has_target else {},
                        options=("a", "b", "c"), references=("yes",)) for i in range(4)]
    task = _task(kind)
    frame = score_examples(_Everything(), task, examples, requests=_requests(kind, examples), n_options=3)
    assert len(frame) == len(examples)
    columns = task_columns(frame, TaskInfo(kind.name, task.choices, ("d",), ()))
    for name in kind.summary_metrics:
        assert math.isfinite(get_metric(kind.name, name).compute(columns)), f"{kind.name}/{name}"
