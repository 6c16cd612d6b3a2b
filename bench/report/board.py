"""``bench leaderboard``: runs and leaderboard CSVs merged into one ranked table.

One row per ``(model, suite, task)``. Columns:

- ``metric`` and ``value``: the ranking metric (default: the task kind's primary metric)
  as the unweighted mean over the task's domains, :math:`\\bar m = \\frac1D \\sum_d m_d`
  (the ``mean_<metric>`` of ``leaderboard.csv``);
- ``worst_domain``, ``worst_value``: the domain where the model does worst;
- ``gap``, ``gap_ci_low``, ``gap_ci_high``, ``gap_kind``: the in-domain vs pooled
  out-of-domain gap of the primary metric with its 95% bootstrap interval (positive =
  worse out of domain), ``gap_kind = "id_ood"``; for a model with no in-domain set
  (zero-shot, leave-one-domain-out) the best minus the worst domain,
  ``gap_kind = "best_worst"`` (:data:`GAP_KINDS` names each);
- ``ece``: the expected calibration error pooled over all test examples (the ``ALL``
  row of ``metrics.csv``; ``leaderboard.csv``'s ``ece`` column, not its ``mean_ece``);
- ``num_fewshot``, ``chat_template``, ``decoding``, ``domains``, ``protocol``: the run settings
  (:mod:`bench.report.identity`); the displayed model name carries those that tell two
  rows of one model apart;
- ``effective_robustness``: the residual ρ of ``robustness.csv``;
- ``rank`` (1 = best) among the models of the same suite and task, and ``rank_low``,
  ``rank_high``: the central ``level`` interval of the model's rank over ``resamples``
  bootstrap resamples of the test examples. The resample is stratified by domain and
  paired across models: every model is scored on the same resampled examples, so the
  interval reflects the test set's sampling noise, not differences in examples. It
  needs each run's records; rows read from a leaderboard CSV get a rank but no interval.
- ``n`` (test examples), ``suite_version``, ``run_id``.

Rows from different runs are only ranked together when they share the suite's version
and the same test examples; otherwise :class:`~bench.errors.DataError` says which runs
differ and how.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bench.errors import DataError
from bench.report.identity import SETTINGS, model_labels, task_settings
from bench.report.rundata import RunData, TaskView, load_run

__all__ = ["BOARD_COLUMNS", "GAP_KINDS", "BoardOptions", "build_board", "display_labels", "display_table", "gap_note",
           "rank_intervals", "to_markdown"]

BOARD_COLUMNS = ["model", "suite", "task", "kind", "metric", "value", "rank", "rank_low", "rank_high", "rank_level",
                 "worst_domain", "worst_value", "gap", "gap_ci_low", "gap_ci_high", "gap_level", "gap_kind", "ece",
                 "effective_robustness", "n", *SETTINGS, "suite_version", "run_id"]

GAP_KINDS = {"id_ood": ("ID→OOD", "in-domain minus pooled out-of-domain, positive = worse out of domain"),
             "best_worst": ("best−worst", "the best domain against the worst, for models with no in-domain "
                                          "set (zero-shot, leave-one-domain-out)")}
"""``gap_kind`` → (short name in the table, what the comparison is)."""


@dataclass(frozen=True)
class BoardOptions:
    """How :func:`build_board` ranks: bootstrap resamples, interval level, seed, filters."""

    resamples: int = 1000
    level: float = 0.95
    seed: int = 0
    suite: str | None = None
    task: str | None = None
    metric: str | None = None


def _metric(kind: str, name: str):  # noqa: ANN202 - a Metric
    from bench.errors import UnknownNameError
    from bench.scoring.metrics import get_metric

    try:
        return get_metric(kind, name)
    except (UnknownNameError, KeyError) as exc:
        raise DataError(f"Metric {name!r} does not apply to {kind} tasks.") from exc


def _test_records(run: RunData, view: TaskView) -> pd.DataFrame:
    records = run.part(run.records, view)
    if "split" in records:
        records = records[records["split"] == "test"]
    if "trial" in records and len(records):
        records = records[records["trial"] == records["trial"].min()]
    return records


def _components(records: pd.DataFrame, view: TaskView, metric_name: str) -> dict[str, np.ndarray]:
    """Per-domain component matrices of one model's records, rows sorted by example id."""
    from bench.scoring.tables import TaskInfo, task_columns

    metric = _metric(view.kind, metric_name)
    info = TaskInfo(view.kind, view.choices, view.domains, view.in_domain)
    out = {}
    for domain in view.domains:
        part = records[records["domain"] == domain].sort_values("example_id", kind="stable")
        out[domain] = metric.components(task_columns(part, info)) if len(part) else np.zeros((0, 2))
    return out


