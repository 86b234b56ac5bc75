"""Eproxy's regression task (GenNAS-Zero, "Extensible Proxy"): a candidate network's stage
features pass through a trainable head and a frozen, randomly initialised "barrier" conv and are
regressed onto fixed synthetic targets for a few SGD steps; a low final loss means a good cell.

Reference behaviour (leeyeehoo/GenNAS-Zero, do_train.py ``evaluation``): the backbone returns the
outputs of its three stages resized to 8x8 (deepest first); branch i is head (conv k×k + ReLU +
BN, trained) then barrier (conv k×k, never in the optimiser); SGD(lr, momentum 0.9, wd 4e-5 on
conv/linear weights only, ``utils.get_parameters``) over backbone + heads for 10 steps on one
batch of 16 images; the loss recorded at each step is Σ_i MSE_i / 2^i of that step's outputs; the
score is the last one, optionally scaled by (1 − α·MACs/max MACs). On NB-201 the backbone is
``BackboneNB201``, zero-cost-nas's ``nasbench2`` network (non-affine BN after a biased conv in the
cells), which ``nb201.build_network(style="zero-cost-nas")`` builds. Targets are our own seeded
constructions of the five named patterns (the reference ships them as tensors in
``data/features``): plane waves of low/medium/high frequency, dots, a grid.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

FEATURES = ("net", "wave_l", "wave_m", "wave_h", "dot")
KERNELS = (1, 3, 7)
CHANNELS = (16, 32, 64, 128, 256, 512)
LEVELS = (0.5, 1.0, 1.5, 2.0)
LRS = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5)
ALPHAS = (-0.5, -0.4, -0.3, -0.2, -0.1, 0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
INITS = ("default", "xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal")
SIZE = 8
WEIGHT_DECAY = 4e-5  # optim_a_config.weight_decay in every NB201 config
# utils.load_one_batch_image: always a CIFAR-10 training batch, RandomCrop(32, padding=4) (black
# pad) + RandomHorizontalFlip, then Normalize with these (the std is CIFAR-10's per-pixel one,
# not zero-cost-nas's 0.2023/0.1994/0.2010).
MEAN_STD = ((0.4913997551666284, 0.48215855929893703, 0.4465309133731618),
            (0.24703225141799082, 0.24348516474564, 0.26158783926049628))
TARGET_SEED = 20210801  # targets are fixed across cells, seeds and runs


@dataclass(frozen=True)
class Branch:
    features: tuple[str, ...]
    head_kernel: int = 1
    barrier_kernel: int = 3
    head_channels: int = 128
    barrier_channels: int = 128
    level: float = 1.0


@dataclass(frozen=True)
class Setting:
    branches: tuple[Branch, ...]
    lr: float = 1.2
    alpha: float = 0.0
    init_net: str = "default"
    init_barrier: str = "default"
    iters: int = 10

    def key(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @staticmethod
    def from_key(text: str) -> Setting:
        d = json.loads(text)
        d["branches"] = tuple(Branch(**{**b, "features": tuple(b["features"])}) for b in d["branches"])
        return Setting(**d)


# The published Eproxy configuration for NB201 (config_nb201_mse_12e-1.yaml): three branches of
# 128 channels regressing the high-frequency wave, head 1x1, barrier 3x3, lr 1.2, 10 steps.
DEFAULT = Setting(branches=(Branch(("wave_h",)),) * 3)


def _pattern(name: str, n: int, c: int, g: torch.Generator) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.arange(SIZE, dtype=torch.float32), torch.arange(SIZE, dtype=torch.float32),
                            indexing="ij")
    if name.startswith("wave"):
        cycles = {"wave_l": 1.0, "wave_m": 2.0, "wave_h": 4.0}[name]
        theta = torch.rand(n, c, 1, 1, generator=g) * math.pi
        phase = torch.rand(n, c, 1, 1, generator=g) * 2 * math.pi
        proj = xx * torch.cos(theta) + yy * torch.sin(theta)
        return torch.sin(2 * math.pi * cycles * proj / SIZE + phase)
    if name == "dot":
        return (torch.rand(n, c, SIZE, SIZE, generator=g) < 3 / SIZE**2).float()
    if name == "net":
        step = torch.randint(2, 5, (n, c, 1, 1), generator=g)
        off = torch.randint(0, 4, (n, c, 1, 1), generator=g)
        return (((xx + off) % step == 0) | ((yy + off) % step == 0)).float()
    raise ValueError(f"unknown Eproxy target {name!r}; known: {', '.join(FEATURES)}")


def make_targets(branch: Branch, n: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(TARGET_SEED)
    out = torch.zeros(n, branch.barrier_channels, SIZE, SIZE)
    for name in FEATURES:  # fixed order, so each pattern draws the same numbers in every setting
        p = _pattern(name, n, branch.barrier_channels, g)
        if name in branch.features:
            out += p
    return out * branch.level


def stage_outputs(net: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """Outputs of the last cell of each stage, deepest first, resized to 8x8 (no final BN/ReLU)."""
    if hasattr(net, "cells"):  # NB201: stem, cells with ResNet blocks between stages
        h, blocks = net.stem(x), list(net.cells)
        is_reduction = [type(b).__name__ == "ResNetBasicBlock" for b in blocks]
    else:  # NB101: features = stem, cells with max-pools between stacks
        h, blocks = x, list(net.features)
        is_reduction = [isinstance(b, nn.MaxPool2d) for b in blocks]
    outs = []
    for block, red in zip(blocks, is_reduction):
        if red:
            outs.append(h)
        h = block(h)
    outs.append(h)
    return [o if o.shape[-1] == SIZE else F.interpolate(o, (SIZE, SIZE)) for o in reversed(outs)]


def init_module(m: nn.Module, how: str) -> None:
    """One module as GenNAS-Zero's ``utils.init_weights_*`` set it: xavier with bias 0.01, kaiming
    (fan_out, ReLU gain) with bias 0, BatchNorm weight 1 and bias 0."""
    if isinstance(m, (nn.Conv2d, nn.Linear)):
        if how.startswith("xavier"):
            (nn.init.xavier_uniform_ if how == "xavier_uniform" else nn.init.xavier_normal_)(m.weight)
            bias = 0.01
        else:
            fn = nn.init.kaiming_uniform_ if how == "kaiming_uniform" else nn.init.kaiming_normal_
            fn(m.weight, mode="fan_out", nonlinearity="relu")
            bias = 0.0
        if m.bias is not None:
            nn.init.constant_(m.bias, bias)
    elif isinstance(m, nn.BatchNorm2d) and m.affine:
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


def _apply_order(m: nn.Module):
    """Modules in the order ``nn.Module.apply`` visits them (children first)."""
    for child in m.children():
        yield from _apply_order(child)
    yield m


def init_reach(net: nn.Module, heads: nn.Module) -> list[nn.Module]:
    """The modules the reference's ``init_net`` really sets. It runs ``model.apply(fn)`` (backbone,
    then heads) inside ``try: ... except: pass``; ``fn`` raises on the first BatchNorm without a
    weight, and every module after it keeps PyTorch's default. Its NB201 cell builds all five
    candidate ops of every edge (none, avg_pool_3x3, nor_conv_3x3, ...) and masks the unused ones,
    so on the zero-cost-nas network the walk always stops in cell 1's first edge right after that
    edge's 3x3 conv: only the stem and that conv (when the cell uses it) are set; heads never are."""
    if not any(isinstance(m, nn.BatchNorm2d) and not m.affine for m in net.modules()):
        return list(_apply_order(net)) + list(_apply_order(heads))
    first = net.cells[0].edges[0]
    conv3 = [first[1]] if isinstance(first, nn.Sequential) and first[1].kernel_size == (3, 3) else []
    return list(_apply_order(net.stem)) + conv3


