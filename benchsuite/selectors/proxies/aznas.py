"""AZ-NAS (Lee & Ham, CVPR 2024): four zero-cost components and their aggregate of ranks.

Reference: cvlab-yonsei/AZ-NAS, ``NB201/ZeroShotProxy/compute_az_nas_score.py`` (cited below as
``az:LINE``), driven by ``NB201/tss_general.ipynb`` (``nb:cell N``) on ``NB201/custom/tss_model.py``.

- stages: the stem output and the output of every block after it, reduction blocks included
  (``tss_model.py:54-68`` ``extract_cell_features``: stem, then each of ``self.cells``, which holds
  the N cells of each stage and the two ResNet reduction blocks: 3N + 3 feature maps). NB-101,
  which AZ-NAS does not cover, gets the same reading of its body: the stem, every cell and the two
  max-pools between stacks (each element of ``NB101Network.features``).
- expressivity: Σ over stages of the entropy of the normalised eigenvalues of the channel
  covariance of the stage's features (pixels × images as samples) (az:134-149).
- progressivity: min over consecutive stages of the increase in that entropy (az:148).
- trainability: mean over consecutive stage pairs of 2 − σ − 1/(σ + 1e-6), σ the largest singular
  value of E[g_in g_outᵀ] for a random ±1 vector g_out pulled back through the block (pixel-
  unshuffled where the block downsamples); −inf where g_in equals g_out (az:152-190).
- complexity: FLOPs, which the notebook reads from NATS-Bench (``nb:cell 7``); here AutoDL's own
  counter (``xautodl/utils/flop_benchmark.py``, which made those table values) run on the network.
- aggregate: Σ over the four of log(rank / n), ranks (average for ties) among the n cells scored
  (``nb:cell 8``).

The three feature components come from one forward and one backward sweep: they are computed and
cached together (any of their selectors stores all three), and the aggregate reads them from there.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from scipy import stats
from torch import nn

from ..base import Aggregate, Context
from ..registry import SELECTORS
from .extra import MeasureInput
from .zero_cost import ZeroCostSelector

ONE_PASS = frozenset({"az_expressivity", "az_progressivity", "az_trainability"})
COMPONENTS = ("az_complexity", "az_expressivity", "az_progressivity", "az_trainability")  # nb:cell 8 sums FLOPs first
REF_BATCH = 64   # the notebook's input batch: weight-sharing.config batch_size 64 (nb:cell 3 output)


# ----------------------------------------------------------------------------- the measures
def _stage_blocks(net: nn.Module) -> list[nn.Module]:
    """The modules whose outputs are the stages, in order (see the module docstring)."""
    from ...spaces.nb101_net import NB101Network
    from ...spaces.nb201_net import NB201Network

    if isinstance(net, NB201Network):
        return [net.stem, *net.cells]
    if isinstance(net, NB101Network):
        return list(net.features)
    raise TypeError(f"AZ-NAS stages are defined for the NB-201 and NB-101 networks, not {type(net).__name__}")


def _resolution(m: MeasureInput) -> int:
    """ImageNet16-120 (the only 120-class dataset) is 16×16 in NATS-Bench, and the reference's
    random input and FLOPs take that resolution (nb:cell 4 reads it off the loader's batch); its
    cells are scored on CIFAR-100 images elsewhere, but AZ-NAS reads no image."""
    return 16 if m.num_classes == 120 else int(m.shape[-1])


def _reference_init(net: nn.Module, gen: torch.Generator) -> None:
    """az:7-15, az:124 ``init_model(model, 'kaiming_norm_fanin')``: Kaiming-normal (fan-in, ReLU
    gain) conv/linear weights, zero biases, affine norms at weight 1 / bias 0; drawn from ``gen``
    in module order (the reference draws from the global RNG)."""
    def init(mod: nn.Module) -> None:
        if isinstance(mod, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(mod.weight, mode="fan_in", nonlinearity="relu", generator=gen)
            if mod.bias is not None:
                nn.init.zeros_(mod.bias)
        elif isinstance(mod, (nn.BatchNorm2d, nn.GroupNorm)) and mod.affine:
            nn.init.ones_(mod.weight)
            nn.init.zeros_(mod.bias)

    with torch.no_grad():
        net.apply(init)


def entropy_of_spectrum(feat: torch.Tensor) -> float:
    """az:136-146: the (b·h·w) × c features centred, their covariance / (b·h·w), its eigenvalues
    normalised to sum 1, −Σ p log(p + 1e-8). NaN where the features are constant (0/0), as there."""
    b, c, h, w = feat.shape
    f = feat.detach().permute(0, 2, 3, 1).reshape(b * h * w, c)
    f = f - f.mean(dim=0, keepdim=True)
    sigma = f.t() @ f / f.shape[0]
    s = torch.linalg.eigvalsh(sigma)
    p = s / s.sum()
    return float((-p * torch.log(p + 1e-8)).sum())


def block_trainability(f_out: torch.Tensor, f_in: torch.Tensor, g_out: torch.Tensor) -> float:
    """az:162-189 for one block: pull the ±1 vector ``g_out`` back to ``f_in``; −inf where that
    leaves it unchanged (an identity block); else 2 − σ − 1/(σ + 1e-6), σ the top singular value of
    the (c_in · stride²) × c_out matrix E[g_in g_outᵀ] over images and output pixels."""
    (g_in,) = torch.autograd.grad(f_out, f_in, grad_outputs=g_out, retain_graph=False)
    if g_out.shape == g_in.shape and bool(torch.all(g_in == g_out)):
        return -math.inf
    if g_out.shape[2:] != g_in.shape[2:]:   # a downsampling block: stride² sub-grids as channels (az:168-173)
        g_in = nn.functional.pixel_unshuffle(g_in, g_in.shape[2] // g_out.shape[2])
    bo, co, ho, wo = g_out.shape
    go = g_out.permute(0, 2, 3, 1).reshape(bo * ho * wo, co)
    gi = g_in.permute(0, 2, 3, 1).reshape(-1, g_in.shape[1])
    mat = gi.t() @ go / (bo * ho * wo)
    smax = float(torch.linalg.svdvals(mat).max())
    return -smax - 1 / (smax + 1e-6) + 2


def components(m: MeasureInput) -> dict[str, float]:
    """Expressivity, progressivity and trainability of one cell's network from one forward and one
    backward sweep, as az:109-197 (network in train mode: batch-statistics BN, az:110)."""
    gen = torch.Generator().manual_seed(m.seed)
    net = m.net(bn=True).cpu()   # drawn on the CPU so that a seed gives the same draws on any device
    _reference_init(net, gen)
    net = net.to(m.device).train()
    # az:126-127: without a loader (AZ-NAS is not in nb:cell 4's real_input_metrics) the input is
    # standard normal noise of the loader's batch size and resolution.
    batch = m.x.shape[0] if m.x is not None else m.batch_size
    r = _resolution(m)
    x = torch.randn((batch, m.shape[0], r, r), generator=gen).to(m.device)
    feats, h = [], x
    for block in _stage_blocks(net):   # tss_model.py:54-68
        h = block(h)
        feats.append(h)
    ent = np.array([entropy_of_spectrum(f) for f in feats])
    train = []
    for i in reversed(range(1, len(feats))):   # az:154, deepest block first, one ±1 draw per block (az:162-163)
        g_out = (torch.bernoulli(torch.full(feats[i].shape, 0.5), generator=gen) - 0.5) * 2
        train.append(block_trainability(feats[i], feats[i - 1], g_out.to(m.device)))
    values = {"az_expressivity": float(np.sum(ent)),                    # az:149
              "az_progressivity": float(np.min(ent[1:] - ent[:-1])),    # az:148
              "az_trainability": float(np.mean(train))}                 # az:190
    # az:193-195: a NaN component (constant features, or float32 eigenvalues below -1e-8 of the trace
    # on an ill-conditioned late stage, whose log is NaN) is stored as -inf, the reference's worst
    return {k: -math.inf if math.isnan(v) else v for k, v in values.items()}


_LAST: tuple = (None, None, None, {})   # (net factory, seed, input batch, values): one cell's three values


def _component(m: MeasureInput, name: str) -> float:
    """``measures._extra`` asks for each measure of a cell in turn with the same network factory:
    the first of the three computes all of them, the others are served from here."""
    global _LAST
    net, seed, x, values = _LAST
    if not (net is m.net and seed == m.seed and x is m.x):
        values = components(m)
        _LAST = (m.net, m.seed, m.x, values)
    return values[name]


def expressivity(m: MeasureInput) -> float:
    return _component(m, "az_expressivity")


def progressivity(m: MeasureInput) -> float:
    return _component(m, "az_progressivity")


def trainability(m: MeasureInput) -> float:
    return _component(m, "az_trainability")


def autodl_flops(net: nn.Module, shape: tuple[int, ...], device) -> float:
    """FLOPs of one input as AutoDL's ``get_model_infos`` counts them (flop_benchmark.py:39-98,
    :119-165): conv k_h·k_w·c_in·c_out/groups per output pixel, linear in·out, plus one per output
    element for a bias; pooling, BN and activations are not counted. In millions, as the table."""
    total = 0.0

    def conv(mod, _inp, out):
        nonlocal total
        per_pixel = mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels * mod.out_channels / mod.groups
        total += (per_pixel + (mod.out_channels if mod.bias is not None else 0)) * out.shape[2] * out.shape[3]

    def linear(mod, _inp, _out):
        nonlocal total
        total += mod.in_features * mod.out_features + (mod.out_features if mod.bias is not None else 0)

    hooks = [mod.register_forward_hook(conv if isinstance(mod, nn.Conv2d) else linear)
             for mod in net.modules() if isinstance(mod, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            net.eval()(torch.zeros((1, *shape), device=device))   # flop_benchmark.py:44-53: eval, one image
    finally:
        for hk in hooks:
            hk.remove()
    return total / 1e6


def complexity(m: MeasureInput) -> float:
    """nb:cell 7-8: the cell's FLOPs in NATS-Bench (``get_compute_costs(dataset)['flops']``), which
    AutoDL counted on the trained network at the dataset's resolution; counted here the same way."""
    r = _resolution(m)
    return autodl_flops(m.net(bn=True), (m.shape[0], r, r), m.device)