def _ranks(values: np.ndarray, higher: bool) -> np.ndarray:
    """Ranks along the last axis, 1 = best; tied values share the average of their ranks."""
    from scipy.stats import rankdata

    return rankdata(-values if higher else values, axis=-1, method="average")


def rank_intervals(components: dict[str, dict[str, np.ndarray]], metric_name: str, kind: str,
                   options: BoardOptions) -> pd.DataFrame:
    """Each model's rank and its paired, domain-stratified bootstrap rank interval.

    Parameters
    ----------
    components
        model → domain → per-example component matrix; within a domain every model's rows
        are the same examples in the same order (the pairing).
    metric_name, kind
        The ranking metric and the task kind (its direction decides rank 1).
    options
        Resamples, level and seed.

    Returns
    -------
    pandas.DataFrame
        ``model, value, rank, rank_low, rank_high``: ``value`` = mean over domains of the
        metric; ``rank`` from ``value``; the interval holds the ``(1 ± level) / 2``
        quantiles of the resampled ranks (``method="lower"``/``"higher"``).
    """
    metric = _metric(kind, metric_name)
    models = list(components)
    domains = [d for d in next(iter(components.values())) if len(components[models[0]][d])]
    rng = np.random.default_rng(options.seed)
    point = np.zeros((len(models), len(domains)))
    boot = np.zeros((options.resamples, len(models), len(domains)))
    for j, domain in enumerate(domains):
        n = len(components[models[0]][domain])
        index = rng.integers(0, n, size=(options.resamples, n))
        for i, model in enumerate(models):
            comps = components[model][domain]
            point[i, j] = metric.combine(comps.sum(axis=0))
            boot[:, i, j] = metric.combine(comps[index].sum(axis=1))
    value, resampled = point.mean(axis=1), np.nanmean(boot, axis=2)
    ranks = _ranks(resampled, metric.higher_is_better)
    alpha = (1 - options.level) / 2
    return pd.DataFrame({"model": models, "value": value, "rank": _ranks(value, metric.higher_is_better),
                         "rank_low": np.quantile(ranks, alpha, axis=0, method="lower"),
                         "rank_high": np.quantile(ranks, 1 - alpha, axis=0, method="higher")})


def _suite_version(run: RunData, suite: str) -> str:
    return next((str(s.get("version", "")) for s in run.meta.get("suites", []) if s.get("name") == suite), "")


def _gap(run: RunData, view: TaskView, model: str) -> tuple[float, float, float, float, str]:
    """The gap shown for ``model``: value, interval, its confidence level, and its kind."""
    from bench.report.plots import gap_rows

    gaps = gap_rows(run.part(run.gaps, view), view.metric)
    rows = gaps[(gaps["model"] == model) & (gaps["domain_b"] == "OOD")]
    kind = "id_ood"
    if rows.empty:
        kind = "best_worst"
        best_worst = run.part(run.gaps, view)
        rows = best_worst[(best_worst["model"] == model) & (best_worst["kind"] == "best_worst")
                          & (best_worst["metric"] == view.metric)]
    if rows.empty:
        return math.nan, math.nan, math.nan, math.nan, ""
    first = rows.iloc[0]
    level = float(first["level"]) if "level" in rows and pd.notna(first["level"]) else math.nan
    return float(first["gap"]), float(first["ci_low"]), float(first["ci_high"]), level, kind


