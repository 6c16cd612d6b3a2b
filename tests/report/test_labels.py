"""The words on the figures and in the HTML that name an interval, a level, a test or a
threshold are those of the rows drawn; units, directions and chance come from the registry."""

from __future__ import annotations

import shutil
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from bench.cli import main
from bench.errors import ReportProblemWarning
from bench.report import plots
from bench.report.figures import build_figures
from bench.report.html import render_report
from bench.report.labels import interval_label, metric_facts, significance_label, significant
from bench.report.rundata import TaskView, load_run
from bench.scoring.metrics import METRICS
from bench.scoring.options import StatisticsOptions
from tests.conftest import find_data, write_tiny_suite
from tests.report.synthetic import SUBJECTS, subject_groups

REPO = Path(__file__).resolve().parents[2]
QA_SUITE = REPO / "examples" / "own-qa-generation" / "suite.toml"
FAST_90 = StatisticsOptions(level=0.9, method="percentile", resamples=200, permutations=200)


def _texts(figure: plt.Figure) -> str:
    """Every text object of a figure (titles, axis labels, legends, ticks, annotations)."""
    return "\n".join(t.get_text() for t in figure.findobj(plt.Text))


def assert_readable(figure: plt.Figure) -> None:
    """No legend box overlaps an x label or tick label, no two y tick labels overlap, and
    every text lies inside the figure (measured on the drawn layout, in pixels)."""
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    for axis in figure.axes:
        if not axis.get_visible():
            continue
        legend = axis.get_legend()
        ticks = [t for t in axis.get_yticklabels() if t.get_text()]
        boxes = sorted((t.get_window_extent(renderer) for t in ticks), key=lambda b: b.y0)
        for low, high in zip(boxes, boxes[1:], strict=False):
            assert low.y1 <= high.y0 + 0.5, "y tick labels overlap"
        if legend is not None:
            box = legend.get_window_extent(renderer)
            for text in [axis.xaxis.label, *axis.get_xticklabels()]:
                if text.get_text():
                    assert not box.overlaps(text.get_window_extent(renderer)), f"legend covers {text.get_text()!r}"
    drawn = figure.get_tightbbox(renderer)  # inches, what is drawn (x label, legend, titles …)
    width, height = figure.get_size_inches()
    assert drawn.x0 >= -0.02 and drawn.x1 <= width + 0.02, f"drawn from {drawn.x0:.2f} to {drawn.x1:.2f} in of {width}"
    assert drawn.y0 >= -0.02 and drawn.y1 <= height + 0.02, f"drawn from {drawn.y0:.2f} to {drawn.y1:.2f} in of {height}"


def _evaluate(folder: Path, statistics: StatisticsOptions | None = None, **config: object) -> Path:
    from bench.pipeline import evaluate
    from bench.runner import RunConfig

    done = evaluate(RunConfig(**config), folder, save_models=False, statistics=statistics)  # type: ignore[arg-type]
    assert done is not None
    return done.run_dir


# --- the labels themselves -------------------------------------------------------------------
def test_interval_labels_say_method_and_level_and_mixed_honestly() -> None:
    one = pd.DataFrame({"ci_method": ["newcombe"] * 2, "level": [0.95, 0.95]})
    assert interval_label(one) == "95% Newcombe interval"
    assert interval_label(one.assign(ci_method="percentile", level=0.9)) == "90% percentile bootstrap interval"
    mixed = pd.DataFrame({"ci_method": ["wilson", "BCa"], "level": [0.95, 0.95]})
    assert interval_label(mixed) == "95% intervals (mixed: Wilson, BCa bootstrap)"
    levels = pd.DataFrame({"ci_method": ["wilson", "wilson"], "level": [0.9, 0.95]})
    assert interval_label(levels) == "intervals (mixed levels: 90%, 95%; Wilson)"
    assert interval_label(pd.DataFrame({"value": [1.0]})) == "interval (method not recorded)"


def test_significance_is_each_rows_own_alpha_and_its_label_names_the_p_column() -> None:
    rows = pd.DataFrame({"p_adjusted": [0.07, 0.07, np.nan], "level": [0.9, 0.95, 0.9]})
    assert list(significant(rows)) == [True, False, False]
    assert significance_label(rows.iloc[:1]) == "Holm-adjusted p < 0.1"
    assert significance_label(rows) == "Holm-adjusted p < 1 − level (mixed: 0.1, 0.05)"
    assert significance_label(pd.DataFrame({"p_value": [0.01]})) == "p (unadjusted) < 0.05"


