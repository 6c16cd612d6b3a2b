"""Batched log-likelihood scoring for causal language models, with a shared prefix.

One :class:`ScoreRequest` is a *context* followed by one or more *branches* (the
continuations of one multiple-choice example, or the targets of one rolling window). The
request is packed into a single sequence ``[context, branch_1, ..., branch_k]`` whose
attention mask lets every branch see the whole context and its own earlier tokens, but
never another branch. Position ids restart after the context for every branch, so each
branch is computed exactly as if it had been scored alone after the context, while the
context is run through the model once for all ``k`` branches.

The last token of a branch is only ever a *target*, never an input, so it is left out of
the packed sequence: a request costs ``len(context) + Σ (len(branch_i) - 1)`` positions.

Token ``t`` of branch ``i`` is scored as ``ln p(b_t | context, b_<t)``: the log-softmax of
the model's logits at the position of the token before it, in nats.

Requests are sorted by packed length (longest first) and grouped into padded batches of
at most ``max_batch_size`` rows and ``batch_tokens`` padded positions, so padding is
small; results are returned in the order of the requests, and do not depend on the batch
composition beyond floating-point rounding.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["ScoreRequest", "batches_by_length", "pack_batch", "rolling_windows", "score_requests"]

LOGIT_CHUNK = 512
"""Positions per ``lm_head`` + ``log_softmax`` call (bounds memory to ``LOGIT_CHUNK × vocab``)."""


@dataclass(frozen=True)
class ScoreRequest:
    """A context (at least one token) and the branches scored after it (each ≥ 1 token)."""

    context: tuple[int, ...]
    branches: tuple[tuple[int, ...], ...]

    @property
    def length(self) -> int:
        """Positions in the packed sequence: ``len(context) + Σ (len(branch) - 1)``."""
        return len(self.context) + sum(len(b) - 1 for b in self.branches)

    @property
    def n_targets(self) -> int:
        """Number of scored tokens (the sum of the branch lengths)."""
        return sum(len(b) for b in self.branches)


@dataclass
class PackedBatch:
    """Tensors of one padded batch and where each branch's scores come from."""

    input_ids: torch.Tensor  # (R, L) long
    position_ids: torch.Tensor  # (R, L) long
    attention_mask: torch.Tensor  # (R, 1, L, L) bool, True = may attend
    rows: torch.Tensor  # (N,) row of each scored target
    columns: torch.Tensor  # (N,) position whose logits predict it
    targets: torch.Tensor  # (N,) target token ids
    spans: list[list[tuple[int, int]]]  # per request, per branch: slice into the N targets


def _pack_row(request: ScoreRequest, length: int, pad_id: int) -> tuple[list[int], list[int], np.ndarray, list[int], list[int]]:
    """Ids, positions, mask, and (column, target) per scored token, for one request."""
    context = list(request.context)
    c = len(context)
    ids, positions = context[:], list(range(c))
    mask = np.zeros((length, length), dtype=bool)
    mask[:c, :c] = np.tril(np.ones((c, c), dtype=bool))
    columns: list[int] = []
    targets: list[int] = []
    for branch in request.branches:
        start, m = len(ids), len(branch) - 1
        ids += branch[:-1]
        positions += range(c, c + m)
        mask[start : start + m, :c] = True
        mask[start : start + m, start : start + m] = np.tril(np.ones((m, m), dtype=bool))
        columns += [c - 1, *range(start, start + m)]
        targets += branch
    pad = length - len(ids)
    mask[len(ids) :, len(ids) :] = np.eye(pad, dtype=bool)  # padding sees only itself: no NaN
    return ids + [pad_id] * pad, positions + [0] * pad, mask, columns, targets


