"""Exceptions and warnings raised by xdbench.

Every error the package raises on purpose is a subclass of :class:`BenchError`, so a
caller can catch them all with one ``except``. Each message names *what* was wrong,
*where* (file, line, key, adapter, batch) and, where it can, how to fix it.

::

    BenchError
    ├── ConfigError                 a value given by the user is invalid
    │   ├── UnknownNameError        a name that is not registered ("did you mean …")
    │   ├── SuiteError              a suite definition is malformed or inconsistent
    │   └── RegistryError           two registrations claim the same name
    ├── DataError                   example data is missing, corrupt or inconsistent
    │   ├── MissingDataError        a data file is absent (says where it was looked for)
    │   └── ChecksumError           a file's SHA-256 does not match the expected one
    ├── AdapterError                a model returned something invalid or failed
    │   └── CapabilityError         a model cannot do what the task needs
    ├── StatisticsError             a statistic was asked for with invalid arguments
    └── OutputError                 results could not be written

    BenchWarning (UserWarning)
    ├── EmptyDomainWarning          a metric was asked of too few examples; value is NaN
    ├── ReportProblemWarning        part of a run folder could not be used; the report says what
    └── IgnoredOptionWarning        a run-wide option does not apply to a model and is ignored

    RunInterrupted (KeyboardInterrupt)  Ctrl-C during a stored run: names the run and how to resume it

Secrets are redacted by value: every string registered with :func:`add_secret` (an API
key the HTTP client read, a token in a ``base_url``) is replaced by ``***`` in the text of
every :class:`BenchError` and :class:`BenchWarning` (whatever the string looks like), and
:func:`redact` does the same for any text written elsewhere (the store's error column,
``run.json``).
"""

from __future__ import annotations

__all__ = [
    "AdapterError",
    "BenchError",
    "BenchWarning",
    "CapabilityError",
    "ChecksumError",
    "ConfigError",
    "DataError",
    "EmptyDomainWarning",
    "IgnoredOptionWarning",
    "MissingDataError",
    "OutputError",
    "RegistryError",
    "ReportProblemWarning",
    "RunInterrupted",
    "StatisticsError",
    "SuiteError",
    "UnknownNameError",
]
# add_secret, redact and MIN_SECRET_CHARS are imported by name (``__all__`` lists the classes only).

MIN_SECRET_CHARS = 4
"""Shorter strings are not registered as secrets (masking ``"ab"`` everywhere would garble
every message, and a 3-character key is no secret)."""
_SECRETS: set[str] = set()


def add_secret(value: str | None) -> None:
    """Mask ``value`` (and its percent-encoded form) in every message from now on (see the module docstring)."""
    if not isinstance(value, str) or len(value) < MIN_SECRET_CHARS:
        return
    from urllib.parse import quote

    _SECRETS.update({value, quote(value, safe=""), quote(value)})


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``***`` (longest first)."""
    if not _SECRETS or not text:
        return text
    for secret in sorted(_SECRETS, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, "***")
    return text


class BenchError(Exception):
    """Root of every error raised by xdbench on purpose; its text never holds a registered secret."""

    def __str__(self) -> str:
        return redact(super().__str__())


class ConfigError(BenchError, ValueError):
    """A value given by the user (CLI option, config field, argument) is invalid."""


class UnknownNameError(ConfigError, KeyError):
    """A name that no registry holds; the message lists close matches and all names."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return redact(str(self.args[0])) if self.args else ""


class RegistryError(ConfigError):
    """Two registrations claim the same name or alias."""


class SuiteError(ConfigError):
    """A suite definition is malformed, incomplete or inconsistent."""


class DataError(BenchError):
    """Example data is missing, corrupt or inconsistent with its suite."""


class MissingDataError(DataError, FileNotFoundError):
    """A data file is absent; the message says where it was looked for and how to get it."""


class ChecksumError(DataError):
    """A file's SHA-256 digest does not match the expected one."""


class AdapterError(BenchError):
    """A model adapter returned an invalid output or failed while scoring."""


class CapabilityError(AdapterError):
    """A model cannot serve what a task needs (e.g. regression from a classifier)."""


class StatisticsError(BenchError, ValueError):
    """A statistic was asked for with invalid arguments (level, resamples, lengths)."""


class OutputError(BenchError, OSError):
    """Results could not be written (folder not writable, disk full, ...)."""


class BenchWarning(UserWarning):
    """Root of the warnings xdbench emits; its text never holds a registered secret."""

    def __str__(self) -> str:
        return redact(super().__str__())


class EmptyDomainWarning(BenchWarning):
    """A metric was computed over too few examples; its value is NaN, never 0."""


class ReportProblemWarning(BenchWarning):
    """Part of a run folder could not be used as it is (a truncated table, an unknown metric,
    runs that cannot be drawn together); the report says what it left out, and so does
    this warning."""


class IgnoredOptionWarning(BenchWarning):
    """A run-wide option (``--device``, ``--dtype``, ``--apply-chat-template``) does not apply
    to a model, which is built without it."""


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C while a run was being scored: its batches so far are stored, and ``resume`` is the
    command line that finishes it (with ``--out`` when the results folder is not the default)."""

    def __init__(self, run_id: str, resume: str) -> None:
        super().__init__(run_id, resume)
        self.run_id = run_id
        self.resume = resume
