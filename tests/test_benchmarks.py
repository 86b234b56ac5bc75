import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchsuite.benchmarks import sources
from benchsuite.benchmarks.nb101 import NB101
from benchsuite.benchmarks.nb201 import NB201
from benchsuite.errors import ChecksumError, CoverageError, DataNotFoundError, UnknownNameError
from benchsuite.spaces import nb201 as space


def _cov(bench):
    return {(c.dataset, c.fidelity, c.metric): c.n_archs for c in bench.coverage()}


def test_nb201_coverage(nb201):
    cov = _cov(nb201)
    for key in [("cifar10", 200, "test"), ("cifar10-valid", 200, "valid"), ("cifar10-valid", 200, "test"),
                ("cifar10", 12, "test"), ("cifar100", 12, "test"), ("imagenet16", 12, "valid")]:
        assert cov[key] == 15625
    assert cov[("cifar100", 200, "valid")] == 725
    assert cov[("imagenet16", 200, "valid")] == 9445 + 277
    assert ("cifar100", 200, "test") not in cov


def test_nb201_lookup_matches_csv_and_index_order(nb201, data_dir):
    df = pd.read_csv(data_dir / "nb201/cifar10_200ep.csv")
    assert nb201.archs("cifar10") == space.all_archs()
    assert np.array_equal(nb201.accuracy(df.arch[:100], "cifar10", 200, "test"), df.cifar10_test_acc[:100])
    assert nb201.accuracy(space.all_archs(), "cifar10").max() == pytest.approx(94.3733)
    twelve = pd.read_csv(data_dir / "nb201/all_12ep.csv")
    assert np.array_equal(nb201.accuracy(twelve.arch[:50], "cifar100", 12, "valid"), twelve.cifar100_valid_acc[:50])
    assert nb201.source("imagenet16", 200) == "nb201/imagenet16_200ep_valid.csv + nb201/naslib_subset_200ep_valid.csv"


def test_default_column_and_missing_column_errors(nb201):
    assert nb201.resolve("cifar10") == ("cifar10", 200, "test")
    assert nb201.resolve("cifar100") == ("cifar100", 200, "valid")  # test is absent at 200 epochs
    with pytest.raises(CoverageError) as e:
        nb201.resolve("cifar100", 200, "test")
    msg = str(e.value)
    assert "fidelity 12 test (15625 archs)" in msg and "fidelity 200 valid (725 archs)" in msg
    with pytest.raises(UnknownNameError, match="known: cifar10, cifar10-valid, cifar100, imagenet16"):
        nb201.resolve("svhn")


def test_nb101(data_dir):
    b = NB101()
    cov = _cov(b)
    # 500 NASLib rows are unpruned samples; 301 distinct cells remain after pruning.
    assert cov == {("cifar10", 108, "valid"): 301}
    acc = b.accuracy(b.archs("cifar10"), "cifar10")
    assert 80 < acc.mean() < 95


def test_missing_data_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCHSUITE_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(DataNotFoundError) as e:   # the image subsets are the files the package does not carry
        sources.locate("images/cifar10_subset.npz")
    msg = str(e.value)
    assert str(tmp_path / "nowhere" / "images") in msg and "BENCHSUITE_DATA" in msg
    from benchsuite.benchmarks import embedded
    monkeypatch.setattr(embedded, "EMBEDDED", ())
    with pytest.raises(DataNotFoundError, match="nb201/cifar10_200ep.csv not found"):
        NB201()


def _copy_bundle(src: Path, dst: Path) -> Path:
    for rel in sources.FILES:
        if rel.startswith("nb2"):
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src / rel, dst / rel)
    return dst


def test_checksum_mismatch_refuses(tmp_path, monkeypatch, data_dir):
    d = _copy_bundle(data_dir, tmp_path / "data")
    with open(d / "nb201/all_12ep.csv", "a") as f:
        f.write("tampered\n")
    monkeypatch.setenv("BENCHSUITE_DATA", str(d))
    with pytest.raises(ChecksumError, match="does not match the pinned"):
        sources.locate("nb201/all_12ep.csv")
    bench = NB201()   # the tampered file costs its own columns only, and says why
    assert list(bench.unavailable) == ["nb201/all_12ep.csv"] and _cov(bench)[("cifar10", 200, "test")] == 15625
    with pytest.raises(CoverageError, match="all_12ep.csv was not read: .*does not match the pinned"):
        bench.archs("cifar100", 12)


def test_download_verifies_then_caches(http_server, tmp_path, monkeypatch, data_dir):
    root, url = http_server
    _copy_bundle(data_dir, root)
    monkeypatch.setenv("BENCHSUITE_DATA", str(tmp_path / "empty"))
    monkeypatch.setenv("BENCHSUITE_DATA_URL", url)
    from benchsuite.benchmarks import embedded
    monkeypatch.setattr(embedded, "EMBEDDED", ())   # no package copies: the download path alone
    bench = NB201()
    assert _cov(bench)[("cifar10", 200, "test")] == 15625
    cached = sources.cache_dir() / "data" / "nb201/cifar10_200ep.csv"
    assert cached.is_file() and sources.sha256_of(cached) == sources.FILES["nb201/cifar10_200ep.csv"].sha256
    monkeypatch.delenv("BENCHSUITE_DATA_URL")  # second time: served from the cache, no network
    assert _cov(NB201()) == _cov(bench)


def test_download_with_bad_checksum_caches_nothing(http_server, tmp_path, monkeypatch):
    root, url = http_server
    (root / "nb201").mkdir()
    (root / "nb201/cifar10_200ep.csv").write_text("arch,params_m\nnot,the real file\n")
    monkeypatch.setenv("BENCHSUITE_DATA", str(tmp_path / "empty"))
    with pytest.raises(ChecksumError, match="nothing was cached"):
        sources.download("nb201/cifar10_200ep.csv", url)
    # no file at all: neither the csv nor a temporary download
    assert not [p for p in (sources.cache_dir() / "data").rglob("*") if p.is_file()]


def test_download_missing_file_is_a_clear_error(http_server, monkeypatch):
    _, url = http_server
    with pytest.raises(DataNotFoundError, match="could not download .*404"):
        sources.download("nb201/all_12ep.csv", url)
