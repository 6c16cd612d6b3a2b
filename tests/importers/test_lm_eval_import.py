"""``bench import lm-eval`` on genuine lm-eval 0.4.13 output (``tests/fixtures/lm_eval``, made by
``tests/fixtures/make_lm_eval_logs.py``: SmolLM2-135M on 3 MMLU subjects × 6 questions, 0-shot,
a cloze task over the three subjects and the generative formulation)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from bench.cli import main
from bench.errors import DataError
from bench.importers.common import sha256_file
from bench.importers.lm_eval import read_lm_eval
from bench.importers.publish import import_run
from bench.outputs import read_run
from bench.pipeline import rescore_run_folder
from bench.scoring.options import StatisticsOptions
from bench.store import RunStore

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "lm_eval"
FAST = StatisticsOptions(resamples=200, permutations=100)
pytestmark = pytest.mark.filterwarnings("ignore::bench.errors.EmptyDomainWarning")
MMLU_TASKS = ("mmlu_abstract_algebra", "mmlu_anatomy", "mmlu_astronomy")


def _results() -> dict:
    (path,) = FIXTURE.rglob("results_*.json")
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory):
    return import_run("lm-eval", FIXTURE, tmp_path_factory.mktemp("out"), statistics=FAST)


def _value(metrics: pd.DataFrame, task: str, domain: str, metric: str) -> float:
    row = metrics[(metrics["task"] == task) & (metrics["domain"] == domain) & (metrics["metric"] == metric)]
    assert len(row) == 1, (task, domain, metric)
    return float(row["value"].iloc[0])


def test_accuracy_and_acc_norm_equal_lm_evals_results_file_exactly(imported) -> None:
    results = _results()["results"]
    metrics = imported.scored.metrics
    for lm_task in MMLU_TASKS:
        subject = lm_task.removeprefix("mmlu_")
        assert _value(metrics, "mmlu", subject, "accuracy") == results[lm_task]["acc,none"]
        assert _value(metrics, "mmlu", subject, "acc_norm") == results[lm_task]["acc_norm,none"]
    # the cloze task, whose options differ in length: acc_norm and acc differ on two of its examples
    assert _value(metrics, "mmlu_mixed", "mmlu_mixed", "accuracy") == results["mmlu_mixed"]["acc,none"]
    assert _value(metrics, "mmlu_mixed", "mmlu_mixed", "acc_norm") == results["mmlu_mixed"]["acc_norm,none"]


def test_every_examples_correctness_is_lm_evals_own(imported) -> None:
    records = imported.imported.records
    for samples in FIXTURE.rglob("samples_mmlu_*.jsonl"):
        lm_task = samples.name.split("_20")[0].removeprefix("samples_")
        lines = [json.loads(line) for line in samples.read_text(encoding="utf-8").splitlines()]
        if "generative" in lm_task:
            continue
        part = records[(records["task"] == ("mmlu" if lm_task != "mmlu_mixed" else "mmlu_mixed"))]
        ids = [f"{lm_task.removeprefix('mmlu_')}/test:{line['doc_id'] + 1}" if lm_task != "mmlu_mixed"
               else f"mmlu_mixed:{line['doc_id']}" for line in lines]
        rows = part.set_index("example_id").loc[ids]
        assert rows["correct"].tolist() == [line["acc"] for line in lines]
        assert rows["logprob_0"].tolist() == [float(line["filtered_resps"][0][0]) for line in lines]
        per_char = rows[[f"logprob_{k}" for k in range(4)]].to_numpy() / rows[[f"chars_{k}" for k in range(4)]].to_numpy()
        assert (per_char.argmax(axis=1) == rows["target"].to_numpy()).astype(float).tolist() == \
            [line["acc_norm"] for line in lines]


def test_generate_until_exact_match_equals_lm_evals(imported) -> None:
    results = _results()["results"]
    for subject in ("abstract_algebra", "anatomy", "astronomy"):
        expected = results[f"mmlu_generative_{subject}"]["exact_match,strip"]
        assert _value(imported.scored.metrics, "mmlu_generative", subject, "exact_match") == expected


def test_mmlu_subjects_are_domains_of_xdbenchs_mmlu_with_its_groups_and_ids(imported) -> None:
    meta, records = read_run(imported.run_dir)
    task = meta["tasks"]["mmlu/mmlu"]
    assert task["domains"] == ["abstract_algebra", "anatomy", "astronomy"]
    assert task["domain_groups"] == {"abstract_algebra": "STEM", "anatomy": "other", "astronomy": "STEM"}
    assert task["kind"] == "multiple_choice" and task["num_fewshot"] == 0
    from bench.suites import load_suite

    assert {s["name"]: s["version"] for s in meta["suites"]} == {"mmlu": load_suite("mmlu").version, "lm-eval": ""}
    mmlu = records[records["task"] == "mmlu"]
    assert set(mmlu["example_id"]) == {f"{s}/test:{k}" for s in task["domains"] for k in range(1, 7)}
    assert {"group:STEM", "group:other"} <= set(imported.scored.metrics["domain"])


def test_run_json_says_where_the_run_came_from(imported) -> None:
    meta, _ = read_run(imported.run_dir)
    source = meta["imported"]
    assert (source["harness"], source["version"]) == ("lm-eval", "0.4.13")
    on_disk = {p.relative_to(FIXTURE).as_posix(): sha256_file(p) for p in FIXTURE.rglob("*.json*")}
    assert {f["name"]: f["sha256"] for f in source["files"]} == on_disk
    (model,) = source["models"]
    assert model == "SmolLM2-135M-Instruct.Q4_1"
    assert source["models"][model]["model_args"]["gguf_file"] == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert source["tasks"][f"{model}/mmlu_anatomy"]["results"]["acc,none"] == _results()["results"][
        "mmlu_anatomy"]["acc,none"]


def test_the_run_is_stored_complete_and_bench_score_reads_its_folder(imported) -> None:
    store = RunStore(imported.run_dir.parent.parent)
    try:
        info = store.run(imported.run_dir.name)
    finally:
        store.close()
    assert info.state == "complete" and info.batches > 0
    rescored = rescore_run_folder(imported.run_dir, options=FAST)
    pd.testing.assert_frame_equal(rescored.metrics, imported.scored.metrics)
    gaps = rescored.gaps
    assert {"domain_rest", "best_worst"} <= set(gaps["kind"])
    assert gaps["p_adjusted"].notna().any()


def test_domain_field_splits_one_task_by_a_column_of_the_doc() -> None:
    (mixed_log,) = FIXTURE.rglob("samples_mmlu_mixed_*.jsonl")  # one samples file: only that task
    imported = read_lm_eval(mixed_log, domain_field="subject")
    mixed = imported.records[imported.records["task"] == "mmlu_mixed"]
    assert sorted(mixed["domain"].unique()) == ["abstract_algebra", "anatomy", "astronomy"]
    assert imported.tasks[("lm-eval", "mmlu_mixed")].domains == ["abstract_algebra", "anatomy", "astronomy"]


def test_the_command_line_imports_and_prints_the_table(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = main(["import", "lm-eval", str(FIXTURE), "--out", str(tmp_path), "--resamples", "200",
                 "--permutations", "100", "-q"])
    out = capsys.readouterr().out
    assert code == 0
    assert "imported: lm-eval 0.4.13 log of SmolLM2-135M-Instruct.Q4_1 (42 examples, 8 files)" in out
    assert len(list((tmp_path / "runs").iterdir())) == 1


# --- bad input: one clear error each, no run folder, no stored run -----------------------------
def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "logs"
    shutil.copytree(FIXTURE, target)
    return target


def _model_folder(logs: Path) -> Path:
    (folder,) = [p for p in logs.iterdir() if p.is_dir()]
    return folder


def _assert_refused(logs: Path, out: Path, message: str, **options: str) -> None:
    with pytest.raises(DataError, match=message):
        import_run("lm-eval", logs, out, statistics=FAST, **options)
    assert not (out / "runs").exists() or not [p for p in (out / "runs").iterdir() if not p.name.startswith(".")]
    if (out / "store.sqlite").exists():
        store = RunStore(out)
        try:
            assert store.runs() == []
        finally:
            store.close()


def test_a_folder_without_samples_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    _assert_refused(tmp_path / "empty", tmp_path / "out",
                    r"empty: no lm-eval samples files \(samples_<task>_<date>.jsonl\) in this folder or below; run "
                    "lm_eval with --log_samples")


def test_a_truncated_line_is_named_by_file_and_line(tmp_path: Path) -> None:
    logs = _copy(tmp_path)
    (samples,) = _model_folder(logs).glob("samples_mmlu_anatomy_*.jsonl")
    text = samples.read_text(encoding="utf-8")
    samples.write_text(text[: len(text) - 300], encoding="utf-8")
    _assert_refused(logs, tmp_path / "out",
                    rf"{samples.name}, line 6: not valid JSON \(.*\); is the file truncated\?")


def test_a_samples_file_of_an_unknown_layout_is_refused(tmp_path: Path) -> None:
    logs = _copy(tmp_path)
    (samples,) = _model_folder(logs).glob("samples_mmlu_anatomy_*.jsonl")
    samples.rename(samples.with_name("samples_mmlu_anatomy.jsonl"))
    _assert_refused(logs, tmp_path / "out", r"samples_mmlu_anatomy.jsonl: not an lm-eval samples file of a known "
                    r"layout \(expected samples_<task>_<YYYY-MM-DDTHH-MM-SS.ffffff>.jsonl")


def test_a_samples_line_of_an_unknown_layout_is_refused(tmp_path: Path) -> None:
    logs = _copy(tmp_path)
    (samples,) = _model_folder(logs).glob("samples_mmlu_anatomy_*.jsonl")
    lines = samples.read_text(encoding="utf-8").splitlines()
    old = json.loads(lines[2])
    lines[2] = json.dumps({"id": old["doc_id"], "doc": old["doc"], "resps": old["resps"]})
    samples.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _assert_refused(logs, tmp_path / "out", rf"{samples.name}, line 3: not an lm-eval samples line of a known layout "
                    r"\(it has no 'doc_id' or no 'filtered_resps'; keys: doc, id, resps\)")


def test_a_doc_without_the_domain_field_is_refused(tmp_path: Path) -> None:
    _assert_refused(FIXTURE, tmp_path / "out", r"samples_mmlu_abstract_algebra_.*\.jsonl, line 1: the doc has no "
                    r"field 'source' to take the domain from \(--domain-field\); its fields: answer, choice0",
                    domain_field="source")


def test_two_logs_of_the_same_model_and_task_are_refused(tmp_path: Path) -> None:
    logs = _copy(tmp_path)
    folder = _model_folder(logs)
    for path in list(folder.iterdir()):
        if "anatomy" in path.name or path.name.startswith("results_"):
            shutil.copy(path, path.with_name(path.name.replace("2026-", "2027-")))
    _assert_refused(logs, tmp_path / "out", r"a second log of model 'SmolLM2-135M-Instruct.Q4_1' on task "
                    r"'mmlu_anatomy' \(the first is .*\); import one of them at a time")


def test_a_samples_file_without_its_results_file_is_refused(tmp_path: Path) -> None:
    logs = _copy(tmp_path)
    (results,) = _model_folder(logs).glob("results_*.json")
    results.unlink()
    _assert_refused(logs, tmp_path / "out", rf"no results file {results.name} beside it")


# --- two models on one question set ------------------------------------------------------------
def _as_model(logs: Path, name: str) -> None:
    """Make the copied log a log of a model called ``name`` (its results file's gguf_file)."""
    (results,) = _model_folder(logs).glob("results_*.json")
    raw = json.loads(results.read_text(encoding="utf-8"))
    raw["config"]["model_args"]["gguf_file"] = f"{name}.gguf"
    results.write_text(json.dumps(raw), encoding="utf-8")


def test_two_imported_models_pair_by_example_in_bench_compare(tmp_path: Path, imported) -> None:
    from bench.pipeline import compare_run

    logs = _copy(tmp_path)
    _as_model(logs, "twin")
    other = import_run("lm-eval", logs, tmp_path / "out", statistics=FAST)
    table, _ = compare_run(imported.run_dir, "SmolLM2-135M-Instruct.Q4_1", "twin", run_dir_b=other.run_dir,
                           statistics=FAST)
    accuracy = table[(table["task"] == "mmlu") & (table["metric"] == "accuracy")]
    assert set(accuracy["domain_b"]) == {"abstract_algebra", "anatomy", "astronomy", "STEM", "other", "ALL"}
    assert (accuracy["difference"] == 0).all() and (accuracy["p_value"] == 1).all()
    assert int(accuracy.loc[accuracy["domain_b"] == "ALL", "n"].iloc[0]) == 18


def test_one_folder_with_two_models_is_one_run_with_both(tmp_path: Path) -> None:
    logs = _copy(tmp_path)
    twin = logs / "twin"
    shutil.copytree(_model_folder(logs), twin)
    (results,) = twin.glob("results_*.json")
    raw = json.loads(results.read_text(encoding="utf-8"))
    raw["config"]["model_args"]["gguf_file"] = "twin.gguf"
    results.write_text(json.dumps(raw), encoding="utf-8")
    done = import_run("lm-eval", logs, tmp_path / "out", statistics=FAST)
    assert set(done.imported.records["model"]) == {"SmolLM2-135M-Instruct.Q4_1", "twin"}
    assert set(done.leaderboard["model"]) >= {"SmolLM2-135M-Instruct.Q4_1", "twin"}


def test_logs_of_other_questions_are_refused_by_the_comparison(tmp_path: Path, imported) -> None:
    from bench.errors import StatisticsError
    from bench.pipeline import compare_run

    logs = _copy(tmp_path)
    _as_model(logs, "shifted")
    (samples,) = _model_folder(logs).glob("samples_mmlu_anatomy_*.jsonl")
    lines = [json.loads(line) for line in samples.read_text(encoding="utf-8").splitlines()]
    samples.write_text("".join(json.dumps(line | {"doc_id": line["doc_id"] + 3}) + "\n" for line in lines),
                       encoding="utf-8")
    other = import_run("lm-eval", logs, tmp_path / "out", statistics=FAST)
    with pytest.raises(StatisticsError, match=r"Models 'SmolLM2-135M-Instruct.Q4_1' and 'shifted' are not scored on "
                       r"the same examples of mmlu/mmlu/anatomy/test: 3 of 'SmolLM2-135M-Instruct.Q4_1''s are not "
                       r"'shifted''s and 3 the other way \(e.g. 'anatomy/test:1'\)"):
        compare_run(imported.run_dir, "SmolLM2-135M-Instruct.Q4_1", "shifted", run_dir_b=other.run_dir,
                    statistics=FAST)


def test_report_and_leaderboard_read_the_imported_folder(imported, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture) -> None:
    assert main(["report", str(imported.run_dir), "-o", str(tmp_path / "report.html")]) == 0
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "SmolLM2-135M-Instruct.Q4_1" in page and "abstract_algebra" in page
    assert main(["leaderboard", str(imported.run_dir), "--format", "csv"]) == 0
    assert "SmolLM2-135M-Instruct.Q4_1" in capsys.readouterr().out


def test_loglikelihood_rolling_tasks_are_language_modelling_with_lm_evals_bits_per_byte(tmp_path: Path) -> None:
    rolling = FIXTURE.parent / "lm_eval_rolling"  # made by the same script with --rolling
    done = import_run("lm-eval", rolling, tmp_path, statistics=FAST)
    (results_path,) = rolling.rglob("results_*.json")
    results = json.loads(results_path.read_text(encoding="utf-8"))["results"]
    metrics = done.scored.metrics
    for subject in ("abstract_algebra", "anatomy"):
        value = _value(metrics, "mmlu_text", subject, "bits_per_byte")
        assert value == pytest.approx(results[f"mmlu_text_{subject}"]["bits_per_byte,none"], rel=1e-12)
    info = done.scored.infos[("lm-eval", "mmlu_text")]
    assert (info.kind, info.primary_metric) == ("language_modeling", "bits_per_byte")
    assert metrics.loc[metrics["metric"] == "cross_entropy", "value"].isna().all()  # no token counts logged


def test_an_unknown_source_names_the_sources(tmp_path: Path) -> None:
    from bench.errors import UnknownNameError

    with pytest.raises(UnknownNameError, match="Unknown source 'lm_eval' to import; sources: lm-eval, inspect, helm."):
        import_run("lm_eval", FIXTURE, tmp_path)