# --- every registered metric: unit, direction, chance, interval from its rows -----------------
def _metric_rows(kind: str, metric: str, method: str, level: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(0)
    domains = [*SUBJECTS, "group:STEM", "ALL"]
    values = rng.uniform(0.2, 0.8, len(domains))
    metrics = pd.DataFrame({"model": "m", "suite": "s", "task": "t", "domain": domains, "metric": metric,
                            "value": values, "ci_low": values - 0.05, "ci_high": values + 0.05, "n": 40,
                            "ci_method": method, "level": level})
    gaps = pd.DataFrame({"model": "m", "suite": "s", "task": "t", "metric": metric, "kind": "domain_rest",
                         "family": "domain_rest", "domain_a": "REST", "domain_b": list(SUBJECTS),
                         "gap": values[:57] - 0.5, "ci_low": values[:57] - 0.6, "ci_high": values[:57] - 0.4,
                         "p_value": rng.uniform(0, 0.2, 57), "p_adjusted": rng.uniform(0, 0.2, 57),
                         "ci_method": method, "level": level})
    return metrics, gaps


@pytest.mark.parametrize("key", sorted(METRICS.names()))
def test_every_metric_is_labelled_from_the_registry_and_its_rows(key: str) -> None:
    kind, metric = key.split("/")
    declared = METRICS.get(key)
    metrics, gaps = _metric_rows(kind, metric, declared.interval, 0.9)
    view = TaskView("s", "t", kind, metric, SUBJECTS, (), (), "zero_shot", subject_groups(), chance=0.25)
    facts = metric_facts(kind, metric)
    profile = plots.profile_figure(metrics, view, "m")
    label = profile.axes[0].get_xlabel()
    method = {"wilson": "Wilson", "studentized": "studentized bootstrap", "BCa": "BCa bootstrap",
              "percentile": "percentile bootstrap"}[declared.interval]
    assert label == f"{facts.axis()}, {facts.direction}\nwhiskers: 90% {method} interval"
    assert declared.unit == "" or f"({declared.unit})" in label
    assert ("higher is better" in label) == declared.higher_is_better
    chance_lines = [line for line in profile.axes[0].lines if line.get_linestyle() == ":"]
    assert bool(chance_lines) == (declared.chance == "1/k")
    forest = plots.gap_figure(gaps, view)
    text = _texts(forest)
    assert f"whiskers: 90% {method} interval" in text and "Holm-adjusted p < 0.1" in text
    assert "95%" not in _texts(profile) + text and "0.05" not in text
    plt.close("all")


def test_a_metric_the_registry_does_not_know_is_drawn_without_unit_or_direction() -> None:
    metrics, gaps = _metric_rows("classification", "mc2", "percentile", 0.95)
    view = TaskView("s", "t", "classification", "mc2", SUBJECTS, (), (), "zero_shot", subject_groups(), chance=0.25)
    figure = plots.profile_figure(metrics, view, "m")
    assert figure.axes[0].get_xlabel().startswith("mc2, direction unknown\n")
    assert not [line for line in figure.axes[0].lines if line.get_linestyle() == ":"]
    plt.close(figure)


# --- real runs at --level 0.9 --method percentile ---------------------------------------------
@pytest.fixture(scope="module")
def run_90(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny suite (classification and regression tasks) scored at 90% with percentile."""
    folder = tmp_path_factory.mktemp("run-90")
    suite = write_tiny_suite(folder)
    return _evaluate(folder, FAST_90, suites=(str(suite),), models=("majority", "source-only"))


def test_a_level_90_percentile_run_is_labelled_so_on_every_figure(run_90: Path) -> None:
    run = load_run(run_90)
    seen = {}
    for view in run.tasks:
        for kind, caption, figure in build_figures(run, view, report=True):
            assert figure is not None
            assert_readable(figure)
            seen[(view.task, kind)] = (caption, _texts(figure))
            plt.close(figure)
    heat_caption, heat = seen[("sentiment", "heatmap")]
    assert "90% Wilson interval" in heat and "90% Wilson interval" in heat_caption  # accuracy keeps Wilson
    gap_caption, gap = seen[("sentiment", "gaps")]
    assert "whiskers: 90% percentile bootstrap interval" in gap  # Newcombe is replaced under --method
    assert "filled: Holm-adjusted p < 0.1" in gap or "hollow: Holm-adjusted p ≥ 0.1" in gap
    assert "Holm-adjusted p < 0.1" in gap_caption and "> 0: worse out of domain than in domain" in gap
    _, rating = seen[("rating", "heatmap")]
    assert "90% percentile bootstrap interval" in rating and "mse (squared target units)" in rating
    for caption, text in seen.values():
        assert "95%" not in caption + text and "p < 0.05" not in caption + text


def test_a_level_90_percentile_run_is_labelled_so_in_the_html(run_90: Path) -> None:
    page = render_report(run_90)
    assert "90% Wilson interval" in page and "90% percentile bootstrap interval" in page
    assert "Holm-adjusted p &lt; 0.1" in page
    assert "95%" not in page and "p &lt; 0.05" not in page


def test_a_generation_run_names_its_intervals(tmp_path: Path) -> None:
    run_dir = _evaluate(tmp_path, FAST_90, suites=(str(QA_SUITE),), models=("tests.generation_models:qa",))
    run = load_run(run_dir)
    view = run.tasks[0]
    assert view.metric == "exact_match"
    built = build_figures(run, view, ["heatmap", "gaps"])
    for _, _, drawn in built:
        assert drawn is not None
        assert_readable(drawn)
    text = "\n".join(_texts(f) for _, _, f in built if f is not None)
    assert "exact_match (fraction)" in text and "90% Wilson interval" in text
    assert "90% percentile bootstrap interval" in text or not any(k == "gaps" for k, _, _ in built)
    plt.close("all")
    page = render_report(run_dir)
    assert "90% Wilson interval" in page and "95%" not in page
    assert "is worse on medicine than on the pooled rest by" in page  # significant at α = 0.1 (p ≈ 0.09)


# --- two LLM-like models on MMLU (real data when present) ------------------------------------
@pytest.fixture(scope="module")
def mmlu_two(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = find_data("mmlu/test")
    if data is None:
        pytest.skip("MMLU data not found (see tests/conftest.py)")
    folder = tmp_path_factory.mktemp("mmlu-two")
    from bench.pipeline import evaluate
    from bench.runner import RunConfig

    done = evaluate(RunConfig(suites=("mmlu",), models=("tests.benchmarks.random_mc:make", "tests.report.models:make_other"),
                              limit=3, data_dir=str(data)), folder, save_models=False,
                    statistics=StatisticsOptions(resamples=200, permutations=200))
    assert done is not None
    return done.run_dir


def test_two_models_on_mmlu_get_profiles_and_a_paired_difference_profile(mmlu_two: Path) -> None:
    run = load_run(mmlu_two)
    view = run.tasks[0]
    built = {k: (c, f) for k, c, f in build_figures(run, view, report=True)}
    assert "heatmap" not in built and {"gaps", "profile", "difference"} <= set(built)
    for _, drawn in built.values():
        assert drawn is not None
        assert_readable(drawn)
    caption, figure = built["difference"]
    assert figure is not None
    text = _texts(figure)
    assert "paired 95% BCa bootstrap interval" in text and "mcnemar exact" in text and "Holm" in text
    assert "B − A (fraction); > 0: B better" in text
    labels = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    assert labels[0] == "ALL (pooled)" and len(labels) == 58
    profile = built["profile"][1]
    assert profile is not None and "chance (0.25)" in _texts(profile)
    forest = built["gaps"][1]
    assert forest is not None and "> 0: worse than the pooled rest" in _texts(forest)
    assert "out of domain" not in _texts(forest)
    plt.close("all")
    page = render_report(mmlu_two)
    assert "Paired differences in accuracy" in page and 'data-kind="difference"' in page


# --- bad input: one message each, the rest of the report still written ------------------------
def test_runs_of_different_suites_are_reported_one_by_one(tiny_run: Path, mmlu_run: Path) -> None:
    with pytest.warns(ReportProblemWarning, match="These runs hold different suites or tasks"):
        page = render_report([tiny_run, mmlu_run])
    assert "These runs hold different suites or tasks" in page
    assert page.count('<section class="task">') >= 3  # every task of both runs is still there


def test_a_truncated_gaps_csv_is_a_message_and_the_rest_is_drawn(mmlu_run: Path, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    copy = shutil.copytree(mmlu_run, tmp_path / "run")
    text = (copy / "gaps.csv").read_text()
    (copy / "gaps.csv").write_text(text[: len(text) // 2])
    run = load_run(copy)
    assert len(run.problems) == 1 and "gaps.csv is truncated (its last line is incomplete)" in run.problems[0]
    with pytest.warns(ReportProblemWarning, match=r": .*gaps.csv is truncated \(its last line is incomplete\)"):
        page = render_report(copy)
    assert "is truncated" in page and 'data-kind="profile"' in page and 'data-kind="gaps"' in page
    assert main(["report", str(copy), "-o", str(tmp_path / "r.html")]) == 0
    err = capsys.readouterr().err  # the command line says it too, not only the page
    assert "warning: 1 × ReportProblemWarning: " in err and "gaps.csv is truncated" in err
    (copy / "gaps.csv").write_text(text[:30])
    page = render_report(copy)
    assert "lacks the columns" in page and 'data-kind="profile"' in page and 'data-kind="gaps"' not in page


def test_a_metric_the_registry_does_not_know_is_named(mmlu_run: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(mmlu_run, tmp_path / "run")
    metrics = pd.read_csv(copy / "metrics.csv")
    pd.concat([metrics, metrics.assign(metric="mc2")]).to_csv(copy / "metrics.csv", index=False)
    run = load_run(copy)
    assert any("has metric 'mc2' that this version's metric registry does not know" in p for p in run.problems)
    assert 'data-kind="profile"' in render_report(copy)


def test_two_models_with_no_example_in_common_get_a_message(mmlu_run: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(mmlu_run, tmp_path / "run")
    records = pd.read_csv(copy / "records.csv.gz")
    other = records["model"] == "uniform"
    records.loc[other, "example_id"] = records.loc[other, "example_id"] + "-elsewhere"
    records.loc[other, "model"] = "llm-b"
    records.to_csv(copy / "records.csv.gz", index=False)
    metrics = pd.read_csv(copy / "metrics.csv")
    metrics.loc[metrics["model"] == "uniform", "model"] = "llm-b"
    metrics.to_csv(copy / "metrics.csv", index=False)
    page = render_report(copy)
    assert "No paired difference profile of llm-b against llm-a" in page and "share no example" in page
    assert 'data-kind="profile"' in page and 'data-kind="gaps"' in page


# --- the paired comparison behind the difference profile --------------------------------------
def _paired_copy(mmlu_run: Path, tmp_path: Path) -> Path:
    """The synthetic MMLU-like run with its second model renamed ``llm-b`` (a trained-looking
    name), scored on the same examples as ``llm-a``."""
    copy = shutil.copytree(mmlu_run, tmp_path / "run")
    for name in ("records.csv.gz", "metrics.csv", "gaps.csv"):
        frame = pd.read_csv(copy / name)
        frame.loc[frame["model"] == "uniform", "model"] = "llm-b"
        frame.to_csv(copy / name, index=False)
    return copy


def test_compare_rows_carry_holm_over_the_domains_and_their_settings(mmlu_run: Path, tmp_path: Path) -> None:
    from bench.outputs import task_infos_from_metadata
    from bench.scoring.compare import COMPARE_COLUMNS, compare_models
    from bench.scoring.gaps import holm

    run = load_run(_paired_copy(mmlu_run, tmp_path))
    table = compare_models(run.records, task_infos_from_metadata(run.meta), "llm-a", "llm-b", metrics=["accuracy"],
                           options=StatisticsOptions(level=0.9, resamples=200, permutations=200))
    assert list(table.columns) == COMPARE_COLUMNS and set(table["metric"]) == {"accuracy"}
    domains = table[(table["kind"] == "metric") & (table["domain_b"] != "ALL")]
    np.testing.assert_allclose(domains["p_adjusted"], holm(domains["p_value"].to_numpy()))
    groups = table[table["kind"] == "group"]  # MMLU's four categories: a family of their own
    np.testing.assert_allclose(groups["p_adjusted"], holm(groups["p_value"].to_numpy()))
    pooled = table[table["domain_b"] == "ALL"].iloc[0]
    assert pooled["p_adjusted"] == pooled["p_value"] and len(domains) == 57
    assert sorted(groups["domain_b"]) == ["STEM", "humanities", "other", "social sciences"]
    assert set(table["level"]) == {0.9} and set(table["ci_method"]) == {"BCa"}


def test_bench_plot_draws_profile_and_difference_of_two_models(mmlu_run: Path, tmp_path: Path) -> None:
    from bench.report.plotfile import save_plot

    copy = _paired_copy(mmlu_run, tmp_path)
    for kind in ("profile", "difference"):
        saved = save_plot(kind, [copy], tmp_path / f"{kind}.png", dpi=50)
        assert saved.path.read_bytes()[:4] == b"\x89PNG"
    page = render_report(copy)
    assert 'data-kind="difference"' in page and "Paired differences in accuracy, llm-b (B) against llm-a (A)" in page
    assert "paired 95% BCa bootstrap interval" in page and "test: mcnemar exact" in page


# --- the terminal summary at MMLU's scale -----------------------------------------------------
def test_terminal_summary_prints_group_rows_and_one_line_per_tested_family() -> None:
    from bench.report.summary import chance_notes, summary_tables
    from bench.scoring.tables import TaskInfo

    rows = [*SUBJECTS[:8], "group:STEM", "group:other", "ALL"]
    metrics = pd.DataFrame([{"model": "lm", "suite": "mmlu", "task": "mmlu", "domain": d, "metric": m, "value": 0.5,
                             "ci_low": 0.4, "ci_high": 0.6, "n": 5}
                            for d in rows for m in ("accuracy", "cross_entropy")])
    infos = {("mmlu", "mmlu"): TaskInfo("multiple_choice", (), SUBJECTS[:8], ())}
    table = summary_tables(metrics, pd.DataFrame(columns=["model", "suite", "task", "metric", "kind", "domain_a",
                                                           "domain_b", "gap", "ci_low", "ci_high"]), infos)["mmlu"]
    shown = [d for d in table["domain"] if not str(d).startswith("gap")]  # a zero-shot table has no gap row
    assert shown[-3:] == ["group:STEM", "group:other", "ALL"]
    gaps = pd.DataFrame([{"model": "lm", "suite": "mmlu", "task": "mmlu", "metric": "accuracy", "kind": kind,
                          "family": family, "domain_a": a, "domain_b": b, "gap": 0.2, "p_adjusted": p, "level": 0.9}
                         for kind, family, a, b, p in (("domain_rest", "domain_rest", "REST", SUBJECTS[0], 0.07),
                                                       ("domain_rest", "domain_rest", "REST", SUBJECTS[1], 0.5),
                                                       ("domain_rest", "group_rest", "REST", "group:STEM", 0.3),
                                                       ("best_worst", "best_worst", SUBJECTS[2], SUBJECTS[1], 0.2))])
    notes = chance_notes(gaps)
    assert notes == [
        f"mmlu/mmlu lm accuracy: differ from the rest (Holm p < 0.1; + = worse): {SUBJECTS[0]} (+0.200).",
        "mmlu/mmlu lm accuracy: no group differs from the rest beyond chance (Holm-adjusted p >= 0.1 for the 1 group).",
        "mmlu/mmlu lm accuracy, best vs worst domain: nothing beyond chance (Holm-adjusted p >= 0.1 for the 1 test).",
    ]


def test_a_task_of_a_kind_this_version_does_not_know_shows_its_first_metric(mmlu_run: Path, tmp_path: Path) -> None:
    import json

    copy = shutil.copytree(mmlu_run, tmp_path / "run")
    meta = json.loads((copy / "run.json").read_text())
    meta["tasks"]["mmlu-like/questions"]["kind"] = "imported"
    (copy / "run.json").write_text(json.dumps(meta))
    metrics = pd.read_csv(copy / "metrics.csv")
    metrics.assign(metric="mc2").to_csv(copy / "metrics.csv", index=False)
    run = load_run(copy)
    assert run.tasks[0].metric == "mc2"  # not accuracy: the rows' own metric
    assert any("kind imported" in p and "'mc2'" in p for p in run.problems)
    page = render_report(copy)
    assert 'data-kind="profile"' in page and "accuracy" not in page.split("<section", 1)[1].split("</h2>", 1)[0]
