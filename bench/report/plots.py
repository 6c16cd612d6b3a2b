"""Figures of a run, shared by ``bench report`` (embedded) and ``bench plot`` (saved to a file).

Every function draws on the :class:`~matplotlib.axes.Axes` it is given (or on a new figure
when ``ax`` is None) and returns the figure; nothing is shown. Every figure labels its
axes with units, says in its title or axis label what its intervals are, and keeps its
legend outside the data (below the axes) or labels points directly.

Intervals: accuracy carries the 95% Wilson score interval; every other metric the 95%
bootstrap interval of ``metrics.csv`` / ``gaps.csv`` (resampling examples within domains).
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

from bench.report.rundata import TaskView  # noqa: E402

__all__ = [
    "FLOORS",
    "LOWER_IS_BETTER",
    "UNITS",
    "WIDE",
    "gap_figure",
    "gap_rows",
    "genre_figure",
    "heatmap_figure",
    "interval_note",
    "is_floor",
    "profile_figure",
    "reliability_figure",
    "reliability_grid",
    "reliability_points",
    "robustness_figure",
    "transfer_figure",
]

UNITS: dict[str, str] = {
    "accuracy": "fraction correct", "cross_entropy": "nats", "brier": "squared prob.", "ece": "fraction",
    "ece_equal_mass": "fraction", "mse": "squared target units", "mae": "target units",
    "bits_per_byte": "bits/byte",
}
"""The unit of each metric as written on an axis (LM cross-entropy is per token)."""

def _losses() -> frozenset[str]:
    from bench.scoring.metrics import METRICS

    return frozenset(METRICS.get(n).name for n in METRICS.names() if not METRICS.get(n).higher_is_better)


LOWER_IS_BETTER = _losses()
"""The metrics where lower is better (from the metric registry)."""
WIDE = 12
"""Heatmaps with more domains than this put domains on rows and drop the interval text."""


def interval_note(metric: str) -> str:
    """What a metric's intervals are, in words."""
    return "95% Wilson interval" if metric == "accuracy" else "95% bootstrap interval"


def _unit(metric: str, kind: str = "") -> str:
    unit = "nats/token" if metric == "cross_entropy" and kind == "language_modeling" else UNITS.get(metric, "")
    return f"{metric} ({unit})" if unit else metric


