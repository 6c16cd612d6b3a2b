"""``bench run --domain``: a few domains (or a group of them) of any suite, from the command line."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bench.cli import main
from bench.errors import ConfigError, UnknownNameError
from bench.runner import RunConfig, run
from bench.suites import load_suite
from bench.suites.loader import select_domains

FAST = ["--resamples", "200", "--permutations", "200", "-q"]


def test_names_and_groups_select_domains_in_the_suites_order() -> None:
    mmlu = load_suite("mmlu")
    two = select_domains(mmlu, ("anatomy", "abstract_algebra"))
    assert two.domains == ("abstract_algebra", "anatomy") and two.in_domain == ("abstract_algebra",)
    assert two.domain_groups == {"abstract_algebra": "STEM", "anatomy": "other"}
    stem = select_domains(mmlu, ("stem",))
    assert set(stem.domains) == {d for d, g in mmlu.domain_groups.items() if g == "STEM"} and len(stem.domains) > 10
    social = select_domains(mmlu, ("Social Sciences", "anatomy"))
    assert "anatomy" in social.domains and "econometrics" in social.domains
    assert select_domains(mmlu, ()) is mmlu


def test_an_unknown_domain_is_named_with_close_matches() -> None:
    with pytest.raises(UnknownNameError, match=r"--domain 'anatomyy': suite 'mmlu' has no such domain or domain group\. "
                                               r"Did you mean: anatomy\? Domains: abstract_algebra, .*; groups: STEM, "):
        select_domains(load_suite("mmlu"), ("anatomyy",))


def test_id_ood_keeps_the_in_domain_set_and_needs_one_more_domain() -> None:
    toy = load_suite("toy-reviews")
    assert select_domains(toy, ("kitchen",)).domains == ("books", "kitchen")
    with pytest.raises(ConfigError, match=r"would have no domain beyond its in-domain set kitchen; name at least"):
        select_domains(toy, ("kitchen",), protocol="zero_shot")  # nothing trains on books: not kept
    assert select_domains(toy, ("kitchen", "movies"), protocol="zero_shot").in_domain == ("kitchen",)
    with pytest.raises(ConfigError, match=r"--domain books: suite 'toy-reviews' would have no domain beyond its "
                                          r"in-domain set books \(kept: models train on it under id_ood\)"):
        select_domains(toy, ("books",))


def test_a_run_scores_only_the_selected_domains(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = run(RunConfig(models=("majority",), domains=("kitchen",), limit=10))
    assert set(result.records["domain"]) == {"books", "kitchen"}
    assert main(["run", "--domain", "kitchen", "--domain", "movies", "--model", "majority", "--limit", "10",
                 "--out", str(tmp_path), *FAST]) == 0
    out = capsys.readouterr().out
    assert "books*" in out and "kitchen" in out and "movies" in out and "electronics" not in out
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert set(pd.read_csv(run_dir / "records.csv.gz")["domain"]) == {"books", "kitchen", "movies"}


def test_an_unknown_domain_on_the_command_line_is_one_error_line(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--domain", "kitchn", "--out", str(tmp_path), *FAST]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --domain 'kitchn': suite 'toy-reviews' has no such domain or domain group. "
                          "Did you mean: kitchen?") and len(err.splitlines()) == 1
