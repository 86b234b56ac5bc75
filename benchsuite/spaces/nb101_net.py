"""The NAS-Bench-101 network in torch, following the official TF ``model_builder``.

Conv-BN-ReLU ops without conv bias; 1x1 projections of the cell input to every vertex it feeds;
vertex inputs summed (interior sources truncated to the vertex's channels); outputs of vertices
feeding the output concatenated, plus a projection of the input when it feeds the output directly.
Parameter counts equal ``nb101.cell_costs`` and so the table's (nasbench-pytorch's model carries a
few extra parameters per cell, so it is not used).
"""
from __future__ import annotations

import torch
from torch import nn

from .nb101 import Cell, parse_cell, vertex_channels

# Official NB101 training used TF batch norm with momentum 0.997 (PyTorch: 1 - 0.997) and eps 1e-5.
_BN = {"momentum": 0.003, "eps": 1e-5}


class ConvBnRelu(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, bn: bool = True):
        bn_layer = [nn.BatchNorm2d(c_out, **_BN)] if bn else []
        super().__init__(nn.Conv2d(c_in, c_out, kernel, 1, kernel // 2, bias=False), *bn_layer,
                         nn.ReLU(inplace=False))


class NB101Cell(nn.Module):
    def __init__(self, cell: Cell, c_in: int, c_out: int, bn: bool = True):
        super().__init__()
        m = cell.array
        self.n = n = m.shape[0]
        self.m = m.tolist()
        self.ch = vertex_channels(c_in, c_out, m)
        self.proj = nn.ModuleDict({str(v): ConvBnRelu(c_in, self.ch[v], 1, bn) for v in range(1, n) if m[0, v]})
        ops: dict[str, nn.Module] = {}
        for v in range(1, n - 1):
            op = cell.ops[v]
            if op == "maxpool3x3":
                ops[str(v)] = nn.MaxPool2d(3, 1, 1)
            else:
                ops[str(v)] = ConvBnRelu(self.ch[v], self.ch[v], 3 if op == "conv3x3-bn-relu" else 1, bn)
        self.ops = nn.ModuleDict(ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, m = self.n, self.m
        tensors = [x]
        concat = []
        for v in range(1, n - 1):
            fan_in = [tensors[s][:, : self.ch[v]] for s in range(1, v) if m[s][v]]
            if m[0][v]:
                fan_in.append(self.proj[str(v)](x))
            h = fan_in[0]
            for t in fan_in[1:]:
                h = h + t
            tensors.append(self.ops[str(v)](h))
            if m[v][n - 1]:
                concat.append(tensors[v])
        if not concat:
            return self.proj[str(n - 1)](x)
        out = concat[0] if len(concat) == 1 else torch.cat(concat, 1)
        if m[0][n - 1]:
            out = out + self.proj[str(n - 1)](x)
        return out


class NB101Network(nn.Module):
    def __init__(self, cell: Cell, *, stem_channels: int = 128, stacks: int = 3, cells_per_stack: int = 3,
                 num_classes: int = 10, bn: bool = True):
        super().__init__()
        layers: list[nn.Module] = [ConvBnRelu(3, stem_channels, 3, bn)]
        c_in = c = stem_channels
        for s in range(stacks):
            if s:
                layers.append(nn.MaxPool2d(2, 2))
                c *= 2
            for _ in range(cells_per_stack):
                layers.append(NB101Cell(cell, c_in, c, bn))
                c_in = c
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).mean(dim=(2, 3)))


def build_network(arch: str | Cell, *, num_classes: int = 10, stem_channels: int = 128, **kwargs) -> NB101Network:
    cell = arch if isinstance(arch, Cell) else parse_cell(arch)
    return NB101Network(cell, num_classes=num_classes, stem_channels=stem_channels, **kwargs)
