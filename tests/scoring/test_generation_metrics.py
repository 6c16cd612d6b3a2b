"""Generation metrics against their reference implementations: sacrebleu's corpus BLEU and
chrF, and the official SQuAD v1.1 evaluation script's exact match and F1."""

from __future__ import annotations

import math
import re
import string
from collections import Counter

import numpy as np
import pandas as pd
import pytest
import sacrebleu

from bench.scoring.metrics import get_metric, metrics_for
from bench.scoring.options import StatisticsOptions
from bench.scoring.tables import TaskInfo, score_tables
from bench.textscores import (
    BLEU_STATS,
    CHRF_STATS,
    bleu_from_stats,
    bleu_stats,
    chrf_from_stats,
    chrf_stats,
    exact_match,
    normalize,
    token_f1,
)


# --- the official SQuAD v1.1 script (evaluate-v1.1.py), copied verbatim in substance ----
def squad_normalize_answer(s: str) -> str:
    def remove_articles(text: str) -> str:
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text: str) -> str:
        return " ".join(text.split())

    def remove_punc(text: str) -> str:
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    return white_space_fix(remove_articles(remove_punc(s.lower())))


def squad_f1_score(prediction: str, ground_truth: str) -> float:
    prediction_tokens = squad_normalize_answer(prediction).split()
    ground_truth_tokens = squad_normalize_answer(ground_truth).split()
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    return (2 * precision * recall) / (precision + recall)


def squad_exact_match_score(prediction: str, ground_truth: str) -> bool:
    return squad_normalize_answer(prediction) == squad_normalize_answer(ground_truth)


def metric_max_over_ground_truths(metric_fn, prediction: str, ground_truths: list[str]) -> float:  # type: ignore[no-untyped-def]
    return max(metric_fn(prediction, gt) for gt in ground_truths)


# --- data: real multi-sentence translations, two references each ----------------------
HYPOTHESES = [
    "The cat sat on the mat.",
    "There is a dog in the garden, barking loudly.",
    "Prices rose by three percent last year.",
    "He did not go to school because he was ill.",
    "The meeting has been postponed until next week.",
    "Keep out of the reach of children.",
    "It rains.",
    "",
    "The minister resigned on Tuesday after the scandal broke.",
    "Take two tablets every morning",
]
REFERENCES = [
    ["The cat is sitting on the mat.", "A cat sat on the mat."],
    ["A dog is barking loudly in the garden.", "In the garden a dog barks loudly."],
    ["Prices increased by 3% last year.", "Last year prices went up three percent."],
    ["He didn't go to school because he was sick.", "He stayed home from school, being ill."],
    ["The meeting was postponed to next week.", "The meeting has been put off until next week."],
    ["Keep out of the sight and reach of children.", "Keep away from children."],
    ["It is raining.", "Rain is falling."],
    ["Nothing was said.", "No answer."],
    ["The minister stepped down on Tuesday when the scandal broke.", "On Tuesday the minister resigned over the scandal."],
    ["Take two tablets each morning.", "Two tablets are to be taken every morning."],
]


def _streams(references: list[list[str]]) -> list[list[str]]:
    return [list(stream) for stream in zip(*references, strict=True)]


def test_corpus_bleu_and_chrf_equal_sacrebleu_on_multi_reference_data() -> None:
    bleu = np.array([bleu_stats(h, r) for h, r in zip(HYPOTHESES, REFERENCES, strict=True)])
    chrf = np.array([chrf_stats(h, r) for h, r in zip(HYPOTHESES, REFERENCES, strict=True)])
    assert bleu.shape == (10, BLEU_STATS) and chrf.shape == (10, CHRF_STATS)
    expected_bleu = sacrebleu.corpus_bleu(HYPOTHESES, _streams(REFERENCES)).score
    expected_chrf = sacrebleu.corpus_chrf(HYPOTHESES, _streams(REFERENCES)).score
    assert 0 < expected_bleu < 100 and 0 < expected_chrf < 100
    assert float(bleu_from_stats(bleu.sum(axis=0))) == pytest.approx(expected_bleu, abs=1e-9)
    assert float(chrf_from_stats(chrf.sum(axis=0))) == pytest.approx(expected_chrf, abs=1e-9)
    # every subset (what a bootstrap resample or a domain is) agrees too, vectorised
    rng = np.random.default_rng(0)
    draws = rng.integers(0, 10, (20, 10))
    vector_bleu = bleu_from_stats(bleu[draws].sum(axis=1))
    vector_chrf = chrf_from_stats(chrf[draws].sum(axis=1))
    for k, rows in enumerate(draws):
        hyps, refs = [HYPOTHESES[i] for i in rows], [REFERENCES[i] for i in rows]
        assert vector_bleu[k] == pytest.approx(sacrebleu.corpus_bleu(hyps, _streams(refs)).score, abs=1e-9)
        assert vector_chrf[k] == pytest.approx(sacrebleu.corpus_chrf(hyps, _streams(refs)).score, abs=1e-9)


def test_single_reference_and_degenerate_corpora_equal_sacrebleu() -> None:
    cases = [(["Hello"], ["Hello there"]), ([""], ["x"]), (["a b c d e"], ["a b c d e"]), (["x y"], ["x y z w"])]
    for hyps, refs in cases:
        bleu = np.array([bleu_stats(h, [r]) for h, r in zip(hyps, refs, strict=True)]).sum(axis=0)
        chrf = np.array([chrf_stats(h, [r]) for h, r in zip(hyps, refs, strict=True)]).sum(axis=0)
        assert float(bleu_from_stats(bleu)) == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score, abs=1e-9)
        assert float(chrf_from_stats(chrf)) == pytest.approx(sacrebleu.corpus_chrf(hyps, [refs]).score, abs=1e-9)


