"""How many CPU threads torch may use: the ``--threads N`` setting.

torch's default is one intra-op thread per core. benchsuite's networks are small (NB-201 cells
at C=16 on a 64-image batch, an 8-channel supernet, the CTNAS comparator's 4-layer GCN), so a
second thread brings little even when a core is free, and on a loaded machine the threads wait
for each other at every op: a user saw a small ``ctnas`` run take 126 s instead of 6.3 s and
synflow on 20 cells 31.7 s instead of 2.9 s. Hence the default of one thread (figures below).

Importing torch costs seconds, so this module never imports it at import time, and
``set_threads`` imports it only when asked to (``import_torch``) or when it is already loaded.
"""
from __future__ import annotations

import os
import sys
import threading

from .errors import ConfigError

# One thread. Source: ``python benchmarks/perf_threads.py``, plain and with ``--load 1``, on the
# project's 2-core machine while other jobs shared it (load average 2-5): each workload timed in
# a fresh process per thread count, the counts interleaved, 3 rounds; median seconds at 1 and 2
# threads (2 = all cores there), the ratio 2 / 1 in brackets:
#                                                   plain                  --load 1
#   synflow, 20 NB-201 C=16 cells                   2.79 / 14.39 (5.2x)    2.96 /  6.39 (2.2x)
#   ctnas: comparator training + search + scoring   4.26 / 21.33 (5.0x)    9.34 / 43.27 (4.6x)
#   supernet, 10 spos steps (cpu preset, C=8)       2.80 / 11.26 (4.0x)    3.41 / 20.66 (6.1x)
#   supernet, 2 darts steps                         3.14 / 14.28 (4.5x)    3.49 / 37.32 (10.7x)
# Scores and losses were identical at both counts. Two threads won only 2 of 24 pairs (by 1.2x
# and 1.4x), in moments when the machine had a core to spare. So: one thread; --threads N is for
# a machine of one's own.
DEFAULT_THREADS = 1

# What OpenMP / MKL read when a process starts: set them for subprocesses and Dask workers so
# their torch (and numpy's BLAS) start at the chosen count instead of one thread per core.
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")

_lock = threading.Lock()
_interop_done = False   # torch accepts set_num_interop_threads once per process


def check_threads(n: int | None) -> int:
    """The thread count ``n`` stands for (None: ``DEFAULT_THREADS``); ConfigError unless >= 1."""
    if n is None:
        return DEFAULT_THREADS
    # bool is an int subclass: True would pass as 1 without this check
    if isinstance(n, bool) or not isinstance(n, int):
        raise ConfigError(f"--threads must be a whole number, got {n!r}")
    if n < 1:
        raise ConfigError(f"--threads must be at least 1, got {n}")
    return n


def cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one; a container
    or ``taskset`` can allow fewer than ``os.cpu_count()``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):   # macOS and Windows have no sched_getaffinity
        return max(1, os.cpu_count() or 1)


def thread_env(n: int | None = None) -> dict[str, str]:
    """The environment variables that start a subprocess or Dask worker at ``n`` threads (None:
    the default); merge them into its environment: ``{**os.environ, **thread_env(1)}``."""
    count = str(check_threads(n))
    return {var: count for var in THREAD_ENV_VARS}


def set_threads(n: int | None = None, *, import_torch: bool = True) -> int:
    """Set torch's intra-op thread count (and its inter-op count, where torch still allows it) to
    ``n`` (None: ``DEFAULT_THREADS``) and return the count.

    With ``import_torch=False`` (a selector that does not use torch: ``not selector.uses_torch``)
    torch is set only if something has already imported it; otherwise it is left unimported,
    so a run that never needs torch does not pay seconds to load it.
    """
    count = check_threads(n)
    torch = sys.modules.get("torch")
    if torch is None and not import_torch:
        return count
    if torch is None:
        import torch
    torch.set_num_threads(count)
    _set_interop(torch, count)
    return count


def _set_interop(torch, count: int) -> None:
    """Inter-op threads run independent ops side by side (``torch.jit.fork``); benchsuite's eager
    code hardly uses them, but they are kept at the same count so no pool outgrows ``count``.
    torch raises RuntimeError on a second call, or after inter-op work has started: then the
    pool keeps its size, which is harmless for eager code, so the error is not the user's."""
    global _interop_done
    with _lock:
        if _interop_done or torch.get_num_interop_threads() == count:
            return
        _interop_done = True
        try:
            torch.set_num_interop_threads(count)
        except RuntimeError:
            pass
