"""The NB201 supernet: every edge holds all five ops (AutoDL's TinyNetworkDarts layout, written anew).

Stem conv + BN, three stages of N search cells at C, 2C, 4C joined by the same residual reduction
blocks as the stand-alone network, final BN + ReLU, global pool, linear head. Search-cell ops are
ReLU-Conv-BN with ``affine=False`` BN (as AutoDL/DARTS search). Every BN in the supernet uses batch
statistics (``track_running_stats=False``), so a sub-network's accuracy with inherited weights
needs no BN recalibration and evaluation has no side effects.

One forward, three ways to pick what each edge computes (all cells share one genotype):
  * ``weights`` (6, 5): a weighted sum of the ops (DARTS softmax(alpha), DARTS-PT masks); ops with
    weight exactly 0 are skipped, so a projected (one-hot) edge costs one op;
  * ``path`` (6 ints): one op per edge (SPOS / RLNAS / few-shot uniform sampling, evaluation);
  * ``indicator``: an IT-NAS transformer that weighs the ops from their feature maps.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..spaces.nb201 import EDGES, OPS, format_arch, parse_arch
from ..spaces.nb201_net import ResNetBasicBlock, Zero, cell_forward

NUM_EDGES, NUM_OPS = len(EDGES), len(OPS)


def _bn(c: int, affine: bool) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, affine=affine, track_running_stats=False)


class SearchReLUConvBN(nn.Sequential):
    def __init__(self, c: int, kernel: int, padding: int):
        super().__init__(nn.ReLU(inplace=False), nn.Conv2d(c, c, kernel, 1, padding, bias=False), _bn(c, False))


def _search_op(op: str, c: int) -> nn.Module:
    if op == "none":
        return Zero()
    if op == "skip_connect":
        return nn.Identity()
    if op == "nor_conv_1x1":
        return SearchReLUConvBN(c, 1, 0)
    if op == "nor_conv_3x3":
        return SearchReLUConvBN(c, 3, 1)
    if op == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"unknown NB201 op {op!r}")


class MixedEdge(nn.Module):
    """The five ops of one edge; the cell's mode picks which of the three evaluations it calls."""

    def __init__(self, c: int):
        super().__init__()
        self.ops = nn.ModuleList(_search_op(op, c) for op in OPS)

    def sampled(self, x: torch.Tensor, index: int) -> torch.Tensor:
        return self.ops[index](x)

    def mixture(self, x: torch.Tensor, weights: torch.Tensor, active: list[bool] | None = None) -> torch.Tensor:
        """Σ_k weights[k] · op_k(x) over the ops ``active`` allows (all when None)."""
        total = None
        for k, op in enumerate(self.ops):
            if active is not None and not active[k]:   # masked (DARTS-PT) or projected: skip the work
                continue
            y = weights[k] * op(x)
            total = y if total is None else total + y
        return total if total is not None else x.mul(0.0)

    def attended(self, x: torch.Tensor, indicator, stage: int, edge: int) -> torch.Tensor:
        outs = torch.stack([op(x) for op in self.ops], dim=1)         # (B, K, C, H, W)
        w = indicator(outs, stage, edge)                              # (B, K)
        return (w[:, :, None, None, None] * outs).sum(1)


class SearchCell(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.edges = nn.ModuleList(MixedEdge(c) for _ in EDGES)

    def forward(self, x: torch.Tensor, weights: torch.Tensor | None = None, path: Sequence[int] | None = None,
                indicator=None, stage: int = 0, active: list[list[bool]] | None = None) -> torch.Tensor:
        """Exactly one of ``weights`` (6, 5), ``path`` (6 op indices) or ``indicator``."""
        if path is not None:
            return cell_forward(x, lambda k, h: self.edges[k].sampled(h, path[k]))
        if indicator is not None:
            return cell_forward(x, lambda k, h: self.edges[k].attended(h, indicator, stage, k))
        if weights is None:
            raise ValueError("give exactly one of weights, path or indicator")
        return cell_forward(x, lambda k, h: self.edges[k].mixture(h, weights[k], None if active is None else active[k]))


class Supernet(nn.Module):
    def __init__(self, *, C: int = 16, N: int = 5, num_classes: int = 10):
        super().__init__()
        self.C, self.N, self.num_classes = C, N, num_classes
        self.stem = nn.Sequential(nn.Conv2d(3, C, 3, padding=1, bias=False), _bn(C, True))
        layers: list[nn.Module] = []
        self.stage_of: list[int] = []   # stage index per layer; -1 for reductions
        c = C
        for stage in range(3):
            if stage:
                block = ResNetBasicBlock(c, 2 * c)
                for m in block.modules():   # batch statistics everywhere, as the cell ops
                    if isinstance(m, nn.BatchNorm2d):
                        m.track_running_stats = False
                        m.register_buffer("running_mean", None)
                        m.register_buffer("running_var", None)
                        m.register_buffer("num_batches_tracked", None)
                layers.append(block)
                self.stage_of.append(-1)
                c *= 2
            for _ in range(N):
                layers.append(SearchCell(c))
                self.stage_of.append(stage)
        self.cells = nn.ModuleList(layers)
        self.stage_channels = (C, 2 * C, 4 * C)
        self.lastact = nn.Sequential(_bn(c, True), nn.ReLU(inplace=True))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor, *, weights: torch.Tensor | None = None,
                path: Sequence[int] | Sequence[Sequence[int]] | None = None, indicator=None) -> torch.Tensor:
        """``path``: 6 op indices used by every cell (a cell's evaluation), or one such path per
        search cell (single-path training samples each cell on its own)."""
        if sum(v is not None for v in (weights, path, indicator)) != 1:
            raise ValueError("give exactly one of weights, path or indicator")
        per_cell = path is not None and isinstance(path[0], (list, tuple))
        if per_cell and len(path) != 3 * self.N:
            raise ValueError(f"{len(path)} cell paths for {3 * self.N} cells")
        # Which mixed ops have non-zero weight: read once per forward (one device sync, not 90).
        active = (weights.detach() != 0).cpu().tolist() if weights is not None else None
        h = self.stem(x)
        cell = 0
        for layer, stage in zip(self.cells, self.stage_of):
            if stage < 0:
                h = layer(h)
                continue
            h = layer(h, weights, path[cell] if per_cell else path, indicator, stage, active)
            cell += 1
        return self.classifier(self.pool(self.lastact(h)).flatten(1))


def arch_to_path(arch: str) -> tuple[int, ...]:
    return tuple(OPS.index(op) for op in parse_arch(arch))


def path_to_arch(path: Sequence[int]) -> str:
    return format_arch([OPS[i] for i in path])


def argmax_arch(importance: torch.Tensor) -> str:
    """(6, 5) op importance -> the NB201 cell taking the most important op on each edge."""
    return path_to_arch(importance.argmax(-1).tolist())


def log_score(importance: torch.Tensor, archs: Sequence[str]) -> list[float]:
    """Σ over edges of log importance of the cell's op: the cell's log-probability under the
    per-edge distributions (DARTS softmax(alpha), IT-NAS attention)."""
    logp = importance.clamp_min(1e-30).log().double()
    return [float(sum(logp[e, k] for e, k in enumerate(arch_to_path(a)))) for a in archs]
