"""``bench serve``: a language model behind the OpenAI ``/v1/completions`` and ``/v1/chat/completions`` API.

The server answers what :class:`~bench.adapters.openai_compatible.OpenAICompatible` and
lm-evaluation-harness's ``local-completions`` / ``local-chat-completions`` ask of it.

``POST /v1/completions`` with JSON ``{"prompt": str | [int, ...] | [str or [int, ...], ...],
"echo": bool, "logprobs": N, "max_tokens": M, "stop", "temperature", "top_p", "seed",
"model": NAME}``:

- ``max_tokens: 0`` with ``echo: true`` scores the prompt: per prompt a choice whose
  ``logprobs`` holds ``tokens``, ``token_logprobs`` (``ln p(token_i | prefix, tokens_<i)``,
  nats, every token scored after the model's prefix token, so the first token has a
  value too), ``text_offset`` and, for ``logprobs ≥ 1``, ``top_logprobs`` (the N most
  likely tokens per position, from the same softmax, so a greedy token's value equals
  the top value exactly); ``logprobs: 0`` gives ``top_logprobs: null``.
- ``max_tokens > 0`` generates (:meth:`HFCausalLM.generate_ids`): text prompts are encoded
  under the model's prefix policy, token-id prompts used as sent; prompt ``i``'s sampler
  is seeded from ``(seed, str(i))``. ``echo`` puts the prompt before the text and its
  tokens before the generated ones in ``logprobs`` (lm-eval's ``max_tokens: 1, echo``
  requests read ``token_logprobs[ctxlen:-1]``). A generation the model ends with its EOS
  token reports that token last in ``logprobs`` (no text; counted in ``completion_tokens``),
  so the last prompt token is never taken for the generated one. ``max_tokens`` defaults
  to 16 (0 with echo).
- ``POST /v1/chat/completions`` renders ``messages`` with the model's chat template (and
  generation prompt) and generates after it; ``choices[0].message.content`` is the text.

``GET /v1/models`` lists the one model; ``GET /health`` answers 200.

What can be served: any adapter with ``token_logprobs(texts)`` returning per-token
log-probabilities — the language models (``smollm2-135m``, ``hf-causal-lm:PATH``). The
contract is declared as protocols, one per feature (:data:`SERVED_FEATURES`: text
scoring, token counting, token-id prompts, generation, chat); :func:`make_server` checks it at start-up
and refuses a model that implements part of a feature, naming what it lacks; a request
for a feature the model does not have is answered 400 naming it.
Classifiers and regressors have no token log-probabilities and cannot be expressed in the
completions API; :func:`make_server` refuses them with a :class:`CapabilityError`.
Requests are served on threads, one model call at a time.

Limits and failures (every failure is answered with an OpenAI-shaped JSON error body
``{"error": {"message", "type", "param", "code"}}``, never HTML, never a traceback):

- a body longer than :attr:`ServerLimits.max_body_bytes` → 413; a ``Content-Length`` that
  is not a number (or has more than 15 digits), two ``Content-Length`` headers, or
  ``Transfer-Encoding`` → 400; each closes the connection;
- the body of every request is read before it is routed, so a keep-alive connection
  stays in step after a 404;
- a client that sends nothing for :attr:`ServerLimits.read_timeout` seconds is dropped
  (408 where a body was half sent), and so is one that has not sent a whole request
  (request line, headers and body) within :attr:`ServerLimits.request_deadline` seconds,
  however slowly it trickles bytes; an idle keep-alive connection is closed after that
  deadline too;
- more than :attr:`ServerLimits.max_prompts` prompts, a prompt longer than
  :attr:`ServerLimits.max_prompt_chars`, or one of more than
  :attr:`ServerLimits.max_prompt_tokens` tokens (counted before any model call; a text is
  tokenized only where its UTF-8 bytes exceed the cap) → 400; an answer longer than
  :attr:`ServerLimits.max_response_bytes` → 413 (send fewer or shorter prompts);
- a model that returns NaN or ±inf → 500 naming the prompt and token; any other model
  failure → 500 with the error's type; NaN never reaches the JSON;
- a client that disconnects is forgotten quietly (no traceback);
- at most :attr:`ServerLimits.max_connections` connections are served at once; beyond
  them :attr:`ServerLimits.reserve_connections` more are admitted for the cheap routes only
  (``GET /health``, ``GET /v1/models``; anything else there gets 503), so that a health
  check is answered while slow clients hold every slot; beyond those a connection gets
  an immediate 503 with ``Retry-After``. The listen backlog holds
  :data:`LISTEN_BACKLOG` connections, so that a burst is answered, not reset;
- request lines and paths are written to the log with control characters escaped; an
  HTTP/0.9 request line (no version) is answered with 400 at once.

A request whose client has gone keeps computing until the model call returns (the
model is not interrupted); its answer is then dropped.

:func:`make_server` listens on 127.0.0.1 unless told otherwise; ``bench serve`` warns
when it is bound to another address (the server has no authentication).
"""

