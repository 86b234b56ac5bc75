"""Download the official CIFAR-10/100 python archives for users, verified before anything is read.

The archive's MD5 (the value CIFAR's authors and torchvision publish) is checked on the
downloaded bytes before extraction (``sources.fetch_verified``: pooch keeps the download in a
temporary file until it matches, and reuses an archive already there only when it matches).
Extraction admits only regular files and folders inside the expected folder (no absolute paths,
``..``, links or special files), plus tarfile's ``data`` filter where Python has it. The
extracted batches are checked again against their own published MD5s when ``data.images`` reads
them. Everything lands in ``cifar/`` under the cache folder (``sources.cache_dir``), which
``load_images`` then prefers over the bundle's small subset.
"""
from __future__ import annotations

import shutil
import tarfile
import tempfile
from pathlib import Path

from ..benchmarks.sources import cache_dir, fetch_verified
from ..errors import ChecksumError, DataNotFoundError

ARCHIVES = {
    "cifar10": ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a",
                "cifar-10-batches-py"),
    "cifar100": ("https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85",
                 "cifar-100-python"),
}


def cifar_root() -> Path:
    return cache_dir() / "cifar"


def how_to_point_at_images(name: str) -> str:
    """What a user without network can do instead: images already on disk, in either form."""
    return (f"point --hp cifar_dir=DIR or $BENCHSUITE_CIFAR_DIR at the official {name} python batches, or "
            f"BENCHSUITE_DATA at a folder holding images/{name}_subset.npz")


def cached_folder(name: str) -> Path | None:
    """The extracted batches folder of a finished download, if there is one."""
    folder = cifar_root() / ARCHIVES[name][2]
    return folder if (folder / ".complete").is_file() else None


def _safe_members(tar: tarfile.TarFile, folder: str) -> list[tarfile.TarInfo]:
    """The archive's members under ``folder``; any absolute path, ``..`` or non-regular entry
    (link, device) there fails the whole archive (older Pythons lack tarfile's ``data`` filter)."""
    out = []
    for m in tar.getmembers():
        parts = Path(m.name).parts
        if not parts or parts[0] != folder:
            continue
        if m.name.startswith("/") or ".." in parts or not (m.isfile() or m.isdir()):
            raise tarfile.TarError(f"unsafe member {m.name!r}")
        out.append(m)
    return out


def fetch_cifar(name: str, *, url: str | None = None, md5: str | None = None, timeout: float = 120.0) -> Path:
    """Download (once) and extract ``name``'s python batches; returns the batches folder."""
    if name not in ARCHIVES:
        raise DataNotFoundError(f"no CIFAR archive {name!r}; known: {', '.join(ARCHIVES)}")
    done = cached_folder(name)
    if done is not None:
        return done
    default_url, default_md5, folder = ARCHIVES[name]
    root = cifar_root()
    try:
        archive = fetch_verified(url or default_url, root / Path(default_url).name, md5 or default_md5,
                                 algorithm="md5", timeout=timeout)
    except DataNotFoundError as e:
        # fetch_verified's advice after the ';' is about the accuracy tables (the bundle, an official
        # .pth), none of which holds an image: keep its reason, give the image set's own advice.
        raise DataNotFoundError(f"{str(e).split(';')[0]}; offline, {how_to_point_at_images(name)}") from None
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        try:
            with tarfile.open(archive, "r:gz") as tar:
                members = _safe_members(tar, folder)
                if hasattr(tarfile, "data_filter"):   # Python >= 3.11.4 / 3.12: the stdlib check too
                    tar.extractall(tmp, members=members, filter="data")
                else:
                    tar.extractall(tmp, members=members)
        except (tarfile.TarError, OSError) as e:
            raise ChecksumError(f"{archive}: not a usable CIFAR archive ({e}); nothing was extracted") from None
        if not (Path(tmp) / folder).is_dir():
            raise DataNotFoundError(f"{archive} holds no {folder}/ folder")
        dest = root / folder
        if dest.exists():
            shutil.rmtree(dest)
        (Path(tmp) / folder).rename(dest)
    (dest / ".complete").write_text(md5 or default_md5)
    return dest