def _run_rows(run: RunData, view: TaskView, metric: str) -> pd.DataFrame:
    from bench.report.plots import LOWER_IS_BETTER

    metrics = run.part(run.metrics, view)
    robustness = run.part(run.table("robustness.csv"), view)
    settings = task_settings(run.meta, view.suite, view.task)
    rows = []
    for model, part in metrics.groupby("model", sort=False):
        per_domain = part[(part["metric"] == metric) & part["domain"].isin(view.domains)].dropna(subset=["value"])
        if per_domain.empty:
            continue
        worst = per_domain.loc[per_domain["value"].idxmax() if metric in LOWER_IS_BETTER
                               else per_domain["value"].idxmin()]
        ece = part[(part["metric"] == "ece") & (part["domain"] == "ALL")]["value"]
        rho = robustness[robustness["model"] == model]["effective_robustness"] if len(robustness) \
            else pd.Series(dtype=float)
        pooled = part[(part["domain"] == "ALL") & (part["metric"] == metric)]["n"]
        gap, low, high, level, gap_kind = _gap(run, view, model)
        rows.append({"model": model, "suite": view.suite, "task": view.task, "kind": view.kind, "metric": metric,
                     "value": float(per_domain["value"].mean()), "worst_domain": worst["domain"],
                     "worst_value": float(worst["value"]), "gap": gap, "gap_ci_low": low, "gap_ci_high": high,
                     "gap_level": level, "gap_kind": gap_kind, "ece": float(ece.iloc[0]) if len(ece) else math.nan,
                     "effective_robustness": float(rho.iloc[0]) if len(rho) else math.nan,
                     "n": int(pooled.iloc[0]) if len(pooled) else 0, **settings,
                     "suite_version": _suite_version(run, view.suite), "run_id": run.run_id})
    return pd.DataFrame(rows)


def _csv_rows(path: Path, options: BoardOptions) -> pd.DataFrame:
    try:
        table = pd.read_csv(path, dtype={k: str for k in SETTINGS})
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"Cannot read leaderboard {path}: {exc}.") from exc
    missing = [c for c in ("model", "suite", "task", "kind", "metric") if c not in table.columns]
    if missing:
        raise DataError(f"{path} is not a leaderboard CSV: no column {', '.join(missing)}.")
    rows = []
    for r in table.to_dict("records"):
        metric = options.metric or r["metric"]
        primary = r["metric"]
        rows.append({"model": r["model"], "suite": r["suite"], "task": r["task"], "kind": r["kind"],
                     "metric": metric, "value": r.get(f"mean_{metric}", math.nan),
                     "worst_domain": r.get("worst_domain", ""), "worst_value": r.get(f"worst_{primary}", math.nan),
                     "gap": r.get(f"gap_{primary}", math.nan), "gap_ci_low": r.get(f"gap_{primary}_ci_low", math.nan),
                     "gap_ci_high": r.get(f"gap_{primary}_ci_high", math.nan),
                     "gap_level": r.get(f"gap_{primary}_level", math.nan),
                     "gap_kind": "id_ood" if _finite(r.get(f"gap_{primary}")) else "",
                     "ece": r.get("ece", math.nan), "effective_robustness": math.nan, "n": r.get("n", 0),
                     **{k: "" if pd.isna(r.get(k, "")) else str(r.get(k, "")) for k in SETTINGS},
                     "suite_version": str(r.get("suite_version", "")), "run_id": r.get("run_id", "")})
    return pd.DataFrame(rows, columns=[c for c in BOARD_COLUMNS if c not in ("rank", "rank_low", "rank_high", "rank_level")])


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _example_key(records: pd.DataFrame) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(set(zip(records["domain"].astype(str), records["example_id"].astype(str), strict=True))))


def _check_comparable(entries: list[tuple[RunData, TaskView, str, pd.DataFrame]]) -> None:
    versions = {(run.run_id, _suite_version(run, view.suite)) for run, view, _, _ in entries}
    if len({v for _, v in versions}) > 1:
        listed = ", ".join(f"{rid}: version {v or '?'}" for rid, v in sorted(versions))
        raise DataError(f"Runs are not comparable on {entries[0][1].key}: different suite versions ({listed}).")
    first_run, _, first_model, first = entries[0]
    reference = _example_key(first)
    for run, view, model, records in entries[1:]:
        if _example_key(records) != reference:
            raise DataError(f"Runs are not comparable on {view.key}: {model} in run {run.run_id} was scored on "
                            f"other test examples than {first_model} in run {first_run.run_id} "
                            f"({len(records)} vs {len(first)} examples); rank them from runs with the same "
                            "suite version, data and --limit.")


