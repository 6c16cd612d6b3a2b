"""The figures: what each draws is the number in the run's tables."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit

from bench.report import plots
from bench.report.figures import FIGURE_KINDS, build_figures
from bench.report.kinds import FIGURE_DESCRIPTIONS
from bench.report.rundata import TaskView, load_run
from tests.report.synthetic import GROUPS, SUBJECTS, subject_groups


def _view(run, key: str) -> TaskView:
    return next(v for v in run.tasks if v.key == key)


def test_every_kind_has_a_builder_and_a_description() -> None:
    assert list(FIGURE_KINDS) == list(FIGURE_DESCRIPTIONS)


def test_heatmap_cells_show_the_metrics_values_and_intervals(tiny_run: Path) -> None:
    run = load_run(tiny_run)
    view = _view(run, "tiny-reviews/sentiment")
    figure = plots.heatmap_figure(run.part(run.metrics, view), view)
    texts = {t.get_text() for t in figure.axes[0].texts}
    row = run.metrics[(run.metrics["model"] == "source-only") & (run.metrics["task"] == "sentiment")
                      & (run.metrics["domain"] == "electronics") & (run.metrics["metric"] == "accuracy")].iloc[0]
    assert f"{row['value']:.3f}\n[{row['ci_low']:.3f}, {row['ci_high']:.3f}]" in texts
    assert len(texts) <= 3 * 3 and len(figure.axes[0].texts) == 3 * 3  # 3 models × 3 domains
    assert [t.get_text() for t in figure.axes[0].get_xticklabels()] == ["books (ID)", "electronics", "movies"]
    assert figure.axes[1].get_ylabel() == "accuracy (fraction)"  # the colour bar's unit, from the registry
    assert figure.axes[0].get_title().endswith("[low, high]: 95% Wilson interval")
    plt.close(figure)


def test_gap_forest_marks_what_is_significant_after_holm(tiny_run: Path) -> None:
    run = load_run(tiny_run)
    view = _view(run, "tiny-reviews/sentiment")
    gaps = run.part(run.gaps, view)
    figure = plots.gap_figure(gaps, view)
    axis = figure.axes[0]
    rows = gaps[(gaps["kind"] == "id_ood") & (gaps["metric"] == "accuracy")]
    filled = [line for line in axis.lines if line.get_markerfacecolor() != "white" and line.get_marker() == "o"]
    drawn = np.concatenate([line.get_xdata() for line in filled]) if filled else np.array([])
    assert sorted(drawn) == pytest.approx(sorted(rows[rows["p_adjusted"] < 1 - rows["level"]]["gap"]))
    assert axis.get_xlabel() == "gap in accuracy (fraction)\n> 0: worse out of domain than in domain"
    assert set(rows["ci_method"]) == {"newcombe"} and axis.get_title().endswith("whiskers: 95% Newcombe interval")
    legend = [t.get_text() for t in axis.get_legend().get_texts()]
    assert set(legend) <= {"filled: Holm-adjusted p < 0.05", "hollow: Holm-adjusted p ≥ 0.05"}
    plt.close(figure)


def test_gap_rows_fall_back_from_id_ood_to_other_kinds_never_pairwise() -> None:
    gaps = pd.DataFrame({"metric": ["accuracy"] * 3, "kind": ["pairwise", "vs_rest", "best_worst"]})
    assert list(plots.gap_rows(gaps, "accuracy")["kind"]) == ["vs_rest"]
    assert list(plots.gap_rows(gaps[gaps["kind"] != "vs_rest"], "accuracy")["kind"]) == ["best_worst"]
    assert plots.gap_rows(gaps[gaps["kind"] == "pairwise"], "accuracy").empty


def test_reliability_points_match_a_direct_binning() -> None:
    rng = np.random.default_rng(3)
    p = rng.uniform(0.5, 1.0, 400)
    correct = (rng.random(400) < p).astype(float)
    records = pd.DataFrame({"prob_a": p, "prob_b": 1 - p, "correct": correct})
    points = plots.reliability_points(records, min_count=1)
    for r in points.itertuples(index=False):
        inside = (p > r.bin / 15) & (p <= (r.bin + 1) / 15)
        assert r.n == inside.sum()
        assert r.accuracy == pytest.approx(correct[inside].mean())
        assert r.confidence == pytest.approx(p[inside].mean())
    assert points["n"].sum() == 400


def test_reliability_grid_draws_one_panel_per_model(tiny_run: Path) -> None:
    run = load_run(tiny_run)
    view = _view(run, "tiny-reviews/sentiment")
    figure = plots.reliability_grid(run.part(run.records, view), view, ["source-only", "majority"])
    visible = [a for a in figure.axes if a.get_visible()]
    assert [a.get_title() for a in visible] == ["source-only", "majority"]
    assert all("ECE" in t.get_text() for t in visible[0].get_legend().get_texts()[1:])
    plt.close(figure)


def test_robustness_fit_line_is_the_fitted_logit_line(tiny_run: Path) -> None:
    run = load_run(tiny_run)
    view = _view(run, "tiny-reviews/sentiment")
    table = run.part(run.table("robustness.csv"), view)
    figure = plots.robustness_figure(table, view, run.gaps)
    axis = figure.axes[0]
    fit = next(line for line in axis.lines if str(line.get_label()).startswith("fit:"))
    x, y = fit.get_xdata(), fit.get_ydata()
    a, b = table["slope"].iloc[0], table["intercept"].iloc[0]
    assert y == pytest.approx(expit(a * logit(x) + b))
    assert axis.get_xscale() == "logit" and "logit scale" in axis.get_xlabel()
    labels = [t.get_text() for t in axis.get_legend().get_texts()]
    rho = table.set_index("model").loc["source-only", "effective_robustness"]
    assert f"source-only (ρ = {rho:+.3f})" in labels
    plt.close(figure)


def test_transfer_heatmap_is_the_transfer_matrix(transfer_run: Path) -> None:
    run = load_run(transfer_run)
    view = _view(run, "tiny-reviews/sentiment")
    matrix = run.part(run.table("transfer_matrix.csv"), view)
    figure = plots.transfer_figure(matrix, view, model="source-only")
    axis = figure.axes[0]
    rows = matrix[(matrix["model"] == "source-only") & (matrix["metric"] == "accuracy")]
    assert [t.get_text() for t in axis.get_yticklabels()] == list(rows["train_domain"])
    shown = np.array([float(t.get_text()) for t in axis.texts]).reshape(len(rows), 3)
    assert shown == pytest.approx(rows[["books", "electronics", "movies"]].to_numpy(dtype=float), abs=5e-4)
    assert axis.get_xlabel() == "tested on" and axis.get_ylabel() == "trained on"
    plt.close(figure)


def test_transfer_records_are_named_per_fold_like_the_metrics(transfer_run: Path) -> None:
    run = load_run(transfer_run)
    assert set(run.records["model"]) == set(run.metrics["model"])
    assert "source-only@train=books" in set(run.records["model"])


def test_capability_profile_sorts_subjects_in_group_bands_and_draws_chance(mmlu_run: Path) -> None:
    run = load_run(mmlu_run)
    view = run.tasks[0]
    assert view.chance == pytest.approx(0.25) and set(view.groups.values()) == set(GROUPS)
    figure = plots.profile_figure(run.metrics, view, ["llm-a", "uniform"])
    axis = figure.axes[0]
    labels = [t.get_text() for t in axis.get_yticklabels()]  # top down
    part = run.metrics[(run.metrics["model"] == "llm-a") & run.metrics["domain"].isin(SUBJECTS)]
    by_value = part.set_index("domain")["value"]
    assert labels[0] == "ALL (pooled)" and sorted(labels[1:]) == sorted(SUBJECTS)
    groups = subject_groups()
    for group in GROUPS:  # each group one contiguous block, sorted by the first model, best first
        block = [d for d in labels[1:] if groups[d] == group]
        start = labels.index(block[0])
        assert labels[start:start + len(block)] == block
        assert [by_value[d] for d in block] == sorted((by_value[d] for d in block), reverse=True)
    assert {t.get_text().strip() for t in axis.texts} == set(GROUPS)  # the bands' names
    legend = [t.get_text() for t in axis.get_legend().get_texts()]
    assert sorted(legend) == ["chance (0.25)", "llm-a", "uniform"]
    assert any(line.get_xdata()[0] == pytest.approx(0.25) for line in axis.lines if line.get_linestyle() == ":")
    assert axis.get_xlabel() == "accuracy (fraction), higher is better\nwhiskers: 95% Wilson interval"
    plt.close(figure)


def test_genre_bars_are_sorted_cross_entropy_in_nats_per_token() -> None:
    domains = ("news", "twitter", "technical")
    metrics = pd.DataFrame([{"model": "lm", "domain": d, "metric": "cross_entropy", "value": v, "ci_low": v - 0.1,
                             "ci_high": v + 0.1} for d, v in zip(domains, (3.0, 5.7, 3.5), strict=True)])
    view = TaskView("masc", "text", "language_modeling", "cross_entropy", domains, ("news",), (), "id_ood")
    figure = plots.genre_figure(metrics, view)
    axis = figure.axes[0]
    assert [t.get_text() for t in axis.get_yticklabels()] == ["news (ID)", "technical", "twitter"]  # top down
    assert sorted(p.get_width() for p in axis.patches) == [3.0, 3.5, 5.7]
    assert "nats/token" in axis.get_xlabel()
    plt.close(figure)


def test_plot_functions_draw_on_a_given_axes(tiny_run: Path) -> None:
    run = load_run(tiny_run)
    view = _view(run, "tiny-reviews/sentiment")
    figure, axes = plt.subplots(1, 2)
    assert plots.heatmap_figure(run.part(run.metrics, view), view, ax=axes[0]) is figure
    assert plots.gap_figure(run.part(run.gaps, view), view, ax=axes[1]) is figure
    plt.close(figure)


def test_a_report_picks_the_figures_that_apply(tiny_run: Path, transfer_run: Path, mmlu_run: Path) -> None:
    def kinds(path: Path, key: str) -> list[str]:
        run = load_run(path)
        built = build_figures(run, _view(run, key), report=True)
        for _, _, fig in built:
            plt.close(fig)
        return [k for k, _, _ in built]

    assert kinds(tiny_run, "tiny-reviews/sentiment") == ["heatmap", "gaps", "reliability", "robustness"]
    assert kinds(tiny_run, "tiny-reviews/rating") == ["heatmap", "gaps"]
    transfer = kinds(transfer_run, "tiny-reviews/sentiment")
    assert "transfer" in transfer and "difference" not in transfer  # folds of one model are not two models
    assert kinds(mmlu_run, "mmlu-like/questions") == ["gaps", "profile", "reliability"]


def test_a_zero_shot_forest_says_what_each_row_compares(mmlu_run: Path) -> None:
    run = load_run(mmlu_run)
    figure = plots.gap_figure(run.gaps, run.tasks[0])
    axis = figure.axes[0]
    assert axis.get_xlabel() == "gap in accuracy (fraction)\n> 0: worse than the pooled rest"
    assert "out of domain" not in axis.get_xlabel() + axis.get_title()
    assert "whiskers: 95% normal interval" in axis.get_title()  # the synthetic rows' own ci_method
    figure.canvas.draw()
    box = axis.xaxis.label.get_window_extent()
    assert box.x0 >= 0 and box.x1 <= figure.bbox.x1  # the label is not cut off at the edge
    plt.close(figure)