from __future__ import annotations

import dataclasses
import inspect
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
from bench.suites.generation import MAX_NEW_TOKENS, Decoding

__all__ = ["DEFAULT_MAX_TOKENS", "MAX_BODY_BYTES", "SERVED_FEATURES", "ChatModel", "GeneratingModel", "ServerLimits",
           "TokenIdModel", "TokenScorer", "TokenizingModel", "served_features", "chat_response",
           "completions_response", "error_body", "is_loopback", "make_server"]

MAX_BODY_BYTES = 16 * 2**20
LISTEN_BACKLOG = 256
"""Connections the kernel queues before the server accepts them (``listen()``'s backlog)."""
DEFAULT_MAX_TOKENS = 16
"""Tokens generated when a request names no ``max_tokens`` (OpenAI's default), unless it only echoes."""


@dataclass(frozen=True)
class ServerLimits:
    """Bounds of :func:`make_server` (sizes in bytes or characters, times in seconds)."""

    max_body_bytes: int = MAX_BODY_BYTES
    max_response_bytes: int = 64 * 2**20
    max_prompts: int = 1024
    max_prompt_chars: int = 2**20
    read_timeout: float = 30.0
    max_connections: int = 32
    request_deadline: float = 60.0
    reserve_connections: int = 4
    max_prompt_tokens: int = 8192

    def __post_init__(self) -> None:
        for key in ("max_body_bytes", "max_response_bytes", "max_prompts", "max_prompt_chars", "max_connections",
                    "reserve_connections", "max_prompt_tokens"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"ServerLimits.{key} must be a positive integer. Got {value!r} instead.")
        for key in ("read_timeout", "request_deadline"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise ConfigError(f"ServerLimits.{key} must be a finite number of seconds > 0. Got {value!r} instead.")


@runtime_checkable
class TokenScorer(Protocol):
    """What every served model implements: a name and per-token log-probabilities of texts
    (``ln p(token_i | prefix, tokens_<i)`` in nats, see ``HFCausalLM.token_logprobs``).
    Enough for ``/v1/completions`` with ``echo: true, max_tokens: 0`` on text prompts."""

    name: str

    def token_logprobs(self, texts: Sequence[str], top: int = 0) -> list[Any]: ...


@runtime_checkable
class TokenizingModel(TokenScorer, Protocol):
    """Text to the model's tokens, under its prefix policy: lets the server count a prompt's
    tokens against :attr:`ServerLimits.max_prompt_tokens` before any model call."""

    def context_tokens(self, texts: Sequence[str]) -> list[list[int]]: ...


@runtime_checkable
class TokenIdModel(TokenizingModel, Protocol):
    """Token-id prompts: token ids back to text, and scores of token ids."""

    tokenizer: Any

    def decode(self, ids: Sequence[int]) -> str: ...

    def token_logprobs_ids(self, prompts: Sequence[Sequence[int]], top: int = 0,
                           start: Sequence[int] | None = None) -> list[Any]: ...


@runtime_checkable
class GeneratingModel(TokenIdModel, Protocol):
    """Generation (``max_tokens > 0``): one :class:`~bench.adapters.hf_generate.Generated` per prompt."""

    def generate_ids(self, prompts: Sequence[Sequence[int]], keys: Sequence[str], decoding: Decoding) -> list[Any]: ...


@runtime_checkable
class ChatModel(GeneratingModel, Protocol):
    """``/v1/chat/completions``: messages rendered with the model's chat template."""

    def render_chat(self, messages: list[dict[str, str]]) -> str: ...


SERVED_FEATURES: dict[str, tuple[type, tuple[str, ...]]] = {
    "score text prompts": (TokenScorer, ("name", "token_logprobs")),
    "count prompt tokens": (TokenizingModel, ("context_tokens",)),
    "score token-id prompts": (TokenIdModel, ("tokenizer", "decode", "token_logprobs_ids")),
    "generate text": (GeneratingModel, ("generate_ids",)),
    "answer chat messages": (ChatModel, ("render_chat",)),
}
"""What a served model can do → (its protocol, the members that protocol adds to the one
before it). The first is required; each later one needs all before it."""


def _missing(model: Any, members: Sequence[str]) -> list[str]:
    return [member for member in members if getattr(model, member, None) is None]


def served_features(model: Any) -> list[str]:
    """The features of :data:`SERVED_FEATURES` that ``model`` implements, in order.

    Raises
    ------
    CapabilityError
        If ``model`` lacks what every served model needs, or implements part of a feature
        (some of its members, or a later feature's without this one's): the missing
        members are named.
    """
    features: list[str] = []
    steps = list(SERVED_FEATURES.items())
    for index, (feature, (_, members)) in enumerate(steps):
        missing = _missing(model, members)
        if not missing:
            features.append(feature)
            continue
        later = [m for _, (_, more) in steps[index + 1:] for m in more if getattr(model, m, None) is not None]
        if not features or len(missing) < len(members) or later:
            name = getattr(model, "name", type(model).__name__)
            has = f" (it has {', '.join(later)}, which needs it)" if later else ""
            raise CapabilityError(f"Model {name!r} cannot be served: to {feature} it needs {', '.join(members)}, "
                                  f"and lacks {', '.join(missing)}{has}. See docs/adapters.md, what a model "
                                  "must implement to be served.")
        break
    return features


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
Prompt = str | list[int]
"""A prompt as sent: text, or token ids."""


@dataclass(frozen=True)
class _Request:
    """A validated ``/v1/completions`` or ``/v1/chat/completions`` request."""

    prompts: list[Prompt]
    echo: bool
    logprobs: int | None
    decoding: Decoding | None  # None: nothing is generated (max_tokens = 0)


def _object(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise RequestError(400, "The request body must be a JSON object.")
    return payload


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _prompts(payload: dict[str, Any], limits: ServerLimits) -> list[Prompt]:
    prompt = payload.get("prompt")
    single = isinstance(prompt, str) or (isinstance(prompt, list) and prompt and all(_is_int(t) for t in prompt))
    prompts: Any = [prompt] if single else prompt
    valid = isinstance(prompts, list) and prompts and all(
        isinstance(p, str) or (isinstance(p, list) and p and all(_is_int(t) for t in p)) for p in prompts)
    if not valid:
        raise RequestError(400, "'prompt' must be a string, a non-empty list of token ids, or a non-empty list of "
                           "such prompts.", "prompt")
    if len(prompts) > limits.max_prompts:
        raise RequestError(400, f"At most {limits.max_prompts} prompts per request; got {len(prompts)}.", "prompt")
    for index, text in enumerate(prompts):
        if len(text) > limits.max_prompt_chars:
            unit = "characters" if isinstance(text, str) else "tokens"
            raise RequestError(400, f"Prompt {index} has {len(text)} {unit}; at most {limits.max_prompt_chars} "
                               "are accepted.", "prompt")
    return prompts


def _max_tokens(payload: dict[str, Any], default: int) -> int:
    value = payload.get("max_tokens", payload.get("max_completion_tokens"))
    value = default if value is None else value
    if not _is_int(value) or not 0 <= value <= MAX_NEW_TOKENS:
        raise RequestError(400, f"'max_tokens' must be an integer in [0, {MAX_NEW_TOKENS}]; got {value!r:.40}.",
                           "max_tokens")
    return int(value)


def _decoding(payload: dict[str, Any], max_tokens: int) -> Decoding | None:
    """The decoding settings of a request (``None`` when ``max_tokens`` is 0)."""
    if payload.get("n", 1) != 1:
        raise RequestError(400, "Only n = 1 is supported.", "n")
    if payload.get("stream"):
        raise RequestError(400, "Streaming is not supported; set stream to false.", "stream")
    stop = payload.get("stop")
    stops = [stop] if isinstance(stop, str) else [] if stop is None else stop
    if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops):
        raise RequestError(400, "'stop' must be a non-empty string, a list of such strings, or null.", "stop")
    values: dict[str, Any] = {}
    for key, default in (("temperature", 0.0), ("top_p", 1.0)):
        value = payload.get(key)
        value = default if value is None else value
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
            raise RequestError(400, f"'{key}' must be a number; got {value!r:.40}.", key)
        values[key] = float(value)
    seed = payload.get("seed")
    if seed is not None and not _is_int(seed):
        raise RequestError(400, f"'seed' must be an integer or null; got {seed!r:.40}.", "seed")
    if max_tokens == 0:
        return None
    for key, value in values.items():  # each checked alone, so that the error names its parameter
        try:
            dataclasses.replace(Decoding(1, ()), **{key: value})
        except ConfigError as exc:
            raise RequestError(400, str(exc), key) from None
    return Decoding(max_tokens, tuple(stops), values["temperature"], values["top_p"], int(seed or 0))


def _logprobs(payload: dict[str, Any]) -> int | None:
    logprobs = payload.get("logprobs")
    if logprobs is not None and (not _is_int(logprobs) or not 0 <= logprobs <= 20):
        raise RequestError(400, f"'logprobs' must be an integer in [0, 20] or null; got {logprobs!r:.40}.", "logprobs")
    return logprobs


def _completion_request(payload: Any, limits: ServerLimits = ServerLimits()) -> _Request:
    payload = _object(payload)
    prompts = _prompts(payload, limits)
    echo = payload.get("echo", False)
    if not isinstance(echo, bool):
        raise RequestError(400, f"'echo' must be true or false; got {echo!r:.40}.", "echo")
    max_tokens = _max_tokens(payload, 0 if echo else DEFAULT_MAX_TOKENS)
    if max_tokens == 0 and not echo:
        raise RequestError(400, "Nothing to do: set max_tokens > 0 to generate, or echo to true (with max_tokens 0) "
                           "to score the prompt.", "max_tokens")
    return _Request(prompts, echo, _logprobs(payload), _decoding(payload, max_tokens))


def _messages(payload: dict[str, Any]) -> list[dict[str, str]]:
    messages = payload.get("messages")
    if not isinstance(messages, list) or not messages or not all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
            for m in messages):
        raise RequestError(400, "'messages' must be a non-empty list of {\"role\": str, \"content\": str} objects.",
                           "messages")
    return [{"role": m["role"], "content": m["content"]} for m in messages]


