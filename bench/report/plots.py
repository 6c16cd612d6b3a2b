"""Figures of a run, shared by ``bench report`` (embedded) and ``bench plot`` (saved to a file).

Every function draws on the :class:`~matplotlib.axes.Axes` it is given (or on a new figure
when ``ax`` is None) and returns the figure; nothing is shown. Every figure labels its
axes with units, says in its title or axis label what its intervals are, and keeps its
legend outside the data (below the axes) or labels points directly.

Intervals: every label that names an interval, a level or a significance threshold is
built from the rows drawn (their ``ci_method``, ``level`` and p-value columns, through
:mod:`bench.report.labels`); units, directions and chance levels come from the metric
registry. The reliability and robustness figures compute Wilson intervals of bin and
pooled accuracies themselves, at the level they are given (the run's), and say so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from bench.report.labels import (  # noqa: E402
    MetricFacts,
    gap_direction,
    interval_label,
    metric_facts,
    significance_label,
    significant,
)
from bench.report.rundata import TaskView  # noqa: E402

__all__ = [
    "FLOORS",
    "LOWER_IS_BETTER",
    "WIDE",
    "chance_level",
    "difference_figure",
    "gap_figure",
    "gap_rows",
    "genre_figure",
    "heatmap_figure",
    "is_floor",
    "profile_figure",
    "reliability_figure",
    "reliability_grid",
    "reliability_points",
    "robustness_figure",
    "transfer_figure",
]

def _losses() -> frozenset[str]:
    from bench.scoring.metrics import METRICS

    return frozenset(METRICS.get(n).name for n in METRICS.names() if not METRICS.get(n).higher_is_better)


LOWER_IS_BETTER = _losses()
"""The metrics where lower is better (from the metric registry)."""
WIDE = 12
"""Heatmaps with more domains than this put domains on rows and drop the interval text."""


def _unit(metric: str, kind: str = "") -> str:
    return metric_facts(kind, metric).axis()


def _cmap(facts: MetricFacts) -> str:
    """Red (worse) to green (better) by the registry's direction; a neutral map when unknown."""
    if facts.higher_is_better is None:
        return "viridis"
    return "RdYlGn" if facts.higher_is_better else "RdYlGn_r"


def chance_level(view: TaskView, metric: str) -> float:
    """What guessing scores on ``metric`` of ``view``'s task: the task's ``1/k`` where the
    registry says the metric's chance is ``"1/k"``, else NaN (no chance line)."""
    return view.chance if metric_facts(view.kind, metric).chance == "1/k" else math.nan


