"""NASLib's four zero-cost proxies not among the eight of ``measures.py``: plain, l2_norm, epe_nas, zen.

References (read at the commits named; line numbers are theirs):

- ``plain`` and ``l2_norm``: automl/NASLib 0b51bc1 ``naslib/predictors/utils/pruners/measures/plain.py``
  and ``l2_norm.py``, verbatim copies of SamsungLabs/zero-cost-nas a43bfbc
  ``foresight/pruners/measures/plain.py`` / ``l2_norm.py``; per-layer arrays over every Conv2d and
  Linear (``p_utils.py:59-68``), summed by ``predictive.find_measures`` (``sum_arr``, lines 129-133, 167).
- ``epe_nas``: VascoLopes/EPE-NAS 22bd341 ``search.py`` (``get_batch_jacobian`` 55-65,
  ``eval_score_perclass`` 68-109) and NASLib's copy ``measures/epe_nas.py`` (33-112).
- ``zen``: idstcv/ZenNAS d1d617e ``ZeroShotProxy/compute_zen_score.py`` (14-78) and NASLib's copy
  ``measures/zen.py`` (11-66).

Sign: NASLib's ``ZeroCost.query`` (``predictors/zerocost.py:40-49``) returns all four as computed
(only synflow is log-transformed), and EPE-NAS and Zen-NAS pick the highest score
(``search.py:160`` ``np.nanargmax``; Zen-NAS's evolution drops the smallest and returns the largest,
``evolution_search.py:188-190, 275``): higher = better, as is.

NB-101: NASLib scores NB-101 cells on ``nasbench_pytorch.model.Network``
(``search_spaces/nasbench101/conversions.py:35``), which initialises itself as zero-cost-nas's
``nasbench1.Network`` does (conv N(0, √(2/(k²·c_out))), BN 1/0, linear N(0, 0.01), biases 0);
plain, l2_norm and epe_nas re-initialise benchsuite's NB-101 network so (``gradsign.nasbench1_init``,
seeded). Zen draws its own Gaussian weights on both spaces.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...data.images import PAD_DEVIATION
from ...hparams import Interval
from ...spaces.nb101_net import NB101Network
from ...spaces.nb201_net import NB201Network
from .extra import MeasureInput
from .gradsign import nasbench1_init
from .zero_cost import ZeroCostSelector


def _weighted(net: nn.Module) -> list[nn.Module]:
    """Every Conv2d and Linear, in ``modules()`` order: the layers NASLib's ``get_layer_metric_array``
    visits (p_utils.py:62-66; mode "param" skips none)."""
    return [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def reference_net(m: MeasureInput) -> nn.Module:
    """The shared copy (BN, train mode), re-initialised on NB-101 as NASLib's nasbench_pytorch
    Network initialises itself (model.py ``_initialize_weights``; see the module docstring)."""
    net = m.net(bn=True)
    if isinstance(net, NB101Network):
        nasbench1_init(net, m.seed)
    return net.train()


# --- plain -----------------------------------------------------------------------------------------

def plain_value(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Σ over Conv2d/Linear weights of ∂L/∂w · w, L the mean cross-entropy of one forward on the
    batch (plain.py:26-34 with split_data=1; NASLib's loss_fn is F.cross_entropy, nasbench201/graph.py
    ``get_loss_fn``), signed; a layer the loss does not reach adds zeros (plain.py:38-41)."""
    layers = _weighted(net)
    loss = F.cross_entropy(net(x), y)
    grads = torch.autograd.grad(loss, [m.weight for m in layers], allow_unused=True)
    # sum_arr (predictive.py:129-133): torch.sum per layer, added up
    return float(sum(float((g * m.weight).detach().sum()) for m, g in zip(layers, grads) if g is not None))


def plain(m: MeasureInput) -> float:
    return plain_value(reference_net(m), m.x, m.y)


# --- l2_norm ---------------------------------------------------------------------------------------

def l2_norm(m: MeasureInput) -> float:
    """Σ over Conv2d/Linear layers of ‖weight‖₂ (Frobenius; biases and BN not counted) at
    initialisation (l2_norm.py:20-22, summed by sum_arr). It reads no image (``copy_net=False``:
    the network as initialised, no forward)."""
    net = reference_net(m)
    with torch.no_grad():
        return float(sum(float(layer.weight.norm()) for layer in _weighted(net)))


# --- epe_nas ---------------------------------------------------------------------------------------

EPE_K = 1e-5   # search.py:69 / epe_nas.py:46


