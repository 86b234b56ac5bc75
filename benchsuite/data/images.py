"""CIFAR-10/100 images: the full python batches when given, else the verified subset in the bundle,
else the official archive, downloaded on first use (MD5-checked, into the cache) as torchvision's
``download=True`` does; ``BENCHSUITE_OFFLINE=1`` turns that download off.

The python batches are pickles. They are checked against the published MD5s (the values CIFAR's
authors and torchvision publish) before anything is read, and then read with an unpickler that
only admits numpy array reconstruction, so a tampered file can neither pass nor run code.
Transforms (normalisation, pad-4 random crop, horizontal flip) are done in torch, seeded.
"""
from __future__ import annotations

import io
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..benchmarks import sources
from ..errors import ChecksumError, DataNotFoundError

CIFAR10_BATCHES = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f", "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751", "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb", "test_batch": "40351d587109b95175f43aff81a1287e",
}
CIFAR100_BATCHES = {"train": "16019d7e3df5f24257cddd939b257f8d", "test": "f0ef6b0ae62326f3e7ffdfab6717acfc"}
_FOLDERS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}
# zero-cost-nas normalises CIFAR with these (foresight/dataset.py); the published proxy numbers use them.
MEAN_STD = {"cifar10": ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
            "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762))}
NUM_CLASSES = {"cifar10": 10, "cifar100": 100}
# One image of every set here, channels first: the python batches store 3x32x32 bytes per image, and
# the subsets are cut from them. Synflow sizes its all-ones input from this, so it reads no image.
IMAGE_SHAPE = (3, 32, 32)
# torchvision's RandomCrop(32, padding=4) pads the image before Normalize, so its border is black;
# ``augment`` pads after normalising (0, the mean colour) unless given ``fill``. The zero-cost
# proxies' batch and supernet training were measured so, and say so in run.json; Eproxy pads black.
PAD_DEVIATION = ("the pad-4 random crop pads with the mean colour (0 after normalising); the reference's "
                 "torchvision RandomCrop pads black before Normalize")

_ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}


class _ArrayOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR batch")
        return super().find_class(module, name)


@dataclass
class ImageSet:
    x_train: np.ndarray  # uint8 NHWC
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    name: str
    source: str


def _read_batch(path: Path, md5: str) -> dict:
    digest = sources.file_digest(path, "md5")
    if digest != md5:
        raise ChecksumError(f"{path}: MD5 {digest} is not the published {md5}; refusing to unpickle it")
    raw = _ArrayOnlyUnpickler(io.BytesIO(path.read_bytes()), encoding="bytes").load()
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in raw.items()}


def load_python_batches(name: str, folder: str | os.PathLike, checksums: dict[str, str] | None = None) -> ImageSet:
    """Full CIFAR from the official python batches (``cifar-10-batches-py`` or its parent)."""
    folder = Path(folder)
    if (folder / _FOLDERS[name]).is_dir():
        folder = folder / _FOLDERS[name]
    sums = checksums or (CIFAR10_BATCHES if name == "cifar10" else CIFAR100_BATCHES)
    missing = [f for f in sums if not (folder / f).is_file()]
    if missing:
        raise DataNotFoundError(f"{folder} lacks the {name} python batches {', '.join(missing)}")
    label_key = "labels" if name == "cifar10" else "fine_labels"
    parts = {f: _read_batch(folder / f, md5) for f, md5 in sums.items()}
    test_names = [f for f in sums if "test" in f]
    train_names = [f for f in sums if f not in test_names]

    def stack(names):
        x = np.concatenate([parts[f]["data"] for f in names]).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        y = np.concatenate([np.asarray(parts[f][label_key]) for f in names])
        return np.ascontiguousarray(x, dtype=np.uint8), y.astype(np.int64)

    xtr, ytr = stack(train_names)
    xte, yte = stack(test_names)
    return ImageSet(xtr, ytr, xte, yte, name, f"python batches in {folder}")


def load_images(name: str = "cifar10", *, data_dir=None, cifar_dir=None) -> ImageSet:
    """Full CIFAR from ``cifar_dir`` (or ``$BENCHSUITE_CIFAR_DIR``), else from a verified download in
    the cache (``benchsuite data --fetch-cifar``), else the bundle's subset."""
    if name not in _FOLDERS:
        raise DataNotFoundError(f"no image data for {name!r}; known: {', '.join(_FOLDERS)}")
    cifar_dir = cifar_dir or os.environ.get("BENCHSUITE_CIFAR_DIR")
    if cifar_dir:
        return load_python_batches(name, cifar_dir)
    from .cifar_fetch import cached_folder

    downloaded = cached_folder(name)   # `benchsuite data --fetch-cifar NAME` put the full set here
    if downloaded is not None:
        return load_python_batches(name, downloaded)
    rel = f"images/{name}_subset.npz"
    try:
        path = sources.locate(rel, data_dir)
    except DataNotFoundError:
        return _download_on_first_use(name)
    with np.load(path, allow_pickle=False) as d:
        return ImageSet(d["x_train"], d["y_train"].astype(np.int64), d["x_test"], d["y_test"].astype(np.int64),
                        name, rel)


