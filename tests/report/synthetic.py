"""A synthetic MMLU-like run folder: 57 subjects in 4 groups, four options, zero-shot.

The records are drawn here (one model's accuracy falls from 0.6 to chance across the
subjects; the other guesses). ``metrics.csv`` and ``gaps.csv`` are computed here from the
records with closed forms (Wilson intervals; each subject against the pooled rest with a
normal-approximation interval and z-test, Holm-adjusted) — a stand-in for the scorer that
keeps the fixture fast; the figures only read the columns.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import norm

GROUPS = ("STEM", "humanities", "social sciences", "other")
SUBJECTS = tuple(f"subject_{i:02d}" for i in range(57))
CHOICES = ("A", "B", "C", "D")
RUN_ID = "20260101T000000Z-mmlulike"


def subject_groups() -> dict[str, str]:
    """Subject → group, in turn."""
    return {s: GROUPS[i % len(GROUPS)] for i, s in enumerate(SUBJECTS)}


def _records(model: str, accuracy: np.ndarray, n: int, rng: np.random.Generator) -> pd.DataFrame:
    frames = []
    for subject, acc in zip(SUBJECTS, accuracy, strict=True):
        targets = rng.integers(0, 4, size=n)
        correct = rng.random(n) < acc
        predictions = np.where(correct, targets, (targets + rng.integers(1, 4, size=n)) % 4)
        probs = rng.dirichlet(np.ones(4), size=n) * 0.5
        probs[np.arange(n), predictions] += 0.5
        frame = pd.DataFrame({"run_id": RUN_ID, "model": model, "suite": "mmlu-like", "task": "questions",
                              "domain": subject, "split": "test",
                              "example_id": [f"{subject}-{i:03d}" for i in range(n)],
                              "target": targets.astype(float), "prediction": predictions.astype(float),
                              "correct": correct.astype(float), "nll": -np.log(probs[np.arange(n), targets])})
        for k, c in enumerate(CHOICES):
            frame[f"prob_{c}"] = probs[:, k]
        frames.append(frame.assign(fold="zero_shot", train_domains="", trial=0))
    return pd.concat(frames, ignore_index=True)


def _wilson(x: float, n: int) -> tuple[float, float]:
    z = norm.ppf(0.975)
    p = x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def _holm(p: np.ndarray) -> np.ndarray:
    order = np.argsort(p)
    adjusted = np.maximum.accumulate((len(p) - np.arange(len(p))) * p[order])
    out = np.empty_like(p)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def _tables(records: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    metrics, gaps = [], []
    for model, part in records.groupby("model", sort=False):
        for domain in [*SUBJECTS, "ALL"]:
            rows = part if domain == "ALL" else part[part["domain"] == domain]
            low, high = _wilson(rows["correct"].sum(), len(rows))
            metrics.append({"model": model, "suite": "mmlu-like", "task": "questions", "domain": domain,
                            "metric": "accuracy", "value": rows["correct"].mean(), "ci_low": low, "ci_high": high,
                            "n": len(rows), "ci_method": "wilson", "level": 0.95})
        model_gaps = []
        for domain in SUBJECTS:
            inside, rest = part[part["domain"] == domain]["correct"], part[part["domain"] != domain]["correct"]
            gap = rest.mean() - inside.mean()
            se = math.sqrt(inside.var(ddof=0) / len(inside) + rest.var(ddof=0) / len(rest)) or 1e-9
            model_gaps.append({"model": model, "suite": "mmlu-like", "task": "questions", "metric": "accuracy",
                               "kind": "domain_rest", "family": "domain_rest", "ci_method": "normal",
                               "level": 0.95, "domain_a": "REST", "domain_b": domain, "gap": gap,
                               "ci_low": gap - 1.96 * se, "ci_high": gap + 1.96 * se,
                               "p_value": 2 * norm.sf(abs(gap) / se), "value_a": rest.mean(),
                               "value_b": inside.mean(), "n_a": len(rest), "n_b": len(inside), "mdg": 2.8 * se})
        adjusted = _holm(np.array([g["p_value"] for g in model_gaps]))
        gaps += [g | {"p_adjusted": a} for g, a in zip(model_gaps, adjusted, strict=True)]
    return pd.DataFrame(metrics), pd.DataFrame(gaps)


def write_mmlu_like_run(folder: Path, n: int = 40, seed: int = 0) -> Path:
    """Write ``folder/runs/<run_id>`` with run.json, records, metrics and gaps; return it."""
    rng = np.random.default_rng(seed)
    run_dir = folder / "runs" / RUN_ID
    run_dir.mkdir(parents=True)
    records = pd.concat([_records("llm-a", np.linspace(0.6, 0.25, len(SUBJECTS)), n, rng),
                         _records("uniform", np.full(len(SUBJECTS), 0.25), n, rng)], ignore_index=True)
    records.to_csv(run_dir / "records.csv.gz", index=False)
    metrics, gaps = _tables(records)
    metrics.to_csv(run_dir / "metrics.csv", index=False)
    gaps.to_csv(run_dir / "gaps.csv", index=False)
    task = {"kind": "classification", "choices": list(CHOICES), "domains": list(SUBJECTS), "in_domain": [],
            "domain_groups": subject_groups()}
    meta = {"run_id": RUN_ID, "config": {"protocol": "zero_shot"},
            "suites": [{"name": "mmlu-like", "version": "1", "protocol": "zero_shot", "domains": list(SUBJECTS),
                        "in_domain": [], "domain_groups": subject_groups()}],
            "tasks": {"mmlu-like/questions": task}, "versions": {"xdbench": "test"}}
    (run_dir / "run.json").write_text(json.dumps(meta), encoding="utf-8")
    return run_dir
