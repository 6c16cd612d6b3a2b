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
The keys and values of each distinct shared prefix are computed once (``prefill(tokens)``),
and only the rest of each request (its *suffix*: the remaining context and the branches)
is run, attending to its cached prefix and, as above, to its own suffix. Suffixes of
different prefixes share a batch: the batch's cache holds each row's own prefix,
right-padded to the longest (the padding columns are masked out). Positions continue
after the prefix, so a cached request gets the same log-probabilities as an uncached
one, up to rounding.

Plain causal batches. A batch without a cached prefix whose requests have a single branch
or branches of one token each (zero-shot classification, rolling windows) needs no custom
mask: right padding only follows the real tokens, so the model's own causal attention
gives the same numbers; such a batch is marked ``causal`` and run without a mask or
position ids (the fast fused causal attention kernels apply).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = ["BatchLimits", "BranchScores", "ScoreRequest", "batches_by_length", "is_causal", "is_out_of_memory",
           "pack_batch", "rolling_windows", "score_requests", "score_requests_top", "stack_prefixes"]

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
    past: Any = None  # per layer (keys, values) of the rows' cached prefixes, (R, heads, offset, dim), or None
    offset: int = 0  # longest cached prefix: the mask has as many leading columns
    causal: bool = False  # plain causal attention gives these numbers: no mask or position ids needed


def _pack_row(request: ScoreRequest, length: int, pad_id: int, offset: int = 0,
              width: int | None = None) -> tuple[list[int], list[int], np.ndarray, list[int], list[int]]:
    """Ids, positions, mask, and (column, target) per scored token, for one request.

    With ``offset > 0`` the request continues a cached prefix of ``offset`` tokens: its
    positions start at ``offset`` and the mask gets ``width`` (≥ ``offset``, default
    ``offset``) leading columns, of which the first ``offset`` may be attended to.
    """
    width = offset if width is None else width
    context = list(request.context)
    c = len(context)
    ids, positions = context[:], list(range(offset, offset + c))
    full = np.zeros((length, width + length), dtype=bool)
    full[:, :offset] = True
    mask = full[:, width:]
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


def is_causal(request: ScoreRequest) -> bool:
    """Whether the packed layout of ``request`` is plain causal: one branch, or one-token branches."""
    return len(request.branches) == 1 or all(len(b) == 1 for b in request.branches)


def pack_batch(requests: Sequence[ScoreRequest], pad_id: int, *, offset: int | Sequence[int] = 0,
               device: torch.device | str = "cpu") -> PackedBatch:
    """Pack ``requests`` into one right-padded batch on ``device`` (see the module docstring).

    ``offset`` is the length of the cached prefix the requests continue (0: none), one for
    all or one per request; the attention mask is then ``(R, 1, L, max(offset) + L)``.
    """
    offsets = [offset] * len(requests) if isinstance(offset, int) else list(offset)
    length, width = max(r.length for r in requests), max(offsets)
    ids, positions, masks, rows, columns, spans = [], [], [], [], [], []
    targets: list[int] = []
    for row, (request, own) in enumerate(zip(requests, offsets, strict=True)):
        row_ids, row_positions, mask, row_columns, row_targets = _pack_row(request, length, pad_id, own, width)
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
        offset=width,
        causal=not width and all(is_causal(r) for r in requests),
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
"""``fn(prefix tokens) -> cached keys/values`` of one prefix: per layer ``(keys, values)``, each
``(1, heads, len(tokens), dim)``; :func:`stack_prefixes` builds a batch's ``past`` from them."""

CACHE_TOKENS_FACTOR = 4
"""A prefix-cached batch holds at most ``CACHE_TOKENS_FACTOR × batch_tokens`` positions of
keys and values (rows × (prefix + suffix)), which bounds the memory of the expanded cache."""


