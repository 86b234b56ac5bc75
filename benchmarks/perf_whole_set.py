"""What computing every zero-cost proxy together costs beyond its distinct passes (issue 23's target:
within 2x their sum).

    BENCHSUITE_DATA=../shared/data python benchmarks/perf_whole_set.py [--archs 3] [--threads 1]
        [--proxies synflow,snip,vote,...]

The whole set (default: every proxy the all-cell tables hold, and the aggregates vote, tenas and
az_nas) is scored on each random NB-201 cell the way one process computes them together: first the
units whose passes coincide (zero-cost-nas's shared forward for snip, grad_norm, fisher, grasp,
jacov and naswot; AZ-NAS's three feature components), grouped as ``proxy_tables_job.py`` groups
them, then every proxy's own selector at its defaults, reading what a shared pass left in the
cell's cache (a fresh one per cell: nothing comes from an earlier cell). A distinct pass is one call
of the measures' ``compute``: it builds the cell's network, initialises it and runs the passes its
proxies' references define. The script times every such call inside the whole-set run, fails if a
proxy is computed twice on a cell, and prints per cell the whole set's wall time, the time inside
its distinct passes and their ratio, then the medians over cells. What the ratio adds to 1 is the
selector path around the passes: image batches (made once per selector and kept, as a run keeps
them), canonical cells, cache reads and writes, and ``params``/``flops``, which count the cell
without a pass. One thread by default; each figure is printed as it is measured.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from proxy_tables_job import DEFAULT_PROXIES, groups, joint_selector  # noqa: E402

from benchsuite import SELECTORS  # noqa: E402
from benchsuite.selectors.base import Context  # noqa: E402
from benchsuite.selectors.proxies import measures  # noqa: E402
from benchsuite.spaces import nb201  # noqa: E402

AGGREGATES = ("vote", "tenas", "az_nas")


class PassClock:
    """Wraps ``measures.compute``: the seconds spent in it and the proxies each call computed."""

    def __init__(self) -> None:
        self.seconds, self.calls = 0.0, []
        self._compute = measures.compute

    def __enter__(self) -> PassClock:
        def timed(build, x, y, names, **kw):
            names = sorted(set(names))
            t = time.perf_counter()
            try:
                return self._compute(build, x, y, names, **kw)
            finally:
                self.seconds += time.perf_counter() - t
                self.calls.append(names)

        measures.compute = timed
        return self

    def __exit__(self, *exc) -> None:
        measures.compute = self._compute


def whole_set(proxies: list[str], arch: str, selectors: dict) -> dict:
    """Score ``arch`` with every selector of ``proxies`` (shared units first) on one fresh cache;
    the wall seconds, the seconds inside distinct passes and the passes (proxies per call)."""
    with tempfile.TemporaryDirectory() as cache, PassClock() as clock:
        ctx = Context(space="nb201", dataset="cifar10", seed=0, device="cpu", cache_dir=cache)
        t = time.perf_counter()
        for unit in (k for k in selectors if isinstance(k, tuple)):
            selectors[unit].score([arch], ctx)   # one pass fills the cache for every member
        for name in proxies:
            selectors[name].score([arch], ctx)
        wall = time.perf_counter() - t
    computed = [p for call in clock.calls for p in call]
    twice = sorted({p for p in computed if computed.count(p) > 1})
    if twice:
        raise SystemExit(f"perf_whole_set: computed more than once on {arch}: {', '.join(twice)}")
    return {"wall": wall, "passes": clock.seconds, "calls": clock.calls}


def make_selectors(proxies: list[str], ctx: Context) -> dict:
    """One selector per proxy at its defaults, and one per shared unit, each holding its image batch
    after ``preflight`` (as a run's selector does), so that no cell pays for loading images."""
    out: dict = {}
    for unit in groups([p for p in proxies if p not in AGGREGATES], alone=False):
        if len(unit) > 1:
            out[unit] = joint_selector(unit)
    for name in proxies:
        out[name] = SELECTORS.get(name)(seed=0)
    for sel in out.values():
        sel.preflight(ctx)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--archs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--proxies", default=",".join((*DEFAULT_PROXIES, *AGGREGATES)))
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    proxies = [p for p in a.proxies.split(",") if p]
    for p in proxies:
        SELECTORS.get(p)   # an unknown name fails here, listing the known ones
    selectors = make_selectors(proxies, Context(space="nb201", dataset="cifar10", seed=0, device="cpu"))
    rng = np.random.default_rng(0)
    archs = [nb201.all_archs()[i] for i in rng.choice(15625, a.archs, replace=False)]
    print(f"threads={torch.get_num_threads()} cells={a.archs} proxies={len(proxies)}", flush=True)
    rows = []
    for i, arch in enumerate(archs):
        r = whole_set(proxies, arch, selectors)
        rows.append(r)
        print(f"cell {i + 1}/{a.archs} {arch}: whole set {r['wall']:.2f} s, in {len(r['calls'])} distinct passes "
              f"{r['passes']:.2f} s, ratio {r['wall'] / r['passes']:.3f}", flush=True)
    ratio = np.median([r["wall"] / r["passes"] for r in rows])
    print(f"\nmedian over {a.archs} cells: whole set {np.median([r['wall'] for r in rows]):.2f} s, distinct passes "
          f"{np.median([r['passes'] for r in rows]):.2f} s, ratio {ratio:.3f} (target: at most 2)")
    print("passes per cell: " + "; ".join(",".join(c) for c in rows[0]["calls"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
