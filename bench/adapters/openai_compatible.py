"""``openai-compatible``: score with any server of the OpenAI ``/v1/completions`` API.

vLLM, llama.cpp's server, text-generation-inference, ``bench serve`` and others return
the log-probability of every *prompt* token when asked for ``echo=true`` together with
``logprobs`` and ``max_tokens=0``. From those:

- classification: the prompt is ``template(text) + continuation_k`` for each choice; the
  choice's score ``s_k`` is the sum of ``token_logprobs`` over the tokens whose
  ``text_offset`` is at or after the end of the prompt (optionally divided by the number
  of such tokens or the continuation's UTF-8 bytes), then renormalised over the choices:
  ``log_probs[k] = s_k − logsumexp_j s_j`` (as :mod:`bench.adapters.hf_causal_lm`).
  The server tokenizes prompt and continuation together, so a token that straddles the
  boundary counts as prompt: choose continuations that start a new token (" positive").
- generation: ``generate`` posts the prompt text (``prompt.text()``) to ``/completions``
  with ``max_tokens``, ``stop``, ``temperature``, ``top_p`` and ``seed`` from the task's
  decoding, or, with the ``chat`` option, the prompt's messages (``prompt.messages()``) to
  ``/chat/completions``, one conversation per request. When sampling, each prompt is sent
  alone with the seed :func:`~bench.adapters.decoding.request_seed` of the task's seed
  and its example id, so its text does not depend on the other requests. The text is
  cut before the first stop sequence again (a server that leaves the stop in changes
  nothing). An answer with an ``error`` object, the wrong number of choices, a choice
  whose ``index`` is not that of a prompt, or no text is an :class:`AdapterError` naming
  the model, the example and the field.
- language modelling: ``text_nll`` is the negated sum of the non-null ``token_logprobs``
  of the echoed text; ``n_tokens`` counts them (servers that give the first token no
  log-probability score one token fewer than there are).

Requests carry up to ``prompts_per_request`` prompts and run on a bounded thread pool.
Each request has two time limits: ``timeout`` (seconds without a byte from the server,
per read) and ``deadline`` (seconds for the whole exchange, however slowly the server
trickles its answer); an answer is at most ``max_response_bytes`` long. HTTP 429 and
5xx answers and dropped connections are retried ``max_retries`` times after a capped,
jittered exponential back-off: before retry ``k`` (0-based) the client waits

    ``min(backoff_max, backoff · 2^k) · U``,  ``U ~ Uniform(0.5, 1)``

seconds, or the server's ``Retry-After`` (capped at ``backoff_max``).

Secrets. The API key is read from the environment variable named by ``api_key_env`` at
request time and sent as ``Authorization: Bearer``; it is never stored on the adapter or
put in its fingerprint. Secrets are masked by *value*, whatever they look like: the key,
and the tokens of ``base_url`` (its token-like path segments, see below, and the values of
query parameters whose name holds ``key``, ``token``, ``secret``, ``auth``, ``sig``,
``pass`` or ``cred``) are registered with :func:`bench.errors.add_secret` when the client
is built, so that every error and warning message, the store's error column and
``run.json`` show ``***`` in their place, however a server reflects them (an error body,
a redirect's ``Location``); any ``Bearer`` token in a quoted answer is masked too. Redirects
are followed only when they are 307/308 to the same scheme, host and port (at most 3);
a redirect elsewhere is an error and nothing, the key included, is sent to the other
host. ``base_url`` may not hold user-info (``user:pass@``). What is recorded of the URL
(in ``run.json``, the leaderboard, the fingerprint's input and every message) is its
redacted form, :func:`redact_url`: scheme, host, port and path, with each path segment
that looks like a token (:data:`TOKEN_SEGMENT`: 16 or more characters mixing letters
and digits, or starting ``sk-``) and every query value of the URL replaced by ``***``;
a model spec keeps its adapter options (``?model=NAME&normalize=byte``) as given
(:func:`redact_spec`).
"""

from __future__ import annotations

import http.client
import json
import math
import os
import random
import re
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import numpy as np
from scipy.special import logsumexp

