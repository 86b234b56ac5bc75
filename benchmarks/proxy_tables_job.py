"""Compute training-free proxies on every NB-201 isomorphism class (and the NB-101 bundle's cells):
the shards the package's all-cell tables are built from (``benchmarks/build_proxy_tables.py``).

    BENCHSUITE_DATA=../shared/data python benchmarks/proxy_tables_job.py \
        [--proxies params,l2_norm,...] [--tables nb201-cifar10,nb201-cifar100,nb101-cifar10] \
        [--out results/zero_cost_all/shards] [--workers 2] [--shard-size 250] [--device cpu]

Each of NB-201's 6,466 classes is computed once, on its first cell in official order (the cell every
selector computes it on; ``params`` and ``flops``, functions of the cell itself, on every cell), and
on NB-101 (``nb101-cifar10``) each of the bundle's 301 cells, by
the selector itself at its default settings, seed 0, one torch thread per process (``--workers``
processes), on the CPU unless ``--device`` names a GPU (where one is lent: one worker there; the
shard records its device). The work is cut into shards of ``--shard-size`` classes; a finished shard is written as
``<out>/<table>/<proxy>/shard-NNN.csv`` (official index, value) and then ``shard-NNN.json``
(seconds, settings, images, version), each atomically, so an interruption loses at most the shards
in progress and a rerun skips every finished one. Tables run in the order given (CIFAR-10 first),
proxies in the order given (cheapest first by default), so an interrupted job leaves whole proxies.
A new proxy is a new folder: the others are not recomputed.

The proxies one forward feeds (snip, grad_norm, fisher, grasp, jacov, naswot: ``measures.SHARED``)
asked for together are computed in one pass per shard, as ``share=True`` computes them, and each is
then read back from the proxy cache through its own selector at its default settings, so its shard
records those settings; the values are the ones each computes alone (the forward is the same
train-mode forward; ``measures.py``). Such a shard's ``seconds`` is the shared pass's and its
``shared_pass`` lists the proxies that pass computed. ``--alone`` computes every proxy by itself.

A shard records the code versions its values were computed with (``measure_versions``: the cache
versions of ``measures.py`` and ``extra.TABLE``; a shard without them predates them, version 1).
``--refresh-nan`` recomputes, in finished shards of the proxies given, only the cells stored as NaN,
with the current code, and records them (``refreshed``): for a change that only turns a NaN into a
value (measures v2, zen v2, AZ-NAS v2: a reference's -inf kept as -inf), the finite values stand.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from multiprocessing import get_context
from pathlib import Path

import numpy as np

# cheapest first (docs/speed.md, seconds per cell on one thread); the expensive ones last
DEFAULT_PROXIES = ("params", "flops", "l2_norm", "tenas_lr", "az_complexity", "synflow", "meco_opt", "meco",
                   "zen", "plain", "snip", "grad_norm", "fisher", "grasp", "jacov", "naswot", "zico",
                   "az_expressivity", "az_trainability", "az_progressivity", "gradsign", "swap", "epe_nas",
                   "tenas_ntk")
# Functions of the cell itself rather than of the network it computes: a conv cut off from the
# output still counts, so isomorphic cells differ; computed on every cell (milliseconds each).
PER_CELL = ("params", "flops")
# table -> (space, the dataset its proxies are computed for: images and classes)
TABLES = {"nb201-cifar10": ("nb201", "cifar10"), "nb201-cifar100": ("nb201", "cifar100"),
          "nb101-cifar10": ("nb101", "cifar10")}


def representatives() -> list[int]:
    """Official index of each class's first cell, in index order."""
    from benchsuite.selectors.proxies.cache import nb201_representatives
    from benchsuite.spaces import nb201

    index = {a: i for i, a in enumerate(nb201.all_archs())}
    return sorted(index[a] for a in nb201_representatives().values())


def groups(proxies: list[str], alone: bool) -> list[tuple[str, ...]]:
    """The proxies in computing units: those one pass computes together (zero-cost-nas's shared
    forward; AZ-NAS's three feature components) as one unit each, in the order given, the others
    one by one. A unit is one task, so two workers never compute the same pass for one shard."""
    from benchsuite.selectors.proxies.aznas import ONE_PASS
    from benchsuite.selectors.proxies.measures import SHARED

    if alone:
        return [(p,) for p in proxies]
    units: list[tuple[str, ...]] = []
    for p in proxies:
        if any(p in u for u in units):
            continue
        family = next((f for f in (SHARED, ONE_PASS) if p in f), frozenset())
        together = tuple(q for q in proxies if q in family)
        units.append(together if len(together) > 1 else (p,))
    return units


