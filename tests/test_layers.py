"""Imports run one way: from the data flow's later layers to its earlier ones, never back.

Every module of ``bench`` belongs to one layer. A module may import modules of its own
layer and of the layers above it in this table, never of a layer below it. The test reads
every ``bench/**/*.py`` with :mod:`ast` and checks each ``import`` and ``from ... import``,
at module level and inside functions alike (a lazy import is still a dependency), and
under ``if TYPE_CHECKING:`` too (a type from a later layer is still an arrow pointing back).

======  ==========================================  =============================================
layer   modules                                     what it is
======  ==========================================  =============================================
0       ``bench._version``, ``bench.errors``,       leaves: anyone may import them
        ``bench.registry``, ``bench.seeding``,
        ``bench.killpoints``, ``bench.textscores``
1       ``bench.suites``                            suite definitions, tasks, protocols, prompts,
                                                    splits, :class:`~bench.suites.TaskInfo`
2       ``bench.data``                              example sources, data sets, downloads
3       ``bench.adapters``, ``bench.serve``         the model interface and its implementations
4       ``bench.baselines``                         trained baselines (adapters themselves)
5       ``bench.runner``, ``bench.sinks``           running models on suites, into a sink
6       ``bench.store``, ``bench.outputs``          the run store and run folders
7       ``bench.scoring``                           metrics, intervals, gaps, comparisons
8       ``bench.report``                            tables, figures, the HTML report
9       ``bench.pipeline``, ``bench.importers``     wires run → score → write (and mitigations);
                                                    other harnesses' logs → runs
10      ``bench.cli``, ``bench.__main__``,          the command line and the public facade
        ``bench`` (``__init__``)
======  ==========================================  =============================================

Registries may name an entry of a later layer as a lazy ``"module:attribute"`` string
(``bench.adapters.MODELS`` names the baselines that way): that is a name resolved on
first use, not an import, and this test does not see it.

Adding a module: put it in a package of the right layer, or add its top-level name to
:data:`LAYERS` here (a new top-level module without a layer fails this test).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "bench"

LAYERS: dict[str, int] = {
    "_version": 0, "errors": 0, "registry": 0, "seeding": 0, "killpoints": 0, "textscores": 0,
    "suites": 1,
    "data": 2,
    "adapters": 3, "serve": 3,
    "baselines": 4,
    "runner": 5, "sinks": 5,
    "store": 6, "outputs": 6,
    "scoring": 7,
    "report": 8,
    "pipeline": 9, "importers": 9,
    "cli": 10, "__main__": 10, "__init__": 10,
}
"""Top-level name under ``bench`` (a package or a module) → its layer; see the table above."""

NAMES = {number: name for name, number in reversed(LAYERS.items())}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def _layer(module: str) -> int | None:
    """The layer of a ``bench...`` module name, ``None`` for anything outside ``bench``."""
    parts = module.split(".")
    if parts[0] != "bench":
        return None
    return LAYERS["__init__"] if len(parts) == 1 else LAYERS.get(parts[1], -1)


def _imports(tree: ast.AST, module: str, is_package: bool) -> list[tuple[int, str]]:
    """``(line, imported module)`` for every import in ``tree`` (absolute or relative)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((node.lineno, base))
            if base == "bench":  # ``from bench import x``: x may be a subpackage
                found += [(node.lineno, f"bench.{alias.name}") for alias in node.names
                          if alias.name in LAYERS]
    return found


def _violations() -> list[str]:
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        own = _layer(module)
        if own == -1:
            problems.append(f"{path.relative_to(ROOT)}: module {module} has no layer; add it to LAYERS")
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, imported in _imports(tree, module, path.name == "__init__.py"):
            target = _layer(imported)
            if target is None or own is None:
                continue
            if target == -1 or target > own:
                problems.append(
                    f"{path.relative_to(ROOT)}:{line}: {module} (layer {own}, {NAMES[own]}) imports {imported} "
                    f"(layer {target}, {NAMES.get(target, 'unknown')}); a module may import only its own "
                    "layer or earlier ones")
    return problems


