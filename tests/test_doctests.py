"""The examples in ``bench``'s docstrings run and print what they show (``doctest``)."""

from __future__ import annotations

import doctest
import importlib

import pytest

from tests.test_layers import PACKAGE, _module_name

WITH_EXAMPLES = sorted(_module_name(path) for path in PACKAGE.rglob("*.py")
                       if ">>> " in path.read_text(encoding="utf-8"))


def test_the_package_has_examples_to_run() -> None:
    """Examples marked ``+SKIP`` (they need a trained model or a download) are not attempted;
    the others are, and there are some."""
    attempted = sum(doctest.testmod(importlib.import_module(name)).attempted
                    for name in ("bench.registry", "bench.scoring.bootstrap", "bench.adapters.openai_compatible"))
    assert "bench.registry" in WITH_EXAMPLES and attempted >= 5


@pytest.mark.parametrize("name", WITH_EXAMPLES)
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed"