def joint_selector(unit: tuple[str, ...], device: str = "cpu"):
    """A selector (seed 0, defaults) that computes every proxy of ``unit`` in one pass and caches each
    under its own name, as ``share=True`` does, for these proxies only."""
    from benchsuite import SELECTORS

    joint = SELECTORS.get(unit[0])(seed=0, device=device)
    joint._names = lambda: set(unit)
    return joint


def run_shard(task: tuple) -> tuple[str, str, int, int, float]:
    table, unit, number, indices, out, data_dir, device = task
    from benchsuite import proxy_tables
    from benchsuite.selectors.base import Context
    from benchsuite.threads import set_threads

    set_threads(1)
    space, dataset = TABLES[table]
    ctx = Context(space=space, dataset=dataset, seed=0, device=device, data_dir=data_dir)
    every = proxy_tables.cells_of(space)
    cells = [every[i] for i in indices]
    t0 = time.time()
    if len(unit) > 1:   # one pass fills the proxy cache with all of them
        joint = joint_selector(unit, device)
        joint.preflight(ctx)
        joint.score(cells, ctx)
    seconds = time.time() - t0
    for proxy in unit:
        t1 = time.time()
        values, selector = score_default(proxy, cells, ctx)
        write_shard(Path(out) / table / proxy, number, indices, values, selector, dataset,
                    seconds + time.time() - t1, unit if len(unit) > 1 else None, device)
    return table, ",".join(unit), number, len(indices), time.time() - t0


def measure_versions(selector) -> dict[str, int] | None:
    """The cache versions the selector's values come from, or None for one that keeps no cache."""
    if not hasattr(selector, "_extra_versions"):
        return None
    from benchsuite.selectors.proxies.measures import VERSION

    return {"measures": VERSION, **selector._extra_versions()}


def refresh_nan(task: tuple) -> tuple[str, str, int, int, float]:
    """Recompute the NaN cells of one finished shard with the current code (see the docstring)."""
    table, proxy, number, out, data_dir, device = task
    import pandas as pd

    from benchsuite import proxy_tables
    from benchsuite.selectors.base import Context
    from benchsuite.threads import set_threads

    set_threads(1)
    space, dataset = TABLES[table]
    csv = Path(out) / table / proxy / f"shard-{number:03d}.csv"
    d = pd.read_csv(csv)
    stale = d.index[d.value.isna()].tolist()
    t0 = time.time()
    if stale:
        ctx = Context(space=space, dataset=dataset, seed=0, device=device, data_dir=data_dir)
        every = proxy_tables.cells_of(space)
        values, selector = score_default(proxy, [every[int(d.loc[i, "index"])] for i in stale], ctx)
        d.loc[stale, "value"] = np.asarray(values, dtype=float)
        meta = json.loads(csv.with_suffix(".json").read_text())
        meta["refreshed"] = {"indices": [int(d.loc[i, "index"]) for i in stale], "seconds": round(time.time() - t0, 3),
                             "measure_versions": measure_versions(selector), "device": device,
                             "why": "cells stored as NaN recomputed with the current code (--refresh-nan)"}
        write_shard(csv.parent, number, d["index"].astype(int).tolist(), d.value.to_numpy(), selector, dataset,
                    meta["seconds"], tuple(meta.get("shared_pass", ())) or None, device, keep=meta)
    return table, proxy, number, len(stale), time.time() - t0


def score_default(proxy: str, cells: list[str], ctx) -> tuple:
    """``proxy`` at its default settings, seed 0, on ``cells`` (from the cache a shared pass filled), on
    ``ctx.device`` where the selector computes on a device (``params`` and ``flops`` do not)."""
    from benchsuite import SELECTORS
    from benchsuite.hparams import keyword_params

    cls = SELECTORS.get(proxy)
    selector = cls(seed=0, **({"device": ctx.device} if "device" in keyword_params(cls) else {}))
    selector.preflight(ctx)
    return selector.score(cells, ctx), selector


