"""The run store: runs, their state and every scored batch, in one SQLite file (WAL mode).

``<out>/store.sqlite`` holds three tables:

- ``runs``: one row per run — id, configuration (JSON) and its hash, state (``running``,
  ``failed``, ``complete``), the process that owns it (host and pid), the error of a
  failed run, and facts gathered on the way (fingerprints, timings, skipped models);
- ``batches``: one row per scored batch of a run, keyed by ``(run_id, unit)`` where the
  unit names model, suite, trial, fold, task, domain and the batch's first example; the
  batch's record columns are stored whatever columns the frame has (numbers as their raw
  values, text as JSON, see :func:`encode_frame`), so that a frame read back equals the
  frame written;
- ``cache``: adapter outputs per example, keyed by
  ``sha256(adapter fingerprint, method, task definition, example content hash)``, shared
  by every run and suite of the folder.

Each batch is committed in one transaction together with the cache entries of its outputs,
so a run killed at any moment loses at most the batch in flight. Any number of processes
may use one store: SQLite serialises the writers (``busy_timeout``), WAL lets readers run
alongside them.

A run whose state is ``running`` but whose process is gone (same host) is *interrupted*, as
is a run its process stopped on Ctrl-C (stored as ``interrupted``);
``bench run --resume RUN_ID`` scores only its missing batches. A process counts as gone
when no process has its pid, or (Linux) the process with that pid started after the run's
last update (the pid was reused). A run recorded on another host cannot be checked and
shows as ``running``: ``bench run --resume RUN_ID --force`` takes it over, and
``bench runs --delete RUN_ID --force`` deletes it (without ``--force`` both refuse a run
that shows as running).
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import socket
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, is_dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.adapters.base import METHOD_BY_KIND
from bench.errors import ConfigError, OutputError, redact
from bench.killpoints import KILL_ENV, kill_point
from bench.sinks import MemorySink, ScoreFn

__all__ = ["DEFAULT_OUT", "KILL_ENV", "CachingAdapter", "DistributedSink", "MemorySink", "RunInfo", "RunStore", "StoreSink", "config_hash", "out_flag", "resume_command",
           "decode_frame", "encode_frame", "kill_point"]

STORE_NAME = "store.sqlite"
STATES = ("running", "interrupted", "failed", "complete")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, config_hash TEXT NOT NULL, config TEXT NOT NULL, state TEXT NOT NULL,
    host TEXT, pid INTEGER, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, error TEXT,
    facts TEXT NOT NULL DEFAULT '{}');
CREATE TABLE IF NOT EXISTS batches (
    run_id TEXT NOT NULL, unit TEXT NOT NULL, n INTEGER NOT NULL, frame BLOB NOT NULL,
    PRIMARY KEY (run_id, unit));
CREATE TABLE IF NOT EXISTS cache (
    key TEXT PRIMARY KEY, output TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS runs_by_config ON runs (config_hash);
"""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def config_hash(config: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of a run configuration's canonical JSON."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


# --- frames as bytes ----------------------------------------------------------------------
def encode_frame(frame: pd.DataFrame) -> bytes:
    """A frame as bytes: a JSON header (columns, dtypes, sizes), then each column's data —
    numeric columns as their raw little-endian values (exact), others as a JSON list (text,
    ``None``, and lists of numbers or text, which come back as lists)."""
    header: list[list[Any]] = []
    parts: list[bytes] = []
    for name in frame.columns:
        values = frame[name].to_numpy()
        if values.dtype.kind in "biuf":
            data = np.ascontiguousarray(values, dtype=values.dtype.newbyteorder("<")).tobytes()
            header.append([str(name), values.dtype.newbyteorder("<").str, len(data)])
        else:
            data = json.dumps(values.tolist(), default=_plain).encode()
            header.append([str(name), "json", len(data)])
        parts.append(data)
    head = json.dumps({"n": len(frame), "columns": header}).encode()
    return len(head).to_bytes(4, "little") + head + b"".join(parts)


def _plain(value: Any) -> Any:
    """A numpy value inside a text column as a plain one (lists and dicts of them are JSON)."""
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot store a {type(value).__name__} in a record")


def decode_frame(blob: bytes) -> pd.DataFrame:
    """The frame written by :func:`encode_frame`, with its dtypes and exact values."""
    size = int.from_bytes(blob[:4], "little")
    head = json.loads(blob[4 : 4 + size])
    columns: dict[str, Any] = {}
    position = 4 + size
    for name, dtype, length in head["columns"]:
        data = blob[position : position + length]
        position += length
        if dtype == "json":
            values = json.loads(data)
            column = np.empty(len(values), dtype=object)
            for i, value in enumerate(values):  # element-wise: a list value stays one cell
                column[i] = value
            columns[name] = column
        else:
            columns[name] = np.frombuffer(data, dtype=np.dtype(dtype)).astype(np.dtype(dtype).newbyteorder("="))
    return pd.DataFrame(columns, columns=[c[0] for c in head["columns"]], index=pd.RangeIndex(head["n"]))


# --- the store ----------------------------------------------------------------------------
@dataclass(frozen=True)
class RunInfo:
    """One row of ``runs``, with ``state`` ``interrupted`` for a running run whose process is gone."""

    run_id: str
    state: str
    config: dict[str, Any]
    config_hash: str
    created_at: str
    updated_at: str
    batches: int
    error: str | None
    facts: dict[str, Any]
    host: str | None
    pid: int | None


def _alive(host: str | None, pid: int | None, since: str | None = None) -> bool:
    """Whether the process that owns a run may still run it: another host's cannot be checked
    (``True``); on this host, whether process ``pid`` exists and (Linux) did not start after
    ``since``, the run's last update (ISO time), which would mean its pid was reused."""
    if host != socket.gethostname() or not pid:
        return True  # another machine's run: cannot tell, assume it is alive
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    started = _process_start(pid)
    if started is not None and since:
        try:
            return started <= datetime.fromisoformat(since).timestamp() + 1.0
        except ValueError:
            return True
    return True


def _process_start(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch), from ``/proc``; ``None`` where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        ticks = int(stat.rsplit(")", 1)[1].split()[19])
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


DEFAULT_OUT = "results"
"""The results folder a command uses without ``--out``."""


def out_flag(out: str | Path) -> str:
    """`` --out DIR`` for a command line that must reach the results folder ``out``, or
    nothing for the default one (so that a printed command works when pasted)."""
    return "" if Path(out) == Path(DEFAULT_OUT) else f" --out {shlex.quote(str(out))}"


def resume_command(out: str | Path, run_id: str) -> str:
    """The command line that resumes ``run_id`` of the results folder ``out``."""
    return f"bench run --resume {run_id}{out_flag(out)}"


class RunStore:
    """The SQLite store of one results folder (``<out>/store.sqlite``), opened per process.

    Raises
    ------
    OutputError
        If the file cannot be created or opened, or is not a database.
    """

    def __init__(self, out: str | Path, *, timeout: float = 120.0) -> None:
        self.path = Path(out) / STORE_NAME
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise OutputError(f"Cannot open the run store {self.path}: {exc}.") from exc

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on error)."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise OutputError(f"Cannot write the run store {self.path}: {exc}.") from exc
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        try:
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise OutputError(f"Cannot write the run store {self.path}: {exc}.") from exc

    # runs ---------------------------------------------------------------------------------
    def create_run(self, run_id: str, config: Mapping[str, Any], taken: Callable[[str], bool] = lambda r: False) -> str:
        """Record a new running run; return its id: ``run_id``, or ``run_id-2``, ``-3`` …
        when that id is already in the store (or ``taken``), so that identical configurations
        started in the same second get distinct ids."""
        text = json.dumps(dict(config), sort_keys=True, default=str)
        digest = config_hash(dict(config))
        with self.transaction() as db:
            candidate, k = run_id, 1
            while db.execute("SELECT 1 FROM runs WHERE run_id = ?", (candidate,)).fetchone() or taken(candidate):
                k += 1
                candidate = f"{run_id}-{k}"
            db.execute("INSERT INTO runs (run_id, config_hash, config, state, host, pid, created_at, updated_at) "
                       "VALUES (?, ?, ?, 'running', ?, ?, ?, ?)",
                       (candidate, digest, text, socket.gethostname(), os.getpid(), _now(), _now()))
        return candidate

    def claim(self, run_id: str, *, force: bool = False) -> RunInfo:
        """Take over an unfinished run for this process (``--resume``); ``force`` takes over a
        run that shows as running too (another host's, whose process is gone).

        Raises
        ------
        ConfigError
            If there is no such run, it is complete, or (without ``force``) it shows as running.
        """
        info = self.run(run_id)
        if info.state == "complete":
            repeat = shlex.quote(str(self.path.parent / "runs" / run_id))
            raise ConfigError(f"Run {run_id} is complete; nothing to resume. Repeat it with "
                              f"'bench run --repeat {repeat}'.")
        if info.state == "running" and not force:
            raise ConfigError(f"Run {run_id} is still running (pid {info.pid} on {info.host}); "
                              "wait for it or stop it before resuming. If that process is gone (another host, "
                              "a crashed machine), take the run over with 'bench run --resume "
                              f"{run_id} --force{out_flag(self.path.parent)}'.")
        self.set_state(run_id, "running", error=None)
        return self.run(run_id)

    def set_state(self, run_id: str, state: str, *, error: str | None = None) -> None:
        """Set a run's state (one of :data:`STATES`), owned by this process."""
        with self.transaction() as db:
            db.execute("UPDATE runs SET state = ?, error = ?, host = ?, pid = ?, updated_at = ? WHERE run_id = ?",
                       (state, None if error is None else redact(error), socket.gethostname(), os.getpid(), _now(),
                        run_id))

    def add_facts(self, run_id: str, facts: Mapping[str, Mapping[str, Any]]) -> None:
        """Merge ``{section: {key: value}}`` (fingerprints, timings, skipped) into the run's facts."""
        with self.transaction() as db:
            row = db.execute("SELECT facts FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            old = json.loads(row[0]) if row else {}
            for section, values in facts.items():
                old.setdefault(section, {}).update(values)
            db.execute("UPDATE runs SET facts = ?, updated_at = ? WHERE run_id = ?",
                       (json.dumps(old, default=str), _now(), run_id))

    def run(self, run_id: str) -> RunInfo:
        """The run ``run_id``.

        Raises
        ------
        ConfigError
            If the store has no such run (naming the runs it has, newest first).
        """
        found = [r for r in self.runs() if r.run_id == run_id]
        if not found:
            known = ", ".join(r.run_id for r in self.runs()[:5]) or "none"
            raise ConfigError(f"No run {run_id!r} in {self.path}; latest runs: {known} "
                              f"(see 'bench runs{out_flag(self.path.parent)}').")
        return found[0]

    def runs(self) -> list[RunInfo]:
        """Every run, newest first; a running run whose process is gone shows as ``interrupted``."""
        rows = self.db.execute(
            "SELECT r.run_id, r.state, r.config, r.config_hash, r.created_at, r.updated_at, "
            "(SELECT COUNT(*) FROM batches b WHERE b.run_id = r.run_id), r.error, r.facts, r.host, r.pid "
            "FROM runs r ORDER BY r.created_at DESC, r.run_id DESC").fetchall()
        infos = []
        for run_id, state, config, digest, created, updated, batches, error, facts, host, pid in rows:
            if state == "running" and not _alive(host, pid, updated):
                state = "interrupted"
            infos.append(RunInfo(run_id, state, json.loads(config), digest, created, updated, batches, error,
                                 json.loads(facts), host, pid))
        return infos

    def unfinished(self, config: Mapping[str, Any]) -> list[RunInfo]:
        """Interrupted or failed runs of the same configuration (newest first)."""
        digest = config_hash(dict(config))
        return [r for r in self.runs() if r.config_hash == digest and r.state in ("interrupted", "failed")]

    def delete_run(self, run_id: str, *, force: bool = False) -> None:
        """Remove a run and its batches from the store (not its folder).

        Raises
        ------
        ConfigError
            If there is no such run, or (without ``force``) it shows as running: deleting
            it would make that run fail at its end.
        """
        info = self.run(run_id)
        if info.state == "running" and not force:
            raise ConfigError(f"Run {run_id} is still running (pid {info.pid} on {info.host}); stop it before deleting "
                              "it. If that process is gone (another host, a crashed machine), delete it with "
                              f"'bench runs --delete {run_id} --force{out_flag(self.path.parent)}'.")
        with self.transaction() as db:
            db.execute("DELETE FROM batches WHERE run_id = ?", (run_id,))
            db.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))

    # batches ------------------------------------------------------------------------------
    def done_units(self, run_id: str) -> set[str]:
        """The units of ``run_id`` already committed."""
        return {u for (u,) in self.db.execute("SELECT unit FROM batches WHERE run_id = ?", (run_id,))}

    def commit_batches(self, run_id: str, frames: Sequence[tuple[str, pd.DataFrame]],
                       outputs: Sequence[tuple[str, str]] = ()) -> None:
        """Commit scored batches (``(unit, frame)``) and their cache entries in one transaction."""
        with self.transaction() as db:
            db.executemany("INSERT OR REPLACE INTO batches (run_id, unit, n, frame) VALUES (?, ?, ?, ?)",
                           [(run_id, unit, len(frame), encode_frame(frame)) for unit, frame in frames])
            db.executemany("INSERT OR IGNORE INTO cache (key, output, created_at) VALUES (?, ?, ?)",
                           [(key, value, _now()) for key, value in outputs])

    def frame(self, run_id: str, unit: str) -> pd.DataFrame:
        """The committed frame of one batch."""
        row = self.db.execute("SELECT frame FROM batches WHERE run_id = ? AND unit = ?", (run_id, unit)).fetchone()
        if row is None:
            raise OutputError(f"Run {run_id} has no committed batch {unit!r} in {self.path}.")
        return decode_frame(row[0])

    # cache --------------------------------------------------------------------------------
    def cached(self, keys: Sequence[str]) -> dict[str, str]:
        """The cached outputs of those ``keys`` that the cache holds."""
        found: dict[str, str] = {}
        for start in range(0, len(keys), 500):
            part = list(keys[start : start + 500])
            marks = ",".join("?" * len(part))
            found |= dict(self.db.execute(f"SELECT key, output FROM cache WHERE key IN ({marks})", part).fetchall())
        return found

    def cache_info(self) -> dict[str, Any]:
        """``entries``, ``bytes`` (of the stored outputs), ``oldest`` and ``newest`` entry times, ``path``."""
        n, size, oldest, newest = self.db.execute(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(output)), 0), MIN(created_at), MAX(created_at) FROM cache").fetchone()
        return {"path": str(self.path), "entries": n, "bytes": size, "oldest": oldest, "newest": newest}

    def clear_cache(self) -> int:
        """Delete every cache entry; return how many there were."""
        with self.transaction() as db:
            n = db.execute("SELECT COUNT(*) FROM cache").fetchone()[0]
            db.execute("DELETE FROM cache")
        self.db.execute("VACUUM")
        return int(n)

    def integrity(self) -> str:
        """``PRAGMA integrity_check``: ``"ok"`` for a sound file."""
        return str(self.db.execute("PRAGMA integrity_check").fetchone()[0])


