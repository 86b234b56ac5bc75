"""The official benchmark files NAS researchers already have, read as they are.

- NAS-Bench-201 ``NAS-Bench-201-v1_0-e61699.pth`` / ``v1_1-096897.pth``: ``nb201_pth``;
- NATS-Bench topology ``NATS-tss-v1_0-3ffb9-simple/`` (the same 15,625 cells): ``nats_tss``;
- NAS-Bench-101 ``nasbench_only108.tfrecord`` / ``nasbench_full.tfrecord``: ``nb101_tfrecord``.

Each reader flattens its file once into a tidy table ``(arch, dataset, fidelity, metric, value)``
(metric ``test`` / ``valid`` in percent, or ``params_m``; ``valid#<trial>`` is one trial's
validation accuracy where the file keeps trials, for oracles that answer one random trial) cached
under ``$BENCHSUITE_CACHE/official`` keyed by the file's SHA-256, so later runs read a small CSV
instead of the multi-GB original. None of them executes anything from the file: the ``.pth`` is
loaded with ``weights_only=True``, NATS pickles through an unpickler that admits three named
globals, and the tfrecord is JSON and protobuf bytes.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from ...errors import ConfigError, DataNotFoundError
from .. import sources

COLUMNS = ["arch", "dataset", "fidelity", "metric", "value"]
TRIAL_MARK = "#"   # metric "valid#777": trial (seed or repeat) 777's own value
# The cached tables' layout: a new one (the trial rows) converts each file again instead of trusting
# a table written without them.
TABLE_VERSION = 2

# What `benchsuite data` says each official source gives (the readers below produce exactly this).
FORMATS = {
    "nb201": [("NAS-Bench-201 .pth (v1_0-e61699, v1_1-096897)",
               "15,625 cells: cifar10 test, cifar10-valid valid/test, cifar100 and imagenet16 valid/test, "
               "at 12 and 200 epochs (the file's mean over trials; validation also per trial); params"),
              ("NATS-Bench topology folder (NATS-tss-v1_0-3ffb9-simple)",
               "the same columns for the cells whose files are present (all 15,625 in the official folder)")],
    "nb101": [("NAS-Bench-101 nasbench_only108.tfrecord (or nasbench_full.tfrecord)",
               "423,624 cells: cifar10 valid/test at 108 epochs (full file: also 4, 12, 36), mean over the "
               "3 repeats (validation also per repeat); params")],
}


def kind_of(bench: str, path: Path) -> str:
    """Which reader a user's path needs: decided by what is on disk, with a one-line error otherwise."""
    if not path.exists():
        raise DataNotFoundError(f"official {bench} file {path} does not exist")
    if bench == "nb201":
        if path.is_dir():
            return "nats_tss"
        if path.suffix == ".pth":
            return "nb201_pth"
        raise ConfigError(f"{path}: for nb201 pass an official NAS-Bench-201 .pth or a NATS-Bench topology folder "
                          "(NATS-tss-v1_0-3ffb9-simple)")
    if bench == "nb101":
        if path.is_file() and ".tfrecord" in path.name:
            return "nb101_tfrecord"
        raise ConfigError(f"{path}: for nb101 pass the official nasbench_only108.tfrecord or nasbench_full.tfrecord")
    raise ConfigError(f"--official applies to nb201 and nb101, not {bench}")


def load(bench: str, path: str | os.PathLike) -> tuple[pd.DataFrame, str]:
    """The tidy table of an official file and its digest (recorded in run.json)."""
    path = Path(path)
    kind = kind_of(bench, path)
    if kind == "nats_tss":
        from . import nats_tss as reader
    elif kind == "nb201_pth":
        from . import nb201_pth as reader
    else:
        from . import nb101_tfrecord as reader
    return cached(kind, reader.digest(path), lambda: reader.read_table(path))


def sha256_memo(path: Path) -> str:
    """SHA-256 of an official file, remembered by (absolute path, size, mtime in ns) in
    ``$BENCHSUITE_CACHE/official/sha256.json``, as git's index and make trust a file's stat: a
    multi-GB file is hashed once, not on every run; rewriting it changes its mtime and it is hashed
    again. The digest only names our own cached table; no byte of the file is executed either way."""
    path = Path(path).resolve()
    st = path.stat()
    key, stamp = str(path), [st.st_size, st.st_mtime_ns]
    index_path = sources.cache_dir() / "official" / "sha256.json"
    try:
        index = json.loads(index_path.read_text())
    except (OSError, ValueError):
        index = {}
    hit = index.get(key)
    if isinstance(hit, dict) and hit.get("stat") == stamp:
        return hit["sha256"]
    digest = sources.sha256_of(path)
    index[key] = {"stat": stamp, "sha256": digest}
    try:
        index_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = index_path.with_name(index_path.name + f".{os.getpid()}.part")
        tmp.write_text(json.dumps(index, indent=0, sort_keys=True))
        os.replace(tmp, index_path)
    except OSError:   # an unwritable cache only costs the next run the hash again
        pass
    return digest


def cached(kind: str, digest: str, build: Callable[[], pd.DataFrame]) -> tuple[pd.DataFrame, str]:
    """Build the table once per file content; written to a temporary name and moved into place, so
    an interrupted conversion leaves nothing that a later run would trust."""
    path = sources.cache_dir() / "official" / kind / f"{digest}-v{TABLE_VERSION}.csv.gz"
    if path.is_file():
        return pd.read_csv(path), digest
    table = build()[COLUMNS]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        table.to_csv(tmp, index=False, compression="gzip")
        os.replace(tmp, path)
    except OSError:   # an unwritable cache costs the next run a new conversion, nothing else
        pass
    return table, digest
