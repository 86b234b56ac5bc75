"""SWAP (Peng et al., ICLR 2024, "SWAP-NAS: Sample-Wise Activation Patterns for Ultra-fast NAS"):
the number of distinct sample-wise activation patterns of a network on a batch, and its
regularised form (the count times a Gaussian of the model size).

Reference: pym1024/SWAP (commit f6049f7), ``src/metrics/swap.py`` and ``correlation.py``.

- a forward hook on every ``nn.ReLU`` keeps its output when its input is 4-D (swap.py:77-84), so
  the head's 1-D activations never count; each call of a module adds its output;
- one forward under ``no_grad`` (swap.py:88-89), network in train mode (never ``.eval()``-ed:
  BatchNorm normalises with batch statistics);
- the outputs are flattened per sample and concatenated, (samples, units) (swap.py:91), mapped to
  ``torch.sign`` (swap.py:28: 1 where a ReLU output is > 0, else 0), transposed to (units, samples)
  and the distinct rows counted, ``torch.unique(dim=0)`` (swap.py:33-34): a unit's pattern is its
  on/off vector over the batch, and the score is the number of distinct patterns over all layers
  together (a pattern two layers share counts once);
- the network is re-initialised before every forward with ``network_weight_gaussian_init``
  (``src/utils/utilities.py:15-32``: conv and linear weights N(0, 1), their biases 0, BatchNorm
  weight 1 and bias 0), ``--repeats`` (default 32, correlation.py:26) times, and the scores averaged
  (correlation.py:53-59);
- the input is the first ``--input_samples`` (default 16, correlation.py:27) CIFAR-10 training
  images: the loader is not shuffled (correlation.py:37-39), its transform (src/datasets/
  utilities.py:54) is ``RandomCrop(32, padding=0)`` and ``RandChannel(3)``, both the identity on a
  32x32 RGB image, and ``Normalize`` with SWAP's own CIFAR statistics (utilities.py:38-43).

Here: the same, on benchsuite's NB-201/NB-101 networks. Patterns are counted as integers (one bit
per sample) rather than as float rows: the same set, found by a 1-D ``unique`` instead of a row-wise
one, or (codes below 2**22, batches up to 22 samples) by a tally of every possible code. The
regularised score is ``SWAP · exp(-(Θ - μ)² / σ)``, Θ the network's parameter count in thousands
(swap.py:6-11, ``count_parameters`` in utilities.py:11-12: every named parameter, /1e3).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ...errors import DataNotFoundError
from ...hparams import Interval, Rule
from ..base import Context
from .extra import MeasureInput

# SWAP's utilities.py:15-32 is ZenNAS's network_weight_gaussian_init: N(0,1) conv/linear weights,
# zero biases, BatchNorm 1/0 (a BN without affine weights has nothing to set)
from .naslib_four import gaussian_init
from .zero_cost import _CLASSES, _IMAGES, ZeroCostSelector, _network_kwargs, own_batch

REPEATS = 32   # correlation.py:26 (--repeats): Gaussian re-initialisations averaged per cell
BATCH = 16     # correlation.py:27 (--input_samples)
# SWAP normalises CIFAR with these (src/datasets/utilities.py:38-43); CIFAR-10's differ from the
# zero-cost-nas statistics the other proxies use.
MEAN_STD = {"cifar10": ((0.49139968, 0.48215827, 0.44653124), (0.24703233, 0.24348505, 0.26158768)),
            "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762))}
_BITS = 62     # samples per int64 code word (non-negative, so codes sort as plain integers)
# Codes below this (batches up to 22 samples; the default is 16) are counted in a tally of every
# possible code, linear in the units where ``unique`` sorts them: the same count, 10x faster.
_TALLY_LIMIT = 1 << 22


def pattern_codes(out: torch.Tensor) -> torch.Tensor:
    """Each unit's on/off pattern over the batch of ``out`` (samples first) as integers: (units,
    words), bit s of word w set when sample 62w+s has output > 0 (``torch.sign`` of a ReLU output is
    1 there, 0 elsewhere: swap.py:28)."""
    on = out.reshape(out.shape[0], -1) > 0
    words = []
    for start in range(0, on.shape[0], _BITS):
        block = on[start:start + _BITS]
        # a word of at most 31 samples fits int32, whose products are about a third cheaper to form
        dtype = torch.int32 if block.shape[0] <= 31 else torch.int64
        weights = torch.pow(2, torch.arange(block.shape[0], device=out.device, dtype=dtype))
        words.append((block.to(dtype) * weights[:, None]).sum(0, dtype=torch.int64))
    return torch.stack(words, 1)


def distinct_patterns(codes: torch.Tensor) -> int:
    """How many distinct rows ``codes`` has (swap.py:34's ``torch.unique(dim=0).size(0)``)."""
    if codes.shape[1] == 1:
        word = codes[:, 0]
        if word.numel() and int(word.max()) < _TALLY_LIMIT:
            return int(torch.count_nonzero(torch.bincount(word)))
        return int(torch.unique(word).numel())
    return int(torch.unique(codes, dim=0).shape[0])


def swap_once(net: nn.Module, x: torch.Tensor) -> float:
    """The number of distinct sample-wise activation patterns of ``net``'s ReLUs on ``x`` (one
    forward, as ``SWAP.forward``); NaN if an output is not finite or no ReLU fired on a 4-D input."""
    codes: list[torch.Tensor] = []
    finite = [True]

    def hook(_m, inp, out) -> None:
        if isinstance(inp, tuple) and inp[0].dim() == 4:   # swap.py:83: feature maps only
            finite[0] = finite[0] and bool(torch.isfinite(out).all())
            codes.append(pattern_codes(out.detach()))

    hooks = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, nn.ReLU)]
    try:
        with torch.no_grad():
            net(x)
    finally:
        for h in hooks:
            h.remove()
    if not codes or not finite[0]:   # swap.py:90 returns None without features
        return float("nan")
    return float(distinct_patterns(torch.cat(codes, 0)))


