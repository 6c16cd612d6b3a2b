"""A self-contained HTML report of a run folder (figures embedded as PNG)."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

import pandas as pd

from bench.scoring.metrics import PRIMARY_METRIC

__all__ = ["render_report", "write_report"]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
code { background: #f3f3f3; padding: 0 0.2em; } img { max-width: 100%; }
"""


def _png(figure: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return f'<img alt="figure" src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="", border=0, escape=True)


def _task_section(meta: dict[str, Any], key: str, metrics: pd.DataFrame, gaps: pd.DataFrame) -> str:
    from bench.report.plots import domain_figure, gap_figure

    suite, _, task = key.partition("/")
    info = meta["tasks"][key]
    primary = PRIMARY_METRIC[info["kind"]]
    part = metrics[(metrics["suite"] == suite) & (metrics["task"] == task)]
    gap_part = gaps[(gaps["suite"] == suite) & (gaps["task"] == task)]
    if part.empty:
        return ""
    wide = part[part["metric"] == primary].pivot_table(index="model", columns="domain", values="value", sort=False)
    title = f"{suite} / {task} ({info['kind']}): {primary}"
    figures = _png(domain_figure(part, primary, list(info["domains"]), list(info["in_domain"]), title))
    if not gap_part.empty:
        figures += _png(gap_figure(gap_part, primary, f"{suite} / {task}: gaps in {primary}"))
    return (f"<h2>{html.escape(title)}</h2>{figures}"
            f"<h3>{html.escape(primary)} per domain (in-domain: {html.escape(', '.join(info['in_domain']))})</h3>"
            f"{_table(wide.reset_index())}<h3>Gaps</h3>{_table(gap_part.drop(columns=['suite', 'task']))}")


def render_report(run_dir: str | Path) -> str:
    """The HTML text of the report of ``run_dir`` (reads run.json, metrics.csv, gaps.csv)."""
    from bench.outputs import read_run

    run_dir = Path(run_dir)
    meta, _ = read_run(run_dir)
    metrics = pd.read_csv(run_dir / "metrics.csv")
    gaps = pd.read_csv(run_dir / "gaps.csv")
    sections = "".join(_task_section(meta, key, metrics, gaps) for key in meta["tasks"])
    config = html.escape(json.dumps(meta["config"], indent=2))
    versions = html.escape(", ".join(f"{k} {v}" for k, v in meta["versions"].items()))
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>xdbench run {meta['run_id']}</title>"
            f"<style>{_STYLE}</style></head><body><h1>xdbench run <code>{meta['run_id']}</code></h1>"
            f"<p>Positive gaps mean worse out of domain. Versions: {versions}.</p>{sections}"
            f"<h2>Configuration</h2><pre>{config}</pre></body></html>")


def write_report(run_dir: str | Path, path: str | Path | None = None) -> Path:
    """Write the report (default ``<run_dir>/report.html``) atomically; return its path."""
    import os
    import tempfile

    target = Path(path) if path else Path(run_dir) / "report.html"
    text = render_report(run_dir)
    handle, temp = tempfile.mkstemp(prefix=".report-", suffix=".html", dir=target.parent)
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        stream.write(text)
    os.replace(temp, target)
    return target
