"""Plain-text tables for the terminal: per-domain values and gaps of a run."""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd

from bench.registry import View
from bench.report.labels import METHOD_NAMES
from bench.scoring.tables import POOLED, POOLED_OOD, TaskInfo
from bench.suites.kinds import TASK_KIND

__all__ = ["FAMILY_WORDS", "SUMMARY_METRICS", "chance_notes", "format_table", "interval_methods", "legend",
           "summary_tables"]


def _number(value: float) -> str:
    """Three decimals, a zero never signed (``-0.000`` reads as a difference from 0)."""
    text = f"{value:.3f}"
    return "0.000" if text == "-0.000" else text


def _cell(value: float, low: float, high: float) -> str:
    if math.isnan(value):
        return "n/a"
    if math.isnan(low) or math.isnan(high):
        return _number(value)
    return f"{_number(value)} [{_number(low)}, {_number(high)}]"


SUMMARY_METRICS: Mapping[str, tuple[str, ...]] = View(
    lambda: {name: entry.summary_metrics for name, entry in TASK_KIND.items() if entry.summary_metrics})
"""The metrics shown in the terminal per task kind (all of them are in metrics.csv): each
kind's ``summary_metrics`` in :data:`~bench.suites.kinds.TASK_KIND`."""

WIDE_DOMAINS = 6
"""Suites with at most this many domains get one column per domain; others one row each."""

GAP_LABEL = "gap ID→OOD"


def _value_cell(frame: pd.DataFrame, domain: str) -> str:
    if domain not in frame.index:
        return ""
    v = frame.loc[domain]
    return _cell(v["value"], v["ci_low"], v["ci_high"])


def _gap_cell(gaps: pd.DataFrame, suite: str, task: str, model: str, metric: str) -> str:
    gap = gaps[(gaps["suite"] == suite) & (gaps["task"] == task) & (gaps["model"] == model)
               & (gaps["metric"] == metric) & (gaps["kind"] == "id_ood") & (gaps["domain_b"] == POOLED_OOD)]
    return _cell(*gap.iloc[0][["gap", "ci_low", "ci_high"]]) if len(gap) else ""


def _trained_on(gaps: pd.DataFrame, suite: str, task: str, model: str, info: TaskInfo) -> set[str]:
    """The model's own in-domain set (its fold's training domains), from its id_ood rows;
    empty for a model with none (zero-shot, leave-one-domain-out); the suite's when the
    model has no gap rows at all."""
    mine = gaps[(gaps["suite"] == suite) & (gaps["task"] == task) & (gaps["model"] == model)] \
        if not gaps.empty and "kind" in gaps.columns else gaps.iloc[0:0]
    if mine.empty:
        return set(info.in_domain)
    rows = mine[mine["kind"] == "id_ood"]
    return {d for label in dict.fromkeys(rows["domain_a"]) for d in str(label).split("+")}


def _series(metrics: pd.DataFrame, gaps: pd.DataFrame, suite: str, info: TaskInfo
            ) -> list[tuple[tuple[str, str, str], dict[str, str], frozenset[str]]]:
    """``((task, model, metric), {domain: cell}, trained-on domains)`` per shown metric of a suite."""
    out = []
    for (task, model), part in metrics[metrics["suite"] == suite].groupby(["task", "model"], sort=False):
        trained = frozenset(_trained_on(gaps, suite, task, model, info))
        for metric in SUMMARY_METRICS[info.kind]:
            values = part[part["metric"] == metric].set_index("domain")
            groups = [d for d in dict.fromkeys(values.index.astype(str)) if d.startswith("group:")]
            cells = {d: _value_cell(values, d) for d in [*info.domains, *groups, POOLED]}
            cells[GAP_LABEL] = _gap_cell(gaps, suite, task, model, metric)
            out.append(((task, model, metric), cells, trained))
    return out


def _mark(rows: list[tuple[tuple[str, str, str], dict[str, str], frozenset[str]]]
          ) -> list[tuple[tuple[str, str, str], dict[str, str]]]:
    """Mark in-domain domains ``*``: in the header when every row shares one in-domain
    set, else on each row's own cells (transfer matrix: each fold its own)."""
    shared = len({trained for _, _, trained in rows}) == 1
    out = []
    for key, cells, trained in rows:
        if shared:
            out.append((key, {(f"{d}*" if d in trained else d): v for d, v in cells.items()}))
        else:
            out.append((key, {d: (f"{v}*" if d in trained and v else v) for d, v in cells.items()}))
    return out


