"""The data model: examples, tasks, suites and the splits of a loaded suite."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.suites.generation import Decoding
from bench.suites.kinds import TASK_KINDS
from bench.suites.prompts import PromptFormat

SPLITS: tuple[str, ...] = ("train", "test")

__all__ = [
    "SPLITS",
    "TASK_KINDS",
    "DomainData",
    "Example",
    "SplitRule",
    "Suite",
    "SuiteData",
    "Task",
]


@dataclass(frozen=True, slots=True, eq=False)
class Example:
    """One scored unit of text.

    Attributes
    ----------
    id
        Stable identity derived from the source (file and line, generator index, or a
        content hash); never a running number that shifts when data changes.
    domain
        Name of the domain the example belongs to.
    text
        The input text (or the text to be scored, for language modelling).
    targets
        Target per task name: a choice index for classification, a number for regression.
        Language-modelling tasks have none.
    split
        ``"train"`` or ``"test"`` where the source fixes it; ``None`` lets the suite's
        split rule decide. A source may also name other splits (MMLU's ``"dev"``), which
        serve as few-shot pools and are never scored.
    options
        The example's own answer options (``multiple_choice`` tasks: MMLU's four
        choices), in index order; its target is an index into them. Empty otherwise.
    fields
        Named text fields of the source row (``question``, ``title``, ``subject`` …) that
        prompt templates refer to as ``{name}``; ``{text}`` is always :attr:`text`.
    references
        Reference answers of ``generation`` tasks, in source order (the first is the
        exemplar answer of few-shot prompts and the one whose log-likelihood is scored);
        empty for other kinds.
    """

    id: str
    domain: str
    text: str
    targets: Mapping[str, float] = field(default_factory=dict)
    split: str | None = None
    options: tuple[str, ...] = ()
    fields: Mapping[str, str] = field(default_factory=dict)
    references: tuple[str, ...] = ()

    @property
    def content_hash(self) -> str:
        """SHA-256 (hex, 16 chars) of domain, text, options and fields: the key of cached adapter outputs."""
        digest = hashlib.sha256(f"{self.domain}\x00{self.text}".encode())
        for option in self.options:
            digest.update(b"\x01" + option.encode())
        for key in sorted(self.fields):
            digest.update(f"\x02{key}\x00{self.fields[key]}".encode())
        return digest.hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Task:
    """A task on the suite's texts.

    Attributes
    ----------
    name
        Task name; also the key of its target in :attr:`Example.targets`.
    kind
        ``"classification"`` (targets are indices into ``choices``), ``"regression"``
        (numeric targets), ``"language_modeling"`` (no target; the text is scored) or
        ``"multiple_choice"`` (targets are indices into each example's own ``options``).
    choices
        Label names of a classification task, in index order.
    prompt
        Template for prompting language models, with ``{text}`` (zero-shot scoring).
    verbalizers
        Continuation scored for each choice after the prompt; defaults to
        ``" " + choice``.
    value_range
        ``(low, high)`` of regression targets, where known (e.g. 1-5 stars).
    format
        How ``multiple_choice`` prompts are written: style (letter or cloze), question
        template, description, few-shot exemplars (see :class:`~bench.suites.prompts.PromptFormat`);
        ``generation`` prompts are written the same way.
    decoding
        How a ``generation`` task's answers are decoded (see :class:`~bench.suites.generation.Decoding`).
    default
        Whether ``bench run`` scores the task when no ``--task`` is named; ``False``: only
        when named (an opt-in task such as ``mmlu_generative``).
    primary_metric
        The metric that ranks domains and models for this task (leaderboard, worst domain);
        empty: the kind's (``exact_match`` for generation; a translation task names ``chrf``).
    answer_normalization
        How a ``generation`` task's answers and references are normalised before exact match
        and F1: ``"squad"`` or ``"ignore_case_punctuation"``
        (see :mod:`bench.textscores`).
    """

    name: str
    kind: str
    choices: tuple[str, ...] = ()
    prompt: str | None = None
    verbalizers: tuple[str, ...] = ()
    value_range: tuple[float, float] | None = None
    format: PromptFormat = PromptFormat()
    decoding: Decoding = Decoding()
    default: bool = True
    answer_normalization: str = "squad"
    primary_metric: str = ""

    @property
    def continuations(self) -> tuple[str, ...]:
        """What a language model scores for each choice after the prompt."""
        return self.verbalizers or tuple(f" {choice}" for choice in self.choices)


@dataclass(frozen=True, slots=True)
class SplitRule:
    """How a domain's examples are divided into train and test.

    Each example's position is ``sha256(seed, id)``; the first
    ``round(test_fraction * n)`` examples of a domain in that order form the test
    split. An example's split depends only on its id, the seed and the domain's size.
    """

    test_fraction: float = 0.5
    seed: int = 0


@dataclass(frozen=True)
class Suite:
    """A benchmark suite: tasks × domains over one example source, and a protocol."""

    name: str
    version: str
    description: str
    tasks: tuple[Task, ...]
    domains: tuple[str, ...]
    in_domain: tuple[str, ...]
    source: Mapping[str, Any]
    split: SplitRule = SplitRule()
    protocol: str = "id_ood"
    domain_descriptions: Mapping[str, str] = field(default_factory=dict)
    path: Path | None = None
    content_hash: str = ""
    models: tuple[str, ...] = ()
    """Models ``bench run`` scores on this suite when none is named (empty: the default baselines)."""
    domain_groups: Mapping[str, str] = field(default_factory=dict)
    """Group of each domain (MMLU: subject → category such as ``"STEM"``); metrics and gaps are
    also reported per group. Empty: no groups."""

    @property
    def out_domain(self) -> tuple[str, ...]:
        """Domains that are not in-domain, in declaration order."""
        return tuple(d for d in self.domains if d not in self.in_domain)

    def task(self, name: str) -> Task:
        """The task called ``name``."""
        from bench.errors import UnknownNameError

        for task in self.tasks:
            if task.name == name:
                return task
        names = ", ".join(t.name for t in self.tasks)
        raise UnknownNameError(f"Suite {self.name!r} has no task {name!r}. Available: {names}.")


@dataclass
class DomainData:
    """The train and test examples of one domain, and its other named splits (few-shot pools)."""

    train: list[Example] = field(default_factory=list)
    test: list[Example] = field(default_factory=list)
    pools: dict[str, list[Example]] = field(default_factory=dict)
    """Examples of splits other than train and test (MMLU's ``"dev"``), in source order; never scored."""

    def split(self, name: str) -> list[Example]:
        """The examples of split ``name``: ``"train"``, ``"test"`` or a pool (created empty)."""
        if name == "train":
            return self.train
        if name == "test":
            return self.test
        return self.pools.setdefault(name, [])


@dataclass
class SuiteData:
    """A suite with its examples loaded and split, domain by domain."""

    suite: Suite
    domains: dict[str, DomainData]

    def examples(self, domains: Sequence[str], split: str) -> list[Example]:
        """The examples of ``split`` in ``domains``, concatenated in domain order."""
        return [ex for d in domains for ex in self.domains[d].split(split)]
