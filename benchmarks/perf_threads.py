"""Time benchsuite's small torch workloads at 1, 2 and all cores' threads: the figures behind
``benchsuite.threads.DEFAULT_THREADS``.

    BENCHSUITE_DATA=../shared/data python benchmarks/perf_threads.py [--repeats 3] [--load 0,2]
        [--scale 1] [--threads 1,2,all] [--workloads synflow,ctnas,supernet-spos,supernet-darts]

Workloads (the time is the work only, never imports, data loading or a warm-up cell):
  synflow         the synflow selector scoring 20 NB-201 cells (C=16, a 64-image CIFAR-10 batch)
  ctnas           the CTNAS comparator: trained on 30 labelled NB-201 cells (50 epochs), then 150
                  controller steps with pseudo-labelled retraining, then 100 cells scored
  supernet-spos   10 training steps of the cpu-preset supernet (C=8, N=1, batch 64), one path each
  supernet-darts  2 DARTS steps of that supernet (all five ops mixed, weight + architecture batch)
``--scale`` multiplies the cells / epochs / iterations / steps. The default takes about 4 minutes
on an idle 2-core machine (most of it starting 24 processes), more under load, where the runs at
2 threads are the slow ones.

Every measurement is a fresh Python process started with OMP_NUM_THREADS = MKL_NUM_THREADS = n
that calls ``benchsuite.threads.set_threads(n)``, so each count applies as it would to a run.
The machine is shared and its load drifts, so the thread counts take turns (round robin,
``--repeats`` rounds, the order reversed every other round); each figure is printed as it is
measured, with the load average, then the medians and their ratio to one thread. ``--load N``
starts N busy-looping processes for the whole measurement, imitating a machine that other jobs
share; ``--load 0,2`` measures quiet, then loaded. "check" is the Spearman ρ of the scores with
CIFAR-10 test accuracy (synflow, ctnas) or the supernet's training loss: it should not depend on
the thread count.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchsuite.threads import thread_env

WORKLOADS = ("synflow", "ctnas", "supernet-spos", "supernet-darts")
ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- worker (child process)
def _sample(n: int, seed: int = 0) -> list[str]:
    import numpy as np

    from benchsuite.spaces import nb201

    rng = np.random.default_rng(seed)
    cells = nb201.all_archs()
    return [cells[i] for i in rng.choice(len(cells), n, replace=False)]


def _synflow(scale: float) -> tuple[float, float]:
    import tempfile

    from benchsuite import get_selector, load_benchmark
    from benchsuite.metrics import spearman
    from benchsuite.selectors.base import Context

    cells = _sample(1 + max(2, round(20 * scale)))
    acc = load_benchmark("nb201").accuracy(cells[1:], "cifar10")
    sel = get_selector("synflow", seed=0, device="cpu")
    with tempfile.TemporaryDirectory() as cache:   # empty cache: every cell is computed
        ctx = Context(space="nb201", dataset="cifar10", seed=0, cache_dir=cache)
        sel.score(cells[:1], ctx)                   # warm-up: loads the images, first allocations
        t = time.perf_counter()
        scores = sel.score(cells[1:], ctx)
        seconds = time.perf_counter() - t
    return seconds, spearman(scores, acc)


def _ctnas(scale: float) -> tuple[float, float]:
    from benchsuite import get_selector, load_benchmark
    from benchsuite.metrics import spearman
    from benchsuite.selectors.base import Context

    cells = _sample(130)
    acc = load_benchmark("nb201").accuracy(cells, "cifar10")
    sel = get_selector("ctnas", seed=0, device="cpu", labels=30, nac_epochs=max(1, round(50 * scale)),
                       pl_iters=max(1, round(150 * scale)), derive_every=50, pseudo_every=50, embedding_dim=64)
    ctx = Context(space="nb201", dataset="cifar10", seed=0, labelled=dict(zip(cells[:30], acc[:30])))
    t = time.perf_counter()
    scores = sel.score(cells[30:], ctx)             # the first score() trains, as in a run
    seconds = time.perf_counter() - t
    return seconds, spearman(scores, acc[30:])


def _supernet(mode: str, steps: int) -> tuple[float, float]:
    import tempfile

    from benchsuite.data.images import load_images
    from benchsuite.supernet.config import preset_config
    from benchsuite.supernet.data import SearchData
    from benchsuite.supernet.trainer import train_supernet

    images = load_images("cifar10")
    limit = 2 * 64 * steps                          # weight half + architecture half, one epoch
    cfg = preset_config(mode, "cpu", epochs=1, steps_per_epoch=steps, limit=limit, image_source=images.source)
    data = SearchData.from_images(images, num_classes=10, seed=0, limit=limit)
    with tempfile.TemporaryDirectory() as root:     # never resume a checkpoint from the cache
        net = train_supernet(cfg, data, root=root)
    epoch = net.history[-1]                         # the step loop's own time: no build, no checkpoint
    return epoch["seconds"], epoch["train_loss"]


def worker(name: str, n: int, scale: float) -> None:
    import torch

    from benchsuite.threads import set_threads

    set_threads(n)
    if name == "synflow":
        seconds, check = _synflow(scale)
    elif name == "ctnas":
        seconds, check = _ctnas(scale)
    else:
        mode = name.split("-", 1)[1]
        seconds, check = _supernet(mode, max(1, round((10 if mode == "spos" else 2) * scale)))
    print("RESULT " + json.dumps({"seconds": seconds, "check": check, "torch_threads": torch.get_num_threads(),
                                  "interop": torch.get_num_interop_threads()}), flush=True)


# ----------------------------------------------------------------------------- driver
def measure(name: str, n: int, scale: float, timeout: float) -> dict | None:
    """One workload at ``n`` threads in a fresh process; None if it failed or ran out of time."""
    cmd = [sys.executable, __file__, "--worker", name, "--n", str(n), "--scale", str(scale)]
    env = {**os.environ, **thread_env(n)}
    try:
        proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"    {name} threads={n}: over {timeout:.0f} s, stopped", flush=True)
        return None
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        print(f"    {name} threads={n}: failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}", flush=True)
        return None
    return json.loads(lines[-1][len("RESULT "):])


def start_load(count: int) -> list[subprocess.Popen]:
    """``count`` processes that keep a core busy each (a pure-Python loop: no threads of its own)."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def stop_load(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait()