def test_imports_point_only_to_earlier_layers() -> None:
    problems = _violations()
    assert not problems, "\n".join(problems)


def test_every_top_level_module_has_a_layer() -> None:
    names = {p.stem for p in PACKAGE.glob("*.py")} | {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert names <= set(LAYERS), sorted(names - set(LAYERS))


def test_an_upward_import_is_reported_with_file_line_and_rule() -> None:
    tree = ast.parse("def f():\n    from bench.cli import main\n")
    ((line, imported),) = _imports(tree, "bench.suites.loader", is_package=False)
    assert (line, imported, _layer(imported), _layer("bench.suites.loader")) == (2, "bench.cli", 10, 1)


def _module_imports(tree: ast.AST, module: str, is_package: bool, modules: set[str]) -> set[str]:
    """The ``bench`` modules that ``module`` imports: ``from package import name`` counts as
    an import of ``package.name`` where that is a module, else of ``package``."""
    found = {imported for _, imported in _imports(tree, module, is_package) if imported in modules}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = next(imported for line, imported in _imports(node, module, is_package))
            found |= {f"{base}.{alias.name}" for alias in node.names} & modules
    return found - {module}


def _import_cycles() -> list[list[str]]:
    """The strongly connected components of more than one module in ``bench``'s import graph
    (function-level imports included), by Tarjan's algorithm."""
    paths = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = {module: _module_imports(ast.parse(path.read_text(encoding="utf-8")), module,
                                     path.name == "__init__.py", set(paths)) for module, path in paths.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in graph[module]:
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = stack[stack.index(module):]
            del stack[stack.index(module):]
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return cycles


def test_no_module_imports_itself_through_others() -> None:
    assert _import_cycles() == []


def test_an_import_cycle_is_found() -> None:
    tree = ast.parse("from bench.suites import schema\n")
    assert _module_imports(tree, "bench.suites.generation", False,
                           {"bench.suites", "bench.suites.schema"}) == {"bench.suites", "bench.suites.schema"}


TESTS = ROOT / "tests"
CROSS_CUTTING = {
    "conformance": "every registry entry through one check",
    "doctests": "every docstring example",
    "generation": "the generation task kind end to end",
    "gpu_check": "the GPU check script",
    "hints": "the commands that messages print, run as pasted",
    "imports": "what importing the package and the CLI loads",
    "input_holes": "bad input across the layers",
    "install_lines": "the install lines of the docs",
    "layers": "the import rules (this file)",
    "lm_eval_habits": "lm-evaluation-harness habits and flags",
    "multiple_choice": "the multiple-choice task kind end to end",
    "public_api": "the names bench exports",
    "resume": "interrupted runs resumed",
    "run_holes": "runs that a reliability probe broke",
}
"""Top-level test files that test no one module of ``bench``: topic → what they test."""


def _misplaced_tests() -> list[str]:
    """Top-level ``tests/test_*.py`` files whose topic is neither a top-level module of
    ``bench`` (``test_store.py``, ``test_serve_faults.py``) nor in :data:`CROSS_CUTTING`."""
    modules = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "__main__"}
    misplaced = []
    for path in sorted(TESTS.glob("test_*.py")):
        topic = path.stem.removeprefix("test_")
        if topic not in CROSS_CUTTING and not any(topic == m or topic.startswith(f"{m}_") for m in modules):
            misplaced.append(path.name)
    return misplaced


def test_top_level_tests_name_a_top_level_module_or_a_cross_cutting_concern() -> None:
    """Tests mirror ``bench/``: a test of ``bench/scoring/metrics.py`` lives in ``tests/scoring/``."""
    assert _misplaced_tests() == [], ("move these into the tests/ folder of the bench package they test, "
                                      "or name a cross-cutting concern in CROSS_CUTTING")


def test_every_cross_cutting_topic_has_its_file() -> None:
    assert {topic for topic in CROSS_CUTTING if not (TESTS / f"test_{topic}.py").exists()} == set()

