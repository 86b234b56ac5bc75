"""The eight zero-cost proxies, computed together from as few passes as their references allow.

Faithful to SamsungLabs/zero-cost-nas (and the NASWOT / ZiCo references) on one network
initialisation and one seeded batch, network in train mode (batch-statistics BN):

- one shared forward on the batch feeds grad_norm, snip, fisher, grasp, jacov and naswot:
  the CE gradients of all conv/linear weights and conv/linear outputs (grad_norm = Σ‖g‖,
  snip = Σ|w·g|, fisher = Σ_k ½·mean_n(Σ_hw a·∂L/∂a)² broadcast over the channel's weights),
  a Hessian-gradient product on the same graph (grasp = Σ −w·Hg), the input gradient of Σ logits
  (jacov = −Σ log(λ+k) + 1/(λ+k) over the eigenvalues of its correlation matrix, k = 1e-5), and
  forward hooks on every ReLU input (naswot = log|det K|, K the Hamming-agreement kernel);
  reusing the forward is exact: every reference builds the same train-mode forward again;
- zico: the batch split in two halves, a forward/backward per half (its reference's split),
  Σ_layers log Σ mean|g| / std(g) over the halves;
- synflow: a BN-free copy with the same weights, |w|, float64, an all-ones input of one image,
  Σ|w·∂(Σ out)/∂w|; it reads only the images' shape, so it can be computed with no batch at all.
All values are "higher = better" as published; NaN marks a failure (e.g. a constant network).
"""
from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...spaces.nb201_net import dead_branch_relus
from .zero_cost import NASWOT_RELUS  # noqa: F401  (naswot's choices, declared with its selector)

PROXIES = ("synflow", "snip", "grasp", "fisher", "grad_norm", "jacov", "naswot", "zico")
SHARED = frozenset({"snip", "grasp", "fisher", "grad_norm", "jacov", "naswot"})
VERSION = 2  # bump when any computation below changes: it keys the on-disk cache (2: naswot's -inf kept)


