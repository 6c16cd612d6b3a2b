"""The leaderboard: one row per ``(model, suite, task)``, merged across runs.

Columns: ``model, suite, task, kind, metric`` (the task kind's primary metric),
``mean_<m>`` (unweighted mean over domains) for every metric ``m`` of the kind,
``id_<metric>``, ``ood_<metric>`` (pooled), ``worst_domain``, ``worst_<metric>``,
``gap_<metric>`` (in-domain vs pooled out-of-domain, signed so that positive is worse
out of domain) with ``gap_<metric>_ci_low/high``, ``ece`` (the expected calibration error
pooled over all test examples, the ``ALL`` row of ``metrics.csv``, as ``bench leaderboard``
shows it; ``mean_ece`` is the unweighted mean of the per-domain ECEs), ``n`` and ``run_id``.

The prompt settings that change a model's scores are columns too (:data:`SETTINGS`:
``num_fewshot``, ``chat_template``, ``decoding``, ``domains``, ``protocol``, see
:mod:`bench.report.identity`), and part of the key of the latest view (:data:`VIEW_KEY`):
a 5-shot run of a model does not replace its 0-shot row, nor a ``--domain`` subset run its
full run's row.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
from filelock import FileLock

from bench.errors import OutputError
from bench.report.identity import SETTINGS
from bench.scoring.metrics import get_metric, primary_of
from bench.scoring.tables import POOLED, POOLED_OOD, TaskInfo

__all__ = ["KEY", "VIEW_KEY", "forget_run", "history_path", "leaderboard_rows", "merge_leaderboard"]

KEY = ["model", "suite", "task"]
VIEW_KEY = [*KEY, *SETTINGS]
"""One row of the latest view per model, suite, task and prompt settings."""


def _row(model: str, suite: str, task: str, info: TaskInfo, metrics: pd.DataFrame, gaps: pd.DataFrame) -> dict:
    primary = primary_of(info)
    higher = get_metric(info.kind, primary).higher_is_better
    row: dict = {"model": model, "suite": suite, "task": task, "kind": info.kind, "metric": primary}
    per_domain = metrics[metrics["domain"].isin(info.domains)]
    for name, values in per_domain.groupby("metric", sort=False)["value"]:
        row[f"mean_{name}"] = float(values.mean())
    domains = per_domain[per_domain["metric"] == primary].set_index("domain")["value"]
    if len(domains):
        worst = domains.idxmin() if higher else domains.idxmax()
        row["worst_domain"], row[f"worst_{primary}"] = worst, float(domains[worst])
    pooled = gaps[(gaps["metric"] == primary) & (gaps["kind"] == "id_ood") & (gaps["domain_b"] == POOLED_OOD)]
    if len(pooled):
        gap = pooled.iloc[0]
        row[f"gap_{primary}"] = gap["gap"]
        row[f"gap_{primary}_ci_low"], row[f"gap_{primary}_ci_high"] = gap["ci_low"], gap["ci_high"]
        row[f"gap_{primary}_level"] = gap.get("level", math.nan)
        row[f"id_{primary}"], row[f"ood_{primary}"] = gap["value_a"], gap["value_b"]
    ece = metrics[(metrics["domain"] == POOLED) & (metrics["metric"] == "ece")]["value"]
    if len(ece):
        row["ece"] = float(ece.iloc[0])
    all_rows = metrics[(metrics["domain"] == POOLED) & (metrics["metric"] == primary)]
    row["n"] = int(all_rows["n"].iloc[0]) if len(all_rows) else 0
    return row


def leaderboard_rows(metrics: pd.DataFrame, gaps: pd.DataFrame, infos: dict[tuple[str, str], TaskInfo],
                     run_id: str, settings: Mapping[tuple[str, str], Mapping[str, str]] | None = None
                     ) -> pd.DataFrame:
    """Leaderboard rows of one run, from its metrics and gaps tables.

    ``settings``: each task's prompt settings (:func:`bench.report.identity.run_settings`
    of the run's ``run.json``), written as the :data:`SETTINGS` columns; empty strings
    where not given."""
    rows = []
    for (model, suite, task), part in metrics.groupby(KEY, sort=False):
        sel = (gaps["model"] == model) & (gaps["suite"] == suite) & (gaps["task"] == task)
        mine = (settings or {}).get((suite, task), {})
        rows.append(_row(model, suite, task, infos[(suite, task)], part, gaps[sel])
                    | {k: str(mine.get(k, "")) for k in SETTINGS} | {"run_id": run_id})
    return pd.DataFrame(rows)


def _column_order(columns: pd.Index) -> list[str]:
    first = [*VIEW_KEY, "kind", "metric"]
    last = ["n", "run_id"]
    middle = sorted(c for c in columns if c not in first and c not in last)
    return [c for c in first if c in columns] + middle + [c for c in last if c in columns]


def history_path(path: str | Path) -> Path:
    """Where every run's rows are kept beside the leaderboard ``path``: ``<stem>_runs.csv``."""
    path = Path(path)
    return path.with_name(f"{path.stem}_runs{path.suffix}")


