"""The ``?key=value`` options of a model spec, typed by the adapter's config dataclass, and
the spec as records show it (URL secrets redacted).

One parser for every adapter: ``hf-causal-lm:PATH?max_length=512&apply_chat_template=yes``
and ``openai-compatible:URL?timeout=30`` are read the same way. A spec's options are
strings; each is converted to its field's annotated type (``bool``, ``int``, ``float``,
optionally ``| None``; anything else stays a string). Values that are not strings (run-wide
options such as ``--device``, passed as Python values) are left as they are, for the
config's own checks.

What records, ``run.json``, messages and the leaderboard name a model by is its spec
with every URL redacted (:func:`redact_spec`, :func:`redact_url`).
"""

from __future__ import annotations

import re
import typing
from collections.abc import Mapping
from dataclasses import fields
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from bench.errors import ConfigError, redact

__all__ = ["BOOLEAN_WORDS", "TOKEN_SEGMENT", "URL_PATTERN", "config_options", "parse_boolean", "redact_spec",
           "redact_url"]

BOOLEAN_WORDS: dict[str, bool] = {"true": True, "1": True, "yes": True, "on": True,
                                  "false": False, "0": False, "no": False, "off": False}
"""The spellings of a boolean option (case-insensitive)."""


def parse_boolean(text: str, *, what: str) -> bool:
    """``text`` as a boolean (:data:`BOOLEAN_WORDS`); ``what`` names it in the error.

    Examples
    --------
    >>> parse_boolean(" Yes", what="option x")
    True
    >>> parse_boolean("maybe", what="option x")
    Traceback (most recent call last):
    ...
    bench.errors.ConfigError: option x must be true or false. Got 'maybe' instead.
    """
    try:
        return BOOLEAN_WORDS[text.strip().lower()]
    except KeyError:
        raise ConfigError(f"{what} must be true or false. Got {text!r} instead.") from None


def config_options(config: type, options: Mapping[str, Any], *, model: str, positional: str) -> dict[str, Any]:
    """The spec's ``options`` as keyword arguments of the dataclass ``config``.

    Parameters
    ----------
    config
        The adapter's config dataclass; its fields are the valid options.
    options
        ``key → value`` from the spec (strings) or from the run (typed values).
    model
        The adapter's registry name, for messages (``hf-causal-lm``).
    positional
        The field the spec's argument fills (``path``, ``base_url``): not an option.

    Raises
    ------
    ConfigError
        For an unknown option (the valid ones are named) or a value that is not of its
        field's type.

    Examples
    --------
    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Settings:
    ...     path: str
    ...     limit: int | None = None
    ...     fast: bool = False
    >>> config_options(Settings, {"limit": "3", "fast": "on"}, model="m", positional="path")
    {'limit': 3, 'fast': True}
    """
    hints = typing.get_type_hints(config)
    valid = [f.name for f in fields(config) if f.name != positional]
    typed: dict[str, Any] = {}
    for key, value in options.items():
        if key not in valid:
            raise ConfigError(f"Unknown {model} option {key!r}. Valid options: {', '.join(valid)}.")
        typed[key] = _typed(value, hints[key], what=f"{model} option {key}")
    return typed


def _typed(value: Any, hint: Any, *, what: str) -> Any:
    """``value`` converted to ``hint`` (``X`` or ``X | None``) when it is a string."""
    if not isinstance(value, str):
        return value
    kinds = set(typing.get_args(hint) or (hint,)) - {type(None)}
    if bool in kinds:
        return parse_boolean(value, what=what)
    for kind, noun in ((int, "an integer"), (float, "a number")):
        if kind in kinds:
            try:
                return kind(value)
            except ValueError:
                raise ConfigError(f"{what} must be {noun}. Got {value!r} instead.") from None
    return value


# -- the spec as records show it -----------------------------------------------------------
TOKEN_SEGMENT = re.compile(r"(?=[^/]*[A-Za-z])(?=[^/]*\d)[^/]{16,}|sk-[^/]+")
"""A URL path segment that looks like a secret and is recorded as ``***``."""
URL_PATTERN = re.compile(r"https?://[^\s\"'<>]+")
"""An ``http(s)`` URL inside a longer text (a spec, a message)."""


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


def redact_spec(spec: str) -> str:
    """A model spec with its URL redacted (:func:`redact_url`): what records, ``run.json`` and the
    leaderboard name a model by. The options after the spec's first ``?`` are adapter options
    (validated names such as ``model``, ``normalize``, ``api_key_env``; never the key itself)
    and are kept as given.

    >>> redact_spec("openai-compatible:http://h:8000/v1/sk-abc?model=m")
    'openai-compatible:http://h:8000/v1/***?model=m'
    """
    body, mark, options = spec.partition("?")
    return redact(URL_PATTERN.sub(lambda m: redact_url(m.group(0)), body) + mark + options)
