"""Text scores of generation tasks: exact match, token F1, BLEU and chrF (pure functions of strings).

A leaf module: the runner writes these per-example scores into the records, and
:mod:`bench.scoring.metrics` aggregates them (BLEU and chrF from summed statistics).

Per example (the components a record keeps):

- ``exact_match``: 1 if the normalised answer equals the normalised form of any reference
  (max over references);
- ``f1``: SQuAD token F1 of the normalised answer against each reference, max over
  references;
- ``bleu_stat_0 … bleu_stat_9``: sacrebleu's BLEU sufficient statistics of the example
  (``sys_len, ref_len, correct_1…4, total_1…4``; 13a tokenisation, references of the
  example together: clipped counts take the max over references, ``ref_len`` the closest);
- ``chrf_stat_0 … chrf_stat_17``: sacrebleu's chrF statistics (``hyp, ref, match`` counts
  of character n-grams, n = 1…6, of the best-matching reference).

BLEU and chrF are *corpus* statistics: the score of a group of examples is computed from
the **sums** of its examples' statistics (:func:`bleu_from_stats`, :func:`chrf_from_stats`,
vectorised copies of ``sacrebleu.metrics.BLEU.compute_bleu`` with ``exp`` smoothing and of
``CHRF._compute_f_score``), exactly as ``sacrebleu.corpus_bleu`` / ``corpus_chrf`` compute
them; resampling examples and summing their statistics is sacrebleu's paired bootstrap.

Normalisations (``answer_normalization`` of a task):

==========================  ==========================================================
``squad``                   the official SQuAD v1.1 script's ``normalize_answer``: lower
                            case, drop ASCII punctuation, drop the articles a / an /
                            the, collapse whitespace
``ignore_case_punctuation`` lower case, drop ASCII punctuation, strip whitespace at both
                            ends (lm-eval's ``exact_match`` with ``ignore_case`` and
                            ``ignore_punctuation``, as its generative MMLU scores letters;
                            SQuAD's would erase the answer ``A``)
==========================  ==========================================================
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from bench.errors import ConfigError

NORMALIZATIONS: tuple[str, ...] = ("squad", "ignore_case_punctuation")
"""How a generation task normalises answers and references before exact match and F1
(``answer_normalization``; see :mod:`bench.textscores`)."""



__all__ = ["BLEU_STATS", "CHRF_STATS", "NORMALIZATIONS", "bleu_from_stats", "bleu_stats", "chrf_from_stats",
           "chrf_stats", "exact_match", "normalize", "token_f1"]

BLEU_ORDER = 4
BLEU_STATS = 2 + 2 * BLEU_ORDER
"""Per-example BLEU statistics: ``sys_len, ref_len, correct_1…4, total_1…4``."""
CHRF_ORDER = 6
CHRF_BETA = 2
CHRF_STATS = 3 * CHRF_ORDER
"""Per-example chrF statistics: ``hyp, ref, match`` per character n-gram order 1…6."""


_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize(text: str, how: str = "squad") -> str:
    """``text`` normalised as ``how`` says (see the module docstring)."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    if how == "ignore_case_punctuation":
        return text.strip()
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, references: Sequence[str], how: str = "squad") -> float:
    """1.0 if ``normalize(prediction)`` equals the normalised form of any reference, else 0.0."""
    answer = normalize(prediction, how)
    return float(any(answer == normalize(ref, how) for ref in references))


def _f1(prediction: str, reference: str, how: str) -> float:
    predicted, gold = normalize(prediction, how).split(), normalize(reference, how).split()
    common = Counter(predicted) & Counter(gold)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(predicted), same / len(gold)
    return 2 * precision * recall / (precision + recall)


def token_f1(prediction: str, references: Sequence[str], how: str = "squad") -> float:
    """SQuAD token F1 (harmonic mean of token precision and recall after normalising),
    max over ``references``."""
    return max(_f1(prediction, ref, how) for ref in references)


SACREBLEU_MISSING = ("Generation tasks score BLEU and chrF with sacrebleu, which is not installed in this "
                     "environment (it is a dependency of xdbench): python -m pip install 'sacrebleu>=2.3'")
"""The one-line error of a generation task run where sacrebleu is missing."""


