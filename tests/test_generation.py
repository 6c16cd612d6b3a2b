"""Generation tasks through the runner, the store and the CLI: requests, records,
``generations.jsonl``, decoding overrides, bad input, the cache and resumed runs, and the
two bring-your-own examples end to end."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sacrebleu

from bench.adapters import CallableAdapter
from bench.cli import main
from bench.data import load_suite_data
from bench.errors import AdapterError, ConfigError, DataError, SuiteError
from bench.pipeline import evaluate
from bench.runner import RunConfig, run
from bench.store import KILL_ENV, RunStore
from bench.suites import load_suite
from bench.suites.generation import Decoding
from bench.suites.render import build_generation_requests
from tests.conftest import REPO, SHARED_DATA
from tests.scoring.test_generation_metrics import metric_max_over_ground_truths, squad_exact_match_score

QA_SUITE = REPO / "examples" / "own-qa-generation" / "suite.toml"
TRANSLATION_SUITE = REPO / "examples" / "own-translation" / "suite.toml"
FAST = ["--resamples", "200", "--permutations", "200", "-q"]

TINY = """domains = ["a", "b"]
[suite]
name = "tiny-gen"
protocol = "zero_shot"
[source]
type = "table"
path = "rows.csv"
id_column = "id"
text_column = "question"
split_column = "split"
reference_columns = ["answer", "alt"]
[[tasks]]
name = "qa"
kind = "generation"
{extra}
"""


def tiny(tmp_path: Path, rows: str = "", extra: str = "") -> Path:
    rows = rows or ("id,domain,split,question,answer,alt\n"
                    "a1,a,test,Capital of France?,Paris,\na2,a,test,Capital of Italy?,Rome,the city of Rome\n"
                    "b1,b,test,Two plus two?,4,four\nb2,b,test,Largest planet?,Jupiter,\n")
    (tmp_path / "rows.csv").write_text(rows, encoding="utf-8")
    path = tmp_path / "tiny.toml"
    path.write_text(TINY.replace("{extra}", extra), encoding="utf-8")
    return path


def echo(calls: list[tuple[list[str], Decoding]] | None = None, answer: object = None) -> CallableAdapter:
    """Answers "Paris" to everything (or ``answer(prompts)``), recording each call."""
    def generate(prompts: list[str], decoding: Decoding) -> object:
        if calls is not None:
            calls.append((prompts, decoding))
        return answer(prompts) if callable(answer) else [" Paris"] * len(prompts)

    return CallableAdapter("echo", generate=generate)


# --- requests ------------------------------------------------------------------------------
def test_requests_are_rendered_like_multiple_choice_with_references(tmp_path: Path) -> None:
    suite = load_suite(tiny(tmp_path, extra='prompt = "Q: {question}\\nA:"\ndescription = "Answer.\\n\\n"'))
    data = load_suite_data(suite)
    task = suite.task("qa")
    built = build_generation_requests(data, task, {d: data.domains[d].test for d in suite.domains})
    first = built["a"][1]
    assert first.example_id == "a2" and first.references == ("Rome", "the city of Rome")
    assert first.prompt.text() == "Answer.\n\nQ: Capital of Italy?\nA:"
    assert task.decoding == Decoding() and task.answer_normalization == "squad" and task.default


def test_fewshot_exemplars_answer_with_their_first_reference(tmp_path: Path) -> None:
    rows = ("id,domain,split,question,answer,alt\nd1,a,dev,Capital of Spain?,Madrid,Madrid city\n"
            "a1,a,test,Capital of France?,Paris,\nd2,b,dev,One plus one?,2,two\nb1,b,test,Two plus two?,4,\n")
    suite = load_suite(tiny(tmp_path, rows, 'num_fewshot = 1\nfewshot_split = "dev"'))
    data = load_suite_data(suite)
    built = build_generation_requests(data, suite.task("qa"), {"a": data.domains["a"].test})
    assert built["a"][0].prompt.text() == "Question: Capital of Spain?\nAnswer: Madrid\n\nQuestion: Capital of France?\nAnswer:"


def test_a_missing_reference_fails_before_any_model_runs(tmp_path: Path) -> None:
    rows = "id,domain,split,question,answer,alt\na1,a,test,Capital of France?,Paris,\nb1,b,test,Two plus two?,,\n"
    calls: list[tuple[list[str], Decoding]] = []
    suite = tiny(tmp_path, rows)
    with pytest.raises(DataError, match=r"Suite 'tiny-gen', task 'qa', example 'b1': field 'references' is missing "
                                        r"or empty"):
        run(RunConfig(suites=(str(suite),), models=("tests.test_generation:_echo_factory",)))
    assert calls == []


def _echo_factory() -> CallableAdapter:
    return echo()


@pytest.mark.parametrize(("decoding", "message"), [
    ("stop = [\"\"]", r"'tasks\[0\]\.decoding\.stop\[0\]' must be a non-empty string, got a string ''\."),
    ("stop = [\"a\", \"a\"]", r"'tasks\[0\]\.decoding\.stop' must not repeat items; 'a' appears more than once\."),
    ("max_new_tokens = 0", r"'tasks\[0\]\.decoding\.max_new_tokens' must be an integer in \[1, 4096\], got an integer 0"),
    ("max_new_tokens = 100000", r"'tasks\[0\]\.decoding\.max_new_tokens' must be an integer in \[1, 4096\]"),
    ("top_p = 0", r"'tasks\[0\]\.decoding\.top_p' must be a number in \(0, 1\], got an integer 0\."),
    ("temperature = -1", r"'tasks\[0\]\.decoding\.temperature' must be a number in \[0, 100\]"),
    ("beam = 4", r"unknown key 'tasks\[0\]\.decoding\.beam'"),
])
def test_bad_decoding_tables_name_the_key(tmp_path: Path, decoding: str, message: str) -> None:
    with pytest.raises(SuiteError, match=message):
        load_suite(tiny(tmp_path, extra=f"[tasks.decoding]\n{decoding}"))


def test_decoding_keys_belong_to_generation_tasks(tmp_path: Path) -> None:
    text = TINY.replace('kind = "generation"', 'kind = "multiple_choice"').replace("{extra}", "[tasks.decoding]\nmax_new_tokens = 4")
    (tmp_path / "x.toml").write_text(text, encoding="utf-8")
    with pytest.raises(SuiteError, match=r"'tasks\[0\]\.decoding' is only allowed where 'tasks\[0\]\.kind' is generation"):
        load_suite(tmp_path / "x.toml")


# --- decoding overrides --------------------------------------------------------------------
@pytest.mark.parametrize(("override", "message"), [
    ({"max_new_tokens": 0}, r"'RunConfig\.max_new_tokens' \(--max-new-tokens\) must be an integer in \[1, 4096\], got an integer 0\."),
    ({"max_new_tokens": 10**6}, r"'RunConfig\.max_new_tokens' \(--max-new-tokens\) must be an integer in \[1, 4096\], got an integer 1000000"),
    ({"stop": ("",)}, r"'RunConfig\.stop\[0\]' \(--stop\) must be a non-empty string, got a string ''\."),
    ({"stop": "\n"}, r"'RunConfig\.stop' \(--stop\) must be an array of 0-16 items, each a non-empty string or None, got a str"),
    ({"temperature": -0.5}, r"'RunConfig\.temperature' \(--temperature\) must be a number in \[0, 100\], got a float -0\.5\."),
    ({"temperature": math.nan}, r"'RunConfig\.temperature' \(--temperature\) must be a number in \[0, 100\], got a float nan\."),
    ({"top_p": 0.0}, r"'RunConfig\.top_p' \(--top-p\) must be a number in \(0, 1\], got a float 0\.0\."),
    ({"top_p": 1.5}, r"'RunConfig\.top_p' \(--top-p\) must be a number in \(0, 1\], got a float 1\.5\."),
    ({"top_p": "high"}, r"'RunConfig\.top_p' \(--top-p\) must be a number in \(0, 1\] or None, got a string 'high'\."),
])
def test_bad_decoding_overrides_are_config_errors(override: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        RunConfig(**override)  # type: ignore[arg-type]


@pytest.mark.parametrize(("argv", "message"), [
    (["--max-new-tokens", "0"], "'RunConfig.max_new_tokens' (--max-new-tokens) must be an integer in [1, 4096], got an integer 0."),
    (["--stop", ""], "'RunConfig.stop[0]' (--stop) must be a non-empty string, got a string ''."),
    (["--temperature", "-1"], "'RunConfig.temperature' (--temperature) must be a number in [0, 100], got a float -1.0."),
    (["--top-p", "0"], "'RunConfig.top_p' (--top-p) must be a number in (0, 1], got a float 0.0."),
])
def test_bad_decoding_options_on_the_command_line(argv: list[str], message: str, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(tiny(tmp_path)), "--model", "tests.test_generation:_echo_factory", "--out",
                 str(tmp_path / "out"), *argv, *FAST]) != 0
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out" / "runs").exists() or not list((tmp_path / "out" / "runs").iterdir())


def test_overrides_reach_the_model_and_run_json(tmp_path: Path) -> None:
    suite = tiny(tmp_path, extra="[tasks.decoding]\nmax_new_tokens = 8\nstop = [\"\\n\"]")
    assert main(["run", str(suite), "--model", "tests.test_generation:_recording_factory", "--out", str(tmp_path / "o"),
                 "--max-new-tokens", "5", "--stop", "###", "--stop", "\n\n", "--temperature", "0.7", "--top-p", "0.9",
                 "--seed", "3", *FAST]) == 0
    expected = Decoding(max_new_tokens=5, stop=("###", "\n\n"), temperature=0.7, top_p=0.9, seed=3)
    assert RECORDED and all(decoding == expected for decoding in RECORDED)
    (run_dir,) = (tmp_path / "o" / "runs").iterdir()
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["config"]["max_new_tokens"] == 5 and meta["config"]["stop"] == ["###", "\n\n"]
    assert meta["decoding"]["tiny-gen/qa"] == {"max_new_tokens": 5, "stop": ["###", "\n\n"], "temperature": 0.7,
                                               "top_p": 0.9, "seed": 3}


RECORDED: list[Decoding] = []


def _recording_factory() -> CallableAdapter:
    def generate(prompts: list[str], decoding: Decoding) -> list[str]:
        RECORDED.append(decoding)
        return [" Paris"] * len(prompts)

    return CallableAdapter("recording", generate=generate)


# --- records and outputs -------------------------------------------------------------------
def test_records_hold_scores_and_generations_hold_the_text(tmp_path: Path) -> None:
    result = run(RunConfig(suites=(str(tiny(tmp_path)),), models=("tests.test_generation:_echo_factory",)))
    records = result.records.set_index("example_id")
    assert "generation" not in records.columns
    assert records.loc["a1", "correct"] == 1.0 and records.loc["a2", "correct"] == 0.0
    assert math.isnan(records.loc["a1", "target"]) and math.isnan(records.loc["a1", "prediction"])
    assert math.isnan(records.loc["a1", "nll"])  # a callable with generate only has no loglikelihood
    assert [c for c in records.columns if c.startswith("bleu_stat_")] == [f"bleu_stat_{k}" for k in range(10)]
    assert [c for c in records.columns if c.startswith("chrf_stat_")] == [f"chrf_stat_{k}" for k in range(18)]
    entries = {g["example_id"]: g for g in result.generations}
    assert entries["a2"]["generation"] == " Paris" and entries["a2"]["references"] == ["Rome", "the city of Rome"]
    assert entries["a1"]["prompt"] == "Question: Capital of France?\nAnswer:" and entries["a1"]["chrf"] == 100.0
    assert entries["a1"]["nll"] is None and entries["a1"]["exact_match"] == 1.0


def test_reference_loglikelihood_is_scored_where_the_model_has_one(tmp_path: Path) -> None:
    result = run(RunConfig(suites=(str(tiny(tmp_path)),), models=("tests.generation_models:qa_with_loglikelihood",)))
    records = result.records.set_index("example_id")
    # −0.5 nats per character of " " + the first reference
    assert records.loc["a2", "nll"] == pytest.approx(0.5 * len(" Rome")) and records.loc["a2", "ref_bytes"] == 5


@pytest.mark.parametrize(("answer", "message"), [
    (lambda p: [" Paris"] * (len(p) - 1), r"generate returned 1 answers for 2 requests"),
    (lambda p: "Paris", r"generate must return a list of 2 strings, got str"),
    (lambda p: [" Paris", None], r"example 'a2': field 'generation' must be a string, got NoneType"),
])
def test_invalid_generations_name_model_task_domain_and_example(answer: object, message: str, tmp_path: Path) -> None:
    global BAD_ANSWER
    BAD_ANSWER = answer
    with pytest.raises(AdapterError, match=r"model 'echo', tiny-gen/qa/a, examples 0-1: " + message):
        run(RunConfig(suites=(str(tiny(tmp_path)),), models=("tests.test_generation:_bad_factory",)))


BAD_ANSWER: object = None


def _bad_factory() -> CallableAdapter:
    return echo(answer=BAD_ANSWER)


def test_opt_in_tasks_run_only_when_named(tmp_path: Path) -> None:
    suite = tiny(tmp_path, extra="default = false")
    with pytest.raises(Exception, match="supports none of the tasks"):
        run(RunConfig(suites=(str(suite),), models=("tests.test_generation:_echo_factory",)))
    named = run(RunConfig(suites=(str(suite),), models=("tests.test_generation:_echo_factory",), tasks=("qa",)))
    assert set(named.records["task"]) == {"qa"}


def test_plain_mmlu_runs_only_the_loglikelihood_task() -> None:
    suite = load_suite("mmlu")
    assert [t.name for t in suite.tasks if t.default] == ["mmlu"]
    generative = suite.task("mmlu_generative")
    assert generative.kind == "generation" and generative.decoding.stop == ("</s>", "\n")
    assert generative.answer_normalization == "ignore_case_punctuation"


@pytest.mark.skipif(not (SHARED_DATA / "mmlu").is_dir(), reason="MMLU data not present")
def test_mmlu_generative_prompt_is_lm_evals_and_the_letter_is_scored(tmp_path: Path) -> None:
    calls: list[tuple[list[str], Decoding]] = []
    global MMLU_CALLS
    MMLU_CALLS = calls
    result = run(RunConfig(suites=("mmlu",), models=("tests.test_generation:_letter_factory",),
                           tasks=("mmlu_generative",), limit=1, data_dir=str(SHARED_DATA)))
    assert len(result.records) == 57 and set(result.records["task"]) == {"mmlu_generative"}
    entry = next(g for g in result.generations if g["domain"] == "abstract_algebra")
    prompt = entry["prompt"]
    assert prompt.startswith("The following are multiple choice questions (with answers) about abstract algebra.\n\n")
    assert prompt.endswith("\nA. 0\nB. 4\nC. 2\nD. 6\nAnswer:")
    # " b" is the letter B once case and whitespace are ignored (lm-eval's filters and exact_match)
    assert entry["references"] == ["B"] and entry["exact_match"] == 1.0
    assert result.records["correct"].mean() == pytest.approx(np.mean([g["references"] == ["B"] for g in result.generations]))


MMLU_CALLS: list[tuple[list[str], Decoding]] = []


def _letter_factory() -> CallableAdapter:
    return CallableAdapter("letter-b", generate=lambda prompts, decoding: [" b"] * len(prompts))


# --- store: cache and resume ---------------------------------------------------------------
COUNT: list[int] = []


def _counting_factory() -> CallableAdapter:
    def generate(prompts: list[str], decoding: Decoding) -> list[str]:
        COUNT.append(len(prompts))
        return [f" answer {len(p) % 7}" for p in prompts]

    return CallableAdapter("counting-gen", generate=generate)


def test_a_cached_rerun_generates_nothing(tmp_path: Path) -> None:
    COUNT.clear()
    config = RunConfig(suites=(str(QA_SUITE),), models=("tests.test_generation:_counting_factory",), batch_size=16)
    first = evaluate(config, tmp_path / "out", save_models=False)
    assert first is not None and sum(COUNT) == 66
    COUNT.clear()
    second = evaluate(config, tmp_path / "out", save_models=False, new=True)
    assert second is not None and COUNT == [] and second.cache_hits == 66
    texts = [(first.run_dir / "generations.jsonl").read_text(), (second.run_dir / "generations.jsonl").read_text()]
    assert [json.loads(line)["generation"] for line in texts[0].splitlines()] == \
           [json.loads(line)["generation"] for line in texts[1].splitlines()]


def _bench(args: list[str], out: Path, kill_at: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop(KILL_ENV, None)
    if kill_at:
        env[KILL_ENV] = kill_at
    return subprocess.run([sys.executable, "-m", "bench", "run", *args, "--out", str(out)], env=env,
                          capture_output=True, text=True, timeout=600)


def test_generated_text_survives_a_killed_and_resumed_run(tmp_path: Path) -> None:
    args = [str(QA_SUITE), "--model", "tests.generation_models:qa", "--batch-size", "8", "--no-cache", *FAST]
    assert _bench(args, tmp_path / "ref").returncode == 0
    killed = _bench(args, tmp_path / "out", kill_at="batch:4")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    store = RunStore(tmp_path / "out")
    (info,) = store.runs()
    store.close()
    assert 0 < info.batches < 9  # 66 examples in batches of 8: 9 batches, some of them stored
    resumed_run = _bench(["--resume", info.run_id, "--no-cache", *FAST], tmp_path / "out")
    assert resumed_run.returncode == 0, resumed_run.stderr
    (ref,), (resumed,) = (tmp_path / "ref" / "runs").iterdir(), (tmp_path / "out" / "runs").iterdir()
    lines = [[json.loads(x) for x in (d / "generations.jsonl").read_text().splitlines()] for d in (ref, resumed)]
    assert len(lines[0]) == 66 and lines[0] == lines[1]
    pd.testing.assert_frame_equal(pd.read_csv(ref / "records.csv.gz").drop(columns="run_id"),
                                  pd.read_csv(resumed / "records.csv.gz").drop(columns="run_id"))


# --- the bring-your-own examples through the CLI --------------------------------------------
def _cli_run(suite: Path, model: str, out: Path) -> Path:
    done = subprocess.run([sys.executable, "-m", "bench", "run", str(suite), "--model", model, "--out", str(out),
                           *FAST], env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    (run_dir,) = (out / "runs").iterdir()
    return run_dir


def _generations(run_dir: Path) -> pd.DataFrame:
    return pd.DataFrame([json.loads(line) for line in (run_dir / "generations.jsonl").read_text().splitlines()])


def test_own_qa_example_end_to_end(tmp_path: Path) -> None:
    run_dir = _cli_run(QA_SUITE, "tests.generation_models:qa", tmp_path / "out")
    metrics = pd.read_csv(run_dir / "metrics.csv").set_index(["domain", "metric"])
    written = _generations(run_dir)
    assert len(written) == 66 and set(written["domain"]) == {"geography", "medicine", "computing"}
    for domain, part in written.groupby("domain"):
        em = np.mean([metric_max_over_ground_truths(squad_exact_match_score, g, r)
                      for g, r in zip(part["generation"], part["references"], strict=True)])
        assert metrics.loc[(domain, "exact_match"), "value"] == pytest.approx(em, abs=1e-12)
        streams = [[refs[k] if k < len(refs) else None for refs in part["references"]] for k in range(2)]
        chrf = sacrebleu.corpus_chrf(list(part["generation"]), streams).score
        assert metrics.loc[(domain, "chrf"), "value"] == pytest.approx(chrf, abs=1e-9)
    assert metrics.loc[("geography", "exact_match"), "value"] > metrics.loc[("medicine", "exact_match"), "value"]
    records = pd.read_csv(run_dir / "records.csv.gz")
    assert "generation" not in records.columns and len(records) == 66
    # bench score recomputes the same tables from the records alone
    before = pd.read_csv(run_dir / "metrics.csv")
    assert main(["score", str(run_dir), "--resamples", "200", "--permutations", "200"]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(run_dir / "metrics.csv"), before)


def test_own_translation_example_end_to_end(tmp_path: Path) -> None:
    run_dir = _cli_run(TRANSLATION_SUITE, "tests.generation_models:translator", tmp_path / "out")
    metrics = pd.read_csv(run_dir / "metrics.csv").set_index(["domain", "metric"])
    written = _generations(run_dir)
    assert len(written) == 40
    for domain, part in written.groupby("domain"):
        refs = list(part["references"])
        streams = [[r[k] if k < len(r) else None for r in refs] for k in range(2)]
        hyps = list(part["generation"])
        assert metrics.loc[(domain, "chrf"), "value"] == pytest.approx(
            sacrebleu.corpus_chrf(hyps, streams).score, abs=1e-9)
        assert metrics.loc[(domain, "bleu"), "value"] == pytest.approx(
            sacrebleu.corpus_bleu(hyps, streams).score, abs=1e-9)


def test_a_generation_run_without_sacrebleu_fails_in_one_line_naming_the_install(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from bench import textscores

    monkeypatch.setitem(sys.modules, "sacrebleu", None)  # import sacrebleu raises ImportError
    monkeypatch.setitem(sys.modules, "sacrebleu.metrics", None)
    textscores._sacrebleu.cache_clear()
    try:
        code = main(["run", str(tiny(tmp_path)), "--model", "tests.test_generation:_echo_factory",
                     "--out", str(tmp_path / "out"), *FAST])
    finally:
        textscores._sacrebleu.cache_clear()
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert err == f"error: {textscores.SACREBLEU_MISSING}"
    assert "pip install 'sacrebleu>=2.3'" in err
