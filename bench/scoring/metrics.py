"""Metrics from per-example records.

Every metric is a function of *sums of per-example components* over the examples of a
group. Each example :math:`i` contributes a row :math:`c_i \\in \\mathbb{R}^C` and the
metric of a group :math:`G` is :math:`m(G) = f\\big(\\sum_{i \\in G} c_i\\big)`. Most
metrics are a *ratio of sums*, :math:`C = 2`, :math:`c_i = (v_i, w_i)` and

.. math:: m = \\frac{\\sum_i v_i}{\\sum_i w_i}

with per-example values :math:`v_i` and weights :math:`w_i` (1 unless stated); a mean is
the case :math:`w_i = 1`. The binned calibration errors have one component per bin.
Writing metrics this way gives grouped values, pooled values, bootstrap resamples,
jackknife values and permutations from the same component matrix, cheaply
(:mod:`bench.scoring.bootstrap`).

=====================  ===================  ==========================================  ======
metric                 task kind            definition                                  better
=====================  ===================  ==========================================  ======
``accuracy``           classification       mean 1[argmax p = y]                        higher
``cross_entropy``      classification       mean −ln p(y), nats                         lower
``brier``              classification       mean Σ_k (p_k − 1[y = k])²                  lower
``ece``                classification       Σ_b (n_b / n) |acc_b − conf_b|, 15 equal-   lower
                                            width bins of the top-choice probability
``ece_equal_mass``     classification       the same over 15 equal-mass bins            lower
``accuracy``           multiple_choice      mean 1[argmax_k ℓ_k = y], ℓ_k the summed    higher
                                            log-likelihood of option k
``acc_norm``           multiple_choice      mean 1[argmax_k ℓ_k / chars_k = y]          higher
                                            (lm-eval: chars of the continuation)
``acc_bytes``          multiple_choice      mean 1[argmax_k ℓ_k / bytes_k = y]          higher
``cross_entropy``      multiple_choice      mean −ln softmax(ℓ)_y, nats                 lower
``brier``              multiple_choice      mean Σ_k (p_k − 1[y = k])², p = softmax(ℓ)  lower
``ece``                multiple_choice      as for classification, p = softmax(ℓ)       lower
``ece_equal_mass``     multiple_choice      the same over 15 equal-mass bins            lower
``mse``                regression           mean (ŷ − y)²                               lower
``mae``                regression           mean |ŷ − y|                                lower
``cross_entropy``      language_modeling    Σ token NLL / Σ tokens, nats/token          lower
``bits_per_byte``      language_modeling    Σ token NLL / (ln 2 · Σ UTF-8 bytes)        lower
``exact_match``        generation           mean max_r 1[norm(answer) = norm(r)]        higher
``f1``                 generation           mean max_r SQuAD token F1(answer, r)        higher
``bleu``               generation           corpus BLEU (0–100) of the summed per-      higher
                                            example sacrebleu statistics
``chrf``               generation           corpus chrF (0–100), the same way           higher
``cross_entropy``      generation           Σ NLL of the first reference / Σ its UTF-8  lower
                                            bytes, nats/byte (NaN without
                                            ``loglikelihood``)
=====================  ===================  ==========================================  ======

A group with fewer than ``metric.min_examples`` examples (or zero total weight) has value
NaN and raises :class:`~bench.errors.EmptyDomainWarning`, never 0.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from bench.errors import EmptyDomainWarning, UnknownNameError
from bench.registry import Registry, View
from bench.suites.info import TaskInfo
from bench.suites.kinds import TASK_KIND, known_kind
from bench.textscores import BLEU_STATS, CHRF_STATS, bleu_from_stats, chrf_from_stats

__all__ = ["ECE_BINS", "INTERVAL_METHODS", "METRICS", "PRIMARY_METRIC", "CalibrationMetric", "CorpusMetric", "Metric",
           "get_metric", "metrics_for", "primary_metric", "primary_of", "summary_metrics"]

Columns = Mapping[str, np.ndarray]

ECE_BINS = 15
"""Number of bins of the expected calibration error (Guo et al. 2017)."""


@dataclass(frozen=True)
class Metric:
    """A ratio-of-sums metric over per-example records.

    Attributes
    ----------
    name
        Column name in ``metrics.csv``.
    kind
        The task kind it applies to.
    higher_is_better
        Direction; gaps are signed so that positive means "worse on domain_b".
    values, weights
        Per-example numerator and (optional) denominator from record columns.
    unit
        Unit of the value, for reports.
    description
        One line for listings.
    min_examples
        Fewer examples than this give NaN plus :class:`EmptyDomainWarning`.
    interval
        How a domain's value gets its interval (see :data:`INTERVAL_METHODS`):
        ``"wilson"`` (closed form, 0/1 values), ``"studentized"`` (bootstrap-t of a ratio
        of sums widened by the Satterthwaite degrees of freedom of its variance, the
        default) or a plain bootstrap ``"BCa"`` / ``"percentile"``.
    gap_interval
        How a two-sided gap between two sets of domains gets its interval:
        ``"newcombe"`` (hybrid score interval of a difference of proportions, 0/1
        values), ``"mover"`` (the default: the same construction from the two sides'
        studentized intervals, Zou & Donner 2008; see the coverage grid of
        ``docs/statistics.md`` for skewed losses), ``"studentized"``, ``"BCa"`` or
        ``"percentile"``.
    paired_test
        The test of two models on the same examples (:mod:`bench.scoring.compare`):
        ``"mcnemar"`` (exact, 0/1 values) or ``"permutation"`` (paired sign flips, default).
    chance
        What guessing scores, for reports' chance lines: ``"1/k"`` (uniform guessing among
        a question's ``k`` options, e.g. accuracy) or ``""`` (no chance level).
    """

    name: str
    kind: str
    higher_is_better: bool
    values: Callable[[Columns], np.ndarray] | None = None
    weights: Callable[[Columns], np.ndarray] | None = None
    unit: str = ""
    description: str = ""
    min_examples: int = 1
    interval: str = "studentized"
    gap_interval: str = "mover"
    paired_test: str = "permutation"
    chance: str = ""

    @property
    def primary(self) -> bool:
        """Whether this is its kind's ``primary_metric`` (:data:`bench.suites.kinds.TASK_KIND`):
        the metric that ranks domains (worst domain) and models on a leaderboard."""
        kind = known_kind(self.kind)
        return kind is not None and kind.primary_metric == self.name

    @property
    def summary(self) -> bool:
        """Whether its kind's ``summary_metrics`` name it: shown in the terminal table of
        ``bench run`` (all metrics are in ``metrics.csv``)."""
        kind = known_kind(self.kind)
        return kind is not None and self.name in kind.summary_metrics

    def parts(self, columns: Columns) -> tuple[np.ndarray, np.ndarray]:
        """Per-example ``(v, w)`` arrays, float64."""
        if self.values is None:
            raise TypeError(f"Metric {self.name!r} is not a ratio of sums; use components().")
        v = np.asarray(self.values(columns), dtype=np.float64)
        w = np.ones_like(v) if self.weights is None else np.asarray(self.weights(columns), dtype=np.float64)
        return v, w

    def components(self, columns: Columns) -> np.ndarray:
        """Per-example components, shape ``(n, C)``; here ``C = 2``: ``(v, w)``."""
        v, w = self.parts(columns)
        return np.column_stack([v, w])

    def moment_components(self, columns: Columns) -> np.ndarray:
        """Components with the second moments a studentized interval needs, shape ``(n, 5)``:
        ``(v, w, v², v·w, w²)``; :meth:`combine` reads the first two."""
        v, w = self.parts(columns)
        return np.column_stack([v, w, v * v, v * w, w * w])

    def combine(self, sums: np.ndarray) -> np.ndarray:
        """The metric from component sums of shape ``(..., C)``: ``Σv / Σw``.

        Returns NaN where the total weight is 0.
        """
        sums = np.asarray(sums, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(sums[..., 1] != 0, sums[..., 0] / np.where(sums[..., 1] != 0, sums[..., 1], 1.0), np.nan)

    def value(self, components: np.ndarray, *, where: str = "") -> float:
        """The metric of the rows of ``components`` (shape ``(n, C)``); NaN plus a warning
        when there are fewer than ``min_examples`` rows or no weight."""
        n = len(components)
        sums = components.sum(axis=0)
        result = float(self.combine(sums)) if n else math.nan
        if n < self.min_examples or not math.isfinite(result):
            _warn_empty(self, n, where, finite=bool(np.all(np.isfinite(sums))))
            return math.nan
        return result

    def compute(self, columns: Columns, *, where: str = "") -> float:
        """The metric over the records in ``columns``; NaN with a warning when empty."""
        return self.value(self.components(columns), where=where)


def _warn_empty(metric: Metric, n: int, where: str, finite: bool = True) -> None:
    at = f" for {where}" if where else ""
    if n == 0:
        count = "no examples"
    elif n < metric.min_examples:
        count = f"{n} examples (needs at least {metric.min_examples})"
    elif not finite:
        count = f"{n} examples, some with a non-finite value (NaN or inf)"
    else:
        count = f"{n} examples but zero total weight"
    warnings.warn(f"{metric.name}{at}: {count}; value is NaN.", EmptyDomainWarning, stacklevel=3)


@dataclass(frozen=True)
class CalibrationMetric(Metric):
    """Expected calibration error of the top choice over ``n_bins`` bins.

    .. math:: \\mathrm{ECE} = \\sum_b \\frac{n_b}{n} \\left| \\mathrm{acc}_b - \\mathrm{conf}_b \\right|
              = \\frac{1}{n} \\sum_b \\Big| \\sum_{i \\in b} (1[\\hat y_i = y_i] - \\hat p_i) \\Big|

    where :math:`\\hat p_i = \\max_k p_{ik}` is the top-choice probability. Equal-width
    bins are :math:`((b-1)/B, b/B]` (the first also holds 0). Equal-mass bins have edges
    at the :math:`b/B` quantiles of :math:`\\hat p` over *all* the records passed to
    :meth:`components` (for a table: all records of one model and task), so that every
    domain is binned alike and gaps compare like with like.

    Components: one per bin, :math:`(1[\\hat y_i = y_i] - \\hat p_i) \\cdot 1[i \\in b]`,
    then a count column of ones.
    """

    n_bins: int = ECE_BINS
    equal_mass: bool = False
    interval: str = "BCa"
    gap_interval: str = "BCa"

    def components(self, columns: Columns) -> np.ndarray:
        probs = np.asarray(columns["probs"], dtype=np.float64)
        confidence = probs.max(axis=1) if probs.size else np.zeros(0)
        correct = np.asarray(columns["correct"], dtype=np.float64)
        bins = self.bin_of(confidence)
        out = np.zeros((len(confidence), self.n_bins + 1))
        out[np.arange(len(confidence)), bins] = correct - confidence
        out[:, -1] = 1.0
        return out

    def bin_of(self, confidence: np.ndarray) -> np.ndarray:
        """The bin (0 … n_bins − 1) of each top-choice probability."""
        finite = np.isfinite(confidence)
        if self.equal_mass and finite.any():  # a NaN probability moves no other example's bin
            edges = np.quantile(confidence[finite], np.linspace(0, 1, self.n_bins + 1)[1:-1])
            return np.searchsorted(edges, confidence, side="left").clip(0, self.n_bins - 1)
        scaled = np.ceil(np.where(finite, confidence, 0.0) * self.n_bins)
        return np.clip(scaled.astype(np.int64) - 1, 0, self.n_bins - 1)

    def combine(self, sums: np.ndarray) -> np.ndarray:
        sums = np.asarray(sums, dtype=np.float64)
        count = sums[..., -1]
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(count > 0, np.abs(sums[..., :-1]).sum(axis=-1) / np.where(count > 0, count, 1.0), np.nan)


@dataclass(frozen=True)
class CorpusMetric(Metric):
    """A corpus statistic of text generation (BLEU, chrF): the components are each
    example's sufficient statistics, record columns ``<prefix>0 … <prefix>{width-1}``, and
    the metric is ``score(Σ statistics)`` (:mod:`bench.textscores`). Resampling
    examples and summing their statistics is sacrebleu's paired bootstrap; the intervals
    are percentile bootstrap intervals."""

    prefix: str = ""
    width: int = 0
    score: Callable[[np.ndarray], np.ndarray] | None = None
    interval: str = "percentile"
    gap_interval: str = "percentile"

    def components(self, columns: Columns) -> np.ndarray:
        return np.column_stack([np.asarray(columns[f"{self.prefix}{k}"], dtype=np.float64)
                                for k in range(self.width)]) if self.width else np.zeros((0, 0))

    def combine(self, sums: np.ndarray) -> np.ndarray:
        assert self.score is not None
        return self.score(np.asarray(sums, dtype=np.float64))


def _reference_nll(columns: Columns) -> np.ndarray:
    """The first reference's NLL (nats), 0 where it is unknown (NaN): such rows weigh nothing."""
    nll = np.asarray(columns["nll"], dtype=np.float64)
    return np.where(np.isnan(nll), 0.0, nll)