from bench.adapters.base import Adapter, config_fingerprint, prompt_text
from bench.adapters.decoding import cut_at_stop, request_seed
from bench.adapters.spec_options import config_options
from bench.errors import AdapterError, CapabilityError, ConfigError, add_secret, redact
from bench.suites.generation import Decoding, GenerationRequest
from bench.suites.kinds import kind_of
from bench.suites.types import Example, Task

__all__ = [
    "TOKEN_SEGMENT",
    "EchoedPrompt",
    "OpenAICompatible",
    "OpenAICompatibleConfig",
    "openai_compatible",
    "redact_spec",
    "register_url_secrets",
    "redact_url",
]

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_REDIRECTS = 3
TOKEN_SEGMENT = re.compile(r"(?=[^/]*[A-Za-z])(?=[^/]*\d)[^/]{16,}|sk-[^/]+")
"""A URL path segment that looks like a secret and is recorded as ``***``."""
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s\"',;]+")
_URL = re.compile(r"https?://[^\s\"'<>]+")


def redact_url(url: str) -> str:
    """``url`` without user-info, with token-like path segments and every query value as ``***``.

    >>> redact_url("https://user:pw@api.example.com:8443/v1/sk-abc/x?key=123&model=m")
    'https://api.example.com:8443/v1/***/x?key=***&model=***'
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparsable URL>"
    if ":" in host:
        host = f"[{host}]"
    path = "/".join("***" if TOKEN_SEGMENT.fullmatch(seg) else seg for seg in parts.path.split("/"))
    query = urlencode([(k, "***") for k, _ in parse_qsl(parts.query, keep_blank_values=True)], safe="*")
    return redact(urlunsplit((parts.scheme, host + port, path, query, "")))


_SECRET_QUERY = re.compile(r"(?i)key|token|secret|auth|sig|pass|cred")


def register_url_secrets(url: str) -> None:
    """Register the secrets a URL holds (see the module docstring) with :func:`bench.errors.add_secret`."""
    try:
        parts = urlsplit(url)
        add_secret(parts.password)
    except ValueError:
        return
    for segment in parts.path.split("/"):
        if TOKEN_SEGMENT.fullmatch(segment):
            add_secret(segment)
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if _SECRET_QUERY.search(key) or TOKEN_SEGMENT.fullmatch(value):
            add_secret(value)


def redact_spec(spec: str) -> str:
    """A model spec with its URL redacted (:func:`redact_url`): what records, ``run.json`` and the
    leaderboard name a model by. The options after the spec's first ``?`` are adapter options
    (validated names such as ``model``, ``normalize``, ``api_key_env``; never the key itself)
    and are kept as given.

    >>> redact_spec("openai-compatible:http://h:8000/v1/sk-abc?model=m")
    'openai-compatible:http://h:8000/v1/***?model=m'
    """
    body, mark, options = spec.partition("?")
    return redact(_URL.sub(lambda m: redact_url(m.group(0)), body) + mark + options)


def _redact(text: str, secret: str | None) -> str:
    add_secret(secret)
    return redact(_BEARER.sub(r"\1***", _URL.sub(lambda m: redact_url(m.group(0)), text)))


@dataclass(frozen=True)
class OpenAICompatibleConfig:
    """Options of :class:`OpenAICompatible`.

    Attributes
    ----------
    base_url
        The API root, e.g. ``http://127.0.0.1:8000/v1`` (``/completions`` is appended).
    model
        The ``model`` field of each request (the server's model name).
    name
        Model name in records (default: ``model``, else the host).
    api_key_env
        Environment variable holding the API key (none sent when it is unset).
    timeout
        Seconds to wait for the next byte of an answer (per read), in (0, 3600].
    deadline
        Seconds one request may take in all, however slowly the answer arrives, in (0, 86400].
    max_retries
        Retries of a request after a 429/5xx answer or a dropped connection, 0-100.
    backoff
        Seconds before the first retry (before jitter); doubled for each later one.
    backoff_max
        Cap on any wait between retries (also on ``Retry-After``), seconds, ≥ ``backoff``.
    max_response_bytes
        Longest answer accepted, in bytes.
    max_workers
        Requests in flight at once.
    prompts_per_request
        Prompts sent in one request.
    normalize
        Choice scores: ``"none"``, ``"token"`` or ``"byte"`` (see the module docstring).
    chat
        Generate through ``/chat/completions`` with the prompt's messages (else
        ``/completions`` with its text).
    """

    base_url: str
    model: str = ""
    name: str = ""
    api_key_env: str = "OPENAI_API_KEY"
    timeout: float = 60.0
    deadline: float = 600.0
    max_retries: int = 4
    backoff: float = 0.5
    backoff_max: float = 30.0
    max_response_bytes: int = 256 * 2**20
    max_workers: int = 4
    prompts_per_request: int = 16
    normalize: str = "none"
    chat: bool = False

    def __post_init__(self) -> None:
        register_url_secrets(self.base_url)
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError("base_url must be an http(s) URL such as http://127.0.0.1:8000/v1. "
                              f"Got {redact_url(self.base_url)!r} instead.")
        if parts.username or parts.password:
            raise ConfigError("base_url must not contain credentials; put the API key in the variable named by api_key_env.")
        try:
            parts.port  # noqa: B018 - raises on a malformed port
        except ValueError:
            raise ConfigError(f"base_url has an invalid port. Got {redact_url(self.base_url)!r} instead.") from None
        if self.normalize not in ("none", "token", "byte"):
            raise ConfigError(f"normalize must be one of none, token, byte. Got {self.normalize!r} instead.")
        for key, low, high in (("max_workers", 1, 256), ("prompts_per_request", 1, 10_000), ("max_retries", 0, 100),
                               ("max_response_bytes", 1, 2**40)):
            _check_int(key, getattr(self, key), low, high)
        for name, floor, ceiling in (("timeout", 0.0, 3600.0), ("deadline", 0.0, 86_400.0),
                                     ("backoff", -1.0, 3600.0), ("backoff_max", -1.0, 3600.0)):
            _check_seconds(name, getattr(self, name), floor, ceiling)
        if self.backoff_max < self.backoff:
            raise ConfigError(f"backoff_max must be ≥ backoff ({self.backoff:g} s). Got {self.backoff_max!r} instead.")


def _check_int(key: str, value: Any, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        what = "a positive integer" if low == 1 else "an integer"
        raise ConfigError(f"{key} must be {what} in [{low}, {high}]. Got {value!r} instead.")


def _check_seconds(key: str, value: Any, low: float, high: float) -> None:
    """``value`` must be a finite number in ``(low, high]`` (``low = -1``: ``[0, high]``)."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not (value >= 0 if low < 0 else value > low) or value > high:
        rule = f"[0, {high:g}]" if low < 0 else f"({low:g}, {high:g}]"
        raise ConfigError(f"{key} must be a finite number of seconds in {rule}. Got {value!r} instead.")


