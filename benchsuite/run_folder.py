"""A run's output folder: locked while a run writes to it, created only once the run is known to
be valid, and on ``--resume`` checked against the run it continues.

Which arguments may change on ``--resume``: those that decide which cells are scored and how
(``RunConfig.IDENTITY`` and the seeds) may not — a resume with other ones is refused. Those that
only summarise the scores (``--metrics``, ``--n-boot``) may: metrics.csv is then recomputed from
every row of scores.csv with the new values, and run.json records them.
"""
from __future__ import annotations

import contextlib
import csv
import errno
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from .config import RunConfig
from .errors import ConfigError

SCORE_COLUMNS = ["arch", "seed", "score", "true_acc"]
LOCK = ".lock"


@contextlib.contextmanager
def locked(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``out`` for the duration; a second run on it gets a one-line error.

    ``flock`` is released by the kernel when the process ends, however it ends, so a killed run
    leaves no stale lock behind."""
    import fcntl

    try:
        out.mkdir(parents=True, exist_ok=True)
        fd = os.open(out / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise ConfigError(f"cannot write to {out}: {e.strerror or e}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                other = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
                raise ConfigError(f"{out} is in use by another run (pid {other}); wait for it or use another --out") \
                    from None
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


def read_scores(path: Path) -> pd.DataFrame:
    """scores.csv as written by runs; a damaged file is a one-line error naming its first bad line."""
    try:
        df = pd.read_csv(path, dtype={"arch": str})
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as e:
        raise ConfigError(f"{path} is damaged ({str(e).splitlines()[0]}); move it away to start over") from None
    if list(df.columns) != SCORE_COLUMNS:
        raise ConfigError(f"{path} does not have the columns {', '.join(SCORE_COLUMNS)}")
    for col in ("seed", "score", "true_acc"):
        bad = ~df[col].map(_is_int if col == "seed" else _is_float)
        if bad.any():
            raise ConfigError(f"{path} line {int(bad.to_numpy().argmax()) + 2} has a {col} that is not a number; "
                              "move the file away to start over")
    return df.astype({"seed": int, "score": float, "true_acc": float})


def _is_float(v) -> bool:
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False


def _is_int(v) -> bool:
    return _is_float(v) and float(v) == float(v) and float(v) == int(float(v))


def read_run_json(path: Path) -> dict:
    try:
        info = json.loads(path.read_text())
        info["args"]
        return info
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as e:
        raise ConfigError(f"{path} is damaged ({type(e).__name__}); move the folder away to start over") from None


def prepare(cfg: RunConfig, out: Path) -> tuple[set[tuple[str, int]], dict]:
    """Called under the lock. A new run: write the scores header. A resumed one: check that it
    continues the same run; return the (arch, seed) pairs already scored and the old run.json."""
    scores = out / "scores.csv"
    if not cfg.resume:
        if scores.exists():
            raise ConfigError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
        try:
            with open(scores, "w", newline="") as f:
                csv.writer(f).writerow(SCORE_COLUMNS)
        except OSError as e:
            raise ConfigError(f"cannot write to {out}: {e.strerror or e}") from None
        return set(), {}
    run_json = out / "run.json"
    if not run_json.exists() or not scores.exists():
        raise ConfigError(f"--resume: {out} has no run.json and scores.csv to continue")
    previous = read_run_json(run_json)
    old, new = previous["args"], cfg.to_dict()
    diff = [k for k in (*RunConfig.IDENTITY, "seeds") if old.get(k) != new.get(k)]
    if diff:
        raise ConfigError(f"--resume: {out} was run with different {', '.join(diff)}; use another --out "
                          "(only --metrics and --n-boot may change on resume)")
    done = read_scores(scores)
    return set(zip(done.arch, done.seed)), previous


def write_seed_rows(path: Path, seed: int, rows: list[dict]) -> None:
    """Write one seed's rows (derived cell; supernet training curves; search trajectory) into a
    CSV for the plots, which read only CSVs; a resumed run replaces that seed's old rows."""
    df = pd.DataFrame(rows)
    if "seed" not in df:
        df.insert(0, "seed", seed)
    if path.exists():
        old = pd.read_csv(path, dtype={"arch": str})
        df = pd.concat([old[old.seed != seed], df], ignore_index=True)
    tmp = path.with_suffix(".csv.part")
    df.to_csv(tmp, index=False)
    os.replace(tmp, path)
