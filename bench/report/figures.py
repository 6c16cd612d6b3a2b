"""The figure kinds of a task, one registry for ``bench report`` and ``bench plot``.

Each kind has a builder ``(run, view, model) -> [(caption, figure), …]`` that returns
nothing when the run lacks what the figure needs (no ``transfer_matrix.csv``, no
``prob_`` columns, too few domains for a profile). With ``model`` None the builder picks
the models worth showing (the trained ones, at most :data:`MAX_PANELS`); with a model
name it draws that model only. A builder that cannot draw for a reason the reader must
know (two models with no example in common) returns its message with no figure.

Captions name the intervals, levels and thresholds of the rows drawn
(:mod:`bench.report.labels`), never a fixed method.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd
from matplotlib.figure import Figure

from bench.errors import ConfigError, StatisticsError, UnknownNameError
from bench.report import plots
from bench.report.kinds import FIGURE_DESCRIPTIONS
from bench.report.labels import gap_direction, interval_label, level_of, metric_facts, significance_label
from bench.report.rundata import RunData, TaskView
from bench.suites.kinds import known_kind

__all__ = ["FIGURE_KINDS", "MAX_PANELS", "FigureKind", "build_figures", "merge_runs", "paired_rows", "pair_of"]

MAX_PANELS = 4
"""At most this many models get their own panel (reliability, profile, transfer) in a report."""

LONG_FOREST = 40
"""A report's forest plot with more rows than this leaves out the floors (majority, uniform)."""

if TYPE_CHECKING:
    from bench.scoring.options import StatisticsOptions

Built = list[tuple[str, Figure | None]]


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
    if metrics.empty or (report and len(view.domains) > plots.WIDE):
        return []
    rows = metrics[metrics["metric"] == view.metric]
    marks = "; (ID) marks the domains trained on" if view.in_domain else ""
    return [(f"{view.metric} of each model on each test domain{marks}; cells give the "
             f"value and its {interval_label(rows)}.", plots.heatmap_figure(metrics, view))]


def _gaps(run: RunData, view: TaskView, model: str | None, report: bool) -> Built:
    gaps = run.part(run.gaps, view)
    if model is not None:
        gaps = gaps[gaps["model"] == model]
    elif report and len(plots.gap_rows(gaps, view.metric)) > LONG_FOREST:
        gaps = gaps[gaps["model"].isin(_pick(_models(gaps), None))]
    rows = plots.gap_rows(gaps, view.metric)
    if rows.empty:
        return []
    return [(f"Cross-domain gaps in {view.metric} ({gap_direction(rows)}) with their {interval_label(rows)}s; "
             f"filled markers: {significance_label(rows)} (Holm within each family of gaps.csv).",
             plots.gap_figure(gaps, view))]


def _genres(run: RunData, view: TaskView, model: str | None, report: bool) -> Built:
    metrics = run.part(run.metrics, view)
    if model is not None:
        metrics = metrics[metrics["model"] == model]
    kind = known_kind(view.kind)
    if kind is None or not kind.scores_tokens or metrics.empty:
        return []
    rows = metrics[metrics["metric"] == view.metric]
    facts = metric_facts(view.kind, view.metric)
    return [(f"{facts.axis()} per genre ({facts.direction}) with {interval_label(rows)}s.",
             plots.genre_figure(metrics, view))]


def _profile(run: RunData, view: TaskView, model: str | None, report: bool) -> Built:
    metrics = run.part(run.metrics, view)
    shown = _pick(_models(metrics), model)
    if metrics.empty or not shown or (report and len(view.domains) <= plots.WIDE):
        return []
    rows = metrics[(metrics["metric"] == view.metric) & metrics["model"].isin(shown)]
    chance = plots.chance_level(view, view.metric)
    groups = "in bands of their group (each headed by the group's pooled value), " if view.groups else ""
    line = f"; dotted line: chance ({chance:.2f})" if chance == chance else ""
    return [(f"Capability profile of {', '.join(shown)}: {view.metric} per domain {groups}sorted by "
             f"{shown[0]}, with {interval_label(rows)}s{line}.", plots.profile_figure(metrics, view, shown))]


def pair_of(run: RunData, view: TaskView, model: str | None = None) -> tuple[str, str] | None:
    """The two models a paired difference profile compares: the first two trained models
    of the task (A, B); with ``model``, B = ``model`` and A = the first other trained one.
    Folds of one model (``name@fold``: transfer matrix, leave-one-domain-out) are only
    compared when named."""
    trained = [m for m in _models(run.part(run.metrics, view)) if not plots.is_floor(m)]
    if model is None:
        trained = [m for m in trained if "@" not in str(m)]
    if model is not None:
        others = [m for m in trained if m != model]
        return (others[0], model) if others and model in trained else None
    return (trained[0], trained[1]) if len(trained) >= 2 else None


def _options(run: RunData, view: TaskView) -> StatisticsOptions:
    """The statistics settings the run's rows of ``view`` record (defaults where absent)."""
    from bench.scoring.options import StatisticsOptions

    rows = run.part(run.metrics, view)
    if rows.empty or "level" not in rows.columns:
        return StatisticsOptions()
    first = rows.iloc[0]

    def setting(column: str, default: Any) -> Any:
        value = first.get(column, default)
        return default if value is None or value != value else value

    return StatisticsOptions(resamples=int(setting("resamples", 10_000)), level=float(setting("level", 0.95)),
                             seed=int(setting("stat_seed", 0)), method=str(setting("stat_method", "auto")),
                             permutations=int(setting("permutations", 2_000)))


