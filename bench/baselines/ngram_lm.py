"""A byte-level n-gram language model with interpolated Kneser-Ney smoothing.

The ``byte-ngram`` baseline for language-modelling tasks. Tokens are the **bytes** of
the UTF-8 text (a vocabulary of 256), so ``text_nll`` returns the summed negative log
likelihood (nats) of every byte and the number of bytes; cross-entropy per token is then
nats per byte and bits per byte is that divided by ln 2. Every text is scored from its
start, with ``order - 1`` zero bytes as the left context (the same padding is used in
training, so the model learns how texts begin).

Notes
-----
Interpolated Kneser-Ney (Chen & Goodman 1999, eq. 15) with one absolute discount
:math:`D_k` per order :math:`k`. For the highest order :math:`n`, with raw counts
:math:`c`:

.. math::

    P_n(w \\mid h) = \\frac{\\max(c(hw) - D_n, 0)}{c(h\\cdot)}
                    + \\frac{D_n \\, N_{1+}(h\\,\\cdot)}{c(h\\cdot)} \\, P_{n-1}(w \\mid h')

where :math:`c(h\\cdot) = \\sum_w c(hw)`, :math:`N_{1+}(h\\,\\cdot)` is the number of
distinct bytes seen after :math:`h`, and :math:`h'` is :math:`h` without its first byte.
Lower orders :math:`1 \\le k < n` use the same formula with continuation counts
:math:`N_{1+}(\\cdot\\, g)` (the number of distinct bytes seen before the k-gram
:math:`g`) in place of :math:`c(g)`. Below order 1 is the uniform distribution
:math:`1/256`. A context never seen in training falls through to the next lower order
(:math:`P_k = P_{k-1}`). Each order's discount is :math:`D_k = n_1 / (n_1 + 2 n_2)`
(Ney et al. 1994), :math:`n_r` being the number of k-grams with count :math:`r`, clipped
to [0.05, 0.95]. Every :math:`P_k(\\cdot \\mid h)` sums to 1 over the 256 bytes.

N-grams are packed into unsigned 64-bit keys (8 bits per byte), so ``order`` ≤ 8;
counting uses ``numpy.unique`` and lookups ``numpy.searchsorted``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bench.adapters.base import Adapter, config_fingerprint
from bench.errors import CapabilityError, ConfigError, DataError
from bench.suites.types import Example, Task

__all__ = ["ByteNgramLM", "KneserNeyTables", "byte_ngram"]

VOCAB = 256
_MIN_D, _MAX_D = 0.05, 0.95


def _padded(data: bytes, order: int) -> np.ndarray:
    return np.concatenate([np.zeros(order - 1, np.uint64), np.frombuffer(data, np.uint8).astype(np.uint64)])


def _keys(padded: np.ndarray, order: int, k: int) -> np.ndarray:
    """Keys of the k-grams ending at each text position (the targets) of ``padded``."""
    n = len(padded) - (order - 1)
    key = np.zeros(n, np.uint64)
    for j in range(k):
        start = order - k + j
        key = (key << np.uint64(8)) | padded[start : start + n]
    return key


@dataclass(frozen=True)
class _Order:
    """Counts of one order: sorted k-gram keys and counts; sorted context keys, totals, types."""

    grams: np.ndarray
    counts: np.ndarray
    contexts: np.ndarray
    totals: np.ndarray
    types: np.ndarray
    discount: float


def _lookup(sorted_keys: np.ndarray, values: np.ndarray, queries: np.ndarray) -> np.ndarray:
    if sorted_keys.size == 0:
        return np.zeros(queries.shape, np.float64)
    index = np.minimum(np.searchsorted(sorted_keys, queries), sorted_keys.size - 1)
    return np.where(sorted_keys[index] == queries, values[index], 0).astype(np.float64)


def _make_order(grams: np.ndarray, counts: np.ndarray) -> _Order:
    contexts, inverse = np.unique(grams >> np.uint64(8), return_inverse=True)
    totals = np.bincount(inverse, weights=counts).astype(np.float64)
    types = np.bincount(inverse).astype(np.float64)
    n1, n2 = np.count_nonzero(counts == 1), np.count_nonzero(counts == 2)
    discount = n1 / (n1 + 2 * n2) if n1 + n2 else 0.5
    return _Order(grams, counts.astype(np.float64), contexts, totals, types, float(np.clip(discount, _MIN_D, _MAX_D)))


class KneserNeyTables:
    """Count tables of an interpolated Kneser-Ney byte model (see the module Notes).

    Parameters
    ----------
    order
        n of the n-gram model, 1 ≤ order ≤ 8.
    """

    def __init__(self, order: int) -> None:
        if not isinstance(order, int) or not 1 <= order <= 8:
            raise ConfigError(f"The 'order' of byte-ngram must be an int in the range [1, 8]. Got {order!r} instead.")
        self.order = order
        self.orders: list[_Order] = []

    def fit(self, texts: Sequence[bytes]) -> KneserNeyTables:
        """Count the n-grams of ``texts`` (bytes); returns ``self``."""
        padded = [_padded(t, self.order) for t in texts if t]
        if not padded:
            raise DataError("byte-ngram has no training text: every training example is empty.")
        distinct = [np.unique(np.concatenate([_keys(p, self.order, k) for p in padded]), return_counts=True)
                    for k in range(1, self.order + 1)]
        orders = []
        for k in range(1, self.order + 1):
            if k == self.order:
                grams, counts = distinct[k - 1]
            else:  # continuation counts: distinct left extensions of each k-gram
                mask = np.uint64((1 << (8 * k)) - 1)
                grams, counts = np.unique(distinct[k][0] & mask, return_counts=True)
            orders.append(_make_order(grams, counts))
        self.orders = orders
        return self

    def _probabilities(self, padded: np.ndarray) -> np.ndarray:
        p = np.full(len(padded) - (self.order - 1), 1.0 / VOCAB)
        for k, table in enumerate(self.orders, start=1):
            keys = _keys(padded, self.order, k)
            count = _lookup(table.grams, table.counts, keys)
            total = _lookup(table.contexts, table.totals, keys >> np.uint64(8))
            types = _lookup(table.contexts, table.types, keys >> np.uint64(8))
            seen = total > 0
            safe = np.where(seen, total, 1.0)
            interpolated = (np.maximum(count - table.discount, 0.0) + table.discount * types * p) / safe
            p = np.where(seen, interpolated, p)
        return p

    def log_probs(self, data: bytes) -> np.ndarray:
        """Natural-log probability of each byte of ``data`` given the bytes before it."""
        if not self.orders:
            raise CapabilityError("byte-ngram must be fitted before it scores text.")
        return np.log(self._probabilities(_padded(data, self.order)))

    def next_byte_log_probs(self, context: bytes) -> np.ndarray:
        """Log-probabilities of all 256 next bytes after ``context``, shape ``(256,)``."""
        if not self.orders:
            raise CapabilityError("byte-ngram must be fitted before it scores text.")
        history = _padded(context, self.order)[len(context):]  # the last order - 1 bytes, padded
        return np.array([np.log(self._probabilities(np.append(history, np.uint64(b)))[-1]) for b in range(VOCAB)])

    def digest(self) -> bytes:
        """SHA-256 over all count tables (identifies the fitted model)."""
        h = hashlib.sha256()
        for table in self.orders:
            h.update(table.grams.tobytes())
            h.update(table.counts.tobytes())
        return h.digest()


class ByteNgramLM(Adapter):
    """Interpolated Kneser-Ney byte n-gram model trained on the protocol's train split.

    Parameters
    ----------
    name
        Model name in records.
    order
        n (context of ``order - 1`` bytes), 1-8.
    """

    task_kinds = frozenset({"language_modeling"})
    trainable = True

    def __init__(self, name: str = "byte-ngram", order: int = 5) -> None:
        self.name = name
        self.tables = KneserNeyTables(order)

    def fit(self, train: Sequence[Example], tasks: Sequence[Task], *, seed: int) -> None:
        """Count the byte n-grams of the UTF-8 texts of ``train`` (``seed`` is unused: counting is exact)."""
        self.tables.fit([ex.text.encode("utf-8") for ex in train])

    def text_nll(self, examples: Sequence[Example], task: Task) -> tuple[np.ndarray, np.ndarray]:
        """Summed NLL (nats) of the bytes of each text, and its number of bytes."""
        nll = np.array([-self.tables.log_probs(ex.text.encode("utf-8")).sum() for ex in examples])
        tokens = np.array([len(ex.text.encode("utf-8")) for ex in examples], dtype=np.float64)
        return nll, tokens

    def fingerprint(self) -> str:
        return config_fingerprint(self.name, {"order": self.tables.order, "smoothing": "interpolated-kn"},
                                  self.tables.digest())


def byte_ngram() -> ByteNgramLM:
    """Byte-level 5-gram language model, interpolated Kneser-Ney, trained on the in-domain train split."""
    return ByteNgramLM("byte-ngram", order=5)
