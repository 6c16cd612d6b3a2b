"""openai-compatible: end to end against `bench serve` over real sockets, and every failure."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from bench.adapters import make_model
from bench.adapters.openai_compatible import OpenAICompatible, OpenAICompatibleConfig
from bench.errors import AdapterError, CapabilityError, ConfigError
from bench.runner import score_examples
from tests.adapters.conftest import (
    LM,
    SENTIMENT,
    TEXTS,
    THREE_WAY,
    examples,
    serve_in_thread,
)

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tiny(tiny_lm_dir: Path):
    return make_model(f"hf-causal-lm:{tiny_lm_dir}")


@pytest.fixture(scope="module")
def tiny_url(tiny) -> Iterator[str]:
    yield from serve_in_thread(tiny)


# -- round trip: HTTP client → bench serve → model equals calling the model ------------------
@pytest.mark.parametrize("task", [SENTIMENT, THREE_WAY], ids=["2-choices", "3-choices"])
@pytest.mark.parametrize("normalize", ["none", "token", "byte"])
def test_http_round_trip_equals_direct_classification(tiny_lm_dir: Path, tiny_url: str, task, normalize: str) -> None:
    # bench serve answers echo requests with every text's rolling log-probabilities, which
    # start after the prefix token: the same numbers as scoring directly with prefix=bos.
    direct = make_model(f"hf-causal-lm:{tiny_lm_dir}?normalize={normalize}&prefix=bos")
    remote = make_model(f"openai-compatible:{tiny_url}?model={direct.name}&normalize={normalize}&prompts_per_request=5")
    exs = examples(TEXTS)
    np.testing.assert_allclose(remote.log_probs(exs, task), direct.log_probs(exs, task), atol=1e-4)


def test_http_round_trip_equals_direct_text_nll(tiny, tiny_url: str) -> None:
    remote = make_model(f"openai-compatible:{tiny_url}")
    nll, n_tokens = remote.text_nll(examples(TEXTS), LM)
    expected_nll, expected_tokens = tiny.text_nll(examples(TEXTS), LM)
    np.testing.assert_array_equal(n_tokens, expected_tokens)
    np.testing.assert_allclose(nll, expected_nll, atol=1e-4)


def test_http_round_trip_with_smollm2(smollm2) -> None:
    texts = TEXTS[:4]
    with_prefix = make_model("smollm2-135m?prefix=bos")  # what echoed rolling log-probabilities condition on
    for url in serve_in_thread(smollm2):
        remote = make_model(f"openai-compatible:{url}?model=smollm2-135m")
        np.testing.assert_allclose(remote.log_probs(examples(texts), SENTIMENT),
                                   with_prefix.log_probs(examples(texts), SENTIMENT), atol=1e-4)
        np.testing.assert_allclose(remote.text_nll(examples(texts), LM)[0],
                                   smollm2.text_nll(examples(texts), LM)[0], atol=1e-3)


def test_served_wrong_model_name_is_an_http_error(tiny_url: str) -> None:
    remote = make_model(f"openai-compatible:{tiny_url}?model=gpt-9&max_retries=0")
    with pytest.raises(AdapterError, match=r"answered HTTP 404 .*'gpt-9' does not exist"):
        remote.text_nll(examples(["hi"]), LM)


def test_serving_a_classifier_is_refused() -> None:
    from bench.serve import make_server

    with pytest.raises(CapabilityError, match="'uniform' cannot be served over the completions API"):
        make_server(make_model("uniform"), "127.0.0.1", 0)


# -- failures, with fake servers on real sockets ---------------------------------------------
Reply = Callable[[BaseHTTPRequestHandler, dict], None]


def echo_answer(payload: dict) -> dict:
    """A well-formed answer: one token per character, each with log-probability -1."""
    prompts = [payload["prompt"]] if isinstance(payload["prompt"], str) else payload["prompt"]
    return {"choices": [{"index": i, "text": p, "logprobs": {"tokens": list(p), "token_logprobs": [-1.0] * len(p),
                                                            "text_offset": list(range(len(p)))}}
                        for i, p in enumerate(prompts)]}


def send(handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict | None = None) -> None:
    handler.send_response(status)
    for key, value in (headers or {}).items():
        handler.send_header(key, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


@pytest.fixture
def fake_server() -> Iterator[Callable[[Reply], tuple[str, list]]]:
    servers = []

    def start(reply: Reply) -> tuple[str, list]:
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


def client(url: str, **options: object) -> OpenAICompatible:
    return OpenAICompatible(OpenAICompatibleConfig(base_url=url, model="m", backoff=0.01, **options))  # type: ignore[arg-type]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_endpoint_down() -> None:
    down = client(f"http://127.0.0.1:{free_port()}/v1", max_retries=1)
    with pytest.raises(AdapterError, match=r"cannot reach http://127.0.0.1:\d+/v1/completions after 2 attempts.*Is the server running"):
        down.log_probs(examples(["a"]), SENTIMENT)


def test_endpoint_too_slow(fake_server) -> None:
    url, _ = fake_server(lambda h, p: (time.sleep(1.0), send(h, 200, json.dumps(echo_answer(p)).encode())))
    with pytest.raises(AdapterError, match=r"did not answer within 0.2 s"):
        client(url, timeout=0.2).text_nll(examples(["a"]), LM)


def test_malformed_json(fake_server) -> None:
    url, _ = fake_server(lambda h, p: send(h, 200, b'{"choices": [oops'))
    with pytest.raises(AdapterError, match=r"returned malformed JSON"):
        client(url).log_probs(examples(["a"]), SENTIMENT)


def test_answer_without_choices(fake_server) -> None:
    url, _ = fake_server(lambda h, p: send(h, 200, b'{"object": "text_completion"}'))
    with pytest.raises(AdapterError, match=r"without the expected 'choices' list"):
        client(url).text_nll(examples(["a"]), LM)


@pytest.mark.parametrize("logprobs", [None, {"tokens": ["a"], "token_logprobs": [None], "text_offset": [0]}])
def test_no_logprobs_is_a_capability_error(fake_server, logprobs) -> None:
    url, _ = fake_server(lambda h, p: send(h, 200, json.dumps(
        {"choices": [{"index": 0, "text": "a", "logprobs": logprobs}]}).encode()))
    with pytest.raises(CapabilityError, match=r"returned no prompt log-probabilities.*echo=true with logprobs"):
        client(url).text_nll(examples(["a"]), LM)


@pytest.mark.parametrize("status", [429, 500, 503])
def test_retries_after_429_and_5xx_then_succeeds(fake_server, status: int) -> None:
    calls = []

    def reply(handler: BaseHTTPRequestHandler, payload: dict) -> None:
        calls.append(1)
        if len(calls) <= 2:
            send(handler, status, b'{"error": {"message": "busy"}}', {"Retry-After": "0"})
        else:
            send(handler, 200, json.dumps(echo_answer(payload)).encode())

    url, _ = fake_server(reply)
    nll, n_tokens = client(url, max_retries=3).text_nll(examples(["abc"]), LM)
    assert len(calls) == 3
    assert nll.tolist() == [3.0] and n_tokens.tolist() == [3]


def test_retries_give_up(fake_server) -> None:
    url, seen = fake_server(lambda h, p: send(h, 503, b"overloaded"))
    with pytest.raises(AdapterError, match=r"answered HTTP 503 .* after 3 attempts: overloaded"):
        client(url, max_retries=2).text_nll(examples(["a"]), LM)
    assert len(seen) == 3


def test_client_errors_are_not_retried(fake_server) -> None:
    url, seen = fake_server(lambda h, p: send(h, 400, b'{"error": {"message": "bad prompt"}}'))
    with pytest.raises(AdapterError, match=r"answered HTTP 400 .*bad prompt"):
        client(url, max_retries=3).text_nll(examples(["a"]), LM)
    assert len(seen) == 1


def test_api_key_is_sent_but_never_written(fake_server, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-test-7f3a9c"
    monkeypatch.setenv("MY_ENDPOINT_KEY", secret)
    url, seen = fake_server(lambda h, p: send(h, 200, json.dumps(echo_answer(p)).encode()))
    adapter = make_model(f"openai-compatible:{url}?model=m&api_key_env=MY_ENDPOINT_KEY")
    frame = score_examples(adapter, SENTIMENT, examples(["good", "bad"]))
    assert seen[0][0]["Authorization"] == f"Bearer {secret}"
    assert secret not in adapter.fingerprint() + repr(vars(adapter)) + frame.to_csv()
    url_down = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(AdapterError) as info:
        make_model(f"openai-compatible:{url_down}?api_key_env=MY_ENDPOINT_KEY&max_retries=0").text_nll(examples(["a"]), LM)
    assert secret not in str(info.value)


def test_requests_are_chunked_and_results_keep_their_order(fake_server) -> None:
    url, seen = fake_server(lambda h, p: send(h, 200, json.dumps(echo_answer(p)).encode()))
    texts = ["a" * n for n in range(1, 12)]
    nll, n_tokens = client(url, prompts_per_request=3, max_workers=3).text_nll(examples(texts), LM)
    assert n_tokens.tolist() == list(range(1, 12)) and nll.tolist() == list(range(1, 12))
    assert sorted(len(p["prompt"]) for _, p in seen) == [2, 3, 3, 3]
    assert all(p["echo"] is True and p["max_tokens"] == 0 and p["logprobs"] == 1 for _, p in seen)


def test_continuation_tokens_are_those_after_the_prompt(fake_server) -> None:
    url, _ = fake_server(lambda h, p: send(h, 200, json.dumps(echo_answer(p)).encode()))
    scores = client(url).log_probs(examples(["x"]), THREE_WAY)
    lengths = np.array([len(c) for c in THREE_WAY.continuations], dtype=float)  # one token per character, -1 each
    np.testing.assert_allclose(scores[0], -lengths - np.log(np.exp(-lengths).sum()))


@pytest.mark.parametrize(("spec", "message"), [
    ("openai-compatible", "openai-compatible needs the API root"),
    ("openai-compatible:ftp://host/v1", r"'OpenAICompatibleConfig\.base_url' must be an http\(s\) URL"),
    ("openai-compatible:http://user:pw@host/v1", r"'OpenAICompatibleConfig\.base_url' must not hold credentials"),
    ("openai-compatible:http://host/v1?temperature=1", "Unknown openai-compatible option 'temperature'"),
    ("openai-compatible:http://host/v1?timeout=soon", "option timeout must be a number. Got 'soon' instead"),
    ("openai-compatible:http://host/v1?max_workers=0", r"'OpenAICompatibleConfig\.max_workers' must be an integer in \[1, 256\]"),
])
def test_bad_configuration(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make_model(spec)


def test_served_answer_has_openai_fields(tiny, tiny_url: str) -> None:
    import urllib.request

    text = "The kettle leaked."
    body = json.dumps({"prompt": [text], "echo": True, "logprobs": 1, "max_tokens": 0}).encode()
    request = urllib.request.Request(tiny_url + "/completions", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.loads(response.read())
    logprobs = answer["choices"][0]["logprobs"]
    assert "".join(logprobs["tokens"]) == text
    assert [text.index(t, o) for t, o in zip(logprobs["tokens"], logprobs["text_offset"], strict=True)] == logprobs["text_offset"]
    assert answer["usage"]["prompt_tokens"] == len(logprobs["tokens"]) == len(tiny.encode([text])[0])
    assert -sum(logprobs["token_logprobs"]) == pytest.approx(tiny.text_nll(examples([text]), LM)[0][0], abs=1e-4)
