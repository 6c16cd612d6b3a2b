"""Users' models: module:factory specs and entry-point plugins (installing nothing)."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest

import bench.registry
from bench.adapters import MODELS, Adapter, make_model, parse_model_spec
from bench.errors import ConfigError, UnknownNameError
from bench.runner import RunConfig, run

DOCS = Path(__file__).resolve().parents[2] / "docs" / "adapters.md"


def docs_module() -> str:
    """The `my_models.py` example of docs/adapters.md, as written there."""
    blocks = re.findall(r"```python\n(# my_models.py\n.*?)```", DOCS.read_text(), flags=re.DOTALL)
    return blocks[0]


@pytest.fixture
def my_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "my_models.py").write_text(docs_module() + "\n\ndef docs_module_helper():\n    return 'text'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "my_models", raising=False)
    return tmp_path


@pytest.fixture
def clean_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    before = set(MODELS.names())
    monkeypatch.setattr(bench.registry, "_plugins_loaded", False)
    yield
    for name in set(MODELS.names()) - before:  # what a plugin registered
        MODELS.remove(name)


def test_docs_example_runs_from_module_factory(my_models: Path) -> None:
    result = run(RunConfig(models=("my_models:keyword_model",), tasks=("sentiment",), limit=50))
    records = result.records
    assert set(records["model"]) == {"my_models:keyword_model"}
    assert len(records) == 4 * 50
    assert records["correct"].mean() > 0.6  # shared sentiment words carry signal in every domain


def test_entry_point_plugin_registers_a_name(my_models: Path, clean_registry: None, monkeypatch: pytest.MonkeyPatch) -> None:
    with (my_models / "my_models.py").open("a") as handle:
        handle.write("\n\ndef register():\n    from bench.adapters import MODELS\n"
                     "    MODELS.add('keywords', keyword_model, description='Counts sentiment words.')\n")
    fake = metadata.EntryPoint(name="my_models", value="my_models:register", group="xdbench.plugins")
    monkeypatch.setattr(bench.registry.metadata, "entry_points",
                        lambda group=None: [fake] if group == "xdbench.plugins" else [])
    adapter = make_model("keywords")
    assert isinstance(adapter, Adapter) and adapter.name == "keywords"
    assert MODELS.entry("keywords").description == "Counts sentiment words."


def test_module_factory_errors(my_models: Path) -> None:
    with pytest.raises(ConfigError, match="Cannot import module 'no_such_module'"):
        make_model("no_such_module:factory")
    with pytest.raises(ConfigError, match="Module 'my_models' has no attribute 'nothing'"):
        make_model("my_models:nothing")
    with pytest.raises(ConfigError, match="Model spec 'my_models:POSITIVE' names a set, not a factory"):
        make_model("my_models:POSITIVE")
    with pytest.raises(ConfigError, match="Model factory 'my_models:docs_module_helper' returned str, not an Adapter"):
        make_model("my_models:docs_module_helper")
    with pytest.raises(ConfigError, match=r"Model 'my_models:keyword_model' does not take .*\(temperature\)"):
        make_model("my_models:keyword_model?temperature=0")


def test_unknown_names_get_suggestions() -> None:
    with pytest.raises(UnknownNameError, match="Unknown model 'smollm2'. Did you mean: smollm2-135m"):
        make_model("smollm2")


def test_spec_parsing() -> None:
    assert parse_model_spec("smollm2-135m?normalize=byte") == ("smollm2-135m", None, {"normalize": "byte"})
    assert parse_model_spec("openai-compatible:http://h:1/v1?model=a&timeout=2") == (
        "openai-compatible", "http://h:1/v1", {"model": "a", "timeout": "2"})
    assert parse_model_spec("pkg.mod:make") == ("pkg.mod:make", None, {})
    with pytest.raises(ConfigError, match="options after '\\?' must be key=value pairs"):
        parse_model_spec("majority?oops")


def test_registered_factory_given_an_argument_it_does_not_take() -> None:
    with pytest.raises(ConfigError, match=r"Model 'uniform' does not take the argument/options given in 'uniform\?k=v'"):
        make_model("uniform?k=v")
    assert make_model("majority:renamed").name == "renamed"
