"""MMLU prompts and scores as lm-evaluation-harness makes them: its own task objects, built
offline from the shared CSV files, against ours (letter and cloze, 0- and 5-shot)."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.data import load_suite_data
from bench.scoring.metrics import get_metric
from bench.scoring.tables import TaskInfo, task_columns
from bench.suites import parse_suite
from bench.suites.render import build_requests
from tests.conftest import SHARED_DATA

lm_eval = pytest.importorskip("lm_eval", reason="the lm-eval comparison needs lm-eval (pip install lm-eval)")
datasets = pytest.importorskip("datasets")
yaml = pytest.importorskip("yaml")
from lm_eval.api.task import ConfigurableTask  # noqa: E402

SUBJECTS = ("abstract_algebra", "high_school_us_history", "econometrics", "virology", "professional_law")
STYLES = {  # our style, lm-eval's task folder, its template file
    "letter": ("default", "_default_template_yaml"),
    "cloze": ("continuation", "_continuation_template_yaml"),
}
DESCRIPTIONS = {
    "letter": "The following are multiple choice questions (with answers) about {subject}.\\n\\n",
    "cloze": "The following are questions (with answers) about {subject}.\\n\\n",
}
PER_SUBJECT = 15


class _OfflineTask(ConfigurableTask):
    """lm-eval's ConfigurableTask reading documents given here instead of downloading them."""

    def __init__(self, docs: dict[str, list[dict]], config: dict) -> None:
        self._docs = docs
        super().__init__(config=config)

    def download(self, dataset_kwargs: dict | None = None, **kwargs: object) -> None:
        self.dataset = {split: datasets.Dataset.from_list(rows) for split, rows in self._docs.items()}


def _lm_eval_task(style: str, subject: str, docs: dict[str, list[dict]], metrics: tuple[str, ...] = ("acc",)
                  ) -> ConfigurableTask:
    folder = Path(os.path.dirname(lm_eval.__file__)) / "tasks" / "mmlu" / STYLES[style][0]
    config = yaml.safe_load((folder / STYLES[style][1]).read_text())
    own = yaml.safe_load((folder / f"mmlu_{subject}.yaml").read_text())
    for key in ("include", "tag"):
        own.pop(key, None)
    listed = [{"metric": m, "aggregation": "mean", "higher_is_better": True} for m in metrics]
    return _OfflineTask(docs, {**config, **own, "metric_list": listed})


def _suite(style: str):
    domains = "\n".join(f'[[domains]]\nname = "{s}"' for s in SUBJECTS)
    text = f"""
[suite]
name = "mmlu-{style}"
protocol = "zero_shot"
[source]
type = "mmlu"
[[tasks]]
name = "mmlu"
kind = "multiple_choice"
style = "{style}"
description = "{DESCRIPTIONS[style]}"
fewshot_split = "dev"
{domains}
"""
    return parse_suite(tomllib.loads(text))


def _docs(data, subject: str, split: str) -> list[dict]:
    items = data.domains[subject].test if split == "test" else data.domains[subject].pools["dev"]
    return [{"question": ex.fields["question"], "choices": list(ex.options), "answer": int(ex.targets["mmlu"]),
             "subject": subject} for ex in items]


@pytest.fixture(scope="module", params=list(STYLES))
def loaded(request: pytest.FixtureRequest):
    if not (SHARED_DATA / "mmlu" / "test").is_dir():
        pytest.skip(f"MMLU not found at {SHARED_DATA / 'mmlu'}")
    suite = _suite(request.param)
    return request.param, load_suite_data(suite, data_dir=SHARED_DATA)


@pytest.mark.parametrize("k", [0, 5])
def test_prompts_and_continuations_are_lm_evals(loaded, k: int) -> None:
    style, data = loaded
    task = data.suite.tasks[0]
    tests = {s: data.domains[s].test[:PER_SUBJECT] for s in SUBJECTS}
    ours = build_requests(data, task, tests, num_fewshot=k)
    compared = 0
    for subject in SUBJECTS:
        reference = _lm_eval_task(style, subject, {"test": _docs(data, subject, "test")[:PER_SUBJECT],
                                                   "dev": _docs(data, subject, "dev")})
        for doc, request, example in zip(reference.test_docs(), ours[subject], tests[subject], strict=True):
            context = reference.fewshot_context(doc, k)
            assert request.prompt.text() == context
            instances = reference.construct_requests(doc, context, metadata=("mmlu", 0, 1))
            assert [inst.arguments for inst in instances] == [(context, c) for c in request.scored_continuations()]
            assert int(reference.doc_to_target(doc)) == int(example.targets["mmlu"])
            compared += 1
    assert compared == len(SUBJECTS) * PER_SUBJECT


