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

Prefix caching. Requests can also declare how many leading context tokens they share with
others (``shared[r]``, e.g. the description and few-shot exemplars of a 5-shot prompt).
Requests whose first ``shared[r]`` tokens are equal form a group; the keys and values of
those tokens are computed once per group (``prefill(tokens)``), and only the rest of each
request (its *suffix*: the remaining context and the branches) is run, attending to the
cached prefix and, as above, to its own suffix. Positions continue after the prefix, so a
cached request gets the same log-probabilities as an uncached one, up to rounding.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = ["BranchScores", "ScoreRequest", "batches_by_length", "pack_batch", "rolling_windows", "score_requests",
           "score_requests_top"]

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
    past: Any = None  # cached keys/values of a shared prefix (rows × prefix tokens), or None
    offset: int = 0  # tokens in that prefix: positions start there, the mask has as many leading columns


def _pack_row(request: ScoreRequest, length: int, pad_id: int,
              offset: int = 0) -> tuple[list[int], list[int], np.ndarray, list[int], list[int]]:
    """Ids, positions, mask, and (column, target) per scored token, for one request.

    With ``offset > 0`` the request continues a cached prefix of ``offset`` tokens: its
    positions start at ``offset`` and the mask gets ``offset`` leading columns that every
    row may attend to.
    """
    context = list(request.context)
    c = len(context)
    ids, positions = context[:], list(range(offset, offset + c))
    full = np.zeros((length, offset + length), dtype=bool)
    full[:, :offset] = True
    mask = full[:, offset:]
    mask[:c, :c] = np.tril(np.ones((c, c), dtype=bool))
    columns: list[int] = []
    targets: list[int] = []
    for branch in request.branches:
        start, m = len(ids), len(branch) - 1
        ids += branch[:-1]
        positions += range(offset + c, offset + c + m)
        mask[start : start + m, :c] = True
        mask[start : start + m, start : start + m] = np.tril(np.ones((m, m), dtype=bool))
        columns += [c - 1, *range(start, start + m)]
        targets += branch
    pad = length - len(ids)
    mask[len(ids) :, len(ids) :] = np.eye(pad, dtype=bool)  # padding sees only itself: no NaN
    return ids + [pad_id] * pad, positions + [offset] * pad, full, columns, targets


