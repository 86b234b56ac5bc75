"""MeCo (Jiang, Wang & Bie, NeurIPS 2023): Σ over layers of the minimum eigenvalue of the
channel-correlation matrix of one image's feature map, from one forward pass.

Reference: HamsterMimi/MeCo. NB-201: ``correlation/NAS_Bench_201.py`` ``get_score`` (lines 11-43);
NB-101: ``correlation/NAS_Bench_101.py`` runs ``correlation/foresight/pruners/measures/meco.py``.

- a forward hook on EVERY module (``named_modules()``, NAS_Bench_201.py:33-34), containers and
  wrappers included, each firing once per forward with its output;
- per firing: the first image's output ``out[0]`` (line 15) reshaped to (channels, -1) (16-17),
  ``torch.corrcoef`` over channels (19), NaN and ±inf entries set to 0 (20-21), the minimum real part
  of ``torch.linalg.eig`` (22-23); a 1-D output (logits, pooled vector) has one value per row, its
  correlation is all NaN, so it adds 0; so does the all-zero output of an NB-201 ``none`` edge;
- NaN/inf results dropped, the rest summed (37-40); higher = better.

Inputs and defaults, as the reference: on NB-201 one training image (``--batch_size`` default 1,
NAS_Bench_201.py:61, the first batch of the shuffled, train-transformed CIFAR loader, lines 93-94),
zero-cost-nas's network (``nasbench2``, line 113) at PyTorch's default initialisation (``init_w_type
none``, lines 56 and 124), in train mode. On NB-101 the measure ignores the data and feeds one
Gaussian 1x3x64x64 input (``measures/meco.py:27``; here seeded) to the network of
``NAS_Bench_101.py:114``, zero-cost-nas's ``nasbench1.Network``, which initialises itself
(``gradsign.nasbench1_init``).

Because every module is hooked, a tensor counts once per module that returns it: the reference's
wrappers (``nasbench2_ops.ReLUConvBN`` around an ``op`` Sequential, ``POOLING`` around an AvgPool,
``stem`` around ``net``, the three ``stack_cell`` Sequentials; ``nasbench1_ops.Conv3x3BnRelu`` around
``ConvBnRelu`` around a Sequential, ``MaxPool3x3`` around a MaxPool) repeat a tensor that
benchsuite's networks return from fewer modules. ``site_counts`` gives each of our modules the
number of reference modules returning its output, so the sum is the reference's term for term.
"""
from __future__ import annotations

import random

import torch
from torch import nn

from ...data.images import PAD_DEVIATION
from ...spaces.nb101_net import ConvBnRelu, NB101Cell, NB101Network
from ...spaces.nb201_net import Cell, NB201Network, ReLUConvBN
from .extra import MeasureInput
from .gradsign import nasbench1_init
from .zero_cost import ZeroCostSelector

NB101_INPUT = (1, 3, 64, 64)   # correlation/foresight/pruners/measures/meco.py:27 (torch.randn)
OPT_CHANNELS = 8               # meco_opt's sample of channels (NAS_Bench_201.py:25, 31)


def site_counts(net: nn.Module) -> dict[nn.Module, int]:
    """How many modules of the reference's network return each of ``net``'s modules' outputs (1 for
    a module the reference has as such, more where it wraps it, 0 where it has no such module).
    A network other than benchsuite's NB-201/NB-101 counts every module once, as the reference's hook
    on every module does."""
    counts = {m: 1 for m in net.modules()}
    if isinstance(net, NB201Network):
        # nasbench2.py:58 `stem` wraps `stem.net` (nasbench2_ops.py:88-96): two modules return the BN output
        counts[net.stem] = 2
        # nasbench2.py:59-63: a Sequential per stage (stack_cell1..3) returns its last cell's output;
        # benchsuite has one Sequential over all stages, which the reference lacks
        counts[net.cells] = 0
        cells = list(net.cells)
        for k, c in enumerate(cells):
            if isinstance(c, Cell) and (k + 1 == len(cells) or not isinstance(cells[k + 1], Cell)):
                counts[c] = 2
        for m in net.modules():
            if isinstance(m, ReLUConvBN):   # nasbench2_ops.py:22-40: ReLUConvBN wraps its `op` Sequential
                counts[m] = 2
            elif isinstance(m, Cell):       # nasbench2_ops.py:62-69: POOLING wraps the cells' AvgPool2d
                for op in m.edges:
                    if isinstance(op, nn.AvgPool2d):
                        counts[op] = 2
    elif isinstance(net, NB101Network):
        # nasbench1.py:47-67: `layers` is a ModuleList (no forward); benchsuite's `features` is a Sequential
        counts[net.features] = 0
        # nasbench1_ops.py:26-42: ConvBnRelu wraps a Sequential, so the stem and the input projections
        # have two modules returning the ReLU output; a vertex conv (Conv3x3BnRelu/Conv1x1BnRelu,
        # lines 45-64) wraps a ConvBnRelu: three; a vertex max-pool (MaxPool3x3, 67-76): two
        for m in net.modules():
            if isinstance(m, ConvBnRelu):
                counts[m] = 2
        for cell in net.modules():
            if isinstance(cell, NB101Cell):
                for op in cell.ops.values():
                    counts[op] = 3 if isinstance(op, ConvBnRelu) else 2
    return counts