def batch_jacobian(net: nn.Module, x: torch.Tensor) -> tuple[np.ndarray, int]:
    """∂(Σ logits)/∂x per image, flattened: ``y.backward(torch.ones_like(y))`` on the batch in train
    mode (search.py:55-65, epe_nas.py:33-43), as float32 numpy as the reference's ``.cpu().numpy()``;
    and the number of logits, NASLib's n_classes (``y.shape[-1]``, epe_nas.py:43)."""
    x = x.detach().clone().requires_grad_(True)
    logits = net(x)
    (jac,) = torch.autograd.grad(logits.sum(), x)
    return jac.reshape(jac.shape[0], -1).cpu().numpy(), int(logits.shape[-1])


def eval_score_perclass(jacob: np.ndarray, labels: np.ndarray, n_classes: int) -> float:
    """EPE-NAS's score of per-image Jacobians grouped by label (search.py:68-109, epe_nas.py:45-86).

    Per class c (in order of first appearance): s_c = Σ log(|corrcoef(J_c)| + k), divided by the
    correlation matrix's size when n_classes > 100. A class seen once has a 0-d "matrix" (1.0):
    s_c = log(1 + k) when n_classes ≤ 100, and the class is skipped when n_classes > 100 (``len`` of
    a 0-d array raises inside the reference's try, which ``continue``s). Score: Σ_c |s_c| when
    n_classes ≤ 100, else Σ_c Σ_c' |s_c - s_c'| / (classes kept) (0 when none is kept, NASLib's guard,
    epe_nas.py:82). NaN (a constant Jacobian row) propagates, as in the reference."""
    rows: dict = {}
    for i, label in enumerate(labels):
        rows.setdefault(label, []).append(jacob[i])
    per_class: dict = {}
    with np.errstate(all="ignore"):   # the reference lets NaN through with a warning; we keep it silent
        for c, rs in rows.items():
            corrs = np.corrcoef(np.vstack(rs)) if len(rs) > 1 else np.corrcoef(rs[0])
            s = np.sum(np.log(np.abs(corrs) + EPE_K))
            if n_classes > 100:
                if corrs.ndim == 0:
                    continue   # len() of a 0-d array: the reference's except branch
                s /= len(corrs)
            per_class[c] = s
        if n_classes <= 100:
            return float(sum(np.absolute(s) for s in per_class.values()))
        score = 0.0
        for s in per_class.values():
            for t in per_class.values():
                score += np.absolute(s - t)
        return float(score / len(per_class)) if per_class else 0.0


def epe_nas(m: MeasureInput) -> float:
    # n_classes = the number of logits, as NASLib (epe_nas.py:43, 106); see EpeNasSelector
    jacob, n_classes = batch_jacobian(reference_net(m), m.x)
    return eval_score_perclass(jacob, m.y.detach().cpu().numpy(), n_classes)


# --- zen -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ZenSettings:
    batch_size: int = 64       # ZenNAS scripts/Zen_NAS_cifar_params1M.sh:24 (--batch_size 64, CIFAR)
    repeat: int = 1            # evolution_search.py:118 (repeat=1); NASLib zen.py:34 too
    mixup_gamma: float = 1e-2  # evolution_search.py:42 (--gamma 1e-2); compute_zen_score.py:88; zen.py:34


ZEN_BN_MOMENTUM = 0.1   # the running_var Zen reads after two forwards: nn.BatchNorm2d's default
                        # (ZenNAS PlainNet/basic_blocks.py:152; NASLib's NB-101 nasbench_pytorch base_ops.py)