def _rank_task(entries: list[tuple[RunData, TaskView, str, pd.DataFrame]], metric: str,
               options: BoardOptions) -> pd.DataFrame:
    _check_comparable(entries)
    view = entries[0][1]
    comps = {f"{model}\x00{run.run_id}": _components(records, view, metric) for run, _, model, records in entries}
    ranks = rank_intervals(comps, metric, view.kind, options)
    ranks[["model", "run_id"]] = ranks["model"].str.split("\x00", expand=True)
    return ranks.drop(columns="value")


def _with_records(run: RunData, view: TaskView) -> list[tuple[RunData, TaskView, str, pd.DataFrame]]:
    records = _test_records(run, view)
    return [(run, view, str(model), part) for model, part in records.groupby("model", sort=False)]


def _wanted(view: TaskView, options: BoardOptions) -> bool:
    return (options.suite in (None, view.suite)) and (options.task in (None, view.task))


def build_board(sources: Sequence[str | Path], options: BoardOptions | None = None) -> pd.DataFrame:
    """The merged, ranked leaderboard of run folders and leaderboard CSVs (see module doc).

    Raises
    ------
    DataError
        A source that is neither a run folder nor a readable leaderboard CSV; runs that are
        not comparable; a metric that does not apply to a task.
    """
    options = options or BoardOptions()
    if not sources:
        raise DataError("No run folder or leaderboard CSV given.")
    tables: list[pd.DataFrame] = []
    entries: dict[str, list[tuple[RunData, TaskView, str, pd.DataFrame]]] = {}
    for source in map(Path, sources):
        if source.is_dir():
            run = load_run(source)
            for view in filter(lambda v: _wanted(v, options), run.tasks):
                metric = options.metric or view.metric
                tables.append(_run_rows(run, view, metric))
                entries.setdefault(view.key, []).extend(_with_records(run, view))
        elif source.is_file():
            tables.append(_csv_rows(source, options))
        else:
            raise DataError(f"{source} is neither a run folder nor a leaderboard CSV.")
    board = pd.concat([t for t in tables if not t.empty], ignore_index=True) if any(len(t) for t in tables) \
        else pd.DataFrame(columns=BOARD_COLUMNS)
    board = board[(board["suite"] == options.suite) | (options.suite is None)]
    board = board[(board["task"] == options.task) | (options.task is None)]
    board = board.drop_duplicates(subset=["model", "suite", "task", "run_id"], keep="last")
    return _add_ranks(board, entries, options)


def _add_ranks(board: pd.DataFrame, entries: dict, options: BoardOptions) -> pd.DataFrame:
    from bench.report.plots import LOWER_IS_BETTER

    parts = []
    for (suite, task), part in board.groupby(["suite", "task"], sort=False):
        part = part.copy()
        metric = str(part["metric"].iloc[0])
        higher = metric not in LOWER_IS_BETTER
        part["rank"] = _ranks(part["value"].to_numpy(dtype=float), higher)
        part["rank_low"], part["rank_high"], part["rank_level"] = math.nan, math.nan, options.level
        found = entries.get(f"{suite}/{task}", [])
        keyed = {(m, r.run_id) for r, _, m, _ in found}
        if len(found) >= 2 and keyed == set(zip(part["model"], part["run_id"], strict=True)):
            ranks = _rank_task(found, metric, options).set_index(["model", "run_id"])
            index = pd.MultiIndex.from_frame(part[["model", "run_id"]])
            part["rank_low"] = ranks["rank_low"].reindex(index).to_numpy()
            part["rank_high"] = ranks["rank_high"].reindex(index).to_numpy()
        parts.append(part.sort_values(["rank", "model"]))
    board = pd.concat(parts, ignore_index=True) if parts else board.assign(rank=[], rank_low=[], rank_high=[], rank_level=[])
    return board[[c for c in BOARD_COLUMNS if c in board.columns]].reset_index(drop=True)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4g}"
    return str(value).replace("|", "\\|")


