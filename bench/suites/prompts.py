"""Prompts as language-model harnesses write them: a description, few-shot exemplars, a question.

A :class:`Prompt` is what a language model sees before the continuations it scores (or
before it generates). It keeps its parts apart, so that the same prompt can be rendered
as one plain string (:meth:`Prompt.text`, lm-evaluation-harness's layout) or as chat
messages for a tokenizer's chat template (:meth:`Prompt.messages`):

.. code-block:: text

    text() = description
             + shot_1.context + target_delimiter + shot_1.target + fewshot_delimiter
             + ...
             + shot_k.context + target_delimiter + shot_k.target + fewshot_delimiter
             + question

and the continuation of option ``j`` is ``target_delimiter + continuations[j]``. With
lm-eval's MMLU defaults, ``description`` is ``"The following are multiple choice
questions (with answers) about abstract algebra.\\n\\n"``, ``question`` ends in
``"Answer:"``, ``target_delimiter`` is ``" "`` and ``fewshot_delimiter`` is ``"\\n\\n"``.

:class:`ChoiceRequest` pairs a prompt with the continuations to score; it is what the
runner passes to :meth:`bench.adapters.Adapter.loglikelihood`.
"""

from __future__ import annotations

import re
import string
from collections.abc import Collection
from dataclasses import dataclass

from bench.errors import DataError, SuiteError

__all__ = ["ChoiceRequest", "Prompt", "Shot", "fill_text", "template_problems"]


@dataclass(frozen=True, slots=True)
class Shot:
    """One few-shot exemplar: its rendered question and its answer (e.g. ``"B"``)."""

    context: str
    target: str


@dataclass(frozen=True, slots=True)
class Prompt:
    """The parts of one prompt (see the module docstring for how they are joined)."""

    question: str
    description: str = ""
    shots: tuple[Shot, ...] = ()
    target_delimiter: str = " "
    fewshot_delimiter: str = "\n\n"

    @property
    def fewshot_context(self) -> str:
        """The exemplars, each followed by its answer and the few-shot delimiter."""
        return "".join(
            f"{shot.context}{self.target_delimiter}{shot.target}{self.fewshot_delimiter}" for shot in self.shots
        )

    @property
    def shared_prefix(self) -> str:
        """What every question of a domain shares: description and exemplars (a prefix of :meth:`text`)."""
        return self.description + self.fewshot_context

    def text(self) -> str:
        """The prompt as one plain string (no chat template)."""
        return self.shared_prefix + self.question

    def messages(self) -> list[dict[str, str]]:
        """The prompt as chat messages, laid out as lm-eval lays them without multi-turn few-shot:
        the description as the system message (if any), the exemplars and the question as one
        user message."""
        messages = [{"role": "system", "content": self.description}] if self.description else []
        return [*messages, {"role": "user", "content": self.fewshot_context + self.question}]


@dataclass(frozen=True, slots=True)
class ChoiceRequest:
    """A prompt and the options whose log-likelihood is scored after it.

    ``continuations[j]`` is option ``j`` as the model must write it, *without* the
    target delimiter (``"A"`` for a letter prompt, the option's text for a cloze
    prompt); the scored string is ``prompt.target_delimiter + continuations[j]``.
    """

    example_id: str
    prompt: Prompt
    continuations: tuple[str, ...]

    def scored_continuations(self) -> tuple[str, ...]:
        """The exact strings scored after :meth:`Prompt.text`."""
        return tuple(self.prompt.target_delimiter + c for c in self.continuations)


# --- rendering: templates, formulations, few-shot --------------------------------------

FORMATS: tuple[str, ...] = ("letter", "cloze")
"""How a multiple-choice question is posed: ``letter`` lists the options as ``A. …`` and
scores the labels ``A``…; ``cloze`` scores each option's own text."""

SAMPLERS: tuple[str, ...] = ("first_n", "random")
"""How few-shot exemplars are drawn from their split: the first ``k`` in source order
(lm-eval's ``first_n``), or ``k`` drawn without replacement with a seed."""