def _weighted_layers(net: nn.Module) -> list[nn.Module]:
    return [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def _jacov(jac: torch.Tensor) -> float:
    j = jac.reshape(jac.shape[0], -1).double().cpu().numpy()
    with np.errstate(all="ignore"):
        corr = np.corrcoef(j)
    if not np.isfinite(corr).all():
        return float("nan")
    v = np.linalg.eigvalsh(corr)
    k = 1e-5
    return float(-np.sum(np.log(v + k) + 1.0 / (v + k)))


def agreement_kernel(c: torch.Tensor) -> torch.Tensor:
    """NASWOT's K_ik = #units where the binary codes of images i and k agree (codes on the last
    axis, images on the one before) = c·cᵀ + (1-c)·(1-c)ᵀ = 2c·cᵀ - s_i - s_k + D, with one float32
    matmul (exact: integer sums far below 2^24) instead of two."""
    s = c.sum(-1, dtype=torch.float64)
    return 2 * (c @ c.transpose(-1, -2)).double() - s[..., :, None] - s[..., None, :] + c.shape[-1]


def fisher_channels(act: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """zero-cost-nas's per-channel Fisher ½·mean_n(Σ_hw a·∂L/∂a)² of a (batch, channel[, h, w]) output."""
    prod = act.detach() * grad.detach()
    g_nk = prod.sum(dim=tuple(range(2, prod.dim()))) if prod.dim() > 2 else prod
    return 0.5 * g_nk.pow(2).mean(0)


def shared_pass(net: nn.Module, x: torch.Tensor, y: torch.Tensor, wanted: set[str],
                naswot_relus: str = "all") -> dict[str, float]:
    """One forward; the gradients each of ``wanted`` (a subset of SHARED) needs. ``naswot_relus``
    (see NASWOT_RELUS) says which ReLUs feed naswot's kernel."""
    out: dict[str, float] = {}
    layers = _weighted_layers(net)
    acts: dict[nn.Module, torch.Tensor] = {}  # keyed by layer: execution order differs from module order
    hooks = []
    n = x.shape[0]
    kernel = torch.zeros(n, n, dtype=torch.float64, device=x.device)
    if "fisher" in wanted:
        hooks += [m.register_forward_hook(lambda m, _i, o: acts.__setitem__(m, o)) for m in layers]
    if "naswot" in wanted:
        def code(_m, inp, _o):
            kernel.add_(agreement_kernel((inp[0].detach().reshape(n, -1) > 0).float()))

        skip = set(dead_branch_relus(net)) if naswot_relus == "live" else set()
        hooks += [m.register_forward_hook(code) for m in net.modules() if isinstance(m, nn.ReLU) and m not in skip]
    need_x = bool({"jacov"} & wanted)
    x = x.clone().requires_grad_(need_x)
    try:
        logits = net(x)
    finally:
        for h in hooks:
            h.remove()
    if "naswot" in wanted:
        sign, logdet = torch.linalg.slogdet(kernel)
        out["naswot"] = float(logdet)   # -inf for a singular kernel, as the reference's slogdet (score.py)
    weights = [m.weight for m in layers]
    grad_wanted = {"snip", "grasp", "fisher", "grad_norm"} & wanted
    if grad_wanted:
        loss = F.cross_entropy(logits, y)
        outs = [acts[m] for m in layers] if acts else []
        grads = torch.autograd.grad(loss, weights + outs, create_graph="grasp" in wanted, retain_graph=True)
        gw, ga = grads[: len(weights)], grads[len(weights):]
        if "grad_norm" in wanted:
            out["grad_norm"] = float(sum(g.detach().norm() for g in gw))
        if "snip" in wanted:
            out["snip"] = float(sum((w.detach() * g.detach()).abs().sum() for w, g in zip(weights, gw)))
        if "fisher" in wanted:
            total = 0.0
            for w, a, g in zip(weights, outs, ga):
                total += float(fisher_channels(a, g).sum()) * math.prod(w.shape[1:])
            out["fisher"] = total
        if "grasp" in wanted:
            z = sum((g.detach() * g).sum() for g in gw)
            hg = torch.autograd.grad(z, weights, retain_graph=need_x, allow_unused=True)
            out["grasp"] = float(sum((-w.detach() * h).sum() for w, h in zip(weights, hg) if h is not None))
    if "jacov" in wanted:
        (jac,) = torch.autograd.grad(logits.sum(), x)
        out["jacov"] = _jacov(jac)
    return out


def zico(net: nn.Module, x: torch.Tensor, y: torch.Tensor, splits: int = 2) -> float:
    layers = _weighted_layers(net)
    per_layer: list[list[torch.Tensor]] = [[] for _ in layers]
    n = x.shape[0]
    for sp in range(splits):
        st, en = sp * n // splits, (sp + 1) * n // splits
        loss = F.cross_entropy(net(x[st:en]), y[st:en])
        grads = torch.autograd.grad(loss, [m.weight for m in layers])
        for acc, g in zip(per_layer, grads):
            acc.append(g.detach().reshape(-1).double())
    score = 0.0
    for gs in per_layer:
        g = torch.stack(gs)
        std = g.std(0, unbiased=False)
        nz = std != 0
        tmpsum = float((g.abs().mean(0)[nz] / std[nz]).sum())
        if tmpsum != 0:
            score += math.log(tmpsum)
    return score


def synflow(net_no_bn: nn.Module, shape: tuple[int, ...], device) -> float:
    net = net_no_bn.double()
    with torch.no_grad():
        for p in net.state_dict().values():
            p.abs_()
    ones = torch.ones((1, *shape), dtype=torch.float64, device=device)
    weights = [m.weight for m in _weighted_layers(net)]
    grads = torch.autograd.grad(net(ones).sum(), weights, allow_unused=True)
    return float(sum((w.detach() * g).abs().sum() for w, g in zip(weights, grads) if g is not None))


@contextlib.contextmanager
def full_precision(device) -> Iterator[None]:
    """No TF32 on CUDA while proxies are computed: cuDNN convs default to TF32 on Ampere and later,
    which would make GPU scores differ from CPU ones in the third digit."""
    if not str(device).startswith("cuda"):
        yield
        return
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def bn_free_copy(build: Callable[..., nn.Module], state: dict) -> nn.Module:
    """Synflow's copy: ``build(bn=False)`` in train mode carrying ``state``'s weights (BN entries are
    dropped; every other weight must be there)."""
    plain = build(bn=False).train()
    missing = plain.load_state_dict(state, strict=False).missing_keys
    assert not missing, f"BN-free copy lacks weights {missing[:3]}"
    return plain


def input_shape(x: torch.Tensor | None, shape: tuple[int, ...] | None, names: set[str]) -> tuple[int, ...]:
    """The shape of one input image: the batch's, or ``shape`` where there is no batch, which only
    the proxies that read no image can do without (synflow reads the shape alone, as
    zero-cost-nas's all-ones input does; see ``extra.image_free``)."""
    from .extra import image_free

    if x is not None:
        return tuple(x.shape[1:])
    need = names - image_free()
    if need or shape is None:
        raise ValueError(f"{', '.join(sorted(need)) or ', '.join(sorted(names))} needs an image batch "
                         "(only proxies that read no image take an input shape instead)")
    return tuple(shape)


def compute(build: Callable[..., nn.Module], x: torch.Tensor | None, y: torch.Tensor | None, names: Iterable[str],
            *, seed: int, device: str = "cpu", naswot_relus: str = "all",
            shape: tuple[int, ...] | None = None, batch_size: int = 64,
            params: dict | None = None) -> dict[str, float]:
    """All requested proxies for one architecture. ``build(bn=...)`` makes its network; every
    proxy sees the same initial weights (seeded), as each reference copies one initialised net.
    ``x``/``y`` may be None when synflow alone is wanted: ``shape`` (C, H, W) then sizes its input."""
    names = set(names)
    shape = input_shape(x, shape, names)
    with full_precision(device):
        return _compute(build, x, y, names, seed=seed, device=device, naswot_relus=naswot_relus, shape=shape,
                        batch_size=batch_size, params=params or {})


def _compute(build, x, y, names: set[str], *, seed: int, device: str, naswot_relus: str,
             shape: tuple[int, ...], batch_size: int = 64, params: dict | None = None) -> dict[str, float]:
    torch.manual_seed(seed)
    net = build(bn=True).to(device).train()
    init = {k: v.clone() for k, v in net.state_dict().items()}
    if x is not None:
        x, y = x.to(device), y.to(device)
    out: dict[str, float] = {}
    if names & SHARED:
        out.update(shared_pass(net, x, y, names & SHARED, naswot_relus))
    if "zico" in names:
        net.load_state_dict(init)
        out["zico"] = zico(net, x, y)
    if "synflow" in names:
        plain = bn_free_copy(build, init).to(device)
        out["synflow"] = synflow(plain, shape, device)
    out.update(_extra(build, init, x, y, names, seed=seed, device=device, shape=shape, batch_size=batch_size,
                      params=params or {}))
    return {k: nonfinite_as_reference(v) for k, v in out.items()}


def nonfinite_as_reference(v: float) -> float:
    """A measure's value as the runner stores it: -inf kept (the references' own worst value: log 0,
    a singular kernel's log-determinant), NaN and +inf (overflow) stored as NaN, a cell not scored."""
    return v if math.isfinite(v) or v == -math.inf else float("nan")


def _extra(build, init: dict, x, y, names: set[str], *, seed: int, device: str,
           shape: tuple[int, ...], batch_size: int = 64, params: dict | None = None) -> dict[str, float]:
    """The measures of ``extra.TABLE`` among ``names``, each on its own fresh copy of the network
    with the shared initial weights."""
    from .extra import TABLE, MeasureInput, measure

    def fresh(bn: bool = True) -> nn.Module:
        if not bn:
            return bn_free_copy(build, init).to(device)
        net = build(bn=True)
        net.load_state_dict(init)
        return net.to(device).train()

    classes = int(init["classifier.weight"].shape[0])   # both spaces' networks end in `classifier`
    out = {}
    for name in sorted(names & set(TABLE)):
        torch.manual_seed(seed)
        out[name] = float(measure(name)(MeasureInput(fresh, x, y, seed, device, shape, classes, batch_size,
                                                     dict(params or {}))))
    return out