def _axes(ax: Axes | None, size: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.get_figure(root=True), ax  # type: ignore[return-value]
    figure, axis = plt.subplots(figsize=size, layout="constrained")
    return figure, axis


def _legend_below(ax: Axes, columns: int, title: str | None = None) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        figure = ax.get_figure(root=True)
        height = ax.get_position().height * (figure.get_figheight() if figure is not None else 4.0)  # inches
        ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.6 / max(height, 0.6)),
                  ncols=max(1, min(columns, 4)),
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
        (2.6 + 1.15 * len(view.domains), 1.6 + 0.5 * len(models))
    figure, axis = _axes(ax, size)
    image = axis.imshow(shown, aspect="auto", cmap="RdYlGn_r" if metric in LOWER_IS_BETTER else "RdYlGn")
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
    note = "" if wide else f"\n[low, high]: {interval_note(metric)}"
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
    """Forest plot of each model's cross-domain gaps with their 95% bootstrap intervals.

    The rows are the ``id_ood`` gaps (or, for runs without them, the first per-domain gap
    kind such as each domain against the pooled rest). Filled markers: significant after
    Holm's adjustment (``p_adjusted < 0.05``); hollow: not. Positive = worse on
    ``domain_b``; the dashed line marks no gap.
    """
    metric = metric or view.metric
    rows = gap_rows(gaps, metric)
    several_a = rows["domain_a"].nunique() > 1 if len(rows) else False
    labels = [f"{m} · {a} → {b}" if several_a else f"{m} · {b}"
              for m, a, b in zip(rows["model"], rows["domain_a"], rows["domain_b"], strict=True)]
    figure, axis = _axes(ax, (7.0, 1.6 + 0.27 * len(rows)))
    y = np.arange(len(rows))[::-1]
    values = rows["gap"].to_numpy(dtype=float)
    errors = _errors(values, rows["ci_low"].to_numpy(dtype=float), rows["ci_high"].to_numpy(dtype=float))
    adjusted = rows["p_adjusted"].to_numpy(dtype=float) if "p_adjusted" in rows else np.full(len(rows), np.nan)
    significant = adjusted < 0.05
    for mask, face, label in ((significant, "C0", "significant after Holm (p_adj < 0.05)"),
                              (~significant, "white", "not significant")):
        if mask.any():
            axis.errorbar(values[mask], y[mask], xerr=None if errors is None else errors[:, mask], fmt="o",
                          capsize=3, color="C0", markerfacecolor=face, label=label)
    axis.axvline(0.0, linestyle="--", color="grey", linewidth=1)
    axis.set_yticks(y, labels, fontsize="small")
    axis.set_ylim(-0.7, len(rows) - 0.3)
    axis.set_xlabel(f"gap in {_unit(metric, view.kind)}; > 0: worse out of domain")
    axis.set_title(f"{view.key}: gaps in {metric}\nwhiskers: 95% bootstrap interval", fontsize="medium")
    axis.grid(axis="x", alpha=0.3)
    _legend_below(axis, 2)
    return figure


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
    image = axis.imshow(values, aspect="auto", cmap="RdYlGn_r" if metric in LOWER_IS_BETTER else "RdYlGn")
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
                       ax: Axes | None = None) -> Figure:
    """Reliability diagram of one model: accuracy against confidence, one line per domain
    (per domain group for suites with many domains).

    Points are the 15 equal-width bins of the top-choice probability with ≥ 5 examples;
    whiskers are 95% Wilson intervals of the bin's accuracy; the diagonal is perfect
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
        low, high = np.array([wilson_interval(a * n, int(n)) for a, n in zip(points["accuracy"], points["n"],
                                                                             strict=True)]).T
        errors = _errors(points["accuracy"].to_numpy(), low, high)
        ece = float((points["n"] * (points["accuracy"] - points["confidence"]).abs()).sum() / len(rows))
        axis.errorbar(points["confidence"], points["accuracy"], yerr=errors, marker="o", markersize=4, capsize=2,
                      color=f"C{i % 10}", label=f"{name}: ECE {ece:.3f}", linewidth=1, alpha=0.85)
    axis.set_xlim(0, 1.02)
    axis.set_ylim(0, 1.02)
    axis.set_xlabel("confidence (mean top-choice prob. in bin)")
    axis.set_ylabel("accuracy in bin (fraction correct)")
    axis.set_title(f"{view.key}, {model}: reliability\nwhiskers: 95% Wilson interval", fontsize="medium")
    axis.grid(alpha=0.3)
    _legend_below(axis, 1)
    return figure


def reliability_grid(records: pd.DataFrame, view: TaskView, models: Sequence[str]) -> Figure:
    """:func:`reliability_figure` of each of ``models`` side by side (at most 4 a row)."""
    columns = max(1, min(len(models), 4))
    rows = math.ceil(len(models) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(max(3.4 * columns, 5.4), 4.6 * rows), layout="constrained",
                                squeeze=False, sharey=True)
    for axis, model in zip(axes.flat, models, strict=False):
        reliability_figure(records, view, model, ax=axis)
        axis.set_title(f"{model}", fontsize="medium")
    for axis in list(axes.flat)[len(models):]:
        axis.set_visible(False)
    figure.suptitle(f"{view.key}: reliability per domain\nwhiskers: 95% Wilson interval", fontsize="medium")
    return figure


def _wilson_pair(value: float, n: float) -> tuple[float, float]:
    from bench.scoring.intervals import wilson_interval

    if not (math.isfinite(value) and math.isfinite(n) and n > 0):
        return math.nan, math.nan
    return wilson_interval(round(value * n), int(n))


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
                      ax: Axes | None = None) -> Figure:
    """In-domain vs out-of-domain accuracy of the run's models on logit axes, with the
    effective-robustness fit ``logit(acc_OOD) = a · logit(acc_ID) + b`` (solid) and
    ``y = x`` (dashed). Points are labelled with the model and its residual ρ; whiskers
    are 95% Wilson intervals (from the sizes in ``gaps``, when given). Accuracies of 0 or
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
        xl, xh = _wilson_pair(r.acc_id, n_id)
        yl, yh = _wilson_pair(r.acc_ood, n_ood)
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
    axis.set_title(f"{view.key}: effective robustness\nwhiskers: 95% Wilson interval", fontsize="medium")
    axis.grid(alpha=0.3)
    _legend_below(axis, 2)
    return figure


