"""The figure kinds of a task, one registry for ``bench report`` and ``bench plot``.

Each kind has a builder ``(run, view, model) -> [(caption, figure), …]`` that returns
nothing when the run lacks what the figure needs (no ``transfer_matrix.csv``, no
``prob_`` columns, too few domains for a profile). With ``model`` None the builder picks
the models worth showing (the trained ones, at most :data:`MAX_PANELS`); with a model
name it draws that model only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd
from matplotlib.figure import Figure

from bench.errors import ConfigError
from bench.report import plots
from bench.report.kinds import FIGURE_DESCRIPTIONS
from bench.report.rundata import RunData, TaskView

__all__ = ["FIGURE_KINDS", "MAX_PANELS", "FigureKind", "build_figures", "merge_runs"]

MAX_PANELS = 4
"""At most this many models get their own panel (reliability, profile, transfer) in a report."""

LONG_FOREST = 40
"""A report's forest plot with more rows than this leaves out the floors (majority, uniform)."""

Built = list[tuple[str, Figure]]


@dataclass(frozen=True)
class FigureKind:
    """A figure kind: its name, what it shows, and its builder."""

    name: str
    description: str
    build: Callable[[RunData, TaskView, str | None, bool], Built]


def _pick(models: Sequence[str], model: str | None) -> list[str]:
    if model is not None:
        return [model] if model in models else []
    trained = [m for m in models if not plots.is_floor(m)]
    return (trained or list(models))[:MAX_PANELS]


def _models(frame: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(frame["model"])) if "model" in frame else []


def _heatmap(run: RunData, view: TaskView, model: str | None, report: bool) -> Built:
    metrics = run.part(run.metrics, view)
    if model is not None:
        metrics = metrics[metrics["model"] == model]
    if metrics.empty or (report and len(view.domains) > plots.WIDE and len(_models(metrics)) == 1):
        return []
    marks = "; (ID) marks the domains trained on" if view.in_domain else ""
    return [(f"{view.metric} of each model on each test domain{marks}; cells give the "
             f"value and its {plots.interval_note(view.metric)}.", plots.heatmap_figure(metrics, view))]


def _gaps(run: RunData, view: TaskView, model: str | None, report: bool) -> Built:
    gaps = run.part(run.gaps, view)
    if model is not None:
        gaps = gaps[gaps["model"] == model]
    elif report and len(plots.gap_rows(gaps, view.metric)) > LONG_FOREST:
        gaps = gaps[gaps["model"].isin(_pick(_models(gaps), None))]
    if plots.gap_rows(gaps, view.metric).empty:
        return []
    return [("Cross-domain gaps (positive = worse out of domain) with 95% bootstrap intervals; filled markers are "
             "significant after Holm's adjustment.", plots.gap_figure(gaps, view))]


def _genres(run: RunData, view: TaskView, model: str | None, report: bool) -> Built:
    metrics = run.part(run.metrics, view)
    if model is not None:
        metrics = metrics[metrics["model"] == model]
    if view.kind != "language_modeling" or metrics.empty:
        return []
    return [("Cross-entropy per genre (nats/token, lower is better) with 95% bootstrap intervals.",
             plots.genre_figure(metrics, view))]


def _profile(run: RunData, view: TaskView, model: str | None, report: bool) -> Built:
    metrics = run.part(run.metrics, view)
    if metrics.empty or (report and (len(view.domains) <= plots.WIDE or view.metric != "accuracy")):
        return []
    return [(f"Capability profile of {m}: domains sorted by {view.metric} with "
             f"{plots.interval_note(view.metric)}s, coloured by domain group; dotted line: chance.",
             plots.profile_figure(metrics, view, m)) for m in _pick(_models(metrics), model)]


def _reliability(run: RunData, view: TaskView, model: str | None, report: bool) -> Built:
    records = run.part(run.records, view)
    probs = [c for c in records.columns if c.startswith("prob_")]
    if records.empty or not probs or not records[probs].notna().any().any():
        return []
    shown = _pick(_models(records), model)
    if not shown:
        return []
    return [("Reliability per domain: accuracy against confidence in 15 equal-width bins of the top-choice "
             "probability (bins with ≥ 5 examples), 95% Wilson whiskers; dashed: perfect calibration; ECE over "
             f"the same bins. Models: {', '.join(shown)}.", plots.reliability_grid(records, view, shown))]


def _robustness(run: RunData, view: TaskView, model: str | None, report: bool) -> Built:
    table = run.part(run.table("robustness.csv"), view)
    if len(table) < 2:
        return []
    return [("In-domain vs out-of-domain accuracy of the run's models on logit axes with the effective-robustness "
             "fit; ρ is each model's residual on the accuracy scale.", plots.robustness_figure(table, view, run.gaps))]


def _transfer(run: RunData, view: TaskView, model: str | None, report: bool) -> Built:
    matrix = run.part(run.table("transfer_matrix.csv"), view)
    if matrix.empty:
        return []
    return [(f"Transfer matrix of {m}: rows trained on, columns tested on; outlined cells test the training domain "
             "(point values of one trained model each).", plots.transfer_figure(matrix, view, model=m))
            for m in _pick(_models(matrix), model)]


_BUILDERS = {"heatmap": _heatmap, "gaps": _gaps, "genres": _genres, "profile": _profile,
             "reliability": _reliability, "robustness": _robustness, "transfer": _transfer}

FIGURE_KINDS: dict[str, FigureKind] = {name: FigureKind(name, text, _BUILDERS[name])
                                       for name, text in FIGURE_DESCRIPTIONS.items()}
"""Every figure kind, in the order a report shows them."""


def build_figures(run: RunData, view: TaskView, kinds: Sequence[str] | None = None,
                  model: str | None = None, report: bool = False) -> list[tuple[str, str, Figure]]:
    """``(kind, caption, figure)`` of each kind in ``kinds`` (default: all) that applies.

    With ``report`` a report's choices apply: no heatmap for one model over many domains
    (the profile or genre bars show it), profiles only for many-domain accuracy tasks.
    """
    out = []
    for name in kinds or list(FIGURE_KINDS):
        if name not in FIGURE_KINDS:
            raise ConfigError(f"Unknown figure kind {name!r}. Available: {', '.join(FIGURE_KINDS)}.")
        out += [(name, caption, figure) for caption, figure in FIGURE_KINDS[name].build(run, view, model, report)]
    return out


def merge_runs(runs: Sequence[RunData]) -> RunData:
    """One :class:`RunData` holding the rows of all ``runs`` (tasks from the first run that
    has them), so that a figure can show the models of several runs together."""
    if len(runs) == 1:
        return runs[0]

    def concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
        frames = [f for f in frames if not f.empty]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    names = {n for r in runs for n in r.extra}
    views = {v.key: v for r in reversed(runs) for v in r.tasks}
    order = list(dict.fromkeys(v.key for r in runs for v in r.tasks))
    return RunData(runs[0].path, runs[0].meta, concat([r.records for r in runs]), concat([r.metrics for r in runs]),
                   concat([r.gaps for r in runs]), {n: concat([r.table(n) for r in runs]) for n in names},
                   tuple(views[k] for k in order))
