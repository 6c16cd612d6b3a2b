"""``mmlu``: Measuring Massive Multitask Language Understanding (Hendrycks et al., ICLR 2021).

57 subjects, four-choice questions; ``test/<subject>_test.csv`` are scored and
``dev/<subject>_dev.csv`` (5 per subject) are the few-shot exemplars. Two layouts are read:

- the catalogued layout (what ``bench data download mmlu`` writes):
  ``<data_dir>/mmlu/{test,dev}/<subject>_{test,dev}.csv`` with the header
  ``question,choice0,choice1,choice2,choice3,answer`` and the answer as an index 0-3;
- the authors' ``data.tar`` unpacked into the data directory (``<data_dir>/data/...``) or
  into ``<data_dir>/mmlu/`` (``<data_dir>/mmlu/data/...``): no header, answer letter A-D.

Every field is read as text (ten options are literally ``None``; a CSV reader's missing-
value parsing would drop them). A file in the original layout is verified by converting it
to the catalogued layout in memory (:func:`to_catalogued`) and comparing that SHA-256.

Example ids are ``<subject>/<split>:<row>`` (1-based data row). An example's text is the
question stripped (as lm-eval's template writes ``question.strip()``); its fields are
``question`` (as in the file) and ``subject`` (underscores as spaces, e.g. ``"abstract
algebra"``, as lm-eval's descriptions write it).

Subject categories come from the authors' ``categories.py`` (github.com/hendrycks/test,
commit 4450500f923c49f1fb1dd3d99108a0bd9717b660): each subject's subcategory, and each
subcategory's category (STEM, humanities, social sciences, other (business, health, misc.),
named ``other`` here).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bench.data.catalog import require
from bench.data.common import check_domains, check_options
from bench.errors import DataError, SuiteError
from bench.suites.kinds import kind_of
from bench.suites.types import Example

if TYPE_CHECKING:
    from bench.data import SourceContext

__all__ = ["CATEGORIES", "HEADER", "SUBCATEGORIES", "SUBJECTS", "load_mmlu", "parse_mmlu_csv", "to_catalogued"]

HEADER = ["question", "choice0", "choice1", "choice2", "choice3", "answer"]
SPLITS = ("test", "dev")

SUBCATEGORIES: dict[str, str] = {
    "abstract_algebra": "math", "anatomy": "health", "astronomy": "physics", "business_ethics": "business",
    "clinical_knowledge": "health", "college_biology": "biology", "college_chemistry": "chemistry",
    "college_computer_science": "computer science", "college_mathematics": "math", "college_medicine": "health",
    "college_physics": "physics", "computer_security": "computer science", "conceptual_physics": "physics",
    "econometrics": "economics", "electrical_engineering": "engineering", "elementary_mathematics": "math",
    "formal_logic": "philosophy", "global_facts": "other", "high_school_biology": "biology",
    "high_school_chemistry": "chemistry", "high_school_computer_science": "computer science",
    "high_school_european_history": "history", "high_school_geography": "geography",
    "high_school_government_and_politics": "politics", "high_school_macroeconomics": "economics",
    "high_school_mathematics": "math", "high_school_microeconomics": "economics", "high_school_physics": "physics",
    "high_school_psychology": "psychology", "high_school_statistics": "math", "high_school_us_history": "history",
    "high_school_world_history": "history", "human_aging": "health", "human_sexuality": "culture",
    "international_law": "law", "jurisprudence": "law", "logical_fallacies": "philosophy",
    "machine_learning": "computer science", "management": "business", "marketing": "business",
    "medical_genetics": "health", "miscellaneous": "other", "moral_disputes": "philosophy",
    "moral_scenarios": "philosophy", "nutrition": "health", "philosophy": "philosophy", "prehistory": "history",
    "professional_accounting": "other", "professional_law": "law", "professional_medicine": "health",
    "professional_psychology": "psychology", "public_relations": "politics", "security_studies": "politics",
    "sociology": "culture", "us_foreign_policy": "politics", "virology": "health", "world_religions": "philosophy",
}
"""Subject → subcategory, as in the authors' ``categories.py`` (``subcategories``)."""

