"""run.json: everything needed to reproduce a run (versions, git hash, data checksums, args)."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from .threads import THREAD_ENV_VARS as THREAD_VARS

_PACKAGES = ("benchsuite", "numpy", "scipy", "pandas", "matplotlib", "torch", "nas-bench-201", "nasbench-pytorch")


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_state() -> dict[str, Any]:
    """Commit and dirtiness of the benchsuite checkout, when it runs from one."""
    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return {"commit": None}
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=10)
        return {"commit": head.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None}


def environment() -> dict[str, Any]:
    """Where the run ran. torch's thread count is recorded because a trained supernet (or any long
    float computation) is bit-reproducible only at the same count: summation order changes with it."""
    torch = sys.modules.get("torch")   # only if the selector loaded it: importing it costs seconds
    return {"platform": platform.platform(), "argv": sys.argv, "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads() if torch is not None else None,
            **{k.lower(): os.environ.get(k) for k in THREAD_VARS}}


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Atomic write, so an interrupted run never leaves a half-written manifest."""
    tmp = path.with_suffix(".json.part")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    os.replace(tmp, path)