# -- response builders ----------------------------------------------------------------------
def _check_model(scorer: TokenScorer, payload: dict[str, Any]) -> None:
    model = payload.get("model")
    if model not in (None, "", scorer.name):
        raise RequestError(404, f"The model {model!r:.80} does not exist; this server serves {scorer.name!r}.", "model")


def _need(scorer: Any, feature: str, param: str) -> None:
    """Refuse a request (400) that needs ``feature`` of a model that lacks it (or one before it)."""
    steps = list(SERVED_FEATURES)
    members = [m for step in steps[:steps.index(feature) + 1] for m in SERVED_FEATURES[step][1]]
    missing = _missing(scorer, members)
    if missing:
        raise RequestError(400, f"The model {scorer.name!r} served here cannot {feature} "
                           f"(it has no {', '.join(missing)}).", param)


def _prompt_ids(scorer: Any, prompts: Sequence[Prompt]) -> list[list[int]]:
    """The tokens generation starts from: token-id prompts as sent, texts under the model's prefix policy."""
    texts = [p for p in prompts if isinstance(p, str)]
    _need(scorer, "score token-id prompts", "prompt")
    encoded = iter(scorer.context_tokens(texts) if texts else [])
    return [list(next(encoded)) if isinstance(p, str) else list(p) for p in prompts]