def _reference_bytes(columns: Columns) -> np.ndarray:
    nll = np.asarray(columns["nll"], dtype=np.float64)
    return np.where(np.isnan(nll), 0.0, np.asarray(columns["ref_bytes"], dtype=np.float64))


def _col(name: str) -> Callable[[Columns], np.ndarray]:
    return lambda c: np.asarray(c[name], dtype=np.float64)


def _brier(columns: Columns) -> np.ndarray:
    probs = np.asarray(columns["probs"], dtype=np.float64)  # (n, k), in the task's choice order
    target = np.asarray(columns["target"], dtype=np.int64)
    onehot = np.zeros_like(probs)
    onehot[np.arange(len(target)), target] = 1.0
    return ((probs - onehot) ** 2).sum(axis=1)


def _normalised_correct(denominator: str) -> Callable[[Columns], np.ndarray]:
    """1[argmax_k logprob_k / denominator_k = target] (lm-eval's ``acc_norm``, ``acc_bytes``);
    padded options (NaN) never win."""
    def values(columns: Columns) -> np.ndarray:
        logprob = np.asarray(columns["logprobs"], dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            score = logprob / np.asarray(columns[denominator], dtype=np.float64)
        score = np.where(np.isnan(score), -np.inf, score)
        target = np.asarray(columns["target"], dtype=np.int64)
        return (score.argmax(axis=1) == target).astype(np.float64) if len(target) else np.zeros(0)
    return values

INTERVAL_METHODS = ("wilson", "newcombe", "studentized", "mover", "BCa", "percentile")
"""Interval methods a metric may declare (``Metric.interval``, ``Metric.gap_interval``)."""

METRICS: Registry[Metric] = Registry("metric")


def _add(metric: Metric) -> None:
    METRICS.add(f"{metric.kind}/{metric.name}", metric, description=metric.description)


_add(Metric("accuracy", "classification", True, _col("correct"), unit="fraction", interval="wilson", chance="1/k",
            gap_interval="newcombe", paired_test="mcnemar",
            description="Fraction of examples whose most probable choice is the target."))
_add(Metric("cross_entropy", "classification", False, _col("nll"), unit="nats",
            description="Mean −ln p(target), nats."))
_add(Metric("brier", "classification", False, _brier, unit="squared prob.", description="Mean Σ_k (p_k − 1[y = k])²."))
_add(CalibrationMetric("ece", "classification", False, unit="fraction", min_examples=ECE_BINS,
                       description="Expected calibration error, 15 equal-width bins of the top-choice probability."))
_add(CalibrationMetric("ece_equal_mass", "classification", False, unit="fraction", min_examples=ECE_BINS,
                       equal_mass=True,
                       description="Expected calibration error, 15 equal-mass bins of the top-choice probability."))
_add(Metric("accuracy", "multiple_choice", True, _col("correct"), unit="fraction", interval="wilson", chance="1/k",
            gap_interval="newcombe", paired_test="mcnemar",
            description="Fraction of questions whose option of highest log-likelihood is the answer."))
_add(Metric("acc_norm", "multiple_choice", True, _normalised_correct("chars"), unit="fraction", interval="wilson", chance="1/k",
            gap_interval="newcombe", paired_test="mcnemar",
            description="Accuracy of argmax log-likelihood per character of the option (lm-eval's acc_norm)."))
_add(Metric("acc_bytes", "multiple_choice", True, _normalised_correct("bytes"), unit="fraction", interval="wilson", chance="1/k",
            gap_interval="newcombe", paired_test="mcnemar",
            description="Accuracy of argmax log-likelihood per UTF-8 byte of the option (lm-eval's acc_bytes)."))
_add(Metric("cross_entropy", "multiple_choice", False, _col("nll"), unit="nats",
            description="Mean −ln softmax over the options of the answer's log-likelihood, nats."))
_add(Metric("brier", "multiple_choice", False, _brier, unit="squared prob.",
            description="Mean Σ_k (p_k − 1[y = k])², p = softmax of the options' log-likelihoods."))
_add(CalibrationMetric("ece", "multiple_choice", False, unit="fraction", min_examples=ECE_BINS,
                       description="Expected calibration error (15 equal-width bins) of the options' softmax."))
_add(CalibrationMetric("ece_equal_mass", "multiple_choice", False, unit="fraction", min_examples=ECE_BINS,
                       equal_mass=True,
                       description="Expected calibration error (15 equal-mass bins) of the options' softmax."))
_add(Metric("mse", "regression", False, _col("nll"), unit="squared target units", description="Mean squared error."))
_add(Metric("mae", "regression", False, lambda c: np.abs(_col("prediction")(c) - _col("target")(c)),
            unit="target units", description="Mean absolute error."))
_add(Metric("cross_entropy", "language_modeling", False, _col("nll"), _col("n_tokens"), unit="nats/token",
            description="Σ NLL / Σ tokens, nats per token."))
_add(Metric("bits_per_byte", "language_modeling", False, lambda c: _col("nll")(c) / math.log(2), _col("n_bytes"),
            unit="bits/byte", description="Σ NLL / (Σ UTF-8 bytes · ln 2)."))

_add(Metric("exact_match", "generation", True, _col("correct"), unit="fraction", interval="wilson",
            gap_interval="newcombe", paired_test="mcnemar",
            description="Fraction of answers equal to a reference after normalisation (SQuAD's by default)."))
_add(Metric("f1", "generation", True, _col("f1"), unit="fraction",
            description="Mean SQuAD token F1 of the answer, max over the references."))
_add(CorpusMetric("bleu", "generation", True, unit="BLEU (0-100)", prefix="bleu_stat_", width=BLEU_STATS,
                  score=bleu_from_stats,
                  description="Corpus BLEU (sacrebleu, 13a, exp smoothing) of the summed per-example statistics."))
_add(CorpusMetric("chrf", "generation", True, unit="chrF (0-100)", prefix="chrf_stat_", width=CHRF_STATS,
                  score=chrf_from_stats,
                  description="Corpus chrF (sacrebleu, beta 2, character 6-grams) of the summed statistics."))
_add(Metric("cross_entropy", "generation", False, _reference_nll, _reference_bytes, unit="nats/byte",
            description="Σ NLL of the first reference / Σ its UTF-8 bytes, nats per byte."))


def _registered() -> list[Metric]:
    return [METRICS.get(name) for name in METRICS.names()]


def primary_metric(kind: str) -> str:
    """The name of task kind ``kind``'s primary metric (its ``primary_metric`` in :data:`~bench.suites.kinds.TASK_KIND`).

    Raises
    ------
    UnknownNameError
        If no metric of ``kind`` is primary, naming the kinds that have one.
    """
    found = known_kind(kind)
    if found is None:
        raise UnknownNameError(f"No primary metric for task kind {kind!r}. Kinds with one: {', '.join(PRIMARY_METRIC)}.")
    return found.primary_metric


def summary_metrics(kind: str) -> tuple[str, ...]:
    """The names of task kind ``kind``'s metrics shown in the terminal table, primary first:
    its ``summary_metrics`` in :data:`~bench.suites.kinds.TASK_KIND` (none for an unknown kind)."""
    found = known_kind(kind)
    return found.summary_metrics if found else ()


PRIMARY_METRIC: Mapping[str, str] = View(lambda: {name: entry.primary_metric for name, entry in TASK_KIND.items()})
"""The metric that ranks domains (worst domain) and models on a leaderboard, per kind: each
kind's ``primary_metric`` in :data:`~bench.suites.kinds.TASK_KIND` (a read-only view)."""


def primary_of(info: TaskInfo) -> str:
    """The metric that ranks a task's domains and models: the task's own ``primary_metric``
    (a suite key), else its kind's :func:`primary_metric`."""
    return info.primary_metric or primary_metric(info.kind)


def metrics_for(kind: str) -> list[Metric]:
    """The metrics that apply to task ``kind``, primary first."""
    found = [m for m in _registered() if m.kind == kind]
    return sorted(found, key=lambda m: (not m.primary, m.name))


def get_metric(kind: str, name: str) -> Metric:
    """The metric ``name`` of task kind ``kind``.

    Raises
    ------
    UnknownNameError
        With close matches and the list of registered ``kind/name`` keys.
    """
    return METRICS.get(f"{kind}/{name}")