# --- the output cache ---------------------------------------------------------------------
def _item_hash(item: Any) -> str | None:
    content = getattr(item, "content_hash", None)
    if isinstance(content, str):
        return content
    if is_dataclass(item) and not isinstance(item, type):
        return hashlib.sha256(json.dumps(asdict(item), sort_keys=True, default=str).encode()).hexdigest()
    return None


def _split(output: Any, n: int) -> list[Any] | None:
    """Per-item JSON-able parts of a method's output, or ``None`` if it does not split into ``n``."""
    if isinstance(output, tuple):
        arrays = [np.asarray(part) for part in output]
        if any(a.ndim == 0 or len(a) != n for a in arrays):
            return None
        return [{"tuple": [[a.dtype.str, a[i].tolist()] for a in arrays]} for i in range(n)]
    if isinstance(output, list):
        if len(output) != n:
            return None
        if all(isinstance(x, str) for x in output):  # generated texts
            return [{"text": x} for x in output]
        if any(isinstance(x, str) for x in output):
            return None
        return [{"list": [np.asarray(x).dtype.str, np.asarray(x).tolist()]} for x in output]
    array = np.asarray(output)
    if array.ndim == 0 or len(array) != n or array.dtype == object:
        return None
    return [{"array": [array.dtype.str, array[i].tolist()]} for i in range(n)]


