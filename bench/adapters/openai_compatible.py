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
- language modelling: ``text_nll`` is the negated sum of the non-null ``token_logprobs``
  of the echoed text; ``n_tokens`` counts them (servers that give the first token no
  log-probability score one token fewer than there are).

Requests carry up to ``prompts_per_request`` prompts and run on a bounded thread pool.
Each has a timeout; HTTP 429 and 5xx answers and dropped connections are retried with
exponential back-off (``backoff · 2^attempt`` seconds, or the server's ``Retry-After``).
The API key is read from the environment variable named by ``api_key_env`` at request
time and sent as ``Authorization: Bearer``; it is never stored on the adapter, put in
its fingerprint, or quoted in an error message.
"""

from __future__ import annotations

import json
import os
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
from scipy.special import logsumexp

from bench.adapters.base import Adapter, config_fingerprint, prompt_text
from bench.errors import AdapterError, CapabilityError, ConfigError
from bench.suites.types import Example, Task

__all__ = ["EchoedPrompt", "OpenAICompatible", "OpenAICompatibleConfig", "openai_compatible"]

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


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
        Seconds to wait for one HTTP answer.
    max_retries
        Retries of a request after a 429/5xx answer or a dropped connection.
    backoff
        Seconds before the first retry; doubled for each later one.
    max_workers
        Requests in flight at once.
    prompts_per_request
        Prompts sent in one request.
    normalize
        Choice scores: ``"none"``, ``"token"`` or ``"byte"`` (see the module docstring).
    """

    base_url: str
    model: str = ""
    name: str = ""
    api_key_env: str = "OPENAI_API_KEY"
    timeout: float = 60.0
    max_retries: int = 4
    backoff: float = 0.5
    max_workers: int = 4
    prompts_per_request: int = 16
    normalize: str = "none"

    def __post_init__(self) -> None:
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"base_url must be an http(s) URL such as http://127.0.0.1:8000/v1. Got {self.base_url!r} instead.")
        if parts.username or parts.password:
            raise ConfigError("base_url must not contain credentials; put the API key in the variable named by api_key_env.")
        if self.normalize not in ("none", "token", "byte"):
            raise ConfigError(f"normalize must be one of none, token, byte. Got {self.normalize!r} instead.")
        for key in ("max_workers", "prompts_per_request"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key} must be a positive integer. Got {getattr(self, key)!r} instead.")
        if self.timeout <= 0 or self.max_retries < 0 or self.backoff < 0:
            raise ConfigError("timeout must be > 0 seconds, max_retries ≥ 0 and backoff ≥ 0 seconds.")


@dataclass(frozen=True)
class EchoedPrompt:
    """One echoed prompt: its tokens' log-probabilities (``None`` where the server gave none)."""

    text_offset: list[int]
    token_logprobs: list[float | None]