def _check_ids(scorer: Any, prompts: Sequence[list[int]]) -> None:
    vocab = len(scorer.tokenizer) if getattr(scorer, "tokenizer", None) is not None else None
    for index, ids in enumerate(prompts):
        bad = [t for t in ids if t < 0 or (vocab is not None and t >= vocab)]
        if bad:
            raise RequestError(400, f"Prompt {index} has token id {bad[0]}, outside the vocabulary "
                               f"(0 … {vocab - 1 if vocab else 'N'}).", "prompt")


def _generate(scorer: Any, ids: list[list[int]], decoding: Decoding) -> list[Any]:
    """One generation per prompt; prompt ``i``'s sampler is seeded from ``(seed, str(i))``."""
    _need(scorer, "generate text", "max_tokens")
    _check_ids(scorer, ids)
    generated = scorer.generate_ids(ids, [str(i) for i in range(len(ids))], decoding)
    if len(generated) != len(ids):
        raise RequestError(500, f"The model generated {len(generated)} texts for {len(ids)} prompts.")
    return list(generated)


def _kept_tokens(scorer: Any, generated: Any) -> list[int]:
    """The generated tokens that make up the (stop-cut) text, then the EOS token that ended it, if one did.

    The EOS token has no text but is a generated token (as vLLM reports it): lm-eval's
    ``max_tokens: 1, echo`` scoring drops the last token of ``token_logprobs`` as the
    generated one, so a prompt after which the model ends must still get one.
    """
    ids = list(generated.token_ids)
    eos = [] if getattr(generated, "eos_id", None) is None else [int(generated.eos_id)]
    for k in range(len(ids) + 1):
        if len(scorer.decode(ids[:k])) >= len(generated.text):
            return ids[:k] + (eos if k == len(ids) else [])
    return ids + eos


