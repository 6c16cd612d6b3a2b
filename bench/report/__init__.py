"""Reports: leaderboard CSV, terminal tables, and what a reader sees.

``rundata`` reads run folders; ``plots`` draws each figure kind; ``figures`` is the one
registry of kinds that ``html`` (``bench report``) and ``plotfile`` (``bench plot``) share;
``findings`` writes the report's summary; ``board`` merges runs into the ranked
``bench leaderboard``.

Names are imported on first use (PEP 562 ``__getattr__``): ``bench.report.kinds``, which
``bench plot``'s parser reads, loads neither pandas nor scipy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.report.leaderboard import leaderboard_rows, merge_leaderboard
    from bench.report.summary import format_table, summary_tables

_LAZY: dict[str, str] = {"format_table": "summary", "leaderboard_rows": "leaderboard",
                         "merge_leaderboard": "leaderboard", "summary_tables": "summary"}
"""Public name → the submodule of ``bench.report`` that defines it (``__all__`` lists the
same names; a test holds them equal)."""

__all__ = ["format_table", "leaderboard_rows", "merge_leaderboard", "summary_tables"]


def __getattr__(name: str) -> Any:
    """Import a public name on first access and cache it in the package."""
    if name not in _LAZY:
        raise AttributeError(f"module 'bench.report' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"bench.report.{_LAZY[name]}"), name)
    globals()[name] = value
    return value
