"""GradSign (Zhang & Jia, ICLR 2022): Σ over weights of |Σ over samples of sign(∂L_i/∂w)|.

Reference: cmu-catalyst/GradSign, ``zero-cost-nas-code/foresight/pruners/measures/grad_conflict.py``
(the measure its NB-201/NB-101 Spearman runs compute, ``nasbench2_pred.py:99``):

- one forward/backward per image, ``net.forward(inputs[[i]])`` (grad_conflict.py:50-54), so a
  sample's gradient is that of its own cross-entropy loss with train-mode BatchNorm normalising over
  that one image (the network copy is in train mode: ``nasbench2.py:86`` / ``nasbench1.py:89``);
- the weight gradients of every Conv2d and Linear layer (``p_utils.py:69-78``; the weight only, no
  bias, no BN), a layer without gradient counting as zeros (grad_conflict.py:60);
- ``np.sign`` per sample, summed over samples, absolute value, ``np.nansum`` over weights
  (grad_conflict.py:63-65). (The copy in ``zero-cost-nas-code/gradsign.py:82`` takes ``nanmean``;
  the paper's NB-201 table is read from ``201_results_batch_128/sum`` (``gs.py:42``), so the sum.)

Defaults from the reference: a batch of 128 images on NB-201 (``nasbench2_pred.py:36``; also
``naswot-code/gradsign.py:21``), of 64 on NB-101 (``nasbench1_pred.py:40``); PyTorch's default
initialisation on NB-201 (``nasbench2_pred.py:87``, ``--init_w_type none``); on NB-101 zero-cost-nas's
``nasbench1.Network`` initialises itself (``nasbench1.py:93-106``), which ``nasbench1_init`` repeats,
seeded. NB-201 cells are scored on zero-cost-nas's network (``network="reference"``), as there.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ...data.images import PAD_DEVIATION
from ...spaces.nb101_net import NB101Network
from .extra import MeasureInput
from .zero_cost import POSITIVE, ZeroCostSelector

# The reference's batch size per space (see the module docstring).
REFERENCE_BATCH = {"nb201": 128, "nb101": 64}


def nasbench1_init(net: nn.Module, seed: int) -> nn.Module:
    """Re-initialise ``net`` as zero-cost-nas's ``nasbench1.Network._initialize_weights`` does
    (GradSign ``zero-cost-nas-code/foresight/models/nasbench1.py:93-106``; MeCo's copy in
    ``correlation/foresight/models/nasbench1.py:93-106`` is the same): conv weights N(0, √(2/n)) with
    n = k·k·out_channels, conv bias 0; BN weight 1, bias 0; linear weights N(0, 0.01), bias 0.
    Drawn on the CPU from a generator seeded with ``seed``, module by module in ``modules()`` order,
    so the weights do not depend on the device or on the global RNG."""
    gen = torch.Generator().manual_seed(seed)

    def normal(p: torch.Tensor, std: float) -> None:
        p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float32).mul_(std))

    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                normal(m.weight, math.sqrt(2.0 / (m.kernel_size[0] * m.kernel_size[1] * m.out_channels)))
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, nn.BatchNorm2d) and m.affine:
                m.weight.fill_(1.0)
                m.bias.zero_()
            elif isinstance(m, nn.Linear):
                normal(m.weight, 0.01)
                if m.bias is not None:
                    m.bias.zero_()
    return net


def reference_net(m: MeasureInput) -> nn.Module:
    """The network the reference scores: the shared copy (train mode, BN), re-initialised the
    nasbench1 way on NB-101."""
    net = m.net(bn=True)
    if isinstance(net, NB101Network):
        nasbench1_init(net, m.seed)
    return net.train()


def sign_sum(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """GradSign of ``net`` on the batch (x, y): one forward/backward per sample, as grad_conflict.py."""
    weights = [m.weight for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]  # p_utils.py:63,72
    # Σ_i sign(g_i) kept per weight (exact: integers far below 2^24); NaN stays NaN, as np.sign's does
    acc = [torch.zeros_like(w) for w in weights]
    for i in range(x.shape[0]):
        loss = F.cross_entropy(net(x[i:i + 1]), y[i:i + 1])      # grad_conflict.py:52-53
        grads = torch.autograd.grad(loss, weights, allow_unused=True)
        for a, g in zip(acc, grads):
            if g is not None:                                     # None counts as zeros (line 60)
                a.add_(torch.sign(g))
    # |Σ_i sign| summed over weights, NaN weights skipped (np.nansum, grad_conflict.py:64-65)
    return float(sum(a.double().abs().nansum() for a in acc))


def gradsign(m: MeasureInput) -> float:
    return sign_sum(reference_net(m), m.x, m.y)


class GradsignSelector(ZeroCostSelector):
    """GradSign Σ_w |Σ_i sign ∂L_i/∂w| over per-sample gradients (Zhang & Jia, ICLR 2022).

    ``batch_size`` (default None) is the reference's: 128 images on NB-201, 64 on NB-101
    (``gradsign.REFERENCE_BATCH``); each image takes its own forward/backward pass, so a cell costs
    about ``batch_size`` small passes."""

    name = proxy = "gradsign"
    hparam_constraints = {"batch_size": [POSITIVE, None]}   # None: the reference's, per space
    deviations = (
        PAD_DEVIATION,
        "every cell is scored on one seeded batch; GradSign's nasbench2_pred.py/nasbench1_pred.py draw a "
        "fresh shuffled training batch for each cell (its naswot-code/gradsign.py reseeds, so one batch)",
        "NB-101 cells are scored on benchsuite's NB-101 network (the official TF model's structure) "
        "re-initialised as zero-cost-nas's nasbench1.Network initialises itself; GradSign scores them on "
        "that nasbench1.Network",
    )

    def __init__(self, *, seed: int = 0, device: str = "cpu", batch_size: int | None = None, share: bool = False,
                 C: int | None = None, N: int | None = None, network: str = "reference",
                 cell_batch: int | None = None, cifar_dir: str | None = None) -> None:
        super().__init__(seed=seed, device=device, batch_size=batch_size, share=share, C=C, N=N,  # type: ignore[arg-type]
                         network=network, cell_batch=cell_batch, cifar_dir=cifar_dir)
        self._space = "nb201"

    def _images_drawn(self) -> int:
        return self.batch_size if self.batch_size is not None else REFERENCE_BATCH[self._space]

    def _image_batch(self, ctx) -> tuple:
        # the default batch depends on the space: a batch drawn for the other space is drawn again
        self._space = ctx.space
        if self._batch is not None and len(self._batch[1]) != self._images_drawn():
            self._batch = None
        return super()._image_batch(ctx)

    def report(self) -> dict:
        out = super().report()
        if out:
            out["batch_size_used"] = self._images_drawn()
        return out
