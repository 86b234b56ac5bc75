"""Every proxy on every cell, shipped in the package: the all-cell score tables.

``benchsuite/data/proxy_tables/`` holds one compressed table per (space, image set): NB-201 with
CIFAR-10 images (serving the ``cifar10`` and ``cifar10-valid`` datasets, 10 classes) and with
CIFAR-100 images (``cifar100``). A table has one row per cell in official index order, its
isomorphism class (the official index of the class's first cell, on which the class was computed
once) and one column per proxy at its default settings, seed 0. ``manifest.json`` pins each file's
SHA-256 and records, per proxy, the hyperparameters, images and code version it was computed with
and its compute time. The files are built by ``benchmarks/build_proxy_tables.py`` from the shards
of ``benchmarks/proxy_tables_job.py``; a file whose checksum differs is refused, never read.

The runner answers a ranking run from a table (``serving``) when every seed is the table's, the
dataset is one the table serves and the selector's hyperparameters are the recorded ones; any other
setting, or ``--compute``, computes as usual. An aggregate of proxies (``vote``, ``tenas``,
``az_nas``) declares its components (``table_parts``) and how it combines their scores
(``combine``); it is answered when the table holds every component at the settings the aggregate
gives it, and combines the looked-up columns exactly as it combines computed ones.
"""
from __future__ import annotations

import hashlib
import io
import json
import lzma
import tempfile
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from .errors import BenchsuiteError, ConfigError

# (space, dataset) -> table name: the datasets whose proxies see the same images and classes
SERVES = {("nb201", "cifar10"): "nb201-cifar10", ("nb201", "cifar10-valid"): "nb201-cifar10",
          ("nb201", "cifar100"): "nb201-cifar100", ("nb101", "cifar10"): "nb101-cifar10"}
# What a served run may differ in from the table's settings without changing a value.
NOT_SETTINGS = ("seed", "device")


def _folder():
    return resources.files("benchsuite") / "data" / "proxy_tables"


@lru_cache(maxsize=1)
def manifest() -> dict[str, Any]:
    """The tables shipped with this package ({} where none is)."""
    path = _folder() / "manifest.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def table_bytes(name: str) -> bytes:
    """A table file's bytes, checked against the manifest's SHA-256."""
    entry = manifest().get(name)
    if entry is None:
        raise ConfigError(f"no shipped proxy table {name!r}; shipped: {', '.join(sorted(manifest())) or 'none'}")
    raw = (_folder() / entry["file"]).read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != entry["sha256"]:
        raise BenchsuiteError(f"proxy table {entry['file']} has SHA-256 {digest[:16]}…, not the pinned "
                              f"{entry['sha256'][:16]}…: the package's data is damaged; reinstall it")
    return raw


@lru_cache(maxsize=4)
def load(name: str) -> pd.DataFrame:
    """The table ``name``: index (official cell index), class, one column per proxy."""
    return decode(table_bytes(name))


def decode(raw: bytes) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(lzma.decompress(raw)))


def encode(table: pd.DataFrame) -> bytes:
    """The compact, reproducible form of a table: CSV with each float's shortest exact repr, xz."""
    text = table.to_csv(index=False, float_format=None, lineterminator="\n")
    return lzma.compress(text.encode(), preset=9)


def table_name(space: str, dataset: str) -> str | None:
    return SERVES.get((space, dataset))


def cells_of(space: str) -> list[str]:
    """The cells a table of ``space`` has a row for, in row order: NB-201's 15,625 in official
    order; on NB-101 the bundle's cells (the embedded table's 301, in its order), since no machine
    here has the official NB-101 file."""
    if space == "nb201":
        from .spaces import nb201

        return nb201.all_archs()
    from .benchmarks.nb101 import NB101

    bench = NB101()
    return bench.archs("cifar10", bench.default_fidelity, "valid")


@lru_cache(maxsize=4)
def _rows(name: str) -> dict[str, int]:
    """Cell -> row of table ``name``. NB-101 rows are keyed by the exact arch string, not its
    isomorphism hash: NB-101's network gives the spare channels of a split to the first vertices, so
    two vertex orders of one graph (the bundle holds nine such pairs) differ in params and flops."""
    if manifest()[name]["space"] == "nb201":
        from .spaces import nb201

        return nb201._index_map()
    return {a: i for i, a in enumerate(load(name)["arch"])}


def settings(selector) -> dict[str, Any]:
    """A selector's settings as a table records them: its hyperparameters but the seed and device."""
    return {k: v for k, v in selector.hparams().items() if k not in NOT_SETTINGS}


def parts(name: str, selector) -> dict[str, Any]:
    """The table columns a run of ``name`` reads, each with the selector that computes it: the proxy
    itself, or an aggregate's components (its ``table_parts``)."""
    own = getattr(selector, "table_parts", None)
    return own() if own is not None else {name: selector}


def _covers(table: str, cells) -> bool:
    rows = _rows(table)
    return len(cells) <= manifest()[table]["cells"] and all(a in rows for a in cells)


