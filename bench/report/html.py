"""A self-contained HTML report of one or more run folders.

The page opens with a written summary computed from the numbers
(:mod:`bench.report.findings`), then, per task, the figures of :mod:`bench.report.plots`
(embedded as PNG data URIs) and the tables. Nothing is fetched from the network: no
external script, style sheet or font. Every name read from a user file is escaped. A small
inline script makes tables sortable (click a header) and filterable (a text box per
section); without it the page is the same, minus those two conveniences.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from bench.errors import ReportProblemWarning
from bench.report.rundata import RunData, TaskView, load_runs

__all__ = ["FIGURE_DPI", "render_report", "write_report"]

FIGURE_DPI = 96
"""Resolution of the figures embedded in the page (``bench plot`` saves at print resolution)."""

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1180px; padding: 0 1em; color: #222;
       line-height: 1.4; }
h1 { font-size: 1.5em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; font-size: 0.8em; margin: 0.4em 0 1.2em; }
th, td { border: 1px solid #ddd; padding: 0.2em 0.5em; text-align: right; vertical-align: top; }
th { background: #f3f3f3; cursor: pointer; position: sticky; top: 0; }
td.t, th.t { text-align: left; } td small { color: #666; }
tr.sig td { background: #fff4e5; }
figure { margin: 0.8em 0; display: inline-block; vertical-align: top; max-width: 100%; }
figure img { max-width: 100%; height: auto; display: block; }
figcaption { font-size: 0.85em; color: #444; max-width: 760px; }
.problem { background: #fdecea; border-left: 4px solid #c62828; padding: 0.4em 0.8em; max-width: 1100px; }
.summary li { margin: 0.2em 0; } code { background: #f3f3f3; padding: 0 0.2em; }
input.filter { margin: 0.3em 0; padding: 0.2em 0.4em; width: 22em; }
details { margin: 0.5em 0 1em; }
"""

_SCRIPT = """
document.querySelectorAll('table.data').forEach(function (table) {
  table.querySelectorAll('th').forEach(function (th, col) {
    th.title = 'click to sort';
    th.addEventListener('click', function () {
      var body = table.tBodies[0], rows = Array.from(body.rows), dir = th.dataset.dir === 'a' ? -1 : 1;
      th.dataset.dir = dir === 1 ? 'a' : 'd';
      rows.sort(function (a, b) {
        var x = a.cells[col].dataset.v, y = b.cells[col].dataset.v;
        var nx = parseFloat(x), ny = parseFloat(y);
        if (!isNaN(nx) && !isNaN(ny)) return dir * (nx - ny);
        return dir * String(x).localeCompare(String(y));
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
document.querySelectorAll('section.task').forEach(function (section) {
  var box = document.createElement('input');
  box.className = 'filter'; box.type = 'search'; box.placeholder = 'filter rows by model or domain';
  box.addEventListener('input', function () {
    var q = box.value.toLowerCase();
    section.querySelectorAll('table.data tbody tr').forEach(function (r) {
      r.style.display = r.textContent.toLowerCase().indexOf(q) >= 0 ? '' : 'none';
    });
  });
  var first = section.querySelector('table.data');
  if (first) first.parentNode.parentNode.insertBefore(box, first.parentNode);
});
"""


def _png(figure: Any, caption: str, kind: str) -> str:
    import matplotlib.pyplot as plt

    if figure is None:  # the caption says why there is no figure
        return f'<p class="problem" data-kind="{kind}">{html.escape(caption)}</p>'

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=FIGURE_DPI)
    plt.close(figure)
    data = base64.b64encode(buffer.getvalue()).decode()
    text = html.escape(caption)
    return (f'<figure data-kind="{kind}"><img alt="{text}" src="data:image/png;base64,{data}">'
            f"<figcaption>{text}</figcaption></figure>")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def _sort_key(value: Any) -> str:
    if isinstance(value, float) and math.isnan(value):
        return ""
    return str(value)


