"""Make any Python function a model in one line.

>>> import numpy as np
>>> coin = CallableAdapter("coin", log_probs=lambda texts, choices: np.log(np.full((len(texts), len(choices)), 1 / len(choices))))
>>> coin.task_kinds
frozenset({'classification'})
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from bench.adapters.base import Adapter, config_fingerprint
from bench.errors import ConfigError
from bench.suites.generation import Decoding, GenerationRequest
from bench.suites.prompts import ChoiceRequest
from bench.suites.types import Example, Task

__all__ = ["CallableAdapter"]

LogProbsFn = Callable[[list[str], tuple[str, ...]], Any]
ValuesFn = Callable[[list[str]], Any]
NllFn = Callable[[list[str]], tuple[Any, Any]]
LoglikelihoodFn = Callable[[list[str], list[tuple[str, ...]]], Any]
GenerateFn = Callable[[list[str], Decoding], Any]


def _source_digest(fn: Callable[..., Any]) -> bytes:
    try:
        return hashlib.sha256(inspect.getsource(fn).encode()).digest()
    except (OSError, TypeError):
        return getattr(fn, "__qualname__", repr(fn)).encode()


class CallableAdapter(Adapter):
    """An adapter built from plain functions of the texts.

    Parameters
    ----------
    name
        The model's name in records.
    log_probs
        ``fn(texts, choices) -> (n, k)`` natural log-probabilities (classification).
    predict_values
        ``fn(texts) -> (n,)`` predicted values (regression).
    text_nll
        ``fn(texts) -> (nll, n_tokens)``, NLL in nats (language modelling).
    loglikelihood
        ``fn(contexts, continuations) -> list of (k_i,) arrays`` (multiple choice): for each
        request, ``contexts[i]`` is the prompt text and ``continuations[i]`` the scored
        strings (target delimiter included, e.g. ``(" A", " B", " C", " D")``); return the
        summed log-likelihood (nats, ≤ 0) of each continuation after its context.
    generate
        ``fn(prompts, decoding) -> list of str`` (generation): the answer written after each
        prompt text, decoded as ``decoding`` (the task's :class:`~bench.suites.generation.Decoding`)
        says; the references are never passed.
    version
        Part of the fingerprint; bump it when the function's behaviour changes and its
        source cannot be read.
    """

    def __init__(
        self,
        name: str,
        *,
        log_probs: LogProbsFn | None = None,
        predict_values: ValuesFn | None = None,
        text_nll: NllFn | None = None,
        loglikelihood: LoglikelihoodFn | None = None,
        generate: GenerateFn | None = None,
        version: str = "",
    ) -> None:
        functions: dict[str, Callable[..., Any] | None] = {"classification": log_probs, "regression": predict_values, "language_modeling": text_nll,
                     "multiple_choice": loglikelihood, "generation": generate}
        given: dict[str, Callable[..., Any]] = {kind: fn for kind, fn in functions.items() if fn is not None}
        if not given:
            raise ConfigError(f"CallableAdapter {name!r} needs at least one of log_probs, predict_values, text_nll, "
                              "loglikelihood, generate.")
        self.name = name
        self.task_kinds = frozenset(given)  # type: ignore[misc]
        self._functions = given
        self._version = version

    def log_probs(self, examples: Sequence[Example], task: Task) -> np.ndarray:
        if "classification" not in self._functions:
            raise self._cannot(task)
        return self._functions["classification"]([ex.text for ex in examples], task.choices)

    def predict_values(self, examples: Sequence[Example], task: Task) -> np.ndarray:
        if "regression" not in self._functions:
            raise self._cannot(task)
        return self._functions["regression"]([ex.text for ex in examples])

    def text_nll(self, examples: Sequence[Example], task: Task) -> tuple[np.ndarray, np.ndarray]:
        if "language_modeling" not in self._functions:
            raise self._cannot(task)
        return self._functions["language_modeling"]([ex.text for ex in examples])

    def loglikelihood(self, requests: Sequence[ChoiceRequest], task: Task) -> list[np.ndarray]:
        if "multiple_choice" not in self._functions:
            raise self._cannot(task)
        return self._functions["multiple_choice"]([r.prompt.text() for r in requests],
                                                  [r.scored_continuations() for r in requests])

    def generate(self, requests: Sequence[GenerationRequest], task: Task) -> list[str]:
        if "generation" not in self._functions:
            raise self._cannot(task)
        return self._functions["generation"]([r.prompt.text() for r in requests], task.decoding)

    def fingerprint(self) -> str:
        digests = [_source_digest(fn) for _, fn in sorted(self._functions.items())]
        return config_fingerprint(self.name, {"version": self._version}, *digests)
