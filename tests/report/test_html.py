"""bench report and bench plot: content, self-containment, escaping, errors."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from bench.cli import main
from bench.report.findings import findings
from bench.report.html import render_report
from bench.report.rundata import load_run


def test_summary_sentences_carry_the_numbers_of_the_tables(tiny_run: Path) -> None:
    found = findings(load_run(tiny_run))
    gaps = pd.read_csv(tiny_run / "gaps.csv")
    significant = gaps[(gaps["kind"] == "id_ood") & (gaps["p_adjusted"] < 0.05) & (gaps["gap"] > 0)
                       & gaps["metric"].isin(["accuracy", "mse"])]
    first_task = next((t for t in ("sentiment", "rating") if (significant["task"] == t).any()), None)
    significant = significant[significant["task"] == first_task].sort_values("gap", ascending=False)
    first = next(f.text for f in found if f.kind == "gap")
    if significant.empty:
        assert first == "No gap is significant after Holm's adjustment in any task."
    else:
        top = significant.iloc[0]
        assert first.startswith(f"{top['model']} on tiny-reviews/{top['task']}:")
        assert f"by {top['gap']:.3f} [{top['ci_low']:.3f}, {top['ci_high']:.3f}]" in first
    worst = [f.text for f in found if f.kind == "worst"]
    assert any(t.startswith("source-only on tiny-reviews/sentiment: worst domain") for t in worst)
    assert not any(t.startswith("majority") for t in worst)  # floors are not summarised
    nulls = [f.text for f in found if f.kind == "null"]
    quiet = [m for m, rows in gaps[(gaps["kind"] == "id_ood") & (gaps["metric"] == "accuracy")
                                   & (gaps["task"] == "sentiment")].groupby("model")
             if not (rows["p_adjusted"] < 1 - rows["level"]).any()]
    if quiet:
        assert any(all(m in t for m in quiet) and "sentiment" in t for t in nulls)


def test_the_largest_significant_gaps_come_first() -> None:
    from bench.report.findings import _gap_findings
    from bench.report.rundata import RunData, TaskView

    view = TaskView("s", "t", "classification", "accuracy", ("a", "b", "c"), ("a",), ("n", "p"), "id_ood")
    gaps = pd.DataFrame([{"model": "m", "suite": "s", "task": "t", "metric": "accuracy", "kind": "id_ood",
                          "domain_a": "a", "domain_b": d, "gap": g, "ci_low": g - 0.01, "ci_high": g + 0.01,
                          "p_adjusted": p, "ci_method": "newcombe", "level": 0.9}
                         for d, g, p in (("b", 0.10, 0.07), ("c", 0.30, 0.20), ("OOD", 0.2, 0.001))])
    run = RunData(Path("."), {}, pd.DataFrame(), pd.DataFrame(), gaps, {}, (view,))
    texts = [f.text for f in _gap_findings(run)]
    assert texts == ["m on s/t: accuracy is worse on OOD than on a by 0.200 [0.190, 0.210] (90% Newcombe interval; "
                     "Holm-adjusted p = 0.001 < α = 0.1).",
                     "m on s/t: accuracy is worse on b than on a by 0.100 [0.090, 0.110] (90% Newcombe interval; "
                     "Holm-adjusted p = 0.07 < α = 0.1)."]  # significant at the run's α = 1 − level, not 0.05


def test_a_null_result_says_when_intervals_exclude_zero_but_holm_cannot_resolve() -> None:
    from bench.report.findings import _null_findings
    from bench.report.rundata import RunData, TaskView

    view = TaskView("s", "t", "language_modeling", "cross_entropy", ("a", "b", "c"), ("a",), (), "id_ood")
    gaps = pd.DataFrame([{"model": "lm", "suite": "s", "task": "t", "metric": "cross_entropy", "kind": "id_ood",
                          "domain_a": "a", "domain_b": d, "gap": g, "ci_low": lo, "ci_high": hi, "p_value": 0.0005,
                          "p_adjusted": 0.15, "mdg": 0.2} for d, g, lo, hi in (("b", 1.3, 1.2, 1.4),
                                                                               ("c", 0.1, -0.1, 0.3))])
    run = RunData(Path("."), {}, pd.DataFrame(), pd.DataFrame(), gaps, {}, (view,))
    (text,) = [f.text for f in _null_findings(run)]
    assert text.startswith("On s/t, no cross_entropy gap of lm is significant after Holm; gaps under about 0.200")
    assert "But 1 of these gaps has an interval that excludes 0" in text and "0.0005" in text
    assert "route not recorded" in text  # rows without p_method are not guessed at
    assert "bootstrap" not in text  # the rows do not say which interval they hold
    quiet = gaps.assign(ci_low=-0.1)
    (text,) = [f.text for f in _null_findings(RunData(Path("."), {}, pd.DataFrame(), pd.DataFrame(), quiet, {},
                                                      (view,)))]
    assert text.startswith("On s/t, nothing differs beyond chance for lm") and "But" not in text


def test_the_resolution_note_names_the_interval_the_test_and_the_family_from_the_rows() -> None:
    # MMLU's case: a Newcombe interval excludes 0, the p-value is exact, and the Holm family
    # (not the number of permutations) keeps the adjusted p-value above α
    from bench.report.findings import _null_findings
    from bench.report.rundata import RunData, TaskView

    view = TaskView("mmlu", "mmlu", "multiple_choice", "accuracy", ("a", "b"), (), (), "zero_shot")
    row = {"model": "lm", "suite": "mmlu", "task": "mmlu", "metric": "accuracy", "kind": "domain_rest",
           "domain_a": "REST", "domain_b": "a", "gap": 0.12, "ci_low": 0.01, "ci_high": 0.23, "p_value": 0.0227,
           "p_adjusted": 1.0, "mdg": 0.2, "ci_method": "newcombe", "level": 0.9, "p_method": "exact",
           "family": "domain_rest", "family_size": 57, "permutations": 2000}
    run = RunData(Path("."), {}, pd.DataFrame(), pd.DataFrame(), pd.DataFrame([row]), {}, (view,))
    (text,) = [f.text for f in _null_findings(run)]
    assert "has an interval that excludes 0 (90% Newcombe interval)" in text
    assert "0.023, is exact (more permutations would not change it)" in text
    assert "family of 57 distinct tests (domain_rest) makes it 1, not below α = 0.1" in text
    assert "bootstrap" not in text and "95%" not in text and "0.05" not in text
    drawn = pd.DataFrame([{**row, "ci_method": "percentile", "p_method": "monte_carlo", "family_size": 3}])
    (text,) = [f.text for f in _null_findings(RunData(Path("."), {}, pd.DataFrame(), pd.DataFrame(), drawn, {},
                                                      (view,)))]
    assert "90% percentile bootstrap interval" in text and "a Monte Carlo estimate (at least 2,000 permutations" in text


def test_mitigation_sentences_compare_pooled_gaps() -> None:
    from bench.report.findings import _mitigation_findings
    from bench.report.rundata import RunData, TaskView

    view = TaskView("s", "t", "classification", "accuracy", ("a", "b"), ("a",), ("n", "p"), "id_ood")
    gaps = pd.DataFrame([{"model": m, "suite": "s", "task": "t", "metric": "accuracy", "kind": "id_ood",
                          "domain_a": "a", "domain_b": "OOD", "gap": g, "ci_low": g - 0.05, "ci_high": g + 0.05}
                         for m, g in (("source-only", 0.20), ("augmented", 0.05))])
    run = RunData(Path("."), {}, pd.DataFrame(), pd.DataFrame(), gaps, {}, (view,))
    (text,) = [f.text for f in _mitigation_findings(run)]
    assert "augmented vs source-only on s/t" in text and "narrows it by 0.150 (75% of it)" in text


def test_report_is_self_contained_and_has_every_section(tiny_run: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "r.html"
    assert main(["report", str(tiny_run), "-o", str(target)]) == 0
    assert f"report: {target}" in capsys.readouterr().out
    text = target.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert "<link" not in text and "@import" not in text and "url(" not in text
    assert text.count('<figure data-kind="') == 6 and "<h2>Summary</h2>" in text
    assert text.count('class="data"') == 4  # per-domain and gap tables, two tasks
    assert oct(target.stat().st_mode & 0o777) == "0o644"


def test_names_from_user_files_are_escaped(tiny_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "evil"
    shutil.copytree(tiny_run, run)
    bad = "<img src=x onerror=alert(1)>"
    for name in ("metrics.csv", "gaps.csv", "robustness.csv"):
        table = pd.read_csv(run / name)
        table["model"] = table["model"].replace("source-only", bad)
        table.to_csv(run / name, index=False)
    text = render_report(run)
    assert bad not in text and "&lt;img src=x onerror=alert(1)&gt;" in text


def test_report_of_several_runs_and_errors(tiny_run: Path, transfer_run: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "both.html"
    assert main(["report", str(tiny_run), str(transfer_run), "-o", str(target)]) == 0
    text = target.read_text()
    assert text.count('<article class="run">') == 2 and 'data-kind="transfer"' in text
    assert main(["report", str(tiny_run), "-o", str(tmp_path / "missing" / "r.html")]) == 2
    assert "error: Cannot write" in capsys.readouterr().err
    assert not list((tmp_path).glob(".r.html-*"))


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
def test_plot_saves_each_format(tiny_run: Path, tmp_path: Path, suffix: str,
                                capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / f"gaps{suffix}"
    assert main(["plot", "gaps", str(tiny_run), "-o", str(target), "--task", "sentiment", "--dpi", "150"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"gaps of tiny-reviews/sentiment: {target} (") and "150 dpi" in out
    magic = {".png": b"\x89PNG", ".svg": b"<?xml", ".pdf": b"%PDF"}[suffix]
    assert target.read_bytes().startswith(magic)
    if suffix == ".png":
        width, height = (int(v) for v in re.search(r"(\d+) × (\d+) px", out).groups())
        header = target.read_bytes()[16:24]
        assert (int.from_bytes(header[:4], "big"), int.from_bytes(header[4:], "big")) == (width, height)


def test_plot_every_kind_that_applies(tiny_run: Path, transfer_run: Path, mmlu_run: Path, tmp_path: Path) -> None:
    cases = [("heatmap", tiny_run), ("reliability", tiny_run), ("robustness", tiny_run),
             ("transfer", transfer_run), ("profile", mmlu_run)]
    for kind, run in cases:
        assert main(["plot", kind, str(run), "-o", str(tmp_path / f"{kind}.png"), "--dpi", "72"]) == 0
        assert (tmp_path / f"{kind}.png").stat().st_size > 1000


def test_plot_errors(tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plot", "gaps", str(tiny_run), "-o", str(tmp_path / "x.jpg")]) == 2
    assert "the file must end in .png, .svg, .pdf" in capsys.readouterr().err
    assert main(["plot", "transfer", str(tiny_run), "-o", str(tmp_path / "x.png")]) == 2
    assert "No transfer figure in tiny-reviews/sentiment, tiny-reviews/rating" in capsys.readouterr().err
    assert main(["plot", "gaps", str(tiny_run), "-o", str(tmp_path / "x.png"), "--task", "nope"]) == 2
    assert "No task matches --suite * --task nope; the runs hold: tiny-reviews/sentiment" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()
