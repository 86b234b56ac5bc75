"""How far float32 round-off moves a shipped proxy column: the recompute test's cells of a table,
computed here in float32 (as shipped) and with the same networks and images in float64.

    python benchmarks/float32_roundoff.py --table nb101-cifar10 zico grasp

Prints the shipped value, this machine's float32 and float64 values, and each one's relative
distance from float64 (the figures behind ROUNDOFF_BOUND in tests/test_proxy_tables.py). A proxy
whose measure makes float32 tensors of its own that the cast cannot reach (zen's added BN statistics)
is named with the error and skipped.
"""
import argparse
import os

import numpy as np
import torch

import benchsuite.selectors.proxies.measures as measures
from benchsuite import proxy_tables


def _as_float64(args: tuple) -> tuple:
    return tuple(a.double() if torch.is_tensor(a) and a.is_floating_point() else a for a in args)


def score(table: str, proxy: str, cells: list[int], float64: bool) -> np.ndarray:
    computed = measures._compute

    def build64(build, bn):
        # the same seeded float32 initialisation, cast; inputs a measure draws itself (zen's Gaussian,
        # synflow's ones) are drawn in float32 as shipped and cast on the way in (drawn in float64 they
        # would be other numbers). A measure that re-initialises the weights in place (AZ-NAS's
        # kaiming_normal_) draws in float64 here: its column is not a round-off figure.
        net = build(bn=bn).double()
        for module in net.modules():   # some measures call parts of the network (zen's pre-GAP map)
            module.register_forward_pre_hook(lambda _m, args: _as_float64(args))
        return net

    if float64:   # the images cast likewise
        measures._compute = lambda build, x, y, names, **kw: computed(
            lambda bn: build64(build, bn), None if x is None else x.double(), y, names, **kw)
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
        f32 = score(args.table, proxy, cells, False)
        try:
            f64 = score(args.table, proxy, cells, True)
        except RuntimeError as e:   # a measure that makes float32 tensors of its own (zen's BN statistics)
            print(f"{proxy} on {args.table}: no float64 run here ({str(e).splitlines()[0]})")
            continue
        print(f"{proxy} on {args.table}, cells {cells}")
        for label, v in (("shipped", shipped), ("float32 here", f32), ("float64 here", f64)):
            rel = (v - f64) / np.abs(f64)
            print(f"  {label:12s} " + "  ".join(f"{a:12.6g} ({r:+.1e})" for a, r in zip(v, rel)))


if __name__ == "__main__":
    main()