@dataclass(frozen=True)
class EchoedPrompt:
    """One echoed prompt: its tokens' log-probabilities (``None`` where the server gave none)."""

    text_offset: list[int]
    token_logprobs: list[float | None]


class OpenAICompatible(Adapter):
    """Scores classification and language modelling through a completions endpoint."""

    task_kinds = frozenset({"classification", "generation", "language_modeling"})

    def __init__(self, config: OpenAICompatibleConfig) -> None:
        self.config = config
        self.url = config.base_url.rstrip("/") + "/completions"
        self.chat_url = config.base_url.rstrip("/") + "/chat/completions"
        self.shown_url = redact_url(self.url)
        self.name = config.name or config.model or urlsplit(redact_url(config.base_url)).netloc
        self._rng = random.Random()
        self._secret()

    # -- HTTP -----------------------------------------------------------------------
    def _secret(self) -> str | None:
        key = os.environ.get(self.config.api_key_env) or None
        add_secret(key)  # masked by value from the moment it is read
        return key

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = self._secret()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _post_once(self, body: bytes, where: str, url: str) -> bytes:
        """One request, following same-origin 307/308 redirects; raises :class:`_Status` on 4xx/5xx."""
        for _ in range(MAX_REDIRECTS + 1):
            status, reason, headers, data = _exchange(url, body, self._headers(), self.config)
            if status in (307, 308) and headers.get("location"):
                target = urljoin(url, headers["location"])
                if not _same_origin(target, self.url):
                    raise AdapterError(
                        f"{where}: {self.shown_url} redirected to {redact_url(target)}, another host; redirects to "
                        "other hosts are not followed (the API key is not sent there). Set base_url to the server's address.")
                url = target
                continue
            if 300 <= status < 400:
                raise AdapterError(f"{where}: {self.shown_url} answered HTTP {status} {reason} (a redirect); only 307/308 "
                                   "redirects to the same host are followed. Set base_url to the final address.")
            if status >= 400:
                raise _Status(status, reason, headers, data)
            return data
        raise AdapterError(f"{where}: {self.shown_url} redirected more than {MAX_REDIRECTS} times.")

    def _post(self, payload: dict[str, Any], where: str, url: str | None = None) -> Any:
        body = json.dumps(payload).encode()
        for attempt in range(self.config.max_retries + 1):
            delay = self.retry_delay(attempt)
            try:
                raw = self._post_once(body, where, url or self.url)
                break
            except _Status as exc:
                if exc.status not in RETRY_STATUSES or attempt == self.config.max_retries:
                    detail = self._scrub(exc.body[:300].decode("utf-8", "replace"))
                    tries = f" after {attempt + 1} attempts" if attempt else ""
                    raise AdapterError(f"{where}: {self.shown_url} answered HTTP {exc.status} {self._scrub(exc.reason)}"
                                       f"{tries}: {detail}") from None
                delay = _retry_after(exc.headers, delay, self.config.backoff_max)
            except _TooLarge:
                raise AdapterError(f"{where}: {self.shown_url} answered more than max_response_bytes = "
                                   f"{self.config.max_response_bytes} bytes.") from None
            except _Deadline:
                raise AdapterError(f"{where}: {self.shown_url} did not finish answering within the deadline of "
                                   f"{self.config.deadline:g} s (raise the deadline option or check the server).") from None
            except TimeoutError:
                raise AdapterError(f"{where}: {self.shown_url} did not answer within {self.config.timeout:g} s "
                                   "(raise the timeout option or check the server).") from None
            except (OSError, http.client.HTTPException) as exc:
                if attempt == self.config.max_retries:
                    reason = self._scrub(str(exc) or type(exc).__name__)
                    raise AdapterError(f"{where}: cannot reach {self.shown_url} after {attempt + 1} attempts: {reason}. "
                                       "Is the server running?") from None
            time.sleep(delay)
        try:
            return json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise AdapterError(f"{where}: {self.shown_url} returned malformed JSON ({type(exc).__name__}): "
                               f"{self._scrub(repr(raw[:200]))}") from None

    def retry_delay(self, attempt: int) -> float:
        """Seconds to wait before retry ``attempt`` (0-based): ``min(backoff_max, backoff · 2^attempt) · U(0.5, 1)``."""
        base = min(self.config.backoff_max, self.config.backoff * 2.0 ** min(attempt, 60))
        return base * (0.5 + 0.5 * self._rng.random())

    def _scrub(self, text: str) -> str:
        text = text.replace(self.chat_url, redact_url(self.chat_url)).replace(self.url, self.shown_url)
        return _redact(text, self._secret())

    def echo(self, prompts: Sequence[str], where: str = "") -> list[EchoedPrompt]:
        """Per-token log-probabilities of each prompt, from the endpoint, in order.

        Raises
        ------
        AdapterError
            If the endpoint is down, too slow, answers an error or malformed JSON.
        CapabilityError
            If the answer carries no log-probabilities.
        """
        where = where or f"model {self.name!r}"
        size = self.config.prompts_per_request
        chunks = [list(prompts[i : i + size]) for i in range(0, len(prompts), size)]
        with ThreadPoolExecutor(max_workers=self.config.max_workers) as pool:
            answers = list(pool.map(lambda chunk: self._echo_chunk(chunk, where), chunks))
        return [echoed for answer in answers for echoed in answer]

    def _echo_chunk(self, prompts: list[str], where: str) -> list[EchoedPrompt]:
        payload = {"prompt": prompts, "echo": True, "logprobs": 1, "max_tokens": 0, "temperature": 0.0}
        if self.config.model:
            payload["model"] = self.config.model
        return _parse_choices(self._post(payload, where), prompts, self.shown_url, where)

    # -- scoring --------------------------------------------------------------------
    def log_probs(self, examples: Sequence[Example], task: Task) -> np.ndarray:
        if not self.supports(task):
            raise self._cannot(task)
        full = [prompt_text(task, ex.text) for ex in examples]
        contexts = [p.rstrip() for p in full]
        moved = [p[len(c):] for p, c in zip(full, contexts, strict=True)]
        prompts = [p + cont for p in full for cont in task.continuations]
        echoed = self.echo(prompts, f"model {self.name!r}, task {task.name!r}")
        k = len(task.continuations)
        scores = np.empty((len(examples), k))
        for i, ctx in enumerate(contexts):
            for j, cont in enumerate(task.continuations):
                scores[i, j] = self._continuation_score(echoed[i * k + j], len(ctx), moved[i] + cont)
        with np.errstate(invalid="ignore"):  # a NaN or inf score is reported by the runner's checks
            return scores - logsumexp(scores, axis=1, keepdims=True)

    def _continuation_score(self, echoed: EchoedPrompt, start: int, continuation: str) -> float:
        values = [lp for off, lp in zip(echoed.text_offset, echoed.token_logprobs, strict=True) if off >= start and lp is not None]
        if not values:
            raise AdapterError(f"model {self.name!r}: the endpoint returned no token for continuation {continuation!r}.")
        total = float(np.sum(values))
        if self.config.normalize == "token":
            return total / len(values)
        if self.config.normalize == "byte":
            return total / max(1, len(continuation.encode("utf-8")))
        return total

    # -- generation -----------------------------------------------------------------
    def generate(self, requests: Sequence[GenerationRequest], task: Task) -> list[str]:
        """Per request, the text the server writes after its prompt (see the module docstring).

        Raises
        ------
        AdapterError
            If the endpoint fails (as for scoring) or answers without a usable text.
        """
        if not kind_of(task).generates_text:
            raise self._cannot(task)
        decoding = task.decoding
        size = 1 if self.config.chat or not decoding.greedy else self.config.prompts_per_request
        chunks = [list(requests[i : i + size]) for i in range(0, len(requests), size)]
        with ThreadPoolExecutor(max_workers=self.config.max_workers) as pool:
            answers = list(pool.map(lambda chunk: self._generate_chunk(chunk, task), chunks))
        return [cut_at_stop(text, decoding.stop)[0] for answer in answers for text in answer]

    def _generate_chunk(self, chunk: list[GenerationRequest], task: Task) -> list[str]:
        payload = _decoding_payload(task.decoding, chunk[0].example_id if len(chunk) == 1 else None)
        if self.config.model:
            payload["model"] = self.config.model
        where = f"model {self.name!r}, task {task.name!r}"
        if self.config.chat:
            payload["messages"] = chunk[0].prompt.messages()
            answer = self._post(payload, f"{where}, example {chunk[0].example_id!r}", self.chat_url)
        else:
            payload["prompt"] = [r.prompt.text() for r in chunk]
            answer = self._post(payload, where)
        return _parse_texts(answer, [r.example_id for r in chunk], where, chat=self.config.chat)

    def text_nll(self, examples: Sequence[Example], task: Task) -> tuple[np.ndarray, np.ndarray]:
        if not self.supports(task):
            raise self._cannot(task)
        echoed = self.echo([ex.text for ex in examples], f"model {self.name!r}, task {task.name!r}")
        values = [[lp for lp in e.token_logprobs if lp is not None] for e in echoed]
        return np.array([-float(np.sum(v)) for v in values]), np.array([len(v) for v in values], dtype=np.int64)

    def fingerprint(self) -> str:
        parts = urlsplit(self.config.base_url)
        settings = asdict(self.config) | {"base_url": urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))}
        for volatile in ("timeout", "deadline", "max_retries", "backoff", "backoff_max", "max_response_bytes",
                         "max_workers", "prompts_per_request"):
            settings.pop(volatile)
        return config_fingerprint(self.name, settings)


