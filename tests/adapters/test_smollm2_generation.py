"""The generative MMLU task with the real SmolLM2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.cli import main
from tests.conftest import SHARED_DATA


def test_mmlu_generative_with_smollm2_end_to_end(smollm2, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert "generation" in smollm2.task_kinds
    if not (SHARED_DATA / "mmlu" / "test").is_dir():
        pytest.skip(f"MMLU not found at {SHARED_DATA / 'mmlu'}")
    out = tmp_path / "out"
    assert main(["run", "mmlu", "--model", "smollm2-135m", "--task", "mmlu_generative", "--limit", "2",
                 "--data-dir", str(SHARED_DATA), "--out", str(out), "--resamples", "200", "--permutations", "200",
                 "-q"]) == 0
    (run_dir,) = (out / "runs").iterdir()
    lines = [json.loads(line) for line in (run_dir / "generations.jsonl").read_text().splitlines()]
    assert len(lines) == 2 * 57
    assert all("\n" not in g["generation"] and "</s>" not in g["generation"] for g in lines)
    assert all(g["nll"] is not None and g["nll"] > 0 for g in lines)  # the letter's NLL after the prompt
    assert all(g["exact_match"] in (0.0, 1.0) for g in lines)
