"""Time the zero-cost proxies against one plain forward+backward of the same network.

    BENCHSUITE_DATA=../shared/data python benchmarks/perf_proxies.py [--archs 10] [--device cpu]
        [--network reference|benchmark] [--pack K]

Prints, per proxy and for all eight together (shared passes), the mean time per cell and its
ratio to one fwd+bwd (batch 64, CE loss) of the same cell; the target is all eight <= 3. The
"all but X" rows give what grasp, zico and jacov each add to the shared computation: the passes
their references need that no other proxy can share (Hessian-gradient product, two half-batch
passes, the input gradient of the summed logits). ``--pack K`` adds all eight for K cells per
packed pass (``proxy_packed``, the GPU path), per cell.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from benchsuite.data.images import load_images, proxy_batch
from benchsuite.selectors.proxies.measures import PROXIES, compute
from benchsuite.selectors.proxies.packed import compute_packed
from benchsuite.spaces import nb201


def _time(fn, repeats: int) -> float:
    fn()  # warm-up
    t = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t) / repeats


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--archs", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--network", default="reference", choices=("reference", "benchmark"))
    ap.add_argument("--pack", type=int, default=0, help="also time all eight with this many cells per packed pass")
    a = ap.parse_args()
    x, y = proxy_batch(load_images("cifar10"), 64, 0)
    x, y = x.to(a.device), y.to(a.device)
    rng = np.random.default_rng(0)
    archs = [nb201.all_archs()[i] for i in rng.choice(15625, a.archs, replace=False)]
    style = "zero-cost-nas" if a.network == "reference" else "benchmark"
    marginal = ("grasp", "zico", "jacov")
    rows = {name: [] for name in (*PROXIES, "all eight", *(f"all but {m}" for m in marginal), "fwd+bwd")}
    for arch in archs:
        def build(bn, arch=arch):
            return nb201.build_network(arch, bn=bn, style=style)

        net = build(True).to(a.device).train()

        def plain(net=net):
            net.zero_grad()
            F.cross_entropy(net(x), y).backward()

        rows["fwd+bwd"].append(_time(plain, a.repeats))
        for name in PROXIES:
            rows[name].append(_time(lambda name=name: compute(build, x, y, [name], seed=0, device=a.device),
                                    a.repeats))
        rows["all eight"].append(_time(lambda: compute(build, x, y, PROXIES, seed=0, device=a.device), a.repeats))
        for m in marginal:
            rest = [p for p in PROXIES if p != m]
            rows[f"all but {m}"].append(_time(lambda r=rest: compute(build, x, y, r, seed=0, device=a.device),
                                              a.repeats))
    if a.pack:
        builds = [lambda bn, arch=arch: nb201.build_network(arch, bn=bn, style=style) for arch in archs]
        per = []
        for i in range(0, len(builds), a.pack):
            part = builds[i:i + a.pack]
            per.append(_time(lambda p=part: compute_packed(p, x, y, PROXIES, seed=0, device=a.device), a.repeats)
                       / len(part))
        rows[f"packed x{a.pack}"] = per
    base = np.mean(rows["fwd+bwd"])
    print(f"device={a.device} threads={torch.get_num_threads()} cells={a.archs} batch=64 network={a.network}")
    print(f"{'':14} {'s/cell':>8} {'x fwd+bwd':>10}")
    for name, ts in rows.items():
        print(f"{name:14} {np.mean(ts):8.3f} {np.mean(ts) / base:10.2f}")
    print(f"sum of separate proxies: {sum(np.mean(rows[p]) for p in PROXIES) / base:.2f} x fwd+bwd")
    for m in marginal:
        extra = np.mean(rows["all eight"]) - np.mean(rows[f"all but {m}"])
        print(f"{m} adds {extra / base:.2f} x fwd+bwd to the other seven")


if __name__ == "__main__":
    main()