def _write_csv(table: pd.DataFrame, path: Path) -> None:
    from bench.outputs import make_readable

    handle, temp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".csv", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            table.to_csv(stream, index=False)
        make_readable(temp)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _read(path: Path) -> pd.DataFrame:
    """A leaderboard CSV with its settings columns as text (``"0"``, not ``0.0``)."""
    return pd.read_csv(path, dtype={k: str for k in SETTINGS})


def _latest(history: pd.DataFrame) -> pd.DataFrame:
    """One row per :data:`VIEW_KEY`, the last one. A row written before the settings were
    recorded (every settings column empty) is replaced, as it was then, by any row of the
    same model, suite and task that has them."""
    present = [k for k in SETTINGS if k in history]
    keyed = history.assign(**{k: history[k].fillna("") for k in present})
    latest = keyed.drop_duplicates([*KEY, *present], keep="last")
    if not present:
        return latest
    unknown = latest[present].eq("").all(axis=1)
    known = set(latest.loc[~unknown, KEY].itertuples(index=False, name=None))
    stale = unknown & pd.Series([k in known for k in latest[KEY].itertuples(index=False, name=None)],
                                index=latest.index)
    return latest[~stale]


def _ordered(table: pd.DataFrame) -> pd.DataFrame:
    table = table.sort_values([c for c in VIEW_KEY if c in table], kind="stable").reset_index(drop=True)
    return table[_column_order(table.columns)]


def forget_run(path: str | Path, run_id: str) -> int:
    """Remove ``run_id``'s rows from the history beside the leaderboard at ``path`` and write
    the latest view again without them (under the same lock as :func:`merge_leaderboard`):
    what a run interrupted between the two writes, then deleted, must not leave behind.
    Returns the number of history rows removed (0 where there is no leaderboard).

    Raises
    ------
    OutputError
        When the files cannot be read or written.
    """
    path, runs = Path(path), history_path(path)
    if not runs.exists():
        return 0
    try:
        with FileLock(str(path) + ".lock", timeout=600):
            history = _read(runs)
            mine = history["run_id"].astype(str) == run_id if "run_id" in history else pd.Series(False, index=history.index)
            if not mine.any():
                return 0
            kept = history[~mine]
            if kept.empty:  # that run was all the leaderboard held
                runs.unlink()
                path.unlink(missing_ok=True)
            else:
                _write_csv(kept[_column_order(kept.columns)], runs)
                _write_csv(_ordered(_latest(kept)), path)
    except OSError as exc:
        raise OutputError(f"Cannot update leaderboard {path}: {exc.strerror or exc}.") from exc
    return int(mine.sum())


def merge_leaderboard(path: str | Path, rows: pd.DataFrame) -> pd.DataFrame:
    """Merge one run's ``rows`` into the leaderboard at ``path``; return the latest view.

    Two files are kept, both written to a temporary file and renamed, under one file lock
    (``<path>.lock``), so that any number of concurrent runs lose nothing:

    - ``<stem>_runs.csv`` (:func:`history_path`): every run's rows, in the order the runs
      finished; merging a run again replaces its own earlier rows (same ``run_id``);
    - ``path`` (``leaderboard.csv``): the *latest* view, one row per model, suite, task
      and prompt settings (:data:`VIEW_KEY`): the row of the run that finished last.

    A leaderboard written before the history existed seeds the history.
    """
    path = Path(path)
    runs = history_path(path)
    if rows.empty:
        raise OutputError(f"No leaderboard rows to merge into {path}: the run scored no task.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path) + ".lock", timeout=600):
            if runs.exists():
                old = _read(runs)
            else:
                old = _read(path) if path.exists() else pd.DataFrame(columns=[*KEY, "run_id"])
            if "run_id" in rows.columns and "run_id" in old.columns:
                old = old[~old["run_id"].isin(set(rows["run_id"]))]
            history = pd.concat([old, rows], ignore_index=True) if len(old) else rows.copy()
            _write_csv(history[_column_order(history.columns)], runs)
            from bench.killpoints import kill_point

            kill_point("leaderboard")
            merged = _ordered(_latest(history))
            _write_csv(merged, path)
    except OSError as exc:
        raise OutputError(f"Cannot update leaderboard {path}: {exc.strerror or exc}.") from exc
    return merged
