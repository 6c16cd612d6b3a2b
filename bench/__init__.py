"""xdbench: measure capability misalignment across domains and tasks.

The public API: load a suite, wrap a model, run, score.

>>> from bench import RunConfig, evaluate   # doctest: +SKIP
>>> done = evaluate(RunConfig(suites=("toy-reviews",)), out="results")  # doctest: +SKIP

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
    "OutputError": "bench.errors",
    "SuiteError": "bench.errors",
    "UnknownNameError": "bench.errors",
    "evaluate": "bench.pipeline",
    "score_run": "bench.pipeline",
    "RunConfig": "bench.runner",
    "RunResult": "bench.runner",
    "run": "bench.runner",
    "SUITES": "bench.suites",
    "Example": "bench.suites",
    "Suite": "bench.suites",
    "Task": "bench.suites",
    "load_suite": "bench.suites",
    "load_suite_data": "bench.data",
}
"""Public name → the module that defines it (``__all__`` lists the same names; a test holds them equal)."""

__all__ = [
    "Adapter",
    "AdapterError",
    "BenchError",
    "CallableAdapter",
    "CapabilityError",
    "ConfigError",
    "DataError",
    "Example",
    "MODELS",
    "OutputError",
    "RunConfig",
    "RunResult",
    "SUITES",
    "Suite",
    "SuiteError",
    "Task",
    "TorchModuleAdapter",
    "UnknownNameError",
    "__version__",
    "evaluate",
    "load_suite",
    "load_suite_data",
    "make_model",
    "run",
    "score_run",
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
        OutputError,
        SuiteError,
        UnknownNameError,
    )
    from bench.pipeline import evaluate, score_run
    from bench.runner import RunConfig, RunResult, run
    from bench.suites import SUITES, Example, Suite, Task, load_suite


def __getattr__(name: str) -> Any:
    """Import a public name on first access and cache it in the module."""
    if name not in _LAZY:
        raise AttributeError(f"module 'bench' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
