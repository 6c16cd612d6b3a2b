"""Packaging beyond what pyproject.toml can say: the bundled suite definitions live in the
top-level ``suites/`` folder of the repository and ship inside the wheel as the package
data of ``bench.suites.bundled`` (``bench/suites/bundled/*.toml`` once installed), where
``bench.suites`` finds them. Everything else is in pyproject.toml."""

from pathlib import Path

from setuptools import find_packages, setup

SUITES = Path(__file__).resolve().parent / "suites"

setup(
    packages=[*find_packages(include=["bench*"]), "bench.suites.bundled"],
    # a checkout from before the move to suites/ keeps them in bench/suites/bundled/
    package_dir={"bench.suites.bundled": "suites"} if SUITES.is_dir() else {},
)