def param_groups(named) -> list[dict]:
    """``utils.get_parameters``: weight decay only on parameters named ``*weight*`` with two or more
    dimensions (conv and linear weights); biases and BatchNorm parameters get none."""
    decay, free = [], []
    for name, p in named:
        (decay if "weight" in name and p.dim() > 1 else free).append(p)
    return [{"params": decay}, {"params": free, "weight_decay": 0.0}]


def final_loss(net: nn.Module, x: torch.Tensor, setting: Setting, *, macs_fraction: float = 0.0) -> float:
    """Run the regression and return the (MACs-scaled) last recorded loss; the caller seeds torch."""
    with torch.no_grad():
        feats = stage_outputs(net, x[:2])
    branches = setting.branches[: len(feats)]
    heads = nn.ModuleList(
        nn.Sequential(nn.Conv2d(f.shape[1], b.head_channels, b.head_kernel, padding=b.head_kernel // 2), nn.ReLU(),
                      nn.BatchNorm2d(b.head_channels))
        for f, b in zip(feats, branches)).to(x.device)
    barriers = nn.ModuleList(
        nn.Conv2d(b.head_channels, b.barrier_channels, b.barrier_kernel, padding=b.barrier_kernel // 2)
        for b in branches).to(x.device)
    if setting.init_net != "default":
        for m in init_reach(net, heads):
            init_module(m, setting.init_net)
    if setting.init_barrier != "default":
        for m in barriers.modules():
            init_module(m, setting.init_barrier)
    barriers.requires_grad_(False)  # the barrier is never trained
    targets = [make_targets(b, x.shape[0]).to(x.device) for b in branches]
    net.train()
    heads.train()
    named = [*net.named_parameters(prefix="backbone"), *heads.named_parameters(prefix="head")]
    opt = torch.optim.SGD(param_groups(named), lr=setting.lr, momentum=0.9, weight_decay=WEIGHT_DECAY)
    recorded = float("nan")
    for _ in range(setting.iters):
        outs = [bar(head(f)) for f, head, bar in zip(stage_outputs(net, x), heads, barriers)]
        losses = [F.mse_loss(o, t) for o, t in zip(outs, targets)]
        opt.zero_grad()
        sum(losses).backward()
        opt.step()
        recorded = float(sum(loss.detach() / 2**i for i, loss in enumerate(losses)))
        if not math.isfinite(recorded):
            return float("nan")
    return recorded * (1 + setting.alpha * -macs_fraction)