# ----------------------------------------------------------------------------- the selectors
RNG_DEVIATION = ("each cell's weights, Gaussian input and ±1 probe vectors are drawn from a generator seeded by "
                 "the seed alone (every cell sees the same input); the reference draws them from one global RNG "
                 "stream that runs on across architectures (prepare_seed(rand_seed) once, tss_general.ipynb)")
NB101_DEVIATION = ("NB-101 is not in AZ-NAS: its stages are taken as the stem, every cell and the two max-pools "
                   "between stacks (the body's modules in order, as NB-201's stem, cells and reduction blocks)")


class _AzSelector(ZeroCostSelector):
    """Common to the AZ-NAS selectors: the reference's network by default, and one pass for the three
    feature components (computing any of them computes and caches all three)."""

    inputs = frozenset()   # Gaussian inputs (compute_az_nas_score.py:126-127)
    deviations = (RNG_DEVIATION, NB101_DEVIATION)   # the three feature components'

    def __init__(self, *, seed: int = 0, device: str = "cpu", batch_size: int = REF_BATCH, share: bool = False,
                 C: int | None = None, N: int | None = None, network: str = "benchmark",
                 cell_batch: int | None = None, cifar_dir: str | None = None) -> None:
        # network="benchmark": tss_general.ipynb builds custom/tss_model.TinyNetwork, AutoDL's network
        # with xautodl InferCell (affine BN, bias-free convs: cells.py:15), not zero-cost-nas's variant.
        # After the reference's re-initialisation the two give the same features; only the FLOPs differ
        # (the variant's conv biases count). batch_size 64: REF_BATCH.
        super().__init__(seed=seed, device=device, batch_size=batch_size, share=share, C=C, N=N, network=network,
                         cell_batch=cell_batch, cifar_dir=cifar_dir)

    def _names(self) -> set[str]:
        names = super()._names()
        return names | ONE_PASS if self.proxy in ONE_PASS else names


