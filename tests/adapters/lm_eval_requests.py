"""The requests of the lm-evaluation-harness agreement check, built straight from the data files.

A small local builder of lm-eval's default MMLU prompts (``tasks/mmlu/default``: letter
options ``A. …`` with continuations ``" A"``…``" D"``; ``mmlu_continuation``: the option
texts as continuations after ``"Question: …\\nAnswer:"``), few-shot exemplars the first
``k`` rows of ``dev``, and the uci-sentiment prompt lm-eval users write. Both harnesses
are then given the same (context, continuation) strings; the suite loader of the
``mmlu`` suite builds the same prompts for ``bench run``. What runs lm-eval on them and
compares the results is :mod:`bench.adapters.lm_eval_reference` (shared with
``scripts/gpu-check``), re-exported here.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Sequence
from typing import Any

from bench.adapters.lm_eval_reference import (  # noqa: F401 (re-exported for the tests)
    Agreement,
    agreement,
    lm_eval_loglikelihood,
    make_hflm,
    n_tokens,
)
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


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - started
