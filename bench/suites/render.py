"""Render ``multiple_choice`` and ``generation`` examples into prompts and requests.

A ``multiple_choice`` example becomes a :class:`ChoiceRequest`, a ``generation`` example a
:class:`~bench.suites.generation.GenerationRequest`; both are written with the same
templates, description and few-shot exemplars (a generation exemplar's answer is its
first reference). A generation task's default template is ``"Question: {text}\nAnswer:"``.

Templates
---------
A template is a string with ``{name}`` placeholders (``str.format`` syntax; write ``{{``
and ``}}`` for literal braces). The names an example offers are

==================  =============================================================
``{text}``          :attr:`Example.text` (MMLU: the question, stripped as lm-eval does)
``{domain}``        the example's domain name
``{<field>}``       any of :attr:`Example.fields` (MMLU: ``question``, ``subject``
                    with spaces, e.g. ``"abstract algebra"``)
``{options[k]}``    option ``k`` (0-based)
``{option_list}``   the options as lettered lines ``"A. …\\nB. …"``
==================  =============================================================

With lm-eval's MMLU defaults the question template is ``"{text}\\n{option_list}\\nAnswer:"``
and the description ``"The following are multiple choice questions (with answers) about
{subject}.\\n\\n"``; the continuations are ``"A"``…``"D"`` after the target delimiter ``" "``.

Few-shot
--------
``k`` exemplars come from the domain's ``fewshot_split`` (never ``test``): the first ``k``
in source order (``first_n``, lm-eval's sampler for MMLU) or ``k`` drawn with the seed
``seed_hash(seed, suite, task, domain)`` (``random``). They depend on the suite, the
domain and the run seed only, so every model sees the same exemplars.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np

from bench.errors import ConfigError, DataError, SuiteError
from bench.seeding import seed_hash
from bench.suites.generation import GenerationRequest
from bench.suites.kinds import kind_of
from bench.suites.prompts import LETTERS, ChoiceRequest, Prompt, PromptFormat, Shot
from bench.suites.schema import quote
from bench.suites.types import Example, Suite, SuiteData, Task

__all__ = ["build_generation_requests", "build_requests", "check_choice_example", "check_references", "continuations", "fewshot_pool", "render_template",
           "template_fields"]


def template_fields(example: Example, fmt: PromptFormat) -> dict[str, Any]:
    """The placeholders an example offers to templates (see the module docstring)."""
    option_list = "\n".join(f"{fmt.label(k)}. {option}" for k, option in enumerate(example.options))
    return {**example.fields, "text": example.text, "domain": example.domain, "options": list(example.options),
            "option_list": option_list}


def render_template(template: str, values: Mapping[str, Any], where: str) -> str:
    """``template`` with its placeholders filled from ``values``.

    Raises
    ------
    SuiteError
        If a placeholder names a field the example lacks, or an option index it does not
        have (the message names ``where``, the placeholder and the available fields).
    """
    try:
        return string.Formatter().vformat(template, (), dict(values))
    except KeyError as exc:
        names = sorted(values)
        available = ", ".join(names[:30]) + (f" … ({len(names)} in all)" if len(names) > 30 else "")
        raise SuiteError(f"{where}: the template names field {{{quote(exc.args[0])[1:-1]}}}, which the example lacks. "
                         f"Available: {available}.") from None
    except IndexError:
        raise SuiteError(f"{where}: the template names an option index beyond the example's "
                         f"{len(values.get('options', []))} options.") from None
    except (ValueError, AttributeError) as exc:
        raise SuiteError(f"{where}: malformed template {quote(template)}: {exc}.") from None


def check_choice_example(suite: Suite, task: Task, example: Example) -> int:
    """The target index of a ``multiple_choice`` example, after checking its options.

    Two options are *duplicated* when their scored continuations are the same string (so
    that no model could tell them apart): equal option texts in the cloze style, equal
    labels in the letter style. Equal texts under distinct letters are allowed, as
    lm-eval allows them (10 of MMLU's 14,327 questions have two equal options).

    Raises
    ------
    DataError
        If the example has fewer than 2 options, an empty or duplicated option, no target
        or a target outside ``0 … n_options − 1`` (naming suite, task, example and option).
    """
    where = f"Suite {suite.name!r}, task {task.name!r}, example {example.id!r}"
    options = example.options
    if len(options) < 2:
        raise DataError(f"{where}: a multiple-choice example needs at least 2 options, got {len(options)}.")
    for k, option in enumerate(options):
        if not option.strip():
            raise DataError(f"{where}: option {k} is empty.")
    if len(options) > len(task.format.labels or LETTERS) and task.format.style == "letter":
        raise DataError(f"{where}: {len(options)} options but only {len(task.format.labels or LETTERS)} labels.")
    seen: dict[str, int] = {}
    for k, scored in enumerate(continuations(example, task.format)):
        if scored in seen:
            raise DataError(f"{where}: option {k} ({quote(options[k])}) duplicates option {seen[scored]} "
                            f"(both are scored as {quote(scored)}).")
        seen[scored] = k
    if task.name not in example.targets:
        raise DataError(f"{where}: no target for the task.")
    target = example.targets[task.name]
    if float(target) != int(target) or not 0 <= int(target) < len(options):
        raise DataError(f"{where}: target {quote(target)} is outside the options 0-{len(options) - 1}.")
    return int(target)


def continuations(example: Example, fmt: PromptFormat) -> tuple[str, ...]:
    """What is scored for each option (without the target delimiter): labels or option texts."""
    if fmt.style == "cloze":
        return tuple(example.options)
    return tuple(fmt.label(k) for k in range(len(example.options)))


def _question(example: Example, fmt: PromptFormat, where: str) -> tuple[str, str]:
    values = template_fields(example, fmt)
    return (render_template(fmt.description, values, f"{where} (description)"),
            render_template(fmt.question_template, values, f"{where} (template)"))


def fewshot_pool(data: SuiteData, task: Task, domain: str, k: int, seed: int) -> list[Example]:
    """The ``k`` exemplars of ``domain`` (see the module docstring).

    Raises
    ------
    ConfigError
        If ``k`` exceeds the pool (naming suite, task, domain and both sizes) or the task
        has no few-shot split.
    """
    fmt = task.format
    if k == 0:
        return []
    where = f"Suite {data.suite.name!r}, task {task.name!r}"
    if not fmt.fewshot_split:
        raise ConfigError(f"{where}: {k}-shot prompts need 'fewshot_split' in the task (e.g. \"dev\").")
    pool = [ex for ex in data.domains[domain].split(fmt.fewshot_split)
            if (ex.references if kind_of(task).generates_text else task.name in ex.targets)]
    if k > len(pool):
        raise ConfigError(f"{where}, domain {domain!r}: --num-fewshot {k} is larger than its few-shot split "
                          f"{fmt.fewshot_split!r}, which has {len(pool)} examples.")
    if fmt.fewshot_sampler == "first_n":
        return pool[:k]
    rng = np.random.default_rng(seed_hash(seed, data.suite.name, task.name, domain, "fewshot"))
    return [pool[i] for i in rng.choice(len(pool), size=k, replace=False)]


def _shot(data: SuiteData, task: Task, example: Example) -> Shot:
    target = check_choice_example(data.suite, task, example)
    _, question = _question(example, task.format, f"Suite {data.suite.name!r}, exemplar {example.id!r}")
    return Shot(question, continuations(example, task.format)[target])


def build_requests(data: SuiteData, task: Task, examples: Mapping[str, Sequence[Example]], *,
                   num_fewshot: int | None = None, seed: int = 0) -> dict[str, list[ChoiceRequest]]:
    """One :class:`ChoiceRequest` per example of ``examples`` (domain → test examples).

    ``num_fewshot`` overrides the task's own ``num_fewshot``. Every example and exemplar is
    checked (:func:`check_choice_example`) and every template rendered here, so that bad
    input fails before any model runs.
    """
    def request(example: Example, prompt: Prompt, _: object) -> ChoiceRequest:
        return ChoiceRequest(example.id, prompt, continuations(example, task.format))

    return _render(data, task, examples, num_fewshot, seed, _shot,
                   lambda example: check_choice_example(data.suite, task, example), request)


Request = TypeVar("Request")
Checked = TypeVar("Checked")


def _render(data: SuiteData, task: Task, examples: Mapping[str, Sequence[Example]], num_fewshot: int | None,
            seed: int, shot: Callable[[SuiteData, Task, Example], Shot], check: Callable[[Example], Checked],
            request: Callable[[Example, Prompt, Checked], Request]) -> dict[str, list[Request]]:
    """Per domain, ``request(example, prompt, check(example))`` for each example (checked
    before its template is rendered), its prompt rendered with the domain's exemplars
    (``shot`` renders one)."""
    fmt = task.format
    k = fmt.num_fewshot if num_fewshot is None else num_fewshot
    out: dict[str, list[Request]] = {}
    for domain, items in examples.items():
        shots = tuple(shot(data, task, ex) for ex in fewshot_pool(data, task, domain, k, seed))
        requests = []
        for example in items:
            checked = check(example)
            where = f"Suite {data.suite.name!r}, task {task.name!r}, example {example.id!r}"
            description, question = _question(example, fmt, where)
            prompt = Prompt(question, description, shots, fmt.target_delimiter, fmt.fewshot_delimiter)
            requests.append(request(example, prompt, checked))
        out[domain] = requests
    return out


def check_references(suite: Suite, task: Task, example: Example) -> tuple[str, ...]:
    """The reference answers of a ``generation`` example, after checking them.

    Raises
    ------
    DataError
        If the example has no reference or an empty one (naming suite, task, example and
        the field ``references``).
    """
    where = f"Suite {suite.name!r}, task {task.name!r}, example {example.id!r}"
    if not example.references:
        raise DataError(f"{where}: field 'references' is missing or empty; a generation example needs at least "
                        "one reference answer.")
    for k, reference in enumerate(example.references):
        if not isinstance(reference, str) or not reference.strip():
            raise DataError(f"{where}: field 'references' item {k} is empty ({reference!r}).")
    return example.references


def _generation_shot(data: SuiteData, task: Task, example: Example) -> Shot:
    reference = check_references(data.suite, task, example)[0]
    _, question = _question(example, task.format, f"Suite {data.suite.name!r}, exemplar {example.id!r}")
    return Shot(question, reference)


def build_generation_requests(data: SuiteData, task: Task, examples: Mapping[str, Sequence[Example]], *,
                              num_fewshot: int | None = None, seed: int = 0) -> dict[str, list[GenerationRequest]]:
    """One :class:`GenerationRequest` per example of ``examples`` (domain → test examples),
    rendered like :func:`build_requests`; every reference is checked here
    (:func:`check_references`), before any model runs."""
    def request(example: Example, prompt: Prompt, references: tuple[str, ...]) -> GenerationRequest:
        return GenerationRequest(example.id, prompt, references)

    return _render(data, task, examples, num_fewshot, seed, _generation_shot,
                   lambda example: check_references(data.suite, task, example), request)
