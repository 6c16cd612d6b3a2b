"""Download the public data sets from their original homes, verified and atomically.

Each file is streamed into a temporary file next to its destination while its SHA-256
is computed; only a file whose digest matches the catalog is renamed into place
(``os.replace``, atomic on one file system). An archive is downloaded the same way and
the members a loader needs are extracted, each verified, before any is moved into
place. On any failure (checksum mismatch, dropped connection, timeout, HTTP error) the
temporary files are removed and nothing is left in the data directory.

A mirror that serves the same files under another base URL (``<base_url>/<mirror_path>``
of each :class:`~bench.data.catalog.Fetch`) can be named with ``base_url=`` or the
environment variable ``XDBENCH_DATA_MIRROR``.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from bench._version import __version__
from bench.data.catalog import DATASETS, Dataset, Fetch, file_status, sha256_file
from bench.errors import ChecksumError, DataError

__all__ = ["MIRROR_ENV", "DownloadError", "DownloadReport", "download_dataset", "fetch_url"]

MIRROR_ENV = "XDBENCH_DATA_MIRROR"
_CHUNK = 1 << 16
Progress = Callable[[str, int, int | None], None]
"""``progress(url, bytes_so_far, total_bytes_or_None)``."""


class DownloadError(DataError):
    """A download failed: connection refused or dropped, timeout, HTTP error."""


@dataclass(frozen=True)
class DownloadReport:
    """What :func:`download_dataset` did: files written and files already present and valid."""

    dataset: str
    written: tuple[Path, ...]
    present: tuple[Path, ...]


class _Staging:
    """Temporary files (and the folders made for them) of one download, until committed."""

    def __init__(self) -> None:
        self.files: list[tuple[Path, Path]] = []
        self.scratch: list[Path] = []
        self.folders: list[Path] = []

    def temporary(self, destination: Path, keep: bool) -> Path:
        """A new empty file beside ``destination``; ``keep`` stages it to replace ``destination``."""
        missing = [p for p in (destination.parent, *destination.parent.parents) if not p.exists()]
        destination.parent.mkdir(parents=True, exist_ok=True)
        self.folders += [p for p in missing if p not in self.folders]
        handle, name = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".part", dir=destination.parent)
        os.close(handle)
        path = Path(name)
        if keep:
            self.files.append((path, destination))
        else:
            self.scratch.append(path)
        return path

    def clean_scratch(self) -> None:
        for path in self.scratch:
            path.unlink(missing_ok=True)
        self.scratch.clear()

    def discard(self) -> None:
        """Remove every temporary file and every folder made for them."""
        self.clean_scratch()
        for path, _ in self.files:
            path.unlink(missing_ok=True)
        self.files.clear()
        for folder in sorted(self.folders, key=lambda p: len(p.parts), reverse=True):
            with suppress(OSError):
                folder.rmdir()

    def commit(self) -> list[Path]:
        """Rename every staged file over its destination (atomic per file)."""
        self.clean_scratch()
        for path, destination in self.files:
            os.replace(path, destination)
        return [destination for _, destination in self.files]


def _copy_stream(response: http.client.HTTPResponse, out: Path, url: str, progress: Progress | None) -> str:
    total = response.length
    digest = hashlib.sha256()
    received = 0
    with open(out, "wb") as handle:
        while True:
            try:
                chunk = response.read(_CHUNK)
            except http.client.IncompleteRead as exc:
                raise DownloadError(
                    f"Download of {url} failed: the connection dropped after {received + len(exc.partial)} of "
                    f"{total} bytes. Run the command again.") from exc
            if not chunk:
                break
            digest.update(chunk)
            handle.write(chunk)
            received += len(chunk)
            if progress:
                progress(url, received, total)
    if total is not None and received < total:
        raise DownloadError(f"Download of {url} failed: the connection dropped after {received} of {total} bytes.")
    return digest.hexdigest()


def fetch_url(url: str, out: Path, *, timeout: float = 60.0, progress: Progress | None = None) -> str:
    """Stream ``url`` into the file ``out``; return the SHA-256 (hex) of what was received.

    Raises
    ------
    DownloadError
        On an HTTP error, a refused or dropped connection, or a timeout (``timeout``
        seconds without data).
    """
    request = urllib.request.Request(url, headers={"User-Agent": f"xdbench/{__version__}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return _copy_stream(response, out, url, progress)
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"Download of {url} failed: HTTP {exc.code} {exc.reason}.") from exc
    except urllib.error.URLError as exc:
        raise DownloadError(f"Download of {url} failed: {exc.reason}. Check the network or the mirror URL.") from exc
    except TimeoutError as exc:
        raise DownloadError(f"Download of {url} failed: no data for {timeout:g} s (timeout).") from exc
    except (ConnectionError, http.client.HTTPException) as exc:
        raise DownloadError(f"Download of {url} failed: the connection dropped ({type(exc).__name__}: {exc}).") from exc


def _url(fetch: Fetch, base_url: str | None) -> str:
    base = base_url if base_url is not None else os.environ.get(MIRROR_ENV)
    return f"{base.rstrip('/')}/{fetch.mirror_path}" if base else fetch.url


def _extract(archive: Path, fetch: Fetch, dataset: Dataset, data_dir: Path, url: str, staging: _Staging) -> None:
    """Extract the members of ``archive`` (zip or tar) that the catalog names, converting
    (:attr:`Dataset.convert`) and verifying each."""
    if tarfile.is_tarfile(archive):
        _extract_tar(archive, fetch, dataset, data_dir, url, staging)
        return
    try:
        with zipfile.ZipFile(archive) as handle:
            names = set(handle.namelist())
            for member, relative in fetch.members.items():
                if member not in names:
                    raise DataError(f"The archive from {url} has no member {member!r}; the data set may have changed.")
                temporary = staging.temporary(data_dir / relative, keep=True)
                with handle.open(member) as source, open(temporary, "wb") as target:
                    shutil.copyfileobj(source, target, _CHUNK)
                if dataset.convert:
                    temporary.write_bytes(dataset.converted(temporary.read_bytes()))
                _verify(temporary, dataset.file(relative).sha256, f"{member!r} of {url}")
    except zipfile.BadZipFile as exc:
        raise ChecksumError(f"The file from {url} is not a valid zip archive ({exc}); nothing was written.") from exc


def _extract_tar(archive: Path, fetch: Fetch, dataset: Dataset, data_dir: Path, url: str, staging: _Staging) -> None:
    """Members of a tar archive, read by name only (no path from the archive reaches the disk)."""
    try:
        with tarfile.open(archive) as handle:
            names = {member.name.removeprefix("./"): member for member in handle.getmembers() if member.isfile()}
            for member, relative in fetch.members.items():
                if member not in names:
                    raise DataError(f"The archive from {url} has no member {member!r}; the data set may have changed.")
                source = handle.extractfile(names[member])
                raw = source.read() if source else b""
                temporary = staging.temporary(data_dir / relative, keep=True)
                temporary.write_bytes(dataset.converted(raw))
                _verify(temporary, dataset.file(relative).sha256, f"{member!r} of {url}")
    except tarfile.TarError as exc:
        raise ChecksumError(f"The file from {url} is not a valid tar archive ({exc}); nothing was written.") from exc


def _verify(path: Path, expected: str, what: str) -> None:
    actual = sha256_file(path)
    if actual != expected:
        raise ChecksumError(
            f"SHA-256 of {what} is {actual}, expected {expected}: the download is corrupt or the file changed "
            "upstream. Nothing was written; try again or use another mirror.")


def _stage(fetch: Fetch, dataset: Dataset, data_dir: Path, base_url: str | None, timeout: float,
           progress: Progress | None, staging: _Staging) -> None:
    url = _url(fetch, base_url)
    download = staging.temporary(data_dir / (fetch.target or fetch.mirror_path), keep=not fetch.members)
    digest = fetch_url(url, download, timeout=timeout, progress=progress)
    if fetch.sha256 is not None and digest != fetch.sha256:
        raise ChecksumError(
            f"SHA-256 of {url} is {digest}, expected {fetch.sha256}: the download is corrupt or the file "
            "changed upstream. Nothing was written; try again or use another mirror.")
    if fetch.members:
        _extract(download, fetch, dataset, data_dir, url, staging)


def download_dataset(name: str, data_dir: str | Path, *, base_url: str | None = None, timeout: float = 60.0,
                     force: bool = False, progress: Progress | None = None) -> DownloadReport:
    """Download data set ``name`` into ``data_dir``, verifying every file's SHA-256.

    Files already present with the right checksum are kept unless ``force``. New files
    appear only when every file of the data set has been downloaded and verified.

    Raises
    ------
    UnknownNameError
        If ``name`` is not in :data:`~bench.data.catalog.DATASETS`.
    ChecksumError
        If a downloaded file's SHA-256 differs from the catalog's (nothing is written).
    DownloadError
        If the connection fails, drops or times out (nothing is written).
    """
    dataset = DATASETS.get(name)
    data_dir = Path(data_dir).expanduser()
    status = {item.path: file_status(dataset, item, data_dir) for item in dataset.files}
    present = tuple(s.path for s in status.values() if s.present and s.checksum_ok)
    if present and len(present) == len(dataset.files) and not force:
        return DownloadReport(dataset.name, (), present)
    staging = _Staging()
    try:
        for fetch in dataset.fetches:
            _stage(fetch, dataset, data_dir, base_url, timeout, progress, staging)
        written = staging.commit()
    except BaseException:
        staging.discard()
        raise
    return DownloadReport(dataset.name, tuple(written), ())
