from __future__ import annotations

from pathlib import Path

import pytest

from bench.data import load_suite_data
from bench.errors import DataError, SuiteError, UnknownNameError
from bench.suites import SUITES, Example, load_suite, split_examples
from tests.conftest import REPO, TINY_SUITE, write_tiny_suite


def test_bundled_default_suite_loads() -> None:
    suite = load_suite("toy-reviews")
    assert suite.domains == ("books", "electronics", "kitchen", "movies")
    assert suite.in_domain == ("books",) and suite.out_domain == ("electronics", "kitchen", "movies")
    assert [t.kind for t in suite.tasks] == ["classification", "regression"]
    assert suite.task("sentiment").continuations == (" negative", " positive")
    assert len(suite.content_hash) == 16 and "toy-reviews" in SUITES


def test_user_suite_file_loads_by_path(tiny_suite: Path) -> None:
    suite = load_suite(str(tiny_suite))
    assert suite.name == "tiny-reviews" and suite.path == tiny_suite


def test_unknown_suite_name_suggests() -> None:
    with pytest.raises(UnknownNameError, match="Unknown suite 'toy-review'. Did you mean: toy-reviews"):
        load_suite("toy-review")


def test_malformed_toml_names_file_and_line(tmp_path: Path) -> None:
    path = write_tiny_suite(tmp_path, text='[suite]\nname = "x"\nversion = = 2\n')
    with pytest.raises(SuiteError, match=r"tiny\.toml: malformed TOML: .*line 3"):
        load_suite(path)


@pytest.mark.parametrize(("old", "new", "message"), [
    ('name = "tiny-reviews"\n', "", r"missing required key 'suite\.name'"),
    ('type = "toy-reviews"\n', "", r"missing required key 'source\.type'"),
    ('kind = "regression"', 'kind = "ranking"', r"'tasks\[1\]\.kind' must be one of classification"),
    ('choices = ["negative", "positive"]', 'choices = ["only"]', r"'tasks\[0\]\.choices' must have 2-1000 items, got 1"),
    ('in_domain = ["books"]', 'in_domain = ["bookz"]', "'suite.in_domain' names 'bookz', which is not a domain"),
    ('protocol = "id_ood"', 'protocol = "id-ood"', "'suite.protocol' must be one of"),
    ("test_fraction = 0.5", "test_fraction = 1.5", r"'split\.test_fraction' must be a number in \(0, 1\)"),
    ('version = "1"', 'versoin = "1"', r"unknown key 'suite\.versoin'\. Did you mean 'suite\.version'"),
    ('domains = ["books", "electronics", "movies"]', 'domains = ["books", "ALL"]', "'ALL' is reserved"),
])
def test_invalid_suite_files_say_what_and_where(tmp_path: Path, old: str, new: str, message: str) -> None:
    text = TINY_SUITE.format(n=10)
    assert old in text
    path = write_tiny_suite(tmp_path, text=text.replace(old, new, 1))
    with pytest.raises(SuiteError, match=message):
        load_suite(path)


def test_missing_suite_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(SuiteError, match="Cannot read suite file .*nope.toml"):
        load_suite(tmp_path / "nope.toml")


def test_split_is_seeded_stable_and_disjoint(tiny_suite: Path) -> None:
    suite = load_suite(tiny_suite)
    first, second = load_suite_data(suite), load_suite_data(suite)
    for domain, data in first.domains.items():
        train_ids = {ex.id for ex in data.train}
        test_ids = {ex.id for ex in data.test}
        assert not train_ids & test_ids and len(test_ids) == 30 and len(train_ids) == 30
        assert test_ids == {ex.id for ex in second.domains[domain].test}


def test_split_of_an_example_does_not_depend_on_other_domains(tiny_suite: Path) -> None:
    suite = load_suite(tiny_suite)
    data = load_suite_data(suite)
    books = [ex for ex in data.domains["books"].train + data.domains["books"].test]
    others = [ex for d in ("electronics", "movies") for ex in data.domains[d].train + data.domains[d].test]
    again = split_examples(suite, list(reversed(others)) + books)
    assert [e.id for e in again.domains["books"].test] == [e.id for e in data.domains["books"].test]


def test_source_fixed_split_is_kept(tiny_suite: Path) -> None:
    suite = load_suite(tiny_suite)
    examples = [Example(f"{d}-{i}", d, "text", {"sentiment": 0}, split="train" if i else "test")
                for d in suite.domains for i in range(4)]
    data = split_examples(suite, examples)
    assert [e.id for e in data.domains["books"].test] == ["books-0"]


@pytest.mark.parametrize(("examples", "message"), [
    ([Example("a", "cooking", "t")], "example 'a' has domain 'cooking', which the suite does not declare"),
    ([Example("a", "books", "t"), Example("a", "books", "u")], "example id 'a' occurs twice"),
    ([Example("a", "books", "t")], r"domain\(s\) electronics, movies have no examples"),
])
def test_bad_examples_are_rejected(tiny_suite: Path, examples: list[Example], message: str) -> None:
    with pytest.raises(DataError, match=message):
        split_examples(load_suite(tiny_suite), examples)


@pytest.mark.slow
def test_the_wheel_ships_the_top_level_suites_and_an_install_finds_them(tmp_path: Path) -> None:
    import shutil
    import subprocess
    import sys
    import zipfile

    from bench.suites import BUNDLED_DIR, SUITES

    repo = REPO
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(repo / name, source / name)
    for folder in ("bench", "suites"):
        if (repo / folder).is_dir():
            shutil.copytree(repo / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
                            "-q", "-w", str(tmp_path / "wheel")], capture_output=True, text=True, timeout=600)
    if built.returncode != 0 and "No module named" in built.stderr:
        pytest.skip(f"cannot build a wheel here: {built.stderr.strip().splitlines()[-1]}")
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "wheel").glob("xdbench-*.whl")
    shipped = {n for n in zipfile.ZipFile(wheel).namelist() if n.startswith("bench/suites/bundled/")}
    assert shipped == {f"bench/suites/bundled/{p.name}" for p in BUNDLED_DIR.glob("*.toml")} and shipped
    site = tmp_path / "site"
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site),
                                str(wheel)], capture_output=True, text=True, timeout=600)
    assert installed.returncode == 0, installed.stderr
    code = ("import bench, bench.suites as s; print(bench.__file__); print(s.BUNDLED_DIR); "
            "print(','.join(s.SUITES.names())); print(s.load_suite('toy-reviews').name)")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    module, folder, names, loaded = done.stdout.split()
    assert module.startswith(str(site)) and folder == str(site / "bench" / "suites" / "bundled")
    assert names.split(",") == SUITES.names() and loaded == "toy-reviews"
