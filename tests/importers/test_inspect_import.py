"""``bench import inspect`` on genuine Inspect logs (``tests/fixtures/inspect``, made offline with
``mockllm/model`` by ``tests/fixtures/make_inspect_logs.py``): an ``.eval`` log scored C/I and a
``.json`` log scored with numbers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bench.errors import DataError
from bench.importers.inspect_logs import read_inspect
from bench.importers.publish import import_run
from bench.outputs import read_run
from bench.scoring.options import StatisticsOptions
from bench.store import RunStore

inspect_log = pytest.importorskip("inspect_ai.log", reason='needs Inspect: python -m pip install -e ".[inspect]"')

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "inspect"
FAST = StatisticsOptions(resamples=200, permutations=100)
pytestmark = pytest.mark.filterwarnings("ignore::bench.errors.EmptyDomainWarning")


def _log(task: str) -> Path:
    (path,) = FIXTURE.glob(f"*_{task}_*")
    return path


def test_accuracy_per_task_equals_inspects_own(tmp_path: Path) -> None:
    done = import_run("inspect", FIXTURE, tmp_path, statistics=FAST)
    metrics = done.scored.metrics
    for task in ("arith", "capitals"):
        log = inspect_log.read_eval_log(str(_log(task)))
        expected = log.results.scores[0].metrics["accuracy"].value
        row = metrics[(metrics["task"] == task) & (metrics["domain"] == "ALL") & (metrics["metric"] == "exact_match")]
        assert float(row["value"].iloc[0]) == pytest.approx(expected, abs=1e-15)
    meta, records = read_run(done.run_dir)
    assert meta["imported"]["harness"] == "inspect" and meta["imported"]["version"] == "0.3.285"
    assert set(records["model"]) == {"mockllm/model"}
    assert sorted(records.loc[records["task"] == "arith", "example_id"]) == sorted(f"q{i}" for i in range(1, 13))


def test_a_metadata_field_is_the_domain(tmp_path: Path) -> None:
    imported = read_inspect(_log("arith"), domain_field="source")
    assert sorted(imported.tasks[("inspect", "arith")].domains) == ["easy", "hard"]
    assert imported.records.groupby("domain")["correct"].sum().to_dict() == {"easy": 5.0, "hard": 4.0}


def _assert_refused(path: Path, out: Path, message: str, **options: str) -> None:
    with pytest.raises(DataError, match=message):
        import_run("inspect", path, out, statistics=FAST, **options)
    assert not (out / "runs").exists() or not [p for p in (out / "runs").iterdir() if not p.name.startswith(".")]
    if (out / "store.sqlite").exists():
        store = RunStore(out)
        try:
            assert store.runs() == []
        finally:
            store.close()


def test_a_sample_without_the_metadata_field_is_refused(tmp_path: Path) -> None:
    _assert_refused(_log("arith"), tmp_path, r"arith_.*\.eval, sample 'q1': the sample's metadata has no field "
                    r"'continent' to take the domain from \(--domain-field\); its fields: source", domain_field="continent")


def test_a_score_that_is_not_c_i_p_or_a_number_is_refused(tmp_path: Path) -> None:
    raw = json.loads(_log("capitals").read_text(encoding="utf-8"))
    (peru,) = [s for s in raw["samples"] if s["id"] == "peru"]
    peru["scores"]["exact_number"]["value"] = "wrong"
    broken = tmp_path / "logs" / _log("capitals").name
    broken.parent.mkdir()
    broken.write_text(json.dumps(raw), encoding="utf-8")
    _assert_refused(broken, tmp_path / "out", r"capitals_.*\.json, sample 'peru': score 'wrong' of scorer "
                    r"'exact_number' is neither C, I, P nor a number")


def test_a_truncated_log_is_refused(tmp_path: Path) -> None:
    text = _log("capitals").read_text(encoding="utf-8")
    broken = tmp_path / _log("capitals").name
    broken.write_text(text[: len(text) // 2], encoding="utf-8")
    _assert_refused(broken, tmp_path / "out", r"capitals_.*\.json: Inspect cannot read this log .*is it truncated\?")


def test_two_logs_of_the_same_model_and_task_are_refused(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    shutil.copytree(FIXTURE, logs)
    shutil.copy(_log("arith"), logs / "again_arith_copy.eval")
    _assert_refused(logs, tmp_path / "out", r"a second log of model 'mockllm/model' on task 'arith'")


def test_a_folder_without_logs_is_refused(tmp_path: Path) -> None:
    _assert_refused(tmp_path, tmp_path / "out", r"no Inspect logs \(\*.eval, \*.json\) in this folder or below")
