"""What the language-model fine-tunes train on, per task kind (tiny random Llama, no
download): multiple choice and generation after the very prompts scoring renders (the
run's few-shot exemplars and chat template), generation on the first reference then the
stop sequence, language modelling on every token as the rolling path scores it."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

import pytest

from bench.suites.types import Example, Task
from tests.adapters.conftest import tiny_lm_dir  # noqa: F401  (a fixture)
from tests.baselines.test_lm_finetune import QUICK, build

pytest.importorskip("transformers")
pytest.importorskip("peft")

MC_ROWS = """id,domain,split,title,body,a,b,c,d,answer
g1,geo,dev,Capitals,What is the capital of France?,Paris,Rome,Berlin,Madrid,A
g2,geo,dev,Capitals,What is the capital of Spain?,Paris,Rome,Berlin,Madrid,D
g3,geo,train,Capitals,What is the capital of Italy?,Paris,Rome,Berlin,Madrid,B
g4,geo,train,Rivers,Which river flows through Cairo?,Nile,Danube,Seine,Rhine,A
g5,geo,test,Rivers,Which river flows through Vienna?,Nile,Danube,Seine,Rhine,B
g6,geo,test,Capitals,What is the capital of Germany?,Paris,Rome,Berlin,Madrid,C
m1,math,dev,Sums,What is 2 + 2?,3,4,5,6,B
m2,math,dev,Sums,What is 1 + 1?,2,3,4,5,A
m3,math,train,Sums,What is 3 + 4?,6,7,8,9,B
m4,math,test,Products,What is 3 * 3?,6,9,12,3,B
"""
MC_SUITE = """domains = ["geo", "math"]
[suite]
name = "tiny-mc"
protocol = "id_ood"
[source]
type = "table"
path = "qa.csv"
id_column = "id"
split_column = "split"
text_template = "{title}: {body}"
option_columns = ["a", "b", "c", "d"]
columns = { qa = "answer" }
[[tasks]]
name = "qa"
kind = "multiple_choice"
description = "Questions about {domain}.\\n\\n"
fewshot_split = "dev"
num_fewshot = 2
"""
GEN_ROWS = """id,domain,split,question,answer
a1,a,train,Capital of France?,Paris
a2,a,train,Capital of Italy?,Rome
a3,a,test,Capital of Spain?,Madrid
b1,b,test,Two plus two?,four
"""
GEN_SUITE = """domains = ["a", "b"]
[suite]
name = "tiny-gen"
protocol = "id_ood"
[source]
type = "table"
path = "rows.csv"
id_column = "id"
text_column = "question"
split_column = "split"
reference_columns = ["answer"]
[[tasks]]
name = "qa"
kind = "generation"
"""
CHAT = ("{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}</{{ m['role'] }}>{% endfor %}"
        "{% if add_generation_prompt %}<assistant>{% endif %}")


def write_suite(folder: Path, toml: str, rows: str, csv: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / csv).write_text(rows, encoding="utf-8")
    (folder / "suite.toml").write_text(toml, encoding="utf-8")
    return folder / "suite.toml"


@pytest.fixture
def chat_lm_dir(tiny_lm_dir: Path, tmp_path: Path) -> Path:  # noqa: F811
    """The tiny model with a chat template."""
    import transformers

    folder = tmp_path / "chat-lm"
    shutil.copytree(tiny_lm_dir, folder)
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    tokenizer.chat_template = CHAT
    tokenizer.save_pretrained(folder)
    return folder


def decoded(lm, ids) -> str:
    return lm.tokenizer.decode(list(ids))


@pytest.mark.parametrize("chat", [False, True])
def test_a_multiple_choice_training_item_is_the_scoring_request_of_the_example(
        tiny_lm_dir: Path, chat_lm_dir: Path, tmp_path: Path, chat: bool) -> None:  # noqa: F811
    """Its context is the scoring context (description, two exemplars, chat template) and
    its target the gold answer's scored continuation, token for token."""
    from bench.baselines.lm_finetune import train_items
    from bench.data import load_suite_data
    from bench.runner import RunConfig, _choice_requests, training_requests
    from bench.suites import load_suite

    path = write_suite(tmp_path / "mc", MC_SUITE, MC_ROWS, "qa.csv")
    data = load_suite_data(load_suite(path))
    config = RunConfig(suites=(str(path),), models=("majority",), seed=3)
    task = data.suite.task("qa")
    example = data.domains["geo"].test[0]
    scoring = _choice_requests(data, config)["qa"][example.id]
    assert len(scoring.prompt.shots) == 2
    model = build(chat_lm_dir if chat else tiny_lm_dir, QUICK + ("&apply_chat_template=true" if chat else ""))
    lm = model.lm
    (item,) = train_items(lm, [example], [task], max_tokens=512,
                          requests=functools.partial(training_requests, data, config))
    gold = lm.rendered_continuations(scoring)[example.targets["qa"]]
    (request,) = lm.build([lm.rendered_prompt(scoring.prompt)], [[gold]]).requests
    assert item.context == tuple(request.context) and item.target == tuple(request.branches[0])
    assert "What is the capital of France?" in decoded(lm, item.context)  # an exemplar
    assert ("<assistant>" in decoded(lm, item.context)) is chat
    assert decoded(lm, item.target) == ("B" if chat else " B")


