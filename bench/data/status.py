"""Which data files the bundled suites need, where they are, and whether they verify."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.data.catalog import DATASETS, datasets_for_source, file_status
from bench.errors import UnknownNameError

__all__ = ["FileRow", "data_status", "resolve_datasets"]


@dataclass(frozen=True)
class FileRow:
    """One data file of one suite: where it is (or is expected) and its state.

    ``state`` is ``"ok"``, ``"missing"`` or ``"checksum mismatch"``.
    """

    suite: str
    dataset: str
    path: Path
    state: str


def resolve_datasets(name: str) -> tuple[str, ...]:
    """The data sets named by ``name``: a data set itself, or every data set a suite reads.

    Raises
    ------
    UnknownNameError
        If ``name`` is neither a data set nor a data-backed suite (lists both kinds).
    """
    from bench.suites import SUITES, load_suite

    if name in DATASETS:
        return (DATASETS.canonical(name),)
    if name in SUITES:
        needed = datasets_for_source(load_suite(name).source["type"])
        if needed:
            return needed
    suites = [s for s in SUITES.names() if datasets_for_source(load_suite(s).source["type"])]
    raise UnknownNameError(
        f"Unknown data set or data-backed suite {name!r}. Data sets: {', '.join(DATASETS.names())}. "
        f"Suites: {', '.join(suites)}."
    )


def data_status(data_dir: str | Path) -> list[FileRow]:
    """One row per file of every data-backed bundled suite, looked up in ``data_dir``."""
    from bench.suites import SUITES, load_suite

    rows = []
    for suite_name in SUITES.names():
        for dataset_name in datasets_for_source(load_suite(suite_name).source["type"]):
            dataset = DATASETS.get(dataset_name)
            for item in dataset.files:
                status = file_status(dataset, item, Path(data_dir))
                state = "missing" if not status.present else "ok" if status.checksum_ok else "checksum mismatch"
                rows.append(FileRow(suite_name, dataset_name, status.path, state))
    return rows
