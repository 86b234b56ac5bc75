"""The NAS-Bench-201 network in torch (AutoDL-Projects TinyNetwork / InferCell), written anew.

Stem conv3x3 + BN; three stages of N cells at C, 2C, 4C with a ResNet basic block (stride 2)
between stages; final BN + ReLU, global average pool, linear head. Cell ops are ReLU-Conv-BN
(affine BN), 3x3 average pooling without padded zeros, identity, and zero. Parameter counts equal
``nb201.costs``.

``style="zero-cost-nas"`` builds the variant SamsungLabs/zero-cost-nas scores its proxies on
(``foresight/models/nasbench2``): cell ops use AutoDL's ``affine=False`` form, a conv *with* bias
followed by a non-affine BN. The bias leaves the forward unchanged (batch-statistics BN removes it),
so gradients with respect to weights are the same, but fisher reads the biased conv output and
synflow's BN-free copy keeps the bias. ``bn=False`` (synflow's copy) drops every BatchNorm in the
benchmark style; in the zero-cost-nas style it keeps the reduction blocks' BN, because that model's
residual block ignores ``use_bn``.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .nb201 import EDGES, parse_arch

STYLES = ("benchmark", "zero-cost-nas")
NUM_NODES = 1 + max(dst for dst, _src in EDGES)   # node 0 is the cell input, the last its output


class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, bn: bool = True,
                 affine: bool = True):
        # AutoDL's op: conv bias = not affine (a non-affine BN follows a biased conv).
        layers = [nn.ReLU(inplace=False), nn.Conv2d(c_in, c_out, kernel, stride, padding, bias=not affine)]
        if bn:
            layers.append(nn.BatchNorm2d(c_out, affine=affine, track_running_stats=affine))
        super().__init__(*layers)


class Zero(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)  # keeps the edge in the autograd graph, as the reference does


class ResNetBasicBlock(nn.Module):
    """Reduction between stages: two ReLU-Conv-BN (first with stride 2) plus an avg-pool + 1x1 shortcut."""

    def __init__(self, c_in: int, c_out: int, bn: bool = True):
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2, 1, bn)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1, bn)
        self.downsample = nn.Sequential(nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
                                        nn.Conv2d(c_in, c_out, 1, 1, 0, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


def make_op(op: str, c: int, bn: bool = True, affine: bool = True) -> nn.Module:
    if op == "none":
        return Zero()
    if op == "skip_connect":
        return nn.Identity()
    if op == "nor_conv_1x1":
        return ReLUConvBN(c, c, 1, 1, 0, bn, affine)
    if op == "nor_conv_3x3":
        return ReLUConvBN(c, c, 3, 1, 1, bn, affine)
    if op == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"unknown NB201 op {op!r}")


def live_edges(ops: tuple[str, ...]) -> tuple[bool, ...]:
    """Per edge (string order): is it on a path to the cell's output? An edge i->j is live when its
    op is not ``none`` and node j reaches node 3 through ops that are not ``none``. A dead edge's
    output is multiplied by zero before it reaches the output (its gradient is exactly zero)."""
    reaches = {NUM_NODES - 1}
    for k in reversed(range(len(EDGES))):   # edges into later nodes come later: one backward sweep
        dst, src = EDGES[k]
        if ops[k] != "none" and dst in reaches:
            reaches.add(src)
    return tuple(op != "none" and dst in reaches for op, (dst, _src) in zip(ops, EDGES))


def cell_forward(x: torch.Tensor, edge: Callable[[int, torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """The NB201 cell's DAG, shared by the stand-alone network and the supernet: node 0 is ``x``,
    node j is the sum over i < j of ``edge(k, node i)`` for the edge k = (j, i) (``EDGES`` order,
    summed in source order), and the cell's output is the last node. ``edge`` decides what an edge
    computes: its one op, a weighted mixture of ops, a sampled op, or an attention-weighted sum."""
    nodes: list[torch.Tensor | None] = [x] + [None] * (NUM_NODES - 1)
    for k, (dst, src) in enumerate(EDGES):   # sorted by target: a source node is complete when read
        y = edge(k, nodes[src])
        nodes[dst] = y if nodes[dst] is None else nodes[dst] + y
    return nodes[-1]


class Cell(nn.Module):
    def __init__(self, ops: tuple[str, ...], c: int, bn: bool = True, affine: bool = True):
        super().__init__()
        self.edges = nn.ModuleList(make_op(op, c, bn, affine) for op in ops)
        self.live = live_edges(tuple(ops))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return cell_forward(x, lambda k, h: self.edges[k](h))


class NB201Network(nn.Module):
    def __init__(self, arch: str, C: int = 16, N: int = 5, num_classes: int = 10, bn: bool = True,
                 style: str = "benchmark"):
        super().__init__()
        if style not in STYLES:
            raise ValueError(f"unknown NB201 network style {style!r}; known: {', '.join(STYLES)}")
        zc = style == "zero-cost-nas"
        ops = parse_arch(arch)
        assert len(ops) == len(EDGES)
        self.arch = arch
        stem = [nn.Conv2d(3, C, 3, padding=1, bias=False)] + ([nn.BatchNorm2d(C)] if bn else [])
        self.stem = nn.Sequential(*stem)
        cells: list[nn.Module] = []
        c = C
        for stage in range(3):
            if stage:
                cells.append(ResNetBasicBlock(c, 2 * c, bn or zc))
                c *= 2
            cells.extend(Cell(ops, c, bn, affine=not zc) for _ in range(N))
        self.cells = nn.Sequential(*cells)
        self.lastact = nn.Sequential(*([nn.BatchNorm2d(c)] if bn else []), nn.ReLU(inplace=True))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.lastact(self.cells(self.stem(x)))
        return self.classifier(self.pool(out).flatten(1))


def dead_branch_relus(net: nn.Module) -> list[nn.Module]:
    """The ReLUs of ops on dead edges (``live_edges``) of every cell in ``net``; none outside cells."""
    return [m for cell in net.modules() if isinstance(cell, Cell)
            for op, live in zip(cell.edges, cell.live) if not live for m in op.modules() if isinstance(m, nn.ReLU)]


def build_network(arch: str, *, C: int = 16, N: int = 5, num_classes: int = 10, bn: bool = True,
                  style: str = "benchmark") -> NB201Network:
    return NB201Network(arch, C=C, N=N, num_classes=num_classes, bn=bn, style=style)
