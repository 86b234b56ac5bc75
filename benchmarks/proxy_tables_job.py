"""Compute training-free proxies on every NB-201 isomorphism class: the shards the package's
all-cell tables are built from (``benchmarks/build_proxy_tables.py``).

    BENCHSUITE_DATA=../shared/data python benchmarks/proxy_tables_job.py \
        [--proxies params,l2_norm,...] [--tables nb201-cifar10,nb201-cifar100] \
        [--out results/zero_cost_all/shards] [--workers 2] [--shard-size 250]

Each of the 6,466 classes is computed once, on its first cell in official order (the cell every
selector computes it on; ``params`` and ``flops``, functions of the cell itself, on every cell), by
the selector itself at its default settings, seed 0, one torch thread per process (``--workers``
processes). The work is cut into shards of ``--shard-size`` classes; a finished shard is written as
``<out>/<table>/<proxy>/shard-NNN.csv`` (official index, value) and then ``shard-NNN.json``
(seconds, settings, images, version), each atomically, so an interruption loses at most the shards
in progress and a rerun skips every finished one. Tables run in the order given (CIFAR-10 first),
proxies in the order given (cheapest first by default), so an interrupted job leaves whole proxies.
A new proxy is a new folder: the others are not recomputed.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from multiprocessing import get_context
from pathlib import Path

# cheapest first (docs/speed.md, seconds per cell on one thread); the expensive ones last
DEFAULT_PROXIES = ("params", "flops", "l2_norm", "tenas_lr", "az_complexity", "synflow", "meco_opt", "meco",
                   "zen", "plain", "snip", "grad_norm", "fisher", "grasp", "jacov", "naswot", "zico",
                   "az_expressivity", "az_trainability", "az_progressivity", "gradsign", "swap", "epe_nas",
                   "tenas_ntk")
# Functions of the cell itself rather than of the network it computes: a conv cut off from the
# output still counts, so isomorphic cells differ; computed on every cell (milliseconds each).
PER_CELL = ("params", "flops")
# table -> the dataset its proxies are computed for (images and classes)
TABLES = {"nb201-cifar10": "cifar10", "nb201-cifar100": "cifar100"}


def representatives() -> list[int]:
    """Official index of each class's first cell, in index order."""
    from benchsuite.selectors.proxies.cache import nb201_representatives
    from benchsuite.spaces import nb201

    index = {a: i for i, a in enumerate(nb201.all_archs())}
    return sorted(index[a] for a in nb201_representatives().values())


def run_shard(task: tuple) -> tuple[str, str, int, int, float]:
    table, proxy, number, indices, out, data_dir = task
    from benchsuite import SELECTORS
    from benchsuite.selectors.base import Context
    from benchsuite.spaces import nb201
    from benchsuite.threads import set_threads

    set_threads(1)
    selector = SELECTORS.get(proxy)(seed=0)
    ctx = Context(space="nb201", dataset=TABLES[table], seed=0, device="cpu", data_dir=data_dir)
    archs = nb201.all_archs()
    t0 = time.time()
    selector.preflight(ctx)
    values = selector.score([archs[i] for i in indices], ctx)
    seconds = time.time() - t0
    folder = Path(out) / table / proxy
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / f"shard-{number:03d}.csv"
    tmp = csv.with_suffix(".csv.part")
    tmp.write_text("index,value\n" + "".join(f"{i},{float(v)!r}\n" for i, v in zip(indices, values)))
    os.replace(tmp, csv)
    from benchsuite import __version__

    images = getattr(selector, "_images", None)
    meta = {"cells": len(indices), "seconds": round(seconds, 3), "seed": 0, "dataset": TABLES[table],
            "settings": {k: v for k, v in selector.hparams().items() if k not in ("seed", "device")},
            "images": list(images) if images else None, "benchsuite": __version__, "threads": 1}
    tmp = csv.with_suffix(".json.part")
    tmp.write_text(json.dumps(meta, indent=1, sort_keys=True))
    os.replace(tmp, csv.with_suffix(".json"))
    return table, proxy, number, len(indices), seconds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--proxies", default=",".join(DEFAULT_PROXIES))
    ap.add_argument("--tables", default=",".join(TABLES))
    ap.add_argument("--out", default="results/zero_cost_all/shards")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--shard-size", type=int, default=250)
    ap.add_argument("--classes", type=int, default=None, help="only the first N classes (a smoke run)")
    args = ap.parse_args(argv)
    from benchsuite import SELECTORS
    from benchsuite.progress import Progress

    proxies = [p for p in args.proxies.split(",") if p]
    tables = [t for t in args.tables.split(",") if t]
    for p in proxies:
        SELECTORS.get(p)   # an unknown name fails here, listing the known ones
    for t in tables:
        if t not in TABLES:
            sys.exit(f"proxy_tables_job: unknown table {t!r}; known: {', '.join(TABLES)}")
    from benchsuite.spaces import nb201

    reps = representatives()[:args.classes]
    every = list(range(len(nb201.all_archs())))[:args.classes]

    def shards(p: str) -> list[list[int]]:
        cells = every if p in PER_CELL else reps
        return [cells[i:i + args.shard_size] for i in range(0, len(cells), args.shard_size)]

    data_dir = os.environ.get("BENCHSUITE_DATA")
    tasks = [(t, p, n, s, args.out, data_dir) for t in tables for p in proxies for n, s in enumerate(shards(p))]
    todo = [x for x in tasks if not (Path(args.out) / x[0] / x[1] / f"shard-{x[2]:03d}.json").is_file()]
    print(f"{len(reps)} classes (every cell for {', '.join(PER_CELL)}); {len(tasks) - len(todo)} of {len(tasks)} "
          f"shards done, {len(todo)} to go on {args.workers} processes", flush=True)
    cells = seconds = 0.0
    t0 = time.time()
    with get_context("spawn").Pool(args.workers) as pool, Progress(len(todo), "proxy shards", unit="shard") as bar:
        for table, proxy, number, n, s in pool.imap(run_shard, todo):
            cells, seconds = cells + n, seconds + s
            bar.update(1)
            print(f"{table} {proxy} shard {number:03d}: {n} classes in {s:.1f} s ({n / s:.1f} cells/s); "
                  f"{cells / (time.time() - t0):.2f} classes/s overall", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