class _Status(Exception):
    """An HTTP error answer (4xx/5xx), caught inside :meth:`OpenAICompatible._post`."""

    def __init__(self, status: int, reason: str, headers: Mapping[str, str], body: bytes) -> None:
        super().__init__(status)
        self.status, self.reason, self.headers, self.body = status, reason, headers, body


class _Deadline(Exception):
    """The request ran past :attr:`OpenAICompatibleConfig.deadline`."""


class _TooLarge(Exception):
    """The answer is longer than :attr:`OpenAICompatibleConfig.max_response_bytes`."""


def _same_origin(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme, pa.hostname, pa.port) == (pb.scheme, pb.hostname, pb.port) and not (pa.username or pa.password)


def _exchange(url: str, body: bytes, headers: Mapping[str, str],
              config: OpenAICompatibleConfig) -> tuple[int, str, dict[str, str], bytes]:
    """POST ``body`` to ``url``: ``(status, reason, lower-cased headers, body)``, within the deadline.

    A watchdog shuts the socket down when ``config.deadline`` passes, which ends any read
    in progress; ``config.timeout`` bounds each read; answers longer than
    ``config.max_response_bytes`` are refused.
    """
    parts = urlsplit(url)
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = kind(parts.hostname or "", parts.port, timeout=config.timeout)
    fired = threading.Event()

    def abort() -> None:
        fired.set()
        sock = connection.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    watchdog = threading.Timer(config.deadline, abort)
    watchdog.daemon = True
    watchdog.start()
    try:
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection.request("POST", target, body=body, headers=dict(headers))
        response = connection.getresponse()
        data = _read_capped(response, config.max_response_bytes)
        if fired.is_set():
            raise _Deadline()
        return response.status, response.reason, {k.lower(): v for k, v in response.getheaders()}, data
    except (OSError, http.client.HTTPException):
        if fired.is_set():
            raise _Deadline() from None
        raise
    finally:
        watchdog.cancel()
        connection.close()