def _join(parts: Sequence[Any]) -> Any:
    first = parts[0]
    if "text" in first:
        return [p["text"] for p in parts]
    if "tuple" in first:
        width = len(first["tuple"])
        return tuple(np.array([p["tuple"][j][1] for p in parts], dtype=first["tuple"][j][0]) for j in range(width))
    if "list" in first:
        return [np.array(p["list"][1], dtype=p["list"][0]) for p in parts]
    return np.array([p["array"][1] for p in parts], dtype=first["array"][0])


class CachingAdapter:
    """An adapter whose scoring methods look each item up in the store's cache first
    (``store`` ``None``: no lookups, new outputs are still collected).

    Only the items the cache lacks are passed to the wrapped adapter (in one call, in
    order); their outputs wait in ``pending`` until the batch they belong to has been
    validated and committed. Everything else is delegated to the wrapped adapter.
    """

    METHODS = tuple(METHOD_BY_KIND.values())
    """The scoring methods whose items are cached: one per task kind."""

    def __init__(self, adapter: Any, store: RunStore | None, pending: list[tuple[str, str]]) -> None:
        self._adapter = adapter
        self._store = store
        self._pending = pending
        self._fingerprint = adapter.fingerprint()
        self.hits = 0
        self.misses = 0

    def __getattr__(self, name: str) -> Any:
        if name in self.METHODS:
            method = getattr(self._adapter, name)
            return lambda items, task: self._call(name, method, items, task)
        return getattr(self._adapter, name)

    def _keys(self, name: str, items: Sequence[Any], task: Any) -> list[str] | None:
        hashes = [_item_hash(item) for item in items]
        if any(h is None for h in hashes):
            return None
        prefix = json.dumps([self._fingerprint, name, asdict(task)], sort_keys=True, default=str)
        return [hashlib.sha256(f"{prefix}\x00{h}".encode()).hexdigest() for h in hashes]

    def _call(self, name: str, method: Callable[..., Any], items: Sequence[Any], task: Any) -> Any:
        keys = self._keys(name, items, task)
        if keys is None or not items:
            return method(items, task)
        stored = self._store.cached(keys) if self._store is not None else {}
        found = {k: json.loads(v) for k, v in stored.items()}
        missing = [i for i, k in enumerate(keys) if k not in found]
        self.hits += len(items) - len(missing)
        self.misses += len(missing)
        if missing:
            output = method([items[i] for i in missing], task)
            parts = _split(output, len(missing))
            if parts is None:  # an output of the wrong shape: let the runner's validation report it
                return output if len(missing) == len(items) else method(items, task)
            for i, part in zip(missing, parts, strict=True):
                found[keys[i]] = part
                self._pending.append((keys[i], json.dumps(part)))
        return _join([found[k] for k in keys])