def _score(scorer: Any, prompts: Sequence[Prompt], top: int) -> list[Any]:
    """Rolling per-token scores of each prompt (text or token ids), with the ``top`` most likely tokens."""
    if all(isinstance(p, str) for p in prompts):
        accepts_top = "top" in inspect.signature(scorer.token_logprobs).parameters
        return list(scorer.token_logprobs(prompts, top=top) if accepts_top else scorer.token_logprobs(prompts))
    _need(scorer, "score token-id prompts", "prompt")
    ids = _prompt_ids(scorer, prompts)
    _check_ids(scorer, ids)
    return list(scorer.token_logprobs_ids(ids, top=top))


def _finite_logprobs(values: Sequence[Any], prompt: int) -> list[float]:
    out = [float(v) for v in values]
    for position, value in enumerate(out):
        if not math.isfinite(value) or value > 1e-6:
            raise RequestError(500, f"The model returned an invalid log-probability ({value}) for prompt {prompt}, "
                               f"token {position}; nothing was sent for this request.")
    return out


def _logprobs_block(tokens: Any, index: int, top: int, skip: int = 0) -> dict[str, Any]:
    """OpenAI's ``logprobs`` object from one scored text, from its token ``skip`` on."""
    values = _finite_logprobs(tokens.logprobs, index)
    best = getattr(tokens, "top", None)
    return {"tokens": list(tokens.tokens)[skip:], "token_logprobs": values[skip:],
            "text_offset": [int(o) for o in tokens.offsets][skip:],
            "top_logprobs": [dict(b) for b in best][skip:] if top and best is not None else None}


def _prompt_text(scorer: Any, prompt: Prompt) -> str:
    return prompt if isinstance(prompt, str) else str(scorer.tokenizer.decode(prompt))


def _check_tokens(scorer: Any, prompts: Sequence[Prompt], cap: int) -> None:
    """Refuse (400) a prompt of more than ``cap`` tokens, before any model call. A text of at
    most ``cap`` UTF-8 bytes has at most ``cap`` tokens; longer ones are tokenized to count."""
    tokenize = getattr(scorer, "context_tokens", None)
    for index, prompt in enumerate(prompts):
        if isinstance(prompt, str):
            if len(prompt.encode("utf-8", "surrogatepass")) <= cap or tokenize is None:
                continue
            n = len(tokenize([prompt])[0])
        else:
            n = len(prompt)
        if n > cap:
            raise RequestError(400, f"Prompt {index} has {n} tokens; at most {cap} are accepted "
                               "(max_prompt_tokens); send a shorter prompt.", "prompt")


