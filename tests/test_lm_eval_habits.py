"""lm-evaluation-harness users' habits: its flags that mean what an xdbench flag means are
accepted, and ``--tasks`` / ``--model_args`` are answered with the xdbench command (which
works when pasted)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from bench.cli import LM_EVAL_ALIASES, _subcommands, build_parser, lm_eval_suggestion, main

FAST = ["--resamples", "200", "--permutations", "200", "-q"]


def test_every_alias_names_a_flag_of_bench_run() -> None:
    run = dict(_subcommands(build_parser()))["run"]
    flags = {flag for action in run._actions for flag in action.option_strings}
    assert set(LM_EVAL_ALIASES.values()) <= flags


def test_lm_eval_spellings_run_as_xdbench_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--limit", "6", "--model", "majority", "--num_fewshot", "0", "--batch_size=4",
                 "--output_path", "lm-out", "--log_samples", *FAST]) == 0
    (run_dir,) = (tmp_path / "lm-out" / "runs").iterdir()
    config = json.loads((run_dir / "run.json").read_text())["config"]
    assert (config["num_fewshot"], config["batch_size"], config["log_samples"]) == (0, 4, True)
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize(("argv", "expected"), [
    (["run", "--tasks", "mmlu"], "bench run mmlu"),
    (["run", "--tasks=mmlu,uci-sentiment", "--limit", "5"], "bench run mmlu uci-sentiment --limit 5"),
    (["run", "--tasks", "mmlu", "--model", "hf", "--model_args", "pretrained=HuggingFaceTB/SmolLM2-135M,dtype=bfloat16",
      "--num-fewshot", "5"],
     "bench run mmlu --num-fewshot 5 --model 'hf-causal-lm:HuggingFaceTB/SmolLM2-135M?dtype=bfloat16'"),
    (["run", "mmlu", "--model_args=pretrained=/models/x"], "bench run mmlu --model hf-causal-lm:/models/x"),
    (["run", "--tasks", "mmlu_anatomy,mmlu_abstract_algebra"], "bench run mmlu --domain anatomy --domain abstract_algebra"),
    (["run", "--tasks", "mmlu_social_sciences"], "bench run mmlu --domain 'social sciences'"),
    (["run", "--tasks", "mmlu_generative"], "bench run mmlu --task mmlu_generative"),
    (["run", "mmlu", "--limit", "5"], None),
    (["score", "--tasks", "x"], None),
])
def test_tasks_and_model_args_get_the_xdbench_command(argv: list[str], expected: str | None) -> None:
    assert lm_eval_suggestion(argv) == expected


def test_the_suggestion_is_one_line_and_works_when_pasted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "out")
    assert main(["run", "--tasks", "toy-reviews", "--model", "majority", "--limit", "5", "--output_path", out,
                 *FAST]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "lm-evaluation-harness" in err
    command = err.split("did you mean: ", 1)[1]
    assert command == f"bench run toy-reviews --model majority --limit 5 --out {out} {' '.join(FAST)}"
    assert main(shlex.split(command)[1:]) == 0
    assert (tmp_path / "out" / "leaderboard.csv").is_file()


def test_a_progress_line_is_written_while_each_model_loads() -> None:
    import io

    from bench.cli import progress_lines
    from bench.runner import RunConfig, run

    stream = io.StringIO()
    run(RunConfig(models=("majority", "uniform"), limit=5), progress=progress_lines(stream))
    lines = stream.getvalue().splitlines()
    for name in ("majority", "uniform"):
        start = lines.index(f"progress: loading model {name}: 0/1 (0%)")
        assert re.fullmatch(rf"progress: loading model {name}: 1/1 \(100%\) done in \d+\.\d s", lines[start + 1])
    assert lines.index("progress: loading model majority: 0/1 (0%)") < min(
        k for k, line in enumerate(lines) if "training" in line)
