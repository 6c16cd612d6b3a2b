"""Batched text generation for ``transformers`` causal language models.

Prompts (token ids) are sorted by length, longest first, and run in left-padded batches:
pad tokens come first and are masked out (``attention_mask = 0``), position ids count
only real tokens (``position = cumsum(mask) − 1``), so every row is computed as if it were
alone. The prompt is run once; each later step feeds one token per row and reuses the
keys and values of the earlier ones (a ``DynamicCache``). Rows that are done are dropped
from the batch (and from the cache).

Each step picks the next token from the logits ``z`` of the last position:

- greedy (``temperature == 0``): ``argmax z`` (ties: the lowest id, as ``torch.argmax``);
- sampling: ``p = softmax(z / temperature)``, restricted to the smallest set of most
  likely tokens whose mass reaches ``top_p`` (the most likely token is always kept), then
  renormalised; one draw from a ``torch.Generator`` of the request's own, seeded from
  ``(seed, key)`` (:func:`bench.adapters.decoding.request_seed`), so a request's text does not depend on which
  other requests share its batch.

A row is done at an end-of-sequence token (not part of the text), at a stop sequence or
after ``max_new_tokens`` tokens. Stop sequences are matched in the decoded text (so a
stop that spans tokens is found): the text is cut before the first occurrence of any stop
string. The text is the generated tokens decoded with special tokens skipped (lm-eval's
``generate_until``), so no padding or EOS text reaches it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from bench.adapters.decoding import cut_at_stop, request_seed
from bench.suites.generation import Decoding

__all__ = ["Generated", "generate_batched", "sample_next"]


@dataclass(frozen=True)
class Generated:
    """One generated continuation.

    Attributes
    ----------
    text
        The decoded continuation, cut before the first stop sequence.
    token_ids
        The tokens generated (an EOS token that ended it excluded; with a stop sequence,
        every token up to the one that completed the stop).
    finish_reason
        ``"stop"`` (EOS or a stop sequence) or ``"length"`` (``max_new_tokens`` reached).
    eos_id
        The end-of-sequence token that ended it (generated after ``token_ids``, in neither
        them nor the text), else ``None``.
    """

    text: str
    token_ids: tuple[int, ...]
    finish_reason: str
    eos_id: int | None = None


def sample_next(logits: torch.Tensor, decoding: Decoding, generator: torch.Generator | None) -> int:
    """The next token from one row of logits ``(V,)`` (see the module docstring)."""
    if decoding.greedy or generator is None:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits.double().cpu() / decoding.temperature, dim=-1)
    if decoding.top_p < 1:
        sorted_probs, order = torch.sort(probs, descending=True)
        before = torch.cumsum(sorted_probs, dim=0) - sorted_probs  # mass of the more likely tokens
        keep = before < decoding.top_p
        keep[0] = True
        probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_probs[keep])
    return int(torch.multinomial(probs / probs.sum(), 1, generator=generator))


@dataclass
class _Row:
    """A request being generated."""

    index: int
    prompt: list[int]
    generator: torch.Generator | None
    tokens: list[int]
    result: Generated | None = None


Decode = Callable[[list[int]], str]
"""``fn(token ids) -> text`` (special tokens skipped)."""


def generate_batched(model: Any, prompts: Sequence[Sequence[int]], keys: Sequence[str], decoding: Decoding, *,
                     decode: Decode, eos_ids: frozenset[int], pad_id: int, device: torch.device,
                     cache_arg: str = "cache", batch_tokens: int = 4096,
                     max_batch_size: int = 64) -> list[Generated]:
    """Generate after each prompt (each ≥ 1 token), in left-padded batches; results in prompt order.

    ``keys`` name the requests (their example ids) for the sampler seeds. A batch holds at
    most ``max_batch_size`` rows and ``rows × (longest prompt + max_new_tokens) ≤
    batch_tokens`` positions (a single long prompt gets a batch alone).
    """
    rows = [_Row(i, list(p), _generator(decoding, keys[i]), []) for i, p in enumerate(prompts)]
    order = sorted(rows, key=lambda r: (-len(r.prompt), r.index))
    start = 0
    while start < len(order):
        size = max(1, min(max_batch_size, batch_tokens // (len(order[start].prompt) + decoding.max_new_tokens)))
        _generate_batch(model, order[start : start + size], decoding, decode, eos_ids, pad_id, device, cache_arg)
        start += size
    return [row.result for row in rows if row.result is not None]


def _generator(decoding: Decoding, key: str) -> torch.Generator | None:
    if decoding.greedy:
        return None
    return torch.Generator().manual_seed(request_seed(decoding.seed, key))


def _generate_batch(model: Any, batch: list[_Row], decoding: Decoding, decode: Decode, eos_ids: frozenset[int],
                    pad_id: int, device: torch.device, cache_arg: str) -> None:
    from transformers import DynamicCache

    longest = max(len(r.prompt) for r in batch)
    ids = torch.tensor([[pad_id] * (longest - len(r.prompt)) + r.prompt for r in batch], device=device)
    mask = torch.tensor([[0] * (longest - len(r.prompt)) + [1] * len(r.prompt) for r in batch], device=device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    cache = DynamicCache()
    live = list(batch)
    with torch.inference_mode():
        for _ in range(decoding.max_new_tokens):
            out = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True,
                        logits_to_keep=1, **{cache_arg: cache})
            logits = out.logits[:, -1].float()
            keep = [j for j, row in enumerate(live) if not _advance(row, logits[j], decoding, decode, eos_ids)]
            if not keep:
                return
            if len(keep) < len(live):
                cache.batch_select_indices(torch.tensor(keep, device=device))
                mask, positions = mask[keep], positions[keep]
                live = [live[j] for j in keep]
            ids = torch.tensor([[row.tokens[-1]] for row in live], device=device)
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
            positions = positions[:, -1:] + 1
    for row in live:
        row.result = Generated(decode(row.tokens), tuple(row.tokens), "length")


def _advance(row: _Row, logits: torch.Tensor, decoding: Decoding, decode: Decode, eos_ids: frozenset[int]) -> bool:
    """Pick ``row``'s next token; whether the row is done (its result then set)."""
    token = sample_next(logits, decoding, row.generator)
    if token in eos_ids:
        row.result = Generated(decode(row.tokens), tuple(row.tokens), "stop", token)
        return True
    row.tokens.append(token)
    if decoding.stop:
        text, stopped = cut_at_stop(decode(row.tokens), decoding.stop)
        if stopped:
            row.result = Generated(text, tuple(row.tokens), "stop")
            return True
    if len(row.tokens) >= decoding.max_new_tokens:
        row.result = Generated(decode(row.tokens), tuple(row.tokens), "length")
        return True
    return False
