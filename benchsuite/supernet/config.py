"""Training configurations. A configuration's hash keys its checkpoint, so a supernet trained once
is reused by every selector (and every run) that asks for the same one.

The presets (smoke, cpu, paper), each value with its source, are ``benchsuite.presets.TRAIN``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from .. import presets
from ..errors import ConfigError
from ..hparams import Choice, Interval, Rule, validate

MODES = presets.MODES
PRESETS = presets.SUPERNET_PRESETS
# Bump a mode's version when training code changes what its configurations produce: its old
# checkpoints are then unused. (it 2: transformer trained jointly with the weights, not bilevel;
# spos/rlnas 2: a path per cell per step, RLNAS redrawing all-`none` nodes.)
TRAINER_VERSION = {"darts": 1, "it": 2, "spos": 2, "rlnas": 2}
PATH_SAMPLING = ("per_cell", "shared")   # single-path modes
IT_TRAIN = ("joint", "bilevel")          # IT-NAS's two readings
# What a TrainConfig's settings may be (benchsuite.hparams); the rest are checked by their types.
CONSTRAINTS = {"mode": Choice(*MODES), "epochs": Interval(int, 1, None), "C": Interval(int, 1, None),
               "N": Interval(int, 1, None), "batch_size": Interval(int, 2, None),
               "it_train": Choice(*IT_TRAIN), "path_sampling": Choice(*PATH_SAMPLING)}
RULES = [Rule(("second_order", "mode"), lambda second_order, mode: not second_order or mode == "darts",
              "{second_order} applies to DARTS training only")]


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
    grad_clip: float = 5.0            # max gradient norm; 0: no clipping (SPOS, few-shot, RLNAS references)
    arch_lr: float = 3e-4
    arch_wd: float = 1e-3
    arch_beta1: float = 0.5
    second_order: bool = False        # DARTS: unrolled (second-order) architecture gradient
    it_dim: int = 32
    it_heads: int = 2
    fixed_edge: tuple[int, int] | None = None  # few-shot sub-supernet: (edge, op) held fixed
    path_sampling: str = "per_cell"   # single-path modes: a path per cell per step, or one "shared" by all
    it_train: str = "joint"           # IT-NAS's transformer: "joint" with the weights, or "bilevel" as DARTS
    init_from: str | None = None      # key of the checkpoint whose weights start this training
    amp: bool = False                 # bf16 autocast (CUDA by default; the CPU path is tested)
    channels_last: bool = False

    def __post_init__(self) -> None:
        fields = self.to_dict()
        validate(TrainConfig, "supernet setting", fields, prefix="", table=CONSTRAINTS, checks=RULES, base=fields)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def key(self) -> str:
        fields = self.to_dict()
        if self.mode != "it":   # a setting only IT-NAS reads leaves the other modes' checkpoints where they were
            fields.pop("it_train")
        blob = json.dumps({**fields, "version": TRAINER_VERSION[self.mode]}, sort_keys=True)
        return f"{self.mode}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


def preset_config(mode: str, preset: str, **overrides: Any) -> TrainConfig:
    """A TrainConfig from a preset; ``overrides`` (None values ignored) win."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown supernet preset {preset!r}; known: {', '.join(PRESETS)}")
    if mode not in MODES:
        raise ConfigError(f"unknown supernet training mode {mode!r}; known: {', '.join(MODES)}")
    fields = presets.training(mode, preset)
    fields.update({k: v for k, v in overrides.items() if v is not None})
    unknown = set(fields) - {f.name for f in dataclasses.fields(TrainConfig)}
    if unknown:
        raise ConfigError(f"unknown supernet setting(s) {', '.join(sorted(unknown))}")
    return TrainConfig(mode=mode, **fields)