def write_shard(folder: Path, number: int, indices: list[int], values, selector, dataset: str, seconds: float,
                shared: tuple[str, ...] | None, device: str, keep: dict | None = None) -> None:
    """``shard-NNN.csv`` (official index, value), then ``shard-NNN.json``, each written atomically;
    ``keep``: the json to write (a refreshed shard keeps what it recorded)."""
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / f"shard-{number:03d}.csv"
    tmp = csv.with_suffix(".csv.part")
    tmp.write_text("index,value\n" + "".join(f"{i},{float(v)!r}\n" for i, v in zip(indices, values)))
    os.replace(tmp, csv)
    from benchsuite import __version__

    images = getattr(selector, "_images", None)
    meta = {"cells": len(indices), "seconds": round(seconds, 3), "seed": 0, "dataset": dataset,
            "settings": {k: v for k, v in selector.hparams().items() if k not in ("seed", "device")},
            "images": list(images) if images else None, "benchsuite": __version__, "threads": 1,
            "device": device}
    if measure_versions(selector):
        meta["measure_versions"] = measure_versions(selector)
    if shared:
        meta["shared_pass"] = sorted(shared)
    meta = keep if keep is not None else meta
    tmp = csv.with_suffix(".json.part")
    tmp.write_text(json.dumps(meta, indent=1, sort_keys=True))
    os.replace(tmp, csv.with_suffix(".json"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--proxies", default=",".join(DEFAULT_PROXIES))
    ap.add_argument("--tables", default=",".join(TABLES))
    ap.add_argument("--out", default="results/zero_cost_all/shards")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--shard-size", type=int, default=250)
    ap.add_argument("--classes", type=int, default=None, help="only the first N classes (a smoke run)")
    ap.add_argument("--alone", action="store_true", help="compute each proxy by itself, no shared pass")
    ap.add_argument("--refresh-nan", action="store_true",
                    help="recompute only the NaN cells of finished shards with the current code")
    ap.add_argument("--device", default="cpu", help="cpu | cuda[:N] | auto (a GPU where one is visible)")
    args = ap.parse_args(argv)
    from benchsuite.config import check_device
    from benchsuite.errors import ConfigError
    from benchsuite.runner import resolve_device

    try:
        device = resolve_device(check_device(args.device), True)
    except ConfigError as e:
        sys.exit(f"proxy_tables_job: {e}")
    # `kill PID` (SIGTERM) would end this process alone and leave its pool's workers computing
    # shards nobody collects: leave through the pools' context managers instead, which terminate them
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    from benchsuite import SELECTORS
    from benchsuite.progress import Progress

    proxies = [p for p in args.proxies.split(",") if p]
    tables = [t for t in args.tables.split(",") if t]
    for p in proxies:
        SELECTORS.get(p)   # an unknown name fails here, listing the known ones
    for t in tables:
        if t not in TABLES:
            sys.exit(f"proxy_tables_job: unknown table {t!r}; known: {', '.join(TABLES)}")
    from benchsuite import proxy_tables

    reps = representatives()[:args.classes]
    every = {space: list(range(len(proxy_tables.cells_of(space))))[:args.classes]
             for space in {TABLES[t][0] for t in tables}}

    def shards(table: str, unit: tuple[str, ...]) -> list[list[int]]:
        space = TABLES[table][0]   # NB-101's bundle cells are all computed: no class is shared there
        cells = every[space] if unit[0] in PER_CELL or space != "nb201" else reps
        return [cells[i:i + args.shard_size] for i in range(0, len(cells), args.shard_size)]

    def done(table: str, proxy: str, number: int) -> bool:
        return (Path(args.out) / table / proxy / f"shard-{number:03d}.json").is_file()

    data_dir = os.environ.get("BENCHSUITE_DATA")
    if args.refresh_nan:
        jobs = [(t, p, n, args.out, data_dir, device) for t in tables for p in proxies
                for n in range(len(shards(t, (p,)))) if done(t, p, n)]
        with get_context("spawn").Pool(args.workers) as pool:
            for table, proxy, number, n, s in pool.imap(refresh_nan, jobs):
                if n:
                    print(f"{table} {proxy} shard {number:03d}: {n} NaN cells recomputed in {s:.1f} s", flush=True)
        return 0
    units = groups(proxies, args.alone)
    # shard by shard, each unit's shard n before any unit's shard n+1: an interrupted job leaves the
    # same finished shards for every proxy
    tasks = sorted(((t, unit, n, s) for t in tables for unit in units for n, s in enumerate(shards(t, unit))),
                   key=lambda task: (tables.index(task[0]), task[2]))
    # a rerun computes only the proxies a shard still lacks (a shared pass only for two or more)
    todo = [(t, left, n, s, args.out, data_dir, device) for t, unit, n, s in tasks
            if (left := tuple(p for p in unit if not done(t, p, n)))]
    sizes = ", ".join(f"{t}: {len(reps) if TABLES[t][0] == 'nb201' else len(every[TABLES[t][0]])}" for t in tables)
    print(f"classes per table {sizes} (every cell for {', '.join(PER_CELL)}); {len(tasks) - len(todo)} of {len(tasks)} "
          f"shards done, {len(todo)} to go on {args.workers} processes, {device} "
          f"({'; '.join('+'.join(u) for u in units if len(u) > 1) or 'no'} shared pass)", flush=True)
    cells = seconds = 0.0
    t0 = time.time()
    with get_context("spawn").Pool(args.workers) as pool, Progress(len(todo), "proxy shards", unit="shard") as bar:
        for table, unit, number, n, s in pool.imap(run_shard, todo):
            cells, seconds = cells + n, seconds + s
            bar.update(1)
            print(f"{table} {unit} shard {number:03d}: {n} classes in {s:.1f} s ({n / s:.1f} cells/s); "
                  f"{cells / (time.time() - t0):.2f} classes/s overall", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