@SELECTORS.register("az_expressivity")
class AzExpressivitySelector(_AzSelector):
    """AZ-NAS expressivity: Σ over stages of the eigenvalue entropy of the feature covariance (Lee & Ham, CVPR 2024)."""

    name = proxy = "az_expressivity"

@SELECTORS.register("az_progressivity")
class AzProgressivitySelector(_AzSelector):
    """AZ-NAS progressivity: least increase of expressivity from one stage to the next (Lee & Ham, CVPR 2024)."""

    name = proxy = "az_progressivity"

@SELECTORS.register("az_trainability")
class AzTrainabilitySelector(_AzSelector):
    """AZ-NAS trainability: mean 2 − σ − 1/σ of the blocks' random-probe Jacobian spectra (Lee & Ham, CVPR 2024)."""

    name = proxy = "az_trainability"

@SELECTORS.register("az_complexity")
class AzComplexitySelector(_AzSelector):
    """AZ-NAS complexity: the network's FLOPs as AutoDL counts them (Lee & Ham, CVPR 2024)."""

    name = proxy = "az_complexity"
    deviations = ("FLOPs are counted on the network scored (C, N and network as set) rather than read from the "
                  "NATS-Bench table; for the default network the two are the same count",
                  "NB-101 is not in AZ-NAS: its FLOPs are counted the same way on the NB-101 network")


