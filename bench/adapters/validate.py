"""Checks of adapter outputs: shape, finiteness and normalisation.

Every failure raises :class:`~bench.errors.AdapterError` naming the adapter, the batch
(suite, task, domain and example range) and what was wrong.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.special import logsumexp

from bench.errors import AdapterError

__all__ = ["GENERATION_CHARS_PER_TOKEN", "LOG_NORMALISATION_TOLERANCE", "MAX_GENERATION_CHARS", "check_generations",
           "check_log_probs", "check_loglikelihoods", "check_nll", "check_values", "generation_cap"]

LOG_NORMALISATION_TOLERANCE = 1e-4
"""Largest accepted ``|logsumexp(row)|`` of a row of log-probabilities."""


GENERATION_CHARS_PER_TOKEN = 32
"""Characters kept of a generated answer per token of the decoding's ``max_new_tokens``
(:func:`generation_cap`); the rest is cut and the example marked truncated."""
MAX_GENERATION_CHARS = 131_072
"""The most characters kept of any generated answer (128 Ki), whatever ``max_new_tokens``."""


def generation_cap(max_new_tokens: int) -> int:
    """Characters kept of one generated answer: ``min(GENERATION_CHARS_PER_TOKEN · max_new_tokens,
    MAX_GENERATION_CHARS)`` (2,048 for the default 64 tokens). A model that writes more
    (a callable, a server ignoring ``max_tokens``) has its answer cut there, so that
    scoring stays linear in the cap, and the example is recorded as truncated."""
    return min(GENERATION_CHARS_PER_TOKEN * max(1, int(max_new_tokens)), MAX_GENERATION_CHARS)


_NUMERIC_KINDS = "iuf"
_MAX_SCANNED = 1_000_000


def _odd_item(value: Any, depth: int = 0) -> Any:
    """The first boolean, complex number or string inside nested lists (NumPy would turn
    them into 1.0, drop the imaginary part, or parse the text); ``None`` if there is none."""
    if isinstance(value, bool | complex | str | bytes | np.bool_ | np.complexfloating):
        return value
    if isinstance(value, list | tuple) and depth < 4 and len(value) <= _MAX_SCANNED:
        for item in value:
            odd = _odd_item(item, depth + 1)
            if odd is not None:
                return odd
    return None


def _as_float_array(value: Any, where: str, what: str) -> np.ndarray:
    odd = _odd_item(value) if isinstance(value, list | tuple) else None
    if odd is not None:
        raise AdapterError(f"{where}: {what} holds a {type(odd).__name__} ({str(odd)[:40]!r}); return real numbers "
                           "(floats), not booleans, complex numbers or strings.")
    kind = value.dtype.kind if isinstance(value, np.ndarray) else None
    if kind is not None and kind not in _NUMERIC_KINDS:
        raise AdapterError(f"{where}: {what} has dtype {value.dtype} (kind {kind!r}); return real numbers (floats), "
                           "not booleans, complex numbers, strings or objects.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", np.exceptions.ComplexWarning)
            return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError, np.exceptions.ComplexWarning) as exc:
        raise AdapterError(f"{where}: {what} is not a numeric array ({type(value).__name__}): {exc}") from exc


def _check_finite(array: np.ndarray, where: str, what: str) -> None:
    bad = ~np.isfinite(array)
    if bad.any():
        rows = np.unique(np.nonzero(bad)[0])[:5].tolist()
        raise AdapterError(f"{where}: {what} has {int(bad.sum())} non-finite value(s) (NaN or inf), first rows {rows}.")


def check_log_probs(value: Any, n: int, k: int, where: str) -> np.ndarray:
    """Validate ``log_probs`` output: shape ``(n, k)``, finite, rows logsumexp to 0."""
    array = _as_float_array(value, where, "log_probs output")
    if array.shape != (n, k):
        raise AdapterError(f"{where}: log_probs returned shape {array.shape}, expected ({n}, {k}).")
    _check_finite(array, where, "log_probs output")
    norms = logsumexp(array, axis=1)
    worst = int(np.argmax(np.abs(norms))) if n else 0
    if n and abs(norms[worst]) > LOG_NORMALISATION_TOLERANCE:
        raise AdapterError(
            f"{where}: log_probs rows must be normalised (logsumexp = 0); row {worst} has "
            f"logsumexp {norms[worst]:.6g}. Return log-probabilities, not logits or probabilities."
        )
    return array


def check_values(value: Any, n: int, where: str, what: str = "predict_values output") -> np.ndarray:
    """Validate ``predict_values`` output: shape ``(n,)`` and finite."""
    array = _as_float_array(value, where, what)
    if array.shape != (n,):
        raise AdapterError(f"{where}: {what} has shape {array.shape}, expected ({n},).")
    _check_finite(array, where, what)
    return array


def check_nll(value: Any, n: int, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``text_nll`` output: two finite arrays ``(n,)``, NLL ≥ 0, tokens > 0."""
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise AdapterError(f"{where}: text_nll must return a pair (nll, n_tokens), got {type(value).__name__}.")
    nll = check_values(value[0], n, where, "text_nll's nll")
    tokens = check_values(value[1], n, where, "text_nll's n_tokens")
    if (nll < -1e-6).any():
        raise AdapterError(f"{where}: text_nll returned a negative NLL (min {nll.min():.6g}).")
    if (tokens <= 0).any():
        raise AdapterError(f"{where}: text_nll returned a token count ≤ 0 for {int((tokens <= 0).sum())} text(s).")
    fractional = tokens != np.round(tokens)
    if fractional.any():
        first = int(np.flatnonzero(fractional)[0])
        raise AdapterError(f"{where}: text_nll's n_tokens must be whole numbers; text {first} has {tokens[first]:g}.")
    return nll, tokens


