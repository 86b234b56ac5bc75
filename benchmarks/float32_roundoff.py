"""How far float32 round-off moves a shipped proxy column: the recompute test's cells of a table,
computed here in float32 (as shipped) and with the same networks and images in float64.

    python benchmarks/float32_roundoff.py --table nb101-cifar10 zico grasp

Prints the shipped value, this machine's float32 and float64 values, and each one's relative
distance from float64 (the figures behind ROUNDOFF_BOUND in tests/test_proxy_tables.py).
"""
import argparse
import os

import numpy as np
import torch

import benchsuite.selectors.proxies.measures as measures
from benchsuite import proxy_tables


def score(table: str, proxy: str, cells: list[int], float64: bool) -> np.ndarray:
    computed = measures._compute
    if float64:   # the same seeded float32 initialisation, cast; the images cast likewise
        measures._compute = lambda build, x, y, names, **kw: computed(
            lambda bn: build(bn=bn).double(), x.double(), y, names, **kw)
    try:
        return proxy_tables.recompute(table, proxy, cells, data_dir=os.environ.get("BENCHSUITE_DATA"))
    finally:
        measures._compute = computed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("proxies", nargs="+")
    ap.add_argument("--table", default="nb101-cifar10")
    ap.add_argument("--cells", type=int, default=3, help="seeded sample size (the recompute test's: 3)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    t = proxy_tables.load(args.table)
    cells = proxy_tables.sample_rows(args.table, args.cells)
    for proxy in args.proxies:
        shipped = t[proxy].to_numpy()[cells]
        f32, f64 = score(args.table, proxy, cells, False), score(args.table, proxy, cells, True)
        print(f"{proxy} on {args.table}, cells {cells}")
        for label, v in (("shipped", shipped), ("float32 here", f32), ("float64 here", f64)):
            rel = (v - f64) / np.abs(f64)
            print(f"  {label:12s} " + "  ".join(f"{a:12.6g} ({r:+.1e})" for a, r in zip(v, rel)))


if __name__ == "__main__":
    main()