def serving(name: str, selector, space: str, dataset: str, seeds, *, compute: bool = False,
            table: str | None = None, cells=None) -> dict | None:
    """Where a ranking run of ``name`` would be answered from (the table's manifest entry and the
    proxy's record), or None when it must be computed. ``table`` names the table to answer from
    whatever the dataset (a proxy computed on CIFAR-10 images ranked against another dataset's
    accuracy); a run that table cannot answer is then an error saying why. ``cells``: the cells the
    run may score, which a table of a space's subset (NB-101's bundle) must all hold."""
    chosen = table
    table = table or table_name(space, dataset)
    entry = manifest().get(table) if table else None
    why = None
    if entry is None:
        why = f"no shipped table {table!r} (shipped: {', '.join(sorted(manifest())) or 'none'})"
    elif entry["space"] != space:
        why = f"table {table} holds {entry['space']} cells, not {space}"
    elif cells is not None and entry["space"] != "nb201" and not _covers(table, cells):
        why = f"table {table} holds {entry['cells']} cells (the bundle's) and this run scores others"
    elif any(int(s) != entry["seed"] for s in seeds):
        why = f"table {table} holds seed {entry['seed']} only"
    else:
        columns = parts(name, selector)
        held = entry["proxies"]
        for part, sel in columns.items():
            of = "" if part == name else f" (a component of {name})"
            if part not in held:
                why = f"table {table} holds no {part}{of} (it holds {', '.join(sorted(held))})"
            elif settings(sel) != held[part]["settings"]:
                why = f"table {table} holds {part}{of} at {held[part]['settings']}, not these settings"
            if why:
                break
    if why is not None or compute:
        if chosen and why:
            raise ConfigError(f"--table: {why}")
        return None
    return {"table": f"benchsuite/data/proxy_tables/{entry['file']}", "name": table, "sha256": entry["sha256"],
            "seed": entry["seed"], "images": table.split("-", 1)[1],
            "computed_with": held[name] if name in columns else {p: held[p] for p in columns}}


class Served:
    """A selector answered from a shipped table: ``score`` looks the cells up; everything else
    (hyperparameters, deviations, declarations) is the selector's own, so run.json records what a
    computed run would, plus where the scores came from."""

    def __init__(self, selector, name: str, table: str):
        self._selector, self._name, self._table = selector, name, table
        self._columns = list(parts(name, selector))

    def __getattr__(self, attr):
        if attr == "component_columns" and self._columns != [self._name]:
            return self._looked_up_columns   # an aggregate's components, from the table too
        return getattr(self._selector, attr)

    def _looked_up_columns(self, archs, ctx) -> dict[str, np.ndarray]:
        return dict(zip(self._columns, values(self._table, self._columns, archs).T))

    def preflight(self, ctx) -> None:   # the table needs no images
        pass

    @property
    def score_chunk(self) -> int:
        return 1 << 30

    def score(self, archs, ctx) -> np.ndarray:
        if self._columns == [self._name]:
            return values(self._table, self._columns, archs)[:, 0]
        return self._selector.combine(self._looked_up_columns(archs, ctx))


def values(table: str, names, archs) -> np.ndarray:
    """[len(archs), len(names)]: the table's columns ``names`` at each cell's row (NB-201: its
    official index; NB-101: the row of that very arch string)."""
    index = _rows(table)
    rows = np.array([index[a] for a in archs], dtype=np.int64)
    return load(table)[list(names)].to_numpy(dtype=float)[rows]


def sample_rows(table: str, n: int, *, seed: int = 0) -> list[int]:
    """A seeded sample of ``n`` rows of a shipped table, sorted (the recompute checks' cells)."""
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(len(load(table)), n, replace=False).tolist())


def recompute(table: str, proxy: str, rows, *, data_dir) -> np.ndarray:
    """``proxy``'s values on the cells at ``rows`` of ``table``, computed by the selector itself on
    the CPU at the settings and seed the table recorded, with an empty proxy cache so that nothing
    is looked up: what a shipped column should equal."""
    from .selectors.base import Context
    from .selectors.registry import SELECTORS

    entry = manifest()[table]
    archs = [cells_of(entry["space"])[i] for i in rows]
    selector = SELECTORS.get(proxy)(seed=entry["seed"], **entry["proxies"][proxy]["settings"])
    with tempfile.TemporaryDirectory() as empty_cache:
        ctx = Context(space=entry["space"], dataset=entry["serves"][0], seed=entry["seed"], device="cpu",
                      data_dir=None if data_dir is None else str(data_dir), cache_dir=empty_cache)
        selector.preflight(ctx)
        return np.asarray(selector.score(archs, ctx), dtype=float)


def proxy_table(bench: str = "nb201", dataset: str = "cifar10") -> pd.DataFrame:
    """The shipped table for ``bench`` and ``dataset`` (the images the proxies saw) as a
    DataFrame, for one's own studies: arch, index (official; NB-101: the bundle's row), class (NB-201:
    the index of its isomorphism class's first cell), every proxy the table holds, and every
    accuracy column the benchmark has
    (``<dataset>_<metric>_<epochs>``, e.g. ``cifar10_test_200``, ``imagenet16_valid_12``; NaN
    where a column does not cover a cell)."""
    from .benchmarks.registry import BENCHMARKS
    from .spaces import nb201

    bench_obj = BENCHMARKS.get(bench)()
    name = table_name(bench_obj.space, dataset)
    if name is None or name not in manifest():
        there = sorted(f"{s}/{d}" for (s, d), t in SERVES.items() if t in manifest())
        raise ConfigError(f"no shipped proxy table for {bench} {dataset}; shipped: {', '.join(there) or 'none'}")
    table = load(name).copy()
    table.insert(0, "arch", table.pop("arch") if "arch" in table else nb201.all_archs())
    for c in bench_obj.coverage():
        archs = bench_obj.archs(c.dataset, c.fidelity, c.metric)
        col = dict(zip(archs, bench_obj.accuracy(archs, c.dataset, c.fidelity, c.metric)))
        table[f"{c.dataset}_{c.metric}_{c.fidelity}"] = [col.get(a, np.nan) for a in table.arch]
    return table