def check_loglikelihoods(value: Any, sizes: list[int], ids: list[str], where: str) -> list[np.ndarray]:
    """Validate ``loglikelihood`` output: one finite array per request, of its number of
    continuations (``sizes``), each value ≤ 0 (a log-probability); ``ids`` name the requests."""
    if not isinstance(value, list | tuple) or len(value) != len(sizes):
        got = len(value) if isinstance(value, list | tuple) else type(value).__name__
        raise AdapterError(f"{where}: loglikelihood must return one array per request ({len(sizes)}), got {got}.")
    arrays = []
    for item, size, example_id in zip(value, sizes, ids, strict=True):
        array = _as_float_array(item, f"{where}, example {example_id!r}", "loglikelihood output")
        if array.shape != (size,):
            raise AdapterError(f"{where}, example {example_id!r}: loglikelihood returned shape {array.shape}, "
                               f"expected ({size},) (one value per option).")
        if not np.isfinite(array).all():
            raise AdapterError(f"{where}, example {example_id!r}: loglikelihood returned a non-finite value "
                               f"(NaN or inf): {array.tolist()}.")
        if (array > 1e-6).any():
            raise AdapterError(f"{where}, example {example_id!r}: loglikelihood returned a positive value "
                               f"({array.max():.6g}); expected summed log-probabilities (≤ 0).")
        arrays.append(array)
    return arrays


def check_generations(output: Any, ids: Sequence[str], where: str) -> list[str]:
    """``output`` of ``generate`` as a list of ``len(ids)`` strings.

    Raises
    ------
    AdapterError
        If it is not a list (or tuple) of that many strings, or a string holds a lone
        surrogate (not text; it cannot be written as UTF-8), naming ``where``, and the
        example and field of the first bad item.
    """
    if not isinstance(output, list | tuple):
        raise AdapterError(f"{where}: generate must return a list of {len(ids)} strings, got {type(output).__name__}.")
    if len(output) != len(ids):
        raise AdapterError(f"{where}: generate returned {len(output)} answers for {len(ids)} requests.")
    for example_id, text in zip(ids, output, strict=True):
        if not isinstance(text, str):
            raise AdapterError(f"{where}: example {example_id!r}: field 'generation' must be a string, "
                               f"got {type(text).__name__} {str(text)[:60]!r}.")
        bad = _SURROGATE.search(text)
        if bad is not None:
            raise AdapterError(f"{where}: example {example_id!r}: field 'generation' holds a lone surrogate "
                               f"({bad.group(0)!r} at character {bad.start()}), which is not text; the model must return "
                               "valid Unicode.")
    return list(output)


_SURROGATE = re.compile("[\ud800-\udfff]")