def gaussian_init(net: nn.Module, gen: torch.Generator) -> nn.Module:
    """ZenNAS's ``network_weight_gaussian_init`` (compute_zen_score.py:14-31): conv and linear weights
    N(0, 1), their biases 0; BatchNorm weight 1, bias 0 (skipped where it has none: NASLib zen.py:19-20).
    Drawn on the CPU from ``gen`` in ``modules()`` order, so the weights do not depend on the device."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen))
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) and m.weight is not None:
                m.weight.fill_(1.0)
                m.bias.zero_()
    return net


def track_bn_statistics(net: nn.Module, device) -> nn.Module:
    """Every BatchNorm2d keeps running statistics from their initial values (mean 0, var 1) with
    momentum 0.1, as every BN of ZenNAS's networks does. A BN built without them (the NB-201 cell ops'
    ``track_running_stats=False`` in zero-cost-nas's and NASLib's networks) gets them: in train mode
    its output is unchanged (batch statistics either way); only the running_var Zen reads is added."""
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            if m.running_var is None:
                c = m.num_features
                m.register_buffer("running_mean", torch.zeros(c, device=device))
                m.register_buffer("running_var", torch.ones(c, device=device))
                m.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long, device=device))
                m.track_running_stats = True
            m.momentum = ZEN_BN_MOMENTUM
    return net


def pre_gap(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The feature map the global average pool reads: ZenNAS's ``forward_pre_GAP`` (Masternet.py:98-102,
    its last block ends in BN+ReLU); NASLib hooks the input of NB-201's AdaptiveAvgPool2d
    (nasbench201/graph.py:308-321: after the last BN+ReLU) and the output of NB-101's last cell
    (nasbench101/graph.py:299-312). benchsuite's networks: NB-201 ``lastact(cells(stem(x)))``
    (nb201_net.NB201Network.forward), NB-101 ``features(x)`` (nb101_net.NB101Network.forward)."""
    if isinstance(net, NB201Network):
        return net.lastact(net.cells(net.stem(x)))
    if isinstance(net, NB101Network):
        return net.features(x)
    raise TypeError(f"zen: no pre-GAP feature map known for {type(net).__name__}")


def zen_value(net: nn.Module, shape: tuple[int, ...], settings: ZenSettings, seed: int, device) -> float:
    """Zen-score (compute_zen_score.py:46-72): per repeat, Gaussian weights, x and ε ~ N(0, 1) of
    ``batch_size`` inputs, Δ = mean_n Σ_chw |f(x) - f(x + γε)| on the pre-GAP map f (train mode,
    no grad), score log Δ + Σ_BN log √mean(running_var); the mean over repeats. The model is reused
    across repeats, so running statistics keep accumulating, as in the reference's loop."""
    gen = torch.Generator().manual_seed(seed)
    net = track_bn_statistics(net.train(), device)
    scores = []
    with torch.no_grad():
        for _ in range(settings.repeat):
            gaussian_init(net, gen)
            size = (settings.batch_size, *shape)
            x = torch.randn(size, generator=gen).to(device)
            eps = torch.randn(size, generator=gen).to(device)
            out, mixed = pre_gap(net, x), pre_gap(net, x + settings.mixup_gamma * eps)
            delta = torch.sum(torch.abs(out - mixed), dim=[1, 2, 3]).mean()   # lines 55-56
            bn = 0.0   # torch.log as the reference: log 0 = -inf (kept, ranked last), NaN stays NaN
            for m in net.modules():                                           # lines 59-63
                if isinstance(m, nn.BatchNorm2d):
                    bn += float(torch.log(torch.sqrt(torch.mean(m.running_var))))
            scores.append(float(torch.log(delta)) + bn)                       # line 66
    return float(np.mean(scores))


def zen(m: MeasureInput) -> float:
    settings = ZenSettings(batch_size=m.batch_size, **m.params) if m.params else ZenSettings()
    return zen_value(m.net(bn=True), tuple(m.shape), settings, m.seed, m.device)


# --- selectors -------------------------------------------------------------------------------------

_NB101_NET = ("NB-101 cells are scored on benchsuite's NB-101 network (the official TF model's structure), "
              "re-initialised as NASLib's nasbench_pytorch Network (zero-cost-nas's nasbench1.Network) "
              "initialises itself; NASLib scores them on that Network")
_ONE_BATCH = ("every cell is scored on one seeded batch; the references draw the first batch of a shuffled "
              "training loader for each cell")


class PlainSelector(ZeroCostSelector):
    """Plain Σ ∂L/∂w·w at initialisation (zero-cost-nas / NASLib ``plain``; Abdelfattah et al. 2021).

    Defaults as zero-cost-nas, where plain.py comes from: a batch of 64 images (nasbench2_pred.py:36),
    the same batch and NB-201 network (``network="reference"``) as its other proxies in benchsuite."""

    name = proxy = "plain"
    deviations = (
        PAD_DEVIATION, _ONE_BATCH, _NB101_NET,
        "batch_size defaults to zero-cost-nas's NB-201 batch of 64 on both spaces; zero-cost-nas's "
        "nasbench1_pred.py:40 uses 256 on NB-101, NASLib's NAS-Bench-Suite-Zero runs 32 "
        "(scripts/zc/create_configs_benchmarks.py:46) (--hp batch_size=...)",
    )


class L2NormSelector(ZeroCostSelector):
    """Σ of the L2 norms of the conv/linear weights at initialisation (zero-cost-nas / NASLib ``l2_norm``)."""

    name = proxy = "l2_norm"
    inputs = frozenset()
    deviations = (_NB101_NET,)