def _table(frame: pd.DataFrame, cells: dict[str, Callable[[pd.Series], str]] | None = None,
           row_class: Callable[[pd.Series], str] | None = None) -> str:
    """An HTML table; ``cells`` maps a column to a function giving its cell's HTML from the row."""
    cells = cells or {}
    text_cols = {c for c in frame.columns if frame[c].dtype == object}
    head = "".join(f'<th class="{"t" if c in text_cols else ""}">{html.escape(str(c))}</th>' for c in frame.columns)
    body = []
    for _, row in frame.iterrows():
        tds = []
        for c in frame.columns:
            shown = cells[c](row) if c in cells else html.escape(_fmt(row[c]))
            tds.append(f'<td class="{"t" if c in text_cols else ""}" data-v="{html.escape(_sort_key(row[c]))}">'
                       f"{shown}</td>")
        cls = f' class="{row_class(row)}"' if row_class else ""
        body.append(f"<tr{cls}>{''.join(tds)}</tr>")
    return (f'<div class="scroll"><table class="data"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


def _value_cell(value: float, low: float, high: float) -> str:
    if not math.isfinite(value):
        return "n/a"
    if not (math.isfinite(low) and math.isfinite(high)):
        return f"{value:.3f}"
    return f"{value:.3f}<br><small>[{low:.3f}, {high:.3f}]</small>"


def _domain_table(run: RunData, view: TaskView) -> str:
    from functools import partial

    from bench.report.plots import WIDE

    part = run.part(run.metrics, view)
    part = part[part["metric"] == view.metric]
    domains = [*view.domains, "ALL"]
    cells = {(r.model, r.domain): _value_cell(r.value, r.ci_low, r.ci_high) for r in part.itertuples(index=False)}
    values = {(r.model, r.domain): r.value for r in part.itertuples(index=False)}
    models = list(dict.fromkeys(part["model"]))
    label = {d: f"{d} (ID)" if d in view.in_domain else d for d in domains}
    domain_of = {text: d for d, text in label.items()}
    fns: dict[str, Callable[[pd.Series], str]]
    if len(view.domains) > WIDE:  # domains as rows
        frame = pd.DataFrame([{"domain": label[d], **{m: values.get((m, d), math.nan) for m in models}}
                              for d in domains])
        fns = {m: partial(_row_cell, cells, domain_of, m) for m in models}
    else:
        frame = pd.DataFrame([{"model": m, **{label[d]: values.get((m, d), math.nan) for d in domains}}
                              for m in models])
        fns = {label[d]: partial(_column_cell, cells, d) for d in domains}
    return _table(frame, fns)


def _row_cell(cells: dict, domain_of: dict[str, str], model: str, row: pd.Series) -> str:
    return str(cells.get((model, domain_of.get(row["domain"], "")), ""))


def _column_cell(cells: dict, domain: str, row: pd.Series) -> str:
    return str(cells.get((row["model"], domain), ""))


def _gap_table(run: RunData, view: TaskView) -> str:
    from bench.report.plots import gap_rows

    rows = gap_rows(run.part(run.gaps, view), view.metric)
    if rows.empty:
        return ""
    wanted = [c for c in ("model", "domain_a", "domain_b", "value_a", "value_b", "gap", "p_adjusted", "mdg",
                          "n_a", "n_b") if c in rows.columns]
    frame = rows[wanted].copy()
    from bench.report.labels import significant

    fns = {"gap": lambda r: _value_cell(r["gap"], *_lohi(rows, r.name))}
    marked = significant(rows)
    return _table(frame, fns, lambda r: "sig" if bool(marked.loc[r.name]) else "")


def _lohi(rows: pd.DataFrame, index: Any) -> tuple[float, float]:
    return float(rows.loc[index, "ci_low"]), float(rows.loc[index, "ci_high"])


def _difference_table(run: RunData, view: TaskView) -> str:
    """The paired comparison behind the difference profile, one row per domain and ALL."""
    from bench.report.figures import pair_of, paired_rows
    from bench.report.labels import interval_label, significance_label, significant

    pair = pair_of(run, view)
    if pair is None or run.part(run.records, view).empty:
        return ""
    compared = paired_rows(run, view, pair)
    if isinstance(compared, str):
        return ""
    rows = compared[(compared["kind"] == "metric") & (compared["metric"] == view.metric)].reset_index(drop=True)
    if rows.empty:
        return ""
    frame = rows[["domain_b", "value_a", "value_b", "difference", "p_value", "p_adjusted", "test", "n"]].rename(
        columns={"domain_b": "domain", "value_a": f"A: {pair[0]}", "value_b": f"B: {pair[1]}"})
    marked = significant(rows)
    table = _table(frame, {"difference": lambda r: _value_cell(r["difference"], *_lohi(rows, r.name))},
                   lambda r: "sig" if bool(marked.loc[r.name]) else "")
    title = (f"Paired differences in {view.metric}, {pair[1]} (B) against {pair[0]} (A), > 0: B better "
             f"(below: paired {interval_label(rows)}; shaded: {significance_label(rows)}, Holm over the domains)")
    return _fold(title, table, len(frame))


def _task_section(run: RunData, view: TaskView) -> str:
    from bench.report.figures import build_figures
    from bench.report.labels import interval_label, significance_label

    figures = build_figures(run, view, report=True)
    if not figures:
        return ""
    title = f"{view.key} ({view.kind}, {view.protocol or 'protocol n/a'}): {view.metric}"
    pictures = "".join(_png(fig, caption, kind) for kind, caption, fig in figures)
    metric_rows = run.part(run.metrics, view)
    metric_rows = metric_rows[metric_rows["metric"] == view.metric] if "metric" in metric_rows else metric_rows
    tables = _fold(f"{view.metric} per domain (value, and below it the {interval_label(metric_rows)})",
                   _domain_table(run, view), len(view.domains))
    gap_table = _gap_table(run, view)
    if gap_table:
        from bench.report.plots import gap_rows

        rows = gap_rows(run.part(run.gaps, view), view.metric)
        tables += _fold(f"Gaps in {view.metric} (below each: its {interval_label(rows)}; shaded: "
                        f"{significance_label(rows)}, Holm within each family; mdg: minimum detectable gap at "
                        "80% power)", gap_table, gap_table.count("<tr") - 1)
    tables += _difference_table(run, view)
    return f'<section class="task"><h2>{html.escape(title)}</h2>{pictures}{tables}</section>'


LONG_TABLE = 30
"""Tables with more rows than this start folded (click to open; the figures show the same)."""


def _fold(title: str, table: str, rows: int) -> str:
    if rows <= LONG_TABLE:
        return f"<h3>{html.escape(title)}</h3>{table}"
    return f"<details><summary><b>{html.escape(title)}</b> ({rows} rows)</summary>{table}</details>"


def _summary(run: RunData) -> str:
    from bench.report.findings import findings

    names = {"gap": "Largest significant gaps", "worst": "Worst domains", "mitigation": "Mitigations",
             "null": "Nothing beyond chance"}
    items_of: dict[str, str] = {}
    for finding in findings(run):
        items_of[finding.kind] = items_of.get(finding.kind, "") + f"<li>{html.escape(finding.text)}</li>"
    parts = []
    for finding_kind, name in names.items():
        if items := items_of.get(finding_kind, ""):
            parts.append(f"<h3>{name}</h3><ul>{items}</ul>")
    return f'<div class="summary"><h2>Summary</h2>{"".join(parts) or "<p>No scored tasks.</p>"}</div>'


def _run_section(run: RunData) -> str:
    meta = run.meta
    versions = ", ".join(f"{k} {v}" for k, v in meta.get("versions", {}).items())
    suites = ", ".join(f"{s.get('name')} {s.get('version')} ({s.get('protocol')})" for s in meta.get("suites", []))
    config = html.escape(json.dumps(meta.get("config", {}), indent=2, default=str))
    sections = "".join(_task_section(run, view) for view in run.tasks)
    return (f'<article class="run"><h1>xdbench run <code>{html.escape(run.run_id)}</code></h1>'
            f"<p>Suites: {html.escape(suites)}. Each gap figure and table says what a positive gap means. "
            f"Versions: {html.escape(versions)}.</p>{_problems(run.problems)}{_summary(run)}{sections}"
            f"<details><summary>Configuration (run.json)</summary><pre>{config}</pre></details></article>")


def _problems(problems: Sequence[str]) -> str:
    return "".join(f'<p class="problem">{html.escape(p)}</p>' for p in problems)


def _comparison(runs: Sequence[RunData]) -> str:
    """With several runs: one section drawing their models together (capability profiles
    and the paired difference profile, a model run twice named by its run's settings);
    a message instead when the runs hold different tasks."""
    from bench.report.figures import build_figures, merge_runs
    from bench.report.identity import label_runs

    if len(runs) < 2:
        return ""
    keys = [tuple(v.key for v in r.tasks) for r in runs]
    if len(set(keys)) > 1:
        held = "; ".join(f"{r.run_id}: {', '.join(k) or 'no task'}" for r, k in zip(runs, keys, strict=True))
        message = (f"These runs hold different suites or tasks ({held}); each is reported on its own, and no "
                   "figure draws them together.")
        warnings.warn(message, ReportProblemWarning, stacklevel=3)
        return '<section class="compare"><h2>Runs compared</h2>' + _problems([message]) + "</section>"
    merged = merge_runs(label_runs(runs))
    parts = []
    for view in merged.tasks:
        built = build_figures(merged, view, ["profile", "difference"])
        parts.append("".join(_png(fig, caption, kind) for kind, caption, fig in built))
        parts.append(_difference_table(merged, view))
    return f'<section class="task compare"><h2>Runs compared: {html.escape(", ".join(keys[0]))}</h2>' \
        f'{"".join(parts)}</section>'


def render_report(run_dirs: str | Path | Sequence[str | Path]) -> str:
    """The HTML text of the report of one or more run folders (with several, a first
    section draws their models together, see :func:`_comparison`). What a folder holds that
    cannot be used is said in the report and as a :class:`~bench.errors.ReportProblemWarning`."""
    dirs = [run_dirs] if isinstance(run_dirs, str | Path) else list(run_dirs)
    runs = load_runs(dirs)
    for run in runs:
        for problem in run.problems:
            warnings.warn(f"{run.run_id}: {problem}", ReportProblemWarning, stacklevel=2)
    title = html.escape("xdbench: " + ", ".join(r.run_id for r in runs))
    body = _comparison(runs) + "".join(_run_section(run) for run in runs)
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{title}</title>"
            f"<style>{_STYLE}</style></head><body>{body}<script>{_SCRIPT}</script></body></html>")


def write_report(run_dirs: str | Path | Sequence[str | Path], path: str | Path | None = None) -> Path:
    """Write the report (default ``<first run_dir>/report.html``) atomically; return its path.

    Raises
    ------
    OutputError
        When the file cannot be written (naming it and the operating system's reason);
        nothing is left behind.
    """
    from bench.errors import OutputError

    dirs = [run_dirs] if isinstance(run_dirs, str | Path) else list(run_dirs)
    target = Path(path) if path else Path(dirs[0]) / "report.html"
    text = render_report(dirs)
    write_atomic(target, text.encode("utf-8"), OutputError)
    return target


def write_atomic(target: Path, data: bytes, error: type[Exception]) -> None:
    """Write ``data`` to ``target`` through a temporary file renamed over it (mode 0644)."""
    import os
    import tempfile

    try:
        handle, temp = tempfile.mkstemp(prefix=f".{target.name}-", dir=target.parent)
    except OSError as exc:
        raise error(f"Cannot write {target}: {exc.strerror or exc}.") from exc
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.chmod(temp, 0o644)
        os.replace(temp, target)
    except OSError as exc:
        Path(temp).unlink(missing_ok=True)
        raise error(f"Cannot write {target}: {exc.strerror or exc}.") from exc
