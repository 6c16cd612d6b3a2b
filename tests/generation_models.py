"""Callable generation models for the end-to-end tests (``--model tests.generation_models:qa``).

They answer from the prompt alone, deterministically, so that every figure a test checks
can be computed again from ``generations.jsonl``.
"""

from __future__ import annotations

import numpy as np

from bench.adapters import CallableAdapter
from bench.suites.generation import Decoding

GEOGRAPHY = {"Canada": "Ottawa", "Baghdad": "Tigris", "Europe": "The Volga.", "largest land area": "Russia",
             "Australia?": "Sydney", "Atacama": "South America", "Spain from Morocco": "Gibraltar",
             "Reykjavik": "Iceland", "Kenya": "Nairobi, Kenya", "Peru": "Lima"}
"""Question fragment → answer of the QA model (geography: right mostly)."""


def _last_question(prompt: str) -> str:
    return prompt.rsplit("Question:", 1)[-1]


def _qa(prompts: list[str], decoding: Decoding) -> list[str]:
    out = []
    for prompt in prompts:
        question = _last_question(prompt)
        answer = next((a for key, a in GEOGRAPHY.items() if key in question), None)
        if answer is None:  # other domains: the question's last two words, a poor answer
            answer = " ".join(question.replace("?", "").split()[-2:])
        out.append(f" {answer}\nQuestion: never scored")
    return [text.split(decoding.stop[0])[0] if decoding.stop else text for text in out]


def qa() -> CallableAdapter:
    """Answers some geography questions right and the rest with the question's last words."""
    return CallableAdapter("qa-lookup", generate=_qa)


def _copy_source(prompts: list[str], decoding: Decoding) -> list[str]:
    """The source sentence with its first word dropped (a poor but partly right translation)."""
    source = [p.rsplit("English:", 1)[-1].split("\n")[0].strip() for p in prompts]
    return [" " + " ".join(s.split()[1:]) for s in source]


def translator() -> CallableAdapter:
    """A translation 'model' that copies the source sentence: chrF rewards shared names and numbers."""
    return CallableAdapter("copy-source", generate=_copy_source)


def _uniform_loglikelihood(contexts: list[str], continuations: list[tuple[str, ...]]) -> list[np.ndarray]:
    return [np.array([-0.5 * len(c) for c in options]) for options in continuations]


def qa_with_loglikelihood() -> CallableAdapter:
    """The QA model, and a log-likelihood of −0.5 nats per character of every continuation."""
    return CallableAdapter("qa-lookup-ll", generate=_qa, loglikelihood=_uniform_loglikelihood)
