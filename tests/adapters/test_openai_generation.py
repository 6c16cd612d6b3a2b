"""openai-compatible generation: what it sends, every bad answer, and the same texts as the
model in process when served by `bench serve` (completions and chat)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bench.adapters import make_model
from bench.adapters.decoding import request_seed
from bench.adapters.openai_compatible import OpenAICompatible, OpenAICompatibleConfig
from bench.errors import AdapterError, CapabilityError
from bench.suites.generation import Decoding, GenerationRequest
from bench.suites.prompts import Prompt, Shot
from bench.suites.types import Task
from tests.adapters.conftest import SENTIMENT, TEXTS, serve_in_thread
from tests.adapters.lm_eval_requests import SUBJECTS, has_data, mmlu_requests
from tests.adapters.test_openai_compatible import client, send

pytest.importorskip("transformers")

TASK = Task("qa", "generation", decoding=Decoding(max_new_tokens=8, stop=("\n",)))


@pytest.fixture
def fake_http() -> Iterator[Callable[..., tuple[str, list]]]:
    """Start a server on 127.0.0.1 answering POSTs with ``reply(handler, payload)``; yields the starter."""
    servers = []

    def start(reply: Callable[[BaseHTTPRequestHandler, dict], None]) -> tuple[str, list]:
        seen: list = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                seen.append((dict(self.headers), payload))
                reply(self, payload)

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/v1", seen

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def requests(texts: list[str]) -> list[GenerationRequest]:
    return [GenerationRequest(f"ex-{i}", Prompt(question=t), ("ref",)) for i, t in enumerate(texts)]


def answer_with(choices: list[dict]) -> bytes:
    return json.dumps({"object": "text_completion", "choices": choices}).encode()


def test_payload_carries_the_decoding_and_the_stop_is_cut_again(fake_http) -> None:
    reply = answer_with([{"index": 1, "text": "second\nmore"}, {"index": 0, "text": "first"}])
    url, seen = fake_http(lambda h, p: send(h, 200, reply))
    assert client(url).generate(requests(["a", "b"]), TASK) == ["first", "second"]
    payload = seen[0][1]
    assert seen[0][0]["Content-Type"] == "application/json"
    assert payload == {"prompt": ["a", "b"], "max_tokens": 8, "temperature": 0.0, "top_p": 1.0, "seed": 0,
                       "stop": ["\n"], "model": "m"}


def test_sampling_sends_each_prompt_alone_with_its_own_seed(fake_http) -> None:
    url, seen = fake_http(lambda h, p: send(h, 200, answer_with([{"index": 0, "text": "x"}])))
    task = Task("qa", "generation", decoding=Decoding(max_new_tokens=4, stop=(), temperature=0.7, top_p=0.9, seed=5))
    assert client(url).generate(requests(["a", "b"]), task) == ["x", "x"]
    payloads = sorted((p for _, p in seen), key=lambda p: p["prompt"])
    assert [p["prompt"] for p in payloads] == [["a"], ["b"]]
    assert [p["seed"] for p in payloads] == [request_seed(5, "ex-0") % 2**31, request_seed(5, "ex-1") % 2**31]
    assert "stop" not in payloads[0] and payloads[0]["temperature"] == 0.7 and payloads[0]["top_p"] == 0.9


def test_chat_option_posts_messages_to_chat_completions(fake_http) -> None:
    reply = json.dumps({"choices": [{"index": 0, "message": {"role": "assistant", "content": "Paris"}}]}).encode()
    url, seen = fake_http(lambda h, p: send(h, 200, reply))
    chat = make_model(f"openai-compatible:{url}?model=m&chat=true")
    prompt = Prompt(question="Capital of France?", description="Answer briefly.", shots=(Shot("Capital of Peru?", "Lima"),))
    assert chat.generate([GenerationRequest("q", prompt, ("Paris",))], TASK) == ["Paris"]
    assert seen[0][1]["messages"] == prompt.messages() and "prompt" not in seen[0][1]


@pytest.mark.parametrize(("body", "message"), [
    ({"error": {"message": "model overloaded"}}, r"example 'ex-0': the server answered an error object \(field 'error'\): "
                                                 "model overloaded"),
    ({"choices": [{"index": 0, "text": "a"}]}, r"example 'ex-0': the server answered 1 choices for 2 prompts "
                                               r"\(field 'choices'\)"),
    ({"nothing": 1}, r"the server answered no choices for 2 prompts \(field 'choices'\)"),
    ({"choices": [{"index": 0, "text": "a"}, {"index": 5, "text": "b"}]},
     r"example 'ex-1': choice 1 has index 5, which matches no prompt of the request \(0 … 1, each once\) "
     r"\(field 'choices\[1\].index'\)"),
    ({"choices": [{"index": 0, "text": "a"}, {"index": 0, "text": "b"}]}, r"choice 1 has index 0, which matches no"),
    ({"choices": [{"index": 0, "text": "a"}, {"index": 1, "text": None}]},
     r"example 'ex-1': the answer has no text \(field 'choices\[1\].text'\)"),
    ({"choices": [{"index": 0, "text": "a"}, {"index": 1}]}, r"the answer has no text \(field 'choices\[1\].text'\)"),
])
def test_bad_answers_name_model_example_and_field(fake_http, body: dict, message: str) -> None:
    url, _ = fake_http(lambda h, p: send(h, 200, json.dumps(body).encode()))
    with pytest.raises(AdapterError, match=r"model 'm', task 'qa'.*" + message):
        client(url).generate(requests(["a", "b"]), TASK)


def test_chat_answer_without_content(fake_http) -> None:
    url, _ = fake_http(lambda h, p: send(h, 200, json.dumps({"choices": [{"index": 0, "message": {}}]}).encode()))
    with pytest.raises(AdapterError, match=r"example 'ex-0': the answer has no text \(field 'choices\[0\].message.content'\)"):
        make_model(f"openai-compatible:{url}?model=m&chat=true").generate(requests(["a"]), TASK)


def test_http_errors_are_retried_then_reported(fake_http) -> None:
    url, seen = fake_http(lambda h, p: send(h, 503, b'{"error": {"message": "busy"}}'))
    with pytest.raises(AdapterError, match=r"answered HTTP 503 .* after 3 attempts"):
        client(url, max_retries=2).generate(requests(["a"]), TASK)
    assert len(seen) == 3


def test_generate_refuses_other_task_kinds(fake_http) -> None:
    url, _ = fake_http(lambda h, p: send(h, 200, b"{}"))
    with pytest.raises(CapabilityError, match="cannot score classification task 'sentiment'"):
        client(url).generate(requests(["a"]), SENTIMENT)


@pytest.fixture(scope="module")
def tiny_url(tiny_lm_dir: Path) -> Iterator[str]:
    yield from serve_in_thread(make_model(f"hf-causal-lm:{tiny_lm_dir}"))


def test_through_bench_serve_equals_in_process_on_a_tiny_model(tiny_lm_dir: Path, tiny_url: str) -> None:
    local = make_model(f"hf-causal-lm:{tiny_lm_dir}")
    remote = OpenAICompatible(OpenAICompatibleConfig(base_url=tiny_url, prompts_per_request=4))
    for decoding in (Decoding(max_new_tokens=10, stop=("e",)), Decoding(max_new_tokens=10, stop=())):
        task = Task("qa", "generation", decoding=decoding)
        assert remote.generate(requests(TEXTS), task) == local.generate(requests(TEXTS), task)


@pytest.mark.skipif(not has_data(), reason="needs ../shared/data (MMLU)")
def test_smollm2_in_process_and_through_bench_serve_write_the_same_texts(smollm2) -> None:
    mmlu = [GenerationRequest(r.example_id, r.prompt, ("A",)) for r, _ in mmlu_requests(SUBJECTS, 2, 1, "letter")]
    task = Task("mmlu-gen", "generation", decoding=Decoding(max_new_tokens=12, stop=("\n\n",)))
    chat_local = make_model("smollm2-135m?apply_chat_template=true")
    for root in serve_in_thread(smollm2):
        plain = make_model(f"openai-compatible:{root}?model=smollm2-135m&prompts_per_request=5")
        chat = make_model(f"openai-compatible:{root}?model=smollm2-135m&chat=true")
        served_plain, served_chat = plain.generate(mmlu, task), chat.generate(mmlu, task)
    local_plain = smollm2.generate(mmlu, task)
    assert served_plain == local_plain and any(local_plain)
    local_chat = chat_local.generate(mmlu, task)
    assert served_chat == local_chat and sum(bool(t.strip()) for t in local_chat) >= 12