def pack_batch(requests: Sequence[ScoreRequest], pad_id: int, *, offset: int = 0,
               device: torch.device | str = "cpu") -> PackedBatch:
    """Pack ``requests`` into one right-padded batch on ``device`` (see the module docstring).

    ``offset`` is the length of a cached prefix the requests continue (0: none); the
    attention mask is then ``(R, 1, L, offset + L)``.
    """
    length = max(r.length for r in requests)
    ids, positions, masks, rows, columns, spans = [], [], [], [], [], []
    targets: list[int] = []
    for row, request in enumerate(requests):
        row_ids, row_positions, mask, row_columns, row_targets = _pack_row(request, length, pad_id, offset)
        ids.append(row_ids)
        positions.append(row_positions)
        masks.append(mask)
        start = len(targets)
        request_spans = []
        for branch in request.branches:
            request_spans.append((start, start + len(branch)))
            start += len(branch)
        spans.append(request_spans)
        rows += [row] * len(row_targets)
        columns += row_columns
        targets += row_targets
    return PackedBatch(
        input_ids=torch.tensor(ids, dtype=torch.long, device=device),
        position_ids=torch.tensor(positions, dtype=torch.long, device=device),
        attention_mask=torch.from_numpy(np.stack(masks))[:, None].to(device),
        rows=torch.tensor(rows, dtype=torch.long, device=device),
        columns=torch.tensor(columns, dtype=torch.long, device=device),
        targets=torch.tensor(targets, dtype=torch.long, device=device),
        spans=spans,
        offset=offset,
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


@dataclass(frozen=True)
class BranchScores:
    """Scores of one branch's ``n`` tokens: ``logprobs`` ``(n,)`` and, per token, the ``k``
    most likely tokens at its position, ``top_ids`` and ``top_logprobs`` ``(n, k)``, most
    likely first (nats; from the same ``log_softmax`` as ``logprobs``)."""

    logprobs: np.ndarray
    top_ids: np.ndarray
    top_logprobs: np.ndarray


def _target_log_probs(hidden: torch.Tensor, head: HeadFn, batch: PackedBatch,
                      top_k: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    selected = hidden[batch.rows, batch.columns]
    out, top_ids, top_values = [], [], []
    for start in range(0, selected.shape[0], LOGIT_CHUNK):
        logits = head(selected[start : start + LOGIT_CHUNK]).float()
        log_p = torch.log_softmax(logits, dim=-1)
        out.append(log_p.gather(1, batch.targets[start : start + LOGIT_CHUNK, None])[:, 0])
        if top_k:
            values, ids = log_p.topk(min(top_k, log_p.shape[-1]), dim=-1)
            top_ids.append(ids)
            top_values.append(values)
    scores = torch.cat(out).double().cpu().numpy()
    if not top_k:
        return scores, np.zeros((len(scores), 0), dtype=np.int64), np.zeros((len(scores), 0))
    return scores, torch.cat(top_ids).cpu().numpy(), torch.cat(top_values).double().cpu().numpy()


PrefillFn = Callable[[Sequence[int]], Any]
"""``fn(prefix tokens) -> cached keys/values`` of one prefix (batch of one); :class:`PackedBatch`
carries it as ``past`` and the hidden-state function expands it to the batch's rows."""

CACHE_TOKENS_FACTOR = 4
"""A prefix-cached batch holds at most ``CACHE_TOKENS_FACTOR × batch_tokens`` positions of
keys and values (rows × (prefix + suffix)), which bounds the memory of the expanded cache."""


def score_requests(
    requests: Sequence[ScoreRequest],
    hidden_fn: HiddenFn,
    head_fn: HeadFn,
    *,
    pad_id: int,
    batch_tokens: int = 4096,
    max_batch_size: int = 64,
    advance: Callable[[int], None] = lambda n: None,
    device: torch.device | str = "cpu",
    shared: Sequence[int] | None = None,
    prefill: PrefillFn | None = None,
) -> list[list[np.ndarray]]:
    """Token log-probabilities (nats) of every branch of every request, in request order.

    Returns ``out[r][i]``: an array of ``len(requests[r].branches[i])`` values
    ``ln p(b_t | context, b_<t)`` (see :func:`score_requests_top`, which this calls with
    ``top_k = 0``, for the arguments).
    """
    scored = score_requests_top(requests, hidden_fn, head_fn, pad_id=pad_id, batch_tokens=batch_tokens,
                                max_batch_size=max_batch_size, advance=advance, device=device, shared=shared,
                                prefill=prefill)
    return [[branch.logprobs for branch in request] for request in scored]


def score_requests_top(
    requests: Sequence[ScoreRequest],
    hidden_fn: HiddenFn,
    head_fn: HeadFn,
    *,
    pad_id: int,
    top_k: int = 0,
    batch_tokens: int = 4096,
    max_batch_size: int = 64,
    advance: Callable[[int], None] = lambda n: None,
    device: torch.device | str = "cpu",
    shared: Sequence[int] | None = None,
    prefill: PrefillFn | None = None,
) -> list[list[BranchScores]]:
    """Token log-probabilities (nats) of every branch of every request, in request order.

    Returns ``out[r][i]``: the :class:`BranchScores` of ``requests[r].branches[i]``, its
    ``len(branch)`` values ``ln p(b_t | context, b_<t)`` and the ``top_k`` most likely
    tokens at each of its positions (none for ``top_k = 0``). ``advance(n)`` is called with the number of scored
    tokens after each batch. With ``shared`` and ``prefill``, request ``r``'s first
    ``shared[r]`` context tokens come from a cache computed once per distinct prefix
    (0: no cache; it must leave at least one context token, else the request is uncached).
    """
    results: list[list[BranchScores]] = [[] for _ in requests]
    groups: dict[tuple[int, ...], list[int]] = {}
    for index, request in enumerate(requests):
        n = shared[index] if shared is not None and prefill is not None else 0
        key = request.context[:n] if 0 < n < len(request.context) else ()
        groups.setdefault(key, []).append(index)
    for key in [k for k, members in groups.items() if k and len(members) == 1]:  # nothing to share
        groups.setdefault((), []).extend(groups.pop(key))
    with torch.inference_mode():
        for prefix, members in groups.items():
            past = prefill(prefix) if prefix and prefill is not None else None
            p = len(prefix)
            parts = [ScoreRequest(requests[i].context[p:], requests[i].branches) for i in members]
            limit = batch_tokens if not p else max(1, CACHE_TOKENS_FACTOR * batch_tokens)
            for batch_members in _batches(parts, p, batch_tokens, limit, max_batch_size):
                batch = pack_batch([parts[i] for i in batch_members], pad_id, offset=p, device=device)
                batch.past = past
                scores, top_ids, top_values = _target_log_probs(hidden_fn(batch), head_fn, batch, top_k)
                for local, spans in zip(batch_members, batch.spans, strict=True):
                    results[members[local]] = [BranchScores(scores[a:b], top_ids[a:b], top_values[a:b])
                                               for a, b in spans]
                advance(sum(parts[i].n_targets for i in batch_members))
    return results


def _batches(parts: Sequence[ScoreRequest], offset: int, batch_tokens: int, cache_tokens: int,
             max_batch_size: int) -> list[list[int]]:
    """Length-sorted batches of ``parts``; with a cached prefix, rows × (offset + longest) ≤ cache_tokens too."""
    lengths = [r.length for r in parts]
    if not offset:
        return batches_by_length(lengths, batch_tokens=batch_tokens, max_batch_size=max_batch_size)
    rows = max(1, min(max_batch_size, cache_tokens // (offset + max(lengths))))
    return batches_by_length(lengths, batch_tokens=batch_tokens, max_batch_size=rows)


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
