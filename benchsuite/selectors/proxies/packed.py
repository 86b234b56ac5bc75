"""The eight zero-cost proxies for many NB201 cells in one graph: the cells' networks packed side by side.

On a GPU one small NB201 network (batch 64) cannot fill the device, so ``--device cuda`` scores
``cell_batch`` cells per pass. Each cell keeps its own network, built and seeded exactly as the
one-cell path builds it (``measures.compute``); the K networks are packed along the channel
axis: activations are (batch, K, C, H, W), every conv is a grouped conv with one group per network,
BatchNorm is per channel (so each network keeps its own batch statistics), and the classifier is a
batched matmul. On each cell edge the networks are grouped by the op they use there, each group
runs its op on its slice, and the results are summed back into the node. The total loss is the sum
of the K networks' losses, so the gradient of each network's weights, its activation gradients and
its block of the Hessian are those of its own loss. Every proxy is therefore the one-cell value up
to float summation order (tests check it against ``compute`` on CPU).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ...spaces.nb201_net import Cell, NB201Network, ResNetBasicBlock, Zero
from .measures import (
    SHARED,
    _jacov,
    agreement_kernel,
    bn_free_copy,
    fisher_channels,
    full_precision,
    input_shape,
    nonfinite_as_reference,
)


class _Layer:
    """One conv (or the classifier) of n networks, stacked; ``idx`` says which networks."""

    def __init__(self, mods: Sequence[nn.Module], idx: torch.Tensor, device):
        self.idx, self.n = idx, len(mods)
        m0 = mods[0]
        self.w = torch.cat([m.weight.detach() for m in mods]).to(device).requires_grad_()
        self.b = (torch.cat([m.bias.detach() for m in mods]).to(device).requires_grad_()
                  if m0.bias is not None else None)
        self.linear = isinstance(m0, nn.Linear)
        self.fan = math.prod(m0.weight.shape[1:])  # weights per output channel: fisher's broadcast
        if not self.linear:
            self.stride, self.padding = m0.stride, m0.padding


class _Norm:
    def __init__(self, mods: Sequence[nn.BatchNorm2d], device):
        self.eps = mods[0].eps
        self.w = torch.cat([m.weight.detach() for m in mods]).to(device) if mods[0].affine else None
        self.b = torch.cat([m.bias.detach() for m in mods]).to(device) if mods[0].affine else None


class PackedNB201:
    """K NB201 networks (same C, N, style) as one forward; see the module docstring."""

    def __init__(self, nets: Sequence[NB201Network], device):
        self.k = len(nets)
        self.device = device
        self.layers: list[_Layer] = []
        every = torch.arange(self.k, device=device)
        self.stem = self._conv_bn([list(n.stem) for n in nets], every)
        self.blocks = []
        for i in range(len(nets[0].cells)):
            blocks = [n.cells[i] for n in nets]
            if isinstance(blocks[0], ResNetBasicBlock):
                self.blocks.append(("reduce", self._conv_bn([list(b.conv_a)[1:] for b in blocks], every),
                                    self._conv_bn([list(b.conv_b)[1:] for b in blocks], every),
                                    self._layer([b.downsample[1] for b in blocks], every)))
            else:
                assert all(isinstance(b, Cell) for b in blocks)
                self.blocks.append(("cell", [self._edge([b.edges[e] for b in blocks], [b.live[e] for b in blocks])
                                             for e in range(6)]))
        last = [n.lastact[0] for n in nets]
        self.last_bn = _Norm(last, device) if isinstance(last[0], nn.BatchNorm2d) else None
        cls = [n.classifier for n in nets]
        self.classifier = self._layer(cls, every)

    def _layer(self, mods, idx) -> _Layer:
        layer = _Layer(mods, idx, self.device)
        self.layers.append(layer)
        return layer

    def _conv_bn(self, seqs, idx):
        """(packed conv, packed BN or None) from Sequential(conv[, bn]) per network."""
        conv = self._layer([s[0] for s in seqs], idx)
        bn = _Norm([s[1] for s in seqs], self.device) if len(seqs[0]) > 1 else None
        return conv, bn

    def _edge(self, ops, live):
        """The networks on one edge, grouped by op: [(kind, idx, packed conv/bn or None, live)], where
        ``live`` = (positions in idx, network ids) of the networks whose edge is live (naswot "live")."""
        groups: dict[str, list[int]] = {}
        for j, op in enumerate(ops):
            if isinstance(op, Zero):
                continue  # contributes exact zeros (and zero gradients): nothing to add
            kind = ("skip" if isinstance(op, nn.Identity) else "pool" if isinstance(op, nn.AvgPool2d)
                    else f"conv{op[1].kernel_size[0]}")
            groups.setdefault(kind, []).append(j)
        out = []
        for kind, members in groups.items():
            idx = torch.tensor(members, device=self.device)
            packed = self._conv_bn([list(ops[j])[1:] for j in members], idx) if kind.startswith("conv") else None
            pos = [p for p, j in enumerate(members) if live[j]]
            out.append((kind, idx, packed, (torch.tensor(pos, dtype=torch.long, device=self.device), idx[pos])))
        return out

    # --- forward: x5 is (batch, n, C, H, W) for the networks in idx ---
    def _conv(self, layer: _Layer, x5: torch.Tensor, rec) -> torch.Tensor:
        b, n, c, h, w = x5.shape
        y = F.conv2d(x5.reshape(b, n * c, h, w), layer.w, layer.b, layer.stride, layer.padding, groups=n)
        y5 = y.reshape(b, n, -1, *y.shape[2:])
        if rec.acts is not None:
            rec.acts.append((layer, y5))
        return y5

    @staticmethod
    def _bn(norm: _Norm | None, y5: torch.Tensor) -> torch.Tensor:
        if norm is None:
            return y5
        b, n, c, h, w = y5.shape
        y = F.batch_norm(y5.reshape(b, n * c, h, w), None, None, norm.w, norm.b, training=True, eps=norm.eps)
        return y.reshape(b, n, c, h, w)

    def _relu(self, x5: torch.Tensor, idx: torch.Tensor, rec, live=None) -> torch.Tensor:
        if rec.kernel is not None:  # naswot, one kernel per network: codes (network, image, unit)
            seen = x5.detach()
            if rec.live_only and live is not None:  # a cell edge: only the networks where it is live
                pos, idx = live
                seen = seen.index_select(1, pos)
            if len(idx):
                c = (seen > 0).transpose(0, 1).reshape(seen.shape[1], seen.shape[0], -1).float()
                rec.kernel.index_add_(0, idx, agreement_kernel(c))
        return F.relu(x5)

    def _rcb(self, packed, x5, idx, rec, live=None):
        conv, norm = packed
        return self._bn(norm, self._conv(conv, self._relu(x5, idx, rec, live), rec))

    def forward(self, x5: torch.Tensor, rec) -> torch.Tensor:
        every = torch.arange(self.k, device=self.device)
        conv, norm = self.stem
        x5 = self._bn(norm, self._conv(conv, x5, rec))
        for block in self.blocks:
            if block[0] == "reduce":
                _, a, b, down = block
                basic = self._rcb(b, self._rcb(a, x5, every, rec), every, rec)
                bsz, n, c, h, w = x5.shape
                pooled = F.avg_pool2d(x5.reshape(bsz, n * c, h, w), 2, 2).reshape(bsz, n, c, h // 2, w // 2)
                x5 = self._conv(down, pooled, rec) + basic
                continue
            nodes = [x5]
            e = 0
            for j in range(1, 4):
                total = torch.zeros_like(x5)
                for i in range(j):
                    for kind, idx, packed, live in block[1][e]:
                        src = nodes[i].index_select(1, idx)
                        if kind == "pool":
                            bsz, n, c, h, w = src.shape
                            y = F.avg_pool2d(src.reshape(bsz, n * c, h, w), 3, 1, 1, count_include_pad=False)
                            y = y.reshape(src.shape)
                        elif kind == "skip":
                            y = src
                        else:
                            y = self._rcb(packed, src, idx, rec, live)
                        total = total.index_add(1, idx, y)
                    e += 1
                nodes.append(total)
            x5 = nodes[3]
        x5 = self._relu(self._bn(self.last_bn, x5), every, rec)
        feats = x5.mean(dim=(3, 4))  # global average pool: (batch, K, C)
        cls = self.classifier
        out = torch.einsum("bkc,koc->bko", feats, cls.w.reshape(self.k, -1, feats.shape[2]))
        out = out + cls.b.reshape(self.k, -1) if cls.b is not None else out
        if rec.acts is not None:
            rec.acts.append((cls, out))
        return out


class _Recorder:
    def __init__(self, k: int, fisher: bool, naswot: bool, batch: int, device, live_only: bool = False):
        self.acts = [] if fisher else None
        self.live_only = live_only
        self.kernel = torch.zeros(k, batch, batch, dtype=torch.float64, device=device) if naswot else None


def _per_network(layers, values, k, device) -> torch.Tensor:
    """Σ over packed layers of a per-(layer, network) value, gathered per network."""
    total = torch.zeros(k, dtype=torch.float64, device=device)
    for layer, v in zip(layers, values):
        total.index_add_(0, layer.idx, v.double())
    return total


def _weights(packed: PackedNB201) -> list[torch.Tensor]:
    return [layer.w for layer in packed.layers]


def _rows(t: torch.Tensor, layer: _Layer) -> torch.Tensor:
    return t.reshape(layer.n, -1)


def shared_pass_packed(packed: PackedNB201, x, y, wanted: set[str],
                       naswot_relus: str = "all") -> dict[str, torch.Tensor]:
    k, n = packed.k, x.shape[0]
    dev = packed.device
    rec = _Recorder(k, "fisher" in wanted, "naswot" in wanted, n, dev, live_only=naswot_relus == "live")
    x5 = x.unsqueeze(1).expand(n, k, *x.shape[1:]).clone().requires_grad_("jacov" in wanted)
    logits = packed.forward(x5, rec)
    out: dict[str, torch.Tensor] = {}
    if "naswot" in wanted:
        sign, logdet = torch.linalg.slogdet(rec.kernel)
        out["naswot"] = logdet   # -inf where a kernel is singular, as the reference's slogdet
    layers, weights = packed.layers, _weights(packed)
    if {"snip", "grasp", "fisher", "grad_norm"} & wanted:
        # Σ_k mean-CE of network k: each network's gradients are those of its own loss.
        loss = F.cross_entropy(logits.permute(0, 2, 1), y[:, None].expand(n, k), reduction="none").mean(0).sum()
        acts = [a for _, a in rec.acts] if rec.acts is not None else []
        # A conv whose output reaches the loss only through 'none' edges is left out of the packed
        # graph (the one-cell graph multiplies it by zero): its gradients are exactly zero.
        grads = torch.autograd.grad(loss, weights + acts, create_graph="grasp" in wanted, retain_graph=True,
                                    allow_unused=True)
        grads = [g if g is not None else torch.zeros_like(t) for g, t in zip(grads, weights + acts)]
        gw, ga = grads[: len(weights)], grads[len(weights):]
        if "grad_norm" in wanted:
            out["grad_norm"] = _per_network(layers, [_rows(g.detach(), L).norm(dim=1) for g, L in zip(gw, layers)],
                                            k, dev)
        if "snip" in wanted:
            vals = [_rows((w.detach() * g.detach()).abs(), L).sum(1) for w, g, L in zip(weights, gw, layers)]
            out["snip"] = _per_network(layers, vals, k, dev)
        if "fisher" in wanted:
            vals = []
            for (layer, a), g in zip(rec.acts, ga):  # a: (batch, n, C[, H, W]) -> channels n·C
                flat = a.shape[0], layer.n * a.shape[2], *a.shape[3:]
                per_channel = fisher_channels(a.reshape(flat), g.reshape(flat))
                vals.append(per_channel.reshape(layer.n, -1).sum(1) * layer.fan)
            out["fisher"] = _per_network([L for L, _ in rec.acts], vals, k, dev)
        if "grasp" in wanted:
            z = sum((g.detach() * g).sum() for g in gw if g.requires_grad)
            hg = torch.autograd.grad(z, weights, retain_graph="jacov" in wanted, allow_unused=True)
            vals = [_rows(-w.detach() * (h if h is not None else torch.zeros_like(w)), L).sum(1)
                    for w, h, L in zip(weights, hg, layers)]
            out["grasp"] = _per_network(layers, vals, k, dev)
    if "jacov" in wanted:
        (jac,) = torch.autograd.grad(logits.sum(), x5, allow_unused=True)  # unused: no cell sees its input
        jac = jac if jac is not None else torch.zeros_like(x5)
        out["jacov"] = torch.tensor([_jacov(jac[:, j]) for j in range(k)], dtype=torch.float64)
    return out


def zico_packed(packed: PackedNB201, x, y, splits: int = 2) -> torch.Tensor:
    k, n = packed.k, x.shape[0]
    layers, weights = packed.layers, _weights(packed)
    halves: list[list[torch.Tensor]] = [[] for _ in layers]
    rec = _Recorder(k, False, False, 0, packed.device)
    for sp in range(splits):
        st, en = sp * n // splits, (sp + 1) * n // splits
        xs = x[st:en].unsqueeze(1).expand(en - st, k, *x.shape[1:]).contiguous()
        logits = packed.forward(xs, rec)
        loss = F.cross_entropy(logits.permute(0, 2, 1), y[st:en, None].expand(en - st, k), reduction="none")
        grads = torch.autograd.grad(loss.mean(0).sum(), weights, allow_unused=True)
        for acc, g, w, L in zip(halves, grads, weights, layers):
            acc.append(_rows(g.detach() if g is not None else torch.zeros_like(w), L).double())
    vals = []
    for gs in halves:
        g = torch.stack(gs)  # (splits, n, D)
        std = g.std(0, unbiased=False)
        ratio = torch.where(std != 0, g.abs().mean(0) / torch.where(std != 0, std, 1.0), 0.0)
        tmpsum = ratio.sum(1)
        vals.append(torch.where(tmpsum != 0, torch.log(torch.where(tmpsum != 0, tmpsum, 1.0)), 0.0))
    return _per_network(layers, vals, k, packed.device)


def synflow_packed(plain_nets: Sequence[NB201Network], shape, device) -> torch.Tensor:
    nets = [p.double() for p in plain_nets]
    with torch.no_grad():
        for net in nets:
            for v in net.state_dict().values():
                v.abs_()
    packed = PackedNB201(nets, device)
    ones = torch.ones((1, packed.k, *shape), dtype=torch.float64, device=device)
    weights = _weights(packed)
    grads = torch.autograd.grad(packed.forward(ones, _Recorder(packed.k, False, False, 0, device)).sum(), weights,
                                allow_unused=True)
    vals = [_rows((w.detach() * g).abs(), L).sum(1) if g is not None else torch.zeros(L.n, device=device)
            for w, g, L in zip(weights, grads, packed.layers)]
    return _per_network(packed.layers, vals, packed.k, device)


def compute_packed(builds: Sequence[Callable[..., nn.Module]], x, y, names, *, seed: int,
                   device: str = "cpu", naswot_relus: str = "all", shape=None) -> list[dict[str, float]]:
    """``compute`` for many NB201 cells at once: one dict per build, the same values up to float
    summation order. Each network is built under ``torch.manual_seed(seed)``, as ``compute`` does;
    as there, ``x``/``y`` may be None for synflow alone, sized by ``shape``."""
    names = set(names)
    shape = input_shape(x, shape, names)
    with full_precision(device):
        return _compute_packed(builds, x, y, names, seed=seed, device=device, naswot_relus=naswot_relus,
                               shape=shape)


def _compute_packed(builds, x, y, names: set[str], *, seed: int, device: str,
                    naswot_relus: str, shape: tuple[int, ...]) -> list[dict[str, float]]:
    nets, plains = [], []
    for build in builds:
        torch.manual_seed(seed)
        net = build(bn=True).train()
        nets.append(net)
        if "synflow" in names:
            plains.append(bn_free_copy(build, net.state_dict()))
    if x is not None:
        x, y = x.to(device), y.to(device)
    cols: dict[str, torch.Tensor] = {}
    if names & (SHARED | {"zico"}):
        packed = PackedNB201(nets, device)
        if names & SHARED:
            cols.update(shared_pass_packed(packed, x, y, names & SHARED, naswot_relus))
        if "zico" in names:
            cols["zico"] = zico_packed(packed, x, y)
    if "synflow" in names:
        cols["synflow"] = synflow_packed(plains, shape, device)
    host = {k: v.detach().double().cpu().tolist() for k, v in cols.items()}  # the one sync per pack
    return [{k: nonfinite_as_reference(v[j]) for k, v in host.items()}
            for j in range(len(builds))]

