"""Training configurations and presets. A configuration's hash keys its checkpoint, so a supernet
trained once is reused by every selector (and every run) that asks for the same one.

Presets
  smoke  seconds: C=4, N=1, 128 images, 2 steps per epoch (tests only; numbers mean nothing)
  cpu    a small supernet (C=8, N=1) on the bundled CIFAR subset: minutes on 2 cores
  paper  each method's published NB201 setting (C=16, N=5, full CIFAR; SGD 0.025 cosine to 0.001,
         momentum 0.9): DARTS / IT-NAS as D-X-Y/AutoDL-Projects configs/nas-benchmark/algos/
         DARTS.config (epochs 50, Nesterov, decay 5e-4, batch 64; clip 5 as exps/algos/DARTS-V1.py)
         with scripts-search/algos/DARTS-V1.sh's --arch_learning_rate 0.0003 --arch_weight_decay
         0.001 (Adam betas (0.5, 0.999)); SPOS / few-shot and RLNAS as _PAPER_BY_MODE below says,
         each value with its source; meant for a GPU
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
# checkpoints are then unused. (it 2: transformer trained jointly with the weights, not bilevel;
# spos/rlnas 2: a path per cell per step, RLNAS redrawing all-`none` nodes.)
TRAINER_VERSION = {"darts": 1, "it": 2, "spos": 2, "rlnas": 2}
PATH_SAMPLING = ("per_cell", "shared")   # single-path modes
IT_TRAIN = ("joint", "bilevel")          # IT-NAS's two readings


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    """One line naming the setting and its choices; selectors call it when built, before any training."""
    if value not in choices:
        raise ConfigError(f"{name} must be {' or '.join(choices)}, got {value!r}")


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
        if self.mode not in MODES:
            raise ConfigError(f"unknown supernet training mode {self.mode!r}; known: {', '.join(MODES)}")
        if self.epochs < 1 or self.batch_size < 2 or self.C < 1 or self.N < 1:
            raise ConfigError("supernet epochs, C and N must be >= 1 and batch_size >= 2")
        if self.second_order and self.mode != "darts":
            raise ConfigError("second_order applies to DARTS training only")
        check_choice("it_train", self.it_train, IT_TRAIN)
        check_choice("path_sampling", self.path_sampling, PATH_SAMPLING)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def key(self) -> str:
        fields = self.to_dict()
        if self.mode != "it":   # a setting only IT-NAS reads leaves the other modes' checkpoints where they were
            fields.pop("it_train")
        blob = json.dumps({**fields, "version": TRAINER_VERSION[self.mode]}, sort_keys=True)
        return f"{self.mode}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


_PRESET_FIELDS: dict[str, dict[str, Any]] = {
    "smoke": {"C": 4, "N": 1, "limit": 128, "batch_size": 16, "epochs": 2, "steps_per_epoch": 2, "it_dim": 8},
    "cpu": {"C": 8, "N": 1, "batch_size": 64},
    "paper": {"C": 16, "N": 5, "batch_size": 64},
}
# The paper preset's per-method values where they differ from the DARTS config above.
_PAPER_BY_MODE: dict[str, dict[str, Any]] = {
    # aoiang/few-shot-NAS Few-Shot_NasBench201/configs/nas-benchmark/algos/ONE-SHOT-SUPERNET.config:
    # epochs 600, batch_size 48, decay 0.0001, nesterov 1, LR 0.025 cos to eta_min 0.001;
    # exps/supernet/one-shot-supernet_train.py `train` steps without clip_grad (grad_clip 0 = none).
    "spos": {"epochs": 600, "batch_size": 48, "wd": 1e-4, "grad_clip": 0.0},
    # megvii-model/RLNAS nas_bench_201/configs/nas-benchmark/algos/SPOS.config (what
    # scripts-search/algos/train_supernet.sh passes): epochs 250, batch 64, decay 0.0005, nesterov 1;
    # exps/algos/rlnas_train_supernet.py `search_func` steps without clip_grad.
    "rlnas": {"epochs": 250, "batch_size": 64, "wd": 5e-4, "grad_clip": 0.0},
}
# Epochs per mode and preset: paper = AutoDL's DARTS.config (50) for the bilevel methods, the
# references' configs for the single-path ones (_PAPER_BY_MODE). The cpu preset scales them down:
# 100 for the cheap single-path modes and 30 for the bilevel ones (about 5-7 minutes each on 2 cores).
_EPOCHS = {"smoke": {m: 2 for m in MODES},
           "cpu": {"darts": 30, "it": 30, "spos": 100, "rlnas": 100},
           "paper": {"darts": 50, "it": 50, "spos": 600, "rlnas": 250}}


def preset_config(mode: str, preset: str, **overrides: Any) -> TrainConfig:
    """A TrainConfig from a preset; ``overrides`` (None values ignored) win."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown supernet preset {preset!r}; known: {', '.join(PRESETS)}")
    if mode not in MODES:
        raise ConfigError(f"unknown supernet training mode {mode!r}; known: {', '.join(MODES)}")
    fields = {**_PRESET_FIELDS[preset], "epochs": _EPOCHS[preset][mode]}
    if preset == "paper":
        fields.update(_PAPER_BY_MODE.get(mode, {}))
    fields.update({k: v for k, v in overrides.items() if v is not None})
    unknown = set(fields) - {f.name for f in dataclasses.fields(TrainConfig)}
    if unknown:
        raise ConfigError(f"unknown supernet setting(s) {', '.join(sorted(unknown))}")
    return TrainConfig(mode=mode, **fields)
