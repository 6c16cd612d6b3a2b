from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from bench import __version__
from bench.cli import main


def test_version_and_module_entry_point() -> None:
    done = subprocess.run([sys.executable, "-m", "bench", "--version"], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == f"bench (xdbench) {__version__}"


def test_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "run" in out and "list" in out


def test_list_shows_names_and_descriptions(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for expected in ("suites:", "toy-reviews", "models:", "source-only", "metrics:", "classification/accuracy",
                     "protocols:", "id_ood"):
        assert expected in out


def test_run_end_to_end_writes_files_and_prints_a_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "results"
    assert main(["run", "toy-reviews", "--model", "majority", "--model", "source-only", "--out", str(out),
                 "--limit", "40", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "books*" in printed and "gap ID→OOD" in printed and "run folder:" in printed
    (run_dir,) = (out / "runs").iterdir()
    metrics = pd.read_csv(run_dir / "metrics.csv")
    records = pd.read_csv(run_dir / "records.csv.gz")
    assert len(records) == 2 * 2 * 4 * 40
    # The accuracy in metrics.csv is the mean of the records' 'correct' column.
    for (model, domain), part in records[records["task"] == "sentiment"].groupby(["model", "domain"]):
        row = metrics[(metrics["model"] == model) & (metrics["task"] == "sentiment") & (metrics["domain"] == domain)
                      & (metrics["metric"] == "accuracy")]
        assert row["value"].iloc[0] == pytest.approx(part["correct"].mean())
        assert row["n"].iloc[0] == 40
    board = pd.read_csv(out / "leaderboard.csv")
    assert len(board) == 4 and {"mean_accuracy", "worst_domain", "gap_accuracy", "run_id"} <= set(board.columns)
    source = board.query("model == 'source-only' and task == 'sentiment'").iloc[0]
    assert source["id_accuracy"] > source["ood_accuracy"] and source["gap_accuracy"] > 0


@pytest.mark.parametrize(("argv", "message"), [
    (["run", "toy-review"], "error: Unknown suite 'toy-review'. Did you mean: toy-reviews?"),
    (["run", "--model", "sourceonly"], "error: Unknown model 'sourceonly'. Did you mean: source-only"),
    (["run", "nope.toml"], "error: Cannot read suite file nope.toml"),
])
def test_errors_are_one_clear_line(argv: list[str], message: str, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not list((tmp_path / "runs").glob("*/metrics.csv"))


def test_a_skip_note_is_printed_once_per_run(tiny_suite: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(tiny_suite), "--model", "tests.test_runner:classifier_only", "--protocol",
                 "leave_one_domain_out", "--trials", "2", "--limit", "5", "--out", str(tmp_path / "out"),
                 "--quiet"]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("skipped:")]
    assert notes == ["skipped: coin on tiny-reviews/rating: regression not supported"]  # not once per fold × trial


def test_malformed_suite_file_names_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[suite\nname = 1\n")
    assert main(["run", str(bad), "--out", str(tmp_path)]) == 2
    assert "bad.toml: malformed TOML" in capsys.readouterr().err


@pytest.mark.parametrize("limit", ["0", "-3", "many"])
def test_limit_must_be_positive(limit: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["run", "--limit", limit])
    assert info.value.code == 2
    assert "--limit: must be a positive integer" in capsys.readouterr().err


def test_unwritable_output_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["run", "--out", str(blocker / "x"), "--limit", "5"]) == 2
    assert f"error: Cannot write to output folder {blocker / 'x'}" in capsys.readouterr().err


# --- the surprises a new user met (issue 12): each test fails if one comes back ----------
import io  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402

from bench.cli import FLAG_TABLE_END, FLAG_TABLE_START, build_parser, flag_table, progress_lines  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

MY_MODELS = '''
import numpy as np

from bench.adapters import CallableAdapter


def keyword_model():
    def log_probs(texts, choices):
        logit = np.array([t.lower().count("great") - t.lower().count("awful") for t in texts], dtype=float)
        return np.stack([-np.logaddexp(0.0, logit), -np.logaddexp(0.0, -logit)], axis=1)

    return CallableAdapter("keywords", log_probs=log_probs)
'''


def _console_script() -> str:
    script = Path(sys.executable).with_name("bench")
    found = str(script) if script.is_file() else shutil.which("bench")
    if not found:
        pytest.skip("the 'bench' console script is not installed (pip install -e .)")
    return found


def test_console_script_imports_module_factory_from_the_current_folder(tmp_path: Path) -> None:
    (tmp_path / "my_models.py").write_text(MY_MODELS, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([_console_script(), "run", "--model", "my_models:keyword_model", "--protocol", "ZERO_SHOT",
                           "--limit", "5", "--out", "out", "--resamples", "200", "--permutations", "100"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "No module named" not in done.stderr and "my_models:keyword_model" in done.stdout
    # zero-shot: no "* in-domain (trained on)" footer, no starred domain
    assert "No model here has an in-domain set (zero-shot: none was trained on the suite;" in done.stdout
    assert "* in-domain" not in done.stdout and "books*" not in done.stdout
    # not a terminal: progress as lines; 8 EmptyDomainWarnings (ECE needs 15 examples) as one line, no source lines
    assert "progress: my_models:keyword_model · toy-reviews/sentiment · books: 5/5 (100%) done in" in done.stderr
    assert "progress: statistics:" in done.stderr
    warning_lines = [line for line in done.stderr.splitlines() if "EmptyDomainWarning" in line]
    assert len(warning_lines) == 1 and warning_lines[0].startswith("warning: 8 × EmptyDomainWarning: ece for ")
    assert "and 5 more." in warning_lines[0] and "metric.value(" not in done.stderr


def test_quiet_silences_progress_and_warnings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["run", "--model", "source-only", "--limit", "5", "--out", str(tmp_path), "--resamples", "200",
            "--permutations", "100"]
    assert main([*args, "--quiet"]) == 0
    assert capsys.readouterr().err == ""
    assert main([*args, "--new"]) == 0
    err = capsys.readouterr().err
    assert "progress: training source-only · toy-reviews/id_ood: 1/1 (100%) done in" in err
    assert "progress: statistics:" in err
    (line,) = [x for x in err.splitlines() if x.startswith("warning:")]
    assert line.startswith("warning: 8 × EmptyDomainWarning: ece for source-only/toy-reviews/sentiment/books: 5 "
                           "examples (needs at least 15); value is NaN.")


def test_trained_models_footer_explains_the_star(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--model", "source-only", "--limit", "20", "--out", str(tmp_path), "-q", "--resamples",
                 "200", "--permutations", "100"]) == 0
    out = capsys.readouterr().out
    assert "books*" in out and "* in-domain: the data a trainable model was trained on" in out


def test_progress_lines_start_end_and_periodic() -> None:
    stream = io.StringIO()
    with progress_lines(stream, every=float("inf"))(10, "scoring x") as advance:
        for _ in range(10):
            advance(1)
    assert stream.getvalue().splitlines()[0] == "progress: scoring x: 0/10 (0%)"
    assert stream.getvalue().splitlines()[1].startswith("progress: scoring x: 10/10 (100%) done in ")
    assert len(stream.getvalue().splitlines()) == 2
    stream = io.StringIO()
    with progress_lines(stream, every=0.0)(4, "y") as advance:
        for _ in range(4):
            advance(1)
    lines = stream.getvalue().splitlines()
    assert lines[1:4] == ["progress: y: 1/4 (25%)", "progress: y: 2/4 (50%)", "progress: y: 3/4 (75%)"]


@pytest.mark.parametrize("what", ["metric", "Metrics", "PROTOCOL", "suite", "models"])
def test_list_takes_singular_or_plural_kinds_in_any_case(what: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", what]) == 0
    out = capsys.readouterr().out
    plural = what.lower().rstrip("s") + "s"
    assert out.startswith(f"{plural}:") and sum(line.endswith(":") and not line.startswith(" ")
                                                for line in out.splitlines()) == (2 if plural == "models" else 1)


def test_list_rejects_an_unknown_kind_naming_the_choices(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["list", "widgets"])
    assert "choose from suites, models, metrics, protocols (singular or plural, any case), got 'widgets'" in \
        capsys.readouterr().err


def test_list_shows_the_sklearn_family(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "models"]) == 0
    assert "  sklearn " in capsys.readouterr().out


def test_sklearn_family_wraps_a_fitted_estimator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("sklearn")
    from bench.adapters import make_model
    from bench.adapters.sklearn import SklearnAdapter

    (tmp_path / "my_sk.py").write_text(
        "from sklearn.feature_extraction.text import HashingVectorizer\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "from sklearn.pipeline import make_pipeline\n\n"
        "def make_clf():\n"
        "    return make_pipeline(HashingVectorizer(n_features=64), LogisticRegression()).fit(['good', 'bad'], [1, 0])\n",
        encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    adapter = make_model("sklearn:my_sk:make_clf?task=sentiment")
    assert isinstance(adapter, SklearnAdapter) and adapter.name == "sklearn:my_sk:make_clf"
    assert adapter.task_name == "sentiment"


@pytest.mark.parametrize("command", ["score", "report", "compare"])
def test_a_missing_run_folder_says_it_does_not_exist(command: str, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    extra = ["--models", "a", "b"] if command == "compare" else []
    assert main([command, str(tmp_path / "nope"), *extra]) == 2
    err = capsys.readouterr().err
    assert f"error: Run folder {tmp_path / 'nope'} does not exist." in err and "run.json is missing" not in err


@pytest.mark.parametrize(("argv", "usage"), [(["run", "--bogus"], "usage: bench run "),
                                              (["data", "list", "--bogus"], "usage: bench data list "),
                                              (["list", "models", "--bogus"], "usage: bench list ")])
def test_an_unknown_flag_prints_the_subcommands_usage(argv: list[str], usage: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and err.startswith(usage) and "unrecognized arguments: --bogus" in err


def test_choices_are_case_insensitive() -> None:
    parser = build_parser()
    args = parser.parse_args(["run", "--protocol", "ZERO_SHOT", "--dtype", "BFloat16", "--device", "CUDA:1",
                              "--method", "bca"])
    assert (args.protocol, args.dtype, args.device, args.method) == ("zero_shot", "bfloat16", "cuda:1", "BCa")
    assert parser.parse_args(["leaderboard", "--format", "CSV"]).format == "csv"
    assert parser.parse_args(["plot", "HeatMap", "x", "-o", "f.png"]).kind == "heatmap"


def test_protocol_help_names_every_registered_protocol() -> None:
    from bench.suites import PROTOCOLS

    assert all(f"`bench run` | `--protocol NAME` | override the suites' protocol: {', '.join(PROTOCOLS.names())}"
               in line for line in flag_table().splitlines() if "--protocol" in line)


def test_readme_flag_table_is_the_parsers() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    start, end = readme.index(FLAG_TABLE_START) + len(FLAG_TABLE_START), readme.index(FLAG_TABLE_END)
    assert readme[start:end].strip() == flag_table(), (
        "README's flag table is stale: paste the output of "
        "python -c \"from bench.cli import flag_table; print(flag_table())\" between its markers")
    for flag in ("--batch-size N", "--no-save-models", "--quiet"):
        assert f"| `bench run` | `{flag}" in flag_table()


def test_reference_leaderboard_is_where_user_runs_do_not_write() -> None:
    reference = REPO / "results" / "reference" / "leaderboard.csv"
    assert reference.is_file() and len(pd.read_csv(reference)) > 0
    out = Path(build_parser().parse_args(["run"]).out)
    assert out / "leaderboard.csv" != reference.relative_to(REPO)
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    ignored = subprocess.run(["git", "check-ignore", "results/leaderboard.csv", "results/leaderboard_runs.csv"],
                             cwd=REPO, capture_output=True, text=True)
    tracked = subprocess.run(["git", "ls-files", "results/leaderboard.csv", "results/reference/leaderboard.csv"],
                             cwd=REPO, capture_output=True, text=True)
    assert ignored.stdout.split() == ["results/leaderboard.csv", "results/leaderboard_runs.csv"]
    assert tracked.stdout.split() == ["results/reference/leaderboard.csv"]