@dataclass
class BatchLimits:
    """How large a batch may be: ``max_batch_size`` rows and ``batch_tokens`` padded positions.

    With ``adaptive``, an out-of-memory error in a batch of ``R`` rows halves both
    (``max_batch_size = R // 2``, ``batch_tokens //= 2``) and the batch is run again
    (lm-eval's ``--batch_size auto``); the limits stay halved for later calls.
    """

    batch_tokens: int = 4096
    max_batch_size: int = 64
    adaptive: bool = False

    def halve(self, rows: int) -> bool:
        """Halve the limits after a batch of ``rows`` rows ran out of memory; False if it had one row."""
        if not self.adaptive or rows <= 1:
            return False
        self.max_batch_size = max(1, rows // 2)
        self.batch_tokens = max(1, self.batch_tokens // 2)
        return True


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is a device running out of memory (``torch.cuda.OutOfMemoryError`` or a
    ``RuntimeError`` whose message says "out of memory")."""
    oom = getattr(torch.cuda, "OutOfMemoryError", None)
    return (oom is not None and isinstance(exc, oom)) or (isinstance(exc, RuntimeError) and "out of memory" in str(exc))


def stack_prefixes(prefixes: Sequence[Any], width: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per layer, the rows' cached prefixes right-padded with zeros to ``width`` positions and
    stacked: ``(R, heads, width, dim)`` keys and values (rows sharing one prefix object share its
    copy; a single prefix is expanded, not copied)."""
    distinct = list({id(p): p for p in prefixes}.values())
    index = {id(p): i for i, p in enumerate(distinct)}
    rows = torch.tensor([index[id(p)] for p in prefixes], device=distinct[0][0][0].device)
    out = []
    for layer in range(len(distinct[0])):
        pair = []
        for part in (0, 1):
            tensors = [torch.nn.functional.pad(p[layer][part], (0, 0, 0, width - p[layer][part].shape[-2]))
                       for p in distinct]
            if len(distinct) == 1:
                pair.append(tensors[0].expand(len(prefixes), -1, -1, -1))
            else:
                pair.append(torch.cat(tensors).index_select(0, rows))
        out.append((pair[0], pair[1]))
    return out


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
    limits: BatchLimits | None = None,
) -> list[list[np.ndarray]]:
    """Token log-probabilities (nats) of every branch of every request, in request order.

    Returns ``out[r][i]``: an array of ``len(requests[r].branches[i])`` values
    ``ln p(b_t | context, b_<t)`` (see :func:`score_requests_top`, which this calls with
    ``top_k = 0``, for the arguments).
    """
    scored = score_requests_top(requests, hidden_fn, head_fn, pad_id=pad_id, batch_tokens=batch_tokens,
                                max_batch_size=max_batch_size, advance=advance, device=device, shared=shared,
                                prefill=prefill, limits=limits)
    return [[branch.logprobs for branch in request] for request in scored]


def _prefix_keys(requests: Sequence[ScoreRequest], shared: Sequence[int] | None,
                 prefill: PrefillFn | None) -> list[tuple[int, ...]]:
    """Per request, the cached prefix it continues (``()``: none); a prefix of one request only is not cached."""
    keys = []
    for index, request in enumerate(requests):
        n = shared[index] if shared is not None and prefill is not None else 0
        keys.append(request.context[:n] if 0 < n < len(request.context) else ())
    counts: dict[tuple[int, ...], int] = {}
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
    return [key if counts[key] > 1 else () for key in keys]


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
    limits: BatchLimits | None = None,
) -> list[list[BranchScores]]:
    """Token log-probabilities (nats) of every branch of every request, in request order.

    Returns ``out[r][i]``: the :class:`BranchScores` of ``requests[r].branches[i]``, its
    ``len(branch)`` values ``ln p(b_t | context, b_<t)`` and the ``top_k`` most likely
    tokens at each of its positions (none for ``top_k = 0``). ``advance(n)`` is called with the number of scored
    tokens after each batch. With ``shared`` and ``prefill``, request ``r``'s first
    ``shared[r]`` context tokens come from a cache computed once per distinct prefix
    (0: no cache; it must leave at least one context token, else the request is uncached).
    ``limits`` (default: ``batch_tokens`` and ``max_batch_size``, not adaptive) bound each
    batch; adaptive limits are halved on out-of-memory errors (see :class:`BatchLimits`).
    """
    limits = limits or BatchLimits(batch_tokens, max_batch_size)
    keys = _prefix_keys(requests, shared, prefill)
    results: list[list[BranchScores]] = [[] for _ in requests]
    with torch.inference_mode():
        caches = {key: prefill(key) for key in dict.fromkeys(keys) if key and prefill is not None}
        parts = [ScoreRequest(r.context[len(k):], r.branches) for r, k in zip(requests, keys, strict=True)]
        offsets = [len(k) for k in keys]
        queue = _batches(parts, offsets, range(len(parts)), limits)
        while queue:
            members = queue.pop(0)
            try:
                batch = pack_batch([parts[i] for i in members], pad_id, offset=[offsets[i] for i in members],
                                   device=device)
                if batch.offset:
                    batch.past = stack_prefixes([caches[keys[i]] for i in members], batch.offset)
                scored = _target_log_probs(hidden_fn(batch), head_fn, batch, top_k)
            except RuntimeError as exc:
                if not (is_out_of_memory(exc) and limits.halve(len(members))):
                    raise
                _release_memory(device)
                queue = _batches(parts, offsets, [i for b in [members, *queue] for i in b], limits)
                continue
            _store(results, members, batch, scored)
            advance(sum(parts[i].n_targets for i in members))
    return results


def _release_memory(device: torch.device | str) -> None:
    """Return cached blocks to the device after an out-of-memory error (CUDA only)."""
    if torch.device(device).type == "cuda":
        torch.cuda.empty_cache()


def _store(results: list[list[BranchScores]], members: Sequence[int], batch: PackedBatch,
           scored: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    scores, top_ids, top_values = scored
    for index, spans in zip(members, batch.spans, strict=True):
        results[index] = [BranchScores(scores[a:b], top_ids[a:b], top_values[a:b]) for a, b in spans]


def _batches(parts: Sequence[ScoreRequest], offsets: Sequence[int], members: Sequence[int] | range,
             limits: BatchLimits) -> list[list[int]]:
    """Length-sorted batches of ``parts[members]``, within ``limits``.

    Cached and uncached requests, and plain causal and packed ones, never share a batch
    (a batch is then either run with plain causal attention or not at all); a cached batch
    also keeps rows × (longest prefix + longest suffix) ≤ ``CACHE_TOKENS_FACTOR × batch_tokens``.
    """
    streams: dict[tuple[bool, bool], list[int]] = {}
    for i in members:
        streams.setdefault((offsets[i] > 0, is_causal(parts[i])), []).append(i)
    out = []
    for (cached, _), indices in streams.items():
        lengths = [parts[i].length for i in indices]
        rows = limits.max_batch_size
        if cached:
            widest = max(offsets[i] for i in indices) + max(lengths)
            rows = max(1, min(rows, CACHE_TOKENS_FACTOR * limits.batch_tokens // widest))
        for batch in batches_by_length(lengths, batch_tokens=limits.batch_tokens, max_batch_size=rows):
            out.append([indices[j] for j in batch])
    return out


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
