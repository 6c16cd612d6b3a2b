"""The requests of the lm-evaluation-harness agreement check, built straight from the data files.

A small local builder of lm-eval's default MMLU prompts (``tasks/mmlu/default``: letter
options ``A. …`` with continuations ``" A"``…``" D"``; ``mmlu_continuation``: the option
texts as continuations after ``"Question: …\\nAnswer:"``), few-shot exemplars the first
``k`` rows of ``dev``, and the uci-sentiment prompt lm-eval users write. Both harnesses
are then given the same (context, continuation) strings; the suite loader of the
``mmlu`` suite builds the same prompts for ``bench run``.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.suites.prompts import ChoiceRequest, Prompt, Shot
from tests.conftest import SHARED_DATA, find_data

DATA = find_data("mmlu/test", "uci-sentiment") or SHARED_DATA
SUBJECTS = ("abstract_algebra", "anatomy", "astronomy", "college_biology", "high_school_geography",
            "marketing", "philosophy", "world_religions")
LETTERS = ("A", "B", "C", "D")
SENTIMENT_DOMAINS = {"amazon": "amazon_cells_labelled.txt", "imdb": "imdb_labelled.txt", "yelp": "yelp_labelled.txt"}


def mmlu_rows(subject: str, split: str) -> list[dict[str, Any]]:
    """Rows of ``mmlu/<split>/<subject>_<split>.csv``: question, four options, answer index."""
    with (DATA / "mmlu" / split / f"{subject}_{split}.csv").open(newline="", encoding="utf-8") as handle:
        return [{"question": r["question"], "choices": [r[f"choice{i}"] for i in range(4)], "answer": int(r["answer"])}
                for r in csv.DictReader(handle)]


def _question(row: dict[str, Any], style: str) -> str:
    if style == "letter":
        options = "".join(f"\n{letter}. {choice}" for letter, choice in zip(LETTERS, row["choices"], strict=True))
        return f"{row['question'].strip()}{options}\nAnswer:"
    return f"Question: {row['question'].strip()}\nAnswer:"


def _answer(row: dict[str, Any], style: str) -> str:
    return LETTERS[row["answer"]] if style == "letter" else row["choices"][row["answer"]]


def mmlu_requests(subjects: Sequence[str], n_questions: int, shots: int, style: str) -> list[tuple[ChoiceRequest, int]]:
    """``(request, target index)`` for the first ``n_questions`` test questions of each subject."""
    out = []
    for subject in subjects:
        description = f"The following are multiple choice questions (with answers) about {subject.replace('_', ' ')}.\n\n"
        exemplars = tuple(Shot(_question(r, style), _answer(r, style)) for r in mmlu_rows(subject, "dev")[:shots])
        for i, row in enumerate(mmlu_rows(subject, "test")[:n_questions]):
            options = LETTERS if style == "letter" else tuple(row["choices"])
            prompt = Prompt(question=_question(row, style), description=description, shots=exemplars)
            out.append((ChoiceRequest(f"{subject}-{i}", prompt, tuple(options)), row["answer"]))
    return out


def sentiment_requests(n_per_domain: int) -> list[tuple[ChoiceRequest, int]]:
    """The first lines of each uci-sentiment domain as ``"Review: {text}\\nSentiment:"`` + " negative"/" positive"."""
    out = []
    for domain, name in SENTIMENT_DOMAINS.items():
        lines = (DATA / "uci-sentiment" / name).read_text(encoding="utf-8").splitlines()[:n_per_domain]
        for i, line in enumerate(lines):
            text, label = line.rsplit("\t", 1)
            prompt = Prompt(question=f"Review: {text}\nSentiment:")
            out.append((ChoiceRequest(f"{domain}-{i}", prompt, ("negative", "positive")), int(label)))
    return out


def has_data() -> bool:
    return find_data("mmlu/test", "uci-sentiment") is not None


def lm_eval_loglikelihood(hflm: Any, requests: Sequence[ChoiceRequest]) -> list[np.ndarray]:
    """lm-eval's ``HFLM.loglikelihood`` on the (context, continuation) pairs of ``requests``."""
    from lm_eval.api.instance import Instance

    pairs = [(r.prompt.text(), c) for r in requests for c in r.scored_continuations()]
    instances = [Instance("loglikelihood", {}, pair, i) for i, pair in enumerate(pairs)]
    flat = [ll for ll, _ in hflm.loglikelihood(instances, disable_tqdm=True)]
    out, start = [], 0
    for r in requests:
        out.append(np.array(flat[start : start + len(r.continuations)]))
        start += len(r.continuations)
    return out


def make_hflm(adapter: Any, batch_size: int = 16) -> Any:
    """lm-eval's HFLM around the already-loaded model object and tokenizer of an ``hf-causal-lm``."""
    import logging

    from lm_eval.models.huggingface import HFLM

    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    return HFLM(pretrained=adapter.model, tokenizer=adapter.tokenizer, batch_size=batch_size, device=str(adapter.device))


@dataclass(frozen=True)
class Agreement:
    """How two harnesses' per-option log-likelihoods of the same requests compare."""

    n_requests: int
    max_abs_diff: float
    same_argmax: float
    accuracy_a: float
    accuracy_b: float


def agreement(a: Sequence[np.ndarray], b: Sequence[np.ndarray], targets: Sequence[int]) -> Agreement:
    diff = max(float(np.max(np.abs(x - y))) for x, y in zip(a, b, strict=True))
    pred_a = np.array([int(np.argmax(x)) for x in a])
    pred_b = np.array([int(np.argmax(y)) for y in b])
    t = np.asarray(targets)
    return Agreement(len(t), diff, float(np.mean(pred_a == pred_b)), float(np.mean(pred_a == t)),
                     float(np.mean(pred_b == t)))


def n_tokens(adapter: Any, requests: Sequence[ChoiceRequest]) -> int:
    """Context + continuation tokens of every (context, continuation) pair (the work either harness does)."""
    pairs = [(r.prompt.text(), c) for r in requests for c in r.scored_continuations()]
    return sum(len(ids) for ids in adapter.context_tokens([ctx + c for ctx, c in pairs]))


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - started
