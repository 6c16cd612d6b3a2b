"""One conformance check over every registered model (and the adapter classes).

Every adapter, on every task kind it supports: outputs pass the runner's validation
(shape, finite, rows normalised), are deterministic, do not depend on the batch size, and
its fingerprint is stable. Models that need optional packages (their ``requires`` fact)
skip naming what installs them; a model that needs an argument is built from its
``example`` fact, whose ``{placeholders}`` the fixtures below fill.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy.special import logsumexp

from bench.adapters import (
    MODELS,
    Adapter,
    CallableAdapter,
    TorchModuleAdapter,
    make_model,
    missing_requirements,
)
from bench.data import load_suite_data
from bench.runner import score_examples
from bench.suites import Task, load_suite
from bench.suites.prompts import ChoiceRequest, Prompt, PromptFormat
from bench.suites.types import Example
from tests.adapters.conftest import serve_in_thread

LM_TASK = Task("text", "language_modeling")
MC_TASK = Task("mc", "multiple_choice", format=PromptFormat(style="cloze"))
N_EXAMPLES = 8
OPTIONS = (("yes", "no"), ("good", "bad", "fine"), ("a cat", "a dog", "a bird", "a fish"))


def _mc_examples(examples: list[Example]) -> tuple[list[Example], dict[str, ChoiceRequest]]:
    """The toy texts as questions with 2-4 options each, and their (cloze) requests."""
    out = [Example(ex.id, ex.domain, ex.text, {"mc": i % 2}, "test", OPTIONS[i % 3]) for i, ex in enumerate(examples)]
    requests = {ex.id: ChoiceRequest(ex.id, Prompt(f"{ex.text}\nAnswer:"), ex.options) for ex in out}
    return out, requests


@pytest.fixture(scope="module")
def toy() -> tuple[list[Task], list[Example], list[Example]]:
    data = load_suite_data(load_suite("toy-reviews"))
    train = data.examples(["books"], "train")[:64]
    test = [ex for d in ("books", "kitchen") for ex in data.domains[d].test[: N_EXAMPLES // 2]]
    return list(data.suite.tasks), train, test


PLACEHOLDER = re.compile(r"\{(\w+)\}")
"""A ``{name}`` in a registry entry's ``example`` spec: filled from the fixture of that name."""


@pytest.fixture(scope="module")
def causal_lm_dir(tiny_lm_dir: Path) -> str:
    """``{causal_lm_dir}``: a local causal language model folder (a tiny random Llama)."""
    return str(tiny_lm_dir)


@pytest.fixture(scope="module")
def completions_url(tiny_lm_dir: Path) -> Iterator[str]:
    """``{completions_url}``: the API root of an OpenAI-compatible server, with the model it serves."""
    if importlib.util.find_spec("transformers") is None:
        pytest.skip("needs transformers (xdbench[hf]) to serve a model")
    lm = make_model(f"hf-causal-lm:{tiny_lm_dir}")
    for url in serve_in_thread(lm):
        yield f"{url}?model={lm.name}"


FITTED = SimpleNamespace()
"""Estimators fitted by :func:`fitted_estimator`, importable as ``tests.adapters.test_conformance:FITTED.<name>``."""


@pytest.fixture(scope="module")
def fitted_estimator(toy) -> str:
    """``{fitted_estimator}``: ``module:attribute`` of a fitted scikit-learn pipeline (sentiment)."""
    from sklearn.feature_extraction.text import HashingVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    _, train, _ = toy
    clf = make_pipeline(HashingVectorizer(n_features=2**12), LogisticRegression(max_iter=200))
    FITTED.sentiment = clf.fit([ex.text for ex in train], [int(ex.targets["sentiment"]) for ex in train])
    return f"{__name__}:FITTED.sentiment"


def _registered(name: str) -> Callable[[pytest.FixtureRequest], Iterator[Adapter]]:
    """Build the registered model ``name``: skipped, naming what installs them, where the
    modules of its ``requires`` fact are missing; from its ``example`` spec, placeholders
    filled by fixtures, where it needs an argument."""
    def build(request: pytest.FixtureRequest) -> Iterator[Adapter]:
        missing = missing_requirements(name)
        if missing:
            pytest.skip(f"{name} needs {', '.join(missing)}: install {', '.join(sorted(set(missing.values())))}")
        example = MODELS.entry(name).facts.get("example", name)
        yield make_model(PLACEHOLDER.sub(lambda m: str(request.getfixturevalue(m.group(1))), example))
    return build