def test_acc_acc_norm_and_acc_bytes_are_lm_evals(loaded) -> None:
    style, data = loaded
    task = data.suite.tasks[0]
    subject = SUBJECTS[-1]
    examples = data.domains[subject].test[:40]
    requests = build_requests(data, task, {subject: examples})[subject]
    reference = _lm_eval_task(style, subject, {"test": _docs(data, subject, "test")[:40],
                                               "dev": _docs(data, subject, "dev")},
                              metrics=("acc", "acc_norm", "acc_bytes"))
    rng = np.random.default_rng(3)
    lls = [-rng.uniform(0.5, 30, len(r.continuations)) for r in requests]
    target = np.array([int(ex.targets["mmlu"]) for ex in examples])
    records = pd.DataFrame({"target": target, "correct": [int(np.argmax(a) == t) for a, t in zip(lls, target, strict=True)]})
    for j in range(4):
        records[f"logprob_{j}"] = [a[j] for a in lls]
        records[f"chars_{j}"] = [len(r.continuations[j]) for r in requests]
        records[f"bytes_{j}"] = [len(r.continuations[j].encode()) for r in requests]
    columns = task_columns(records, TaskInfo("multiple_choice", (), (subject,), ()))
    ours = {name: get_metric("multiple_choice", name).values(columns) for name in ("accuracy", "acc_norm", "acc_bytes")}
    for i, doc in enumerate(reference.test_docs()):
        result = reference.process_results(doc, [(float(v), False) for v in lls[i]])
        assert result["acc"] == ours["accuracy"][i]
        assert result["acc_norm"] == ours["acc_norm"][i]
        assert result["acc_bytes"] == ours["acc_bytes"][i]


# --- the generative formulation: lm-eval's mmlu_generative ---------------------------------
ANSWERS = (" B", " b", "B.", " (B)", " B) 4", "  C", "", " A", "B\nC", "b ", " The answer is B", "</s>B", " d</s>")


def _generative_task(subject: str, docs: dict[str, list[dict]]) -> ConfigurableTask:
    folder = Path(os.path.dirname(lm_eval.__file__)) / "tasks" / "mmlu" / "generative"
    config = yaml.safe_load((folder / "_default_template_yaml").read_text())
    own = yaml.safe_load((folder / f"mmlu_{subject}.yaml").read_text())
    for key in ("include", "tag"):
        own.pop(key, None)
    return _OfflineTask(docs, {**config, **own})


def _cut(text: str, stops: tuple[str, ...]) -> str:
    """What a generating model returns: the text before the first stop sequence."""
    ends = [text.index(s) for s in stops if s in text]
    return text[: min(ends)] if ends else text


@pytest.mark.parametrize("k", [0, 5])
def test_generative_prompts_stops_and_exact_match_are_lm_evals(k: int) -> None:
    from bench.suites import load_suite
    from bench.suites.render import build_generation_requests
    from bench.textscores import exact_match

    if not (SHARED_DATA / "mmlu" / "test").is_dir():
        pytest.skip(f"MMLU not found at {SHARED_DATA / 'mmlu'}")
    data = load_suite_data(load_suite("mmlu"), data_dir=SHARED_DATA)
    task = data.suite.task("mmlu_generative")
    tests = {s: data.domains[s].test[:PER_SUBJECT] for s in SUBJECTS}
    ours = build_generation_requests(data, task, tests, num_fewshot=k)
    compared = 0
    for subject in SUBJECTS:
        rows = {"test": [{**d, "answer": int(ex.targets["mmlu"])} for d, ex in
                         zip(_docs(data, subject, "test")[:PER_SUBJECT], tests[subject], strict=True)],
                "dev": _docs(data, subject, "dev")}
        reference = _generative_task(subject, rows)
        for doc, request in zip(reference.test_docs(), ours[subject], strict=True):
            context = reference.fewshot_context(doc, k)
            assert request.prompt.text() == context
            instance = reference.construct_requests(doc, context, metadata=("mmlu_generative", 0, 1))
            assert instance.arguments[0] == context and tuple(instance.arguments[1]["until"]) == task.decoding.stop
            assert request.references == (reference.doc_to_target(doc),)
            for answer in ANSWERS:  # a model back end cuts at `until` in lm-eval as here; the filters follow
                instance.resps = [_cut(answer, tuple(instance.arguments[1]["until"]))]
                for ensemble in reference._filters:
                    ensemble.apply([instance])
                expected = reference.process_results(doc, [instance.filtered_resps["get_response"]])["exact_match"]
                ours_em = exact_match(_cut(answer, task.decoding.stop), request.references, task.answer_normalization)
                assert ours_em == expected, (answer, request.references)
            compared += 1
    assert compared == len(SUBJECTS) * PER_SUBJECT
