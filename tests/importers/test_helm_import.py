"""``bench import helm`` on a small HELM output folder written by hand from HELM's file format
(``tests/fixtures/helm/README.md``; HELM itself is not installed here)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bench.errors import DataError
from bench.importers.helm import read_helm
from bench.importers.publish import import_run
from bench.outputs import read_run
from bench.scoring.options import StatisticsOptions

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "helm"
FAST = StatisticsOptions(resamples=200, permutations=100)
pytestmark = pytest.mark.filterwarnings("ignore::bench.errors.EmptyDomainWarning")


def _run(subject: str) -> Path:
    (folder,) = FIXTURE.rglob(f"mmlu:subject={subject},*")
    return folder


def test_each_run_is_a_domain_of_its_scenario_with_helms_exact_match(tmp_path: Path) -> None:
    done = import_run("helm", FIXTURE, tmp_path, statistics=FAST)
    metrics = done.scored.metrics
    accuracy = metrics[(metrics["metric"] == "exact_match")].set_index("domain")["value"].to_dict()
    assert accuracy == {"anatomy": 0.75, "philosophy": 0.5, "ALL": 0.625}
    meta, records = read_run(done.run_dir)
    assert meta["tasks"]["helm/mmlu"]["domains"] == ["anatomy", "philosophy"]
    assert meta["imported"]["harness"] == "helm" and len(meta["imported"]["files"]) == 6
    assert set(records["model"]) == {"openai/gpt2"}
    assert sorted(records.loc[records["domain"] == "anatomy", "example_id"]) == ["id100", "id101", "id102", "id103"]


def test_the_answer_is_the_option_its_letter_maps_to() -> None:
    imported = read_helm(_run("anatomy"))
    first = next(g for g in imported.generations if g["example_id"] == "id100")
    assert first["generation"] == "Cranial" and first["references"] == ["Cranial"]


def test_an_instance_field_is_the_domain() -> None:
    imported = read_helm(FIXTURE, domain_field="split")
    assert set(imported.records["domain"]) == {"test"}


def test_a_missing_instance_field_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"scenario_state.json, request_states\[0\]: the instance has no field "
                       r"'genre' to take the domain from \(--domain-field\); its fields: id, input, references, split"):
        import_run("helm", FIXTURE, tmp_path, domain_field="genre", statistics=FAST)
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").glob("2*"))


def test_an_instance_without_exact_match_is_refused(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    shutil.copytree(FIXTURE, logs)
    (stats,) = logs.rglob("mmlu:subject=anatomy,*/per_instance_stats.json")
    raw = json.loads(stats.read_text(encoding="utf-8"))
    raw[1]["stats"] = [s for s in raw[1]["stats"] if s["name"]["name"] != "exact_match"]
    stats.write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(DataError, match=r"per_instance_stats.json: instance 'id101' has no 'exact_match' stat"):
        read_helm(logs)


def test_a_truncated_file_is_named(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    shutil.copytree(FIXTURE, logs)
    (state,) = logs.rglob("mmlu:subject=anatomy,*/scenario_state.json")
    state.write_text(state.read_text(encoding="utf-8")[:2000], encoding="utf-8")
    with pytest.raises(DataError, match=r"scenario_state.json, line \d+: not valid JSON .*is the file truncated\?"):
        read_helm(logs)


def test_a_folder_without_runs_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no HELM run folders \(scenario_state.json with per_instance_stats.json\)"):
        read_helm(tmp_path)
