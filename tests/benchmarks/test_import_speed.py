"""``bench import lm-eval`` on a synthetic log of MMLU's size: 14,042 questions over the 57
subjects, one ``samples_mmlu_<subject>_<date>.jsonl`` per subject written in lm-eval 0.4.13's
layout (the ``doc``, four ``arguments`` each repeating the ~600-character prompt, ``resps`` and
``filtered_resps`` as strings, the hashes, ``acc`` and ``acc_norm``: ~3 KB a line, 42 MB in all)
beside a ``results_<date>.json``.

Two timings (CPU seconds of this process, ``time.process_time``, and wall seconds):

- ``read``: :func:`bench.importers.lm_eval.read_lm_eval`, the log into records (the goal of
  issue 21: ≤ 10 s for 14,042 questions);
- ``import``: :func:`bench.importers.publish.import_run` with the default statistics (10,000
  resamples), that is the reading, the store, every metric, interval and gap of ``bench run``
  (about 14 s CPU on an idle machine for MMLU's size, see this folder's README), the run
  folder and the leaderboard.

Run with ``python -m pytest tests/benchmarks/test_import_speed.py --benchmark-enable -s``.
Under plain ``pytest`` (benchmarks disabled) it imports 3 subjects × 20 questions and checks
the same things.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np
import pytest

from bench.data.mmlu import SUBJECTS
from bench.importers.lm_eval import read_lm_eval
from bench.importers.publish import import_run
from bench.scoring.options import StatisticsOptions

QUESTIONS = 14_042
DATE = "2026-12-07T12-00-00.000000"


def _line(subject: str, doc_id: int, rng: np.random.Generator) -> tuple[str, float]:
    options = [f"option {k} of question {doc_id} about {subject}, " + "words " * int(rng.integers(2, 12))
               for k in range(4)]
    question = f"Question {doc_id} about {subject}: " + "a sentence of the question stem. " * 12
    answer = int(rng.integers(4))
    prompt = (f"The following are multiple choice questions (with answers) about {subject.replace('_', ' ')}.\n\n"
              f"{question}\n" + "".join(f"{'ABCD'[k]}. {o}\n" for k, o in enumerate(options)) + "Answer:")
    lls = rng.normal(-3.0, 1.5, 4)
    acc = float(int(np.argmax(lls)) == answer)
    line = {"doc_id": doc_id, "doc": {"question": question, "subject": subject, "choices": options, "answer": answer},
            "target": str(answer),
            "arguments": {f"gen_args_{k}": {"arg_0": prompt, "arg_1": f" {'ABCD'[k]}"} for k in range(4)},
            "resps": [[[str(float(v)), "False"]] for v in lls], "filtered_resps": [[str(float(v)), "False"] for v in lls],
            "filter": "none", "metrics": ["acc", "acc_norm"],
            "doc_hash": hashlib.sha256(question.encode()).hexdigest(),
            "prompt_hash": hashlib.sha256(prompt.encode()).hexdigest(),
            "target_hash": hashlib.sha256(str(answer).encode()).hexdigest(), "acc": acc, "acc_norm": acc}
    return json.dumps(line), acc


def write_log(folder: Path, subjects: list[str], per_subject: list[int]) -> dict[str, float]:
    """An lm-eval output folder; return each task's accuracy (what its results file says)."""
    model = folder / "synthetic-model"
    model.mkdir(parents=True)
    rng = np.random.default_rng(0)
    accuracy, configs = {}, {}
    for subject, n in zip(subjects, per_subject, strict=True):
        lines, hits = zip(*(_line(subject, k, rng) for k in range(n)), strict=True)
        (model / f"samples_mmlu_{subject}_{DATE}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        accuracy[f"mmlu_{subject}"] = float(np.mean(hits))
        configs[f"mmlu_{subject}"] = {"task": f"mmlu_{subject}", "output_type": "multiple_choice",
                                      "target_delimiter": " ", "num_fewshot": 0}
    results = {"results": {t: {"acc,none": a, "acc_norm,none": a} for t, a in accuracy.items()}, "configs": configs,
               "group_subtasks": {"mmlu": list(configs)}, "n-shot": dict.fromkeys(configs, 0),
               "config": {"model": "hf", "model_args": {"pretrained": "synthetic-model"}}, "lm_eval_version": "0.4.13"}
    (model / f"results_{DATE}.json").write_text(json.dumps(results), encoding="utf-8")
    return accuracy


def _sizes(enabled: bool) -> tuple[list[str], list[int]]:
    if not enabled:
        return list(SUBJECTS)[:3], [20, 20, 20]
    subjects = list(SUBJECTS)
    base, extra = divmod(QUESTIONS, len(subjects))
    return subjects, [base + (k < extra) for k in range(len(subjects))]


def _timed(call):  # type: ignore[no-untyped-def]
    cpu, wall = time.process_time(), time.perf_counter()
    value = call()
    return value, time.process_time() - cpu, time.perf_counter() - wall


@pytest.mark.filterwarnings("ignore::bench.errors.EmptyDomainWarning")
def test_import_of_an_mmlu_sized_lm_eval_log(benchmark, tmp_path: Path) -> None:
    enabled = not benchmark.disabled
    subjects, sizes = _sizes(enabled)
    accuracy = write_log(tmp_path / "log", subjects, sizes)
    imported = benchmark.pedantic(lambda: read_lm_eval(tmp_path / "log"), rounds=1, iterations=1)
    assert len(imported.records) == sum(sizes)
    _, read_cpu, read_wall = _timed(lambda: read_lm_eval(tmp_path / "log"))
    options = None if enabled else StatisticsOptions(resamples=200, permutations=100)
    done, cpu, wall = _timed(lambda: import_run("lm-eval", tmp_path / "log", tmp_path / "out", statistics=options))
    metrics = done.scored.metrics
    by_subject = metrics[metrics["metric"] == "accuracy"].set_index("domain")["value"]
    for subject in subjects:
        assert by_subject[subject] == accuracy[f"mmlu_{subject}"]
    megabytes = sum(p.stat().st_size for p in (tmp_path / "log").rglob("*")) / 1e6
    print(f"\nlm-eval log: {sum(sizes)} questions, {len(subjects)} subjects, {megabytes:.0f} MB; "
          f"read: {read_cpu:.2f} s CPU, {read_wall:.2f} s wall; whole import (statistics "
          f"{'10,000' if enabled else '200'} resamples): {cpu:.2f} s CPU, {wall:.2f} s wall")