def test_a_training_example_among_its_own_exemplars_is_left_out_of_them(tiny_lm_dir: Path,  # noqa: F811
                                                                        tmp_path: Path) -> None:
    from bench.baselines.lm_finetune import train_items
    from bench.data import load_suite_data
    from bench.runner import RunConfig, training_requests
    from bench.suites import load_suite

    path = write_suite(tmp_path / "mc", MC_SUITE.replace('fewshot_split = "dev"', 'fewshot_split = "train"'),
                       MC_ROWS, "qa.csv")
    data = load_suite_data(load_suite(path))
    config = RunConfig(suites=(str(path),), models=("majority",))
    train = data.domains["geo"].train
    assert [ex.id for ex in train] == ["g3", "g4"]
    lm = build(tiny_lm_dir).lm
    first, second = train_items(lm, train, [data.suite.task("qa")], max_tokens=512,
                                requests=functools.partial(training_requests, data, config))
    for item, own, other in ((first, "Italy", "Cairo"), (second, "Cairo", "Italy")):
        context = decoded(lm, item.context)
        assert context.count(own) == 1 and context.count(other) == 1  # one exemplar left: the other example


def test_a_generation_item_is_the_prompt_then_the_first_reference_and_the_stop(tiny_lm_dir: Path) -> None:  # noqa: F811
    from bench.baselines.lm_finetune import train_items
    from bench.suites.generation import Decoding
    from bench.suites.prompts import PromptFormat

    task = Task("qa", "generation", format=PromptFormat(style="cloze"))  # as the suite loader makes it
    example = Example("a1", "a", "Capital of France?", {}, references=("Paris", "paris city"))
    lm = build(tiny_lm_dir).lm
    (item,) = train_items(lm, [example], [task], max_tokens=64)
    assert decoded(lm, item.context).endswith("Question: Capital of France?\nAnswer:")
    assert decoded(lm, item.target) == " Paris\n\n" and item.weight == 1.0
    assert tuple(lm.encode([" Paris\n\n"])[0]) == item.target
    no_stop = Task("qa", "generation", format=PromptFormat(style="cloze"), decoding=Decoding(stop=()))
    (item,) = train_items(lm, [example], [no_stop], max_tokens=64)
    assert decoded(lm, item.target) == " Paris" + lm.tokenizer.eos_token


def test_a_language_modelling_task_trains_on_every_token_once(tiny_lm_dir: Path) -> None:  # noqa: F811
    from bench.baselines.lm_finetune import train_items

    text = "The book was gripping and well written. The kettle leaked and the lid broke."
    lm = build(tiny_lm_dir).lm
    ids = lm.encode([text])[0]
    items = train_items(lm, [Example("t", "d", text, {})], [Task("lm", "language_modeling")], max_tokens=8)
    assert len(ids) > 14 and len(items) == -(-len(ids) // 7)
    assert [t for item in items for t in item.target] == ids  # every token once, in order
    assert items[0].context == (lm.prefix_id,)
    assert all(item.context == (ids[7 * k - 1],) and item.weight == 1.0 for k, item in enumerate(items) if k)


def test_the_fine_tunes_train_on_generation_tasks_through_the_runner(tiny_lm_dir: Path,  # noqa: F811
                                                                     tmp_path: Path) -> None:
    from bench.runner import RunConfig, run

    path = write_suite(tmp_path / "gen", GEN_SUITE, GEN_ROWS, "rows.csv")
    spec = f"lm-finetuned:hf-causal-lm:{tiny_lm_dir}?epochs=2&lr=0.01&rank=4"
    result = run(RunConfig(suites=(str(path),), models=(spec,), max_new_tokens=4))
    (record,) = result.training.values()
    assert record["tasks"] == ["qa"] and record["items"] == 2 and record["steps"] == 2
    assert set(result.records["domain"]) == {"a", "b"}


def test_multiple_choice_training_uses_the_runs_few_shot_exemplars(tiny_lm_dir: Path, tmp_path: Path,  # noqa: F811
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import bench.baselines.lm_finetune as lm_finetune
    from bench.runner import RunConfig, run

    seen: list[list[str]] = []
    real = lm_finetune.train_items

    def spy(lm, *args, **kwargs):
        items = real(lm, *args, **kwargs)
        seen.append([decoded(lm, item.context) for item in items])
        return items

    monkeypatch.setattr(lm_finetune, "train_items", spy)
    path = write_suite(tmp_path / "mc", MC_SUITE, MC_ROWS, "qa.csv")
    spec = f"lm-finetuned:hf-causal-lm:{tiny_lm_dir}?epochs=1"
    for shots in (1, 0):
        run(RunConfig(suites=(str(path),), models=(spec,), num_fewshot=shots))
    (one, zero) = seen
    assert len(one) == 2 and all("What is the capital of France?" in c and "Spain" not in c for c in one)
    assert all(c.startswith("Questions about geo.\n\nCapitals: What is the capital of France?") for c in one)
    assert all("France" not in c for c in zero)
