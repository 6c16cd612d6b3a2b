"""lm-evaluation-harness's ``HFLM`` as the reference of ``hf-causal-lm``: the same model
object and the same request strings, scored or answered by lm-eval.

The agreement tests (``tests/adapters/test_lm_eval_agreement.py``,
``tests/benchmarks/test_lm_eval_agreement.py``) and ``scripts/gpu-check`` compare
:class:`~bench.adapters.hf_causal_lm.HFCausalLM` with lm-eval through these functions.
lm-eval (``python -m pip install -e ".[reference]"`` in the clone) is imported only when one is called.

Each multiple-choice request is given to lm-eval as the pairs ``(context, continuation)``
with ``context = request.prompt.text()`` and each of ``request.scored_continuations()``
(the strings ``bench run`` scores); a generation as its rendered context and lm-eval's
``gen_kwargs`` (``until``, ``max_gen_toks``, greedy).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.errors import ConfigError
from bench.suites.generation import Decoding
from bench.suites.prompts import ChoiceRequest

if TYPE_CHECKING:
    from bench.adapters.hf_causal_lm import HFCausalLM

__all__ = ["Agreement", "agreement", "lm_eval_generate", "lm_eval_loglikelihood", "make_hflm", "n_tokens"]


def make_hflm(adapter: HFCausalLM, batch_size: int = 16) -> Any:
    """lm-eval's ``HFLM`` around the already-loaded model object and tokenizer of an
    ``hf-causal-lm`` adapter (so both run the same weights, dtype and device)."""
    import logging

    from lm_eval.models.huggingface import HFLM

    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    return HFLM(pretrained=adapter.model, tokenizer=adapter.tokenizer, batch_size=batch_size, device=str(adapter.device))


def lm_eval_loglikelihood(hflm: Any, requests: Sequence[ChoiceRequest]) -> list[np.ndarray]:
    """lm-eval's ``HFLM.loglikelihood`` on the (context, continuation) pairs of
    ``requests``: per request, one summed log-likelihood (nats) per continuation."""
    from lm_eval.api.instance import Instance

    pairs = [(r.prompt.text(), c) for r in requests for c in r.scored_continuations()]
    instances = [Instance("loglikelihood", {}, pair, i) for i, pair in enumerate(pairs)]
    flat = [ll for ll, _ in hflm.loglikelihood(instances, disable_tqdm=True)]
    out, start = [], 0
    for r in requests:
        out.append(np.array(flat[start : start + len(r.continuations)]))
        start += len(r.continuations)
    return out


def lm_eval_generate(hflm: Any, contexts: Sequence[str], decoding: Decoding) -> list[str]:
    """lm-eval's ``HFLM.generate_until`` after each context (the prompt text as the adapter
    rendered it: ``adapter.rendered_prompt(request.prompt)``), greedy, at most
    ``decoding.max_new_tokens`` tokens, cut at ``decoding.stop`` (and EOS).

    Raises
    ------
    ConfigError
        If ``decoding`` samples (``temperature > 0``): only greedy answers are comparable.
    """
    from lm_eval.api.instance import Instance

    if decoding.temperature:
        raise ConfigError(f"lm_eval_generate compares greedy decoding only; got temperature {decoding.temperature}.")
    kwargs = {"until": list(decoding.stop), "max_gen_toks": decoding.max_new_tokens, "do_sample": False}
    instances = [Instance("generate_until", {}, (context, dict(kwargs)), i) for i, context in enumerate(contexts)]
    return [str(text) for text in hflm.generate_until(instances, disable_tqdm=True)]


@dataclass(frozen=True)
class Agreement:
    """How two harnesses' per-option log-likelihoods of the same requests compare.

    Attributes
    ----------
    n_requests
        Requests (questions) compared.
    max_abs_diff
        :math:`\\max_{i,j} |a_{ij} - b_{ij}|` over requests ``i`` and options ``j``, nats.
    same_argmax
        Share of requests whose options of highest log-likelihood are the same.
    accuracy_a, accuracy_b
        Share of requests whose option of highest log-likelihood is the target, per harness.
    """

    n_requests: int
    max_abs_diff: float
    same_argmax: float
    accuracy_a: float
    accuracy_b: float


def agreement(a: Sequence[np.ndarray], b: Sequence[np.ndarray], targets: Sequence[int]) -> Agreement:
    """Compare per-request option log-likelihoods ``a`` and ``b`` (see :class:`Agreement`)."""
    diff = max(float(np.max(np.abs(x - y))) for x, y in zip(a, b, strict=True))
    pred_a = np.array([int(np.argmax(x)) for x in a])
    pred_b = np.array([int(np.argmax(y)) for y in b])
    t = np.asarray(targets)
    return Agreement(len(t), diff, float(np.mean(pred_a == pred_b)), float(np.mean(pred_a == t)),
                     float(np.mean(pred_b == t)))


def n_tokens(adapter: HFCausalLM, requests: Sequence[ChoiceRequest]) -> int:
    """Context + continuation tokens of every (context, continuation) pair of ``requests``:
    the work either harness does without caching, the numerator of tokens per second."""
    pairs = [(r.prompt.text(), c) for r in requests for c in r.scored_continuations()]
    return sum(len(ids) for ids in adapter.context_tokens([ctx + c for ctx, c in pairs]))
