"""xdbench: measure capability misalignment across domains and tasks.

The public API: load a suite, wrap a model, run, score.

>>> from bench import RunConfig, evaluate   # doctest: +SKIP
>>> done = evaluate(RunConfig(suites=("toy-reviews",)), out="results")  # doctest: +SKIP

Scoring records you already have: :func:`score_records` (records and the
:class:`TaskInfo` of each task); a run folder on disk: :func:`rescore_run_folder`.

Names are imported on first use (PEP 562 ``__getattr__``), so ``import bench`` costs
almost nothing and only what a caller touches is loaded: :class:`TorchModuleAdapter`
imports torch, nothing else here does.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from bench._version import __version__

_LAZY: dict[str, str] = {
    "MODELS": "bench.adapters",
    "Adapter": "bench.adapters",
    "CallableAdapter": "bench.adapters",
    "TorchModuleAdapter": "bench.adapters",
    "make_model": "bench.adapters",
    "AdapterError": "bench.errors",
    "BenchError": "bench.errors",
    "CapabilityError": "bench.errors",
    "ConfigError": "bench.errors",
    "DataError": "bench.errors",
    "EmptyDomainWarning": "bench.errors",
    "OutputError": "bench.errors",
    "StatisticsError": "bench.errors",
    "SuiteError": "bench.errors",
    "UnknownNameError": "bench.errors",
    "evaluate": "bench.pipeline",
    "rescore_run_folder": "bench.pipeline",
    "score_records": "bench.pipeline",
    "RunConfig": "bench.runner",
    "RunResult": "bench.runner",
    "run": "bench.runner",
    "METRICS": "bench.scoring.metrics",
    "StatisticsOptions": "bench.scoring.options",
    "PROTOCOLS": "bench.suites",
    "SUITES": "bench.suites",
    "Example": "bench.suites",
    "Suite": "bench.suites",
    "Task": "bench.suites",
    "TaskInfo": "bench.suites",
    "load_suite": "bench.suites",
    "load_suite_data": "bench.data",
}
"""Public name → the module that defines it (``__all__`` lists the same names; a test holds them equal)."""

_DEPRECATED: dict[str, str] = {"score_run": "score_records"}
"""Old public name → its replacement: still importable, with a :class:`DeprecationWarning`."""

__all__ = [
    "METRICS",
    "MODELS",
    "PROTOCOLS",
    "SUITES",
    "Adapter",
    "AdapterError",
    "BenchError",
    "CallableAdapter",
    "CapabilityError",
    "ConfigError",
    "DataError",
    "EmptyDomainWarning",
    "Example",
    "OutputError",
    "RunConfig",
    "RunResult",
    "StatisticsError",
    "StatisticsOptions",
    "Suite",
    "SuiteError",
    "Task",
    "TaskInfo",
    "TorchModuleAdapter",
    "UnknownNameError",
    "__version__",
    "evaluate",
    "load_suite",
    "load_suite_data",
    "make_model",
    "rescore_run_folder",
    "run",
    "score_records",
]

if TYPE_CHECKING:
    from bench.adapters import MODELS, Adapter, CallableAdapter, TorchModuleAdapter, make_model
    from bench.data import load_suite_data
    from bench.errors import (
        AdapterError,
        BenchError,
        CapabilityError,
        ConfigError,
        DataError,
        EmptyDomainWarning,
        OutputError,
        StatisticsError,
        SuiteError,
        UnknownNameError,
    )
    from bench.pipeline import evaluate, rescore_run_folder, score_records
    from bench.runner import RunConfig, RunResult, run
    from bench.scoring.metrics import METRICS
    from bench.scoring.options import StatisticsOptions
    from bench.suites import PROTOCOLS, SUITES, Example, Suite, Task, TaskInfo, load_suite


def __getattr__(name: str) -> Any:
    """Import a public name on first access and cache it in the module."""
    if name in _DEPRECATED:  # the function warns when called
        return getattr(importlib.import_module("bench.pipeline"), name)
    if name not in _LAZY:
        raise AttributeError(f"module 'bench' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
