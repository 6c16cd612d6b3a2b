"""The OpenAI-compatible client under hostile servers: redirects, echoed keys, trickling answers.

Every server here is a recording server on 127.0.0.1 (real sockets, no network). The API
key must never appear in any message, log line or file, and no request may outlive its deadline.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from bench.adapters import make_model
from bench.adapters.openai_compatible import (
    OpenAICompatible,
    OpenAICompatibleConfig,
    _retry_after,
)
from bench.adapters.spec_options import redact_spec, redact_url
from bench.cli import main
from bench.errors import AdapterError, ConfigError
from tests.adapters.conftest import LM, SENTIMENT, examples

SECRET = "sk-live-4242deadbeef0000cafe"
PATH_TOKEN = "tok9f8e7d6c5b4a39281"


class Recorder:
    """A server on 127.0.0.1 that records every request (headers, path, body) and answers by ``reply``."""

    def __init__(self, reply: Callable[[BaseHTTPRequestHandler, bytes], None]) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                recorder.requests.append((self.path, dict(self.headers), body))
                reply(self, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.root = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def answer(handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
    handler.send_response(status)
    for key, value in (headers or {}).items():
        handler.send_header(key, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def echo_body(body: bytes) -> bytes:
    prompts = json.loads(body)["prompt"]
    prompts = [prompts] if isinstance(prompts, str) else prompts
    return json.dumps({"choices": [{"index": i, "logprobs": {"token_logprobs": [-1.0] * len(p),
                                                             "text_offset": list(range(len(p)))}}
                                   for i, p in enumerate(prompts)]}).encode()


@pytest.fixture
def recorder() -> Iterator[Callable[..., Recorder]]:
    started: list[Recorder] = []

    def start(reply: Callable[[BaseHTTPRequestHandler, bytes], None]) -> Recorder:
        started.append(Recorder(reply))
        return started[-1]

    yield start
    for server in started:
        server.close()


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("XDB_TEST_KEY", SECRET)
    return SECRET


def client(url: str, **options: object) -> OpenAICompatible:
    config = OpenAICompatibleConfig(base_url=url, model="m", api_key_env="XDB_TEST_KEY", backoff=0.01, **options)  # type: ignore[arg-type]
    return OpenAICompatible(config)


def test_redirect_to_another_host_sends_nothing_there(recorder, key: str, caplog: pytest.LogCaptureFixture) -> None:
    other = recorder(lambda h, b: answer(h, 200, echo_body(b)))
    first = recorder(lambda h, b: answer(h, 307, b"", {"Location": f"{other.root}/v1/completions"}))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AdapterError, match=r"redirected to http://127\.0\.0\.1:\d+/v1/completions, another host; "
                                           r"redirects to other hosts are not followed"):
        client(first.root + "/v1", max_retries=0).text_nll(examples(["a"]), LM)
    assert other.requests == []
    assert first.requests[0][1]["Authorization"] == f"Bearer {key}"
    assert key not in caplog.text


def test_same_host_redirect_is_followed(recorder, key: str) -> None:
    def reply(handler: BaseHTTPRequestHandler, body: bytes) -> None:
        if handler.path == "/old/completions":
            answer(handler, 308, b"", {"Location": "/new/completions"})
        else:
            answer(handler, 200, echo_body(body))

    server = recorder(reply)
    nll, n_tokens = client(server.root + "/old").text_nll(examples(["abc"]), LM)
    assert nll.tolist() == [3.0] and n_tokens.tolist() == [3]
    assert [path for path, _, _ in server.requests] == ["/old/completions", "/new/completions"]


@pytest.mark.parametrize("status", [301, 302, 303])
def test_other_redirects_are_errors(recorder, key: str, status: int) -> None:
    server = recorder(lambda h, b: answer(h, status, b"", {"Location": "/elsewhere"}))
    with pytest.raises(AdapterError, match=rf"answered HTTP {status} .*only 307/308 redirects to the same host"):
        client(server.root + "/v1").text_nll(examples(["a"]), LM)
    assert len(server.requests) == 1


def test_redirect_loops_end(recorder, key: str) -> None:
    server = recorder(lambda h, b: answer(h, 307, b"", {"Location": "/v1/completions"}))
    with pytest.raises(AdapterError, match=r"redirected more than 3 times"):
        client(server.root + "/v1").text_nll(examples(["a"]), LM)
    assert len(server.requests) == 4


def test_a_server_echoing_the_key_is_not_quoted(recorder, key: str) -> None:
    def reply(handler: BaseHTTPRequestHandler, body: bytes) -> None:
        auth = handler.headers["Authorization"]
        answer(handler, 401, json.dumps({"error": {"message": f"Invalid key {auth} ({key[:-1]}…)"}}).encode())

    server = recorder(reply)
    with pytest.raises(AdapterError, match=r"answered HTTP 401 Unauthorized: .*Invalid key Bearer \*\*\*") as caught:
        client(server.root + "/v1").text_nll(examples(["a"]), LM)
    assert key not in str(caught.value)


def test_an_echoed_key_in_malformed_json_is_not_quoted(recorder, key: str) -> None:
    server = recorder(lambda h, b: answer(h, 200, f"not json; you sent {h.headers['Authorization']}".encode()))
    with pytest.raises(AdapterError, match=r"returned malformed JSON .*you sent Bearer \*\*\*") as caught:
        client(server.root + "/v1").text_nll(examples(["a"]), LM)
    assert key not in str(caught.value)


def test_path_tokens_never_reach_messages_or_files(recorder, key: str, tmp_path: Path, recwarn: pytest.WarningsRecorder,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    server = recorder(lambda h, b: answer(h, 200, echo_body(b)))
    spec = f"openai-compatible:{server.root}/v1/{PATH_TOKEN}?model=m&api_key_env=XDB_TEST_KEY"
    out = tmp_path / "results"
    assert main(["run", "toy-reviews", "--model", spec, "--limit", "3", "--out", str(out), "--quiet",
                 "--task", "sentiment"]) == 0
    assert server.requests and server.requests[0][0] == f"/v1/{PATH_TOKEN}/completions"
    written = "".join(p.read_bytes().decode("latin-1") for p in out.rglob("*") if p.is_file() and p.suffix != ".gz")
    printed = "".join(capsys.readouterr())
    for secret in (key, PATH_TOKEN):
        assert secret not in written and secret not in printed
    meta = json.loads(next(out.rglob("run.json")).read_text())
    shown = f"openai-compatible:{server.root}/v1/***?model=m&api_key_env=XDB_TEST_KEY"
    assert meta["config"]["models"] == [shown]
    leaderboard = (out / "leaderboard.csv").read_text()
    assert shown in leaderboard
    assert all(PATH_TOKEN not in str(w.message) and key not in str(w.message) for w in recwarn)
    server.close()
    with pytest.raises(AdapterError) as caught:
        make_model(spec + "&max_retries=0").text_nll(examples(["a"]), LM)
    assert PATH_TOKEN not in str(caught.value) and "/v1/***/completions" in str(caught.value)


def test_redact_url_drops_userinfo_tokens_and_query_values() -> None:
    assert redact_url("https://u:p@api.x.com:8443/v1/sk-abc/deployment-1?api-key=123&x=") == \
        "https://api.x.com:8443/v1/***/deployment-1?api-key=***&x=***"
    assert redact_url(f"http://[::1]:80/{PATH_TOKEN}/v1") == "http://[::1]:80/***/v1"
    assert redact_url("http://host/v1/completions") == "http://host/v1/completions"
    assert redact_spec("hf-causal-lm:/models/lm") == "hf-causal-lm:/models/lm"
    assert redact_spec("openai-compatible:http://h/v1?model=m") == "openai-compatible:http://h/v1?model=m"
    assert redact_spec(f"openai-compatible:http://h/{PATH_TOKEN}/v1") == "openai-compatible:http://h/***/v1"


def test_a_trickling_server_is_cut_at_the_deadline(key: str) -> None:
    # One byte every 0.1 s never trips the per-read timeout (0.5 s); only the deadline ends it.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()

    def trickle() -> None:
        conn, _ = listener.accept()
        conn.recv(65536)
        head = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"
        conn.sendall(head)
        while not stop.is_set():
            try:
                conn.sendall(b" ")
            except OSError:
                break
            time.sleep(0.1)
        conn.close()

    threading.Thread(target=trickle, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    try:
        with pytest.raises(AdapterError, match=r"did not finish answering within the deadline of 1\.5 s"):
            client(url, timeout=0.5, deadline=1.5, max_retries=0).text_nll(examples(["a"]), LM)
    finally:
        stop.set()
        listener.close()


def test_a_silent_server_trips_the_read_timeout(recorder, key: str) -> None:
    server = recorder(lambda h, b: (time.sleep(1.0), answer(h, 200, echo_body(b))))
    with pytest.raises(AdapterError, match=r"did not answer within 0\.2 s"):
        client(server.root + "/v1", timeout=0.2, deadline=5.0).text_nll(examples(["a"]), LM)


def test_oversized_answers_are_refused(recorder, key: str) -> None:
    server = recorder(lambda h, b: answer(h, 200, b" " * 5000 + echo_body(b)))
    with pytest.raises(AdapterError, match=r"answered more than max_response_bytes = 4096 bytes"):
        client(server.root + "/v1", max_response_bytes=4096).text_nll(examples(["a"]), LM)
    assert len(server.requests) == 1


def test_backoff_is_capped_exponential_with_jitter() -> None:
    adapter = OpenAICompatible(OpenAICompatibleConfig(base_url="http://127.0.0.1:9/v1", backoff=0.5, backoff_max=4.0))
    adapter._rng.seed(0)
    draws = np.array([[adapter.retry_delay(k) for _ in range(400)] for k in range(8)])
    bases = np.minimum(4.0, 0.5 * 2.0 ** np.arange(8))  # closed form of the cap
    assert np.all(draws >= 0.5 * bases[:, None]) and np.all(draws <= bases[:, None])
    np.testing.assert_allclose(draws.mean(axis=1), 0.75 * bases, rtol=0.05)  # E[U(0.5, 1)] = 0.75
    assert adapter.retry_delay(10**6) <= 4.0
    assert _retry_after({"retry-after": "1e9"}, 1.0, 4.0) == 4.0
    assert _retry_after({"retry-after": "nan"}, 1.0, 4.0) == 1.0
    assert _retry_after({"retry-after": "-5"}, 1.0, 4.0) == 0.0
    assert _retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 1.5, 4.0) == 1.5


def test_many_retries_end_after_a_bounded_wait(recorder, key: str) -> None:
    server = recorder(lambda h, b: answer(h, 503, b"busy", {"Retry-After": "100000"}))
    with pytest.raises(AdapterError, match=r"answered HTTP 503 .* after 4 attempts: busy"):
        client(server.root + "/v1", max_retries=3, backoff_max=0.02).text_nll(examples(["a"]), LM)
    assert len(server.requests) == 4


@pytest.mark.parametrize(("option", "value", "message"), [
    ("timeout", float("nan"), r"'OpenAICompatibleConfig\.timeout' must be a number in \(0, 3600\], got a float nan\."),
    ("timeout", float("inf"), r"'OpenAICompatibleConfig\.timeout' must be a number in \(0, 3600\], got a float inf\."),
    ("timeout", 0, r"'OpenAICompatibleConfig\.timeout' must be a number in \(0, 3600\], got an integer 0\."),
    ("deadline", -1.0, r"'OpenAICompatibleConfig\.deadline' must be a number in \(0, 86400\], got a float -1\.0\."),
    ("backoff", float("nan"), r"'OpenAICompatibleConfig\.backoff' must be a number in \[0, 3600\], got a float nan\."),
    ("backoff", -0.5, r"'OpenAICompatibleConfig\.backoff' must be a number in \[0, 3600\], got a float -0\.5\."),
    ("backoff_max", 0.1, r"'OpenAICompatibleConfig\.backoff_max' must be a number in \[0\.5, 3600\], got a float 0\.1\."),
    ("max_retries", 10**6, r"'OpenAICompatibleConfig\.max_retries' must be an integer in \[0, 100\], got an integer 1000000"),
    ("max_retries", True, r"'OpenAICompatibleConfig\.max_retries' must be an integer in \[0, 100\], got a boolean True\."),
    ("max_workers", 0, r"'OpenAICompatibleConfig\.max_workers' must be an integer in \[1, 256\], got an integer 0\."),
    ("max_response_bytes", 0, r"'OpenAICompatibleConfig\.max_response_bytes' must be an integer in \[1, 1099511627776\]"),
    ("chat", 1, r"'OpenAICompatibleConfig\.chat' must be true or false, got an integer 1\."),
    ("normalize", "chars", r"'OpenAICompatibleConfig\.normalize' must be one of none, token, byte; got 'chars'\."),
])
def test_timeouts_and_backoff_are_validated(option: str, value: object, message: str) -> None:
    options = {"backoff": 0.5, option: value}
    with pytest.raises(ConfigError, match=message):
        OpenAICompatibleConfig(base_url="http://127.0.0.1:8000/v1", **options)  # type: ignore[arg-type]


def test_spec_options_are_validated_and_urls_redacted_in_errors() -> None:
    with pytest.raises(ConfigError, match=r"'OpenAICompatibleConfig\.timeout' must be a number in \(0, 3600\], got a float nan\."):
        make_model("openai-compatible:http://127.0.0.1:8000/v1?timeout=nan")
    with pytest.raises(ConfigError, match=r"'OpenAICompatibleConfig\.base_url' must be an http\(s\) URL .*, got 'ftp://h/\*\*\*'\.") as caught:
        make_model(f"openai-compatible:ftp://h/{PATH_TOKEN}")
    assert PATH_TOKEN not in str(caught.value)
    with pytest.raises(ConfigError, match=r"'OpenAICompatibleConfig\.base_url' must have a valid port"):
        make_model("openai-compatible:http://h:99999999/v1")


def test_classification_still_scores_through_a_recording_server(recorder, key: str) -> None:
    server = recorder(lambda h, b: answer(h, 200, echo_body(b)))
    scores = client(server.root + "/v1").log_probs(examples(["good"]), SENTIMENT)
    np.testing.assert_allclose(np.exp(scores).sum(axis=1), 1.0)
    assert all(headers["Authorization"] == f"Bearer {key}" for _, headers, _ in server.requests)


def test_a_run_with_a_secret_in_its_url_resumes_only_with_the_spec_given_again() -> None:
    from bench.pipeline import _storable, _with_secrets, config_from_dict
    from bench.runner import RunConfig

    spec = "openai-compatible:http://127.0.0.1:9/v1/tok9f8e7d6c5b4a39281?model=m"
    stored = _storable(RunConfig(models=(spec, "majority")))
    assert "tok9f8e7d6c5b4a39281" not in json.dumps(stored)

    again = _with_secrets(config_from_dict(stored), RunConfig(models=(spec,)), "r1")
    assert again.models == (spec, "majority")
    with pytest.raises(ConfigError, match=r"Run r1 names model\(s\) .*\*\*\*.* whose URL held a secret"):
        _with_secrets(config_from_dict(stored), RunConfig(), "r1")