def _pooled_sizes(gaps: pd.DataFrame, view: TaskView) -> dict[str, tuple[float, float]]:
    if gaps is None or gaps.empty or "n_a" not in gaps:
        return {}
    rows = gaps[(gaps["suite"] == view.suite) & (gaps["task"] == view.task) & (gaps["metric"] == "accuracy")
                & (gaps["kind"] == "id_ood") & (gaps["domain_b"] == "OOD")]
    return {r.model: (float(r.n_a), float(r.n_b)) for r in rows.itertuples(index=False)}


def profile_figure(metrics: pd.DataFrame, view: TaskView, model: str | None = None, metric: str | None = None,
                   ax: Axes | None = None) -> Figure:
    """Capability profile of one model over many domains (e.g. MMLU subjects): domains
    sorted by ``metric`` with 95% intervals, coloured by their group, with the chance line.
    """
    metric = metric or view.metric
    rows = _domain_rows(metrics, metric, view.domains)
    model = model or _first_trained(list(dict.fromkeys(rows["model"])))
    rows = rows[rows["model"] == model].sort_values("value", ascending=metric in LOWER_IS_BETTER)
    figure, axis = _axes(ax, (7.5, 1.8 + 0.19 * len(rows)))
    groups = list(dict.fromkeys(view.groups.get(d, "other") for d in view.domains)) if view.groups else [""]
    y = np.arange(len(rows))[::-1]
    values = rows["value"].to_numpy(dtype=float)
    errors = _errors(values, rows["ci_low"].to_numpy(dtype=float), rows["ci_high"].to_numpy(dtype=float))
    for g, group in enumerate(groups):
        mask = np.array([view.groups.get(d, "other") == group if view.groups else True for d in rows["domain"]])
        if mask.any():
            axis.errorbar(values[mask], y[mask], xerr=None if errors is None else errors[:, mask], fmt="o",
                          markersize=4, capsize=2, color=f"C{g % 10}", label=group or None)
    if math.isfinite(view.chance) and metric == "accuracy":
        axis.axvline(view.chance, color="black", linestyle=":", linewidth=1.2, label=f"chance ({view.chance:.2f})")
    axis.set_yticks(y, list(rows["domain"]), fontsize=6.5 if len(rows) > 30 else "small")
    axis.set_ylim(-0.7, len(rows) - 0.3)
    axis.set_xlabel(f"{_unit(metric, view.kind)}; whiskers: {interval_note(metric)}")
    axis.set_title(f"{view.key}, {model}\ncapability profile, {len(rows)} domains sorted", fontsize="medium")
    axis.grid(axis="x", alpha=0.3)
    _legend_below(axis, 3, title="domain group" if view.groups else None)
    return figure


def genre_figure(metrics: pd.DataFrame, view: TaskView, metric: str | None = None,
                 ax: Axes | None = None) -> Figure:
    """Per-genre (per-domain) cross-entropy bars of a language-modelling task, one bar per
    model, genres sorted by the first model's value, with 95% bootstrap whiskers."""
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
    axis.set_xlabel(f"{_unit(metric, view.kind)}, lower is better; whiskers: 95% bootstrap")
    axis.set_title(f"{view.key}: {metric} per genre (ID = trained on)", fontsize="medium")
    axis.grid(axis="x", alpha=0.3)
    _legend_below(axis, 4)
    return figure