# --- sinks --------------------------------------------------------------------------------

class StoreSink(MemorySink):
    """The sink of a stored run: every batch is committed to the store before the next.

    ``models`` is the run's work folder of saved models: :meth:`restore` loads a trained
    baseline from there on resume instead of training it again. ``checkpoints`` is the
    run's work folder of training checkpoints (:meth:`checkpoint`). With ``cache``,
    adapters are wrapped in a :class:`CachingAdapter`.
    """

    def __init__(self, store: RunStore, run_id: str, *, cache: bool = True, models: Path | None = None,
                 checkpoints: Path | None = None) -> None:
        super().__init__()
        self.store, self.run_id, self.cache, self.models = store, run_id, cache, models
        self.checkpoints = checkpoints
        self.pending: list[tuple[str, str]] = []
        self.committed = store.done_units(run_id)
        self.wrapped: list[CachingAdapter] = []

    def done(self, unit: str) -> bool:
        return unit in self.committed

    def wrap(self, adapter: Any) -> Any:
        if not self.cache:
            return adapter
        wrapped = CachingAdapter(adapter, self.store, self.pending)
        self.wrapped.append(wrapped)
        return wrapped

    def commit(self, unit: str, frame: pd.DataFrame) -> None:
        kill_point("mid-batch")
        self.store.commit_batches(self.run_id, [(unit, frame)], self.take_pending())
        self.committed.add(unit)
        self.frames[unit] = frame
        kill_point("batch")

    def take_pending(self) -> list[tuple[str, str]]:
        """The cache entries waiting for their batch's commit (and forget them)."""
        entries = list(self.pending)
        self.pending.clear()
        return entries

    def frame(self, unit: str) -> pd.DataFrame:
        if unit in self.frames:  # scored in this session (equal to what the store holds)
            return self.frames[unit]
        return self.store.frame(self.run_id, unit)

    def restore(self, key: Any) -> Any:
        if self.models is None or key.trial != 0:
            return None
        from bench.baselines.persist import load_model, model_folder_name

        folder = self.models / model_folder_name(f"{key.model}/{key.suite}/{key.fold}")
        if not (folder / "model.json").is_file():
            return None
        model = load_model(folder)
        return model

    def checkpoint(self, key: Any) -> Path | None:
        """``<checkpoints>/<model>--<suite>--<fold>--trial<t>.pt``, or ``None`` without a folder."""
        if self.checkpoints is None:
            return None
        from bench.baselines.persist import model_folder_name

        return self.checkpoints / f"{model_folder_name(f'{key.model}/{key.suite}/{key.fold}/trial{key.trial}')}.pt"

    def facts(self, section: str, values: Mapping[str, Any]) -> None:
        self.store.add_facts(self.run_id, {section: dict(values)})

    def cache_counts(self) -> tuple[int, int]:
        """``(hits, misses)`` over every adapter this sink wrapped."""
        return sum(w.hits for w in self.wrapped), sum(w.misses for w in self.wrapped)


