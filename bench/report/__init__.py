"""Reports: leaderboard CSV, terminal tables (plots and HTML build on these)."""

from __future__ import annotations

from bench.report.leaderboard import leaderboard_rows, merge_leaderboard
from bench.report.summary import format_table, summary_tables

__all__ = ["format_table", "leaderboard_rows", "merge_leaderboard", "summary_tables"]
