"""The public data sets the bundled suites read: files, SHA-256 sums, original homes.

Each :class:`Dataset` lists the files a loader reads (:class:`DataFile`: a path inside
the data directory and its SHA-256) and how to fetch them from their original home
(:class:`Fetch`: a URL, and for an archive the members to extract).

A data directory is laid out like this (the layout ``bench data download`` writes)::

    <data_dir>/
        uci-sentiment/amazon_cells_labelled.txt      (and imdb_, yelp_)
        nltk_data/corpora/sentence_polarity.zip      (and the other NLTK corpora)

Other accepted places for the same files: ``<data_dir>/sentiment labelled sentences/``
(the folder of the UCI zip, unpacked) and ``<data_dir>/corpora/`` (``data_dir`` is an
``NLTK_DATA`` folder). Every file is checked against its SHA-256 before it is read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bench.errors import ChecksumError, MissingDataError
from bench.registry import Registry

__all__ = [
    "DATASETS",
    "DataFile",
    "Dataset",
    "Fetch",
    "FileStatus",
    "datasets_for_source",
    "file_status",
    "locate",
    "require",
    "sha256_file",
]

_CHUNK = 1 << 16


@dataclass(frozen=True)
class DataFile:
    """One file a loader reads.

    Attributes
    ----------
    path
        Where ``bench data download`` puts it, relative to the data directory.
    sha256
        Expected SHA-256 of the file's bytes (hex).
    alternates
        Other accepted paths relative to the data directory, tried after ``path``.
    originals
        Accepted paths of the same file in its data set's *original* layout (e.g. MMLU's
        ``data.tar`` unpacked), tried last; such a file is verified by converting it with
        the data set's :attr:`Dataset.convert` and checking the SHA-256 of the result.
    """

    path: str
    sha256: str
    alternates: tuple[str, ...] = ()
    originals: tuple[str, ...] = ()

    @property
    def candidates(self) -> tuple[str, ...]:
        """All accepted relative paths, in search order."""
        return (self.path, *self.alternates)


@dataclass(frozen=True)
class Fetch:
    """How to get files from their original home.

    Attributes
    ----------
    url
        The original download URL.
    mirror_path
        Path of the same file under a mirror's base URL (``--base-url`` or
        ``$XDBENCH_DATA_MIRROR``): ``<base_url>/<mirror_path>``.
    target
        For a plain file: its :attr:`DataFile.path`. Empty for an archive.
    members
        For a zip or tar archive: member name inside the archive → :attr:`DataFile.path`.
        Members are converted with :attr:`Dataset.convert` (if set) before they are verified.
    sha256
        SHA-256 of the downloaded file, if pinned. Archive members are always checked
        against their own :attr:`DataFile.sha256`.
    """

    url: str
    mirror_path: str
    target: str = ""
    members: Mapping[str, str] = field(default_factory=dict)
    sha256: str | None = None


@dataclass(frozen=True)
class Dataset:
    """A public data set: its files, where it comes from and its licence."""

    name: str
    description: str
    files: tuple[DataFile, ...]
    fetches: tuple[Fetch, ...]
    homepage: str
    license: str
    convert: str = ""
    """``"module:function"`` mapping the bytes of an original-layout file (archive member or
    :attr:`DataFile.originals`) to the catalogued layout; empty: files are used as they come."""

    def converted(self, raw: bytes) -> bytes:
        """``raw`` in the catalogued layout (unchanged when the data set has no converter)."""
        if not self.convert:
            return raw
        from bench.registry import load_object

        convert: Callable[[bytes], bytes] = load_object(self.convert)  # type: ignore[assignment]
        return convert(raw)

    def file(self, path: str) -> DataFile:
        """The :class:`DataFile` whose canonical path is ``path``."""
        for item in self.files:
            if item.path == path:
                return item
        raise KeyError(path)


DATASETS: Registry[Dataset] = Registry("data set")

_UCI_ZIP = "https://archive.ics.uci.edu/static/public/331/sentiment+labelled+sentences.zip"
_UCI_FILES = {
    "amazon_cells_labelled.txt": "47003fc0a0d4840b00e96e715b6189bad09e7443a3da41c4cbe12ffc79f86ae3",
    "imdb_labelled.txt": "aef2e49e3da25714d61175e3a6e68eeef74a20a2f914318dc3be9947ea86512d",
    "yelp_labelled.txt": "c76468b7b5c6e56a0804d728345c5f84aa2142ddb214420f61cc9cfd4c00d2ea",
}
DATASETS.add(
    "uci-sentiment",
    Dataset(
        name="uci-sentiment",
        description="Sentiment Labelled Sentences (Kotzias et al., KDD 2015): amazon, imdb, yelp; 1000 each.",
        files=tuple(
            DataFile(f"uci-sentiment/{name}", digest, (f"sentiment labelled sentences/{name}",))
            for name, digest in _UCI_FILES.items()
        ),
        fetches=(
            Fetch(
                url=_UCI_ZIP,
                mirror_path="uci-sentiment/sentiment+labelled+sentences.zip",
                members={f"sentiment labelled sentences/{n}": f"uci-sentiment/{n}" for n in _UCI_FILES},
            ),
        ),
        homepage="https://archive.ics.uci.edu/dataset/331/sentiment+labelled+sentences",
        license="CC BY 4.0 (UCI); cite Kotzias et al. 2015",
    ),
    description="Sentiment Labelled Sentences (UCI 331): amazon, imdb, yelp.",
)

_NLTK_BASE = "https://raw.githubusercontent.com/nltk/nltk_data/gh-pages/packages/corpora"
_NLTK_CORPORA: dict[str, tuple[str, str, str]] = {
    # name: (sha256 of the zip, description, licence as written in the package xml)
    "sentence_polarity": (
        "6e1ed4405b65c7eabf1d199a7f7c437091ac21da0ea7467b410a74062574566b",
        "Rotten Tomatoes snippets, 5331 positive + 5331 negative (Pang & Lee 2005).",
        "CC BY 4.0",
    ),
    "product_reviews_1": (
        "627bfb0bb7c87586246d99b4402c3d7e4fb77ac14559d8695c283bd6850615ac",
        "Hu & Liu customer reviews of 5 products, aspect-level sentiment (2004).",
        "CC BY 4.0",
    ),
    "product_reviews_2": (
        "272b08fe130882e5867aa7ecc69a65616099183c4ccc10374a62c271801b0bc1",
        "Hu & Liu customer reviews of 9 products, aspect-level sentiment (2007).",
        "CC BY 4.0",
    ),
    "masc_tagged": (
        "678a5141cf3381bedb1839c58a330507337be07c7c71603279c0ef5337032304",
        "Manually Annotated Sub-Corpus (MASC), POS-tagged, ~600k tokens in 20 genres.",
        "American National Corpus: research and development use, including commercial",
    ),
    "webtext": (
        "9e32dbae4879464b8f420a0dc721855bb26167b720d7695588d2ca2aeadf501a",
        "Web text: Firefox forum, Overheard in NY, two movie scripts, personal ads, wine diary.",
        "not stated",
    ),
    "abc": (
        "129bb6001beb828049a90a59b7dd3c2f0594a47012e48fc5177dfae38e658565",
        "Australian Broadcasting Commission 2006: rural news and science news.",
        "not stated",
    ),
}
for _name, (_digest, _description, _license) in _NLTK_CORPORA.items():
    _path = f"nltk_data/corpora/{_name}.zip"
    DATASETS.add(
        _name,
        Dataset(
            name=_name,
            description=_description,
            files=(DataFile(_path, _digest, (f"corpora/{_name}.zip",)),),
            fetches=(Fetch(url=f"{_NLTK_BASE}/{_name}.zip", mirror_path=_path, target=_path, sha256=_digest),),
            homepage="https://www.nltk.org/nltk_data/",
            license=_license,
        ),
        description=_description,
    )

_MMLU_TAR = "https://people.eecs.berkeley.edu/~hendrycks/data.tar"


def _mmlu_files() -> tuple[DataFile, ...]:
    """The 114 MMLU files (57 subjects × test, dev) with the SHA-256 sums shipped in
    ``bench/data/checksums/mmlu.sha256``."""
    listing = (Path(__file__).parent / "checksums" / "mmlu.sha256").read_text(encoding="utf-8")
    files = []
    for line in listing.splitlines():
        if line.strip() and not line.startswith("#"):
            digest, relative = line.split(maxsplit=1)
            files.append(DataFile(f"mmlu/{relative}", digest, (),
                                  (f"data/{relative}", f"mmlu/data/{relative}")))
    return tuple(files)


_MMLU_FILES = _mmlu_files()
DATASETS.add(
    "mmlu",
    Dataset(
        name="mmlu",
        description="MMLU (Hendrycks et al., ICLR 2021): 57 subjects, 14,042 test and 285 dev four-choice questions.",
        files=_MMLU_FILES,
        fetches=(
            Fetch(url=_MMLU_TAR, mirror_path="mmlu/data.tar",
                  members={item.originals[0]: item.path for item in _MMLU_FILES}),
        ),
        homepage="https://github.com/hendrycks/test",
        license="MIT",
        convert="bench.data.mmlu:to_catalogued",
    ),
    description="MMLU: 57 subjects of four-choice questions (test and dev).",
)

def datasets_for_source(source_type: str) -> tuple[str, ...]:
    """Names of the data sets an example source reads: the ``datasets`` fact of its
    :data:`bench.suites.sources.SOURCES` entry (empty for generators, tables and unknown sources)."""
    from bench.suites.sources import SOURCES

    if source_type not in SOURCES:
        return ()
    return tuple(SOURCES.entry(source_type).facts.get("datasets", ()))


def sha256_file(path: str | Path) -> str:
    """SHA-256 of a file's bytes, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


