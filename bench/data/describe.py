"""Per-domain, per-split summaries of a suite's data: sizes, label balance, lengths.

Meant to be read before blaming a model: a domain whose labels are distributed
differently (label shift) or whose texts are much shorter or longer (length shift)
than the training domain changes metrics on its own.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bench.suites.kinds import kind_of
from bench.suites.types import Example, Suite, SuiteData

__all__ = ["describe_data", "describe_suite"]


def _lengths(examples: list[Example]) -> dict[str, float]:
    words = np.array([len(ex.text.split()) for ex in examples], dtype=np.float64)
    chars = np.array([len(ex.text) for ex in examples], dtype=np.float64)
    if words.size == 0:
        return {"words_mean": np.nan, "words_median": np.nan, "words_p10": np.nan, "words_p90": np.nan,
                "chars_mean": np.nan}
    return {
        "words_mean": float(words.mean()),
        "words_median": float(np.median(words)),
        "words_p10": float(np.percentile(words, 10)),
        "words_p90": float(np.percentile(words, 90)),
        "chars_mean": float(chars.mean()),
    }


def _targets(examples: list[Example], suite: Suite) -> dict[str, float]:
    row: dict[str, float] = {}
    for task in suite.tasks:
        values = np.array([ex.targets[task.name] for ex in examples if task.name in ex.targets], dtype=np.float64)
        kind = kind_of(task)
        if kind.has_label_choices:
            counts = np.bincount(values.astype(np.int64), minlength=len(task.choices)) if values.size else None
            for k, choice in enumerate(task.choices):
                row[f"{task.name}:{choice}"] = float(counts[k] / values.size) if counts is not None else np.nan
        elif kind.has_numeric_target:
            row[f"{task.name}:mean"] = float(values.mean()) if values.size else np.nan
            row[f"{task.name}:std"] = float(values.std(ddof=1)) if values.size > 1 else np.nan
        elif kind.scores_options:
            options = np.array([len(ex.options) for ex in examples if task.name in ex.targets], dtype=np.float64)
            row[f"{task.name}:options"] = float(options.mean()) if options.size else np.nan
            row[f"{task.name}:answer_first"] = float(np.mean(values == 0)) if values.size else np.nan
    return row


def describe_data(data: SuiteData) -> pd.DataFrame:
    """One row per ``(domain, split)`` (train, test and few-shot pools such as ``dev``): ``n``, label shares or target mean/std, length statistics.

    Columns: ``domain, split, n``, then for each classification task the share of each
    choice (``<task>:<choice>``, a fraction of the examples with a target), for each
    regression task ``<task>:mean`` and ``<task>:std`` (ddof = 1), for each multiple-choice
    task the mean number of options (``<task>:options``) and the share of answers that are
    the first option (``<task>:answer_first``); then the text length
    in whitespace words (mean, median, 10th and 90th percentile) and characters (mean).
    Percentiles use numpy's default linear interpolation.
    """
    rows = []
    for domain in data.suite.domains:
        for split in ("train", "test", *data.domains[domain].pools):
            examples = data.domains[domain].split(split)
            row: dict[str, object] = {"domain": domain, "split": split, "n": len(examples)}
            rows.append(row | _targets(examples, data.suite) | _lengths(examples))
    return pd.DataFrame(rows)


def describe_suite(suite: str | Path, *, data_dir: str | Path | None = None) -> pd.DataFrame:
    """:func:`describe_data` of a registered suite or a suite TOML file."""
    from bench.data import load_suite_data
    from bench.suites import load_suite

    return describe_data(load_suite_data(load_suite(suite), data_dir=data_dir))