def _read_capped(response: http.client.HTTPResponse, limit: int) -> bytes:
    chunks, total = [], 0
    while chunk := response.read1(65536):
        total += len(chunk)
        if total > limit:
            raise _TooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _retry_after(headers: Mapping[str, str], default: float, cap: float) -> float:
    """The server's ``Retry-After`` in seconds (capped at ``cap``), else ``default``."""
    value = headers.get("retry-after")
    try:
        seconds = float(value) if value is not None else default
    except ValueError:
        return default
    return min(max(seconds, 0.0), cap) if math.isfinite(seconds) else default


def _parse_choices(answer: Any, prompts: list[str], url: str, where: str) -> list[EchoedPrompt]:
    choices = answer.get("choices") if isinstance(answer, dict) else None
    if not isinstance(choices, list) or len(choices) != len(prompts):
        got = len(choices) if isinstance(choices, list) else type(choices).__name__
        raise AdapterError(f"{where}: {url} answered without the expected 'choices' list ({got} for {len(prompts)} prompts).")
    out: list[EchoedPrompt | None] = [None] * len(prompts)
    for position, choice in enumerate(choices):
        index = choice.get("index", position) if isinstance(choice, dict) else position
        logprobs = choice.get("logprobs") if isinstance(choice, dict) else None
        token_logprobs = logprobs.get("token_logprobs") if isinstance(logprobs, dict) else None
        offsets = logprobs.get("text_offset") if isinstance(logprobs, dict) else None
        if token_logprobs is None or offsets is None or (
                isinstance(token_logprobs, list) and all(v is None for v in token_logprobs)):
            raise CapabilityError(
                f"{where}: {url} returned no prompt log-probabilities. The endpoint must support "
                "echo=true with logprobs and max_tokens=0 (vLLM, llama.cpp's server and `bench serve` do; "
                "chat-only APIs and Ollama do not).")
        if (not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(prompts)
                or not _numbers(offsets, ints=True) or not _numbers(token_logprobs, ints=False)
                or len(offsets) != len(token_logprobs)):
            raise AdapterError(f"{where}: {url} answered a malformed choice at position {position} (index "
                               f"{str(index)[:20]!r}; 'text_offset' must be integers and 'token_logprobs' numbers or "
                               "null, one per token).")
        values = [None if v is None else float(v) for v in token_logprobs]
        bad = next((v for v in values if v is not None and not (math.isfinite(v) and v <= 1e-6)), None)
        if bad is not None:
            raise AdapterError(f"{where}: {url} answered a token log-probability of {bad:g} in choice {position} "
                               "(field 'logprobs.token_logprobs'); log-probabilities are finite and ≤ 0.")
        out[index] = EchoedPrompt([int(o) for o in offsets], values)
    if any(e is None for e in out):
        raise AdapterError(f"{where}: {url} answered duplicate choice indices.")
    return out  # type: ignore[return-value]


