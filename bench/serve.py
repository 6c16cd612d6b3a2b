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

Limits and failures (every failure is answered with an OpenAI-shaped JSON error body
``{"error": {"message", "type", "param", "code"}}``, never HTML, never a traceback):

- a body longer than :attr:`ServerLimits.max_body_bytes` → 413; a ``Content-Length`` that
  is not a number, or ``Transfer-Encoding`` → 400; both close the connection;
- the body of every request is read before it is routed, so a keep-alive connection
  stays in step after a 404;
- a client that sends nothing for :attr:`ServerLimits.read_timeout` seconds is dropped
  (408 where a body was half sent);
- more than :attr:`ServerLimits.max_prompts` prompts, or a prompt longer than
  :attr:`ServerLimits.max_prompt_chars` → 400; an answer longer than
  :attr:`ServerLimits.max_response_bytes` → 413 (send fewer or shorter prompts);
- a model that returns NaN or ±inf → 500 naming the prompt and token; any other model
  failure → 500 with the error's type; NaN never reaches the JSON;
- a client that disconnects is forgotten quietly (no traceback);
- at most :attr:`ServerLimits.max_connections` connections are served at once; more get
  an immediate 503 with ``Retry-After``.

:func:`make_server` listens on 127.0.0.1 unless told otherwise; ``bench serve`` warns
when it is bound to another address (the server has no authentication).
"""

from __future__ import annotations

import json
import math
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol, runtime_checkable

from bench.adapters.base import Adapter
from bench.errors import BenchError, CapabilityError, ConfigError

__all__ = ["MAX_BODY_BYTES", "ServerLimits", "TokenScorer", "completions_response", "error_body", "is_loopback",
           "make_server"]

MAX_BODY_BYTES = 16 * 2**20


@dataclass(frozen=True)
class ServerLimits:
    """Bounds of :func:`make_server` (sizes in bytes or characters, times in seconds)."""

    max_body_bytes: int = MAX_BODY_BYTES
    max_response_bytes: int = 64 * 2**20
    max_prompts: int = 1024
    max_prompt_chars: int = 2**20
    read_timeout: float = 30.0
    max_connections: int = 32

    def __post_init__(self) -> None:
        for key in ("max_body_bytes", "max_response_bytes", "max_prompts", "max_prompt_chars", "max_connections"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"ServerLimits.{key} must be a positive integer. Got {value!r} instead.")
        if not isinstance(self.read_timeout, int | float) or not math.isfinite(self.read_timeout) or self.read_timeout <= 0:
            raise ConfigError(f"ServerLimits.read_timeout must be a finite number of seconds > 0. Got {self.read_timeout!r} instead.")


@runtime_checkable
class TokenScorer(Protocol):
    """A model that gives per-token log-probabilities of texts (see ``HFCausalLM.token_logprobs``)."""

    name: str

    def token_logprobs(self, texts: Sequence[str]) -> list[Any]: ...


class RequestError(Exception):
    """A failure answered with an HTTP status and an OpenAI-style error body."""

    def __init__(self, status: int, message: str, param: str | None = None, *, close: bool = False) -> None:
        super().__init__(message)
        self.status, self.param, self.close = status, param, close


def error_body(status: int, message: str, param: str | None = None) -> dict[str, Any]:
    """The OpenAI API's error shape: ``{"error": {"message", "type", "param", "code"}}``."""
    kind = {400: "invalid_request_error", 404: "invalid_request_error", 408: "timeout_error",
            413: "invalid_request_error", 503: "server_busy"}.get(status, "server_error" if status >= 500 else
                                                                   "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": status}}


# -- validation ---------------------------------------------------------------------------
def _prompts(payload: Any, limits: ServerLimits = ServerLimits()) -> list[str]:
    if not isinstance(payload, dict):
        raise RequestError(400, "The request body must be a JSON object.")
    prompt = payload.get("prompt")
    prompts = [prompt] if isinstance(prompt, str) else prompt
    if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) for p in prompts):
        raise RequestError(400, "'prompt' must be a string or a non-empty list of strings (token ids are not supported).",
                           "prompt")
    if len(prompts) > limits.max_prompts:
        raise RequestError(400, f"At most {limits.max_prompts} prompts per request; got {len(prompts)}.", "prompt")
    for index, text in enumerate(prompts):
        if len(text) > limits.max_prompt_chars:
            raise RequestError(400, f"Prompt {index} has {len(text)} characters; at most {limits.max_prompt_chars} "
                               "are accepted.", "prompt")
    if payload.get("max_tokens", 0) not in (0, None) or isinstance(payload.get("max_tokens"), bool):
        raise RequestError(400, "This server only scores prompts: set max_tokens to 0 (and echo to true).", "max_tokens")
    if payload.get("echo") is not True:
        raise RequestError(400, "This server only scores prompts: set echo to true (and max_tokens to 0).", "echo")
    logprobs = payload.get("logprobs")
    if logprobs is not None and (not isinstance(logprobs, int) or isinstance(logprobs, bool) or not 0 <= logprobs <= 20):
        raise RequestError(400, f"'logprobs' must be an integer in [0, 20] or null; got {logprobs!r:.40}.", "logprobs")
    return prompts