def min_eig_corr(fea: torch.Tensor) -> torch.Tensor:
    """λ_min of the correlation matrix of the rows of ``fea`` (channels x pixels), NaN/inf entries
    zeroed, through the general eigensolver, as NAS_Bench_201.py:19-23."""
    n, pixels = fea.shape
    if pixels < 2:   # one value per row (logits, a pooled vector): every correlation is NaN, zeroed: λ = 0
        return torch.zeros((), dtype=fea.dtype, device=fea.device)
    corr = torch.corrcoef(fea).reshape(n, n)   # one row: torch gives a 0-d tensor, the 1x1 matrix
    corr = torch.where(torch.isfinite(corr), corr, torch.zeros_like(corr))
    return torch.linalg.eigvals(corr).real.min()


def _first_image(out) -> torch.Tensor:
    fea = out[0].detach()                      # the first image's output (NAS_Bench_201.py:15)
    return fea.reshape(fea.shape[0], -1)       # (channels, pixels); (K, 1) for a logit vector


def meco_of(net: nn.Module, x: torch.Tensor, *, opt_rng: random.Random | None = None) -> float:
    """MeCo of ``net`` on input ``x`` (the first image's features count). With ``opt_rng``, the
    reference's ``meco_opt`` instead: per firing, λ_min over ``OPT_CHANNELS`` channels sampled
    without replacement, times channels / 8 (NAS_Bench_201.py:24-31), from ``opt_rng`` (the
    reference's unseeded ``random``)."""
    counts = site_counts(net)
    values: list[torch.Tensor] = []

    def hook(module, _inp, out) -> None:
        fea = _first_image(out)
        k = counts[module]
        if opt_rng is None:
            if k:   # the same tensor from k reference modules: k equal terms
                values.append(k * min_eig_corr(fea))
            return
        n = fea.shape[0]
        for _ in range(k):   # the reference samples afresh at each firing
            # random.sample(range(n), 8) raises for n < 8 in the reference; all n channels then (x1)
            idx = opt_rng.sample(range(n), min(OPT_CHANNELS, n))
            values.append(min_eig_corr(fea[idx]) * n / len(idx))

    hooks = [m.register_forward_hook(hook) for m in net.modules()]
    try:
        with torch.no_grad():   # no gradient is read; train-mode BN still normalises over the batch
            net(x)
    finally:
        for h in hooks:
            h.remove()
    if not values:
        return float("nan")
    v = torch.stack([t.double() for t in values])
    return float(v[torch.isfinite(v)].sum())   # NaN/inf dropped, the rest summed (lines 37-40)


def reference_input(net: nn.Module, m: MeasureInput) -> tuple[nn.Module, torch.Tensor]:
    """The network and input the reference scores: NB-101 re-initialised and fed seeded Gaussian
    noise (``NB101_INPUT``); otherwise the shared network and image batch."""
    if isinstance(net, NB101Network):
        nasbench1_init(net, m.seed)
        noise = torch.randn(NB101_INPUT, generator=torch.Generator().manual_seed(m.seed))
        return net, noise.to(m.device)
    return net, m.x


def meco(m: MeasureInput) -> float:
    net, x = reference_input(m.net(bn=True).train(), m)
    return meco_of(net, x)


def meco_opt(m: MeasureInput) -> float:
    """The reference's ``--measure meco_opt`` (8 sampled channels per layer), seeded from ``m.seed``;
    not in ``extra.TABLE`` yet."""
    net, x = reference_input(m.net(bn=True).train(), m)
    return meco_of(net, x, opt_rng=random.Random(m.seed))


class MecoSelector(ZeroCostSelector):
    """MeCo Σ_layers λ_min(channel correlation) of one image's features (Jiang et al., NeurIPS 2023).

    ``batch_size`` defaults to the reference's one image (NAS_Bench_201.py:61); with more, the
    first image's features count and BatchNorm normalises over the batch, as the reference's
    ``--batch_size``. On NB-101 the reference feeds seeded Gaussian 64x64 noise instead of images,
    so no image is used there (the batch is still drawn)."""

    name = proxy = "meco"
    fast_hparams = {"C": 4, "N": 1, "batch_size": 1}
    deviations = (
        PAD_DEVIATION,
        "NB-101 cells are scored on benchsuite's NB-101 network (the official TF model's structure) "
        "re-initialised as zero-cost-nas's nasbench1.Network initialises itself, and its modules "
        "counted as the reference's wrappers would count them (meco.site_counts); MeCo scores them on "
        "that nasbench1.Network",
        "the NB-101 noise input is drawn from a generator seeded with the selector's seed; the "
        "reference's torch.randn follows the global RNG, unseeded in NAS_Bench_101.py",
    )

    def __init__(self, *, seed: int = 0, device: str = "cpu", batch_size: int = 1, share: bool = False,
                 C: int | None = None, N: int | None = None, network: str = "reference",
                 cell_batch: int | None = None, cifar_dir: str | None = None) -> None:
        # batch_size=1: NAS_Bench_201.py:61 (MeCo's "one data")
        super().__init__(seed=seed, device=device, batch_size=batch_size, share=share, C=C, N=N,
                         network=network, cell_batch=cell_batch, cifar_dir=cifar_dir)


class MecoOptSelector(MecoSelector):
    """MeCo_opt: MeCo over 8 sampled channels per layer, scaled by channels/8 (Jiang et al., NeurIPS 2023).

    Not registered yet: it needs ``"meco_opt": Measure("meco:meco_opt")`` in ``extra.TABLE`` and a
    registry entry (``--measure meco_opt`` of NAS_Bench_201.py:60; the paper's faster variant)."""

    name = proxy = "meco_opt"
    deviations = MecoSelector.deviations + (
        "the 8 channels are sampled with random.Random(seed) at each hook firing; the reference's "
        "random.sample is unseeded (NAS_Bench_201.py:25)",
        "a layer of fewer than 8 channels uses all of them; the reference's random.sample raises there",
    )