DEFAULT_TEMPLATES: dict[str, str] = {
    "letter": "{text}\n{option_list}\nAnswer:",
    "cloze": "Question: {text}\nAnswer:",
}
"""Question templates used when a task gives none (lm-eval's ``mmlu`` and
``mmlu_continuation`` layouts when ``{text}`` is the stripped question)."""

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True, slots=True)
class PromptFormat:
    """How the prompts of a ``multiple_choice`` task are written (TOML keys of ``[[tasks]]``).

    Attributes
    ----------
    style
        ``"letter"`` or ``"cloze"`` (see :data:`FORMATS`).
    template
        The question, with ``{field}`` placeholders (see :func:`render_template`);
        ``None``: :data:`DEFAULT_TEMPLATES` of the style.
    description
        A line before the exemplars, with the same placeholders (MMLU: ``"The following
        are multiple choice questions (with answers) about {subject}.\\n\\n"``).
    num_fewshot
        Exemplars before each question unless the run says otherwise (``--num-fewshot``).
    fewshot_split
        The split exemplars come from (MMLU: ``"dev"``); never ``"test"``.
    fewshot_sampler
        ``"first_n"`` or ``"random"`` (see :data:`SAMPLERS`).
    target_delimiter, fewshot_delimiter
        As in :class:`Prompt`.
    labels
        Option labels of the letter style (default ``A``, ``B``, …).
    """

    style: str = "letter"
    template: str | None = None
    description: str = ""
    num_fewshot: int = 0
    fewshot_split: str = ""
    fewshot_sampler: str = "first_n"
    target_delimiter: str = " "
    fewshot_delimiter: str = "\n\n"
    labels: tuple[str, ...] = ()

    @property
    def question_template(self) -> str:
        """The question template, or the style's default."""
        return self.template if self.template is not None else DEFAULT_TEMPLATES[self.style]

    def label(self, index: int) -> str:
        """The letter-style label of option ``index`` (``A`` for 0).

        Raises
        ------
        DataError
            If the task has fewer labels than ``index + 1`` (the caller names the example).
        """
        labels = self.labels or LETTERS
        if not 0 <= index < len(labels):
            raise DataError(f"option {index} has no label: the task has {len(labels)} label(s) "
                            f"({', '.join(labels[:8])}{' …' if len(labels) > 8 else ''}); give one label per option "
                            "in 'labels' or drop the extra options.")
        return labels[index]


# --- templates ----------------------------------------------------------------------------

_OPTION_INDEX = re.compile(r"options\[\d{1,4}\]")


def template_problems(template: str, key: str, fields: Collection[str] | None = None,
                      options: bool = False) -> list[str]:
    """What is wrong with a prompt, description or text template, before any example is seen.

    The one rule every template of every task kind follows: ``{name}`` placeholders only
    (``{{`` and ``}}`` for literal braces), with no attribute access (``{text.upper}``),
    no conversion or format spec (``{text!r:>10}``) and no index, except ``{options[k]}``
    where ``options`` (``multiple_choice`` and ``generation`` templates). Where ``fields``
    is given (the names a template may use: ``{text}`` for a classification prompt, a
    table's columns for ``text_template``), every placeholder must be one of them; other
    templates are checked against each example when its prompt is rendered, before any
    model runs.

    Returns
    -------
    list of str
        One message per problem, each naming ``key``; empty if the template is fine.
    """
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        return [f"'{key}' has unbalanced braces ({exc}); write {{{{ and }}}} for a literal brace."]
    found = []
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        shown = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
        if not name or name.isdigit():
            found.append(f"'{key}' has a positional placeholder {shown}; name a field, e.g. {{text}}.")
        elif conversion or spec:
            found.append(f"'{key}' uses a conversion or format spec in {shown}; only {{name}} placeholders are "
                         "allowed.")
        elif "." in name or ("[" in name and not (options and _OPTION_INDEX.fullmatch(name))):
            found.append(f"'{key}' accesses an attribute or index in {shown}; only {{name}} placeholders "
                         + ("and {options[k]} " if options else "") + "are allowed.")
        elif fields is not None and name not in fields and "[" not in name:
            available = ", ".join(sorted(fields)[:30]) or "(none)"
            found.append(f"'{key}' names field {shown}, which is not available here. Available: {available}.")
    return found


def fill_text(template: str, text: str, where: str = "prompt") -> str:
    """A classification, regression or language-modelling prompt: ``template`` with ``{text}``
    filled (and ``{{`` / ``}}`` written as braces), as :func:`template_problems` allows.

    Raises
    ------
    SuiteError
        If the template breaks :func:`template_problems` with ``fields = {"text"}``.
    """
    problems = template_problems(template, where, fields=("text",))
    if problems:
        raise SuiteError(problems[0])
    return "".join(literal + ("" if name is None else text) for literal, name, _, _ in string.Formatter().parse(template))
