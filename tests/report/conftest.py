"""Run folders shared by the report tests (each made once per test session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import write_tiny_suite
from tests.report.synthetic import write_mmlu_like_run


def _evaluate(folder: Path, **config: object) -> Path:
    from bench.pipeline import evaluate
    from bench.runner import RunConfig

    return evaluate(RunConfig(**config), folder, save_models=False).run_dir  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An id_ood run of the tiny suite with majority, uniform and source-only."""
    folder = tmp_path_factory.mktemp("tiny-run")
    suite = write_tiny_suite(folder)
    return _evaluate(folder, suites=(str(suite),), models=("majority", "uniform", "source-only"))


@pytest.fixture(scope="session")
def transfer_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A transfer_matrix run of the tiny suite with majority and source-only."""
    folder = tmp_path_factory.mktemp("transfer-run")
    suite = write_tiny_suite(folder)
    return _evaluate(folder, suites=(str(suite),), models=("majority", "source-only"), protocol="transfer_matrix")


@pytest.fixture(scope="session")
def mmlu_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic MMLU-like run: 57 subjects in 4 groups, zero-shot."""
    return write_mmlu_like_run(tmp_path_factory.mktemp("mmlu-like"))
