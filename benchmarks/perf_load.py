"""Print how long loading the benchmark tables takes (first load in a process, then again).

    BENCHSUITE_DATA=../shared/data python benchmarks/perf_load.py
"""
from __future__ import annotations

import time


def main() -> None:
    t0 = time.perf_counter()
    from benchsuite.benchmarks.registry import BENCHMARKS

    t1 = time.perf_counter()
    print(f"import benchsuite.benchmarks: {t1 - t0:.3f} s")
    for name in ("nb201", "nb101"):
        for attempt in (1, 2):
            t = time.perf_counter()
            bench = BENCHMARKS.create(name)
            n = sum(c.n_archs for c in bench.coverage())
            print(f"load {name} (#{attempt}): {time.perf_counter() - t:.3f} s, {n} (arch, column) values")
    from benchsuite.spaces import nb201

    t = time.perf_counter()
    archs = nb201.all_archs()
    costs = [nb201.costs(a) for a in archs]
    print(f"nb201 closed-form params+FLOPs for {len(costs)} cells: {time.perf_counter() - t:.3f} s")


if __name__ == "__main__":
    main()
