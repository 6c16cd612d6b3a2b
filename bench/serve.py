"""``bench serve``: a model behind the OpenAI ``/v1/completions`` API (scoring only).

The server answers what :class:`~bench.adapters.openai_compatible.OpenAICompatible` (and
lm-evaluation-harness's ``local-completions``) ask of a completions endpoint: the
log-probabilities of the *prompt's* tokens.

``POST /v1/completions`` with JSON ``{"prompt": str | [str, ...], "echo": true,
"logprobs": N, "max_tokens": 0, "model": NAME}`` answers, per prompt, a choice whose
``logprobs`` holds ``tokens``, ``token_logprobs`` (``ln p(token_i | prefix, tokens_<i)``,
nats, every token scored after the model's prefix token), ``text_offset`` (character
offsets into the prompt) and ``top_logprobs: null``. Without ``logprobs`` the choice's
``logprobs`` is ``null`` (as OpenAI answers). The server does not generate text:
``max_tokens`` must be 0 and ``echo`` true; anything else is answered 400.
``GET /v1/models`` lists the one model; ``GET /health`` answers 200.

What can be served: any adapter with ``token_logprobs(texts)`` returning per-token
log-probabilities — the language models (``smollm2-135m``, ``hf-causal-lm:PATH``).
Classifiers and regressors have no token log-probabilities and cannot be expressed in the
completions API; :func:`make_server` refuses them with a :class:`CapabilityError`.
Requests are served on threads, one model call at a time.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol, runtime_checkable

from bench.adapters.base import Adapter
from bench.errors import BenchError, CapabilityError, ConfigError

__all__ = ["TokenScorer", "completions_response", "make_server"]

MAX_BODY_BYTES = 16 * 2**20


@runtime_checkable
class TokenScorer(Protocol):
    """A model that gives per-token log-probabilities of texts (see ``HFCausalLM.token_logprobs``)."""

    name: str

    def token_logprobs(self, texts: Sequence[str]) -> list[Any]: ...


class RequestError(Exception):
    """A client error answered with an HTTP status and an OpenAI-style error body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _prompts(payload: Any) -> list[str]:
    if not isinstance(payload, dict):
        raise RequestError(400, "The request body must be a JSON object.")
    prompt = payload.get("prompt")
    prompts = [prompt] if isinstance(prompt, str) else prompt
    if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) for p in prompts):
        raise RequestError(400, "'prompt' must be a string or a non-empty list of strings (token ids are not supported).")
    if payload.get("max_tokens", 0) not in (0, None):
        raise RequestError(400, "This server only scores prompts: set max_tokens to 0 (and echo to true).")
    if payload.get("echo") is not True:
        raise RequestError(400, "This server only scores prompts: set echo to true (and max_tokens to 0).")
    return prompts


def completions_response(scorer: TokenScorer, payload: Any) -> dict[str, Any]:
    """The JSON answer of ``POST /v1/completions`` for ``payload`` (see the module docstring)."""
    prompts = _prompts(payload)
    model = payload.get("model")
    if model not in (None, "", scorer.name):
        raise RequestError(404, f"The model {model!r} does not exist; this server serves {scorer.name!r}.")
    want_logprobs = payload.get("logprobs") is not None
    scored = scorer.token_logprobs(prompts)
    choices, n_tokens = [], 0
    for index, (prompt, tokens) in enumerate(zip(prompts, scored, strict=True)):
        n_tokens += len(tokens.tokens)
        logprobs = {"tokens": list(tokens.tokens), "token_logprobs": [float(v) for v in tokens.logprobs],
                    "text_offset": list(tokens.offsets), "top_logprobs": None} if want_logprobs else None
        choices.append({"index": index, "text": prompt, "logprobs": logprobs, "finish_reason": "length"})
    return {"id": f"cmpl-{uuid.uuid4().hex[:24]}", "object": "text_completion", "created": int(time.time()),
            "model": scorer.name, "choices": choices,
            "usage": {"prompt_tokens": n_tokens, "completion_tokens": 0, "total_tokens": n_tokens}}


def _handler(scorer: TokenScorer, lock: threading.Lock, log: Callable[[str], None]) -> type[BaseHTTPRequestHandler]:
    class CompletionsHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            log(f"{self.address_string()} {format % args}")

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str) -> None:
            kind = "invalid_request_error" if status < 500 else "server_error"
            self._send(status, {"error": {"message": message, "type": kind, "code": status}})

        def do_GET(self) -> None:
            if self.path.rstrip("/") in ("/v1/models", "/models"):
                self._send(200, {"object": "list", "data": [{"id": scorer.name, "object": "model", "owned_by": "xdbench"}]})
            elif self.path == "/health":
                self._send(200, {"status": "ok"})
            else:
                self._error(404, f"No route {self.path!r}; use POST /v1/completions.")

        def do_POST(self) -> None:
            if self.path.rstrip("/") not in ("/v1/completions", "/completions"):
                self._error(404, f"No route {self.path!r}; use POST /v1/completions.")
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
                if not 0 < length <= MAX_BODY_BYTES:
                    raise RequestError(400 if length <= 0 else 413, f"Body length must be 1..{MAX_BODY_BYTES} bytes.")
                try:
                    payload = json.loads(self.rfile.read(length))
                except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                    raise RequestError(400, f"The body is not valid JSON: {exc}.") from None
                with lock:
                    body = completions_response(scorer, payload)
            except RequestError as exc:
                self._error(exc.status, str(exc))
                return
            except BenchError as exc:
                self._error(500, f"{type(exc).__name__}: {exc}")
                return
            self._send(200, body)

    return CompletionsHandler


def make_server(adapter: Adapter, host: str = "127.0.0.1", port: int = 8000, *,
                log: Callable[[str], None] = lambda line: None) -> ThreadingHTTPServer:
    """A threading HTTP server (not yet serving) for ``adapter``; port 0 picks a free one.

    Call ``serve_forever()`` on it (in a thread, for tests) and ``shutdown()`` to stop.
    ``log`` receives one line per request.

    Raises
    ------
    ConfigError
        If the address cannot be bound (port taken, host unknown).
    CapabilityError
        If the adapter has no per-token log-probabilities (see the module docstring).
    """
    if not isinstance(adapter, TokenScorer):
        raise CapabilityError(
            f"Model {adapter.name!r} cannot be served over the completions API: it has no token "
            "log-probabilities (only language models such as smollm2-135m or hf-causal-lm:PATH can be served).")
    try:
        server = ThreadingHTTPServer((host, port), _handler(adapter, threading.Lock(), log))
    except OSError as exc:
        raise ConfigError(f"Cannot listen on {host}:{port}: {exc.strerror or exc}. Choose another --port.") from exc
    server.daemon_threads = True
    return server