# -- response builder -----------------------------------------------------------------------
def completions_response(scorer: TokenScorer, payload: Any, limits: ServerLimits = ServerLimits()) -> dict[str, Any]:
    """The JSON answer of ``POST /v1/completions`` for ``payload`` (see the module docstring).

    Raises
    ------
    RequestError
        400/404 for an invalid request, 500 where the model returns a non-finite log-probability.
    """
    prompts = _prompts(payload, limits)
    model = payload.get("model")
    if model not in (None, "", scorer.name):
        raise RequestError(404, f"The model {model!r:.80} does not exist; this server serves {scorer.name!r}.", "model")
    want_logprobs = payload.get("logprobs") is not None
    scored = scorer.token_logprobs(prompts)
    if len(scored) != len(prompts):
        raise RequestError(500, f"The model scored {len(scored)} texts for {len(prompts)} prompts.")
    choices, n_tokens = [], 0
    for index, (prompt, tokens) in enumerate(zip(prompts, scored, strict=True)):
        values = _finite_logprobs(tokens.logprobs, index)
        n_tokens += len(tokens.tokens)
        logprobs = {"tokens": list(tokens.tokens), "token_logprobs": values,
                    "text_offset": [int(o) for o in tokens.offsets], "top_logprobs": None} if want_logprobs else None
        choices.append({"index": index, "text": prompt, "logprobs": logprobs, "finish_reason": "length"})
    return {"id": f"cmpl-{uuid.uuid4().hex[:24]}", "object": "text_completion", "created": int(time.time()),
            "model": scorer.name, "choices": choices,
            "usage": {"prompt_tokens": n_tokens, "completion_tokens": 0, "total_tokens": n_tokens}}


def _finite_logprobs(values: Sequence[Any], prompt: int) -> list[float]:
    out = [float(v) for v in values]
    for position, value in enumerate(out):
        if not math.isfinite(value) or value > 1e-6:
            raise RequestError(500, f"The model returned an invalid log-probability ({value}) for prompt {prompt}, "
                               f"token {position}; nothing was sent for this request.")
    return out


# -- routes ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Context:
    scorer: TokenScorer
    lock: threading.Lock
    limits: ServerLimits


