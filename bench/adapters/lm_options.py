"""Values of the run-wide options of language models (``bench run --device/--dtype``).

A leaf without heavy imports: the command line's parser lists them in its help, and
``bench --version`` must not load what the runner needs (pandas, scipy).
"""

from __future__ import annotations

from bench.suites.rules import Match, Str

__all__ = ["DEVICES", "DEVICE_PATTERN", "DEVICE_RULE", "DTYPES", "DTYPE_RULE"]

DTYPES: tuple[str, ...] = ("float32", "bfloat16", "float16", "auto")
"""Values of ``--dtype`` (passed to the language-model adapters)."""
DEVICES = "cpu, cuda, cuda:N, mps"
"""Values of ``--device`` (passed to the language-model adapters), in words."""
DEVICE_PATTERN = r"cpu|mps|cuda(?::(\d+))?"
"""The same values as a regular expression (``re.fullmatch``; group 1: the CUDA index)."""
DEVICE_RULE = Match(pattern=DEVICE_PATTERN, means=DEVICES)
"""The rule of a ``device`` field (:func:`bench.suites.rules.check_config`)."""
DTYPE_RULE = Str(choices=DTYPES)
"""The rule of a ``dtype`` field."""
