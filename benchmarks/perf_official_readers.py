"""Time the NAS-Bench-101 tfrecord reader on a synthetic file in the official format.

    python benchmarks/perf_official_readers.py [--cells 5000] [--repeats 3]

The official ``nasbench_only108.tfrecord`` (1.27 M records, 423,624 cells, 3 repeats each) cannot
be fetched here, so this writes ``--cells`` random valid cells × ``--repeats`` records with the
tests' writer (tests/nb101_records.py), reads it ``--rounds`` times and prints each read's time per
record as measured, then the median and the implied time for the official file. One thread: the
reader is pure Python plus numpy, and the machine is shared.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import numpy as np  # noqa: E402
from nb101_records import record, rows  # noqa: E402

from benchsuite.benchmarks.official import nb101_tfrecord  # noqa: E402
from benchsuite.spaces import nb101  # noqa: E402

OFFICIAL_RECORDS = 423_624 * 3


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=5000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    cells: dict[str, tuple] = {}
    while len(cells) < a.cells:   # distinct pruned cells, as the official file holds
        c = nb101.parse_cell(nb101.random_arch(rng))
        cells.setdefault(c.to_string(), ([list(r) for r in c.matrix], list(c.ops)))
    accs = [(0.9 + k / 1000, 0.89 + k / 1000) for k in range(a.repeats)]
    data = b"".join(record(r) for cell in cells.values() for r in rows(cell, 108, accs, 1_000_000))
    n = a.cells * a.repeats
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "nasbench_only108.tfrecord"
        path.write_bytes(data)
        print(f"synthetic file: {n} records, {a.cells} cells, {len(data) / n:.0f} bytes per record")
        per = []
        for i in range(a.rounds):
            t = time.perf_counter()
            table = nb101_tfrecord.read_table(path)
            dt = time.perf_counter() - t
            per.append(dt / n * 1e6)
            print(f"round {i}: {dt:.2f} s, {per[-1]:.0f} us per record ({len(table)} table rows)", flush=True)
    med = statistics.median(per)
    print(json.dumps({"median_us_per_record": round(med), "implied_official_only108_s": round(med * OFFICIAL_RECORDS
                                                                                             / 1e6)}))


if __name__ == "__main__":
    main()