def _axes(ax: Axes | None, size: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.get_figure(root=True), ax  # type: ignore[return-value]
    figure, axis = plt.subplots(figsize=size, layout="constrained")
    return figure, axis


def _legend_below(ax: Axes, columns: int, title: str | None = None) -> None:
    """The legend under the axes, clear of the tick labels and every line of the x label
    (offset in inches, so that it stays put when constrained layout resizes the axes)."""
    from matplotlib.transforms import ScaledTranslation

    handles, labels = ax.get_legend_handles_labels()
    if handles:
        figure = ax.get_figure(root=True)
        below = 0.42 + 0.2 * (ax.get_xlabel().count("\n") + 1)  # inches: tick labels and the x label's lines
        shift = ax.transAxes + ScaledTranslation(0, -below, figure.dpi_scale_trans) if figure is not None \
            else ax.transAxes
        ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), bbox_transform=shift,
                  ncols=max(1, min(columns, 4, 80 // max(len(str(t)) + 6 for t in labels))),
                  fontsize="small", frameon=False, title=title, title_fontsize="small")


def _errors(values: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray | None:
    if np.isnan(low).all() or np.isnan(high).all():
        return None
    return np.clip(np.vstack([np.nan_to_num(values - low), np.nan_to_num(high - values)]), 0.0, None)


def _domain_rows(metrics: pd.DataFrame, metric: str, domains: Sequence[str]) -> pd.DataFrame:
    return metrics[(metrics["metric"] == metric) & metrics["domain"].isin(domains)]


def _cell_text(value: float, low: float, high: float, intervals: bool) -> str:
    if not math.isfinite(value):
        return "n/a"
    if not intervals or not (math.isfinite(low) and math.isfinite(high)):
        return _short(value)
    return f"{_short(value)}\n[{_short(low)}, {_short(high)}]"


def _short(value: float) -> str:
    return f"{value:.3f}" if abs(value) < 10 else f"{value:.4g}"


def heatmap_figure(metrics: pd.DataFrame, view: TaskView, metric: str | None = None,
                   ax: Axes | None = None) -> Figure:
    """Models × domains heatmap of ``metric`` (default: the task's primary metric).

    Each cell shows the value and its interval; in-domain columns are marked ``(ID)``.
    Colours run from red (worse) to green (better) whatever the metric's direction.
    """
    metric = metric or view.metric
    rows = _domain_rows(metrics, metric, view.domains)
    models = list(dict.fromkeys(rows["model"]))
    grid = [rows[rows["model"] == m].set_index("domain").reindex(list(view.domains)) for m in models]
    values = np.array([g["value"].to_numpy(dtype=float) for g in grid]).reshape(len(models), len(view.domains))
    wide = len(view.domains) > WIDE
    folds = any("@" in str(m) for m in models)  # each row has its own training domains
    labels = [f"{d} (ID)" if d in view.in_domain and not folds else d for d in view.domains]
    shown = values.T if wide else values
    size = (2.2 + 1.2 * len(models), 1.5 + 0.22 * len(view.domains)) if wide else \
        (2.6 + 1.15 * len(view.domains), 2.4 + 0.5 * len(models))
    figure, axis = _axes(ax, size)
    image = axis.imshow(shown, aspect="auto", cmap=_cmap(metric_facts(view.kind, metric)))
    for (i, j), value in np.ndenumerate(shown):
        cell = grid[j if wide else i].iloc[i if wide else j]
        axis.text(j, i, _cell_text(value, cell["ci_low"], cell["ci_high"], not wide), ha="center", va="center",
                  fontsize=6 if wide else 8)
    model_ticks, domain_ticks = (range(len(models)), models), (range(len(view.domains)), labels)
    axis.set_xticks(*(model_ticks if wide else domain_ticks), rotation=30 if not wide else 45, ha="right")
    axis.set_yticks(*(domain_ticks if wide else model_ticks), fontsize=6 if wide else None)
    domain_label = "test domain" if folds or not view.in_domain else "test domain (ID = trained on)"
    axis.set_xlabel("model" if wide else domain_label)
    axis.set_ylabel(domain_label if wide else "model")
    note = f"\n{'' if wide else '[low, high]: '}{interval_label(rows)}{' (in the table)' if wide else ''}"
    axis.set_title(f"{view.key}: {metric}{note}", fontsize="medium")
    figure.colorbar(image, ax=axis, label=_unit(metric, view.kind), shrink=0.9)
    return figure


def gap_rows(gaps: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The gaps of ``metric`` that a forest plot shows: the ``id_ood`` rows; for runs without
    them (zero-shot) the first other per-domain kind (e.g. each domain against the pooled
    rest), else ``best_worst``. Never the (many) ``pairwise`` rows."""
    rows = gaps[gaps["metric"] == metric] if "metric" in gaps else gaps
    kinds = list(dict.fromkeys(rows["kind"])) if "kind" in rows else []
    others = [k for k in kinds if k not in ("id_ood", "pairwise", "best_worst")]
    chosen = next((k for k in ("id_ood", *others, "best_worst") if k in kinds), None)
    return rows[rows["kind"] == chosen].reset_index(drop=True) if chosen else rows.iloc[0:0]


def gap_figure(gaps: pd.DataFrame, view: TaskView, metric: str | None = None, ax: Axes | None = None) -> Figure:
    """Forest plot of each model's cross-domain gaps with the intervals their rows record.

    The rows are the ``id_ood`` gaps (or, for runs without them, the first per-domain gap
    kind such as each domain against the pooled rest). Filled markers: Holm-adjusted
    p-value (within the row's family) below the row's ``1 − level``; hollow: not. The
    title names the rows' interval (:func:`~bench.report.labels.interval_label`), the x
    label what a positive gap means for the rows' kind; the dashed line marks no gap.
    """
    metric = metric or view.metric
    rows = gap_rows(gaps, metric)
    if rows["domain_b"].nunique() > WIDE:
        return _gap_domains_figure(rows, view, metric, ax)
    several_a = rows["domain_a"].nunique() > 1 if len(rows) else False
    labels = [f"{m} · {a} → {b}" if several_a else f"{m} · {b}"
              for m, a, b in zip(rows["model"], rows["domain_a"], rows["domain_b"], strict=True)]
    figure, axis = _axes(ax, (7.0, 1.6 + 0.27 * len(rows)))
    y = np.arange(len(rows))[::-1]
    values = rows["gap"].to_numpy(dtype=float)
    errors = _errors(values, rows["ci_low"].to_numpy(dtype=float), rows["ci_high"].to_numpy(dtype=float))
    marked = significant(rows).to_numpy(dtype=bool)
    threshold = significance_label(rows)
    for mask, face, label in ((marked, "C0", f"filled: {threshold}"), (~marked, "white", f"hollow: {threshold.replace(' < ', ' ≥ ', 1)}")):
        if mask.any():
            axis.errorbar(values[mask], y[mask], xerr=None if errors is None else errors[:, mask], fmt="o",
                          capsize=3, color="C0", markerfacecolor=face, label=label)
    axis.axvline(0.0, linestyle="--", color="grey", linewidth=1)
    axis.set_yticks(y, labels, fontsize="small")
    axis.set_ylim(-0.7, len(rows) - 0.3)
    axis.set_xlabel(f"gap in {_unit(metric, view.kind)}\n{gap_direction(rows)}")
    axis.set_title(f"{view.key}: gaps in {metric}\nwhiskers: {interval_label(rows)}", fontsize="medium")
    axis.grid(axis="x", alpha=0.3)
    _legend_below(axis, 2)
    return figure


def _gap_domains_figure(rows: pd.DataFrame, view: TaskView, metric: str, ax: Axes | None) -> Figure:
    """:func:`gap_figure` for many domains: one row per compared domain (in the bands of
    the suite's groups, each headed by the group's own row, sorted by the first model's
    gap, largest first), one colour per model; filled: significant."""
    models = list(dict.fromkeys(rows["model"]))
    first = rows[rows["model"] == models[0]].drop_duplicates("domain_b").set_index("domain_b")["gap"].to_dict()
    named = [str(d) for d in dict.fromkeys(rows["domain_b"])]
    blocks = _blocks(view, [d for d in named if not d.startswith("group:")], first, True)
    keys, labels, spans = _profile_layout(view, blocks, {d for d in named if d.startswith("group:")},
                                          "group vs rest")
    keys += [d for d in named if d not in set(keys)]  # compared sets outside the suite's domains
    labels += keys[len(labels):]
    n = len(keys)
    figure, axis = _axes(ax, (7.8, 1.9 + 0.2 * n))
    _bands(axis, spans, n)
    y = np.arange(n)[::-1].astype(float)
    step = 0.6 / max(len(models), 1)
    threshold = significance_label(rows)
    for i, model in enumerate(models):
        part = rows[rows["model"] == model].drop_duplicates("domain_b").set_index("domain_b").reindex(keys)
        values = part["gap"].to_numpy(dtype=float)
        errors = _errors(values, part["ci_low"].to_numpy(dtype=float), part["ci_high"].to_numpy(dtype=float))
        marked = significant(part.reset_index()).to_numpy(dtype=bool)
        offset = (i - (len(models) - 1) / 2) * step if len(models) > 1 else 0.0
        for mask, face, label in ((marked, f"C{i % 10}", f"{model}, {threshold}"),
                                  (~marked, "white", f"{model}, not")):
            if mask.any():
                axis.errorbar(values[mask], (y - offset)[mask], xerr=None if errors is None else errors[:, mask],
                              fmt="osD^v"[i % 5], markersize=3.5, capsize=1.5, elinewidth=0.9, color=f"C{i % 10}",
                              markerfacecolor=face, label=label)
    axis.axvline(0.0, linestyle="--", color="grey", linewidth=1)
    axis.set_yticks(y, labels, fontsize=6.5 if n > 30 else "small")
    _bold_pooled(axis)
    axis.set_ylim(-0.7, n - 0.3)
    axis.set_xlabel(f"gap in {_unit(metric, view.kind)}\n{gap_direction(rows)}")
    axis.set_title(_wrap(f"{view.key}: gaps in {metric}, {len(keys)} compared sets\nwhiskers: {interval_label(rows)};"
                         f" filled: {threshold}, hollow: not"), fontsize="medium")
    axis.grid(axis="x", alpha=0.3)
    _legend_below(axis, 2)
    return figure


def _wrap(text: str, width: int = 78) -> str:
    """Each line of ``text`` wrapped at ``width`` characters (titles that fit the figure)."""
    import textwrap

    return "\n".join(textwrap.fill(line, width) for line in text.split("\n"))


def transfer_figure(matrix: pd.DataFrame, view: TaskView, metric: str | None = None,
                    ax: Axes | None = None, model: str | None = None) -> Figure:
    """Heatmap of the transfer matrix of one model: rows trained on, columns tested on.

    ``matrix`` holds the rows of ``transfer_matrix.csv`` (``model, suite, task, metric,
    train_domain`` and one column per test domain). Cells on the diagonal (the training
    domain itself) are outlined. Point values (one trained model per row, no interval).
    """
    metric = metric or view.metric
    rows = matrix[matrix["metric"] == metric]
    model = model or _first_trained(list(dict.fromkeys(rows["model"])))
    rows = rows[rows["model"] == model]
    tests = [d for d in view.domains if d in rows.columns]
    values = rows[tests].to_numpy(dtype=float)
    trains = [str(t) for t in rows["train_domain"]]
    figure, axis = _axes(ax, (2.4 + 1.1 * len(tests), 1.6 + 0.55 * len(trains)))
    image = axis.imshow(values, aspect="auto", cmap=_cmap(metric_facts(view.kind, metric)))
    for (i, j), value in np.ndenumerate(values):
        axis.text(j, i, "n/a" if not math.isfinite(value) else _short(value), ha="center", va="center",
                  fontsize=8, fontweight="bold" if tests[j] in trains[i].split("+") else "normal")
        if tests[j] in trains[i].split("+"):
            axis.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="black", linewidth=1.5))
    axis.set_xticks(range(len(tests)), tests, rotation=30, ha="right")
    axis.set_yticks(range(len(trains)), trains)
    axis.set_xlabel("tested on")
    axis.set_ylabel("trained on")
    axis.set_title(f"{view.key}, {model}: {metric}\noutlined: trained on the test domain; point values",
                   fontsize="medium")
    figure.colorbar(image, ax=axis, label=_unit(metric, view.kind), shrink=0.9)
    return figure


FLOORS = frozenset({"majority", "uniform"})
"""The bundled floors: summaries and per-model panels skip them (tables keep them)."""


def is_floor(model: str) -> bool:
    """Whether ``model`` (or a fold of it, ``name@fold``, or its label with run settings,
    ``name (5-shot)``) is one of :data:`FLOORS`."""
    return str(model).split("@", 1)[0].split(" (", 1)[0] in FLOORS


def _first_trained(models: Sequence[str]) -> str:
    return next((m for m in models if not is_floor(m)), models[0] if models else "")


def reliability_points(records: pd.DataFrame, min_count: int = 5) -> pd.DataFrame:
    """Per equal-width bin of the top-choice probability: ``bin, n, confidence, accuracy``.

    The bins are those of the ``ece`` metric (15; bin ``b`` holds confidences in
    ``(b/15, (b+1)/15]``, the first also 0). Bins with fewer than ``min_count`` examples
    are left out.
    """
    from bench.scoring.metrics import get_metric

    probs = records[[c for c in records.columns if c.startswith("prob_")]].to_numpy(dtype=float)
    confidence = np.nanmax(probs, axis=1)
    which = get_metric("classification", "ece").bin_of(confidence)  # type: ignore[attr-defined]
    frame = pd.DataFrame({"bin": which, "confidence": confidence,
                          "correct": records["correct"].to_numpy(dtype=float)})
    out = frame.groupby("bin").agg(n=("correct", "size"), confidence=("confidence", "mean"),
                                   accuracy=("correct", "mean")).reset_index()
    return out[out["n"] >= min_count].reset_index(drop=True)


def _calibration_series(records: pd.DataFrame, view: TaskView) -> list[tuple[str, pd.DataFrame]]:
    """One series per domain; with more than :data:`WIDE` domains, one per domain group
    (or one for all domains when the suite has no groups)."""
    present = set(records["domain"])
    domains = [d for d in view.domains if d in present]
    trained = set(view.in_domain)
    if len(records) and "@train=" in str(records["model"].iloc[0]):  # a fold: its own training domains
        trained = set(str(records["model"].iloc[0]).split("@train=", 1)[1].split("+"))
    if len(domains) <= WIDE:
        return [(f"{d} (ID)" if d in trained else d, records[records["domain"] == d]) for d in domains]
    if not view.groups:
        return [(f"all {len(domains)} domains", records)]
    groups = list(dict.fromkeys(view.groups.get(d, "other") for d in domains))
    keys = records["domain"].map(lambda d: view.groups.get(d, "other"))
    return [(f"{g} ({(pd.Series(domains).map(lambda d: view.groups.get(d, 'other')) == g).sum()} domains)",
             records[keys == g]) for g in groups]


def reliability_figure(records: pd.DataFrame, view: TaskView, model: str | None = None,
                       ax: Axes | None = None, level: float = 0.95) -> Figure:
    """Reliability diagram of one model: accuracy against confidence, one line per domain
    (per domain group for suites with many domains).

    Points are the 15 equal-width bins of the top-choice probability with ≥ 5 examples;
    whiskers are Wilson intervals (at ``level``) of the bin's accuracy; the diagonal is perfect
    calibration. The legend gives each domain's ECE over the same bins.
    """
    from bench.scoring.intervals import wilson_interval

    part = records[(records["suite"] == view.suite) & (records["task"] == view.task)]
    model = model or _first_trained(list(dict.fromkeys(part["model"])))
    part = part[part["model"] == model]
    figure, axis = _axes(ax, (5.2, 5.0))
    axis.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfect calibration")
    for i, (name, rows) in enumerate(_calibration_series(part, view)):
        points = reliability_points(rows)
        if points.empty:
            continue
        low, high = np.array([wilson_interval(a * n, int(n), level) for a, n in zip(points["accuracy"], points["n"],
                                                                             strict=True)]).T
        errors = _errors(points["accuracy"].to_numpy(), low, high)
        ece = float((points["n"] * (points["accuracy"] - points["confidence"]).abs()).sum() / len(rows))
        axis.errorbar(points["confidence"], points["accuracy"], yerr=errors, marker="o", markersize=4, capsize=2,
                      color=f"C{i % 10}", label=f"{name}: ECE {ece:.3f}", linewidth=1, alpha=0.85)
    axis.set_xlim(0, 1.02)
    axis.set_ylim(0, 1.02)
    axis.set_xlabel("confidence (mean top-choice prob. in bin)")
    axis.set_ylabel("accuracy in bin (fraction correct)")
    axis.set_title(f"{view.key}, {model}: reliability\nwhiskers: {100 * level:g}% Wilson interval", fontsize="medium")
    axis.grid(alpha=0.3)
    _legend_below(axis, 1)
    return figure


def reliability_grid(records: pd.DataFrame, view: TaskView, models: Sequence[str], level: float = 0.95) -> Figure:
    """:func:`reliability_figure` of each of ``models`` side by side (at most 4 a row)."""
    columns = max(1, min(len(models), 4))
    rows = math.ceil(len(models) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(max(3.4 * columns, 5.4), 4.6 * rows), layout="constrained",
                                squeeze=False, sharey=True)
    for axis, model in zip(axes.flat, models, strict=False):
        reliability_figure(records, view, model, ax=axis, level=level)
        axis.set_title(f"{model}", fontsize="medium")
    for axis in list(axes.flat)[len(models):]:
        axis.set_visible(False)
    figure.suptitle(f"{view.key}: reliability per domain\nwhiskers: {100 * level:g}% Wilson interval",
                    fontsize="medium")
    return figure


def _wilson_pair(value: float, n: float, level: float) -> tuple[float, float]:
    from bench.scoring.intervals import wilson_interval

    if not (math.isfinite(value) and math.isfinite(n) and n > 0):
        return math.nan, math.nan
    return wilson_interval(round(value * n), int(n), level)


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


_PROB_TICKS = (0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999)


def _logit_axis(axis: Axes, low: float, high: float) -> None:
    from matplotlib.ticker import FixedLocator, NullLocator

    axis.set_xscale("logit")
    axis.set_yscale("logit")
    axis.set_xlim(low, high)
    axis.set_ylim(low, high)
    ticks = [t for t in _PROB_TICKS if low <= t <= high]
    for side in (axis.xaxis, axis.yaxis):
        side.set_major_locator(FixedLocator(ticks))
        side.set_major_formatter(lambda v, _pos: f"{v:g}")
        side.set_minor_locator(NullLocator())


def robustness_figure(robustness: pd.DataFrame, view: TaskView, gaps: pd.DataFrame | None = None,
                      ax: Axes | None = None, level: float = 0.95) -> Figure:
    """In-domain vs out-of-domain accuracy of the run's models on logit axes, with the
    effective-robustness fit ``logit(acc_OOD) = a · logit(acc_ID) + b`` (solid) and
    ``y = x`` (dashed). Points are labelled with the model and its residual ρ; whiskers
    are Wilson intervals at ``level`` (from the sizes in ``gaps``, when given). Accuracies of 0 or
    1 are drawn at 0.001 or 0.999 (a logit axis has no room for them).
    """
    rows = robustness[(robustness["suite"] == view.suite) & (robustness["task"] == view.task)]
    figure, axis = _axes(ax, (6.4, 5.6))
    sizes = _pooled_sizes(gaps, view) if gaps is not None else {}
    eps = 1e-3
    points = np.clip(rows[["acc_id", "acc_ood"]].to_numpy(dtype=float), eps, 1 - eps) if len(rows) \
        else np.array([[0.4, 0.6]])
    logits = np.log(points / (1 - points))
    low = 1 / (1 + math.exp(-(np.nanmin(logits) - 0.4)))
    high = 1 / (1 + math.exp(-(np.nanmax(logits) + 0.4)))
    for i, r in enumerate(rows.itertuples(index=False)):
        x, y = points[i]
        n_id, n_ood = sizes.get(r.model, (math.nan, math.nan))
        xl, xh = _wilson_pair(r.acc_id, n_id, level)
        yl, yh = _wilson_pair(r.acc_ood, n_ood, level)
        xerr = None if math.isnan(xl) else [[max(x - max(xl, eps), 0)], [max(min(xh, 1 - eps) - x, 0)]]
        yerr = None if math.isnan(yl) else [[max(y - max(yl, eps), 0)], [max(min(yh, 1 - eps) - y, 0)]]
        rho = r.effective_robustness
        axis.errorbar([x], [y], xerr=xerr, yerr=yerr, fmt="o", color=f"C{i % 10}", capsize=2,
                      label=f"{r.model} (ρ = {rho:+.3f})" if math.isfinite(rho) else str(r.model))
    grid = 1 / (1 + np.exp(-np.linspace(_logit(low), _logit(high), 200)))
    axis.plot(grid, grid, linestyle="--", color="grey", linewidth=1, label="y = x (no drop)")
    if len(rows) and math.isfinite(float(rows["slope"].iloc[0])):
        a, b, r2 = (float(rows[c].iloc[0]) for c in ("slope", "intercept", "r_squared"))
        line = 1 / (1 + np.exp(-(a * np.log(grid / (1 - grid)) + b)))
        axis.plot(grid, line, color="black", linewidth=1,
                  label=f"fit: logit(OOD) = {a:.2f}·logit(ID) {b:+.2f}, R² = {r2:.2f}")
    _logit_axis(axis, low, high)
    axis.set_xlabel("in-domain accuracy (fraction correct, logit scale)")
    axis.set_ylabel("out-of-domain accuracy (fraction correct, logit scale)")
    axis.set_title(f"{view.key}: effective robustness\nwhiskers: {100 * level:g}% Wilson interval",
                   fontsize="medium")
    axis.grid(alpha=0.3)
    _legend_below(axis, 2)
    return figure


def _pooled_sizes(gaps: pd.DataFrame, view: TaskView) -> dict[str, tuple[float, float]]:
    if gaps is None or gaps.empty or "n_a" not in gaps:
        return {}
    rows = gaps[(gaps["suite"] == view.suite) & (gaps["task"] == view.task) & (gaps["metric"] == "accuracy")
                & (gaps["kind"] == "id_ood") & (gaps["domain_b"] == "OOD")]
    return {r.model: (float(r.n_a), float(r.n_b)) for r in rows.itertuples(index=False)}


def _blocks(view: TaskView, domains: Sequence[str], key: dict[str, float], descending: bool
            ) -> list[tuple[str, list[str]]]:
    """Domains in blocks of their group (one unnamed block when the suite has none), each
    block sorted by ``key`` (best first), blocks in the order of the suite's groups."""
    groups = list(dict.fromkeys(view.groups.get(d, "other") for d in view.domains)) if view.groups else [""]

    def order(d: str) -> float:
        value = key.get(d, math.nan)
        return math.inf if not math.isfinite(value) else (-value if descending else value)

    out = []
    for group in groups:
        members = [d for d in domains if not view.groups or view.groups.get(d, "other") == group]
        if members:
            out.append((group, sorted(members, key=order)))
    return out


def _profile_layout(view: TaskView, blocks: list[tuple[str, list[str]]], pooled: set[str], suffix: str = "pooled"
                    ) -> tuple[list[str], list[str], list[tuple[str, int, int]]]:
    """Row keys top-down (``ALL``, then per block its pooled ``group:`` row and its
    domains), their tick labels, and each named block's ``(group, first, last)`` rows."""
    keys, labels, spans = [], [], []
    if "ALL" in pooled:
        keys.append("ALL")
        labels.append("ALL (pooled)")
    for group, members in blocks:
        first = len(keys)
        if group and f"group:{group}" in pooled:
            keys.append(f"group:{group}")
            labels.append(f"{group} ({suffix})")
        keys += members
        labels += list(members)
        if group:
            spans.append((group, first, len(keys) - 1))
    return keys, labels, spans


def _bands(axis: Axes, spans: list[tuple[str, int, int]], n: int) -> None:
    """Shade every other group block and name each block at the right edge."""
    for i, (group, first, last) in enumerate(spans):
        top, bottom = n - 1 - first, n - 1 - last
        if i % 2 == 0:
            axis.axhspan(bottom - 0.5, top + 0.5, color="0.93", zorder=0)
        axis.text(1.0, (top + bottom) / 2, f" {group}", transform=axis.get_yaxis_transform(), rotation=-90,
                  ha="left", va="center", fontsize="small", color="0.3")


def _bold_pooled(axis: Axes) -> None:
    for tick in axis.get_yticklabels():
        if tick.get_text().endswith(("(pooled)", "(group vs rest)")):
            tick.set_fontweight("bold")


def profile_figure(metrics: pd.DataFrame, view: TaskView, models: str | Sequence[str] | None = None,
                   metric: str | None = None, ax: Axes | None = None) -> Figure:
    """Capability profile of one or more models over many domains (e.g. MMLU subjects).

    One row per domain, in blocks of the suite's groups (shaded bands, each headed by the
    group's pooled row when ``metrics.csv`` has it; ``ALL`` on top); within a block the
    domains are sorted by the first model's value, best first (the registry's direction).
    Each model is a marker with the interval its rows record (named on the x label); the
    dotted line is chance where the registry gives the metric one (``Metric.chance``).
    """
    metric = metric or view.metric
    facts = metric_facts(view.kind, metric)
    rows = metrics[metrics["metric"] == metric]
    names = [models] if isinstance(models, str) else list(models or [])
    names = names or [_first_trained(list(dict.fromkeys(rows["model"])))]
    rows = rows[rows["model"].isin(names)]
    first = rows[rows["model"] == names[0]].set_index("domain")["value"].to_dict()
    present = set(rows["domain"])
    domains = [d for d in view.domains if d in present]
    blocks = _blocks(view, domains, first, facts.higher_is_better is not False)
    keys, labels, spans = _profile_layout(view, blocks, {d for d in present if d == "ALL" or str(d).startswith("group:")})
    n = len(keys)
    figure, axis = _axes(ax, (7.8, 1.9 + 0.2 * n))
    _bands(axis, spans, n)
    y = np.arange(n)[::-1].astype(float)
    step = 0.6 / max(len(names), 1)
    for i, model in enumerate(names):
        part = rows[rows["model"] == model].drop_duplicates("domain").set_index("domain").reindex(keys)
        values = part["value"].to_numpy(dtype=float)
        errors = _errors(values, part["ci_low"].to_numpy(dtype=float), part["ci_high"].to_numpy(dtype=float))
        offset = (i - (len(names) - 1) / 2) * step if len(names) > 1 else 0.0
        axis.errorbar(values, y - offset, xerr=errors, fmt="osD^v"[i % 5], markersize=3.5, capsize=1.5,
                      elinewidth=0.9, color=f"C{i % 10}", label=model)
    chance = chance_level(view, metric)
    if math.isfinite(chance):
        axis.axvline(chance, color="black", linestyle=":", linewidth=1.2, label=f"chance ({chance:.2f})")
    axis.set_yticks(y, labels, fontsize=6.5 if n > 30 else "small")
    _bold_pooled(axis)
    axis.set_ylim(-0.7, n - 0.3)
    axis.set_xlabel(f"{facts.axis()}, {facts.direction}\nwhiskers: {interval_label(rows)}")
    who = names[0] if len(names) == 1 else f"{len(names)} models"
    axis.set_title(_wrap(f"{view.key}, {who}: {metric} per domain\n{len(domains)} domains"
                         f"{' in groups (bands)' if spans else ''}, sorted by {names[0]}"), fontsize="medium")
    axis.grid(axis="x", alpha=0.3)
    _legend_below(axis, 3)
    return figure


def difference_figure(compared: pd.DataFrame, view: TaskView, metric: str | None = None,
                      ax: Axes | None = None) -> Figure:
    """Paired difference profile of two models: per domain the improvement of model B over
    model A (``bench compare``'s ``difference``: B − A for higher-is-better metrics, A − B
    for losses, so > 0 always means B is better) with the paired interval its rows record.

    Rows are in the blocks of the suite's groups, sorted by the difference within each
    block, ``ALL`` on top. Filled markers: Holm-adjusted p (over the domains of the
    metric, ``ALL`` apart) below ``1 − level``; the test is named from the rows' ``test``.
    """
    metric = metric or view.metric
    facts = metric_facts(view.kind, metric)
    rows = compared[(compared["metric"] == metric) & (compared["kind"] == "metric")]
    model_a, model_b = (str(rows[c].iloc[0]) for c in ("model_a", "model_b")) if len(rows) else ("A", "B")
    by = rows.drop_duplicates("domain_b").set_index("domain_b")
    domains = [d for d in view.domains if d in by.index]
    blocks = _blocks(view, domains, by["difference"].to_dict(), True)
    keys, labels, spans = _profile_layout(view, blocks, {"ALL"} & set(by.index))
    n = len(keys)
    figure, axis = _axes(ax, (7.8, 1.9 + 0.2 * n))
    _bands(axis, spans, n)
    part = by.reindex(keys)
    y = np.arange(n)[::-1].astype(float)
    values = part["difference"].to_numpy(dtype=float)
    errors = _errors(values, part["ci_low"].to_numpy(dtype=float), part["ci_high"].to_numpy(dtype=float))
    marked = significant(part.reset_index()).to_numpy(dtype=bool)
    threshold = significance_label(part)
    for mask, face, label in ((marked, "C3", f"filled: {threshold}"),
                              (~marked, "white", f"hollow: {threshold.replace(' < ', ' ≥ ', 1)}")):
        if mask.any():
            axis.errorbar(values[mask], y[mask], xerr=None if errors is None else errors[:, mask], fmt="o",
                          markersize=3.5, capsize=1.5, elinewidth=0.9, color="C3", markerfacecolor=face,
                          label=label)
    axis.axvline(0.0, linestyle="--", color="grey", linewidth=1)
    axis.set_yticks(y, labels, fontsize=6.5 if n > 30 else "small")
    _bold_pooled(axis)
    axis.set_ylim(-0.7, n - 0.3)
    sign = "B − A" if facts.higher_is_better is not False else "A − B (a loss)"
    tests = ", ".join(dict.fromkeys(str(t).replace("_", " ") for t in rows.get("test", pd.Series(dtype=str))))
    axis.set_xlabel(f"{metric} difference, {sign} ({facts.unit or 'metric units'}); > 0: B better\n"
                    f"whiskers: paired {interval_label(rows)}")
    axis.set_title(_wrap(f"{view.key}, {metric}: B = {model_b}\nagainst A = {model_a}\npaired on common "
                         f"examples; test: {tests or 'not recorded'}; Holm over the domains"), fontsize="medium")
    axis.grid(axis="x", alpha=0.3)
    _legend_below(axis, 2)
    return figure


def genre_figure(metrics: pd.DataFrame, view: TaskView, metric: str | None = None,
                 ax: Axes | None = None) -> Figure:
    """Per-genre (per-domain) cross-entropy bars of a language-modelling task, one bar per
    model, genres sorted by the first model's value, whiskers: the rows' intervals."""
    metric = metric or view.metric
    rows = _domain_rows(metrics, metric, view.domains)
    models = list(dict.fromkeys(rows["model"]))
    first = rows[rows["model"] == models[0]].sort_values("value") if models else rows
    order = list(first["domain"]) + [d for d in view.domains if d not in set(first["domain"])]
    figure, axis = _axes(ax, (7.5, 1.8 + 0.24 * len(order) * max(1, len(models)) ** 0.5))
    height = 0.8 / max(len(models), 1)
    y = np.arange(len(order))[::-1]
    for i, model in enumerate(models):
        part = rows[rows["model"] == model].set_index("domain").reindex(order)
        values = part["value"].to_numpy(dtype=float)
        errors = _errors(values, part["ci_low"].to_numpy(dtype=float), part["ci_high"].to_numpy(dtype=float))
        axis.barh(y - (i - (len(models) - 1) / 2) * height, values, height, xerr=errors, capsize=2,
                  color=f"C{i % 10}", label=model, error_kw={"linewidth": 0.8})
    axis.set_yticks(y, [f"{d} (ID)" if d in view.in_domain else d for d in order], fontsize="small")
    axis.set_ylim(-0.7, len(order) - 0.3)
    axis.set_xlabel(f"{_unit(metric, view.kind)}, {metric_facts(view.kind, metric).direction}; "
                    f"whiskers: {interval_label(rows)}")
    axis.set_title(f"{view.key}: {metric} per genre (ID = trained on)", fontsize="medium")
    axis.grid(axis="x", alpha=0.3)
    _legend_below(axis, 4)
    return figure