def swap_of(net: nn.Module, x: torch.Tensor, seed: int, repeats: int = REPEATS) -> float:
    """The mean over ``repeats`` seeded Gaussian re-initialisations of ``net`` (correlation.py:53-59)."""
    generator = torch.Generator().manual_seed(seed)
    net.train()
    scores = []
    for _ in range(repeats):
        gaussian_init(net, generator)
        scores.append(swap_once(net, x))
    return float(np.mean(scores))


def swap(m: MeasureInput) -> float:
    return swap_of(m.net(bn=True), m.x, m.seed)


def param_thousands(net: nn.Module) -> float:
    """``count_parameters`` (utilities.py:11-12): every named parameter but auxiliary heads, /1e3."""
    return sum(p.numel() for n, p in net.named_parameters() if "auxiliary" not in n) / 1e3


def regular_factor(params_k: float, mu: float, sigma: float) -> float:
    """``cal_regular_factor`` (swap.py:6-11): exp(-(Θ - μ)² / σ), Θ in thousands of parameters."""
    return math.exp(-((params_k - mu) ** 2) / sigma)


def reference_batch(ctx: Context, batch_size: int, cifar_dir: str | None) -> tuple:
    """SWAP's input for ``ctx.dataset``: the first ``batch_size`` training images, unaugmented, with
    SWAP's normalisation; (images, labels, image source)."""
    from ...data.images import load_images, to_tensor

    name = _IMAGES[ctx.dataset]
    images = load_images(name, data_dir=ctx.data_dir, cifar_dir=cifar_dir)
    if batch_size > len(images.x_train):
        raise DataNotFoundError(f"batch of {batch_size} asked from {len(images.x_train)} images ({images.source})")
    x = to_tensor(images.x_train[:batch_size], name, mean_std=MEAN_STD[name])
    return x, torch.from_numpy(images.y_train[:batch_size]), images.source


class SwapSelector(ZeroCostSelector):
    """SWAP: distinct sample-wise ReLU patterns, mean of 32 Gaussian inits (Peng et al., ICLR 2024).

    As pym1024/SWAP's ``correlation.py``: the first ``batch_size`` (default 16) training images,
    unaugmented, under SWAP's normalisation, whatever the seed; the seed draws the 32 Gaussian
    re-initialisations. ImageNet16-120 cells read CIFAR-100 images (as every proxy here)."""

    name = proxy = "swap"
    fast_hparams = {"C": 4, "N": 1, "batch_size": 8}
    hparam_rules = (own_batch("swap", "batch (the first batch_size training images, unaugmented, as the reference)"),)
    deviations = (
        "the reference repository scores DARTS cells only (Network(3, 10, 1), correlation.py:46); NB-201 "
        "and NB-101 cells are scored on benchsuite's networks (zero-cost-nas's NB-201 variant by default)",
        "the 32 Gaussian re-initialisations are drawn from a generator seeded with the selector's seed; the "
        "reference draws them from the global RNG, which SWAP.reinit never seeds (swap.py:63: seed == self.seed)",
    )

    def __init__(self, *, seed: int = 0, device: str = "cpu", batch_size: int = BATCH, share: bool = False,
                 C: int | None = None, N: int | None = None, network: str = "reference",
                 cell_batch: int | None = None, cifar_dir: str | None = None) -> None:
        # batch_size=16: correlation.py:27 (--input_samples)
        super().__init__(seed=seed, device=device, batch_size=batch_size, share=share, C=C, N=N, network=network,
                         cell_batch=cell_batch, cifar_dir=cifar_dir)

    def _image_batch(self, ctx: Context) -> tuple:
        name = _IMAGES[ctx.dataset]
        if self._batch is None or self._batch_of != name:
            self._batch, self._batch_of = reference_batch(ctx, self.batch_size, self.cifar_dir), name
        return self._batch