class DistributedSink(MemorySink):
    """The sink of one rank of a ``torchrun`` job (``torch.distributed`` initialised).

    The missing batches of each domain are dealt to the ranks in turn (batch ``i`` to
    rank ``i mod world``); after each round every rank's frames (and new cache entries)
    are gathered on every rank, and rank 0 commits them to the store in one transaction.
    Only rank 0 opens the store (``inner``); ``done`` is the set of units committed
    before the job started, sent from rank 0. An error on any rank is raised on all.
    """

    def __init__(self, inner: StoreSink | None, done: set[str], rank: int, world: int, *, cache: bool) -> None:
        super().__init__()
        self.inner, self.committed, self.rank, self.world = inner, set(done), rank, world
        self.cache = cache
        self.pending: list[tuple[str, str]] = inner.pending if inner else []
        self.wrapped: list[CachingAdapter] = []

    def done(self, unit: str) -> bool:
        return unit in self.committed

    def wrap(self, adapter: Any) -> Any:
        if self.inner is not None:
            return self.inner.wrap(adapter)
        if not self.cache:
            return adapter
        wrapped = CachingAdapter(adapter, None, self.pending)  # other ranks write the cache, through rank 0
        self.wrapped.append(wrapped)
        return wrapped

    def score(self, units: Sequence[str], score: ScoreFn) -> None:
        import torch.distributed as dist

        for first in range(0, len(units), self.world):
            mine = units[first + self.rank] if first + self.rank < len(units) else None
            frame, error = None, None
            if mine is not None:
                try:
                    frame = score(mine)
                except Exception as exc:  # raised on every rank below, so that none waits forever
                    error = exc
            pending = list(self.pending)
            self.pending.clear()
            gathered: list[Any] = [None] * self.world
            dist.all_gather_object(gathered, (mine, frame, pending, error))
            errors = [e for _, _, _, e in gathered if e is not None]
            if errors:
                raise errors[0]
            done = [(u, f) for u, f, _, _ in gathered if u is not None]
            if self.inner is not None:
                kill_point("mid-batch")
                self.inner.store.commit_batches(self.inner.run_id, done, [e for _, _, p, _ in gathered for e in p])
                kill_point("batch")
            for unit, batch in done:
                self.frames[unit] = batch
                self.committed.add(unit)

    def frame(self, unit: str) -> pd.DataFrame:
        if unit in self.frames:
            return self.frames[unit]
        if self.inner is not None:
            return self.inner.frame(unit)
        return pd.DataFrame()  # a batch of an earlier session: only rank 0 assembles the records

    def restore(self, key: Any) -> Any:
        return self.inner.restore(key) if self.inner is not None else None

    def facts(self, section: str, values: Mapping[str, Any]) -> None:
        if self.inner is not None:
            self.inner.facts(section, values)

    def cache_counts(self) -> tuple[int, int]:
        """``(hits, misses)`` of this rank's lookups."""
        if self.inner is not None:
            return self.inner.cache_counts()
        return sum(w.hits for w in self.wrapped), sum(w.misses for w in self.wrapped)