@lru_cache(maxsize=1)
def _sacrebleu() -> tuple[object, object]:
    try:
        from sacrebleu.metrics import BLEU, CHRF
    except ImportError:
        raise ConfigError(SACREBLEU_MISSING) from None
    return BLEU(), CHRF()


def bleu_stats(prediction: str, references: Sequence[str]) -> list[int]:
    """sacrebleu's BLEU statistics of one example (``BLEU._extract_corpus_statistics``)."""
    bleu, _ = _sacrebleu()
    return [int(x) for x in bleu._extract_corpus_statistics([prediction], [[r] for r in references])[0]]  # type: ignore[attr-defined]


def chrf_stats(prediction: str, references: Sequence[str]) -> list[int]:
    """sacrebleu's chrF statistics of one example, against its best-matching reference."""
    _, chrf = _sacrebleu()
    return [int(x) for x in chrf._extract_corpus_statistics([prediction], [[r] for r in references])[0]]  # type: ignore[attr-defined]


def bleu_from_stats(sums: np.ndarray) -> np.ndarray:
    """Corpus BLEU (0–100) from summed statistics of shape ``(..., 10)``: sacrebleu's
    ``compute_bleu`` with ``exp`` smoothing, vectorised over the leading axes.

    .. math:: \\mathrm{BLEU} = \\mathrm{BP} \\cdot \\exp\\Big(\\tfrac14 \\sum_{n=1}^{4} \\ln p_n\\Big),
              \\quad \\mathrm{BP} = \\min(1, e^{1 - r/c})

    with :math:`p_n = 100\\,m_n / t_n`, or :math:`100 / (2^j t_n)` for the ``j``-th order
    without a match; 0 when nothing matches.
    """
    sums = np.asarray(sums, dtype=np.float64)
    sys_len, ref_len = sums[..., 0], sums[..., 1]
    correct, total = sums[..., 2 : 2 + BLEU_ORDER], sums[..., 2 + BLEU_ORDER :]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        bp = np.where(sys_len < ref_len, np.where(sys_len > 0, np.exp(1 - ref_len / np.where(sys_len > 0, sys_len, 1)),
                                                  0.0), 1.0)
        alive = np.cumprod(total > 0, axis=-1).astype(bool)  # compute_bleu stops at the first empty order
        unmatched = alive & (correct == 0)
        smooth = 2.0 ** np.cumsum(unmatched, axis=-1)
        safe_total = np.where(total > 0, total, 1.0)
        precision = np.where(unmatched, 100.0 / (smooth * safe_total), 100.0 * correct / safe_total)
        precision = np.where(alive, precision, 0.0)
        logs = np.where(precision > 0, np.log(np.where(precision > 0, precision, 1.0)), -9999999999.0)
        score = bp * np.exp(logs.sum(axis=-1) / BLEU_ORDER)
    return np.where((correct > 0).any(axis=-1), score, 0.0)


def chrf_from_stats(sums: np.ndarray) -> np.ndarray:
    """Corpus chrF (β = 2, character orders 1–6; 0–100) from summed statistics of shape
    ``(..., 18)``: sacrebleu's ``CHRF._compute_f_score``, vectorised.

    Precision and recall are averaged over the orders where both the answer and the
    reference have n-grams, then :math:`F_\\beta = (1 + \\beta^2) P R / (\\beta^2 P + R)`.
    """
    sums = np.asarray(sums, dtype=np.float64)
    hyp, ref, match = sums[..., 0::3], sums[..., 1::3], sums[..., 2::3]
    factor = CHRF_BETA**2
    with np.errstate(divide="ignore", invalid="ignore"):
        live = (hyp > 0) & (ref > 0)
        order = live.sum(axis=-1)
        precision = np.where(live, match / np.where(hyp > 0, hyp, 1.0), 0.0).sum(axis=-1)
        recall = np.where(live, match / np.where(ref > 0, ref, 1.0), 0.0).sum(axis=-1)
        precision = np.where(order > 0, precision / np.where(order > 0, order, 1), 0.0)
        recall = np.where(order > 0, recall / np.where(order > 0, order, 1), 0.0)
        denominator = factor * precision + recall
        score = 100 * (1 + factor) * precision * recall / np.where(denominator > 0, denominator, 1.0)
    return np.where(precision + recall > 0, score, 0.0)