def pack_batch(requests: Sequence[ScoreRequest], pad_id: int) -> PackedBatch:
    """Pack ``requests`` into one right-padded batch (see the module docstring)."""
    length = max(r.length for r in requests)
    ids, positions, masks, rows, columns, targets, spans = [], [], [], [], [], [], []
    for row, request in enumerate(requests):
        row_ids, row_positions, mask, row_columns, row_targets = _pack_row(request, length, pad_id)
        ids.append(row_ids)
        positions.append(row_positions)
        masks.append(mask)
        offset = len(targets)
        request_spans = []
        for branch in request.branches:
            request_spans.append((offset, offset + len(branch)))
            offset += len(branch)
        spans.append(request_spans)
        rows += [row] * len(row_targets)
        columns += row_columns
        targets += row_targets
    return PackedBatch(
        input_ids=torch.tensor(ids, dtype=torch.long),
        position_ids=torch.tensor(positions, dtype=torch.long),
        attention_mask=torch.from_numpy(np.stack(masks))[:, None],
        rows=torch.tensor(rows, dtype=torch.long),
        columns=torch.tensor(columns, dtype=torch.long),
        targets=torch.tensor(targets, dtype=torch.long),
        spans=spans,
    )


def batches_by_length(lengths: Sequence[int], *, batch_tokens: int, max_batch_size: int) -> list[list[int]]:
    """Indices grouped into batches, longest first, each within the size limits.

    A batch holds at most ``max_batch_size`` items and ``rows × longest ≤ batch_tokens``
    padded positions (a single item longer than ``batch_tokens`` gets a batch alone).
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    for index in order:
        current = batches[-1] if batches else None
        if current and len(current) < max_batch_size and lengths[current[0]] * (len(current) + 1) <= batch_tokens:
            current.append(index)
        else:
            batches.append([index])
    return batches


HiddenFn = Callable[[PackedBatch], torch.Tensor]
"""``fn(batch) -> hidden states (R, L, H)`` before the output layer."""
HeadFn = Callable[[torch.Tensor], torch.Tensor]
"""``fn(hidden (N, H)) -> logits (N, V)``."""


def _target_log_probs(hidden: torch.Tensor, head: HeadFn, batch: PackedBatch) -> np.ndarray:
    selected = hidden[batch.rows, batch.columns]
    out = []
    for start in range(0, selected.shape[0], LOGIT_CHUNK):
        logits = head(selected[start : start + LOGIT_CHUNK]).float()
        log_p = torch.log_softmax(logits, dim=-1)
        out.append(log_p.gather(1, batch.targets[start : start + LOGIT_CHUNK, None])[:, 0])
    return torch.cat(out).double().numpy()


def score_requests(
    requests: Sequence[ScoreRequest],
    hidden_fn: HiddenFn,
    head_fn: HeadFn,
    *,
    pad_id: int,
    batch_tokens: int = 4096,
    max_batch_size: int = 64,
    advance: Callable[[int], None] = lambda n: None,
) -> list[list[np.ndarray]]:
    """Token log-probabilities (nats) of every branch of every request, in request order.

    Returns ``out[r][i]``: an array of ``len(requests[r].branches[i])`` values
    ``ln p(b_t | context, b_<t)``. ``advance(n)`` is called with the number of scored
    tokens after each batch.
    """
    results: list[list[np.ndarray]] = [[] for _ in requests]
    groups = batches_by_length([r.length for r in requests], batch_tokens=batch_tokens, max_batch_size=max_batch_size)
    with torch.inference_mode():
        for group in groups:
            batch = pack_batch([requests[i] for i in group], pad_id)
            scores = _target_log_probs(hidden_fn(batch), head_fn, batch)
            for index, spans in zip(group, batch.spans, strict=True):
                results[index] = [scores[a:b] for a, b in spans]
            advance(sum(requests[i].n_targets for i in group))
    return results


def rolling_windows(tokens: Sequence[int], prefix_id: int, max_length: int) -> list[ScoreRequest]:
    """Disjoint windows that score every token of ``tokens`` once (lm-eval's rolling scheme).

    Window ``j`` predicts ``tokens[j·W : (j+1)·W]`` with ``W = max_length``. Its context
    is ``prefix_id`` for the first window; for a later window it is as many of the
    preceding tokens as keep its input within ``max_length`` positions (one token for a
    full window, more for the shorter last one). No token is scored twice.
    """
    padded = [prefix_id, *(int(t) for t in tokens)]  # padded[i + 1] == tokens[i]
    windows = []
    for start in range(0, len(tokens), max_length):
        end = min(start + max_length, len(tokens))
        n_context = 1 if start == 0 else min(start + 1, max_length - (end - start) + 1)
        context = tuple(padded[start + 1 - n_context : start + 1])
        windows.append(ScoreRequest(context, (tuple(padded[start + 1 : end + 1]),)))
    return windows
