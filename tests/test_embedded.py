"""The tables the package carries are the bundle's files byte for byte, and a run needs no data folder."""
import os
from pathlib import Path

import numpy as np
import pytest

from benchsuite.benchmarks import embedded, sources
from benchsuite.benchmarks.nb101 import NB101
from benchsuite.benchmarks.nb201 import NB201
from benchsuite.cli import main

pytestmark = pytest.mark.bundle   # CIFAR images or the bundle's own files (see conftest)

BUNDLE = Path(os.environ.get("BENCHSUITE_DATA", ""))


@pytest.mark.parametrize("rel", embedded.EMBEDDED)
def test_embedded_file_is_the_bundle_file(rel):
    assert embedded.available(rel)
    assert embedded.restore(rel) == (BUNDLE / rel).read_bytes()


def test_a_run_needs_no_data_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BENCHSUITE_DATA", str(tmp_path / "nothing-here"))
    monkeypatch.setenv("BENCHSUITE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("BENCHSUITE_DATA_URL", raising=False)
    ours, theirs = NB201(), NB201(data_dir=str(BUNDLE))
    for key in theirs._columns:   # every column, value for value, in the same order
        assert list(ours._columns[key].items()) == list(theirs._columns[key].items())
    assert NB101().archs("cifar10") == NB101(data_dir=str(BUNDLE)).archs("cifar10")
    assert (tmp_path / "cache" / "data" / "nb201" / "cifar10_200ep.csv").is_file()   # restored once, verified
    assert main(["data"]) == 1   # the image subsets are not carried
    capsys.readouterr()
    status = {r["file"]: r["status"] for r in sources.status()}   # restored ones sit in the cache now
    assert all(status[rel] in ("ok", "embedded") for rel in embedded.EMBEDDED)
    assert status["nb201/hw_cifar10.csv"] == "embedded" and status["images/cifar10_subset.npz"] == "missing"
    assert main(["run", "--selector", "params", "--no-plots", "--n-boot", "0", "--out", str(tmp_path / "r")]) == 0
    assert "spearman=0.7522" in capsys.readouterr().out


def test_a_damaged_embedded_copy_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCHSUITE_DATA", str(tmp_path / "nothing-here"))
    monkeypatch.setenv("BENCHSUITE_CACHE", str(tmp_path / "cache"))
    rel = "nb101/subset500_108ep_valid.csv"
    good = embedded.restore(rel)
    monkeypatch.setattr(embedded, "restore", lambda r: good.replace(b"92.5781", b"99.9999"))
    with pytest.raises(sources.ChecksumError, match="reinstall"):
        sources.locate(rel)
    assert not (tmp_path / "cache" / "data" / rel).exists()
    assert np.isfinite(NB101(data_dir=str(BUNDLE)).accuracy(NB101(data_dir=str(BUNDLE)).archs("cifar10"),
                                                            "cifar10")).all()
