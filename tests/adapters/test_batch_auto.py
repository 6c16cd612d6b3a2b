"""``--batch-size auto``: memory budget, halving on out-of-memory (a fake one, on CPU),
the run's record of the chosen batch, and the errors of ``0`` and of a model that cannot
choose its batch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.adapters import make_model
from bench.adapters.hf_causal_lm import auto_batch_limits, bytes_per_position
from bench.adapters.lm_scoring import BatchLimits, is_out_of_memory
from bench.cli import main
from bench.errors import ConfigError
from bench.runner import RunConfig, run
from tests.adapters.conftest import SENTIMENT, TEXTS, examples

pytest.importorskip("transformers")


def _fake_oom_above(lm, rows: int) -> list[int]:
    """Make ``lm``'s forward raise a CUDA-style out-of-memory error on batches of more than
    ``rows`` rows; returns the list of batch sizes tried."""
    hidden, head = lm._path
    tried: list[int] = []

    def limited(batch):
        tried.append(batch.input_ids.shape[0])
        if batch.input_ids.shape[0] > rows:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return hidden(batch)

    lm._path = (limited, head)
    return tried


def test_auto_halves_on_out_of_memory_and_keeps_the_numbers(tiny_lm_dir: Path) -> None:
    plain = make_model(f"hf-causal-lm:{tiny_lm_dir}")
    auto = make_model(f"hf-causal-lm:{tiny_lm_dir}?batch_size=auto")
    auto.limits = BatchLimits(batch_tokens=4096, max_batch_size=16, adaptive=True)
    tried = _fake_oom_above(auto, 3)
    texts = examples(TEXTS * 3)
    np.testing.assert_allclose(auto.log_probs(texts, SENTIMENT), plain.log_probs(texts, SENTIMENT), atol=1e-5)
    assert tried[:3] == [16, 8, 4] and max(tried[3:]) <= 2
    assert auto.chosen_batch_size == {"max_batch_size": 2, "batch_tokens": 512}


def test_out_of_memory_is_raised_without_auto_or_at_one_row(tiny_lm_dir: Path) -> None:
    plain = make_model(f"hf-causal-lm:{tiny_lm_dir}")
    _fake_oom_above(plain, 1)
    with pytest.raises(RuntimeError, match="CUDA out of memory"):
        plain.log_probs(examples(TEXTS), SENTIMENT)
    auto = make_model(f"hf-causal-lm:{tiny_lm_dir}?batch_size=auto")
    _fake_oom_above(auto, 0)
    with pytest.raises(RuntimeError, match="CUDA out of memory"):
        auto.log_probs(examples(TEXTS), SENTIMENT)


def test_out_of_memory_errors_are_recognised() -> None:
    assert is_out_of_memory(RuntimeError("CUDA out of memory. Tried to allocate 20 MiB"))
    assert is_out_of_memory(torch.cuda.OutOfMemoryError("boom"))
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
    assert not is_out_of_memory(ValueError("out of memory"))


def test_cpu_budget_is_a_share_of_free_memory(tiny_lm_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lm = make_model(f"hf-causal-lm:{tiny_lm_dir}")
    monkeypatch.setattr("bench.adapters.hf_causal_lm.free_memory", lambda device: 2**20)
    limits = auto_batch_limits(lm.model, torch.device("cpu"))
    assert limits.adaptive and limits.batch_tokens == int(0.25 * 2**20 // bytes_per_position(lm.model))
    assert limits.max_batch_size == min(256, limits.batch_tokens)


def test_hf_option_batch_size_must_be_auto(tiny_lm_dir: Path) -> None:
    with pytest.raises(ConfigError, match=r"'HFCausalLMConfig\.batch_size' must be one of auto; got '16'\."):
        make_model(f"hf-causal-lm:{tiny_lm_dir}?batch_size=16")


@pytest.mark.parametrize("value", ["0", "-2", "many"])
def test_batch_size_zero_is_a_usage_error(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["run", "--batch-size", value])
    assert info.value.code == 2
    assert "--batch-size: must be a positive integer or auto" in capsys.readouterr().err


def test_batch_size_auto_on_a_model_that_cannot_choose(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--model", "majority", "--batch-size", "auto", "--out", str(tmp_path), "--quiet"]) != 0
    assert ("error: --batch-size auto: model 'majority' cannot choose its batch size by memory"
            in capsys.readouterr().err)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_chosen_batch_size_is_recorded(tiny_lm_dir: Path) -> None:
    config = RunConfig(suites=("toy-reviews",), models=(f"hf-causal-lm:{tiny_lm_dir}",), tasks=("sentiment",),
                       limit=3, batch_size="auto")
    result = run(config)
    (chosen,) = result.batch_sizes.values()
    assert chosen["max_batch_size"] >= 1 and chosen["batch_tokens"] >= 1
    from bench.outputs import run_metadata

    assert json.loads(json.dumps(run_metadata(result)))["batch_sizes"] == result.batch_sizes