@pytest.mark.parametrize(("prediction", "references"), [
    ("The Tigris", ["Tigris", "the Tigris River"]), ("tigris river!", ["the Tigris River"]),
    ("  Paris,  France ", ["Paris"]), ("an apple a day", ["apple day"]), ("O(log n)", ["O(log n)", "logarithmic"]),
    ("", ["something"]), ("the the the", ["the"]), ("60-100 bpm", ["60 to 100", "60-100"]),
    ("Léon's café", ["leons café"]), ("red blood cells", ["erythrocytes", "red cells"]),
])
def test_exact_match_and_f1_equal_the_official_squad_script(prediction: str, references: list[str]) -> None:
    assert exact_match(prediction, references) == float(
        metric_max_over_ground_truths(squad_exact_match_score, prediction, references))
    assert token_f1(prediction, references) == pytest.approx(
        metric_max_over_ground_truths(squad_f1_score, prediction, references), abs=1e-15)
    assert normalize(prediction) == squad_normalize_answer(prediction)


def test_letter_answers_need_the_case_and_punctuation_normalisation() -> None:
    # SQuAD's normalisation erases the article "A": an empty answer would match the letter A
    assert exact_match("", ["A"]) == 1.0
    how = "ignore_case_punctuation"
    assert exact_match("", ["A"], how) == 0.0
    assert exact_match(" a.", ["A"], how) == 1.0 and exact_match("B", ["A"], how) == 0.0
    assert exact_match(" (C) ", ["C"], how) == 1.0


def _records(rng: np.random.Generator, n: int = 40) -> pd.DataFrame:
    rows = []
    for domain, quality in (("news", 0.8), ("medical", 0.4)):
        for i in range(n):
            k = i % len(HYPOTHESES)
            good = rng.uniform() < quality
            hyp = REFERENCES[k][0] if good else HYPOTHESES[k]
            row = {"model": "m", "suite": "s", "task": "t", "domain": domain, "split": "test",
                   "example_id": f"{domain}-{i}", "target": math.nan, "prediction": math.nan,
                   "correct": exact_match(hyp, REFERENCES[k]), "nll": rng.uniform(5, 20),
                   "f1": token_f1(hyp, REFERENCES[k]), "ref_bytes": len(REFERENCES[k][0]) + 1}
            row |= {f"bleu_stat_{j}": v for j, v in enumerate(bleu_stats(hyp, REFERENCES[k]))}
            row |= {f"chrf_stat_{j}": v for j, v in enumerate(chrf_stats(hyp, REFERENCES[k]))}
            row["_hyp"], row["_refs"] = hyp, REFERENCES[k]
            rows.append(row)
    return pd.DataFrame(rows)


def test_tables_give_corpus_values_intervals_and_gaps_for_every_generation_metric() -> None:
    records = _records(np.random.default_rng(3))
    info = TaskInfo("generation", (), ("news", "medical"), ("news",))
    tables = score_tables(records.drop(columns=["_hyp", "_refs"]), {("s", "t"): info},
                          options=StatisticsOptions(resamples=400, permutations=200))
    metrics = tables.metrics.set_index(["domain", "metric"])
    assert [m.name for m in metrics_for("generation")][0] == "exact_match"
    for domain in ("news", "medical"):
        part = records[records["domain"] == domain]
        streams = _streams(list(part["_refs"]))
        assert metrics.loc[(domain, "bleu"), "value"] == pytest.approx(
            sacrebleu.corpus_bleu(list(part["_hyp"]), streams).score, abs=1e-9)
        assert metrics.loc[(domain, "chrf"), "value"] == pytest.approx(
            sacrebleu.corpus_chrf(list(part["_hyp"]), streams).score, abs=1e-9)
        assert metrics.loc[(domain, "exact_match"), "value"] == pytest.approx(part["correct"].mean())
        assert metrics.loc[(domain, "f1"), "value"] == pytest.approx(part["f1"].mean())
        assert metrics.loc[(domain, "cross_entropy"), "value"] == pytest.approx(part["nll"].sum() / part["ref_bytes"].sum())
    for name in ("exact_match", "f1", "bleu", "chrf", "cross_entropy"):
        for domain in ("news", "medical", "ALL"):
            row = metrics.loc[(domain, name)]
            assert row["ci_low"] <= row["value"] <= row["ci_high"], (name, domain)
    assert metrics.loc[("news", "bleu"), "ci_method"] == "percentile"
    assert metrics.loc[("news", "exact_match"), "ci_method"] == "wilson"
    gaps = tables.gaps
    for name in ("exact_match", "bleu", "chrf"):
        rows = gaps[gaps["metric"] == name]
        assert len(rows) > 0
        for row in rows.itertuples():
            if math.isfinite(row.gap):
                assert row.ci_low <= row.gap <= row.ci_high, (name, row.kind)
    # news is answered better: its BLEU gap to medical is positive (worse out of domain)
    id_ood = gaps[(gaps["metric"] == "chrf") & (gaps["domain_a"] == "news") & (gaps["domain_b"] == "medical")]
    assert (id_ood["gap"] > 0).all() and len(id_ood) > 0


def test_reference_cross_entropy_is_nan_where_the_model_has_no_loglikelihood() -> None:
    metric = get_metric("generation", "cross_entropy")
    columns = {"nll": np.array([math.nan, math.nan]), "ref_bytes": np.array([4.0, 5.0])}
    with pytest.warns(match="zero total weight"):
        assert math.isnan(metric.compute(columns))
    assert metric.compute({"nll": np.array([2.0, 3.0]), "ref_bytes": np.array([4.0, 6.0])}) == pytest.approx(0.5)
