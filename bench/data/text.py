"""Reading text from data files: strict decoding with line numbers, zip members."""

from __future__ import annotations

import zipfile
from pathlib import Path

from bench.errors import DataError

__all__ = ["decode_text", "read_member", "zip_members"]


def decode_text(data: bytes, encoding: str, where: str, *, hint: str = "") -> str:
    """Decode ``data`` strictly; a bad byte is reported with its line and column.

    Parameters
    ----------
    data
        The raw bytes.
    encoding
        The encoding the format documents (``"utf-8"``, ``"latin-1"``, ...).
    where
        The file (or ``zip:member``) named in the error.
    hint
        Extra advice appended to the error message.

    Raises
    ------
    DataError
        ``"<where>, line L, column C: not valid <encoding> ..."`` (1-based, C in bytes).
    """
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        bad = data[exc.start : exc.end]
        raise DataError(
            f"{where}, line {line}, column {column}: not valid {encoding} text ({exc.reason}: {bad!r}). "
            f"The format is documented as {encoding}; re-save the file as {encoding}.{hint}"
        ) from exc
    except LookupError as exc:
        raise DataError(f"{where}: unknown text encoding {encoding!r}.") from exc


def zip_members(path: Path) -> list[str]:
    """Names of the files (not folders) in the zip archive at ``path``."""
    try:
        with zipfile.ZipFile(path) as archive:
            return [name for name in archive.namelist() if not name.endswith("/")]
    except zipfile.BadZipFile as exc:
        raise DataError(f"{path}: not a valid zip archive ({exc}).") from exc


def read_member(path: Path, member: str, encoding: str) -> str:
    """Text of ``member`` inside the zip at ``path``, decoded strictly (see :func:`decode_text`)."""
    try:
        with zipfile.ZipFile(path) as archive:
            data = archive.read(member)
    except KeyError as exc:
        raise DataError(f"{path}: the archive has no member {member!r}.") from exc
    except zipfile.BadZipFile as exc:
        raise DataError(f"{path}: not a valid zip archive ({exc}).") from exc
    return decode_text(data, encoding, f"{path}:{member}")