def _callable(request: pytest.FixtureRequest) -> Iterator[Adapter]:
    yield CallableAdapter("lengths", log_probs=lambda texts, choices: np.log(np.tile(
        np.arange(1, len(choices) + 1) / sum(range(1, len(choices) + 1)), (len(texts), 1))),
        predict_values=lambda texts: np.array([len(t) % 5 + 1.0 for t in texts]),
        text_nll=lambda texts: (np.array([len(t) * 2.0 for t in texts]), np.array([max(1, len(t)) for t in texts])),
        loglikelihood=lambda contexts, continuations: [-np.array([len(x) % 7 + len(c) + 1.0 for c in conts])
                                                       for x, conts in zip(contexts, continuations, strict=True)])


def _torch_module(request: pytest.FixtureRequest) -> Iterator[Adapter]:
    import torch

    from bench.baselines.features import HashedNgrams

    torch.manual_seed(0)
    yield TorchModuleAdapter("bag", torch.nn.EmbeddingBag(2**10, 2), HashedNgrams(2**10))


CLASS_CASES: dict[str, Callable[[pytest.FixtureRequest], Iterator[Adapter]]] = {
    "class:CallableAdapter": _callable,
    "class:TorchModuleAdapter": _torch_module,
}
"""Adapter classes that no registry entry builds by name (a registered model needs no entry here)."""


# Every registered model (built by name, or from its example spec, and fitted on toy data if
# trainable) and the adapter classes that are not registered by name.
CASES = {name: _registered(name) for name in MODELS.names()} | CLASS_CASES


@pytest.fixture(params=list(CASES), scope="module")
def fitted(request: pytest.FixtureRequest, toy) -> Iterator[Adapter]:
    builder = CASES[request.param]
    for adapter in builder(request):
        if adapter.trainable:
            tasks, train, _ = toy
            adapter.fit(train, [t for t in [*tasks, LM_TASK] if adapter.supports(t)], seed=0)
        yield adapter


def _score(adapter: Adapter, task: Task, examples: list[Example], batch_size: int) -> pd.DataFrame:
    if task.kind == "multiple_choice":
        questions, requests = _mc_examples(examples)
        return score_examples(adapter, task, questions, batch_size=batch_size, where="conformance",
                              requests=requests, n_options=4)
    return score_examples(adapter, task, examples, batch_size=batch_size, where="conformance")


def _tasks(adapter: Adapter, toy) -> list[Task]:
    tasks = [t for t in [*toy[0], LM_TASK, MC_TASK] if adapter.supports(t)]
    assert tasks, f"{adapter.name} supports no task kind"
    return tasks


def _numbers(frame: pd.DataFrame) -> np.ndarray:
    return np.nan_to_num(frame.drop(columns=["example_id"]).to_numpy(dtype=float), nan=-12345.0)


def test_outputs_are_valid_and_deterministic(fitted: Adapter, toy) -> None:
    for task in _tasks(fitted, toy):
        first = _score(fitted, task, toy[2], N_EXAMPLES)  # validates shape, finiteness, normalisation
        second = _score(fitted, task, toy[2], N_EXAMPLES)
        np.testing.assert_array_equal(_numbers(first), _numbers(second))
        assert len(first) == len(toy[2]) and np.isfinite(first["nll"]).all()
        if task.kind == "multiple_choice":  # NaN only beyond each question's own options
            logprob = first[[f"logprob_{k}" for k in range(4)]].to_numpy()
            assert (np.isfinite(logprob).sum(axis=1) == first["n_options"]).all() and (logprob[:, :2] <= 0).all()
        if task.kind == "classification":
            probs = first[[f"prob_{c}" for c in task.choices]].to_numpy()
            np.testing.assert_allclose(logsumexp(np.log(probs), axis=1), 0, atol=1e-6)


def test_outputs_do_not_depend_on_the_batch_size(fitted: Adapter, toy) -> None:
    for task in _tasks(fitted, toy):
        whole = _score(fitted, task, toy[2], N_EXAMPLES)
        pieces = _score(fitted, task, toy[2], 3)
        np.testing.assert_allclose(_numbers(pieces), _numbers(whole), atol=1e-4, rtol=1e-6)


def test_fingerprint_is_stable(fitted: Adapter, toy) -> None:
    before = fitted.fingerprint()
    for task in _tasks(fitted, toy):
        _score(fitted, task, toy[2][:2], 2)
    assert fitted.fingerprint() == before
    assert isinstance(before, str) and before.startswith(fitted.name)
