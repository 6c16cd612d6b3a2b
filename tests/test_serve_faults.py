"""`bench serve` under HTTP faults: every failure is an OpenAI-shaped JSON error, never a traceback.

The served model is a stand-in scorer (one token per character, log-probability -1 each),
so these tests need no model stack; the requests go over real sockets on 127.0.0.1.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from bench.adapters.base import Adapter
from bench.cli import main
from bench.errors import ConfigError
from bench.serve import ServerLimits, completions_response, error_body, is_loopback, make_server


@dataclass
class Tokens:
    tokens: list[str]
    logprobs: list[float]
    offsets: list[int]


@dataclass
class CharScorer(Adapter):
    """One token per character with log-probability -1; ``bad`` makes it misbehave."""

    name: str = "char-lm"
    bad: str = ""
    calls: list[int] = field(default_factory=list)
    task_kinds = frozenset({"language_modeling"})

    def token_logprobs(self, texts: Sequence[str]) -> list[Tokens]:
        self.calls.append(len(texts))
        if self.bad == "raise":
            raise TypeError("boom with a long internal message")
        out = []
        for text in texts:
            values = [-1.0] * len(text)
            if self.bad == "nan" and "x" in text:
                values[text.index("x")] = float("nan")
            if self.bad == "inf" and "x" in text:
                values[text.index("x")] = float("-inf")
            out.append(Tokens(list(text), values, list(range(len(text)))))
        return out

    def fingerprint(self) -> str:
        return self.name


@pytest.fixture
def serve() -> Iterator[Any]:
    servers = []

    def start(scorer: CharScorer | None = None, **limits: Any) -> tuple[int, CharScorer, list[str]]:
        scorer = scorer or CharScorer()
        lines: list[str] = []
        server = make_server(scorer, "127.0.0.1", 0, log=lines.append, limits=ServerLimits(**limits))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server.server_address[1], scorer, lines

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def exchange(port: int, raw: bytes, *, read_all: bool = False, timeout: float = 10.0) -> list[tuple[int, dict, dict]]:
    """Send ``raw`` bytes on one connection; parse every HTTP answer: (status, headers, JSON body)."""
    data = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(raw)
            if not read_all:
                sock.shutdown(socket.SHUT_WR)
        except OSError:  # the server answered and closed before reading everything (503, 413)
            pass
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass
    return parse_answers(data)


def parse_answers(data: bytes) -> list[tuple[int, dict, dict]]:
    answers = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        length = int(headers["content-length"])
        answers.append((int(lines[0].split()[1]), headers, json.loads(rest[:length])))
        data = rest[length:]
    return answers


def post(path: str, body: bytes, extra: str = "") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{extra}\r\n").encode() + body


GOOD = json.dumps({"prompt": ["ab", "cde"], "echo": True, "logprobs": 1, "max_tokens": 0}).encode()


def assert_openai_error(answer: tuple[int, dict, dict], status: int, message: str) -> None:
    code, headers, body = answer
    assert code == status and headers["content-type"] == "application/json"
    assert set(body["error"]) == {"message", "type", "param", "code"} and body["error"]["code"] == status
    assert message in body["error"]["message"], body


def test_a_good_request_is_scored(serve) -> None:
    port, scorer, _ = serve()
    [(status, _, body)] = exchange(port, post("/v1/completions", GOOD))
    assert status == 200
    assert [c["logprobs"]["token_logprobs"] for c in body["choices"]] == [[-1.0, -1.0], [-1.0, -1.0, -1.0]]
    assert body["usage"]["prompt_tokens"] == 5


@pytest.mark.parametrize(("raw", "status", "message"), [
    (b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}", 400, "Content-Length must be a number"),
    (b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", 400, "Content-Length must be a number"),
    (b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400,
     "Transfer-Encoding is not supported"),
    (b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n", 413, "The body has 99999999999 bytes"),
    (post("/v1/completions", b"{not json"), 400, "The body is not valid JSON"),
    (post("/v1/completions", b"[" * 100_000), 400, "nested too deeply"),
    (post("/v1/completions", b'"just a string"'), 400, "must be a JSON object"),
    (post("/v1/completions", b'{"prompt": [[1], "a", 3], "echo": true}'), 400,
     "'prompt' must be a string, a non-empty list of token ids, or a non-empty list of such prompts"),
    (post("/v1/completions", b'{"prompt": [[]], "echo": true}'), 400, "'prompt' must be a string, a non-empty list"),
    (post("/v1/completions", b'{"prompt": [1, 2], "echo": true}'), 400, "'char-lm' served here cannot score token-id"),
    (post("/v1/completions", b'{"prompt": "a", "echo": true, "max_tokens": 5}'), 400,
     "'char-lm' served here cannot generate text"),
    (post("/v1/completions", b'{"prompt": "a", "echo": false}'), 400, "cannot generate text"),
    (post("/v1/completions", b'{"prompt": "a", "echo": false, "max_tokens": 0}'), 400, "Nothing to do: set max_tokens > 0"),
    (post("/v1/completions", b'{"prompt": "a", "echo": "yes"}'), 400, "'echo' must be true or false"),
    (post("/v1/completions", b'{"prompt": "a", "max_tokens": -1}'), 400, "'max_tokens' must be an integer in [0, 4096]"),
    (post("/v1/completions", b'{"prompt": "a", "max_tokens": 5000}'), 400, "'max_tokens' must be an integer in [0, 4096]"),
    (post("/v1/completions", b'{"prompt": "a", "max_tokens": 4, "stop": ""}'), 400, "'stop' must be a non-empty string"),
    (post("/v1/completions", b'{"prompt": "a", "max_tokens": 4, "stop": ["x", 3]}'), 400, "'stop' must be a non-empty"),
    (post("/v1/completions", b'{"prompt": "a", "max_tokens": 4, "temperature": -1}'), 400,
     r"'temperature' must be a number in [0, 100], got a float -1.0."),
    (post("/v1/completions", b'{"prompt": "a", "max_tokens": 4, "temperature": "hot"}'), 400,
     "'temperature' must be a number"),
    (post("/v1/completions", b'{"prompt": "a", "max_tokens": 4, "top_p": 0}'), 400, "'top_p' must be a number in (0, 1], got a float 0.0."),
    (post("/v1/completions", b'{"prompt": "a", "max_tokens": 4, "seed": "s"}'), 400, "'seed' must be an integer"),
    (post("/v1/completions", b'{"prompt": "a", "max_tokens": 4, "n": 2}'), 400, "Only n = 1 is supported"),
    (post("/v1/completions", b'{"prompt": "a", "max_tokens": 4, "stream": true}'), 400, "Streaming is not supported"),
    (post("/v1/chat/completions", b'{"messages": []}'), 400, "'messages' must be a non-empty list"),
    (post("/v1/chat/completions", b'{"messages": [{"role": "user"}]}'), 400, "'messages' must be a non-empty list"),
    (post("/v1/chat/completions", b'{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}'), 400,
     "'max_tokens' must be at least 1 on /v1/chat/completions"),
    (post("/v1/chat/completions", b'{"messages": [{"role": "user", "content": "hi"}], "logprobs": true}'), 400,
     "logprobs are not supported on /v1/chat/completions"),
    (post("/v1/chat/completions", b'{"messages": [{"role": "user", "content": "hi"}]}'), 400,
     "'char-lm' served here cannot generate text"),
    (post("/v1/completions", b'{"prompt": "a", "echo": true, "logprobs": "many"}'), 400, "'logprobs' must be an integer"),
    (post("/v1/completions", b'{"prompt": "a", "echo": true, "model": "gpt-9"}'), 404, "'gpt-9' does not exist"),
    (post("/v1/elsewhere", GOOD), 404, "No route '/v1/elsewhere'"),
    (b"GET /v1/completions HTTP/1.1\r\nHost: x\r\n\r\n", 405, "GET is not allowed on '/v1/completions'; use POST"),
    (b"BREW /v1/completions HTTP/1.1\r\nHost: x\r\n\r\n", 501, "Unsupported method"),
    (b"garbage\r\n\r\n", 400, "Bad request"),
])
def test_every_bad_request_gets_a_json_error(serve, raw: bytes, status: int, message: str) -> None:
    port, scorer, _ = serve()
    answers = exchange(port, raw)
    assert len(answers) == 1
    assert_openai_error(answers[0], status, message)
    assert scorer.calls == []


def test_the_body_is_consumed_so_keep_alive_stays_in_step(serve) -> None:
    port, _, _ = serve()
    answers = exchange(port, post("/v1/elsewhere", GOOD) + post("/v1/completions", GOOD)
                       + b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert [a[0] for a in answers] == [404, 200, 200]
    assert answers[2][2] == {"status": "ok"}


@pytest.mark.parametrize("bad", ["nan", "inf"])
def test_non_finite_log_probabilities_are_a_500_naming_the_prompt(serve, bad: str) -> None:
    port, _, _ = serve(CharScorer(bad=bad))
    body = json.dumps({"prompt": ["ok", "fine", "bxd"], "echo": True, "logprobs": 1}).encode()
    [answer] = exchange(port, post("/v1/completions", body))
    assert_openai_error(answer, 500, "invalid log-probability")
    assert "for prompt 2, token 1" in answer[2]["error"]["message"]


def test_a_failing_model_is_a_500_and_the_connection_lives_on(serve) -> None:
    port, scorer, lines = serve(CharScorer(bad="raise"))
    answers = exchange(port, post("/v1/completions", GOOD) + b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert_openai_error(answers[0], 500, "The model failed (TypeError)")
    assert "long internal message" not in answers[0][2]["error"]["message"]
    assert answers[1][0] == 200 and any("model error: TypeError" in line for line in lines)


def test_sizes_are_bounded(serve) -> None:
    port, scorer, _ = serve(max_prompts=2, max_prompt_chars=10, max_response_bytes=600)
    many = json.dumps({"prompt": ["a", "b", "c"], "echo": True}).encode()
    long = json.dumps({"prompt": ["a" * 11], "echo": True}).encode()
    big = json.dumps({"prompt": ["a" * 10, "b" * 10], "echo": True, "logprobs": 1}).encode()
    answers = exchange(port, post("/v1/completions", many) + post("/v1/completions", long) + post("/v1/completions", big))
    assert_openai_error(answers[0], 400, "At most 2 prompts per request; got 3")
    assert_openai_error(answers[1], 400, "Prompt 0 has 11 characters; at most 10")
    assert_openai_error(answers[2], 413, "more than 600; send fewer or shorter prompts")


def test_a_half_sent_request_is_dropped_after_the_read_timeout(serve) -> None:
    port, scorer, _ = serve(read_timeout=0.5)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"prompt\"")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    [answer] = parse_answers(data)
    assert_openai_error(answer, 408, "not received in time")
    assert answer[1]["connection"] == "close" and scorer.calls == []


def test_idle_connections_are_closed_after_the_read_timeout(serve) -> None:
    port, _, _ = serve(read_timeout=0.3)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        assert sock.recv(10) == b""  # closed by the server, not by our 10 s timeout


def test_a_client_that_disconnects_leaves_no_traceback(serve, capfd: pytest.CaptureFixture[str]) -> None:
    port, _, lines = serve()
    prompts = json.dumps({"prompt": ["a" * 5000] * 50, "echo": True, "logprobs": 1}).encode()
    for _ in range(3):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(post("/v1/completions", prompts))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()  # reset before the answer is sent
    time.sleep(0.5)
    [(status, _, _)] = exchange(port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 200
    captured = capfd.readouterr()
    assert "Traceback" not in captured.err + captured.out + "\n".join(lines)


def test_connections_beyond_the_bound_get_503(serve) -> None:
    port, _, _ = serve(max_connections=2, reserve_connections=1, read_timeout=5)
    held = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(3)]  # 2 slots and the reserve
    try:
        time.sleep(0.2)
        [answer] = exchange(port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert_openai_error(answer, 503, "Too many connections")
        assert answer[1]["retry-after"] == "1"
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.2)
    assert exchange(port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")[0][0] == 200


def test_completions_response_refuses_nan_directly() -> None:
    from bench.serve import RequestError

    with pytest.raises(RequestError, match=r"invalid log-probability \(nan\) for prompt 0, token 0"):
        completions_response(CharScorer(bad="nan"), {"prompt": "x", "echo": True, "logprobs": 1})
    assert error_body(413, "m") == {"error": {"message": "m", "type": "invalid_request_error", "param": None, "code": 413}}


@pytest.mark.parametrize(("limits", "message"), [
    ({"read_timeout": float("nan")}, r"'ServerLimits\.read_timeout' must be a number in \(0, 86400\], got a float nan\."),
    ({"read_timeout": 0}, r"'ServerLimits\.read_timeout' must be a number in \(0, 86400\], got an integer 0\."),
    ({"request_deadline": True}, r"'ServerLimits\.request_deadline' must be a number in \(0, 86400\], got a boolean"),
    ({"max_connections": 0}, r"'ServerLimits\.max_connections' must be an integer in \[1, 1000000000\], got an integer 0\."),
    ({"max_body_bytes": 1.5}, r"'ServerLimits\.max_body_bytes' must be an integer in \[1, 1000000000\], got a float 1\.5\."),
    ({"max_prompts": True}, r"'ServerLimits\.max_prompts' must be an integer in \[1, 1000000000\], got a boolean True\."),
])
def test_limits_are_validated(limits: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ServerLimits(**limits)


def test_loopback_detection_and_the_cli_warning(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and is_loopback("127.0.0.2")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4") and not is_loopback("example.com")

    class Stop(Exception):
        pass

    def refuse(self: Any) -> None:
        raise Stop

    import bench.adapters
    import bench.serve

    monkeypatch.setattr(bench.adapters, "make_model", lambda spec: CharScorer())
    monkeypatch.setattr(bench.serve._Server, "serve_forever", refuse)
    for host, warned in (("127.0.0.1", False), ("0.0.0.0", True)):
        with pytest.raises(Stop):
            main(["serve", "--model", "x", "--host", host, "--port", "0", "--quiet"])
        err = capsys.readouterr().err
        assert ("warning: listening on 0.0.0.0, not on 127.0.0.1" in err) is warned
        assert "no authentication" in err or not warned


@dataclass
class HalfGenerator(CharScorer):
    """Generates token ids but cannot turn them back into text (no ``decode``)."""

    tokenizer: Any = "chars"

    def context_tokens(self, texts: Sequence[str]) -> list[list[int]]:
        return [[ord(c) for c in text] for text in texts]

    def token_logprobs_ids(self, prompts: Sequence[Sequence[int]], top: int = 0, start: Any = None) -> list[Any]:
        return []

    def generate_ids(self, prompts: Sequence[Sequence[int]], keys: Sequence[str], decoding: Any) -> list[Any]:
        return []


@dataclass
class OnlyGenerator(CharScorer):
    def generate_ids(self, prompts: Sequence[Sequence[int]], keys: Sequence[str], decoding: Any) -> list[Any]:
        return []


def test_the_served_contract_is_checked_at_start() -> None:
    from bench.errors import CapabilityError
    from bench.serve import SERVED_FEATURES, served_features

    assert served_features(CharScorer()) == ["score text prompts"]
    with pytest.raises(CapabilityError, match=r"Model 'char-lm' cannot be served: to score token-id prompts it needs "
                                              r"tokenizer, decode, token_logprobs_ids, and lacks decode "
                                              r"\(it has generate_ids, which needs it\)\. See docs/adapters.md"):
        make_server(HalfGenerator(), "127.0.0.1", 0)
    with pytest.raises(CapabilityError, match=r"to count prompt tokens it needs context_tokens, and lacks context_tokens "
                                              r"\(it has generate_ids, which needs it\)"):
        make_server(OnlyGenerator(), "127.0.0.1", 0)
    assert list(SERVED_FEATURES) == ["score text prompts", "count prompt tokens", "score token-id prompts",
                                     "generate text", "answer chat messages"]


def test_a_feature_the_model_lacks_is_a_400_naming_it_not_a_500() -> None:
    from bench.serve import RequestError, chat_response

    with pytest.raises(RequestError, match=r"'char-lm' served here cannot generate text \(it has no context_tokens, "
                                           r"tokenizer, decode, token_logprobs_ids, generate_ids\)") as caught:
        completions_response(CharScorer(), {"prompt": "a", "max_tokens": 3})
    assert (caught.value.status, caught.value.param) == (400, "max_tokens")
    with pytest.raises(RequestError, match="cannot generate text") as caught:
        chat_response(CharScorer(), {"messages": [{"role": "user", "content": "hi"}]})
    assert caught.value.status == 400


@pytest.mark.parametrize(("key", "value"), [("temperature", -1), ("top_p", 0), ("top_p", 1.5)])
def test_a_bad_decoding_value_names_its_own_parameter(key: str, value: float) -> None:
    from bench.serve import RequestError

    with pytest.raises(RequestError, match=key) as caught:
        completions_response(CharScorer(), {"prompt": "a", "max_tokens": 3, key: value})
    assert caught.value.param == key
