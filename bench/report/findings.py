"""The written summary that opens a report: sentences computed from a run's tables.

Four kinds of finding, each from the primary metric of each task:

- ``gap``: per task, the largest gaps that are significant after Holm's adjustment
  (``p_adjusted`` below the row's ``1 − level``), largest first, with their interval
  (named from the row's ``ci_method`` and ``level``);
- ``worst``: each model's worst domain and its value with interval;
- ``mitigation``: for each mitigation and its baseline, the pooled out-of-domain gap of
  both and the reduction ``g(baseline) − g(mitigation)`` (with its paired interval and
  permutation p-value when the run has ``mitigations.csv``) and the fraction closed;
- ``null``: the models and tasks where no gap is significant after Holm, with the
  smallest gap that the test could have detected (``mdg``, 80% power).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from bench.report.labels import alpha_of, interval_label, significant
from bench.report.plots import LOWER_IS_BETTER, is_floor
from bench.report.rundata import RunData, TaskView

__all__ = ["ALPHA", "Finding", "findings"]

ALPHA = 0.05
"""Significance level of rows that record no ``level`` (the others use ``1 − level``)."""

TOP_GAPS = 2
"""The largest significant gaps reported per task (metrics of different tasks differ in scale)."""
POOLED_OOD = "OOD"


@dataclass(frozen=True)
class Finding:
    """One sentence of the summary; ``kind`` ∈ gap, worst, mitigation, null."""

    kind: str
    text: str


def _num(value: float) -> str:
    text = f"{value:.3f}"
    return "n/a" if not math.isfinite(value) else ("0.000" if text == "-0.000" else text)


def _ci(value: float, low: float, high: float) -> str:
    if math.isfinite(low) and math.isfinite(high):
        return f"{_num(value)} [{_num(low)}, {_num(high)}]"
    return _num(value)


def _task_gaps(run: RunData, view: TaskView) -> pd.DataFrame:
    from bench.report.plots import gap_rows  # the rows the forest plot shows

    return gap_rows(run.part(run.gaps, view), view.metric)


def _gap_findings(run: RunData) -> list[Finding]:
    out, tested = [], False
    for view in run.tasks:
        gaps = _task_gaps(run, view)
        tested = tested or not gaps.empty
        if "p_adjusted" not in gaps:
            continue
        top = gaps[significant(gaps) & (gaps["gap"] > 0)].sort_values("gap", ascending=False)
        for index, r in zip(top.index[:TOP_GAPS], top.head(TOP_GAPS).itertuples(index=False), strict=True):
            row = top.loc[[index]]
            against = "the pooled rest" if r.domain_a == "REST" else r.domain_a
            out.append(Finding("gap", f"{r.model} on {view.key}: {view.metric} is worse on {r.domain_b} than on "
                                      f"{against} by {_ci(r.gap, r.ci_low, r.ci_high)} "
                                      f"({interval_label(row)}; Holm-adjusted p = {r.p_adjusted:.2g} < "
                                      f"α = {alpha_of(row) or ALPHA:g})."))
    if not out and tested:
        out.append(Finding("gap", "No gap is significant after Holm's adjustment in any task."))
    return out


def _worst_findings(run: RunData) -> list[Finding]:
    out = []
    for view in run.tasks:
        part = run.part(run.metrics, view)
        part = part[(part["metric"] == view.metric) & part["domain"].isin(view.domains)]
        for model, rows in part.groupby("model", sort=False):
            rows = rows.dropna(subset=["value"])
            if rows.empty or is_floor(model):
                continue
            worst = rows.loc[rows["value"].idxmax() if view.metric in LOWER_IS_BETTER else rows["value"].idxmin()]
            out.append(Finding("worst", f"{model} on {view.key}: worst domain {worst['domain']}, {view.metric} "
                                        f"{_ci(worst['value'], worst['ci_low'], worst['ci_high'])}."))
    return out


def _pooled_gap(gaps: pd.DataFrame, model: str) -> pd.Series | None:
    rows = gaps[(gaps["model"] == model) & (gaps["domain_b"] == POOLED_OOD)]
    return rows.iloc[0] if len(rows) else None


def _mitigation_from_table(table: pd.DataFrame, view: TaskView) -> list[Finding]:
    rows = table[(table["suite"] == view.suite) & (table["task"] == view.task) & (table["metric"] == view.metric)
                 & (table["ood_domain"] == POOLED_OOD)]
    out = []
    for r in rows.itertuples(index=False):
        closed = "" if not math.isfinite(r.closed) else f", {100 * r.closed:.0f}% of it"
        verdict = "closes" if r.reduction_ci_low > 0 else ("widens" if r.reduction_ci_high < 0 else "does not "
                                                                                                   "change")
        out.append(Finding("mitigation", f"{r.model} {verdict} {r.baseline}'s gap on {view.key}: "
                                         f"{_num(r.gap_baseline)} → {_num(r.gap_model)}, reduction "
                                         f"{_ci(r.gap_reduction, r.reduction_ci_low, r.reduction_ci_high)}"
                                         f"{closed} (paired permutation p = {r.reduction_p:.2g})."))
    return out


def _mitigation_findings(run: RunData) -> list[Finding]:
    from bench.scoring.mitigations import mitigation_pairs

    out = []
    table = run.table("mitigations.csv")
    for view in run.tasks:
        if not table.empty and {"ood_domain", "gap_reduction"} <= set(table.columns):
            out += _mitigation_from_table(table, view)
            continue
        gaps = _task_gaps(run, view)
        models = [m for m in dict.fromkeys(gaps["model"]) if not is_floor(m)]
        for base, model in mitigation_pairs(models):
            g0, g1 = _pooled_gap(gaps, base), _pooled_gap(gaps, model)
            if g0 is None or g1 is None or not math.isfinite(g0["gap"]):
                continue
            reduction = g0["gap"] - g1["gap"]
            verb = "narrows" if reduction > 0 else "widens"
            share = f" ({100 * abs(reduction) / g0['gap']:.0f}% of it)" if g0["gap"] > 0 else ""
            out.append(Finding("mitigation", f"{model} vs {base} on {view.key}: the pooled gap goes from "
                                             f"{_ci(g0['gap'], g0['ci_low'], g0['ci_high'])} to "
                                             f"{_ci(g1['gap'], g1['ci_low'], g1['ci_high'])}; {model} {verb} it by "
                                             f"{_num(abs(reduction))}{share}. 'bench mitigations' tests this "
                                             "difference paired."))
    return out


def _null_findings(run: RunData) -> list[Finding]:
    out = []
    for view in run.tasks:
        gaps = _task_gaps(run, view)
        if gaps.empty or "p_adjusted" not in gaps:
            continue
        quiet = [m for m, rows in gaps.groupby("model", sort=False) if not significant(rows).any()]
        if quiet:
            mdg = gaps[gaps["model"].isin(quiet)]["mdg"] if "mdg" in gaps else pd.Series(dtype=float)
            detect = f"; gaps under about {mdg.median():.3f} could not have been detected (80% power)" \
                if len(mdg.dropna()) else ""
            note = _resolution_note(gaps[gaps["model"].isin(quiet)])
            lead = f"no {view.metric} gap of {', '.join(quiet)} is significant after Holm" if note else \
                f"nothing differs beyond chance for {', '.join(quiet)}: no {view.metric} gap is significant after Holm"
            out.append(Finding("null", f"On {view.key}, {lead}{detect}.{note}"))
    return out


def _resolution_note(gaps: pd.DataFrame) -> str:
    """Where intervals exclude 0 although no Holm-adjusted p-value is below α: why, from
    the rows themselves. Their interval (``ci_method``, ``level``), how their p-values
    were computed (``p_method``: an exact test, which more permutations cannot change, or
    Monte Carlo / asymptotic draws), and the size of their Holm families
    (``family_size``), which is what multiplies a p-value past α."""
    clear = gaps[(gaps["ci_low"] > 0) | (gaps["ci_high"] < 0)]
    if clear.empty or "p_value" not in gaps:
        return ""
    smallest = clear.loc[clear["p_value"].astype(float).idxmin()] if clear["p_value"].notna().any() else None
    if smallest is None:
        return ""
    alpha = alpha_of(clear) or ALPHA
    count = f"{len(clear)} of these gaps {'has' if len(clear) == 1 else 'have'}"
    label = interval_label(clear)
    route = _route_words(smallest)
    family = ""
    if "family_size" in clear and pd.notna(smallest.get("family_size")):
        size = int(smallest["family_size"])
        family = (f"; Holm's adjustment over its family of {size} distinct test{'s' if size != 1 else ''} "
                  f"({smallest.get('family', smallest.get('kind', ''))}) makes it "
                  f"{float(smallest['p_adjusted']):.2g}, not below α = {alpha:g}")
    return (f" But {count} an interval that excludes 0 ({label}): the smallest p-value among them, "
            f"{float(smallest['p_value']):.2g}, is {route}{family}. An interval and a test can disagree near "
            "the threshold, and the decision here is the adjusted p-value's.")


ROUTE_WORDS = {"exact": "exact (more permutations would not change it)",
               "monte_carlo": "a Monte Carlo estimate",
               "asymptotic": "from the permutation distribution's normal limit",
               "constant": "1 (every example alike)"}
"""How :func:`_resolution_note` names each ``p_method`` of gaps.csv."""


def _route_words(row: pd.Series) -> str:
    route = str(row.get("p_method", "") or "")
    if not route or route == "nan":
        return "a permutation p-value (route not recorded)"
    words = ROUTE_WORDS.get(route, route)
    if route == "monte_carlo" and pd.notna(row.get("permutations")):
        words += f" (at least {int(row['permutations']):,} permutations; more are drawn near α)"
    return words


def findings(run: RunData) -> list[Finding]:
    """The summary sentences of ``run``: gaps, worst domains, mitigations, null results."""
    return [*_gap_findings(run), *_worst_findings(run), *_mitigation_findings(run), *_null_findings(run)]
