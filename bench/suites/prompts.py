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

from dataclasses import dataclass

__all__ = ["ChoiceRequest", "Prompt", "Shot"]


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
