"""Checks of adapter outputs: shape, finiteness and normalisation.

Every failure raises :class:`~bench.errors.AdapterError` naming the adapter, the batch
(suite, task, domain and example range) and what was wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.special import logsumexp

from bench.errors import AdapterError

__all__ = ["LOG_NORMALISATION_TOLERANCE", "check_generations", "check_log_probs", "check_loglikelihoods", "check_nll", "check_values"]

LOG_NORMALISATION_TOLERANCE = 1e-4
"""Largest accepted ``|logsumexp(row)|`` of a row of log-probabilities."""


def _as_float_array(value: Any, where: str, what: str) -> np.ndarray:
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
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
        If it is not a list (or tuple) of that many strings (naming ``where``, and the
        example and field of the first bad item).
    """
    if not isinstance(output, list | tuple):
        raise AdapterError(f"{where}: generate must return a list of {len(ids)} strings, got {type(output).__name__}.")
    if len(output) != len(ids):
        raise AdapterError(f"{where}: generate returned {len(output)} answers for {len(ids)} requests.")
    for example_id, text in zip(ids, output, strict=True):
        if not isinstance(text, str):
            raise AdapterError(f"{where}: example {example_id!r}: field 'generation' must be a string, "
                               f"got {type(text).__name__} {str(text)[:60]!r}.")
    return list(output)
