"""Build the package's all-cell proxy tables from the job's shards, or check the shipped ones.

    python benchmarks/build_proxy_tables.py [--shards results/zero_cost_all/shards]
        [--into benchsuite/data/proxy_tables] [--check]

For each table folder of ``--shards`` (``nb201-cifar10``, ``nb201-cifar100``, ``nb101-cifar10``),
every proxy whose shards cover all 6,466 isomorphism classes (NB-101: all the bundle's 301 cells)
goes in as a column (a partial one is listed and left out; ``params`` and ``flops`` are computed
on every cell). An NB-201 table has one row per cell in official order: ``index``, ``class`` (the
official index of its class's first cell, where a proxy's value was computed) and the proxies,
sorted by name; an NB-101 table ``index``, ``arch`` (the bundle's cells in the embedded table's
order) and the proxies. It is
written as xz-compressed CSV (each value's shortest exact repr) beside ``manifest.json``, which
pins its SHA-256 and records each proxy's settings, images, version and compute time. The bytes
are a function of the shards alone, so ``--check`` rebuilds them and fails when the shipped files
or their checksums differ (CI runs it through the tests).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchsuite import proxy_tables  # noqa: E402

SERVED = {"nb201-cifar10": ["cifar10", "cifar10-valid"], "nb201-cifar100": ["cifar100"], "nb101-cifar10": ["cifar10"]}


def classes() -> list[int]:
    """For each cell (official order) the official index of its class's first cell."""
    from benchsuite.spaces import nb201

    first: dict[str, int] = {}
    return [first.setdefault(nb201.canonical(a), i) for i, a in enumerate(nb201.all_archs())]


def read_proxy(folder: Path, n_classes: int, n_cells: int) -> tuple[dict[int, float], dict] | None:
    """A proxy's values by class index (by cell index for a per-cell one: params, flops) and its
    record, or None when its shards are incomplete."""
    values: dict[int, float] = {}
    seconds, meta = 0.0, None
    for js in sorted(folder.glob("shard-*.json")):
        part = pd.read_csv(js.with_suffix(".csv"))
        values.update(zip(part["index"].astype(int), part["value"].astype(float)))
        m = json.loads(js.read_text())
        seconds += m["seconds"]
        if meta is not None and (m["settings"], m["images"], m["benchsuite"]) != \
                (meta["settings"], meta["images"], meta["benchsuite"]):
            sys.exit(f"build_proxy_tables: {js} was computed with other settings than its siblings; recompute it")
        meta = m
    per = "cell" if len(values) == n_cells else "class"
    if len(values) < n_classes or (per == "class" and len(values) != n_classes):
        print(f"  {folder.name}: {len(values)} of {n_classes} classes, left out")
        return None
    record = {"settings": meta["settings"], "images": meta["images"], "benchsuite": meta["benchsuite"],
              "seed": meta["seed"], "computed_per": per, "computed": len(values),
              "compute_seconds": round(seconds, 1), "threads": meta["threads"]}
    if "shared_pass" in meta:   # computed in one pass with these (compute_seconds: that pass's, summed)
        record["shared_pass"] = meta["shared_pass"]
    return values, record


def build(shards: Path) -> dict[str, tuple[bytes, dict]]:
    """Table name -> (file bytes, manifest entry)."""
    out = {}
    for folder in sorted(p for p in shards.iterdir() if p.is_dir()):
        print(folder.name)
        space = folder.name.split("-", 1)[0]
        if space == "nb201":   # a row per cell, its class's value; the class is the cell's own on NB-101
            cls = classes()
            rows = {"index": range(len(cls)), "class": cls}
        else:
            cells = proxy_tables.cells_of(space)
            cls = list(range(len(cells)))
            rows = {"index": cls, "arch": cells}
        n_classes = len(set(cls))
        columns, records = {}, {}
        for pdir in sorted(p for p in folder.iterdir() if p.is_dir()):
            got = read_proxy(pdir, n_classes, len(cls))
            if got:
                per_cell = got[1]["computed_per"] == "cell"
                columns[pdir.name] = [got[0][i if per_cell else c] for i, c in enumerate(cls)]
                records[pdir.name] = got[1]
        if not columns:
            continue
        table = pd.DataFrame({**rows, **columns})
        raw = proxy_tables.encode(table)
        entry = {"file": f"{folder.name}.csv.xz", "sha256": hashlib.sha256(raw).hexdigest(), "space": space,
                 "serves": SERVED[folder.name], "seed": 0, "cells": len(cls), "proxies": records}
        out[folder.name] = (raw, entry)
        print(f"  {len(columns)} proxies: {', '.join(columns)}; {len(raw) / 1024:.0f} KiB")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shards", default=str(ROOT / "results" / "zero_cost_all" / "shards"))
    ap.add_argument("--into", default=str(ROOT / "benchsuite" / "data" / "proxy_tables"))
    ap.add_argument("--check", action="store_true", help="rebuild in memory and compare with the shipped files")
    args = ap.parse_args(argv)
    built = build(Path(args.shards))
    into = Path(args.into)
    manifest = {name: entry for name, (_, entry) in built.items()}
    if args.check:
        shipped = json.loads((into / "manifest.json").read_text()) if (into / "manifest.json").is_file() else {}
        bad = [n for n in set(manifest) | set(shipped) if manifest.get(n) != shipped.get(n)]
        bad += [n for n, (raw, e) in built.items() if (into / e["file"]).is_file()
                and hashlib.sha256((into / e["file"]).read_bytes()).hexdigest() != e["sha256"]]
        if bad:
            print(f"build_proxy_tables --check: shipped tables differ from the shards' build: {', '.join(sorted(bad))}")
            return 1
        print("build_proxy_tables --check: shipped tables equal the build")
        return 0
    into.mkdir(parents=True, exist_ok=True)
    for raw, entry in built.values():
        (into / entry["file"]).write_bytes(raw)
    (into / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
