"""Zero-cost proxies beyond the eight of ``measures.py``: each in a module of its own, computed one
cell at a time through the same path (canonical cells, on-disk cache, seeded batch and network).

A measure is a function ``fn(m: MeasureInput) -> float`` (higher = better, as its paper ranks;
NaN when it cannot be computed). ``MeasureInput.net(bn=True)`` gives a fresh copy of the cell's
network carrying the same seeded initial weights every other proxy sees (``bn=False``: the same
weights without BatchNorm); a measure whose reference initialises differently re-initialises that
copy itself, seeded from ``m.seed``, and says so. ``x``/``y`` are the seeded image batch, None for
a measure that reads no image (it then sizes its own input from ``m.shape``).

``TABLE`` says where each measure lives, whether it reads images, and its version, which keys the
cache: bump it when the measure's computation changes.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Measure:
    target: str          # "module:function" under benchsuite.selectors.proxies
    reads_images: bool = True
    version: int = 1


TABLE: dict[str, Measure] = {
    "plain": Measure("naslib_four:plain"),
    "l2_norm": Measure("naslib_four:l2_norm", reads_images=False),
    "epe_nas": Measure("naslib_four:epe_nas"),
    "zen": Measure("naslib_four:zen", reads_images=False, version=2),   # 2: log 0 kept as -inf, not NaN
    "tenas_ntk": Measure("tenas:ntk_condition"),
    "tenas_lr": Measure("tenas:linear_regions"),
    "gradsign": Measure("gradsign:gradsign"),
    "meco": Measure("meco:meco"),
    "meco_opt": Measure("meco:meco_opt"),
    "swap": Measure("swap:swap"),
    # AZ-NAS feeds Gaussian noise (compute_az_nas_score.py:126-127), not images
    # version 2: a NaN or -inf component stored as -inf (compute_az_nas_score.py:193-195), not NaN
    "az_expressivity": Measure("aznas:expressivity", reads_images=False, version=2),
    "az_progressivity": Measure("aznas:progressivity", reads_images=False, version=2),
    "az_trainability": Measure("aznas:trainability", reads_images=False, version=2),
    "az_complexity": Measure("aznas:complexity", reads_images=False),
}


@dataclass
class MeasureInput:
    net: Callable[..., Any]      # net(bn=True) -> a fresh network with the shared initial weights, on device
    x: Any                       # the image batch (torch tensor) or None
    y: Any                       # its labels or None
    seed: int
    device: str
    shape: tuple[int, ...]       # one input's (C, H, W)
    num_classes: int
    batch_size: int = 64         # the selector's batch_size: the size of an input a measure makes itself
    params: dict = field(default_factory=dict)   # the selector's measure_params(): its own settings


def image_free() -> frozenset[str]:
    """Proxies that read no image (synflow's all-ones input included): they run offline."""
    return frozenset({"synflow", *(n for n, m in TABLE.items() if not m.reads_images)})


def measure(name: str) -> Callable[[MeasureInput], float]:
    module, fn = TABLE[name].target.split(":")
    return getattr(importlib.import_module(f"{__package__}.{module}"), fn)
