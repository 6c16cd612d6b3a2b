"""The ``?key=value`` options of a model spec, typed by the adapter's config dataclass.

One parser for every adapter: ``hf-causal-lm:PATH?max_length=512&apply_chat_template=yes``
and ``openai-compatible:URL?timeout=30`` are read the same way. A spec's options are
strings; each is converted to its field's annotated type (``bool``, ``int``, ``float``,
optionally ``| None``; anything else stays a string). Values that are not strings (run-wide
options such as ``--device``, passed as Python values) are left as they are, for the
config's own checks.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from bench.errors import ConfigError

__all__ = ["BOOLEAN_WORDS", "config_options", "parse_boolean"]

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
