"""Training configurations and presets. A configuration's hash keys its checkpoint, so a supernet
trained once is reused by every selector (and every run) that asks for the same one.

Presets
  smoke  seconds: C=4, N=1, 128 images, 2 steps per epoch (tests only; numbers mean nothing)
  cpu    a small supernet (C=8, N=1) on the bundled CIFAR subset: minutes on 2 cores
  paper  the published NB201 settings (C=16, N=5, full CIFAR, AutoDL's DARTS / weight-sharing
         configs: SGD 0.025 cosine to 0.001, momentum 0.9 Nesterov, wd 5e-4, batch 64, clip 5;
         arch Adam 3e-4, betas (0.5, 0.999), wd 1e-3); meant for a GPU
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError

MODES = ("darts", "it", "spos", "rlnas")
PRESETS = ("smoke", "cpu", "paper")
# Bump a mode's version when training code changes what its configurations produce: its old
# checkpoints are then unused. (it 2: transformer trained jointly with the weights, not bilevel.)
TRAINER_VERSION = {"darts": 1, "it": 2, "spos": 1, "rlnas": 1}


@dataclass(frozen=True)
class TrainConfig:
    mode: str
    seed: int = 0
    images: str = "cifar10"          # image set the supernet is trained on
    image_source: str = ""            # where those images came from (part of the key)
    num_classes: int = 10
    limit: int | None = None          # use only the first `limit` training images
    C: int = 16
    N: int = 5
    epochs: int = 50
    batch_size: int = 64
    steps_per_epoch: int | None = None  # cap on weight steps per epoch (None: the whole half)
    lr: float = 0.025
    lr_min: float = 0.001
    momentum: float = 0.9
    nesterov: bool = True
    wd: float = 5e-4
    grad_clip: float = 5.0
    arch_lr: float = 3e-4
    arch_wd: float = 1e-3
    arch_beta1: float = 0.5
    second_order: bool = False        # DARTS: unrolled (second-order) architecture gradient
    it_dim: int = 32
    it_heads: int = 2
    fixed_edge: tuple[int, int] | None = None  # few-shot sub-supernet: (edge, op) held fixed
    init_from: str | None = None      # key of the checkpoint whose weights start this training
    amp: bool = False                 # bf16 autocast (CUDA by default; the CPU path is tested)
    channels_last: bool = False

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"unknown supernet training mode {self.mode!r}; known: {', '.join(MODES)}")
        if self.epochs < 1 or self.batch_size < 2 or self.C < 1 or self.N < 1:
            raise ConfigError("supernet epochs, C and N must be >= 1 and batch_size >= 2")
        if self.second_order and self.mode != "darts":
            raise ConfigError("second_order applies to DARTS training only")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def key(self) -> str:
        blob = json.dumps({**self.to_dict(), "version": TRAINER_VERSION[self.mode]}, sort_keys=True)
        return f"{self.mode}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


_PRESET_FIELDS: dict[str, dict[str, Any]] = {
    "smoke": {"C": 4, "N": 1, "limit": 128, "batch_size": 16, "epochs": 2, "steps_per_epoch": 2, "it_dim": 8},
    "cpu": {"C": 8, "N": 1, "batch_size": 64},
    "paper": {"C": 16, "N": 5, "batch_size": 64},
}
# Epochs per mode and preset: DARTS.config (50) for the bilevel methods, weight-sharing.config
# (100) for uniform-sampling supernets. The cpu preset keeps 100 for the cheap single-path modes
# and 30 for the bilevel ones (about 5-7 minutes each on 2 cores).
_EPOCHS = {"smoke": {m: 2 for m in MODES},
           "cpu": {"darts": 30, "it": 30, "spos": 100, "rlnas": 100},
           "paper": {"darts": 50, "it": 50, "spos": 100, "rlnas": 100}}


def preset_config(mode: str, preset: str, **overrides: Any) -> TrainConfig:
    """A TrainConfig from a preset; ``overrides`` (None values ignored) win."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown supernet preset {preset!r}; known: {', '.join(PRESETS)}")
    if mode not in MODES:
        raise ConfigError(f"unknown supernet training mode {mode!r}; known: {', '.join(MODES)}")
    fields = {**_PRESET_FIELDS[preset], "epochs": _EPOCHS[preset][mode]}
    fields.update({k: v for k, v in overrides.items() if v is not None})
    unknown = set(fields) - {f.name for f in dataclasses.fields(TrainConfig)}
    if unknown:
        raise ConfigError(f"unknown supernet setting(s) {', '.join(sorted(unknown))}")
    return TrainConfig(mode=mode, **fields)
