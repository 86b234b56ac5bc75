"""Read the NATS-Bench topology folder ``NATS-tss-v1_0-3ffb9-simple`` (NAS-Bench-201's cells).

Layout (D-X-Y/NATS-Bench ``nats_bench/api_topology.py``, fast mode): ``meta.pickle.pbz2`` holds
``meta_archs`` (the 15,625 cell strings in official index order) and ``{index:06d}.pickle.pbz2``
one cell's results as ``{"12": ArchResults state, "200": ArchResults state}`` — the state layout
NAS-Bench-201's API reads, so the numbers come from ``nas_201_api``'s own ``get_metrics``.

The files are bz2-compressed pickles. They are read by an unpickler that admits exactly the three
globals the official files use (``collections.OrderedDict``, ``numpy.dtype``, numpy's scalar
constructor); any other reference — code a crafted file would run — stops the read with one line
naming it. Nothing else in the folder is opened.
"""
from __future__ import annotations

import bz2
import collections
import hashlib
import io
import pickle
from pathlib import Path

import numpy as np
import pandas as pd

from ...errors import BenchsuiteError
from ...progress import Progress
from ...spaces import nb201 as space
from . import COLUMNS, sha256_memo
from .nb201_pth import arch_rows

META = "meta.pickle.pbz2"


def _numpy_scalar():
    try:
        from numpy._core.multiarray import scalar  # numpy >= 2
    except ImportError:   # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import scalar
    return scalar


_ALLOWED = {("collections", "OrderedDict"): collections.OrderedDict, ("numpy", "dtype"): np.dtype}
_SCALAR_MODULES = ("numpy.core.multiarray", "numpy._core.multiarray")


class _ResultsOnly(pickle.Unpickler):
    def __init__(self, data: bytes, path: Path):
        super().__init__(io.BytesIO(data))
        self.path = path

    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if name == "scalar" and module in _SCALAR_MODULES:
            return _numpy_scalar()
        raise BenchsuiteError(f"{self.path}: refers to {module}.{name}, which a NATS-Bench results file never "
                              "does; refusing to unpickle it")


def load_pickle(path: Path):
    """One ``.pickle.pbz2`` file through the restricted unpickler."""
    try:
        data = bz2.decompress(path.read_bytes())
        return _ResultsOnly(data, path).load()
    except BenchsuiteError:
        raise
    except (OSError, EOFError, ValueError, pickle.UnpicklingError, IndexError, KeyError, TypeError) as e:
        raise BenchsuiteError(f"{path} is not a NATS-Bench results file ({type(e).__name__}: "
                              f"{str(e).splitlines()[0][:120] if str(e) else 'unreadable'})") from None


def _cell_files(folder: Path) -> list[tuple[int, Path]]:
    out = []
    for p in folder.glob("*.pickle.pbz2"):
        stem = p.name.split(".", 1)[0]
        if stem.isdigit() and len(stem) == 6:
            out.append((int(stem), p))
    return sorted(out)


def digest(folder: Path) -> str:
    """SHA-256 over the meta file's and every cell file's name and SHA-256: any changed byte changes it."""
    if not (folder / META).is_file():
        raise BenchsuiteError(f"{folder} is not a NATS-Bench topology folder: it has no {META} "
                              "(expected NATS-tss-v1_0-3ffb9-simple/)")
    h = hashlib.sha256()
    for name, p in [(META, folder / META)] + [(p.name, p) for _, p in _cell_files(folder)]:
        h.update(f"{name} {sha256_memo(p)}\n".encode())
    return h.hexdigest()


def read_table(folder: Path) -> pd.DataFrame:
    from nas_201_api import ArchResults

    meta = load_pickle(folder / META)
    archs = meta.get("meta_archs") if isinstance(meta, dict) else None
    if archs != space.all_archs():
        raise BenchsuiteError(f"{folder / META}: its meta_archs are not NAS-Bench-201's 15,625 cells in official "
                              "order (is this the size-search-space folder, NATS-sss?)")
    files = _cell_files(folder)
    if not files:
        raise BenchsuiteError(f"{folder} has no cell files (000000.pickle.pbz2 …)")
    rows = []
    with Progress(len(files), desc="reading NATS-Bench", unit="cell") as bar:
        for index, p in files:
            if index >= len(archs):
                raise BenchsuiteError(f"{p}: index {index} is past the 15,625 cells")
            state = load_pickle(p)
            if not isinstance(state, dict) or not state:
                raise BenchsuiteError(f"{p}: expected {{'12': ..., '200': ...}} results, got {type(state).__name__}")
            try:
                by_hp = {hp: ArchResults.create_from_state_dict(dict(s)) for hp, s in state.items()}
                rows += arch_rows(archs[index], by_hp)
            except (KeyError, TypeError, ValueError, AttributeError) as e:
                raise BenchsuiteError(f"{p}: not NATS-Bench results ({type(e).__name__}: {str(e)[:120]})") from None
            bar.update(1)
    return pd.DataFrame(rows, columns=COLUMNS)
