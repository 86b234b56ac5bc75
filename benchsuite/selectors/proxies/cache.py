"""On-disk cache of proxy values, keyed by (space, canonical cell, seed, batch, version).

One append-only JSON-lines file per (space, seed, batch config, code version); each line holds
every proxy value computed for one canonical cell. Appending is safe under interruption: a
truncated last line is ignored on reading.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np

from ...benchmarks.sources import cache_dir


class ProxyCache:
    """Use ``ProxyCache.open``: one instance per file and process, so scoring a cell at a time does
    not re-read the whole file for every cell."""

    _open: dict[Path, ProxyCache] = {}

    @classmethod
    def open(cls, space: str, key: dict, root: str | os.PathLike | None = None) -> ProxyCache:
        probe = cls._path(space, key, root)
        cache = cls._open.get(probe[0])
        if cache is None or (cache.writable and not probe[0].is_file()):   # a removed file is a fresh cache
            cache = cls._open[probe[0]] = cls(space, key, root)
        return cache

    @staticmethod
    def _path(space: str, key: dict, root) -> tuple[Path, str]:
        blob = json.dumps({"space": space, **key}, sort_keys=True)
        name = hashlib.sha256(blob.encode()).hexdigest()[:20]
        folder = Path(root) if root else cache_dir() / "proxies"
        return folder / f"{space}-{name}.jsonl", blob

    def __init__(self, space: str, key: dict, root: str | os.PathLike | None = None):
        self.path, blob = self._path(space, key, root)
        self.key = blob
        self.values: dict[str, dict[str, float]] = {}
        self.hits = self.misses = 0
        self.writable = True
        if self.path.is_file():
            for line in self.path.read_text().splitlines()[1:]:
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut short by an interruption
                self.values.setdefault(rec["cell"], {}).update(rec["values"])
        else:
            def create():
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.path.write_text(blob + "\n")
            self._write(create)

    def _write(self, action) -> None:
        """The cache only saves time: when it cannot be written (read-only, full disk) the run goes on
        without it, and says so once."""
        if not self.writable:
            return
        try:
            action()
        except OSError as e:
            self.writable = False
            print(f"benchsuite: note: proxy cache {self.path} cannot be written ({e.strerror or e}); "
                  "going on without caching", file=sys.stderr)

    def get(self, cell: str, names: set[str]) -> dict[str, float] | None:
        have = self.values.get(cell)
        if have is not None and names <= set(have):
            self.hits += 1
            return {n: have[n] for n in names}
        self.misses += 1
        return None

    def put(self, cell: str, values: dict[str, float]) -> None:
        self.values.setdefault(cell, {}).update(values)
        line = json.dumps({"cell": cell, "values": values}) + "\n"

        def append():
            with open(self.path, "a") as f:
                f.write(line)
        self._write(append)


def score_with_cache(archs, ctx, cache: ProxyCache, wanted: str, compute_cell, *, compute_cells=None,
                     chunk: int = 1) -> np.ndarray:
    """Score each arch via its canonical cell: served from ``cache`` when present, else
    ``compute_cell(representative_arch) -> {name: value}`` is run once per canonical cell and
    stored. The representative of an NB201 class is its first cell in official index order, so a
    cell's score never depends on which other cells are scored with it. With ``compute_cells``
    (representatives -> list of dicts) and ``chunk`` > 1 the missing cells are computed ``chunk``
    at a time (the packed GPU path)."""
    from ...spaces import get_space

    space = get_space(ctx.space)
    cells = [space.canonical(a) for a in archs]
    pending: dict[str, str] = {}  # canonical cell -> representative, in first-seen order
    for arch, cell in zip(archs, cells):
        if cell in pending:
            cache.hits += 1  # served by the computation this call makes anyway
        elif cache.get(cell, {wanted}) is None:
            pending[cell] = nb201_representatives()[cell] if ctx.space == "nb201" else arch
    todo = list(pending.items())
    step = chunk if compute_cells is not None and chunk > 1 else 1
    for i in range(0, len(todo), step):
        part = todo[i:i + step]
        values = compute_cells([rep for _, rep in part]) if step > 1 else [compute_cell(part[0][1])]
        for (cell, _), v in zip(part, values):
            cache.put(cell, v)
    return np.array([cache.values[cell][wanted] for cell in cells], dtype=float)


_REPS: dict[str, str] = {}


def nb201_representatives() -> dict[str, str]:
    """canonical form -> the first cell (official index order) that has it."""
    if not _REPS:
        from ...spaces import nb201

        for a in nb201.all_archs():
            _REPS.setdefault(nb201.canonical(a), a)
    return _REPS
