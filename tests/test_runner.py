from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.adapters import CallableAdapter
from bench.errors import CapabilityError, ConfigError, UnknownNameError
from bench.runner import RunConfig, make_run_id, run


def lm_only() -> CallableAdapter:
    return CallableAdapter("lm-only", text_nll=lambda t: (np.ones(len(t)), np.ones(len(t))))


def classifier_only() -> CallableAdapter:
    return CallableAdapter("coin", log_probs=lambda t, c: np.full((len(t), len(c)), -np.log(len(c))))


def test_records_cover_every_model_task_and_domain(tiny_suite: Path) -> None:
    result = run(RunConfig(suites=(str(tiny_suite),), models=("majority", "source-only"), limit=7))
    records = result.records
    assert set(records["model"]) == {"majority", "source-only"}
    counts = records.groupby(["model", "task", "domain"]).size()
    assert (counts == 7).all() and len(counts) == 2 * 2 * 3
    assert set(records["run_id"]) == {result.run_id} and set(records["fold"]) == {"id_ood"}
    assert set(records["train_domains"]) == {"books"}
    assert records["example_id"].is_unique is False  # one row per (model, task), same examples
    assert records.groupby(["model", "task"])["example_id"].apply(lambda s: s.is_unique).all()


def test_same_seed_same_records_other_seed_other_model(tiny_suite: Path) -> None:
    config = RunConfig(suites=(str(tiny_suite),), models=("source-only",))
    a, b = run(config).records, run(config).records
    pd.testing.assert_frame_equal(a.drop(columns="run_id"), b.drop(columns="run_id"))
    c = run(RunConfig(suites=(str(tiny_suite),), models=("source-only",), seed=1)).records
    assert not np.allclose(a["nll"], c["nll"])


def test_unsupported_tasks_are_skipped_or_refused(tiny_suite: Path) -> None:
    result = run(RunConfig(suites=(str(tiny_suite),), models=("tests.test_runner:classifier_only",)))
    assert set(result.records["task"]) == {"sentiment"}
    assert result.skipped == ["coin on tiny-reviews/rating: regression not supported"]
    folds = run(RunConfig(suites=(str(tiny_suite),), models=("tests.test_runner:classifier_only",),
                          protocol="leave_one_domain_out", trials=2, limit=5))
    assert folds.skipped == result.skipped  # once, not once per fold × trial
    with pytest.raises(CapabilityError, match="Model 'coin' cannot score regression task 'rating' of suite 'tiny-reviews'"):
        run(RunConfig(suites=(str(tiny_suite),), models=("tests.test_runner:classifier_only",), tasks=("rating",)))
    with pytest.raises(CapabilityError, match="Model 'lm-only' supports none of the tasks of suite 'tiny-reviews'"):
        run(RunConfig(suites=(str(tiny_suite),), models=("tests.test_runner:lm_only",)))


def test_trainable_model_under_zero_shot_is_refused(tiny_suite: Path) -> None:
    with pytest.raises(CapabilityError, match="Model 'majority' must be trained, but protocol 'zero_shot'"):
        run(RunConfig(suites=(str(tiny_suite),), models=("majority",), protocol="zero_shot"))
    zero = run(RunConfig(suites=(str(tiny_suite),), models=("uniform",), protocol="zero_shot"))
    assert set(zero.records["fold"]) == {"zero_shot"} and set(zero.records["train_domains"].fillna("")) == {""}


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"limit": 0}, r"'RunConfig\.limit' \(--limit\) must be an integer in \[1, 1000000000\], got an integer 0\."),
    ({"limit": True}, r"'RunConfig\.limit' \(--limit\) must be an integer in \[1, 1000000000\] or None, got a boolean True\."),
    ({"batch_size": 0}, r"'RunConfig\.batch_size' \(--batch-size\) must be an integer in \[1, 1000000000\], got an integer 0\."),
    ({"batch_size": "big"}, r"'RunConfig\.batch_size' \(--batch-size\) must be one of auto; got 'big'\."),
    ({"suites": ()}, r"'RunConfig\.suites' must have 1-1000 items, got 0\."),
    ({"num_fewshot": -1}, r"'RunConfig\.num_fewshot' \(--num-fewshot\) must be an integer in \[0, 1000000000\], got an integer -1\."),
    ({"log_samples": 1}, r"'RunConfig\.log_samples' \(--log-samples\) must be true or false, got an integer 1\."),
    ({"apply_chat_template": "yes"}, r"'RunConfig\.apply_chat_template' \(--apply-chat-template\) must be true or false, got a string 'yes'\."),
    ({"timeout_per_batch": 0}, r"'RunConfig\.timeout_per_batch' \(--timeout-per-batch\) must be a number in \(0, 604800\], got an integer 0\."),
    ({"timeout_per_batch": True}, r"'RunConfig\.timeout_per_batch' \(--timeout-per-batch\) must be a number in \(0, 604800\] or None, got a"),
    ({"device": "gpu"}, r"'RunConfig\.device' \(--device\) must be one of cpu, cuda, cuda:N, mps; got 'gpu'\."),
    ({"dtype": "fp8"}, r"'RunConfig\.dtype' \(--dtype\) must be one of float32, bfloat16, float16, auto; got 'fp8'\."),
])
def test_config_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        RunConfig(**kwargs)