class EpeNasSelector(ZeroCostSelector):
    """EPE-NAS per-class Jacobian-correlation score (Lopes et al., ICANN 2021).

    Defaults as EPE-NAS's ``search.py``: one batch of 256 images (``--batch_size``/``--evaluate_size``
    256, lines 22-23, 183) on AutoDL's NB-201 network (``get_cell_based_tiny_net``, line 177: benchsuite's
    ``network="benchmark"``) at PyTorch's default initialisation, in train mode. ``n_classes`` is the
    number of logits, as NASLib passes it (epe_nas.py:43, 106): on ImageNet16-120 (120 > 100) the
    per-class scores are normalised and compared pairwise, the branch EPE-NAS wrote for many classes."""

    name = proxy = "epe_nas"
    deviations = (
        PAD_DEVIATION, _ONE_BATCH, _NB101_NET,
        "n_classes is the number of logits (NASLib epe_nas.py:43, 106); EPE-NAS's search.py:194 passes no "
        "n_classes, so its default 10 always takes the <=100-class branch (differs on ImageNet16-120 only)",
    )

    def __init__(self, *, seed: int = 0, device: str = "cpu", batch_size: int = 256, share: bool = False,
                 C: int | None = None, N: int | None = None, network: str = "benchmark",
                 cell_batch: int | None = None, cifar_dir: str | None = None) -> None:
        # batch_size 256: search.py:22-23; network "benchmark": search.py:177 (AutoDL's TinyNetwork)
        super().__init__(seed=seed, device=device, batch_size=batch_size, share=share, C=C, N=N, network=network,
                         cell_batch=cell_batch, cifar_dir=cifar_dir)


class ZenSelector(ZeroCostSelector):
    """Zen-score log E‖f(x)−f(x+γε)‖₁ + Σ log σ_BN on Gaussian inputs and weights (Lin et al., ICCV 2021).

    Reads no image: ``batch_size`` Gaussian inputs of the images' shape. Defaults as Zen-NAS's CIFAR
    search: batch 64 (scripts/Zen_NAS_cifar_params1M.sh:24), ``repeat=1`` (evolution_search.py:118),
    ``mixup_gamma=1e-2`` (evolution_search.py:42); compute_zen_score.py's stand-alone defaults are
    batch 16, repeat 32 (lines 83, 86). NB-201 cells on NASLib's network (``network="reference"``:
    zero-cost-nas's, the same up to conv biases, which the Gaussian init zeroes)."""

    name = proxy = "zen"
    inputs = frozenset()
    hparam_constraints = {"repeat": Interval(int, 1, None), "mixup_gamma": Interval(float, 0, None)}
    deviations = (
        "BatchNorms built without running statistics (NB-201 cell ops on network=reference) are given them "
        "for the two forwards, so the BN term counts every BN as ZenNAS's networks do (NASLib reaches the same "
        "by rebuilding each chosen op's BN affine with running statistics: update_batchnorms in "
        "search_spaces/nasbench201/conversions.py)",
        "BN momentum is set to 0.1 (nn.BatchNorm2d's default in ZenNAS and NASLib's nasbench_pytorch) on "
        "benchsuite's NB-101 network, whose BNs otherwise use the official TF momentum 0.003",
        "BN eps is the networks' 1e-5; ZenNAS's MasterNet sets 1e-3 (Masternet.py:63-66)",
        "NB-201/NB-101 networks keep their residual and multi-branch paths, as NASLib scores them; Zen-NAS's "
        "search scores its plain CNNs with no_reslink=True (evolution_search.py:111)",
        "Gaussian weights and inputs are drawn from a CPU generator seeded with the seed; ZenNAS draws from "
        "the global RNG",
    )

    def __init__(self, *, seed: int = 0, device: str = "cpu", batch_size: int = 64, repeat: int = 1,
                 mixup_gamma: float = 1e-2, share: bool = False, C: int | None = None, N: int | None = None,
                 network: str = "reference", cell_batch: int | None = None, cifar_dir: str | None = None) -> None:
        super().__init__(seed=seed, device=device, batch_size=batch_size, share=share, C=C, N=N, network=network,
                         cell_batch=cell_batch, cifar_dir=cifar_dir)
        self.repeat = repeat
        self.mixup_gamma = mixup_gamma

    def measure_params(self) -> dict:
        return {"repeat": self.repeat, "mixup_gamma": self.mixup_gamma}
