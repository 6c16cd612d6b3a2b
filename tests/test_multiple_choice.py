"""Multiple-choice tasks end to end: requests, records, metrics, few-shot, options, bad input."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import log_softmax, softmax
from sklearn.metrics import log_loss

from bench.adapters import CallableAdapter, make_model
from bench.cli import main
from bench.data import load_suite_data
from bench.errors import AdapterError, DataError, IgnoredOptionWarning, SuiteError
from bench.pipeline import evaluate, rescore_run_folder
from bench.runner import RunConfig, run
from bench.scoring.metrics import get_metric
from bench.scoring.options import StatisticsOptions
from bench.scoring.tables import TaskInfo, task_columns
from bench.suites import Example, load_suite
from bench.suites.prompts import PromptFormat
from bench.suites.render import check_choice_example, render_template
from bench.suites.types import Suite, Task

ROWS = """id,domain,split,title,body,a,b,c,d,answer
g1,geo,dev,Capitals,What is the capital of France?,Paris,Rome,Berlin,Madrid,A
g2,geo,dev,Capitals,What is the capital of Spain?,Paris,Rome,Berlin,Madrid,D
g3,geo,test,Capitals,What is the capital of Italy?,Paris,Rome,Berlin,Madrid,1
g4,geo,test,Rivers,Which river flows through Cairo?,Nile,Danube,,,Nile
g5,geo,test,Rivers,Which river flows through Vienna?,Nile,Danube,Seine,,B
m1,math,dev,Sums,What is 2 + 2?,3,4,5,,B
m2,math,dev,Sums,What is 1 + 1?,2,3,,,A
m3,math,test,Sums,What is 3 + 4?,6,7,8,9,1
m4,math,test,Products,What is 3 * 3?,6,9,,,9
m5,math,test,Products,What is 2 * 5?,10,12,7,,0
"""

SUITE = """
domains = ["geo", "math"]

[suite]
name = "tiny-qa"
version = "1"
description = "Questions with a title and a body, one column per option."
protocol = "zero_shot"

[source]
type = "table"
path = "qa.csv"
id_column = "id"
split_column = "split"
text_template = "{{title}}: {{body}}"
option_columns = ["a", "b", "c", "d"]
columns = {{ qa = "answer" }}

