import hashlib
import pickle

import numpy as np
import pytest
import torch

from benchsuite.data import images
from benchsuite.errors import ChecksumError, DataNotFoundError

pytestmark = pytest.mark.bundle   # CIFAR images or the bundle's own files (see conftest)


def test_subset_loads_verified():
    im = images.load_images("cifar10")
    assert im.x_train.shape == (5170, 32, 32, 3) and im.x_train.dtype == np.uint8
    assert im.source == "images/cifar10_subset.npz" and set(np.unique(im.y_train)) == set(range(10))
    assert images.load_images("cifar100").y_train.max() < 100


def test_proxy_batch_is_seeded_and_normalised():
    im = images.load_images("cifar10")
    x1, y1 = images.proxy_batch(im, 16, seed=3)
    x2, y2 = images.proxy_batch(im, 16, seed=3)
    x3, _ = images.proxy_batch(im, 16, seed=4)
    assert torch.equal(x1, x2) and torch.equal(y1, y2) and not torch.equal(x1, x3)
    assert x1.shape == (16, 3, 32, 32) and abs(float(x1.mean())) < 1.0
    plain, _ = images.proxy_batch(im, 16, seed=3, train_transform=False)
    assert not torch.equal(plain, x1)  # crop/flip changed the pixels


def test_augment_keeps_content_when_no_shift():
    x = torch.arange(2 * 3 * 32 * 32, dtype=torch.float32).reshape(2, 3, 32, 32)
    g = torch.Generator().manual_seed(0)
    out = images.augment(x, g)
    assert out.shape == x.shape
    # Every output row is a (possibly flipped, shifted) window of the padded input.
    assert set(out.unique().tolist()) <= set(x.unique().tolist()) | {0.0}


def _write_batches(folder, n=20):
    rng = np.random.default_rng(0)
    sums = {}
    for name in ("data_batch_1", "test_batch"):
        labels = [int(v) for v in rng.integers(0, 10, n)]  # python ints, as in the official batches
        d = {b"data": rng.integers(0, 255, (n, 3072), dtype=np.uint8), b"labels": labels}
        path = folder / name
        path.write_bytes(pickle.dumps(d, protocol=2))
        sums[name] = hashlib.md5(path.read_bytes()).hexdigest()
    return sums


def test_python_batches_in_official_format(tmp_path):
    sums = _write_batches(tmp_path)
    im = images.load_python_batches("cifar10", tmp_path, checksums=sums)
    assert im.x_train.shape == (20, 32, 32, 3) and im.y_test.shape == (20,)
    raw = pickle.loads((tmp_path / "data_batch_1").read_bytes())
    assert np.array_equal(im.x_train[0], raw[b"data"][0].reshape(3, 32, 32).transpose(1, 2, 0))


def test_python_batches_checksum_and_unpickler_guard(tmp_path):
    sums = _write_batches(tmp_path)
    wrong = {name: "0" * 32 for name in sums}
    with pytest.raises(ChecksumError, match="refusing to unpickle"):
        images.load_python_batches("cifar10", tmp_path, checksums=wrong)
    evil = tmp_path / "data_batch_1"
    evil.write_bytes(pickle.dumps({"data": ChecksumError("x")}, protocol=2))
    sums["data_batch_1"] = hashlib.md5(evil.read_bytes()).hexdigest()
    with pytest.raises(pickle.UnpicklingError, match="refusing to load"):
        images.load_python_batches("cifar10", tmp_path, checksums=sums)
    with pytest.raises(DataNotFoundError, match="lacks"):
        images.load_python_batches("cifar10", tmp_path / "nowhere", checksums=sums)
