"""SklearnAdapter: predict_proba mapped onto the task's choices; predict for regression."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.dummy import DummyClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline

from bench.adapters.sklearn import SklearnAdapter
from bench.errors import CapabilityError, ConfigError
from bench.runner import score_examples
from bench.suites.types import Example, Task

TASK = Task("sentiment", "classification", ("negative", "positive"))
THREE = Task("topic", "classification", ("books", "kitchen", "movies"))
RATING = Task("rating", "regression", value_range=(1, 5))
TEXTS = ["great book", "awful kettle", "great film", "awful book", "fine pan", "dull film"]
LABELS = np.array([1, 0, 1, 0, 1, 0])


def exs(texts: list[str]) -> list[Example]:
    return [Example(str(i), "d", t, {"sentiment": int(LABELS[i % 6]), "rating": 3.0}) for i, t in enumerate(texts)]


def test_pipeline_probabilities_equal_predict_proba() -> None:
    clf = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(TEXTS, LABELS)
    adapter = SklearnAdapter(clf, name="tfidf-logreg")
    np.testing.assert_allclose(np.exp(adapter.log_probs(exs(TEXTS), TASK)), clf.predict_proba(TEXTS), atol=1e-12)
    frame = score_examples(adapter, TASK, exs(TEXTS))
    assert frame["correct"].mean() == (clf.predict(TEXTS) == LABELS).mean()


def test_string_classes_map_to_choices_and_unseen_choices_are_floored() -> None:
    clf = DummyClassifier(strategy="prior").fit(np.zeros((4, 1)), ["movies", "books", "movies", "movies"])
    adapter = SklearnAdapter(clf, featurize=lambda texts: np.zeros((len(texts), 1)), min_prob=1e-6)
    p = np.exp(adapter.log_probs(exs(["x"]), THREE))[0]
    expected = np.maximum([0.25, 0.0, 0.75], 1e-6)
    np.testing.assert_allclose(p, expected / expected.sum())


def test_regression_uses_predict() -> None:
    reg = make_pipeline(TfidfVectorizer(), Ridge()).fit(TEXTS, [5, 1, 5, 1, 4, 2])
    adapter = SklearnAdapter(reg)
    np.testing.assert_allclose(adapter.predict_values(exs(TEXTS), RATING), reg.predict(TEXTS))
    assert adapter.task_kinds == frozenset({"regression"})
    with pytest.raises(CapabilityError, match="cannot score classification task 'sentiment'"):
        adapter.log_probs(exs(TEXTS), TASK)


def test_fingerprint_follows_the_fitted_state() -> None:
    a = SklearnAdapter(make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(TEXTS, LABELS))
    b = SklearnAdapter(make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(TEXTS, LABELS))
    c = SklearnAdapter(make_pipeline(TfidfVectorizer(), LogisticRegression(C=0.1)).fit(TEXTS, LABELS))
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()


def test_errors() -> None:
    with pytest.raises(ConfigError, match="the estimator is not fitted; call fit first"):
        SklearnAdapter(LogisticRegression())
    clf = DummyClassifier().fit(np.zeros((2, 1)), ["yes", "no"])
    adapter = SklearnAdapter(clf, featurize=lambda t: np.zeros((len(t), 1)), name="yn")
    with pytest.raises(ConfigError, match="class 'no' is neither a choice of task 'sentiment'"):
        adapter.log_probs(exs(["x"]), TASK)
    scoped = SklearnAdapter(make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(TEXTS, LABELS), task="sentiment")
    with pytest.raises(CapabilityError, match="was fitted for task 'sentiment', not 'topic'"):
        scoped.log_probs(exs(["x"]), THREE)