class SwapRegSelector(SwapSelector):
    """Regularised SWAP: SWAP · exp(-(Θ-μ)²/σ), Θ in thousands of parameters (Peng et al., ICLR 2024).

    μ and σ (``mu``, ``sigma``) are in the reference's unit, thousands of parameters of the scored
    network (utilities.py:12). The reference code sets no value for them (``SWAP(..., regular=False,
    mu=None, sigma=None)``, swap.py:44; without both it does not regularise, swap.py:52), so they must
    be given: ``--hp mu=... --hp sigma=...``. The count is swap's (computed and cached once for both);
    Θ is counted on the network the count was computed on (the cell's canonical representative)."""

    name = "swap_reg"
    proxy = "swap"   # the count is swap's, cached under its name; the factor is applied here
    fast_hparams = {"C": 4, "N": 1, "batch_size": 8, "mu": 5.0, "sigma": 25.0}
    # mu, sigma: thousands of parameters; the reference code sets no default (pym1024/SWAP src/metrics/swap.py:44)
    hparam_constraints = {"mu": [Interval(float, None, None), None],
                          "sigma": [Interval(float, 0, None, "neither"), None]}
    hparam_rules = (Rule(("mu", "sigma"), lambda mu, sigma: mu is not None and sigma is not None,
                         "needs {mu}=... and {sigma}=... (thousands of parameters): the reference code sets "
                         "no default (pym1024/SWAP src/metrics/swap.py:44)"),)
    deviations = SwapSelector.deviations + (
        "Θ is counted on the NB-201 cell's canonical representative, the network its SWAP count is computed "
        "on, so isomorphic cells score alike; the reference counts the scored cell's own network, whose convs "
        "on edges that cannot reach the output add parameters",
    )

    def __init__(self, *, seed: int = 0, device: str = "cpu", batch_size: int = BATCH, mu: float | None = None,
                 sigma: float | None = None, share: bool = False, C: int | None = None, N: int | None = None,
                 network: str = "reference", cell_batch: int | None = None, cifar_dir: str | None = None) -> None:
        super().__init__(seed=seed, device=device, batch_size=batch_size, share=share, C=C, N=N, network=network,
                         cell_batch=cell_batch, cifar_dir=cifar_dir)
        self.mu, self.sigma = mu, sigma
        self._params: dict[tuple, float] = {}

    def params_k(self, arch: str, ctx: Context) -> float:
        """Θ of the network swap's count was computed on, in thousands (cached per cell)."""
        from ...spaces import get_space
        from .cache import nb201_representatives

        space = get_space(ctx.space)
        rep = nb201_representatives()[space.canonical(arch)] if ctx.space == "nb201" else arch
        net_kw = _network_kwargs(ctx.space, self.C, self.N, self.network)
        key = (ctx.space, rep, _CLASSES[ctx.dataset], tuple(sorted(net_kw.items())))
        if key not in self._params:
            net = space.build_network(rep, num_classes=_CLASSES[ctx.dataset], bn=True, **net_kw)
            self._params[key] = param_thousands(net)
        return self._params[key]

    def score(self, archs, ctx: Context) -> np.ndarray:
        counts = super().score(archs, ctx)
        factors = np.array([regular_factor(self.params_k(a, ctx), self.mu, self.sigma) for a in archs])
        return counts * factors

    def report(self) -> dict:
        out = super().report()
        if out:
            out["regularisation"] = {"mu": self.mu, "sigma": self.sigma, "unit": "thousands of parameters"}
        return out
