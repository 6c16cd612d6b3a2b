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


@pytest.mark.parametrize("package", ["bench.scoring", "bench.report"])
def test_lazy_packages_resolve_every_public_name(package: str) -> None:
    """``bench.scoring`` and ``bench.report`` import their names on first use, as ``bench`` does."""
    import importlib

    module = importlib.import_module(package)
    assert set(module.__all__) == set(module._LAZY)
    for name in module.__all__:
        assert getattr(module, name) is getattr(importlib.import_module(f"{package}.{module._LAZY[name]}"), name)
    with pytest.raises(AttributeError, match=f"module '{package}' has no attribute 'nope'"):
        module.nope  # noqa: B018


def test_metrics_and_statistics_options_load_no_scipy() -> None:
    """What ``bench list`` and the statistics options' parser read."""
    loaded = _loaded("import bench.scoring.metrics, bench.scoring.options, bench.report.kinds")
    assert not loaded["scipy"] and not loaded["pandas"], loaded


# --- start-up: what the quick commands import --------------------------------------------
HEAVY = ("pandas", "scipy", "torch", "matplotlib")
"""Libraries that ``bench --version``, ``--help``, ``list`` and a usage error never import."""


def _bench(*argv: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    """``python -X importtime -m bench ARGV`` in a fresh interpreter: the result (its stderr
    without the import lines) and the heavy libraries (:data:`HEAVY`) it imported."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "bench", *argv], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"})
    lines = done.stderr.splitlines()
    modules = {line.rsplit("|", 1)[1].strip() for line in lines if line.startswith("import time:")}
    heavy = sorted({module.split(".")[0] for module in modules} & set(HEAVY))
    stderr = "\n".join(line for line in lines if not line.startswith("import time:"))
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout, stderr), heavy


def test_importtime_sees_a_heavy_import() -> None:
    """The check below can fail: a command that needs pandas shows it."""
    done, heavy = _bench("data", "describe", "no-such-suite")
    assert done.returncode == 2, done.stderr
    assert "pandas" in heavy


def test_version_imports_no_heavy_library() -> None:
    from bench._version import __version__

    done, heavy = _bench("--version")
    assert (done.returncode, done.stdout) == (0, f"bench (xdbench) {__version__}\n"), done.stderr
    assert not heavy


@pytest.mark.parametrize("argv", [["--help"], [], ["run", "--help"], ["plot", "--help"]])
def test_help_imports_no_heavy_library(argv: list[str]) -> None:
    from bench.cli import build_parser

    done, heavy = _bench(*argv)
    assert done.returncode == 0, done.stderr
    usage = f"usage: bench {' '.join(argv[:-1])}".rstrip()
    assert done.stdout.startswith(usage), done.stdout
    if not argv[:-1]:  # the top-level help names every command
        commands = next(a for a in build_parser()._actions if a.dest == "command").choices
        assert all(name in done.stdout for name in commands)
    assert not heavy


def _sections(text: str) -> dict[str, list[str]]:
    """``bench list`` output: section title (``models:``) → its indented lines."""
    sections: dict[str, list[str]] = {}
    lines: list[str] = []
    for line in text.splitlines():
        if line.startswith("  "):
            lines.append(line.strip())
        else:
            lines = sections[line.rstrip(":")] = []
    return sections


@pytest.mark.parametrize("what", [None, "models", "Suite", "metrics", "protocol"])
def test_list_imports_no_heavy_library_and_lists_every_entry(what: str | None) -> None:
    from bench.adapters import MODEL_GROUPS, MODELS
    from bench.scoring.metrics import METRICS
    from bench.suites import PROTOCOLS, SUITES

    registries = {"suites": SUITES, "models": MODELS, "metrics": METRICS, "protocols": PROTOCOLS}
    done, heavy = _bench("list", *([what] if what else []))
    assert done.returncode == 0, done.stderr
    sections = _sections(done.stdout)
    chosen = [k for k in registries if what is None or k.startswith(what.lower())]
    assert list(sections) == [s for k in chosen for s in ([k, "model groups"] if k == "models" else [k])]
    for kind in chosen:
        listed = {line.split()[0]: line for line in sections[kind]}
        assert list(listed) == registries[kind].names()
        for entry in registries[kind].entries():
            assert listed[entry.name].split(None, 1)[1].startswith(entry.description), entry.name
    if "models" in chosen:
        assert len(sections["model groups"]) == len(MODEL_GROUPS)
        for group, members in MODEL_GROUPS.items():
            assert any(line.split()[0] == group and line.endswith(", ".join(members))
                       for line in sections["model groups"]), group
    assert not heavy


@pytest.mark.parametrize(("argv", "message"), [
    (["frobnicate"], "bench: error: argument COMMAND: invalid choice: 'frobnicate'"),
    (["--bogus"], "bench: error: unrecognized arguments: --bogus"),
    (["run", "--bogus"], "bench run: error: unrecognized arguments: --bogus"),
    (["score", "RUN_DIR", "--method", "nope"], "bench score: error: argument --method: must be one of auto, "
                                                 "studentized, BCa, percentile (any case), got 'nope'"),
    (["list", "nonsense"], "bench list: error: argument WHAT: choose from suites, models, metrics, protocols"),
])
def test_usage_error_imports_no_heavy_library(argv: list[str], message: str) -> None:
    done, heavy = _bench(*argv)
    assert done.returncode == 2
    assert message in done.stderr
    assert done.stderr.startswith("usage: bench")
    assert not heavy
