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
import io
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
    leaves no stale lock behind; a run that ends normally also removes the ``.lock`` file."""
    import fcntl

    lock = out / LOCK
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise ConfigError(f"cannot write to {out}: {e.strerror or e}") from None
    held = False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # the file may have been removed by a run that ended between our open and flock: then
            # we hold a lock on a name nobody else sees, and the folder is someone else's again
            held = os.path.exists(lock) and os.stat(lock).st_ino == os.fstat(fd).st_ino
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
        if not held:
            other = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            raise ConfigError(f"{out} is in use by another run (pid {other}); wait for it or use another --out")
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        if held:
            with contextlib.suppress(OSError):
                lock.unlink()
        os.close(fd)


def append_rows(path: Path, rows) -> None:
    """Append CSV rows to ``path`` in one write. A write that fails (a full disk) is cut back to the
    rows that were there before, so the file never ends in a torn row; the error names the file."""
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    data = buf.getvalue().encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        size = os.fstat(fd).st_size
        try:
            written = os.write(fd, data)
            if written != len(data):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except OSError as e:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
            raise ConfigError(f"cannot write {path}: {e.strerror or e}; the rows written before are kept, "
                              "free space and rerun with --resume") from None
    finally:
        os.close(fd)


def drop_seed_rows(path: Path, seed: int) -> None:
    """Rewrite scores.csv without one seed's rows (atomically: the old file stays until the new
    one is whole)."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    tmp = path.with_suffix(".csv.part")
    with open(tmp, "w", newline="") as f:
        csv.writer(f).writerows([rows[0], *(r for r in rows[1:] if int(float(r[1])) != seed)])
    os.replace(tmp, path)


def drop_torn_tail(path: Path) -> int:
    """A scores.csv whose last line has no newline was cut mid-row (a crash or a full disk while
    writing): remove that partial row and return how many bytes were dropped (0 when whole)."""
    with open(path, "rb+") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        if size == 0:
            return 0
        f.seek(max(0, size - 1))
        if f.read(1) == b"\n":
            return 0
        block = min(size, 1 << 16)
        f.seek(size - block)
        tail = f.read(block)
        keep = size - block + tail.rfind(b"\n") + 1 if b"\n" in tail else 0
        f.truncate(keep)
        return size - keep


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


def prepare(cfg: RunConfig, out: Path, log=print) -> tuple[set[tuple[str, int]], dict]:
    """Called under the lock. A new run: write the scores header. A resumed one: check that it
    continues the same run (a torn last row is dropped, saying so); return the (arch, seed) pairs
    already scored and the old run.json."""
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
    torn = drop_torn_tail(scores)
    if torn:
        log(f"benchsuite: note: {scores}'s last row was cut off mid-write ({torn} bytes); dropped it, "
            "that cell is scored again")
    done = read_scores(scores)
    return set(zip(done.arch, done.seed)), previous


def missing_rows(previous: dict, done: set[tuple[str, int]], seed: int, planned: list[str]) -> tuple[int, int]:
    """For a resumed seed: how many rows run.json says were written and how many of the planned
    cells scores.csv still holds. Rows of cells this run does not score mean the file belongs to
    another run (or was edited): refused, as no metric could be trusted."""
    record = previous.get("seeds", {}).get(str(seed), {})
    have = {a for a, s in done if s == seed}
    stray = len(have - set(planned))
    if stray:
        raise ConfigError(f"--resume: scores.csv has {stray} rows for seed {seed} that are not among the cells this "
                          "run scores; it is not this run's file (move the folder away to start over)")
    return int(record.get("n_scored", 0)), len(have)


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
