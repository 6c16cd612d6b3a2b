"""Run identity: one model under two prompt settings is two entries everywhere (leaderboard,
``bench leaderboard``, ``bench compare``, plots), and the words match the protocol."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import pandas as pd
import pytest

from bench.cli import main
from bench.errors import ConfigError
from bench.report import plots
from bench.report.board import build_board, display_table, gap_note
from bench.report.figures import merge_runs
from bench.report.identity import label_runs, model_labels, setting_text, task_settings
from bench.report.leaderboard import merge_leaderboard
from bench.report.plotfile import save_plot
from bench.report.rundata import load_run, load_runs
from tests.conftest import REPO, SHARED_DATA

matplotlib.use("Agg")

FAST = ["--resamples", "200", "--permutations", "200", "-q"]
RANDOM = "tests.benchmarks.random_mc:make"
LABEL = f"{RANDOM} ({{}}-shot)"


def _runs(out: Path) -> list[Path]:
    """The fixture's run folders, 0-shot first (their ids are hashes, so their names sort either way)."""
    return sorted((out / "runs").iterdir(), key=lambda run: json.loads((run / "run.json").read_text())["config"]
                  .get("num_fewshot") or 0)


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Two MMLU runs of one model into one folder: 0-shot (the suite's default) and 5-shot."""
    if not (SHARED_DATA / "mmlu").exists():
        pytest.skip("MMLU data not in ../shared/data")
    out = tmp_path_factory.mktemp("shots")
    base = ["run", "mmlu", "--model", RANDOM, "--limit", "2", "--data-dir", str(SHARED_DATA), "--domain", "anatomy",
            "--domain", "astronomy", "--out", str(out), *FAST]
    for extra in ([], ["--num-fewshot", "5"]):
        assert main([*base, *extra]) == 0
    return out, ""


def test_labels_carry_only_the_settings_that_differ() -> None:
    zero = {"num_fewshot": "0", "chat_template": "no", "domains": "all", "run_id": "r1"}
    assert model_labels(["m", "m", "other"], [zero, zero | {"num_fewshot": "5"}, zero]) == \
        ["m (0-shot)", "m (5-shot)", "other"]
    assert model_labels(["m@a", "m@b"], [zero, zero]) == ["m@a", "m@b"]  # folds of one run: one model
    assert model_labels(["m", "m"], [zero, zero | {"run_id": "r2"}], tiebreak="run_id") == \
        ["m (run r1)", "m (run r2)"]
    assert model_labels(["m", "m"], [zero, zero | {"domains": "STEM", "chat_template": "yes"}]) == \
        ["m (no chat template, all domains)", "m (chat template, domains STEM)"]
    with pytest.raises(ValueError, match=r"model_labels: 2 models but 1 settings\."):
        model_labels(["m", "m"], [zero])


def test_settings_come_from_run_json_with_the_suites_defaults() -> None:
    meta = {"config": {"num_fewshot": None, "apply_chat_template": True, "domains": ["STEM"], "protocol": None},
            "suites": [{"name": "qa", "protocol": "zero_shot"}],
            "tasks": {"qa/answer": {"kind": "generation", "num_fewshot": 2}, "qa/mc": {"kind": "multiple_choice"},
                      "qa/sentiment": {"kind": "classification", "num_fewshot": 0}},
            "decoding": {"qa/answer": {"max_new_tokens": 16, "stop": ["\n"], "temperature": 0.7, "top_p": 0.9}}}
    assert task_settings(meta, "qa", "answer") == {
        "num_fewshot": "2", "chat_template": "yes", "decoding": 'T=0.7, top-p=0.9, max 16 tokens, stop ["\\n"]',
        "domains": "STEM", "protocol": "zero_shot"}
    assert task_settings(meta, "qa", "mc")["num_fewshot"] == ""  # an older run.json: its default unrecorded
    assert task_settings(meta, "qa", "sentiment")["num_fewshot"] == ""  # trained, not prompted with exemplars
    meta["config"] |= {"num_fewshot": 5, "protocol": "LEAVE_ONE_DOMAIN_OUT"}
    assert task_settings(meta, "qa", "mc")["num_fewshot"] == "5"
    assert task_settings(meta, "qa", "answer")["protocol"] == "leave_one_domain_out"
    assert setting_text("num_fewshot", "") == "n-shot ?" and setting_text("protocol", "id_ood") == "id_ood"


def test_zero_and_five_shot_rows_coexist_in_the_leaderboard(shots: tuple[Path, str]) -> None:
    out, _ = shots
    board = pd.read_csv(out / "leaderboard.csv", dtype={"num_fewshot": str})
    assert sorted(board["num_fewshot"]) == ["0", "5"] and set(board["domains"]) == {"anatomy+astronomy"}
    assert (board["model"] == RANDOM).all() and set(board["chat_template"]) == {"no"}
    shown = display_table(build_board(_runs(out)))
    assert sorted(shown["model"]) == [LABEL.format(0), LABEL.format(5)]


def test_a_domain_subset_does_not_replace_the_full_row(tmp_path: Path) -> None:
    for extra in ([], ["--domain", "kitchen"]):
        assert main(["run", "--model", "majority", "--limit", "10", "--out", str(tmp_path), *FAST, *extra]) == 0
    board = pd.read_csv(tmp_path / "leaderboard.csv")
    assert sorted(board[board["task"] == "sentiment"]["domains"]) == ["all", "kitchen"]
    again = main(["run", "--model", "majority", "--limit", "10", "--out", str(tmp_path), "--new", *FAST])
    assert again == 0 and len(pd.read_csv(tmp_path / "leaderboard.csv")) == len(board)  # same settings: replaced


def test_a_row_from_before_the_settings_is_replaced_by_a_newer_one(tmp_path: Path) -> None:
    path = tmp_path / "leaderboard.csv"
    old = pd.DataFrame({"model": ["a", "b"], "suite": "s", "task": "t", "mean_accuracy": [0.1, 0.2], "run_id": "r1"})
    merge_leaderboard(path, old)  # as an older version wrote it: no settings columns
    zero = {"num_fewshot": "0", "chat_template": "no", "decoding": "", "domains": "all", "protocol": "zero_shot"}
    row = {"model": "a", "suite": "s", "task": "t", "mean_accuracy": 0.5}
    merged = merge_leaderboard(path, pd.DataFrame([row | zero | {"run_id": "r2"}]))
    assert list(merged["model"]) == ["a", "b"] and list(merged["run_id"]) == ["r2", "r1"]
    five = merge_leaderboard(path, pd.DataFrame([row | zero | {"num_fewshot": "5", "run_id": "r3"}]))
    assert list(five["run_id"]) == ["r2", "r3", "r1"] and list(five["num_fewshot"]) == ["0", "5", ""]
    assert len(pd.read_csv(tmp_path / "leaderboard_runs.csv")) == 4


def test_compare_names_both_settings(shots: tuple[Path, str], capsys: pytest.CaptureFixture[str]) -> None:
    out, _ = shots
    zero, five = _runs(out)
    target = out / "cmp.csv"
    assert main(["compare", str(zero), str(five), "--models", RANDOM, RANDOM, "-o", str(target), *FAST[:4]]) == 0
    printed = capsys.readouterr().out
    assert f"difference > 0: {LABEL.format(5)} better than {LABEL.format(0)}" in printed
    table = pd.read_csv(target)
    assert set(table["model_a"]) == {LABEL.format(0)} and set(table["model_b"]) == {LABEL.format(5)}


def test_heatmap_and_gaps_of_two_settings_keep_them_apart(shots: tuple[Path, str], tmp_path: Path) -> None:
    out, _ = shots
    runs = _runs(out)
    save_plot("heatmap", runs, tmp_path / "h.png")  # crashed: duplicate labels
    run = merge_runs(label_runs(load_runs(runs)))
    view = next(v for v in run.tasks if v.key == "mmlu/mmlu")
    figure = plots.heatmap_figure(run.part(run.metrics, view), view)
    ticks = {t.get_text() for t in figure.axes[0].get_yticklabels()}
    assert ticks == {LABEL.format(0), LABEL.format(5)}
    gap = plots.gap_figure(run.part(run.gaps, view), view)
    labels = [t.get_text() for t in gap.axes[0].get_yticklabels()]
    assert len(labels) == len(set(labels)) and any("(0-shot)" in t for t in labels) \
        and any("(5-shot)" in t for t in labels)


def test_plot_model_names_one_of_the_settings(shots: tuple[Path, str], tmp_path: Path) -> None:
    out, _ = shots
    runs = _runs(out)
    with pytest.raises(ConfigError, match=rf"--model '{RANDOM}': the runs hold it under several settings: "
                                          rf"'{RANDOM} \(0-shot\)', '{RANDOM} \(5-shot\)'; name one of them\."):
        save_plot("heatmap", runs, tmp_path / "h.png", model=RANDOM)
    assert save_plot("heatmap", runs, tmp_path / "h.png", model=LABEL.format(5)).path.is_file()
    assert save_plot("heatmap", runs[:1], tmp_path / "one.png", model=RANDOM).path.is_file()  # one run: its name
    assert plots.is_floor("majority (5-shot)") and plots.is_floor("uniform@books") and not plots.is_floor("m (0-shot)")


def test_a_zero_shot_heatmap_marks_no_domain_trained_on(shots: tuple[Path, str]) -> None:
    out, _ = shots
    run = load_run(_runs(out)[0])
    view = next(v for v in run.tasks if v.key == "mmlu/mmlu")
    assert view.in_domain == ()
    figure = plots.heatmap_figure(run.part(run.metrics, view), view)
    texts = [t.get_text() for t in figure.axes[0].get_xticklabels()] + [figure.axes[0].get_xlabel()]
    assert not any("(ID" in t or "trained on" in t for t in texts), texts


@pytest.fixture(scope="module")
def lodo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("lodo")
    with pytest.MonkeyPatch.context() as patch:
        printed: list[str] = []
        patch.setattr("builtins.print", lambda *a, **_: printed.append(" ".join(map(str, a))))
        assert main(["run", "--model", "source-only", "--limit", "20", "--protocol", "leave_one_domain_out",
                     "--out", str(out), "--resamples", "200", "--permutations", "200"]) == 0
    return out, "\n".join(printed)


def test_leave_one_domain_out_is_not_called_zero_shot(lodo: tuple[Path, str]) -> None:
    out, printed = lodo
    flat = " ".join(printed.split())
    assert "leave-one-domain-out: each domain is scored by models trained on the other domains" in flat
    assert "trained on its suite (zero-shot)" not in flat
    assert load_run(_runs(out)[0]).tasks[0].in_domain == ()


def test_the_gap_column_says_which_comparison_it_holds(lodo: tuple[Path, str], tmp_path: Path) -> None:
    out, _ = lodo
    board = build_board(_runs(out))
    assert set(board["gap_kind"]) == {"best_worst"}
    shown = display_table(board)
    assert "gap best−worst [95% CI]" in shown.columns and not any("ID→OOD" in c for c in shown.columns)
    assert "in-domain minus" not in gap_note(board) and "best domain against the worst" in gap_note(board)
    assert main(["run", "--model", "source-only", "--limit", "20", "--out", str(tmp_path), *FAST]) == 0
    mixed = display_table(build_board([*_runs(out), *_runs(tmp_path)]))
    cells = [c for c in mixed["gap [95% CI]"] if c]
    assert any(c.startswith("ID→OOD ") for c in cells) and any(c.startswith("best−worst ") for c in cells)


def test_a_zero_shot_terminal_table_has_no_id_ood_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if not (SHARED_DATA / "mmlu").exists():
        pytest.skip("MMLU data not in ../shared/data")
    assert main(["run", "mmlu", "--model", RANDOM, "--limit", "2", "--data-dir", str(SHARED_DATA), "--domain", "STEM",
                 "--out", str(tmp_path), "--resamples", "200", "--permutations", "200"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert not any(line.startswith("gap ID→OOD") for line in lines)


def test_ece_reads_the_same_in_both_leaderboard_views(tmp_path: Path) -> None:
    assert main(["run", "--model", "source-only", "--limit", "20", "--out", str(tmp_path), *FAST]) == 0
    from_run = build_board(_runs(tmp_path)).set_index(["model", "task"])["ece"]
    from_csv = build_board([tmp_path / "leaderboard.csv"]).set_index(["model", "task"])["ece"]
    assert from_run.notna().any()
    pd.testing.assert_series_equal(from_run.sort_index(), from_csv.sort_index().astype(float), check_exact=False)


def test_the_qa_example_promises_only_gaps_its_run_has(tmp_path: Path) -> None:
    suite = REPO / "examples" / "own-qa-generation" / "suite.toml"
    assert main(["run", str(suite), "--model", "tests.generation_models:qa", "--out", str(tmp_path), *FAST]) == 0
    kinds = set(pd.read_csv(_runs(tmp_path)[0] / "gaps.csv")["kind"])
    readme = " ".join((suite.parent / "README.md").read_text(encoding="utf-8").split())
    assert "id_ood" not in kinds and "in-domain reference" not in readme
    assert "no gap against geography" in readme
    assert all(f"`{kind}`" in readme for kind in kinds - {"spread"}), kinds


def test_forgetting_a_run_keeps_the_others_rows(tmp_path: Path) -> None:
    from bench.report.leaderboard import forget_run

    path = tmp_path / "leaderboard.csv"
    zero = {"num_fewshot": "0", "chat_template": "no", "decoding": "", "domains": "all", "protocol": "zero_shot"}
    row = {"model": "a", "suite": "s", "task": "t", "mean_accuracy": 0.5} | zero
    merge_leaderboard(path, pd.DataFrame([row | {"run_id": "r1"}]))
    merge_leaderboard(path, pd.DataFrame([row | {"mean_accuracy": 0.7, "run_id": "r2"}]))
    assert list(pd.read_csv(path)["run_id"]) == ["r2"]  # the latest view: the run that finished last
    assert forget_run(path, "r2") == 1 and forget_run(path, "r9") == 0
    assert list(pd.read_csv(path)["run_id"]) == ["r1"]
    assert list(pd.read_csv(tmp_path / "leaderboard_runs.csv")["run_id"]) == ["r1"]
