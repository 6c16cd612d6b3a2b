"""Generation tasks: decoding settings and the requests a model writes an answer for.

A ``generation`` task gives each example a prompt (rendered like a multiple-choice
question, see :mod:`bench.suites.render`) and one or more reference answers. The runner
passes :class:`GenerationRequest` objects to :meth:`bench.adapters.Adapter.generate`,
which returns one string per request, decoded as the task's :class:`Decoding` says.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.suites.prompts import Prompt
from bench.suites.rules import MAX_SEED, Int, List, Number, Str, ValueType, check_config
from bench.textscores import NORMALIZATIONS

__all__ = ["DECODING_RULES", "MAX_NEW_TOKENS", "NORMALIZATIONS", "Decoding", "GenerationRequest"]

MAX_NEW_TOKENS = 4096
"""The most tokens a task may ask a model to generate per example (the suite schema's bound too)."""
MAX_STOPS = 16
"""The most stop sequences of one task or run."""
MAX_STOP_CHARS = 200
"""The longest stop sequence (characters)."""

DECODING_RULES: dict[str, ValueType] = {
    "max_new_tokens": Int(1, MAX_NEW_TOKENS),
    "stop": List(Str(max_chars=MAX_STOP_CHARS, blank=True), min_len=0, max_len=MAX_STOPS),
    "temperature": Number(0.0, 100.0),
    "top_p": Number(0.0, 1.0, bounds="(]"),
    "seed": Int(0, MAX_SEED),
}
"""The rule of each field of :class:`Decoding`; the suite schema's ``[tasks.decoding]``
table and ``bench serve``'s request checks use the same rules."""


@dataclass(frozen=True, slots=True)
class Decoding:
    """How a model decodes its answer (``[tasks.decoding]`` in a suite, ``--max-new-tokens`` …).

    Attributes
    ----------
    max_new_tokens
        Tokens generated at most, ``1 … MAX_NEW_TOKENS``.
    stop
        Stop sequences: the answer is cut before the first occurrence of any of them
        (the stop sequence itself is not part of the answer). At most :data:`MAX_STOPS`,
        each non-empty, at most :data:`MAX_STOP_CHARS` characters, no repeats.
    temperature
        ``0`` (the default): greedy decoding. ``> 0``: sampling at this temperature (≤ 100).
    top_p
        Nucleus sampling mass, ``0 < top_p ≤ 1`` (only when sampling).
    seed
        Seed of the sampler (only when sampling); the same seed gives the same answers.
    """

    max_new_tokens: int = 64
    stop: tuple[str, ...] = ("\n\n",)
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        check_config(self, DECODING_RULES)

    @property
    def greedy(self) -> bool:
        """Whether decoding is greedy (``temperature == 0``)."""
        return self.temperature == 0


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """A prompt a model writes an answer after, and the answers it is scored against.

    ``references`` are never shown to the model; they are here so that a request carries
    everything its record needs. ``prompt.text()`` is the plain prompt (a chat model
    renders ``prompt.messages()`` with its template instead).
    """

    example_id: str
    prompt: Prompt
    references: tuple[str, ...]