_VERIFIED: dict[tuple[str, int, int], str] = {}
"""Verified digests by (path, size, mtime), so that a file is hashed once per process."""


def _cached_sha256(path: Path, dataset: Dataset | None = None) -> str:
    """SHA-256 of the file, or (``dataset`` given) of the file converted to the catalogued layout."""
    stat = path.stat()
    key = (f"{path.resolve()}{'|converted' if dataset else ''}", stat.st_size, stat.st_mtime_ns)
    if key not in _VERIFIED:
        _VERIFIED[key] = (hashlib.sha256(dataset.converted(path.read_bytes())).hexdigest() if dataset
                          else sha256_file(path))
    return _VERIFIED[key]


def locate(item: DataFile, data_dir: Path) -> Path | None:
    """The first accepted path of ``item`` that exists in ``data_dir`` (its original-layout
    paths last), else ``None``."""
    for relative in (*item.candidates, *item.originals):
        candidate = data_dir / relative
        if candidate.is_file():
            return candidate
    return None


def _is_original(item: DataFile, found: Path, data_dir: Path) -> bool:
    return any(found == data_dir / relative for relative in item.originals)


@dataclass(frozen=True)
class FileStatus:
    """Where a data file is (or is expected) and whether its checksum matches."""

    dataset: str
    path: Path
    present: bool
    checksum_ok: bool | None
    actual_sha256: str | None = None


