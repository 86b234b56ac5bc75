"""NAS-Bench-101 accuracy table: the 500-cell NASLib subset with 108-epoch validation accuracy, or the
official tfrecord (all 423,624 cells, validation and test)."""
from __future__ import annotations

import json

import pandas as pd

from ..spaces import nb101 as space
from . import sources
from .base import Benchmark
from .registry import BENCHMARKS

_FILE = "nb101/subset500_108ep_valid.csv"


@BENCHMARKS.register("nb101")
class NB101(Benchmark):
    """NAS-Bench-101 on CIFAR-10; arch strings are ``Cell.to_string()`` JSON of the pruned cell."""

    name = "nb101"
    space = "nb101"
    datasets = ("cifar10",)
    default_fidelity = 108

    def __init__(self, *, data_dir: str | None = None, official_path: str | None = None):
        super().__init__()
        if official_path:   # nasbench_only108.tfrecord / nasbench_full.tfrecord
            self._add_official("nb101", official_path)
            return
        path = sources.locate(_FILE, data_dir)
        self.checksums[_FILE] = sources.FILES[_FILE].sha256
        df = pd.read_csv(path)
        cells = [space.make_cell(json.loads(m), json.loads(o)) for m, o in zip(df.matrix, df.ops)]
        df["arch"] = [c.to_string() for c in cells]
        # Rows are NASLib samples: unpruned matrices, one random trial each. Rows whose pruned cells
        # share the NB101 hash are one benchmark entry, so their accuracies are averaged.
        df["hash"] = [space.cell_hash(c) for c in cells]
        df["acc"] = df.groupby("hash").valid_acc.transform("mean")
        df = df.drop_duplicates("arch")
        self._add(("cifar10", 108, "valid"), df.arch.tolist(), df.acc.tolist(), _FILE)
        self.params_m = dict(zip(df.arch, df.params_m))
