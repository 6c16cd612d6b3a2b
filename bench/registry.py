"""One generic registry for suites, models, metrics and data sources.

A :class:`Registry` maps names (and aliases) to entries. Entries are registered with a
decorator, or lazily as a ``"module:attribute"`` string that is imported on first use,
or from installed packages through the entry-point group ``xdbench.plugins``.
An unknown name is answered with the closest matches and the full list of valid names.

Examples
--------
>>> colours = Registry[str]("colour")
>>> @colours.register("red", aliases=("rouge",), description="a warm colour")
... def _red() -> str:
...     return "#f00"
>>> colours.get("rouge")()
'#f00'
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Generic, TypeVar, cast

from bench.errors import RegistryError, UnknownNameError

T = TypeVar("T")
V = TypeVar("V")

PLUGIN_GROUP = "xdbench.plugins"

__all__ = ["PLUGIN_GROUP", "Entry", "Registry", "View", "load_object", "load_plugins"]


@dataclass
class Entry(Generic[T]):
    """One registered object: its canonical name, aliases, a one-line description and its
    facts.

    ``facts`` holds what else is known of the entry without importing it, so that no second
    list beside the registry repeats its names: a model's ``groups`` (``bench.adapters``),
    a mitigation's ``baseline``, a source's ``datasets`` (``bench.data``).
    """

    name: str
    target: T | str
    aliases: tuple[str, ...] = ()
    description: str = ""
    facts: dict[str, Any] = field(default_factory=dict)

    def resolve(self) -> T:
        """Return the registered object, importing a lazy ``"module:attr"`` target once."""
        if isinstance(self.target, str):
            self.target = cast(T, load_object(self.target))
        return self.target


def load_object(spec: str) -> object:
    """Import ``"package.module:attribute"`` and return the attribute.

    Raises
    ------
    ConfigError
        If the spec has no colon, the module cannot be imported or lacks the attribute.
    """
    from bench.errors import ConfigError

    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ConfigError(f"Expected 'module:attribute', got {spec!r}.")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"Cannot import module {module_name!r} named in {spec!r}: {exc}") from exc
    obj: object = module
    for part in attribute.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"Module {module_name!r} has no attribute {attribute!r} (from {spec!r}).")
        obj = getattr(obj, part)
    return obj


class Registry(Generic[T]):
    """Names to objects, with aliases, collisions rejected and helpful lookups.

    Parameters
    ----------
    kind
        What the registry holds, in the singular ("model", "suite"): used in messages.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}
        self._aliases: dict[str, str] = {}

    def register(
        self,
        name: str,
        *,
        aliases: tuple[str, ...] = (),
        description: str = "",
        facts: Mapping[str, Any] | None = None,
    ) -> Callable[[T], T]:
        """Decorator that registers its argument under ``name`` and returns it unchanged."""

        def decorator(obj: T) -> T:
            self.add(name, obj, aliases=aliases, description=description, facts=facts)
            return obj

        return decorator

    def add(
        self,
        name: str,
        target: T | str,
        *,
        aliases: tuple[str, ...] = (),
        description: str = "",
        facts: Mapping[str, Any] | None = None,
    ) -> None:
        """Register ``target`` (an object or a lazy ``"module:attr"`` string) under ``name``,
        with ``facts`` about it (see :class:`Entry`).

        Raises
        ------
        RegistryError
            If ``name`` or one of the aliases is already taken.
        """
        if not description and not isinstance(target, str):
            doc = (getattr(target, "__doc__", None) or "").strip()
            description = doc.splitlines()[0] if doc else ""
        for key in (name, *aliases):
            if key in self._entries or key in self._aliases:
                raise RegistryError(f"The {self.kind} name {key!r} is already registered.")
        self._entries[name] = Entry(name, target, tuple(aliases), description, dict(facts or {}))
        for alias in aliases:
            self._aliases[alias] = name

    def remove(self, name: str) -> Entry[T]:
        """Unregister ``name`` (or the entry an alias names) with all its aliases; return its entry.

        Raises
        ------
        UnknownNameError
            If ``name`` is not registered (with close matches, as :meth:`get`).
        """
        entry = self._entries.pop(self.canonical(name))
        for alias in entry.aliases:
            del self._aliases[alias]
        return entry

    @contextmanager
    def override(self, name: str, target: T | str, *, aliases: tuple[str, ...] = (),
                 description: str = "") -> Iterator[None]:
        """Within the ``with`` block, ``name`` resolves to ``target``; afterwards the registry
        holds what it held before (the replaced entry, or nothing under ``name``).

        For tests and plugins that stand in for an entry: ``with MODELS.override("gpt2",
        factory): ...``. The aliases of a replaced entry are kept unless ``aliases`` are given.

        Raises
        ------
        RegistryError
            If ``name`` is an alias (override the canonical name), or a new alias is taken.
        """
        if name in self._aliases:
            raise RegistryError(f"The {self.kind} name {name!r} is an alias of {self._aliases[name]!r}; "
                                "override the canonical name.")
        previous = self.remove(name) if name in self._entries else None
        keep = aliases or (previous.aliases if previous else ())
        try:
            self.add(name, target, aliases=keep, description=description)
        except RegistryError:
            self._restore(previous)
            raise
        try:
            yield
        finally:
            self.remove(name)
            self._restore(previous)

    def _restore(self, entry: Entry[T] | None) -> None:
        if entry is not None:
            self._entries[entry.name] = entry
            for alias in entry.aliases:
                self._aliases[alias] = entry.name

    def canonical(self, name: str) -> str:
        """The canonical name for ``name`` or one of its aliases."""
        if name in self._entries:
            return name
        if name in self._aliases:
            return self._aliases[name]
        raise UnknownNameError(self._unknown_message(name))

    def entry(self, name: str) -> Entry[T]:
        """The :class:`Entry` registered under ``name`` (or an alias)."""
        return self._entries[self.canonical(name)]

    def get(self, name: str) -> T:
        """The object registered under ``name`` (or an alias), resolved.

        Raises
        ------
        UnknownNameError
            With close matches ("Did you mean ...?") and the list of valid names.
        """
        return self.entry(name).resolve()

    def __contains__(self, name: object) -> bool:
        return name in self._entries or name in self._aliases

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        """Canonical names, sorted."""
        return sorted(self._entries)

    def entries(self) -> list[Entry[T]]:
        """All entries, sorted by name."""
        return [self._entries[name] for name in self.names()]

    def having(self, fact: str) -> list[Entry[T]]:
        """The entries that state ``fact``, in the order they were registered."""
        return [entry for entry in self._entries.values() if fact in entry.facts]

    def _unknown_message(self, name: str) -> str:
        valid = sorted([*self._entries, *self._aliases])
        close = difflib.get_close_matches(name, valid, n=3, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        return f"Unknown {self.kind} {name!r}.{hint} Available: {', '.join(valid) or '(none)'}."


class View(Mapping[str, V]):
    """A read-only mapping recomputed by ``compute()`` on every access: the old name of a
    list that is now derived from registry facts (``MODEL_GROUPS``, ``PRIMARY_METRIC``), so
    that it never drifts from the registry and sees entries registered later.

    >>> sizes = {"a": 1}
    >>> view = View(lambda: {k: v * 10 for k, v in sizes.items()})
    >>> sizes["b"] = 2
    >>> dict(view)
    {'a': 10, 'b': 20}
    """

    def __init__(self, compute: Callable[[], Mapping[str, V]]) -> None:
        self._compute = compute

    def __getitem__(self, key: str) -> V:
        return self._compute()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._compute())

    def __len__(self) -> int:
        return len(self._compute())

    def __repr__(self) -> str:
        return f"View({dict(self._compute())!r})"


_plugins_loaded = False


def load_plugins(group: str = PLUGIN_GROUP) -> list[str]:
    """Import every installed entry point of ``group`` once; return their names.

    A plugin's module registers its objects on import (e.g. with
    ``bench.adapters.MODELS.register``). An entry point whose value names a callable
    (``module:function``) is also called with no arguments.
    """
    global _plugins_loaded
    if _plugins_loaded:
        return []
    _plugins_loaded = True
    loaded = []
    for entry_point in metadata.entry_points(group=group):
        obj = entry_point.load()
        if callable(obj) and ":" in entry_point.value:
            obj()
        loaded.append(entry_point.name)
    return loaded
