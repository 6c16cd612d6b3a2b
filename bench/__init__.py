"""xdbench: measure capability misalignment across domains and tasks.

The public API: load a suite, wrap a model, run, score.

>>> from bench import RunConfig, evaluate   # doctest: +SKIP
>>> done = evaluate(RunConfig(suites=("toy-reviews",)), out="results")  # doctest: +SKIP
"""

from __future__ import annotations

__version__ = "0.1.0"

from bench.adapters import (  # noqa: E402
    MODELS,
    Adapter,
    CallableAdapter,
    TorchModuleAdapter,
    make_model,
)
from bench.errors import (  # noqa: E402
    AdapterError,
    BenchError,
    CapabilityError,
    ConfigError,
    DataError,
    OutputError,
    SuiteError,
    UnknownNameError,
)
from bench.pipeline import evaluate, score_run  # noqa: E402
from bench.runner import RunConfig, RunResult, run  # noqa: E402
from bench.suites import SUITES, Example, Suite, Task, load_suite, load_suite_data  # noqa: E402

__all__ = [
    "MODELS",
    "SUITES",
    "Adapter",
    "AdapterError",
    "BenchError",
    "CallableAdapter",
    "CapabilityError",
    "ConfigError",
    "DataError",
    "Example",
    "OutputError",
    "RunConfig",
    "RunResult",
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
