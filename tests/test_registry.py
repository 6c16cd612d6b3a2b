from __future__ import annotations

from importlib import metadata

import pytest

from bench import registry
from bench.errors import ConfigError, RegistryError, UnknownNameError
from bench.registry import Registry, load_object


def make() -> Registry[object]:
    reg: Registry[object] = Registry("widget")

    @reg.register("hugging-face", aliases=("hf",), description="the hub one")
    def hub() -> str:
        return "hub"

    reg.add("vllm", "json:dumps")
    return reg


def test_register_alias_and_lazy_target() -> None:
    reg = make()
    assert reg.get("hf")() == "hub"
    assert reg.canonical("hf") == "hugging-face"
    import json

    assert reg.get("vllm") is json.dumps
    assert reg.names() == ["hugging-face", "vllm"]
    assert "hf" in reg and "nope" not in reg
    assert reg.entry("hugging-face").description == "the hub one"


def test_description_defaults_to_first_docstring_line() -> None:
    reg: Registry[object] = Registry("widget")

    @reg.register("x")
    def x() -> None:
        """First line.

        More."""

    assert reg.entry("x").description == "First line."


def test_duplicate_name_or_alias_is_rejected() -> None:
    reg = make()
    with pytest.raises(RegistryError, match="widget name 'vllm' is already registered"):
        reg.add("vllm", object())
    with pytest.raises(RegistryError, match="'hf' is already registered"):
        reg.add("other", object(), aliases=("hf",))


def test_unknown_name_suggests_and_lists() -> None:
    reg = make()
    with pytest.raises(UnknownNameError, match=r"Unknown widget 'hugging-fase'\. Did you mean: hugging-face\? "
                                               r"Available: hf, hugging-face, vllm\."):
        reg.get("hugging-fase")
    with pytest.raises(KeyError):  # also a KeyError for callers that expect one
        reg.get("zzz")