def _download_on_first_use(name: str) -> ImageSet:
    """No local images at all: fetch the official archive once (what a fresh install does)."""
    import sys

    from .cifar_fetch import ARCHIVES, cifar_root, fetch_cifar, how_to_point_at_images

    how = how_to_point_at_images(name)
    if os.environ.get("BENCHSUITE_OFFLINE"):
        raise DataNotFoundError(f"no {name} images here and BENCHSUITE_OFFLINE is set; {how}")
    url = os.environ.get("BENCHSUITE_CIFAR_URL") or ARCHIVES[name][0]
    print(f"benchsuite: note: no {name} images here; downloading {url} (MD5-checked) into {cifar_root()} once",
          file=sys.stderr)
    try:
        folder = fetch_cifar(name, url=url)
    except DataNotFoundError as e:
        raise DataNotFoundError(f"no {name} images here and the download failed ({str(e).split(';')[0]}); "
                                f"offline, {how}") from None
    return load_python_batches(name, folder)


def source_checksums(name: str, source: str) -> dict[str, str]:
    """Checksums behind an ImageSet's ``source``: the bundle subset's pinned SHA-256, or the
    published MD5 of every official python batch (each checked before it was read)."""
    if source.startswith("images/"):
        return {source: sources.FILES[source].sha256}
    return {f"md5:{f}": md5 for f, md5 in (CIFAR10_BATCHES if name == "cifar10" else CIFAR100_BATCHES).items()}


def to_tensor(x_uint8: np.ndarray, name: str = "cifar10", *, mean_std: tuple | None = None):
    """uint8 NHWC -> normalised float NCHW tensor (``mean_std`` overrides the set's own)."""
    import torch

    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in (mean_std or MEAN_STD[name]))
    x = torch.from_numpy(np.ascontiguousarray(x_uint8)).permute(0, 3, 1, 2).float().div_(255)
    return (x - mean) / std


def augment(x, generator, *, fill=None):
    """Pad-4 random crop and horizontal flip (the CIFAR training transform), one draw per image.
    The pad is 0, or ``fill`` (one value per channel) where given.

    Batched: every crop is one gather on ``x``'s device, so supernet training can augment on the GPU.
    Draws come from ``generator`` (CPU) in a fixed order, so results are reproducible to the seed."""
    import torch
    import torch.nn.functional as F

    n, c, h, w = x.shape
    dx = torch.randint(0, 9, (n,), generator=generator).to(x.device)
    dy = torch.randint(0, 9, (n,), generator=generator).to(x.device)
    flip = (torch.rand(n, generator=generator) < 0.5).to(x.device)
    if fill is None:
        padded = F.pad(x, (4, 4, 4, 4))
    else:  # pad x - fill with zeros, then add fill back: the border holds fill, the image is unchanged
        f = fill.to(x.device, x.dtype).view(1, c, 1, 1)
        padded = F.pad(x - f, (4, 4, 4, 4)) + f
    ar_h = torch.arange(h, device=x.device)
    ar_w = torch.arange(w, device=x.device)
    rows = (dy[:, None] + ar_h)[:, None, :, None]
    cols = torch.where(flip[:, None], dx[:, None] + (w - 1 - ar_w), dx[:, None] + ar_w)[:, None, None, :]
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    chan = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch, chan, rows, cols]


def proxy_batch(images: ImageSet, batch_size: int, seed: int, *, train_transform: bool = True,
                mean_std: tuple | None = None, pad_black: bool = False):
    """A seeded batch of training images (and labels) as torch tensors, same for every arch.

    ``mean_std`` replaces the set's normalisation; ``pad_black`` pads the random crop with black
    pixels, as torchvision's RandomCrop does on the image before Normalize (by default the pad is
    0 after normalising, the mean colour: the proxies' tables were measured that way)."""
    import torch

    if batch_size > len(images.x_train):
        raise DataNotFoundError(f"batch of {batch_size} asked from {len(images.x_train)} images ({images.source})")
    idx = np.random.default_rng(seed).choice(len(images.x_train), batch_size, replace=False)
    x = to_tensor(images.x_train[idx], images.name, mean_std=mean_std)
    if train_transform:
        mean, std = mean_std or MEAN_STD[images.name]
        fill = -torch.tensor(mean) / torch.tensor(std) if pad_black else None
        x = augment(x, torch.Generator().manual_seed(seed), fill=fill)
    return x, torch.from_numpy(images.y_train[idx])
