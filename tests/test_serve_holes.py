"""`bench serve` holes a reliability probe found (issue 26), with bounded concurrent clients on 127.0.0.1:
bursts answered (never reset), health checks answered while slow clients hold every slot,
slow clients dropped at the request deadline, prompts over the token cap refused before any
model call, conflicting or huge ``Content-Length`` refused, control bytes escaped in the log."""

from __future__ import annotations

import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest

from bench.serve import LISTEN_BACKLOG, ServerLimits, completions_response
from tests.test_serve_faults import GOOD, CharScorer, assert_openai_error, exchange, post, serve  # noqa: F401

HEALTH = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"


def test_a_burst_of_connections_is_answered_not_reset(serve) -> None:  # noqa: F811
    port, _, _ = serve(max_connections=8, reserve_connections=2)
    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(lambda _: exchange(port, post("/v1/completions", GOOD)), range(50)))
    statuses = [a[0][0] for a in answers]
    assert all(len(a) == 1 for a in answers) and set(statuses) <= {200, 503}, statuses
    assert statuses.count(200) >= 8
    assert LISTEN_BACKLOG >= 128


def _slow_client(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
    return sock


def test_health_is_answered_while_slow_clients_hold_every_slot(serve) -> None:  # noqa: F811
    port, scorer, _ = serve(max_connections=40, reserve_connections=2, read_timeout=20, request_deadline=20)
    slow = [_slow_client(port) for _ in range(40)]
    try:
        time.sleep(0.3)
        [health] = exchange(port, HEALTH)
        assert health[0] == 200 and health[2] == {"status": "ok"}
        [busy] = exchange(port, post("/v1/completions", GOOD))  # a reserve slot serves cheap routes only
        assert_openai_error(busy, 503, "only health checks are answered now")
        assert scorer.calls == []
    finally:
        for sock in slow:
            sock.close()


def test_a_trickling_client_is_dropped_at_the_request_deadline(serve) -> None:  # noqa: F811
    port, _, _ = serve(read_timeout=20, request_deadline=0.5)
    sock = _slow_client(port)
    data = b""
    with sock:
        for _ in range(40):  # one byte every 0.05 s: each read is in time, the whole request is not
            try:
                sock.sendall(b" ")
            except OSError:
                break
            time.sleep(0.05)
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except OSError:
            pass
    assert b"408" in data.split(b"\r\n", 1)[0] and b"was not received within 0.5 s" in data


@dataclass
class CountingTokenizer(CharScorer):
    """The char scorer with a tokenizer, as a language model has (one token per character)."""

    tokenized: list[int] = field(default_factory=list)

    def context_tokens(self, texts: list[str]) -> list[list[int]]:
        self.tokenized.append(len(texts))
        return [[ord(c) % 100 for c in text] for text in texts]


def test_prompts_over_the_token_cap_are_refused_before_any_model_call() -> None:
    from bench.serve import RequestError

    scorer = CountingTokenizer()
    limits = ServerLimits(max_prompt_tokens=50)
    with pytest.raises(RequestError, match=r"Prompt 1 has 51 tokens; at most 50 are accepted \(max_prompt_tokens\)"):
        completions_response(scorer, {"prompt": ["short", "x" * 51], "echo": True, "max_tokens": 0}, limits)
    assert scorer.calls == [] and scorer.tokenized == [1]  # only the long one was tokenized
    with pytest.raises(RequestError, match=r"Prompt 0 has 60 tokens"):
        completions_response(scorer, {"prompt": [[1] * 60], "echo": True, "max_tokens": 0}, limits)
    answer = completions_response(scorer, {"prompt": "y" * 50, "echo": True, "max_tokens": 0, "logprobs": 1}, limits)
    assert len(answer["choices"][0]["logprobs"]["token_logprobs"]) == 50


def test_a_100k_character_prompt_is_refused_over_http(serve) -> None:  # noqa: F811
    port, scorer, _ = serve(CountingTokenizer())
    body = json.dumps({"prompt": "z" * 100_000, "echo": True, "max_tokens": 0}).encode()
    [answer] = exchange(port, post("/v1/completions", body))
    assert_openai_error(answer, 400, "Prompt 0 has 100000 tokens; at most 8192 are accepted")
    assert scorer.calls == []


@pytest.mark.parametrize(("headers", "message"), [
    ("Content-Length: 5\r\nContent-Length: 9\r\n", "The request has 2 Content-Length headers; send one"),
    ("Content-Length: " + "9" * 5000 + "\r\n", "Content-Length must be a number of bytes (at most 15 digits)"),
])
def test_conflicting_or_huge_content_length_is_a_400(serve, headers: str, message: str) -> None:  # noqa: F811
    port, scorer, _ = serve()
    raw = f"POST /v1/completions HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode() + b'{"prompt": "a"}'
    [answer] = exchange(port, raw)
    assert_openai_error(answer, 400, message)
    assert scorer.calls == []


def test_control_bytes_of_a_request_are_escaped_in_the_log(serve) -> None:  # noqa: F811
    port, _, lines = serve()
    exchange(port, b"GET /he\x1b[31malth\x07 HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.1)
    assert lines and not any(c in line for line in lines for c in "\x1b\x07"), lines
    assert any("\\x1b[31m" in line for line in lines)


def test_server_limits_check_the_new_bounds() -> None:
    from bench.errors import ConfigError

    for bad in ({"request_deadline": 0}, {"reserve_connections": 0}, {"max_prompt_tokens": -1},
                {"request_deadline": float("inf")}):
        with pytest.raises(ConfigError, match=r"'ServerLimits\.\w+' must be"):
            ServerLimits(**bad)  # type: ignore[arg-type]




def test_an_http_0_9_request_line_is_answered_at_once(serve) -> None:  # noqa: F811
    port, _, _ = serve(read_timeout=20, request_deadline=20)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /health\r\n")  # and nothing more: the write side stays open
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 400") and b"HTTP/0.9 requests are not supported" in data