def paired_rows(run: RunData, view: TaskView, pair: tuple[str, str]) -> pd.DataFrame | str:
    """``bench compare``'s rows of ``pair`` (A, B) on ``view``'s primary metric, computed
    once per run with the run's own statistics settings; a message when the two models
    cannot be paired (no example in common)."""
    from bench.outputs import task_infos_from_metadata
    from bench.scoring.compare import compare_models

    key = ("paired", view.key, *pair)
    if key not in run.cache:
        records = run.part(run.records, view)
        try:
            run.cache[key] = compare_models(records, task_infos_from_metadata(run.meta), *pair,
                                            options=_options(run, view),
                                            metrics=[view.metric])
        except (StatisticsError, UnknownNameError) as exc:
            run.cache[key] = f"No paired difference profile of {pair[1]} against {pair[0]} on {view.key}: {exc}"
    return run.cache[key]


def _difference(run: RunData, view: TaskView, model: str | None, report: bool) -> Built:
    pair = pair_of(run, view, model)
    if pair is None or run.part(run.records, view).empty or (report and len(view.domains) < 2):
        return []
    compared = paired_rows(run, view, pair)
    if isinstance(compared, str):
        return [(compared, None)]
    rows = compared[(compared["kind"] == "metric") & (compared["metric"] == view.metric)]
    if rows.empty:
        return []
    tests = ", ".join(dict.fromkeys(str(t).replace("_", " ") for t in rows["test"]))
    return [(f"Paired difference profile: {pair[1]} (B) against {pair[0]} (A) on their common examples, "
             f"{view.metric} per domain (> 0: B better) with paired {interval_label(rows)}s; test: {tests}; filled: "
             f"{significance_label(rows)} (Holm over the domains).", plots.difference_figure(compared, view))]


def _reliability(run: RunData, view: TaskView, model: str | None, report: bool) -> Built:
    records = run.part(run.records, view)
    probs = [c for c in records.columns if c.startswith("prob_")]
    if records.empty or not probs or not records[probs].notna().any().any():
        return []
    shown = _pick(_models(records), model)
    if not shown:
        return []
    level = _level(run, view)
    return [("Reliability per domain: accuracy against confidence in 15 equal-width bins of the top-choice "
             f"probability (bins with ≥ 5 examples), {100 * level:g}% Wilson whiskers; dashed: perfect calibration; "
             f"ECE over the same bins. Models: {', '.join(shown)}.",
             plots.reliability_grid(records, view, shown, level=level))]


def _level(run: RunData, view: TaskView) -> float:
    """The run's confidence level for intervals a figure computes itself (0.95 if not recorded)."""
    return level_of(run.part(run.metrics, view)) or 0.95


def _robustness(run: RunData, view: TaskView, model: str | None, report: bool) -> Built:
    table = run.part(run.table("robustness.csv"), view)
    if len(table) < 2:
        return []
    level = _level(run, view)
    return [("In-domain vs out-of-domain accuracy of the run's models on logit axes with the effective-robustness "
             f"fit; ρ is each model's residual on the accuracy scale; whiskers: {100 * level:g}% Wilson intervals.",
             plots.robustness_figure(table, view, run.gaps, level=level))]


def _transfer(run: RunData, view: TaskView, model: str | None, report: bool) -> Built:
    matrix = run.part(run.table("transfer_matrix.csv"), view)
    if matrix.empty:
        return []
    return [(f"Transfer matrix of {m}: rows trained on, columns tested on; outlined cells test the training domain "
             "(point values of one trained model each).", plots.transfer_figure(matrix, view, model=m))
            for m in _pick(_models(matrix), model)]


_BUILDERS = {"heatmap": _heatmap, "gaps": _gaps, "genres": _genres, "profile": _profile, "difference": _difference,
             "reliability": _reliability, "robustness": _robustness, "transfer": _transfer}

FIGURE_KINDS: dict[str, FigureKind] = {name: FigureKind(name, text, _BUILDERS[name])
                                       for name, text in FIGURE_DESCRIPTIONS.items()}
"""Every figure kind, in the order a report shows them."""


def build_figures(run: RunData, view: TaskView, kinds: Sequence[str] | None = None,
                  model: str | None = None, report: bool = False) -> list[tuple[str, str, Figure | None]]:
    """``(kind, caption, figure)`` of each kind in ``kinds`` (default: all) that applies;
    ``figure`` None when the caption is a message saying why it could not be drawn.

    With ``report`` a report's choices apply: no heatmap over many domains (the
    profile shows the same with intervals), profiles only for many-domain tasks.
    """
    out = []
    for name in kinds or list(FIGURE_KINDS):
        if name not in FIGURE_KINDS:
            raise ConfigError(f"Unknown figure kind {name!r}. Available: {', '.join(FIGURE_KINDS)}.")
        out += [(name, caption, figure) for caption, figure in FIGURE_KINDS[name].build(run, view, model, report)]
    return out


def merge_runs(runs: Sequence[RunData]) -> RunData:
    """One :class:`RunData` holding the rows of all ``runs`` (tasks from the first run that
    has them), so that a figure can show the models of several runs together. Label the
    runs first (:func:`bench.report.identity.label_runs`) where one model may appear in
    several: the same model run 0-shot and 5-shot is then two models."""
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
                   tuple(views[k] for k in order), tuple(p for r in runs for p in r.problems))
