"""``SklearnAdapter``: any fitted scikit-learn estimator as a model.

Classification uses ``predict_proba``: column ``j`` is the probability of
``estimator.classes_[j]``, which may be choice indices (``0..k-1``) or choice names; it is
mapped to the task's choices. A choice the estimator never saw gets probability 0, so
every probability is floored at ``min_prob`` and the row renormalised before the log:
``log_probs = ln(max(p, min_prob) / Σ max(p, min_prob))`` (as scikit-learn's
``log_loss`` clips). Regression uses ``predict``.

>>> from sklearn.pipeline import make_pipeline                      # doctest: +SKIP
>>> from sklearn.feature_extraction.text import TfidfVectorizer     # doctest: +SKIP
>>> from sklearn.linear_model import LogisticRegression             # doctest: +SKIP
>>> clf = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(texts, labels)  # doctest: +SKIP
>>> model = SklearnAdapter(clf, name="tfidf-logreg")                # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from bench.adapters.base import Adapter, config_fingerprint
from bench.errors import CapabilityError, ConfigError
from bench.suites.kinds import kind_of
from bench.suites.types import Example, Task

__all__ = ["SklearnAdapter", "sklearn_model"]

Featurizer = Callable[[list[str]], Any]


class SklearnAdapter(Adapter):
    """A fitted scikit-learn estimator (or pipeline) scoring featurized texts.

    Parameters
    ----------
    estimator
        A fitted estimator with ``predict_proba`` (classification) or ``predict``
        (regression).
    featurize
        ``fn(texts) -> X``; by default the list of texts itself (for pipelines that
        start with a text vectorizer).
    name
        The model's name in records.
    task
        Only score the task of this name (an estimator is fitted for one task).
    min_prob
        Floor of a choice's probability before the log (see the module docstring).
    """

    def __init__(self, estimator: Any, featurize: Featurizer | None = None, *, name: str = "sklearn",
                 task: str | None = None, min_prob: float = 1e-12) -> None:
        from sklearn.base import is_classifier, is_regressor
        from sklearn.exceptions import NotFittedError
        from sklearn.utils.validation import check_is_fitted

        try:
            check_is_fitted(estimator)
        except NotFittedError as exc:
            raise ConfigError(f"SklearnAdapter {name!r}: the estimator is not fitted; call fit first ({exc}).") from None
        kinds = set()
        if is_classifier(estimator) and hasattr(estimator, "predict_proba"):
            kinds.add("classification")
        if is_regressor(estimator):
            kinds.add("regression")
        if not kinds:
            raise ConfigError(f"SklearnAdapter {name!r}: {type(estimator).__name__} is neither a classifier with "
                              "predict_proba nor a regressor.")
        if not 0 < min_prob < 1:
            raise ConfigError(f"min_prob must be in (0, 1). Got {min_prob!r} instead.")
        self.estimator = estimator
        self.featurize = featurize or (lambda texts: texts)
        self.name = name
        self.task_name = task
        self.min_prob = min_prob
        self.task_kinds = frozenset(kinds)  # type: ignore[misc]

    def supports(self, task: Task) -> bool:
        return task.kind in self.task_kinds and (self.task_name is None or task.name == self.task_name)

    def _columns(self, task: Task) -> np.ndarray:
        """For each of ``classes_``, the index of its task choice."""
        columns = []
        for label in self.estimator.classes_.tolist():  # numpy scalars → str / int
            if isinstance(label, str) and label in task.choices:
                columns.append(task.choices.index(label))
            elif isinstance(label, (int, np.integer)) and 0 <= int(label) < len(task.choices):
                columns.append(int(label))
            else:
                raise ConfigError(f"SklearnAdapter {self.name!r}: class {label!r} is neither a choice of task "
                                  f"{task.name!r} ({', '.join(task.choices)}) nor a choice index.")
        return np.array(columns)

    def log_probs(self, examples: Sequence[Example], task: Task) -> np.ndarray:
        if not self.supports(task) or not kind_of(task).has_label_choices:
            raise self._cannot(task)
        proba = np.asarray(self.estimator.predict_proba(self.featurize([ex.text for ex in examples])), dtype=np.float64)
        full = np.zeros((len(examples), len(task.choices)))
        full[:, self._columns(task)] = proba
        full = np.maximum(full, self.min_prob)
        return np.log(full / full.sum(axis=1, keepdims=True))

    def predict_values(self, examples: Sequence[Example], task: Task) -> np.ndarray:
        if not self.supports(task) or not kind_of(task).has_numeric_target:
            raise self._cannot(task)
        values = self.estimator.predict(self.featurize([ex.text for ex in examples]))
        return np.asarray(values, dtype=np.float64).reshape(len(examples))

    def _cannot(self, task: Task) -> CapabilityError:
        if self.task_name is not None and task.name != self.task_name:
            return CapabilityError(f"Model {self.name!r} was fitted for task {self.task_name!r}, not {task.name!r}.")
        return super()._cannot(task)

    def fingerprint(self) -> str:
        import joblib

        return config_fingerprint(self.name, {"estimator": type(self.estimator).__qualname__, "task": self.task_name,
                                              "state": joblib.hash(self.estimator)})


def sklearn_model(target: str, *, name: str | None = None, task: str | None = None) -> SklearnAdapter:
    """``--model sklearn:module:attribute``: the fitted estimator ``module.attribute`` (or
    the estimator a function of that name returns, called with no arguments) as a model.

    Parameters
    ----------
    target
        ``"module:attribute"``; the module is imported from the current folder or the path.
    name
        The model's name in records (default: ``sklearn:<target>``).
    task
        Only score the task of this name.

    Raises
    ------
    ConfigError
        If ``target`` cannot be imported, or names neither a fitted estimator nor a
        function returning one.
    """
    from sklearn.base import BaseEstimator

    from bench.registry import load_object

    obj = load_object(target)
    estimator = obj if isinstance(obj, BaseEstimator) or not callable(obj) else obj()
    return SklearnAdapter(estimator, name=name or f"sklearn:{target}", task=task)