def completions_response(scorer: Any, payload: Any, limits: ServerLimits = ServerLimits()) -> dict[str, Any]:
    """The JSON answer of ``POST /v1/completions`` for ``payload`` (see the module docstring).

    Raises
    ------
    RequestError
        400/404 for an invalid request, 500 where the model returns a non-finite log-probability.
    """
    request = _completion_request(payload, limits)
    _check_model(scorer, payload)
    _check_tokens(scorer, request.prompts, limits.max_prompt_tokens)
    top = request.logprobs or 0
    if request.decoding is None:
        return _scored_response(scorer, request, top)
    _need(scorer, "generate text", "max_tokens")
    ids = _prompt_ids(scorer, request.prompts)
    generated = _generate(scorer, ids, request.decoding)
    kept = [_kept_tokens(scorer, g) for g in generated]
    texts = [_prompt_text(scorer, p) for p in request.prompts]
    scored: list[Any] = [None] * len(ids)
    if request.logprobs is not None:  # offsets count characters of the choice's text
        starts = [0 if request.echo else -sum(len(scorer.tokenizer.decode([t])) for t in p) for p in ids]
        scored = scorer.token_logprobs_ids([p + k for p, k in zip(ids, kept, strict=True)], top=top, start=starts)
    choices = []
    for index, (prompt_ids, text, g, tokens) in enumerate(zip(ids, texts, generated, scored, strict=True)):
        block = None if tokens is None else _logprobs_block(tokens, index, top, 0 if request.echo else len(prompt_ids))
        choices.append({"index": index, "text": (text if request.echo else "") + g.text, "logprobs": block,
                        "finish_reason": g.finish_reason})
    n_prompt, n_generated = sum(len(p) for p in ids), sum(len(k) for k in kept)
    return _answer("text_completion", scorer, choices, n_prompt, n_generated)


def _scored_response(scorer: Any, request: _Request, top: int) -> dict[str, Any]:
    """Echo without generation: every prompt token's log-probability."""
    scored = _score(scorer, request.prompts, top)
    if len(scored) != len(request.prompts):
        raise RequestError(500, f"The model scored {len(scored)} texts for {len(request.prompts)} prompts.")
    choices, n_tokens = [], 0
    for index, (prompt, tokens) in enumerate(zip(request.prompts, scored, strict=True)):
        n_tokens += len(tokens.tokens)
        block = _logprobs_block(tokens, index, top) if request.logprobs is not None else None
        choices.append({"index": index, "text": _prompt_text(scorer, prompt), "logprobs": block,
                        "finish_reason": "length"})
    return _answer("text_completion", scorer, choices, n_tokens, 0)


_ID_PREFIX = {"text_completion": "cmpl", "chat.completion": "chatcmpl"}
"""OpenAI's answer object type → the prefix of its ``id``."""


def _answer(object_type: str, scorer: Any, choices: list[dict[str, Any]], n_prompt: int, n_generated: int
            ) -> dict[str, Any]:
    return {"id": f"{_ID_PREFIX[object_type]}-{uuid.uuid4().hex[:24]}", "object": object_type,
            "created": int(time.time()),
            "model": scorer.name, "choices": choices,
            "usage": {"prompt_tokens": n_prompt, "completion_tokens": n_generated,
                      "total_tokens": n_prompt + n_generated}}


def chat_response(scorer: Any, payload: Any, limits: ServerLimits = ServerLimits()) -> dict[str, Any]:
    """The JSON answer of ``POST /v1/chat/completions``: the messages rendered with the model's
    chat template (and generation prompt), then generated after as ``/v1/completions`` does.

    Raises
    ------
    RequestError
        400/404 for an invalid request (or a model without a chat template).
    """
    payload = _object(payload)
    messages = _messages(payload)
    if sum(len(m["content"]) for m in messages) > limits.max_prompt_chars:
        raise RequestError(400, f"The messages have more than {limits.max_prompt_chars} characters.", "messages")
    if payload.get("logprobs"):
        raise RequestError(400, "logprobs are not supported on /v1/chat/completions; use /v1/completions.", "logprobs")
    decoding = _decoding(payload, _max_tokens(payload, DEFAULT_MAX_TOKENS))
    if decoding is None:
        raise RequestError(400, "'max_tokens' must be at least 1 on /v1/chat/completions.", "max_tokens")
    _check_model(scorer, payload)
    _need(scorer, "generate text", "max_tokens")
    _need(scorer, "answer chat messages", "messages")
    try:
        rendered = scorer.render_chat(messages)
    except ConfigError as exc:
        raise RequestError(400, str(exc), "messages") from None
    ids = _prompt_ids(scorer, [rendered])
    _check_tokens(scorer, ids, limits.max_prompt_tokens)
    generated = _generate(scorer, ids, decoding)[0]
    choice = {"index": 0, "message": {"role": "assistant", "content": generated.text},
              "finish_reason": generated.finish_reason}
    return _answer("chat.completion", scorer, [choice], len(ids[0]), len(_kept_tokens(scorer, generated)))


# -- routes ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Context:
    scorer: TokenScorer
    lock: threading.Lock
    limits: ServerLimits


def _json(body: bytes) -> Any:
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RequestError(400, f"The body is not valid JSON ({type(exc).__name__} at position {getattr(exc, 'pos', 0)}).") from None
    except RecursionError:
        raise RequestError(400, "The body's JSON is nested too deeply.") from None
    return payload