def summary_tables(metrics: pd.DataFrame, gaps: pd.DataFrame,
                   infos: dict[tuple[str, str], TaskInfo]) -> dict[str, pd.DataFrame]:
    """One table per suite: the shown metrics per domain (in-domain domains marked ``*``),
    pooled (``ALL``), and the in-domain vs pooled out-of-domain gap with its interval.

    A suite with few domains gets a row per (task, model, metric) and a column per
    domain; one with many domains the transpose, so that the table fits a terminal.
    """
    tables = {}
    for suite in dict.fromkeys(metrics["suite"]):
        series = []
        for (s, task), info in infos.items():
            if s == suite:
                series += _series(metrics[metrics["task"] == task], gaps, suite, info)
        if not series:
            continue
        rows = _mark(series)
        wide = pd.DataFrame([{"task": t, "model": m, "metric": k, **cells} for (t, m, k), cells in rows])
        n_domains = wide.shape[1] - 4
        if n_domains <= WIDE_DOMAINS + 1:
            tables[suite] = wide.fillna("")
        else:
            long = wide.set_index(["task", "model", "metric"]).T
            if not long.loc[GAP_LABEL].fillna("").astype(bool).any():
                long = long.drop(index=GAP_LABEL)  # no model has an in-domain set: no ID→OOD row
            long.columns = [" ".join(c) if len({r[0][0] for r in rows}) > 1 else f"{c[1]} {c[2]}" for c in long.columns]
            tables[suite] = long.rename_axis("domain").reset_index().fillna("")
    return tables


def _marked(table: pd.DataFrame) -> bool:
    """Whether a summary table marks any domain ``*`` (in its header or its cells)."""
    cells = table.astype(str).to_numpy().ravel().tolist()
    return any(str(c).endswith("*") for c in [*table.columns, *cells])


def _method_names(rows: pd.DataFrame) -> str:
    found = dict.fromkeys(str(m) for m in rows["ci_method"].dropna() if str(m)) if "ci_method" in rows else {}
    return " / ".join(METHOD_NAMES.get(m, m) for m in found)


def interval_methods(metrics: pd.DataFrame, gaps: pd.DataFrame, infos: Mapping[tuple[str, str], TaskInfo]) -> str:
    """The interval methods of the terminal table's cells, read from the rows' ``ci_method``:
    ``"accuracy: Wilson, gap Newcombe; mse: studentized bootstrap, gap MOVER (studentized bootstrap)"``
    (per metric the table shows for a task of ``infos``; the gap's where it has one)."""
    shown: dict[str, list[str]] = {}
    for (_, task), info in infos.items():
        for metric in SUMMARY_METRICS.get(info.kind, ()):
            shown.setdefault(metric, []).append(task)
    parts = []
    for metric, tasks in shown.items():
        cells = _method_names(metrics[(metrics["metric"] == metric) & metrics["task"].isin(tasks)])
        if not cells:
            continue
        gap_rows = gaps[(gaps["metric"] == metric) & (gaps["kind"] == "id_ood") & (gaps["domain_b"] == POOLED_OOD)] \
            if not gaps.empty and "kind" in gaps.columns else gaps.iloc[0:0]
        gap = _method_names(gap_rows)
        parts.append(f"{metric}: {cells}" + (f", gap {gap}" if gap else ""))
    return "; ".join(parts)


def legend(tables: dict[str, pd.DataFrame], level: float, method: str, methods: str = "") -> str:
    """The note under the summary tables. ``*`` is explained only where it appears, as the
    domains a model was trained on; tables of models that were not trained on their suite
    (zero-shot, leave-one-domain-out) have no in-domain set and say so instead. ``methods``
    (:func:`interval_methods`) names the interval of each metric's cells."""
    forced = "" if method == "auto" else " for bootstrap and gap intervals; 0/1 metrics' domain values keep Wilson"
    how = methods or f"{method}{forced}; each row's method: ci_method in the CSVs"
    interval = (f"[low, high]: {100 * level:g}% interval ({how}). Gap: in-domain minus "
                "pooled out-of-domain, signed so that positive = worse out of domain.")
    marked = [_marked(table) for table in tables.values()]
    star = ("* in-domain: the data a trainable model was trained on (a pretrained model was not trained on it; "
            "for it, * is the suite's in-domain set)")
    if all(marked):
        return f"{star}; {interval}"
    if any(marked):
        return (f"{star}; rows without * have no in-domain set (zero-shot or leave-one-domain-out: no gap "
                f"ID→OOD); {interval}")
    return ("No model here has an in-domain set (zero-shot: none was trained on the suite; leave-one-domain-out: "
            "each domain is scored by models trained on the other domains), so there is no gap ID→OOD; "
            "each domain is compared with the pooled rest (gaps.csv, kind domain_rest). "
            f"{interval.split('. Gap:')[0]}.")


