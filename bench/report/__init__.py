"""Reports: leaderboard CSV, terminal tables, and what a reader sees.

``rundata`` reads run folders; ``plots`` draws each figure kind; ``figures`` is the one
registry of kinds that ``html`` (``bench report``) and ``plotfile`` (``bench plot``) share;
``findings`` writes the report's summary; ``board`` merges runs into the ranked
``bench leaderboard``.
"""

from __future__ import annotations

from bench.report.leaderboard import leaderboard_rows, merge_leaderboard
from bench.report.summary import format_table, summary_tables

__all__ = ["format_table", "leaderboard_rows", "merge_leaderboard", "summary_tables"]