def _completions(context: _Context, body: bytes) -> dict[str, Any]:
    payload = _json(body)
    with context.lock:
        return completions_response(context.scorer, payload, context.limits)


def _chat_completions(context: _Context, body: bytes) -> dict[str, Any]:
    payload = _json(body)
    with context.lock:
        return chat_response(context.scorer, payload, context.limits)


def _models(context: _Context, body: bytes) -> dict[str, Any]:
    return {"object": "list", "data": [{"id": context.scorer.name, "object": "model", "owned_by": "xdbench"}]}


def _health(context: _Context, body: bytes) -> dict[str, Any]:
    return {"status": "ok"}


Route = Callable[[_Context, bytes], dict[str, Any]]
ROUTES: dict[tuple[str, str], Route] = {
    ("POST", "/v1/completions"): _completions,
    ("POST", "/completions"): _completions,
    ("POST", "/v1/chat/completions"): _chat_completions,
    ("POST", "/chat/completions"): _chat_completions,
    ("GET", "/v1/models"): _models,
    ("GET", "/models"): _models,
    ("GET", "/health"): _health,
}
"""``(method, path) → handler``: each returns the JSON answer or raises :class:`RequestError`."""
CHEAP_ROUTES = (_health, _models)
"""Routes answered on a reserve connection (see :attr:`ServerLimits.reserve_connections`)."""


def _printable(text: str) -> str:
    """``text`` with control characters (and lone surrogates) escaped, for one log line."""
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


def _route(method: str, raw_path: str) -> Route:
    path = raw_path.split("?", 1)[0]
    path = path.rstrip("/") if path != "/" else path
    route = ROUTES.get((method, path))
    if route is not None:
        return route
    if any(p == path for _, p in ROUTES):
        allowed = ", ".join(m for m, p in ROUTES if p == path)
        raise RequestError(405, f"{method} is not allowed on {path!r:.80}; use {allowed}.")
    raise RequestError(404, f"No route {path!r:.80}; use POST /v1/completions or POST /v1/chat/completions.")


# -- the handler ----------------------------------------------------------------------------
def _content_length(headers: Any, limits: ServerLimits) -> int | None:
    """The body's length from the request headers (``None`` without a ``Content-Length``).

    Raises
    ------
    RequestError
        400 for ``Transfer-Encoding``, several or malformed ``Content-Length`` headers; 413
        for a body over :attr:`ServerLimits.max_body_bytes`; each closes the connection.
    """
    if headers.get("Transfer-Encoding"):
        raise RequestError(400, "Transfer-Encoding is not supported; send a Content-Length.", close=True)
    given = headers.get_all("Content-Length") or []
    if len(given) > 1:
        raise RequestError(400, f"The request has {len(given)} Content-Length headers; send one.", close=True)
    if not given:
        return None
    raw = given[0].strip()
    if not raw.isdigit() or len(raw) > 15:
        raise RequestError(400, f"Content-Length must be a number of bytes (at most 15 digits); got "
                           f"{_printable(given[0])!r:.40}.", close=True)
    if int(raw) > limits.max_body_bytes:
        raise RequestError(413, f"The body has {int(raw)} bytes; at most {limits.max_body_bytes} are accepted.",
                           close=True)
    return int(raw)