def _completions(context: _Context, body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RequestError(400, f"The body is not valid JSON ({type(exc).__name__} at position {getattr(exc, 'pos', 0)}).") from None
    except RecursionError:
        raise RequestError(400, "The body's JSON is nested too deeply.") from None
    with context.lock:
        return completions_response(context.scorer, payload, context.limits)


def _models(context: _Context, body: bytes) -> dict[str, Any]:
    return {"object": "list", "data": [{"id": context.scorer.name, "object": "model", "owned_by": "xdbench"}]}


def _health(context: _Context, body: bytes) -> dict[str, Any]:
    return {"status": "ok"}


Route = Callable[[_Context, bytes], dict[str, Any]]
ROUTES: dict[tuple[str, str], Route] = {
    ("POST", "/v1/completions"): _completions,
    ("POST", "/completions"): _completions,
    ("GET", "/v1/models"): _models,
    ("GET", "/models"): _models,
    ("GET", "/health"): _health,
}
"""``(method, path) → handler``: each returns the JSON answer or raises :class:`RequestError`."""


def _route(method: str, raw_path: str) -> Route:
    path = raw_path.split("?", 1)[0]
    path = path.rstrip("/") if path != "/" else path
    route = ROUTES.get((method, path))
    if route is not None:
        return route
    if any(p == path for _, p in ROUTES):
        allowed = ", ".join(m for m, p in ROUTES if p == path)
        raise RequestError(405, f"{method} is not allowed on {path!r:.80}; use {allowed}.")
    raise RequestError(404, f"No route {path!r:.80}; use POST /v1/completions.")


# -- the handler ----------------------------------------------------------------------------
def _handler(context: _Context, log: Callable[[str], None]) -> type[BaseHTTPRequestHandler]:
    class CompletionsHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "xdbench"
        timeout = context.limits.read_timeout

        def log_message(self, format: str, *args: Any) -> None:
            log(f"{self.client_address[0]} {format % args}")

        def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
            """Errors raised inside :mod:`http.server` (bad request line, headers too long) as JSON."""
            self.close_connection = True
            if getattr(self, "request_version", "HTTP/0.9") == "HTTP/0.9":
                self.request_version = "HTTP/1.0"  # answer with headers, as JSON, even to a garbled request line
            self._send(code, error_body(code, message or HTTPStatus(code).phrase))

        def _send(self, status: int, answer: dict[str, Any]) -> None:
            try:
                data = json.dumps(answer, allow_nan=False).encode()
            except ValueError:
                status, data = 500, json.dumps(error_body(500, "The answer held a non-finite number.")).encode()
            if len(data) > context.limits.max_response_bytes:
                message = (f"The answer would be {len(data)} bytes, more than {context.limits.max_response_bytes}; "
                           "send fewer or shorter prompts.")
                status, data = 413, json.dumps(error_body(413, message, "prompt")).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if self.close_connection:
                    self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)
            except OSError:  # the client went away
                self.close_connection = True

        def _body(self) -> bytes:
            """The whole body (read before routing, so that keep-alive stays in step)."""
            if self.headers.get("Transfer-Encoding"):
                raise RequestError(400, "Transfer-Encoding is not supported; send a Content-Length.", close=True)
            raw = self.headers.get("Content-Length")
            if raw is None:
                return b""
            if not raw.strip().isdigit():
                raise RequestError(400, f"Content-Length must be a number of bytes; got {raw!r:.40}.", close=True)
            length = int(raw)
            if length > context.limits.max_body_bytes:
                raise RequestError(413, f"The body has {length} bytes; at most {context.limits.max_body_bytes} "
                                   "are accepted.", close=True)
            data = self.rfile.read(length)
            if len(data) < length:
                raise RequestError(400, "The body ended before Content-Length bytes.", close=True)
            return data

        def _handle(self) -> None:
            try:
                body = self._body()
                answer, status = _route(self.command, self.path)(context, body), 200
            except RequestError as exc:
                self.close_connection = self.close_connection or exc.close
                answer, status = error_body(exc.status, str(exc), exc.param), exc.status
            except TimeoutError:
                self.close_connection = True
                answer, status = error_body(408, "The request was not received in time."), 408
            except BenchError as exc:
                answer, status = error_body(500, f"{type(exc).__name__}: {str(exc)[:500]}"), 500
            except Exception as exc:  # a model failure must not drop the connection
                log(f"{self.client_address[0]} model error: {type(exc).__name__}")
                answer, status = error_body(500, f"The model failed ({type(exc).__name__})."), 500
            self._send(status, answer)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _handle

    return CompletionsHandler


class _Server(ThreadingHTTPServer):
    """A threading server with a bound on connections and quiet disconnects."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], limits: ServerLimits,
                 log: Callable[[str], None]) -> None:
        self._slots = threading.BoundedSemaphore(limits.max_connections)
        self._log = log
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            _refuse_busy(request)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if not isinstance(error, ConnectionError | TimeoutError):
            self._log(f"{client_address[0]} connection error: {type(error).__name__}")


def _refuse_busy(request: socket.socket) -> None:
    data = json.dumps(error_body(503, "Too many connections; retry shortly.")).encode()
    head = (f"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n"
            "Retry-After: 1\r\nConnection: close\r\n\r\n").encode()
    try:
        request.sendall(head + data)
    except OSError:
        pass


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address or ``localhost`` (only this machine can connect)."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def make_server(adapter: Adapter, host: str = "127.0.0.1", port: int = 8000, *,
                log: Callable[[str], None] = lambda line: None,
                limits: ServerLimits | None = None) -> ThreadingHTTPServer:
    """A threading HTTP server (not yet serving) for ``adapter``; port 0 picks a free one.

    Call ``serve_forever()`` on it (in a thread, for tests) and ``shutdown()`` to stop.
    ``log`` receives one line per request. ``limits`` bounds sizes, time and connections
    (:class:`ServerLimits`; the module docstring says what each failure answers).

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
    limits = limits or ServerLimits()
    context = _Context(adapter, threading.Lock(), limits)
    try:
        return _Server((host, port), _handler(context, log), limits, log)
    except (OSError, OverflowError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(f"Cannot listen on {host}:{port}: {reason}. Choose another --port.") from None