def loadavg() -> str:
    try:
        return "/".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def thread_counts(spec: str) -> list[int]:
    cpus = os.cpu_count() or 1
    parts = [s.strip() for s in spec.split(",")]
    explicit = {int(s) for s in parts if s != "all"}
    if "all" in parts and cpus in explicit:
        print(f"note: all cores = os.cpu_count() = {cpus}, already in the list, so measured once")
    return sorted(explicit | ({cpus} if "all" in parts else set()))


def run_once(load: int, counts: list[int], a) -> dict[tuple[str, int], list[float]]:
    print(f"\n=== {'quiet' if not load else f'loaded: {load} busy-loop process(es)'}; "
          f"load average before {loadavg()} (1/5/15 min) ===", flush=True)
    procs = start_load(load)
    times: dict[tuple[str, int], list[float]] = {}
    try:
        if procs:
            time.sleep(1.0)                        # let the load processes start spinning
        for rep in range(1, a.repeats + 1):
            # round robin, the order reversed every other round: the counts share each stretch of
            # load, and neither always runs first
            order = counts if rep % 2 else counts[::-1]
            for name in a.workloads:
                for n in order:
                    r = measure(name, n, a.scale, a.timeout)
                    if r is None:
                        continue
                    times.setdefault((name, n), []).append(r["seconds"])
                    print(f"  round {rep} {name:<15} threads={n} (torch {r['torch_threads']}, interop "
                          f"{r['interop']}): {r['seconds']:7.2f} s  check {r['check']:.4f}  "
                          f"load avg {loadavg()}", flush=True)
    finally:
        stop_load(procs)
    print(f"\nmedians ({'quiet' if not load else f'--load {load}'}), ratio = time / time at 1 thread; "
          f"load average after {loadavg()}:")
    print(f"  {'workload':<15} " + " ".join(f"{f'{n} thr':>10} {'ratio':>6}" for n in counts))
    for name in a.workloads:
        med = {n: statistics.median(times[(name, n)]) for n in counts if (name, n) in times}
        base = med.get(1)
        cells = []
        for n in counts:
            if n not in med:
                cells.append(f"{'-':>10} {'-':>6}")
            else:
                ratio = f"{med[n] / base:6.2f}" if base else f"{'-':>6}"
                cells.append(f"{med[n]:9.2f}s {ratio}")
        print(f"  {name:<15} " + " ".join(cells), flush=True)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3, help="rounds over the thread counts")
    ap.add_argument("--threads", default="1,2,all", help="thread counts; all = os.cpu_count()")
    ap.add_argument("--load", default="0", help="busy processes during the measurements; a list measures each")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply each workload's size")
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds before one measurement is stopped")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        worker(a.worker, a.n, a.scale)
        return
    a.workloads = a.workloads.split(",")
    unknown = set(a.workloads) - set(WORKLOADS)
    if unknown:
        ap.error(f"unknown workload(s) {', '.join(sorted(unknown))}; known: {', '.join(WORKLOADS)}")
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = "?"
    print(f"os.cpu_count()={os.cpu_count()} usable cores={affinity} repeats={a.repeats} scale={a.scale} "
          f"python={sys.version.split()[0]}")
    counts = thread_counts(a.threads)
    for load in (int(x) for x in a.load.split(",")):
        run_once(load, counts, a)


if __name__ == "__main__":
    main()
