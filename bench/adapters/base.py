"""The adapter protocol: the narrow waist between models and the harness.

Every model is wrapped in an :class:`Adapter`. The runner calls exactly one method per
task kind (the kind's ``method`` in :data:`bench.suites.kinds.TASK_KIND`) and validates
what comes back:

============================  ===========================================================
task kind                     method and return value
============================  ===========================================================
``classification``            ``log_probs(examples, task) -> float array (n, k)``: natural
                              log-probabilities of ``task.choices``; rows logsumexp to 0.
``regression``                ``predict_values(examples, task) -> float array (n,)``.
``language_modeling``         ``text_nll(examples, task) -> (nll, n_tokens)``: summed
                              negative log-likelihood of each text (nats) and its number
                              of scored tokens, two arrays of shape (n,).
``multiple_choice``           ``loglikelihood(requests, task) -> list of float arrays``:
                              per :class:`~bench.suites.prompts.ChoiceRequest`, the summed
                              log-likelihood (nats) of each of its scored continuations
                              after its prompt, shape ``(len(continuations),)``; not
                              normalised over the options (lm-eval's ``loglikelihood``).
``generation``                ``generate(requests, task) -> list of str``: per
                              :class:`~bench.suites.generation.GenerationRequest`, the
                              answer written after its prompt, decoded as
                              ``task.decoding`` says (cut before the first stop sequence).
============================  ===========================================================

The task is passed to every method (not only its choices) so that a model with one head
per task, or a language model with a prompt template per task, knows which to use.

A trainable adapter also implements ``fit(train, tasks, *, seed)``; the protocol decides
what it is trained on. An adapter with ``trains_all_tasks`` (a multi-task model) is
fitted on every task of the suite it supports, even when only some are scored. An
``adaptable`` adapter (transfer learning) also implements ``adapted(pool, tasks, *, seed)``:
given the *train* split of a domain it was not trained on, it returns a copy adapted to
that domain (e.g. fine-tuned on a few of the pool's examples), which scores that domain.
``fingerprint()`` identifies the model (name, configuration and,
once trained, a hash of its weights) for caching and for ``run.json``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from bench.errors import CapabilityError
from bench.registry import View
from bench.suites.generation import GenerationRequest
from bench.suites.kinds import TASK_KIND
from bench.suites.prompts import ChoiceRequest, Prompt, fill_text
from bench.suites.types import Example, Task

__all__ = ["METHOD_BY_KIND", "Adapter", "config_fingerprint", "prompt_text"]

METHOD_BY_KIND: Mapping[str, str] = View(lambda: {name: entry.method for name, entry in TASK_KIND.items()})
"""Task kind → the adapter method that scores it: each kind's ``method`` in
:data:`~bench.suites.kinds.TASK_KIND` (a read-only view)."""


def config_fingerprint(name: str, config: Any, *extra: bytes) -> str:
    """``name@<sha256 of the JSON config and extra bytes, 12 hex chars>``."""
    digest = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode())
    for chunk in extra:
        digest.update(chunk)
    return f"{name}@{digest.hexdigest()[:12]}"


def prompt_text(task: Task, text: str) -> str:
    """The prompt a language model scores a task's choices after: ``task.prompt`` with
    ``{text}`` replaced by ``text`` (``{{`` and ``}}`` are literal braces; any other
    placeholder is a :class:`~bench.errors.SuiteError`), or the text alone."""
    return text if task.prompt is None else fill_text(task.prompt, text, f"task {task.name!r} prompt")


class Adapter:
    """Base class of model adapters; subclasses implement the methods of their kinds.

    Attributes
    ----------
    name
        The model's name in records and leaderboards.
    task_kinds
        The task kinds this adapter can score.
    trainable
        Whether the adapter must be fitted (``fit``) before it scores.
    adaptable
        Whether the adapter implements ``adapted`` (per-target-domain adaptation).
    """

    name: str = "adapter"
    task_kinds: ClassVar[frozenset[str]] = frozenset()
    trainable: ClassVar[bool] = False
    adaptable: ClassVar[bool] = False

    @property
    def trains_all_tasks(self) -> bool:
        """Whether ``fit`` should get every task of the suite (multi-task models)."""
        return False

    def supports(self, task: Task) -> bool:
        """Whether this adapter can score ``task``."""
        return task.kind in self.task_kinds

    def fit(self, train: Sequence[Example], tasks: Sequence[Task], *, seed: int) -> None:
        """Train on ``train`` for ``tasks``; only trainable adapters implement it."""
        raise CapabilityError(f"Model {self.name!r} is not trainable.")

    def adapted(self, pool: Sequence[Example], tasks: Sequence[Task], *, seed: int) -> Adapter:
        """A copy of this (fitted) model adapted to the domain of ``pool``, a domain's *train* split.

        Only adaptable adapters implement it; the runner never passes test examples.
        """
        raise CapabilityError(f"Model {self.name!r} cannot adapt to a new domain.")

    def log_probs(self, examples: Sequence[Example], task: Task) -> np.ndarray:
        """Log-probabilities of ``task.choices`` per example, shape ``(n, k)``, natural log."""
        raise self._cannot(task)

    def predict_values(self, examples: Sequence[Example], task: Task) -> np.ndarray:
        """Predicted value per example, shape ``(n,)``."""
        raise self._cannot(task)

    def text_nll(self, examples: Sequence[Example], task: Task) -> tuple[np.ndarray, np.ndarray]:
        """Summed NLL of each text (nats) and the number of tokens scored, each ``(n,)``."""
        raise self._cannot(task)

    def loglikelihood(self, requests: Sequence[ChoiceRequest], task: Task) -> list[np.ndarray]:
        """Per request, ``ln p(prompt.target_delimiter + continuation_j | prompt.text())`` summed
        over the continuation's tokens, for each ``j`` (nats, shape ``(k_i,)``)."""
        raise self._cannot(task)

    def generate(self, requests: Sequence[GenerationRequest], task: Task) -> list[str]:
        """Per request, the text written after its prompt, decoded as ``task.decoding`` says:
        at most ``max_new_tokens`` tokens, cut before the first of ``task.decoding.stop``."""
        raise self._cannot(task)

    def rendered_prompt(self, prompt: Prompt) -> str:
        """The exact string the model scores continuations after (default ``prompt.text()``;
        a chat model returns its chat-templated rendering)."""
        return prompt.text()

    def rendered_continuations(self, request: ChoiceRequest) -> tuple[str, ...]:
        """The exact strings scored after :meth:`rendered_prompt` (default
        ``request.scored_continuations()``)."""
        return request.scored_continuations()

    def fingerprint(self) -> str:
        """A stable identity of the model: name, configuration and weights."""
        return config_fingerprint(self.name, {"class": type(self).__qualname__})

    def _cannot(self, task: Task) -> CapabilityError:
        kinds = ", ".join(sorted(self.task_kinds)) or "none"
        return CapabilityError(
            f"Model {self.name!r} cannot score {task.kind} task {task.name!r}; it supports: {kinds}."
        )