def to_markdown(board: pd.DataFrame, columns: Sequence[str] | None = None) -> str:
    """The board as a GitHub Markdown table (ranks as ``r [low–high]``, gaps with CIs)."""
    shown = display_table(board) if columns is None else board[list(columns)]
    lines = ["| " + " | ".join(shown.columns) + " |", "|" + "---|" * len(shown.columns)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in shown.itertuples(index=False)]
    return "\n".join(lines)


def _rank_text(r: pd.Series) -> str:
    rank = f"{r['rank']:g}"
    if math.isfinite(r["rank_low"]) and math.isfinite(r["rank_high"]):
        return f"{rank} [{r['rank_low']:g}–{r['rank_high']:g}]"
    return rank


def _ci_text(value: float, low: float, high: float) -> str:
    if not math.isfinite(value):
        return ""
    return f"{value:.3f} [{low:.3f}, {high:.3f}]" if math.isfinite(low) and math.isfinite(high) else f"{value:.3f}"


def display_labels(board: pd.DataFrame) -> list[str]:
    """Each row's model name as the board shows it: with the prompt settings (then the run
    id) that tell it apart from other rows of the same model, suite and task
    (:func:`bench.report.identity.model_labels`)."""
    labels = pd.Series(board["model"].astype(str).to_numpy(), index=board.index)
    for _, part in board.groupby(["suite", "task"], sort=False):
        settings = [{k: part.at[i, k] if k in part else "" for k in (*SETTINGS, "run_id")} for i in part.index]
        labels[part.index] = model_labels(list(part["model"].astype(str)), settings, tiebreak="run_id")
    return list(labels)


def level_text(levels: pd.Series) -> str:
    """``"95% CI"`` for one confidence level among ``levels`` (NaN: unknown, as in a
    leaderboard CSV of an older version: 95 %, the only level it wrote), else ``"CI"``."""
    found = {round(float(v), 6) for v in levels.fillna(0.95)} if len(levels) else {0.95}
    return f"{found.pop():.0%} CI" if len(found) == 1 else "CI"


def _gap_header(board: pd.DataFrame) -> str:
    kinds = set(board["gap_kind"].fillna("")) - {""} if "gap_kind" in board else {"id_ood"}
    level = level_text(board["gap_level"] if "gap_level" in board else pd.Series(dtype=float))
    return f"gap {GAP_KINDS[kinds.pop()][0]} [{level}]" if len(kinds) == 1 else f"gap [{level}]"


def gap_note(board: pd.DataFrame) -> str:
    """The footnote sentence that says which comparison the board's gap column holds."""
    kinds = [k for k in GAP_KINDS if "gap_kind" in board and (board["gap_kind"] == k).any()]
    if not kinds:
        return ""
    return "Gap " + "; ".join(f"{GAP_KINDS[k][0]}: {GAP_KINDS[k][1]}" for k in kinds) + "."


def display_table(board: pd.DataFrame) -> pd.DataFrame:
    """The board with formatted text columns for the terminal and Markdown. The gap
    column's header names its comparison (:data:`GAP_KINDS`); where rows hold different
    ones, each cell does."""
    rows = []
    header = _gap_header(board)
    mixed = header.startswith("gap [")
    rank_header = f"rank [{level_text(board['rank_level'] if 'rank_level' in board else pd.Series(dtype=float))}]"
    for (_, r), model in zip(board.iterrows(), display_labels(board), strict=True):
        gap = _ci_text(r["gap"], r["gap_ci_low"], r["gap_ci_high"])
        if mixed and gap and r.get("gap_kind") in GAP_KINDS:
            gap = f"{GAP_KINDS[r['gap_kind']][0]} {gap}"
        rows.append({rank_header: _rank_text(r), "model": model, "suite/task": f"{r['suite']}/{r['task']}",
                     r["metric"] if board["metric"].nunique() == 1 else "value": f"{r['value']:.3f}",
                     "worst domain": f"{r['worst_domain']} ({r['worst_value']:.3f})"
                     if isinstance(r["worst_domain"], str) and r["worst_domain"] else "",
                     header: gap,
                     "ECE": "" if not math.isfinite(r["ece"]) else f"{r['ece']:.3f}",
                     "eff. robustness": "" if not math.isfinite(r["effective_robustness"])
                     else f"{r['effective_robustness']:+.3f}"})
    return pd.DataFrame(rows)
