"""Import laziness: commands that never run a model never import torch.

Each check runs in a fresh interpreter (``sys.modules`` of the test process already holds
torch), so what it sees is what a user's ``bench score`` would load.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _python(code: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"})


def _loaded(code: str) -> dict[str, bool]:
    done = _python(code + "\nimport json, sys\n"
                   "print(json.dumps({m: m in sys.modules for m in ('torch', 'pandas', 'scipy', 'transformers')}))")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_import_bench_loads_nothing_heavy() -> None:
    loaded = _loaded("import bench, bench.cli")
    assert not any(loaded.values()), loaded


@pytest.mark.parametrize("module", ["bench.pipeline", "bench.scoring", "bench.report.html", "bench.report",
                                    "bench.scoring.mitigations", "bench.runner", "bench.adapters"])
def test_torch_free_modules_do_not_import_torch(module: str) -> None:
    assert not _loaded(f"import {module}")["torch"]


def test_torch_free_public_api_does_not_import_torch() -> None:
    names = ["SUITES", "RunConfig", "evaluate", "score_records", "rescore_run_folder", "load_suite", "make_model", "CallableAdapter",
             "BenchError", "MODELS"]
    assert not _loaded(f"import bench\nfor name in {names!r}: getattr(bench, name)")["torch"]


def test_torch_module_adapter_is_still_public() -> None:
    assert _loaded("import bench\nbench.TorchModuleAdapter")["torch"]


def test_unknown_public_name_is_an_attribute_error() -> None:
    import bench

    with pytest.raises(AttributeError, match="module 'bench' has no attribute 'nope'"):
        bench.nope  # noqa: B018


def test_bench_score_and_report_never_import_torch(tiny_suite: Path, tmp_path: Path) -> None:
    made = _python(f"from bench.cli import main; raise SystemExit(main(['run', {str(tiny_suite)!r}, '-m', "
                   f"'majority', '--out', {str(tmp_path)!r}, '--quiet']))", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    for argv in (["score", str(run_dir), "--resamples", "200", "--permutations", "200", "--quiet"],
                 ["report", str(run_dir)]):
        loaded = _loaded(f"from bench.cli import main\nassert main({argv!r}) == 0")
        assert not loaded["torch"], argv


def test_all_lists_exactly_the_lazy_names() -> None:
    import bench

    assert set(bench.__all__) == {*bench._LAZY, "__version__"}
