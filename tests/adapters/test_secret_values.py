"""Secrets are masked by value, whatever their shape (issue 26).

A server on 127.0.0.1 reflects the API key (in a 307 ``Location`` to another port, in an
error body) and the token in the URL's path (in an error body); for keys of several
shapes, a whole ``bench run`` must leave neither in stdout, stderr, any log record or any
file of the output folder (the store included).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import quote

import pytest

from bench.cli import main
from bench.errors import AdapterError, add_secret, redact
from tests.adapters.test_client_faults import Recorder, answer, echo_body, recorder  # noqa: F401 - the fixture

KEYS = ["correcthorsebatterystaplexyz", "sk-live-4242deadbeef0000cafe", "ABCD1234efgh", "p@ss:w/rd+x y%"]
PATH_TOKEN = "tok9f8e7d6c5b4a39281"


def _reflect_redirect(other: Recorder, key: str) -> Callable[[BaseHTTPRequestHandler, bytes], None]:
    def reply(handler: BaseHTTPRequestHandler, body: bytes) -> None:
        answer(handler, 307, b"", {"Location": f"{other.root}/ok/{quote(key, safe='')}/{key}/v1/completions"})
    return reply


def _reflect_error(key: str) -> Callable[[BaseHTTPRequestHandler, bytes], None]:
    def reply(handler: BaseHTTPRequestHandler, body: bytes) -> None:
        text = f'{{"error": "key {key} is not valid for {handler.path}"}}'
        answer(handler, 400, text.encode())
    return reply


def _leaks(out: Path, streams: str, log: str, secrets: list[str]) -> list[str]:
    found = [f"{name}: {s!r}" for name, text in (("streams", streams), ("log", log)) for s in secrets if s in text]
    for path in out.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path.name}: {s!r}" for s in secrets if s.encode() in data]
    return found


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("how", ["redirect", "error body"])
def test_no_secret_reaches_any_output(recorder, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],  # noqa: F811
                                      caplog: pytest.LogCaptureFixture, tmp_path: Path, key: str, how: str) -> None:
    monkeypatch.setenv("XDB_SECRET_KEY", key)
    caplog.set_level(logging.DEBUG)
    other = recorder(lambda h, b: answer(h, 200, b"{}"))
    server = recorder(_reflect_redirect(other, key) if how == "redirect" else _reflect_error(key))
    model = f"openai-compatible:{server.root}/v1/{PATH_TOKEN}?model=m&api_key_env=XDB_SECRET_KEY&max_retries=0"
    code = main(["run", "toy-reviews", "--model", model, "--out", str(tmp_path / "out"), "--task", "sentiment",
                 "--quiet"])
    streams = capsys.readouterr()
    assert code != 0 and "error:" in streams.err and "***" in streams.err, streams.err
    assert server.requests and server.requests[0][1]["Authorization"] == f"Bearer {key}"
    assert other.requests == []
    secrets = [key, quote(key, safe=""), PATH_TOKEN]
    assert _leaks(tmp_path / "out", streams.out + streams.err, caplog.text, secrets) == []


def test_a_complete_run_records_no_secret(recorder, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
                                           capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    key = "onlylettersinthiskey"
    monkeypatch.setenv("XDB_SECRET_KEY", key)
    server = recorder(lambda h, b: answer(h, 200, echo_body(b)))
    model = f"openai-compatible:{server.root}/v1/{PATH_TOKEN}?model=m&api_key_env=XDB_SECRET_KEY"
    code = main(["run", "toy-reviews", "--model", model, "--out", str(tmp_path / "out"), "--task", "sentiment",
                 "--limit", "2", "--quiet"])
    streams = capsys.readouterr()
    assert code == 0, streams.err
    assert (tmp_path / "out" / "leaderboard.csv").is_file() and list((tmp_path / "out" / "runs").glob("*/run.json"))
    assert _leaks(tmp_path / "out", streams.out + streams.err, "", [key, PATH_TOKEN]) == []


def test_registered_secrets_are_masked_in_every_bench_error() -> None:
    add_secret("plainlettersecret")
    assert redact("a plainlettersecret b") == "a *** b"
    assert str(AdapterError("saw plainlettersecret")) == "saw ***"
    add_secret("abc")  # too short to mask: it would garble every message
    assert redact("abc") == "abc"