def _decoding_payload(decoding: Decoding, example_id: str | None) -> dict[str, Any]:
    """The decoding fields of a request; a sampled prompt sent alone gets its own seed."""
    payload: dict[str, Any] = {"max_tokens": decoding.max_new_tokens, "temperature": decoding.temperature,
                               "top_p": decoding.top_p, "seed": decoding.seed}
    if decoding.stop:
        payload["stop"] = list(decoding.stop)
    if not decoding.greedy and example_id is not None:
        payload["seed"] = request_seed(decoding.seed, example_id) % 2**31
    return payload


def _parse_texts(answer: Any, example_ids: list[str], where: str, *, chat: bool) -> list[str]:
    """The generated text of each prompt from a (chat) completions answer, in prompt order.

    Raises
    ------
    AdapterError
        For an error object, the wrong number of choices, an index that is not a prompt's,
        or a choice without text; the message names the example and the field.
    """
    field = "message.content" if chat else "text"
    first = f"{where}, example {example_ids[0]!r}"
    if isinstance(answer, dict) and answer.get("error") is not None:
        error = answer["error"]
        message = error.get("message", error) if isinstance(error, dict) else error
        raise AdapterError(f"{first}: the server answered an error object (field 'error'): {str(message)[:300]}")
    choices = answer.get("choices") if isinstance(answer, dict) else None
    if not isinstance(choices, list) or len(choices) != len(example_ids):
        got = len(choices) if isinstance(choices, list) else "no"
        raise AdapterError(f"{first}: the server answered {got} choices for {len(example_ids)} prompts "
                           "(field 'choices').")
    texts: list[str | None] = [None] * len(example_ids)
    for position, choice in enumerate(choices):
        index = choice.get("index", position) if isinstance(choice, dict) else position
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(example_ids) \
                or texts[index] is not None:
            raise AdapterError(f"{where}, example {example_ids[min(position, len(example_ids) - 1)]!r}: choice "
                               f"{position} has index {index!r:.20}, which matches no prompt of the request "
                               f"(0 … {len(example_ids) - 1}, each once) (field 'choices[{position}].index').")
        text = _choice_text(choice, chat)
        if text is None:
            raise AdapterError(f"{where}, example {example_ids[index]!r}: the answer has no text "
                               f"(field 'choices[{position}].{field}').")
        texts[index] = text
    return [t for t in texts if t is not None]