FAMILY_WORDS = {"id_ood": "each out-of-domain domain vs in domain", "id_pooled": "pooled out of domain vs in domain",
                "best_worst": "best vs worst domain", "spread": "spread across domains", "pairwise": "domain pairs"}
"""How :func:`chance_notes` names a family of gaps other than ``domain_rest`` and ``group_rest``."""


def _family_note(where: str, family: str, part: pd.DataFrame, alpha: float) -> str:
    hits = part[part["p_adjusted"] < alpha]
    n = int(part["p_adjusted"].notna().sum())
    if family in ("domain_rest", "group_rest"):
        noun = "domain" if family == "domain_rest" else "group"
        if hits.empty:
            return (f"{where}: no {noun} differs from the rest beyond chance "
                    f"(Holm-adjusted p >= {alpha:g} for {f'the 1 {noun}' if n == 1 else f'all {n} {noun}s'}).")
        named = ", ".join(f"{r.domain_b} ({r.gap:+.3f})" for r in hits.itertuples(index=False))
        extra = "" if family == "domain_rest" else "groups; "
        return f"{where}: differ from the rest ({extra}Holm p < {alpha:g}; + = worse): {named}."
    words = FAMILY_WORDS.get(family, family)
    if hits.empty:
        tests = "the 1 test" if n == 1 else f"all {n} tests"
        return f"{where}, {words}: nothing beyond chance (Holm-adjusted p >= {alpha:g} for {tests})."
    named = ", ".join(f"{r.domain_a}→{r.domain_b} ({r.gap:+.3f})" for r in hits.itertuples(index=False))
    return f"{where}, {words}: beyond chance (Holm p < {alpha:g}; + = worse on the second): {named}."


def chance_notes(gaps: pd.DataFrame, alpha: float | None = None) -> list[str]:
    """For models with no in-domain set (zero-shot, leave-one-domain-out; a trained model's
    gap stands in its table), one line per (suite, task, model, shown metric, family of
    ``gaps.csv``) that was tested: which compared domains (or groups, or pairs) differ beyond chance
    (Holm-adjusted p < ``alpha``, Holm within the family), or plainly that none does;
    nothing where no test could be made (every p-value NaN, e.g. a metric the model gave
    no values for). ``alpha``: default ``1 − level`` of the rows (0.05 without ``level``)."""
    if gaps.empty or "p_adjusted" not in gaps.columns:
        return []
    shown = {m for names in SUMMARY_METRICS.values() for m in names}
    rows = gaps[gaps["metric"].isin(shown)]
    family = rows["family"] if "family" in rows.columns else rows["kind"]
    rows = rows.assign(family=family.fillna(rows["kind"]))
    untrained = set(rows.loc[rows["kind"] == "domain_rest", "model"])  # a trained model's table holds its gap
    notes = []
    for (suite, task, model, metric, name), part in rows.groupby(["suite", "task", "model", "metric", "family"],
                                                                  sort=False):
        if part["p_adjusted"].isna().all() or model not in untrained:
            continue
        level = float(part["level"].iloc[0]) if "level" in part.columns and part["level"].notna().any() else 0.95
        notes.append(_family_note(f"{suite}/{task} {model} {metric}", str(name), part,
                                  alpha if alpha is not None else round(1 - level, 10)))
    return notes


KEY_COLUMNS = ("task", "model", "metric", "domain")
"""Columns that name a row; a folded table repeats them in every block."""


def format_table(table: pd.DataFrame, width: int | None = None) -> str:
    """Left-aligned text columns separated by two spaces, with a header rule. With
    ``width`` (characters), columns with no value are left out and a wider table is folded:
    its value columns are split into blocks, one under the other, each repeating the naming
    columns (:data:`KEY_COLUMNS`)."""
    if table.empty:
        return "(no rows)"
    if width is not None:  # an empty column (no gap ID→OOD in a zero-shot table) takes no room
        table = table[[c for c in table.columns if c in KEY_COLUMNS or table[c].astype(str).str.strip().any()]]
    text = _plain_table(table)
    if width is None or max(map(len, text.splitlines())) <= width:
        return text
    keys = [c for c in table.columns if c in KEY_COLUMNS]
    blocks: list[list[str]] = [[]]
    for column in [c for c in table.columns if c not in KEY_COLUMNS]:
        trial = _plain_table(table[[*keys, *blocks[-1], column]])
        if blocks[-1] and max(map(len, trial.splitlines())) > width:
            blocks.append([])
        blocks[-1].append(column)
    return "\n\n".join(_plain_table(table[[*keys, *block]]) for block in blocks)


def _plain_table(table: pd.DataFrame) -> str:
    cells = [list(map(str, table.columns))] + [[str(v) for v in row] for row in table.to_numpy().tolist()]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
