"""Results of other harnesses as xdbench runs: ``bench import lm-eval|inspect|helm PATH``.

An importer (:data:`IMPORTERS`) reads another harness's per-sample output into an
:class:`~bench.importers.common.Imported`; :func:`import_run` registers it in the run store
of ``out`` as a complete run, scores its records as ``bench run`` scores its own (metrics,
gaps, across-model tables), merges its leaderboard rows and writes an ordinary run folder
``<out>/runs/<run_id>/`` whose ``run.json`` says where it came from (``imported``: harness,
version, every file read with its SHA-256, the models and their arguments as the logs state
them). ``bench score``, ``bench compare``, ``bench leaderboard`` and ``bench report`` read it
unchanged. Any error leaves no run folder and no stored run. See ``docs/importing.md``.

This module imports nothing heavy: the readers and the writer load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bench.importers.sources import IMPORTERS

if TYPE_CHECKING:
    from bench.importers.publish import ImportedRun

__all__ = ["IMPORTERS", "import_run"]


def import_run(source: str, path: Any, out: Any = "results", **options: Any) -> ImportedRun:
    """:func:`bench.importers.publish.import_run` (imported on first use)."""
    from bench.importers.publish import import_run as run_import

    return run_import(source, path, out, **options)