def _choice_text(choice: Any, chat: bool) -> str | None:
    if not isinstance(choice, dict):
        return None
    if chat:
        message = choice.get("message")
        text = message.get("content") if isinstance(message, dict) else None
    else:
        text = choice.get("text")
    return text if isinstance(text, str) else None


def _numbers(values: Any, *, ints: bool) -> bool:
    """Whether ``values`` is a list of integers (``ints``) or of numbers and nulls."""
    if not isinstance(values, list):
        return False
    if ints:
        return all(isinstance(v, int) and not isinstance(v, bool) for v in values)
    return all(v is None or isinstance(v, float) or (isinstance(v, int) and not isinstance(v, bool) and abs(v) < 2**53)
               for v in values)


def openai_compatible(base_url: str | None = None, **options: str) -> OpenAICompatible:
    """Factory of ``openai-compatible:URL[?model=NAME&...]`` (options: :class:`OpenAICompatibleConfig`)."""
    if not base_url:
        raise ConfigError("openai-compatible needs the API root: use --model openai-compatible:http://127.0.0.1:8000/v1?model=NAME.")
    typed = config_options(OpenAICompatibleConfig, options, model="openai-compatible", positional="base_url")
    return OpenAICompatible(OpenAICompatibleConfig(base_url=base_url, **typed))