def file_status(dataset: Dataset, item: DataFile, data_dir: Path) -> FileStatus:
    """Look for ``item`` in ``data_dir`` and check its SHA-256 if found."""
    found = locate(item, data_dir)
    if found is None:
        return FileStatus(dataset.name, data_dir / item.path, False, None)
    actual = _cached_sha256(found, dataset if _is_original(item, found, data_dir) else None)
    return FileStatus(dataset.name, found, True, actual == item.sha256, actual)


def require(dataset_name: str, path: str, data_dir: str | Path) -> Path:
    """The verified location of file ``path`` of ``dataset_name`` in ``data_dir``.

    Raises
    ------
    MissingDataError
        If the file is in none of its accepted places; says where it looked and how to
        get it (``bench data download NAME``).
    ChecksumError
        If the file's SHA-256 differs from the expected one.
    """
    data_dir = Path(data_dir)
    dataset = DATASETS.get(dataset_name)
    item = dataset.file(path)
    status = file_status(dataset, item, data_dir)
    if not status.present:
        looked = ", ".join(str(data_dir / p) for p in (*item.candidates, *item.originals))
        raise MissingDataError(
            f"Data file {Path(item.path).name!r} of data set {dataset.name!r} is missing. Looked in: {looked}. "
            f"Get it with `bench data download {dataset.name} --data-dir {data_dir}` "
            f"(from {dataset.fetches[0].url}), or point --data-dir / ${_data_env()} at a folder that has it."
        )
    if not status.checksum_ok:
        raise ChecksumError(
            f"Data file {status.path} of data set {dataset.name!r} has SHA-256 {status.actual_sha256}, "
            f"expected {item.sha256}: the file is corrupt or a different version. Delete it and run "
            f"`bench data download {dataset.name} --data-dir {data_dir}`."
        )
    return status.path


def _data_env() -> str:
    from bench.data import DATA_DIR_ENV

    return DATA_DIR_ENV


def _clear_cache() -> None:
    """Forget cached checksums (tests that rewrite files in place within one mtime tick)."""
    _VERIFIED.clear()