class CompletionsHandler(BaseHTTPRequestHandler):
    """One connection of the server: its requests answered in JSON (see the module docstring).
    :func:`_handler` makes a subclass bound to one model and log."""

    context: _Context
    log_line: Callable[[str], None]
    protocol_version = "HTTP/1.1"
    server_version = "xdbench"

    def log_message(self, format: str, *args: Any) -> None:
        self.log_line(f"{self.client_address[0]} {_printable(format % args)}")

    def handle_one_request(self) -> None:
        """One request under the request deadline (see the module docstring): past it the
        socket's read side is shut, so a trickling client ends at once."""
        self.expired = False

        def expire() -> None:
            self.expired = True
            try:
                self.connection.shutdown(socket.SHUT_RD)
            except OSError:
                pass

        self.watchdog = threading.Timer(self.context.limits.request_deadline, expire)
        self.watchdog.daemon = True
        self.watchdog.start()
        try:
            super().handle_one_request()
        finally:
            self.watchdog.cancel()

    def parse_request(self) -> bool:
        """An HTTP/0.9 request line (two words, no version) is answered at once with 400,
        not left waiting for headers it will never send."""
        line = str(getattr(self, "raw_requestline", b""), "iso-8859-1").rstrip("\r\n")
        if len(line.split()) == 2:
            self.command, self.requestline, self.close_connection = "", line, True
            self.request_version = "HTTP/1.0"
            self.send_error(400, "HTTP/0.9 requests are not supported; send an HTTP/1.x request line.")
            return False
        return bool(super().parse_request())

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
        if len(data) > self.context.limits.max_response_bytes:
            message = (f"The answer would be {len(data)} bytes, more than {self.context.limits.max_response_bytes}; "
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
        length = _content_length(self.headers, self.context.limits)
        if length is None:
            return b""
        data = self.rfile.read(length)
        if len(data) < length and self.expired:
            raise RequestError(408, f"The request was not received within {self.context.limits.request_deadline:g} s.",
                               close=True)
        if len(data) < length:
            raise RequestError(400, "The body ended before Content-Length bytes.", close=True)
        self.watchdog.cancel()  # the request is in: computing its answer has no deadline here
        return data

    def _handle(self) -> None:
        try:
            body = self._body()
            route = _route(self.command, self.path)
            if getattr(self.connection, "reserve", False) and route not in CHEAP_ROUTES:
                self.close_connection = True
                raise RequestError(503, "Too many connections; only health checks are answered now. Retry shortly.")
            answer, status = route(self.context, body), 200
        except RequestError as exc:
            self.close_connection = self.close_connection or exc.close
            answer, status = error_body(exc.status, str(exc), exc.param), exc.status
        except TimeoutError:
            self.close_connection = True
            answer, status = error_body(408, "The request was not received in time."), 408
        except BenchError as exc:
            answer, status = error_body(500, f"{type(exc).__name__}: {str(exc)[:500]}"), 500
        except Exception as exc:  # a model failure must not drop the connection
            self.log_line(f"{self.client_address[0]} model error: {type(exc).__name__}")
            answer, status = error_body(500, f"The model failed ({type(exc).__name__})."), 500
        self._send(status, answer)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _handle



def _handler(context: _Context, log: Callable[[str], None]) -> type[BaseHTTPRequestHandler]:
    """:class:`CompletionsHandler` bound to ``context`` (model, lock, limits) and ``log``."""
    return type("CompletionsHandler", (CompletionsHandler,),
                {"context": context, "log_line": staticmethod(log), "timeout": context.limits.read_timeout})


class _Server(ThreadingHTTPServer):
    """A threading server with a bound on connections and quiet disconnects."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = LISTEN_BACKLOG

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], limits: ServerLimits,
                 log: Callable[[str], None]) -> None:
        self._slots = threading.BoundedSemaphore(limits.max_connections)
        self._reserve = threading.BoundedSemaphore(limits.reserve_connections)
        self._held: dict[int, threading.BoundedSemaphore] = {}  # id(connection) → the slot it holds
        self._log = log
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if self._slots.acquire(blocking=False):
            slot = self._slots
        elif self._reserve.acquire(blocking=False):
            slot = self._reserve
            request = _ReserveSocket(request)
        else:
            _refuse_busy(request)
            self.shutdown_request(request)
            return
        self._held[id(request)] = slot
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._held.pop(id(request), slot).release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._held.pop(id(request), self._slots).release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if not isinstance(error, ConnectionError | TimeoutError):
            self._log(f"{client_address[0]} connection error: {type(error).__name__}")


class _ReserveSocket:
    """A connection admitted on a reserve slot: the socket, marked so that only cheap routes are served."""

    reserve = True

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


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
        If the adapter has no per-token log-probabilities, or implements part of a feature
        (:func:`served_features`; see the module docstring).
    """
    if not isinstance(adapter, TokenScorer):
        raise CapabilityError(
            f"Model {adapter.name!r} cannot be served over the completions API: it has no token "
            "log-probabilities (only language models such as smollm2-135m or hf-causal-lm:PATH can be served).")
    served_features(adapter)
    limits = limits or ServerLimits()
    context = _Context(adapter, threading.Lock(), limits)
    try:
        return _Server((host, port), _handler(context, log), limits, log)
    except (OSError, OverflowError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(f"Cannot listen on {host}:{port}: {reason}. Choose another --port.") from None