@SELECTORS.register("az_nas")
class AzNasSelector(Aggregate, _AzSelector):
    """AZ-NAS: Σ log(rank/n) of expressivity, progressivity, trainability and FLOPs (Lee & Ham, CVPR 2024)."""

    name = proxy = "az_nas"
    ranks_jointly = True
    deviations = (RNG_DEVIATION, NB101_DEVIATION,
                  "ranks are taken among the cells scored together (one seed's sample); the reference ranks "
                  "all 15,625 NB-201 cells")

    def _parts(self) -> list[ZeroCostSelector]:
        if not hasattr(self, "_components"):
            hp = self.hparams()
            self._components = [SELECTORS.get(n)(**hp) for n in COMPONENTS]
        return self._components

    def _names(self) -> set[str]:
        return set().union(*(p._names() for p in self._parts()))

    def preflight(self, ctx: Context) -> None:
        for p in self._parts():
            p.preflight(ctx)

    def table_parts(self) -> dict[str, ZeroCostSelector]:
        """The four components, at this selector's settings (a shipped table answers it from them)."""
        return dict(zip(COMPONENTS, self._parts()))

    def combine(self, columns: dict[str, np.ndarray]) -> np.ndarray:
        """tss_general.ipynb cell 8: log(rankdata(flops)/l) + Σ_k log(rankdata(results[k])/l); a NaN
        (a component not scored) ranked as -inf, the reference's value for a failed component (az:193-195)."""
        agg = 0.0
        for name in COMPONENTS:
            v = np.nan_to_num(np.asarray(columns[name], dtype=float), nan=-np.inf)
            agg = agg + np.log(stats.rankdata(v) / len(v))
        return np.asarray(agg, dtype=float)

    def report(self) -> dict:
        parts = [p.report() for p in self._parts()]
        out = next((r for r in parts if "images" in r), parts[0])
        out = dict(out, proxies_computed=sorted(set().union(*(r.get("proxies_computed", ()) for r in parts))))
        stats_ = [r["proxy_cache"] for r in parts if "proxy_cache" in r]
        if stats_:
            out["proxy_cache"] = {k: sum(s[k] for s in stats_) for k in ("hits", "misses")}
        return out