[[tasks]]
name = "qa"
kind = "multiple_choice"
description = "Questions about {{domain}}.\\n\\n"
fewshot_split = "dev"
{extra}
"""


def _write(folder: Path, rows: str = ROWS, extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "qa.csv").write_text(rows, encoding="utf-8")
    path = folder / "suite.toml"
    path.write_text(SUITE.format(extra=extra), encoding="utf-8")
    return path


def _lengths(contexts: list[str], continuations: list[tuple[str, ...]]) -> list[np.ndarray]:
    """A deterministic 'model': prefers short continuations, with a context-dependent wobble."""
    return [-np.array([len(c) + 0.1 * ((len(x) + j) % 5) for j, c in enumerate(conts)]) - 0.5
            for x, conts in zip(contexts, continuations, strict=True)]


def lengths_model() -> CallableAdapter:
    return CallableAdapter("lengths", loglikelihood=_lengths)


SEEN: list[list[str]] = []


def _recording(contexts: list[str], continuations: list[tuple[str, ...]]) -> list[np.ndarray]:
    SEEN.append(list(contexts))
    return _lengths(contexts, continuations)


def recording_model() -> CallableAdapter:
    return CallableAdapter("recording", loglikelihood=_recording)


@pytest.fixture
def qa_suite(tmp_path: Path) -> Path:
    return _write(tmp_path)


def test_records_hold_every_option_and_the_scores_follow_from_them(qa_suite: Path) -> None:
    result = run(RunConfig(suites=(str(qa_suite),), models=("tests.test_multiple_choice:lengths_model",)))
    r = result.records.set_index("example_id")
    assert list(r.index) == ["g3", "g4", "g5", "m3", "m4", "m5"]
    assert r["n_options"].tolist() == [4, 2, 3, 4, 2, 3]
    assert r["target"].tolist() == [1, 0, 1, 1, 1, 0]
    logprob = r[[f"logprob_{k}" for k in range(4)]].to_numpy()
    assert np.isnan(logprob[1, 2:]).all() and np.isnan(logprob[2, 3])
    for row, lp in zip(r.itertuples(), logprob, strict=True):
        own = lp[: row.n_options]
        assert row.prediction == int(np.argmax(own)) and row.correct == int(row.prediction == row.target)
        assert math.isclose(row.nll, -log_softmax(own)[row.target], rel_tol=1e-12)
    assert r.loc["g4", "chars_0"] == 1 and r.loc["g4", "bytes_1"] == 1 and np.isnan(r.loc["g4", "chars_2"])


def test_metrics_match_independent_computations(qa_suite: Path) -> None:
    records = run(RunConfig(suites=(str(qa_suite),), models=("tests.test_multiple_choice:lengths_model",))).records
    columns = task_columns(records, TaskInfo("multiple_choice", (), ("geo", "math"), ()))
    logprob = records[[f"logprob_{k}" for k in range(4)]].to_numpy()
    probs = np.vstack([np.pad(softmax(lp[~np.isnan(lp)]), (0, int(np.isnan(lp).sum()))) for lp in logprob])
    np.testing.assert_allclose(columns["probs"], probs, rtol=1e-12)
    target = records["target"].to_numpy()
    value = {m: get_metric("multiple_choice", m).compute(columns) for m in ("cross_entropy", "brier", "accuracy")}
    assert math.isclose(value["cross_entropy"], log_loss(target, probs, labels=[0, 1, 2, 3]), rel_tol=1e-9)
    assert math.isclose(value["brier"], np.mean(((probs - np.eye(4)[target]) ** 2).sum(axis=1)), rel_tol=1e-12)
    assert value["accuracy"] == records["correct"].mean()
    chars = records[[f"chars_{k}" for k in range(4)]].to_numpy()
    by_char = np.where(np.isnan(logprob), -np.inf, logprob / chars).argmax(axis=1)
    assert get_metric("multiple_choice", "acc_norm").compute(columns) == np.mean(by_char == target)


def test_a_run_folder_can_be_rescored_from_its_records_alone(qa_suite: Path, tmp_path: Path) -> None:
    done = evaluate(RunConfig(suites=(str(qa_suite),), models=("tests.test_multiple_choice:lengths_model",),
                              num_fewshot=1), tmp_path / "out", save_models=False)
    again = rescore_run_folder(done.run_dir, options=StatisticsOptions(resamples=200, permutations=100))
    names = set(done.scored.metrics["metric"])
    assert {"accuracy", "acc_norm", "acc_bytes", "cross_entropy", "brier", "ece", "ece_equal_mass"} <= names
    first = done.scored.metrics.set_index(["domain", "metric"])["value"]
    second = again.metrics.set_index(["domain", "metric"])["value"]
    pd.testing.assert_series_equal(first.sort_index(), second.sort_index())
    meta = json.loads((done.run_dir / "run.json").read_text())
    assert meta["config"]["num_fewshot"] == 1


def test_fewshot_exemplars_come_first_n_from_the_named_split_for_every_model(qa_suite: Path) -> None:
    SEEN.clear()
    run(RunConfig(suites=(str(qa_suite),), models=("tests.test_multiple_choice:recording_model",), num_fewshot=2))
    geo = SEEN[0][0]
    assert geo.startswith("Questions about geo.\n\nCapitals: What is the capital of France?\nA. Paris\n")
    assert "Answer: A\n\nCapitals: What is the capital of Spain?" in geo and "Answer: D\n\nCapitals: What is the capital of Italy?" in geo
    assert geo.endswith("Capitals: What is the capital of Italy?\nA. Paris\nB. Rome\nC. Berlin\nD. Madrid\nAnswer:")
    assert all(c.count("Answer: ") == 2 for contexts in SEEN for c in contexts)  # the 2 exemplars, never a test row
    first = list(SEEN)
    SEEN.clear()
    run(RunConfig(suites=(str(qa_suite),), models=("tests.test_multiple_choice:recording_model",), num_fewshot=2))
    assert SEEN == first


def test_random_sampler_is_seeded_and_never_uses_the_test_split(tmp_path: Path) -> None:
    suite = load_suite(str(_write(tmp_path, extra='fewshot_sampler = "random"')))
    data = load_suite_data(suite)
    from bench.suites.render import fewshot_pool

    picks = {seed: [ex.id for ex in fewshot_pool(data, suite.tasks[0], "geo", 1, seed)] for seed in range(8)}
    assert picks[0] == [ex.id for ex in fewshot_pool(data, suite.tasks[0], "geo", 1, 0)]
    assert {i for ids in picks.values() for i in ids} == {"g1", "g2"}


def test_log_samples_writes_what_the_model_saw(qa_suite: Path, tmp_path: Path) -> None:
    done = evaluate(RunConfig(suites=(str(qa_suite),), models=("tests.test_multiple_choice:lengths_model",),
                              log_samples=True, num_fewshot=1), tmp_path / "out", save_models=False)
    lines = [json.loads(line) for line in (done.run_dir / "samples.jsonl").read_text().splitlines()]
    assert len(lines) == 6
    sample = next(s for s in lines if s["example_id"] == "g4")
    assert sample["prompt"] == ("Questions about geo.\n\nCapitals: What is the capital of France?\nA. Paris\nB. Rome\n"
                                "C. Berlin\nD. Madrid\nAnswer: A\n\nRivers: Which river flows through Cairo?\n"
                                "A. Nile\nB. Danube\nAnswer:")
    assert sample["continuations"] == [" A", " B"]
    row = done.result.records.set_index("example_id").loc["g4"]
    assert sample["loglikelihoods"] == [row["logprob_0"], row["logprob_1"]]
    assert (sample["target"], sample["prediction"], sample["domain"]) == (0, int(row["prediction"]), "geo")


class _Templated(CallableAdapter):
    def rendered_prompt(self, prompt):  # a chat-templating adapter shows its own string
        return f"<user>{prompt.text()}</user>"


def templated_model() -> CallableAdapter:
    return _Templated("templated", loglikelihood=_lengths)


def test_log_samples_use_the_adapters_rendered_prompt(qa_suite: Path) -> None:
    result = run(RunConfig(suites=(str(qa_suite),), models=("tests.test_multiple_choice:templated_model",),
                           log_samples=True))
    assert all(s["prompt"].startswith("<user>Questions about") for s in result.samples)


def test_limit_takes_the_same_first_questions_per_domain(qa_suite: Path) -> None:
    result = run(RunConfig(suites=(str(qa_suite),), models=("tests.test_multiple_choice:lengths_model",), limit=2))
    assert result.records["example_id"].tolist() == ["g3", "g4", "m3", "m4"]


def test_run_json_records_domain_groups(tmp_path: Path) -> None:
    suite = load_suite("mmlu")
    from bench.runner import _task_info

    info = _task_info(suite, suite.tasks[0])
    assert info.domain_groups["abstract_algebra"] == "STEM" and len(info.domain_groups) == 57


# --- bad input: one clear error before any model runs, and no run folder --------------------
def _task(style: str = "cloze") -> Task:
    return Task("qa", "multiple_choice", format=PromptFormat(style=style))


def _suite() -> Suite:
    return Suite("s", "1", "", (_task(),), ("d",), (), {"type": "table"})


@pytest.mark.parametrize(("options", "target", "message"), [
    (("only",), 0, r"example 'e1': a multiple-choice example needs at least 2 options, got 1"),
    ((), 0, r"example 'e1': a multiple-choice example needs at least 2 options, got 0"),
    (("a", " "), 0, r"example 'e1': option 1 is empty"),
    (("a", "b", "a"), 0, r"example 'e1': option 2 \('a'\) duplicates option 0"),
    (("a", "b"), 2, r"example 'e1': target 2 is outside the options 0-1"),
    (("a", "b"), -1, r"example 'e1': target -1 is outside the options 0-1"),
])
def test_bad_options_and_targets_are_named(options: tuple[str, ...], target: int, message: str) -> None:
    example = Example("e1", "d", "q?", {"qa": target}, "test", options)
    with pytest.raises(DataError, match=rf"Suite 's', task 'qa', {message}"):
        check_choice_example(_suite(), _task(), example)


def test_equal_texts_under_distinct_letters_are_allowed() -> None:
    example = Example("e1", "d", "q?", {"qa": 0}, "test", ("687", "687", "1,493"))
    assert check_choice_example(_suite(), _task("letter"), example) == 0


def test_a_template_field_the_example_lacks_is_named() -> None:
    with pytest.raises(SuiteError, match=r"here: the template names field \{subject\}, which the example lacks. "
                                         r"Available: domain, options, text"):
        render_template("{subject}: {text}", {"text": "t", "domain": "d", "options": []}, "here")
    with pytest.raises(SuiteError, match=r"an option index beyond the example's 2 options"):
        render_template("{options[3]}", {"options": ["a", "b"]}, "here")


def _no_folder(out: Path) -> bool:
    runs = out / "runs"
    return not runs.exists() or not [p for p in runs.iterdir() if not p.name.startswith(".")]


def test_cli_errors_before_any_model_runs_and_leaves_no_run_folder(tmp_path: Path, capsys) -> None:
    model = "tests.test_multiple_choice:recording_model"
    cases = [
        (_write(tmp_path / "a", extra='prompt = "{question}\\n{option_list}\\nAnswer:"'), [],
         r"example 'g3' \(template\): the template names field \{question\}"),
        (_write(tmp_path / "b"), ["--num-fewshot", "3"],
         r"domain 'geo': --num-fewshot 3 is larger than its few-shot split 'dev', which has 2 examples"),
        (_write(tmp_path / "c", ROWS.replace("Nile,Danube,,,Nile", "Nile,Danube,,,Seine")), [],
         r"target 'Seine' of task 'qa' is none of the row's 2 options"),
        (_write(tmp_path / "d", ROWS.replace(",6,9,,,9", ",6,,,,0")), [],
         r"example 'm4': a multiple-choice example needs at least 2 options, got 1"),
        (_write(tmp_path / "e"), ["--device", "gpu"], r"'RunConfig\.device' \(--device\) must be one of cpu, cuda, cuda:N, mps; got 'gpu'\."),
        (_write(tmp_path / "f"), ["--dtype", "fp8"], r"'RunConfig\.dtype' \(--dtype\) must be one of float32, bfloat16, float16, auto; got 'fp8'\."),
    ]
    for i, (suite, flags, message) in enumerate(cases):
        (tmp_path / str(i)).mkdir()
        SEEN.clear()
        out = tmp_path / str(i) / "out"
        assert main(["run", str(suite), "--model", model, "--out", str(out), "-q", *flags]) == 2
        err = capsys.readouterr().err
        assert pytest.approx(0) == len(SEEN) and __import__("re").search(message, err), (message, err)
        assert _no_folder(out)


def test_fewshot_without_a_split_is_a_suite_error(tmp_path: Path) -> None:
    path = _write(tmp_path, extra="num_fewshot = 2")
    path.write_text(path.read_text().replace('fewshot_split = "dev"\n', ""))
    with pytest.raises(SuiteError, match=r"'tasks\[0\].num_fewshot' = 2 needs 'tasks\[0\].fewshot_split'"):
        load_suite(str(path))
    path.write_text(path.read_text().replace("num_fewshot = 2", 'fewshot_split = "test"'))
    with pytest.raises(SuiteError, match=r"'tasks\[0\].fewshot_split' cannot be 'test'"):
        load_suite(str(path))


def test_format_keys_only_on_multiple_choice_tasks(tmp_path: Path) -> None:
    text = '[suite]\nname="x"\n[source]\ntype="toy-reviews"\n[[tasks]]\nname="s"\nkind="classification"\n' \
           'choices=["a","b"]\nnum_fewshot=1\n\ndomains=["a","b"]\n'
    (tmp_path / "x.toml").write_text(text.replace('\n\ndomains=["a","b"]\n', "\n").replace("[suite]", 'domains=["a","b"]\n[suite]'))
    with pytest.raises(SuiteError, match=r"'tasks\[0\]\.num_fewshot' is only allowed where 'tasks\[0\]\.kind' is multiple_choice or generation "
                                        r"\(here it is 'classification'\)"):
        load_suite(str(tmp_path / "x.toml"))


# --- adapter outputs ----------------------------------------------------------------------
@pytest.mark.parametrize(("output", "message"), [
    (lambda c, k: _lengths(c, k)[:-1], r"loglikelihood must return one array per request \(3\), got 2"),
    (lambda c, k: [np.zeros(len(x) + 1) for x in k], r"example 'g3': loglikelihood returned shape \(5,\), expected \(4,\)"),
    (lambda c, k: [np.full(len(x), np.nan) for x in k], r"example 'g3': loglikelihood returned a non-finite value"),
    (lambda c, k: [np.full(len(x), 0.5) for x in k], r"example 'g3': loglikelihood returned a positive value"),
])
def test_invalid_loglikelihoods_name_model_suite_and_example(qa_suite: Path, output, message: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(__import__(__name__, fromlist=["x"]), "BAD_OUTPUT", output)
    with pytest.raises(AdapterError, match=rf"model 'bad-mc', tiny-qa/qa/geo, examples 0-2.*{message}"):
        run(RunConfig(suites=(str(qa_suite),), models=("tests.test_multiple_choice:bad_model",)))


BAD_OUTPUT = _lengths


def bad_model() -> CallableAdapter:
    return CallableAdapter("bad-mc", loglikelihood=lambda c, k: BAD_OUTPUT(c, k))


# --- model options: --device, --dtype, --apply-chat-template ------------------------------
def options_factory(device: str = "auto", dtype: str = "auto", apply_chat_template: bool = False) -> CallableAdapter:
    return CallableAdapter(f"opts-{device}-{dtype}-{apply_chat_template}", loglikelihood=_lengths)


def test_options_reach_the_factory_and_run_json(qa_suite: Path, tmp_path: Path) -> None:
    adapter = make_model("tests.test_multiple_choice:options_factory",
                         options={"device": "cuda:1", "dtype": "bfloat16", "apply_chat_template": True})
    assert adapter.name == "opts-cuda:1-bfloat16-True"
    spec_wins = make_model("tests.test_multiple_choice:options_factory?dtype=float16", options={"dtype": "bfloat16"})
    assert spec_wins.name == "opts-auto-float16-False"
    done = evaluate(RunConfig(suites=(str(qa_suite),), models=("tests.test_multiple_choice:options_factory",),
                              device="cpu", dtype="float32", apply_chat_template=True), tmp_path, save_models=False)
    config = json.loads((done.run_dir / "run.json").read_text())["config"]
    assert (config["device"], config["dtype"], config["apply_chat_template"]) == ("cpu", "float32", True)
    assert done.result.records["model"].iloc[0] == "tests.test_multiple_choice:options_factory"


def test_options_a_model_does_not_take_are_ignored_with_one_note() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # trainable baselines ignore device and dtype silently
        assert make_model("majority", options={"device": "cuda", "dtype": "float16"}).name
    with pytest.warns(IgnoredOptionWarning, match=r"Model 'majority' does not take --apply-chat-template; built "
                                                  r"without it") as caught:
        assert make_model("majority", options={"apply_chat_template": True}).name == "majority"
    assert len(caught) == 1
    with pytest.warns(IgnoredOptionWarning, match=r"Model 'uniform' does not take --device, --dtype; built without it"):
        make_model("uniform", options={"device": "cpu", "dtype": "bfloat16"})
    with pytest.warns(IgnoredOptionWarning, match=r"Model 'tests.test_multiple_choice:recording_model' does not take "
                                                  r"--device"):
        make_model("tests.test_multiple_choice:recording_model", options={"device": "cpu"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make_model("uniform", options={"device": "cpu"}, note_ignored=False)


def test_device_with_the_default_models_runs_with_one_note(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--device", "cpu", "--dtype", "float32", "--limit", "10", "--out", str(tmp_path),
                 "--resamples", "200", "--permutations", "200"]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if "IgnoredOptionWarning" in line]
    assert notes == ["warning: 1 × IgnoredOptionWarning: Model 'uniform' does not take --device, --dtype; built "
                     "without it (it applies to language models such as hf-causal-lm and smollm2-135m)."]


def test_bundled_uci_sentiment_uses_lm_evals_prompt() -> None:
    task = load_suite("uci-sentiment").tasks[0]
    assert task.prompt == "Review: {text}\nSentiment:"
    assert task.continuations == (" negative", " positive")


def test_the_own_qa_example_runs_and_renders_as_documented() -> None:
    example = Path(__file__).resolve().parent.parent / "examples" / "own-qa" / "suite.toml"
    result = run(RunConfig(suites=(str(example),), models=("tests.test_multiple_choice:lengths_model",),
                           log_samples=True))
    prompts = {s["example_id"]: s for s in result.samples}
    assert prompts["q3"]["prompt"] == ("Questions about geo.\n\nCapitals: What is the capital of France?\nA. Paris\n"
                                       "B. Rome\nC. Berlin\nD. Madrid\nAnswer: A\n\nRivers: Which river flows "
                                       "through Cairo?\nA. Nile\nB. Danube\nAnswer:")
    assert prompts["q3"]["continuations"] == [" A", " B"] and len(result.records) == 4


def test_cli_flags_are_recorded_in_run_json(qa_suite: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["run", str(qa_suite), "--model", "tests.test_multiple_choice:options_factory", "--out", str(out),
                 "-q", "--num-fewshot", "1", "--log-samples", "--device", "cuda:0", "--dtype", "bfloat16",
                 "--apply-chat-template"]) == 0
    (run_dir,) = [p for p in (out / "runs").iterdir() if not p.name.startswith(".")]
    config = json.loads((run_dir / "run.json").read_text())["config"]
    assert {k: config[k] for k in ("num_fewshot", "log_samples", "device", "dtype", "apply_chat_template")} == {
        "num_fewshot": 1, "log_samples": True, "device": "cuda:0", "dtype": "bfloat16", "apply_chat_template": True}
    assert (run_dir / "samples.jsonl").is_file()
    fingerprints = json.loads((run_dir / "run.json").read_text())["fingerprints"]
    assert any(v.startswith("opts-cuda:0-bfloat16-True") for v in fingerprints.values())
