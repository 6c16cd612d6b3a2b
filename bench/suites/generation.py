"""Generation tasks: decoding settings and the requests a model writes an answer for.

A ``generation`` task gives each example a prompt (rendered like a multiple-choice
question, see :mod:`bench.suites.render`) and one or more reference answers. The runner
passes :class:`GenerationRequest` objects to :meth:`bench.adapters.Adapter.generate`,
which returns one string per request, decoded as the task's :class:`Decoding` says.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.errors import ConfigError
from bench.suites.prompts import Prompt
from bench.textscores import NORMALIZATIONS

__all__ = ["MAX_NEW_TOKENS", "NORMALIZATIONS", "Decoding", "GenerationRequest"]

MAX_NEW_TOKENS = 4096
"""The most tokens a task may ask a model to generate per example (the suite schema's bound too)."""



@dataclass(frozen=True, slots=True)
class Decoding:
    """How a model decodes its answer (``[tasks.decoding]`` in a suite, ``--max-new-tokens`` …).

    Attributes
    ----------
    max_new_tokens
        Tokens generated at most, ``1 … MAX_NEW_TOKENS``.
    stop
        Stop sequences: the answer is cut before the first occurrence of any of them
        (the stop sequence itself is not part of the answer). Each is non-empty.
    temperature
        ``0`` (the default): greedy decoding. ``> 0``: sampling at this temperature.
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
        if isinstance(self.max_new_tokens, bool) or not isinstance(self.max_new_tokens, int) \
                or not 1 <= self.max_new_tokens <= MAX_NEW_TOKENS:
            raise ConfigError(f"max_new_tokens must be an integer in 1…{MAX_NEW_TOKENS}. "
                              f"Got {self.max_new_tokens!r} instead.")
        for stop in self.stop:
            if not isinstance(stop, str) or not stop:
                raise ConfigError(f"A stop sequence must be a non-empty string. Got {stop!r} in {list(self.stop)!r}.")
        if not math.isfinite(self.temperature) or self.temperature < 0:
            raise ConfigError(f"temperature must be ≥ 0 (0: greedy). Got {self.temperature!r} instead.")
        if not (0 < self.top_p <= 1):
            raise ConfigError(f"top_p must be in (0, 1]. Got {self.top_p!r} instead.")

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