class OpenAICompatible(Adapter):
    """Scores classification and language modelling through a completions endpoint."""

    task_kinds = frozenset({"classification", "language_modeling"})

    def __init__(self, config: OpenAICompatibleConfig) -> None:
        self.config = config
        self.url = config.base_url.rstrip("/") + "/completions"
        self.name = config.name or config.model or urlsplit(config.base_url).netloc

    # -- HTTP -----------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.config.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _post_once(self, body: bytes) -> bytes:
        request = urllib.request.Request(self.url, data=body, headers=self._headers(), method="POST")
        with urllib.request.urlopen(request, timeout=self.config.timeout) as response:
            return response.read()

    def _post(self, payload: dict[str, Any], where: str) -> Any:
        body = json.dumps(payload).encode()
        for attempt in range(self.config.max_retries + 1):
            delay = self.config.backoff * 2**attempt
            try:
                raw = self._post_once(body)
                break
            except urllib.error.HTTPError as exc:
                detail = exc.read()[:300].decode("utf-8", "replace")
                if exc.code not in RETRY_STATUSES or attempt == self.config.max_retries:
                    raise AdapterError(f"{where}: {self.url} answered HTTP {exc.code} {exc.reason}"
                                       f"{' after ' + str(attempt + 1) + ' attempts' if attempt else ''}: {detail}") from None
                delay = _retry_after(exc, delay)
            except TimeoutError as exc:
                raise AdapterError(f"{where}: {self.url} did not answer within {self.config.timeout:g} s "
                                   "(raise the timeout option or check the server).") from exc
            except (urllib.error.URLError, ConnectionError) as exc:
                reason = getattr(exc, "reason", exc)
                if isinstance(reason, (TimeoutError, socket.timeout)):
                    raise AdapterError(f"{where}: {self.url} did not answer within {self.config.timeout:g} s "
                                       "(raise the timeout option or check the server).") from None
                if attempt == self.config.max_retries:
                    raise AdapterError(f"{where}: cannot reach {self.url} after {attempt + 1} attempts: {reason}. "
                                       "Is the server running?") from None
            time.sleep(delay)
        try:
            return json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise AdapterError(f"{where}: {self.url} returned malformed JSON ({exc}): {raw[:200]!r}") from None

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
        return _parse_choices(self._post(payload, where), prompts, self.url, where)

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

    def text_nll(self, examples: Sequence[Example], task: Task) -> tuple[np.ndarray, np.ndarray]:
        if not self.supports(task):
            raise self._cannot(task)
        echoed = self.echo([ex.text for ex in examples], f"model {self.name!r}, task {task.name!r}")
        values = [[lp for lp in e.token_logprobs if lp is not None] for e in echoed]
        return np.array([-float(np.sum(v)) for v in values]), np.array([len(v) for v in values], dtype=np.int64)

    def fingerprint(self) -> str:
        parts = urlsplit(self.config.base_url)
        settings = asdict(self.config) | {"base_url": urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))}
        for volatile in ("timeout", "max_retries", "backoff", "max_workers", "prompts_per_request"):
            settings.pop(volatile)
        return config_fingerprint(self.name, settings)


def _retry_after(error: urllib.error.HTTPError, default: float) -> float:
    value = error.headers.get("Retry-After") if error.headers else None
    try:
        return min(float(value), 60.0) if value is not None else default
    except ValueError:
        return default


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
        if not token_logprobs or offsets is None or all(v is None for v in token_logprobs):
            raise CapabilityError(
                f"{where}: {url} returned no prompt log-probabilities. The endpoint must support "
                "echo=true with logprobs and max_tokens=0 (vLLM, llama.cpp's server and `bench serve` do; "
                "chat-only APIs and Ollama do not).")
        if not isinstance(index, int) or not 0 <= index < len(prompts) or len(offsets) != len(token_logprobs):
            raise AdapterError(f"{where}: {url} answered a malformed choice (index {index!r}).")
        out[index] = EchoedPrompt([int(o) for o in offsets], [None if v is None else float(v) for v in token_logprobs])
    if any(e is None for e in out):
        raise AdapterError(f"{where}: {url} answered duplicate choice indices.")
    return out  # type: ignore[return-value]


def openai_compatible(base_url: str | None = None, **options: str) -> OpenAICompatible:
    """Factory of ``openai-compatible:URL[?model=NAME&...]`` (options: :class:`OpenAICompatibleConfig`)."""
    if not base_url:
        raise ConfigError("openai-compatible needs the API root: use --model openai-compatible:http://127.0.0.1:8000/v1?model=NAME.")
    types = {f.name: f.type for f in fields(OpenAICompatibleConfig)}
    typed: dict[str, Any] = {}
    for key, value in options.items():
        if key not in types or key == "base_url":
            raise ConfigError(f"Unknown openai-compatible option {key!r}. Valid options: "
                              f"{', '.join(k for k in types if k != 'base_url')}.")
        try:
            typed[key] = {"int": int, "float": float}.get(str(types[key]), str)(value)
        except ValueError:
            raise ConfigError(f"openai-compatible option {key} must be a {types[key]}. Got {value!r} instead.") from None
    return OpenAICompatible(OpenAICompatibleConfig(base_url=base_url, **typed))