CATEGORIES: dict[str, tuple[str, ...]] = {
    "STEM": ("physics", "chemistry", "biology", "computer science", "math", "engineering"),
    "humanities": ("history", "philosophy", "law"),
    "social sciences": ("politics", "culture", "economics", "geography", "psychology"),
    "other": ("other", "business", "health"),
}
"""Category → subcategories, as in the authors' ``categories.py`` (its ``"other (business,
health, misc.)"`` is called ``other``)."""

SUBJECTS: dict[str, str] = {
    subject: next(c for c, subs in CATEGORIES.items() if sub in subs) for subject, sub in SUBCATEGORIES.items()
}
"""Subject → category (STEM, humanities, social sciences, other)."""


def _rows(raw: bytes, where: str) -> tuple[list[list[str]], bool]:
    """The data rows of an MMLU CSV and whether it has the catalogued header."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{where}: not UTF-8 text ({exc.reason} at byte {exc.start}).") from exc
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline="")))
    header = bool(rows) and rows[0] == HEADER
    return (rows[1:] if header else rows), header


def _answer(value: str, header: bool, where: str) -> int:
    value = value.strip()
    if header and value in ("0", "1", "2", "3"):
        return int(value)
    if not header and value in ("A", "B", "C", "D"):
        return "ABCD".index(value)
    expected = "an index 0-3" if header else "a letter A-D"
    raise DataError(f"{where}: the answer must be {expected}, got {value!r}.")


def parse_mmlu_csv(raw: bytes, where: str) -> list[tuple[str, tuple[str, ...], int]]:
    """``(question, options, answer index)`` per row, in either layout (see the module doc).

    Raises
    ------
    DataError
        For a row without exactly 6 fields or with an invalid answer (naming the row).
    """
    rows, header = _rows(raw, where)
    out = []
    for number, row in enumerate(rows, start=1):
        at = f"{where}, row {number}"
        if len(row) != 6:
            raise DataError(f"{at}: expected 6 fields (question, 4 options, answer), got {len(row)}.")
        out.append((row[0], tuple(row[1:5]), _answer(row[5], header, at)))
    return out


def to_catalogued(raw: bytes) -> bytes:
    """An original-layout MMLU CSV (no header, answer letter) in the catalogued layout
    (header, answer index; ``csv`` minimal quoting, ``\\n`` line ends). Files already in the
    catalogued layout come back unchanged."""
    rows, header = _rows(raw, "MMLU file")
    if header:
        return raw
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for row in rows:
        writer.writerow([*row[:5], *(_letter_to_index(value) for value in row[5:])])
    return out.getvalue().encode("utf-8")


def _letter_to_index(value: str) -> str:
    letter = value.strip()
    return str("ABCD".index(letter)) if letter in ("A", "B", "C", "D") else value


def _examples(path: Path, subject: str, split: str, task_names: Sequence[str]) -> list[Example]:
    """The questions of one file; every task gets the answer index as its target, and the
    answer's letter is the reference of the generative task."""
    category_subject = subject.replace("_", " ")
    examples = []
    for number, (question, options, answer) in enumerate(parse_mmlu_csv(path.read_bytes(), str(path)), start=1):
        examples.append(Example(f"{subject}/{split}:{number}", subject, question.strip(),
                                dict.fromkeys(task_names, answer), split, options,
                                {"question": question, "subject": category_subject}, ("ABCD"[answer],)))
    return examples


def load_mmlu(context: SourceContext) -> list[Example]:
    """Source ``mmlu`` (no options): each domain is a subject; test and dev splits.

    It fills one ``multiple_choice`` task (the log-likelihood formulation) and any number of
    ``generation`` tasks (the model writes the letter; the reference is the answer's letter).
    """
    check_options(context, "mmlu", ())
    tasks = [t for t in context.suite.tasks if kind_of(t).scores_options]
    others = [t for t in context.suite.tasks if not (kind_of(t).scores_options or kind_of(t).generates_text)]
    if len(tasks) != 1 or others:
        raise SuiteError("Source 'mmlu' fills one multiple_choice task and any generation tasks: the suite needs "
                         "exactly one task of kind multiple_choice, and no tasks of other kinds.")
    check_domains(context, "mmlu", SUBJECTS)
    examples = []
    for subject in context.suite.domains:
        for split in SPLITS:
            path = require("mmlu", f"mmlu/{split}/{subject}_{split}.csv", context.data_dir)
            examples += _examples(path, subject, split, [t.name for t in context.suite.tasks])
    return examples