@pytest.mark.parametrize(("spec", "message"), [
    ("nocolon", "Expected 'module:attribute'"),
    ("no_such_module_xyz:thing", "Cannot import module 'no_such_module_xyz'"),
    ("json:no_such_attr", "Module 'json' has no attribute 'no_such_attr'"),
])
def test_load_object_errors(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_object(spec)


def test_plugins_load_from_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    point = metadata.EntryPoint(name="demo", value="json:dumps", group=registry.PLUGIN_GROUP)
    monkeypatch.setattr(registry, "_plugins_loaded", False)
    monkeypatch.setattr(registry.metadata, "entry_points", lambda group: [point] if group == registry.PLUGIN_GROUP else [])
    monkeypatch.setattr("json.dumps", lambda *a: calls.append(a))
    assert registry.load_plugins() == ["demo"]
    assert calls == [()]
    assert registry.load_plugins() == []  # only once


def test_remove_drops_the_entry_and_its_aliases() -> None:
    reg = make()
    entry = reg.remove("hf")
    assert entry.name == "hugging-face" and entry.aliases == ("hf",)
    assert reg.names() == ["vllm"] and "hf" not in reg and "hugging-face" not in reg
    reg.add("hugging-face", object(), aliases=("hf",))  # both names are free again
    with pytest.raises(UnknownNameError, match=r"Unknown widget 'nope'\. Available: hf, hugging-face, vllm\."):
        reg.remove("nope")


def test_override_replaces_then_restores_an_entry() -> None:
    reg = make()
    original = reg.get("hugging-face")
    with reg.override("hugging-face", lambda: "stand-in"):
        assert reg.get("hf")() == "stand-in"  # the replaced entry's alias follows the override
    assert reg.get("hf") is original and reg.entry("hugging-face").description == "the hub one"


def test_override_of_a_new_name_removes_it_afterwards_even_on_error() -> None:
    reg = make()
    with pytest.raises(RuntimeError, match="inside"), reg.override("fresh", "json:loads"):
        assert reg.names() == ["fresh", "hugging-face", "vllm"]
        raise RuntimeError("inside")
    assert reg.names() == ["hugging-face", "vllm"]


def test_override_errors_leave_the_registry_as_it_was() -> None:
    reg = make()
    with pytest.raises(RegistryError, match="The widget name 'hf' is an alias of 'hugging-face'; override the "
                                            "canonical name."), reg.override("hf", object()):
        pass
    with pytest.raises(RegistryError, match="'hf' is already registered"), reg.override("vllm", object(),
                                                                                       aliases=("hf",)):
        pass
    assert reg.names() == ["hugging-face", "vllm"] and reg.canonical("hf") == "hugging-face"
    import json

    assert reg.get("vllm") is json.dumps
# --- one source of truth per list: the old lists are views of the registries' facts ------
def test_facts_are_kept_per_entry_and_listed_in_registration_order() -> None:
    from bench.registry import View

    reg = Registry[int]("thing")
    reg.add("zeta", 1, facts={"groups": ("g",)})
    reg.add("alpha", 2)
    view = View(lambda: {e.name: e.facts["groups"] for e in reg.having("groups")})
    assert dict(view) == {"zeta": ("g",)} and reg.entry("alpha").facts == {}
    reg.add("mid", 3, facts={"groups": ("g", "h")})  # registered later: the view sees it
    assert list(view) == ["zeta", "mid"] and view["mid"] == ("g", "h") and len(view) == 2


def test_model_groups_are_the_groups_facts_of_model_entries() -> None:
    from bench.adapters import MODEL_GROUPS, MODELS

    assert MODEL_GROUPS["all-baselines"] == ("majority", "uniform", "source-only", "augmented", "multitask",
                                             "finetuned", "source-only-minilm", "finetuned-minilm", "byte-ngram")
    assert MODEL_GROUPS["mitigations"] == ("source-only", "augmented", "multitask", "finetuned",
                                           "source-only-minilm", "finetuned-minilm")
    for group, members in MODEL_GROUPS.items():
        assert all(group in MODELS.entry(m).facts["groups"] for m in members)


def test_a_mitigations_baseline_is_a_fact_of_its_entry() -> None:
    from bench.adapters import MODEL_GROUPS, baseline_of
    from bench.scoring.mitigations import BASELINE_OF, mitigation_pairs

    lm = {"lm-finetuned": "smollm2-135m", "lm-augmented": "smollm2-135m", "lm-multitask": "smollm2-135m"}
    assert dict(BASELINE_OF) == {"augmented": "source-only", "multitask": "source-only", "finetuned": "source-only",
                                 "finetuned-minilm": "source-only-minilm", **lm}
    assert baseline_of("finetuned-minilm") == "source-only-minilm" and baseline_of("majority") is None
    assert all(base in MODEL_GROUPS["mitigations"] for base in BASELINE_OF.values() if base not in lm.values())
    assert mitigation_pairs(list(MODEL_GROUPS["mitigations"])) == [
        ("source-only", "augmented"), ("source-only", "multitask"), ("source-only", "finetuned"),
        ("source-only-minilm", "finetuned-minilm")]
    assert MODEL_GROUPS["lm-mitigations"] == ("lm-finetuned", "lm-augmented", "lm-multitask", "smollm2-135m")
    # a spec with options keeps its baseline; one with its own language model is compared with that model
    specs = ["smollm2-135m", "lm-finetuned?epochs=2", "lm-augmented:hf-causal-lm:/m", "hf-causal-lm:/m"]
    assert mitigation_pairs(specs) == [("smollm2-135m", "lm-finetuned?epochs=2"),
                                       ("hf-causal-lm:/m", "lm-augmented:hf-causal-lm:/m")]


def test_a_sources_data_sets_are_a_fact_of_its_entry_and_all_catalogued() -> None:
    from bench.data import SOURCES
    from bench.data.catalog import DATASETS, datasets_for_source

    read = {d for name in SOURCES.names() for d in datasets_for_source(name)}
    assert read == set(DATASETS.names())  # every source's data set is catalogued, every catalogued one is read
    assert datasets_for_source("masc-genres") == ("masc_tagged", "webtext", "abc")
    assert datasets_for_source("toy-reviews") == () and datasets_for_source("no-such-source") == ()


def test_primary_and_summary_metrics_are_facts_of_the_task_kinds() -> None:
    from bench.report.summary import SUMMARY_METRICS
    from bench.scoring.metrics import METRICS, PRIMARY_METRIC, metrics_for, primary_metric
    from bench.suites.kinds import TASK_KIND

    kinds = {METRICS.get(n).kind for n in METRICS.names()}
    for kind in kinds:  # exactly one primary per kind, listed first
        assert [m.name for m in metrics_for(kind) if m.primary] == [PRIMARY_METRIC[kind]]
        assert metrics_for(kind)[0].name == primary_metric(kind) == SUMMARY_METRICS[kind][0]
    assert dict(PRIMARY_METRIC) == {name: kind.primary_metric for name, kind in TASK_KIND.items()}
    assert PRIMARY_METRIC["classification"] == "accuracy" and PRIMARY_METRIC["generation"] == "exact_match"
    assert SUMMARY_METRICS["language_modeling"] == ("cross_entropy", "bits_per_byte")
    with pytest.raises(UnknownNameError, match="No primary metric for task kind 'nope'. Kinds with one: "):
        primary_metric("nope")


def test_saved_kinds_are_named_by_the_classes_themselves() -> None:
    pytest.importorskip("torch")
    from bench.baselines.persist import SAVED_KINDS

    assert set(SAVED_KINDS) == {"ngram", "ngram-augmented", "ngram-finetuned", "encoder-head", "encoder-head-finetuned",
                                "lm-lora"}
    assert all(cls.__dict__["saved_kind"] == kind for kind, cls in SAVED_KINDS.items())