def test_unknown_task_is_reported_before_training(tiny_suite: Path) -> None:
    with pytest.raises(UnknownNameError, match="Suite 'tiny-reviews' has no task 'topic'. Available: sentiment, rating"):
        run(RunConfig(suites=(str(tiny_suite),), tasks=("topic",)))


def test_run_id_is_time_and_config_hash() -> None:
    from datetime import UTC, datetime

    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    a, b = make_run_id(RunConfig(), when), make_run_id(RunConfig(seed=1), when)
    assert a.startswith("20260102T030405Z-") and a != b and len(a.split("-")[1]) == 8


def test_without_named_models_each_suite_runs_its_own_defaults(tiny_suite: Path, tmp_path: Path) -> None:
    lm_suite = tmp_path / "lm.toml"
    lm_suite.write_text(
        'domains = ["a", "b"]\n[suite]\nname = "lm-tiny"\nin_domain = ["a"]\nmodels = ["tests.test_runner:lm_only"]\n'
        '[source]\ntype = "table"\npath = "lm.jsonl"\ntext_column = "text"\ndomain_column = "domain"\n'
        '[[tasks]]\nname = "text"\nkind = "language_modeling"\n')
    (tmp_path / "lm.jsonl").write_text("".join(
        f'{{"text": "sample {i}", "domain": "{"ab"[i % 2]}"}}\n' for i in range(8)))
    result = run(RunConfig(suites=(str(tiny_suite), str(lm_suite)), limit=2))
    by_suite = result.records.groupby("suite")["model"].unique().to_dict()
    assert sorted(by_suite["tiny-reviews"]) == ["majority", "source-only", "uniform"]
    assert list(by_suite["lm-tiny"]) == ["tests.test_runner:lm_only"]


def test_each_model_is_built_once_to_check_it_and_once_per_fold(tiny_suite: Path) -> None:
    from collections import Counter

    from bench.adapters import MODELS

    builds: Counter[str] = Counter()

    def counted(factory):  # type: ignore[no-untyped-def]
        def build() -> CallableAdapter:
            adapter = factory()
            builds[adapter.name] += 1
            return adapter
        return build

    text = tiny_suite.read_text().replace('in_domain = ["books"]', 'in_domain = ["books"]\nmodels = ["c-coin", "c-lm"]')
    tiny_suite.write_text(text)
    with MODELS.override("c-coin", counted(classifier_only)), MODELS.override("c-lm", counted(lm_only)):
        result = run(RunConfig(suites=(str(tiny_suite),), limit=4, trials=2))
    assert set(result.records["model"]) == {"c-coin"}
    assert any(s.startswith("c-lm on tiny-reviews: supports none") for s in result.skipped)
    # c-coin: the check, then one fold (id_ood) per trial; c-lm: the check only
    assert builds == {"coin": 1 + 2, "lm-only": 1}


def test_runner_calls_take_at_most_five_positional_arguments() -> None:
    """The run loop passes its state as context objects and keywords, not long positional lists."""
    import ast

    import bench.runner

    tree = ast.parse(Path(bench.runner.__file__).read_text(encoding="utf-8"))
    long_calls = [f"line {node.lineno}: {ast.unparse(node.func)} with {len(node.args)}"
                  for node in ast.walk(tree) if isinstance(node, ast.Call) and len(node.args) > 5]
    long_signatures = [f"line {node.lineno}: {node.name}" for node in ast.walk(tree)
                       if isinstance(node, ast.FunctionDef) and len(node.args.posonlyargs + node.args.args) > 5]
    assert long_calls == [] and long_signatures == []


def test_every_task_kind_has_a_record_builder() -> None:
    from bench.runner import RECORD_BUILDERS
    from bench.suites.kinds import TASK_KIND, RecordShape

    assert {kind.record_shape for kind in TASK_KIND.values()} <= set(RECORD_BUILDERS)
    assert set(RECORD_BUILDERS) == set(RecordShape)  # no builder for a shape that no kind declares


def test_runner_dispatches_on_kind_facts_not_kind_names() -> None:
    """A new task kind is an entry of bench.suites.kinds: the runner compares no kind's name."""
    import ast

    import bench.runner
    from bench.suites.kinds import TASK_KINDS

    tree = ast.parse(Path(bench.runner.__file__).read_text(encoding="utf-8"))
    named = []
    for node in ast.walk(tree):
        operands = [node.left, *node.comparators] if isinstance(node, ast.Compare) else []
        operands += [k.value for k in node.keywords if k.arg == "kind"] if isinstance(node, ast.Call) else []
        elements = [e for o in operands for e in (o.elts if isinstance(o, ast.Tuple | ast.List | ast.Set) else [o])]
        named += [f"line {node.lineno}: {e.value}" for e in elements
                  if isinstance(e, ast.Constant) and e.value in TASK_KINDS]
    assert named == []
