"""Time the zero-cost proxies against one plain forward+backward of the same network.

    BENCHSUITE_DATA=../shared/data python benchmarks/perf_proxies.py [--archs 8] [--threads 1]
        [--device cpu] [--network reference|benchmark] [--pack K] [--only synflow,snip] [--newer]

The machine is shared and noisy, so: the thread count is set (``--threads``), everything compared
on a cell is measured in one interleaved round (fwd+bwd, each proxy alone, all eight with shared
passes, all but grasp/zico/jacov, and the selector path: ``get_selector(proxy).score`` on a cache
miss), each figure is printed as it is measured, and the summary gives medians over cells of the
ratio to that cell's own fwd+bwd. "selector path" minus "alone" is what the selector adds around
the computation (image batch, cache, canonical form). ``--pack K`` adds all eight for K cells per
packed pass (the GPU path), per cell. The newer proxies (``proxies/extra.py``: NASLib's other
four, TE-NAS, GradSign, MeCo, SWAP, AZ-NAS; ``--newer`` times them all, or name them in ``--only``)
each fix their own network, batch and input, so they are timed through the selector path only, at
their defaults (``--network`` does not apply to them).
"""
from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

from benchsuite import get_selector
from benchsuite.data.images import load_images, proxy_batch
from benchsuite.selectors.base import Context
from benchsuite.selectors.proxies.extra import TABLE
from benchsuite.selectors.proxies.measures import PROXIES, compute
from benchsuite.selectors.proxies.packed import compute_packed
from benchsuite.spaces import nb201

MARGINAL = ("grasp", "zico", "jacov")


def _time(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--archs", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--network", default="reference", choices=("reference", "benchmark"))
    ap.add_argument("--pack", type=int, default=0, help="also time all eight with this many cells per packed pass")
    ap.add_argument("--only", help="comma-separated proxies to time (default: all eight and the combinations)")
    ap.add_argument("--newer", action="store_true", help="also time every proxy of proxies/extra.py (selector path)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    x, y = proxy_batch(load_images("cifar10"), 64, 0)
    x, y = x.to(a.device), y.to(a.device)
    rng = np.random.default_rng(0)
    archs = [nb201.all_archs()[i] for i in rng.choice(15625, a.archs, replace=False)]
    style = "zero-cost-nas" if a.network == "reference" else "benchmark"
    names = a.only.split(",") if a.only else list(PROXIES)
    if a.newer:
        names += [n for n in TABLE if n not in names]
    print(f"device={a.device} threads={torch.get_num_threads()} cells={a.archs} batch=64 network={a.network}",
          flush=True)
    ratios: dict[str, list[float]] = {}
    for i, arch in enumerate(archs):
        def build(bn, arch=arch):
            return nb201.build_network(arch, bn=bn, style=style)

        net = build(True).to(a.device).train()

        def plain(net=net):
            net.zero_grad()
            F.cross_entropy(net(x), y).backward()

        plain()   # warm-up: allocator, kernels
        jobs = {"fwd+bwd": plain}
        for name in names:
            if name in PROXIES:
                jobs[name] = lambda name=name: compute(build, x, y, [name], seed=0, device=a.device)
            jobs[f"{name} selector path"] = lambda name=name, arch=arch: _selector(name, arch, a)
        if not a.only:
            jobs["all eight"] = lambda: compute(build, x, y, PROXIES, seed=0, device=a.device)
            for m in MARGINAL:
                rest = [p for p in PROXIES if p != m]
                jobs[f"all but {m}"] = lambda r=rest: compute(build, x, y, r, seed=0, device=a.device)
        times = {k: _time(fn) for k, fn in jobs.items()}   # one interleaved round per cell
        base = times["fwd+bwd"]
        line = " ".join(f"{k}={v:.3f}s" for k, v in times.items())
        print(f"cell {i + 1}/{a.archs} {arch}: {line}", flush=True)
        for k, v in times.items():
            ratios.setdefault(k, []).append(v / base)
        ratios.setdefault("fwd+bwd seconds", []).append(base)
    if a.pack:
        per = []
        builds = [lambda bn, arch=arch: nb201.build_network(arch, bn=bn, style=style) for arch in archs]
        for i in range(0, len(builds), a.pack):
            part = builds[i:i + a.pack]
            t = _time(lambda p=part: compute_packed(p, x, y, PROXIES, seed=0, device=a.device)) / len(part)
            print(f"packed x{len(part)}: {t:.3f} s per cell", flush=True)
            per.append(t / np.median(ratios["fwd+bwd seconds"]))
        ratios[f"packed x{a.pack}"] = per
    print(f"\nmedian over {a.archs} cells (fwd+bwd itself: {np.median(ratios.pop('fwd+bwd seconds')):.3f} s):")
    for k, v in ratios.items():
        print(f"  {k:28} {np.median(v):6.2f} x fwd+bwd")
    for name in (n for n in names if n in PROXIES):
        over = np.median(np.subtract(ratios[f"{name} selector path"], ratios[name]))
        print(f"  {name}: the selector path adds {over:.2f} x fwd+bwd around the computation")
    if not a.only:
        print(f"  sum of the eight alone: {sum(np.median(ratios[p]) for p in PROXIES):.2f} x fwd+bwd")
        for m in MARGINAL:
            print(f"  {m} adds {np.median(ratios['all eight']) - np.median(ratios[f'all but {m}']):.2f} x fwd+bwd "
                  "to the other seven")


_SELECTORS: dict = {}


def _selector(name: str, arch: str, a) -> None:
    """One cache miss through the selector, as `benchsuite run` scores a cell: one selector per
    proxy for the whole script (a run keeps its image batch), a fresh cache folder per call."""
    own = {} if name in TABLE else {"network": a.network}   # a newer proxy keeps its reference's network
    sel = _SELECTORS.setdefault(name, get_selector(name, seed=0, device=a.device, **own))
    with tempfile.TemporaryDirectory() as d:
        sel.score([arch], Context(space="nb201", dataset="cifar10", seed=0, device=a.device, cache_dir=d))


if __name__ == "__main__":
    main()
