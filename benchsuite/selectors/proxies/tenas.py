"""TE-NAS (Chen, Gong & Wang, ICLR 2021): the condition number of the NTK (trainability) and the number
of linear regions (expressivity), and their combined rank.

Reference: VITA-Group/TENAS (commit 9df78ff). ``lib/procedures/ntk.py`` ``get_ntk_n``,
``lib/procedures/linear_region_counter.py`` ``Linear_Region_Collector``, and how ``prune_tenas.py``
calls them, with the settings ``prune_launch.py`` passes for NAS-Bench-201:

- NTK: the per-sample gradients of Σ_c logit_c of every parameter named ``*weight*`` (ntk.py:44-50),
  K = G·Gᵀ (ntk.py:55), κ = λ_max/λ_min (ntk.py:58-59, NaN -> 100000); one batch of 72 training images
  (prune_launch.py:32, ``num_batch=1`` prune_tenas.py:111) with AutoDL's CIFAR train transform (flip,
  pad-4 crop padded black, AutoDL's mean/std: get_dataset_with_transform.py:93-97, 108), network in
  train mode (``train_mode=True``, prune_tenas.py:111) on the supernet with C=3, N=1, affine BN that
  tracks running statistics (prune_tenas.py:358-363, prune_launch.py:57), averaged over 3 repeats
  (prune_launch.py:62), each on the loader's next batch. Lower κ is better: the score is -κ.
- Linear regions: 1000 random 3x3 crops of one random channel of normalised training images per
  forward, 3 forwards (``input_size=(1000, 1, 3, 3), sample_batch=3``: prune_tenas.py:396; transform:
  linear_region_counter.py:50), through a thin network of one cell at 1 channel with no stem, then
  BN + ReLU (prune_tenas.py:364-369, search_model_darts.py:43, 55, 113), train mode, no grad
  (prune_tenas.py:120-136); the sign of every ReLU output with a 4-D input (linear_region_counter.py:
  209-211, 126) over the 3000 crops; the number of distinct patterns (calc_LR, lines 130-136), averaged
  over 3 repeats. Higher is better.
- Initialisation: PyTorch's default. ``init_model`` (prune_tenas.py:45-50) only knows
  'kaiming_norm_fanin'/'kaiming_norm_fanout', and the launch passes ``--init kaiming_normal``
  (prune_launch.py:27), so prune_tenas.py:105/129 ask for 'kaiming_normal_fanout'/'..._fanin' and
  change nothing; the repeats reuse the same weights on new batches.
- Combined: dense ranks (ties share a rank, the next value gets rank + 1) of κ ascending and of the
  regions descending, summed; the lowest sum wins (prune_tenas.py:147-172). Score: minus the sum.
"""
from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy import stats
from torch import nn

from ...data.images import load_images, proxy_batch, to_tensor
from ...hparams import Interval
from ...spaces.nb101 import Cell as NB101CellSpec
from ...spaces.nb101_net import NB101Cell, NB101Network
from ...spaces.nb201_net import NB201Network
from ..base import Aggregate, Context, Selector
from .extra import MeasureInput
from .zero_cost import _IMAGES, POSITIVE, PROXY_CONSTRAINTS, ZeroCostSelector, own_batch

# AutoDL's CIFAR normalisation, which both TE-NAS loaders use (get_dataset_with_transform.py:93-97,
# linear_region_counter.py:34-39); ImageNet16-120 cells are scored on CIFAR-100 images (zero_cost._IMAGES).
AUTODL_MEAN_STD = {"cifar10": ((125.3 / 255, 123.0 / 255, 113.9 / 255), (63.0 / 255, 62.1 / 255, 66.7 / 255)),
                   "cifar100": ((129.3 / 255, 124.1 / 255, 112.4 / 255), (68.2 / 255, 65.4 / 255, 70.4 / 255))}
NTK_BATCH = 72         # prune_launch.py:32 (nas-bench-201), passed as --batch_size (prune_launch.py:63)
NTK_NET = (3, 1)       # C, N of the NTK supernet on NB-201 (prune_tenas.py:359)
REPEAT = 3             # --repeat 3 (prune_launch.py:62), for the NTK and the regions alike
LR_BATCH, LR_BATCHES, LR_CROP = 1000, 3, 3   # input_size=(1000, 1, 3, 3), sample_batch=3 (prune_tenas.py:396)
LR_NET = (1, 1)        # thin network: C=1, one cell (depth=1), no stem (prune_tenas.py:365)
NAN_COND = 100000.0    # np.nan_to_num(..., nan=100000.0) (ntk.py:59)
# NB-101 cells are read off a network this small (5 channels give each of up to 5 vertices feeding the
# output at least one): the regions' thin cell is built from that structure, not from its weights.
NB101_PROBE = (5, 1)
# NB-101 is not in TE-NAS, which computes κ on a narrow supernet of one cell per stage in both of its
# spaces (NB-201: C=3, N=1, prune_tenas.py:358-359; DARTS: C=1, N=1, depth 2, prune_tenas.py:371-372),
# never on the benchmark's network. NB-101 cells get the same treatment: the narrowest NB-101 network
# that keeps every vertex (stem 5 channels), one cell per stack.
NB101_NTK_NET = NB101_PROBE


@dataclass(frozen=True)
class TenasSettings:
    repeat: int = REPEAT
    batches: int = LR_BATCHES   # forwards per regions count (sample_batch)
    depth: int = LR_NET[1]      # cells in the thin network




# --- NTK condition number ---------------------------------------------------------------------------
def ntk_cond(net: nn.Module, x: torch.Tensor, nan: float = NAN_COND) -> float:
    """κ = λ_max/λ_min of the empirical NTK of ``net`` (as it is: train mode) on the batch ``x``; a NaN κ
    is ``nan`` (ZenNAS's copy of this code, which ZiCo ships, leaves np.nan_to_num's 0)."""
    params = [p for name, p in net.named_parameters() if "weight" in name]   # ntk.py:48
    logits = net(x)
    rows = []
    for i in range(x.shape[0]):   # ntk.py:44-51: backward of logit[i] with ones, i.e. of Σ_c logit[i, c]
        grads = torch.autograd.grad(logits[i].sum(), params, retain_graph=True, allow_unused=True)
        # a weight the output does not reach has no .grad there (ntk.py:48 skips it)
        rows.append(torch.cat([g.reshape(-1) for g in grads if g is not None]))
    g = torch.stack(rows).double()
    ev = torch.linalg.eigvalsh(g @ g.T)   # ascending, as torch.symeig (ntk.py:55, 58)
    with np.errstate(divide="ignore", invalid="ignore"):
        cond = np.float64(ev[-1].item()) / np.float64(ev[0].item())
    # ntk.py:59: NaN (a kernel of zeros: an output that no weight reaches) counts as 100000; ±inf become
    # the largest finite floats, as np.nan_to_num does. A negative λ_min (round-off on a singular
    # kernel) is kept, as the reference keeps it.
    return float(np.nan_to_num(cond, nan=nan))


def ntk_condition(m: MeasureInput) -> float:
    """Minus TE-NAS's κ averaged over the repeats (one batch each): lower κ ranks higher."""
    s = TenasSettings(**m.params)   # the selector's measure_params(); none: the reference's
    if m.x is None or m.x.shape[0] % s.repeat:
        raise ValueError(f"tenas_ntk needs {s.repeat} equal batches of images")
    net = m.net(bn=True).train()
    return -float(np.mean([ntk_cond(net, xb) for xb in m.x.chunk(s.repeat)]))


# --- linear regions -----------------------------------------------------------------------------------
def count_regions(model: nn.Module, batches: Sequence[torch.Tensor]) -> int:
    """Distinct on/off patterns of the ReLUs of ``model`` over all samples of ``batches``, each batch
    its own forward (train-mode BN normalises over it). Only ReLUs fed a 4-D tensor count
    (linear_region_counter.py:210); a pattern is the sign of every output unit (line 126)."""
    acts: list[torch.Tensor] = []

    def hook(_m, inp, out):
        if inp[0].dim() == 4:
            acts.append(out.detach().reshape(out.shape[0], -1) > 0)

    hooks = [mod.register_forward_hook(hook) for mod in model.modules() if isinstance(mod, nn.ReLU)]
    codes = []
    try:
        with torch.no_grad():
            for xb in batches:
                acts.clear()
                model(xb)
                codes.append(torch.cat(acts, 1) if acts else torch.zeros(xb.shape[0], 0, dtype=torch.bool))
    finally:
        for h in hooks:
            h.remove()
    code = torch.cat(codes).to(torch.uint8)
    if code.shape[1] == 0:
        return 1   # no unit: every sample in one region (calc_LR gives Σ 1/n over n samples = 1)
    # calc_LR (lines 130-136) sums, over samples, 1/(samples sharing its pattern): the number of distinct
    # patterns, which torch.unique counts exactly (the reference's float32 sum is that integer to rounding)
    return int(torch.unique(code, dim=0).shape[0])


def _nb101_op(module: nn.Module) -> str:
    """The op of an NB-101 vertex module (nb101_net.NB101Cell: MaxPool2d or ConvBnRelu)."""
    k = None if isinstance(module, nn.MaxPool2d) else module[0].kernel_size[0]
    return "maxpool3x3" if k is None else f"conv{k}x{k}-bn-relu"


def thin_network(net: nn.Module, width: int, depth: int, seed: int) -> nn.Module:
    """TE-NAS's thin network for the cell of ``net``: ``depth`` cells at ``width`` channels, no stem.

    NB-201 (prune_tenas.py:364-369): the first ``depth`` cells of ``net`` (built at C=width, N=depth,
    so they carry the shared initial weights) and its head's BN + ReLU (search_model_darts.py:55), a
    fresh BN, as the thin supernet's is. NB-101 is not in TE-NAS: ``width`` channels for every vertex
    feeding the output (TE-NAS's DARTS thin net has C=1 per node, prune_tenas.py:380), no head (the
    NB-101 network has no activation after its cells), built at PyTorch's default initialisation from
    a generator seeded with ``seed``; ``net`` only gives the cell's structure."""
    if isinstance(net, NB201Network):
        cells = list(net.cells)[:depth]
        return nn.Sequential(*cells, nn.BatchNorm2d(width), nn.ReLU(inplace=True))
    if isinstance(net, NB101Network):
        first = next(m for m in net.features if isinstance(m, NB101Cell))
        n = first.n
        spec = NB101CellSpec(tuple(tuple(r) for r in first.m),
                             ("input", *(_nb101_op(first.ops[str(v)]) for v in range(1, n - 1)), "output"))
        k = max(1, sum(first.m[v][n - 1] for v in range(1, n - 1)))   # vertices concatenated into the output
        layers, c = [], width
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for _ in range(depth):
                layers.append(NB101Cell(spec, c, width * k))
                c = width * k
        return nn.Sequential(*layers)
    raise TypeError(f"tenas_lr: no thin network known for {type(net).__name__}")


def linear_regions(m: MeasureInput) -> float:
    """TE-NAS's number of linear regions of the cell's thin network, averaged over the repeats. ``m.x``
    holds repeat × batches × batch crops of ``width`` channels (``TenasLrSelector`` draws them)."""
    s = TenasSettings(**m.params)   # the selector's measure_params(); none: the reference's
    if m.x is None or m.x.shape[0] % (s.repeat * s.batches):
        raise ValueError(f"tenas_lr needs {s.repeat} x {s.batches} equal batches of crops")
    thin = thin_network(m.net(bn=True), int(m.x.shape[1]), s.depth, m.seed).to(m.device).train()
    per_repeat = m.x.chunk(s.repeat)
    return float(np.mean([count_regions(thin, xr.chunk(s.batches)) for xr in per_repeat]))


def lr_crops(images, n: int, seed: int, crop: int = LR_CROP, channels: int = LR_NET[0]):
    """``n`` crops for the regions: a random ``crop``×``crop`` window (no padding) and ``channels``
    random colour channels (kept in order) of a normalised training image, one image each
    (linear_region_counter.py:50: RandomCrop, ToTensor, Normalize, RandChannel). Images come in seeded
    shuffled passes over the set, as successive epochs of the reference's shuffled loader. Returns
    (crops, labels of their images)."""
    rng = np.random.default_rng(seed)
    total = len(images.x_train)
    idx = np.concatenate([rng.permutation(total) for _ in range(-(-n // total))])[:n]
    gen = torch.Generator().manual_seed(seed)
    h, w = images.x_train.shape[1:3]
    oy = torch.randint(0, h - crop + 1, (n,), generator=gen).numpy()
    ox = torch.randint(0, w - crop + 1, (n,), generator=gen).numpy()
    chan = torch.rand(n, 3, generator=gen).argsort(1)[:, :channels].sort(1).values
    ar = np.arange(crop)
    patch = images.x_train[idx[:, None, None], (oy[:, None] + ar)[:, :, None], (ox[:, None] + ar)[:, None, :]]
    x = to_tensor(patch, images.name, mean_std=AUTODL_MEAN_STD[images.name])
    x = x.gather(1, chan[:, :, None, None].expand(-1, -1, crop, crop)).contiguous()
    return x, torch.from_numpy(images.y_train[idx])


# --- selectors ----------------------------------------------------------------------------------------
@contextlib.contextmanager
def _scoring(sel: ZeroCostSelector, C: int | None, N: int | None):
    """Score with the network size ``C``/``N`` (ZeroCostSelector.score reads self.C/self.N); the
    hyperparameters are restored after."""
    saved = sel.C, sel.N
    sel.C, sel.N = C, N
    try:
        yield
    finally:
        sel.C, sel.N = saved


_NOT_PRUNING = ("TE-NAS ranks the relative change of {what} when one op is removed from its pruning supernet "
                "(prune_tenas.py:{lines}); here it is computed on {net}")
_NO_NONE = ("TE-NAS removes the none op from every edge before it measures anything (prune_tenas.py:74-76), so it "
            "never measures a cell with a none edge; such cells are scored here with none as a zero op")


class TenasNtkSelector(ZeroCostSelector):
    """TE-NAS trainability: minus the condition number of the NTK (Chen, Gong & Wang, ICLR 2021).

    Defaults as TE-NAS on NAS-Bench-201: per repeat a batch of 72 training images (AutoDL's transform),
    3 repeats averaged; NB-201 cells on the network at C=3, N=1 (``C``/``N`` None) with affine BN
    (``network="benchmark"``, AutoDL's); NB-101 cells likewise on a narrow network, 5 stem channels and
    one cell per stack (``C=128, N=3`` is the benchmark's own)."""

    name = proxy = "tenas_ntk"
    hparam_constraints = {"repeat": POSITIVE}
    hparam_rules = (own_batch("tenas_ntk", "inputs and network (as TE-NAS does)"),)
    deviations = (
        _NOT_PRUNING.format(what="κ", lines="99-114", net="each cell's own network (the supernet's single-path "
                            "form)") + "; minus its mean over the repeats is the score",
        _NO_NONE,
        "the repeats' batches are one seeded draw of repeat × batch_size training images; TE-NAS takes the "
        "next batch of a shuffled training loader for each",
        "the kernel and its eigenvalues are computed in float64 (ntk.py:55, 58: float32 einsum and torch.symeig); "
        "they differ only for a nearly singular kernel",
        "NB-101 is not in TE-NAS, which computes κ on a narrow supernet of one cell per stage in both its spaces "
        "(NB-201 C=3, N=1: prune_tenas.py:358-359; DARTS C=1, N=1, depth 2: prune_tenas.py:371-372): NB-101 cells "
        "are scored on benchsuite's NB-101 network at 5 stem channels (the fewest that give each of up to 5 "
        "vertices feeding the output a channel) and one cell per stack (C, N as set; C=128, N=3 is the "
        "benchmark's network), at PyTorch's default initialisation, TE-NAS's effective one",
    )

    def __init__(self, *, seed: int = 0, device: str = "cpu", batch_size: int = NTK_BATCH, repeat: int = REPEAT,
                 share: bool = False, C: int | None = None, N: int | None = None, network: str = "benchmark",
                 cell_batch: int | None = None, cifar_dir: str | None = None) -> None:
        # batch_size 72, repeat 3: prune_launch.py:32, 62; network "benchmark": AutoDL's cells with affine
        # BN and bias-free convs (prune_tenas.py:361, cell_operations.py:30-35); C/N None: NTK_NET on NB-201,
        # NB101_NTK_NET on NB-101
        super().__init__(seed=seed, device=device, batch_size=batch_size, share=share, C=C, N=N, network=network,
                         cell_batch=cell_batch, cifar_dir=cifar_dir)
        self.repeat = repeat
        self._used: tuple | None = None

    def _images_drawn(self) -> int:
        return self.repeat * self.batch_size

    def _image_batch(self, ctx: Context) -> tuple:
        """repeat × batch_size training images with TE-NAS's train transform: flip, pad-4 crop padded
        black (torchvision pads before Normalize), AutoDL's normalisation (get_dataset_with_transform.py:108)."""
        name = _IMAGES[ctx.dataset]
        if self._batch is None or self._batch_of != name:
            images = load_images(name, data_dir=ctx.data_dir, cifar_dir=self.cifar_dir)
            x, y = proxy_batch(images, self._images_drawn(), self.seed, mean_std=AUTODL_MEAN_STD[name], pad_black=True)
            self._batch, self._batch_of = (x, y, images.source), name
        return self._batch

    def _extra_versions(self) -> dict:
        return {**super()._extra_versions(), "tenas_ntk_input": {"repeat": self.repeat, "norm": "autodl"}}

    def score(self, archs: Sequence[str], ctx: Context) -> np.ndarray:
        default = {"nb201": NTK_NET, "nb101": NB101_NTK_NET}.get(ctx.space, (None, None))
        size = tuple(default[i] if v is None else v for i, v in enumerate((self.C, self.N)))
        self._used = size
        with _scoring(self, *size):
            return super().score(archs, ctx)

    def measure_params(self) -> dict:
        return {"repeat": self.repeat}

    def report(self) -> dict:
        out = super().report()
        if out and self._used is not None:
            out["network_C_N"] = list(self._used)
        return out


class TenasLrSelector(ZeroCostSelector):
    """TE-NAS expressivity: linear regions of image crops in a thin one-cell network (Chen, Gong & Wang, ICLR 2021).

    Defaults as TE-NAS: per repeat 3 forwards of ``batch_size`` 1000 random 3x3 crops of one colour
    channel of training images, 3 repeats averaged; the thin network is the cell at ``C``=1 channel,
    ``N``=1 cell deep, no stem, then BN + ReLU (NB-101: ``C`` channels per vertex feeding the output)."""

    name = proxy = "tenas_lr"
    fast_hparams = {"batch_size": 50}
    # C: the crops' colour channels; crop: at most the images' 32 pixels
    hparam_constraints = {"batches": POSITIVE, "repeat": POSITIVE, "crop": Interval(int, 1, 32),
                          "C": [Interval(int, 1, 3), None]}
    hparam_rules = (own_batch("tenas_lr", "inputs and network (as TE-NAS does)"),)
    deviations = (
        _NOT_PRUNING.format(what="the number of regions", lines="118-141", net="each cell's thin network (the thin "
                            "supernet's single-path form)") + "; its mean over the repeats is the score",
        _NO_NONE,
        "crops are one seeded draw of repeat × batches × batch_size; where the image set holds fewer images (the "
        "bundle's CIFAR-100 subset: 486), images recur in further seeded passes, each with its own crop and "
        "channel (TE-NAS's drop_last loader of 1000 would yield no batch from so few)",
        "the number of distinct patterns is counted exactly; TE-NAS sums 1/multiplicity in float32 "
        "(linear_region_counter.py:131-136), the same integer to rounding",
        "NB-101 is not in TE-NAS: its thin network is the cell with C channels for each vertex feeding the "
        "output (TE-NAS's DARTS thin net has C=1 per node, prune_tenas.py:380), no stem and no head, at "
        "PyTorch's default initialisation seeded with the seed",
    )

    def __init__(self, *, seed: int = 0, device: str = "cpu", batch_size: int = LR_BATCH, batches: int = LR_BATCHES,
                 repeat: int = REPEAT, crop: int = LR_CROP, share: bool = False, C: int | None = None,
                 N: int | None = None, network: str = "benchmark", cell_batch: int | None = None,
                 cifar_dir: str | None = None) -> None:
        # batch_size 1000, batches 3, crop 3: prune_tenas.py:396; repeat 3: prune_launch.py:62; C/N None:
        # the thin net's C=1 and depth 1 (prune_tenas.py:365); network "benchmark": affine BN (line 368)
        super().__init__(seed=seed, device=device, batch_size=batch_size, share=share, C=C, N=N, network=network,
                         cell_batch=cell_batch, cifar_dir=cifar_dir)
        self.batches, self.repeat, self.crop = batches, repeat, crop

    def _thin(self) -> tuple[int, int]:
        return (LR_NET[0] if self.C is None else self.C, LR_NET[1] if self.N is None else self.N)

    def reads_images(self) -> bool:
        return True   # the crops come from training images (linear_region_counter.py:186-188)

    def _images_drawn(self) -> int:
        return self.repeat * self.batches * self.batch_size

    def _image_batch(self, ctx: Context) -> tuple:
        name = _IMAGES[ctx.dataset]
        if self._batch is None or self._batch_of != name:
            images = load_images(name, data_dir=ctx.data_dir, cifar_dir=self.cifar_dir)
            x, y = lr_crops(images, self._images_drawn(), self.seed, self.crop, self._thin()[0])
            self._batch, self._batch_of = (x, y, images.source), name
        return self._batch

    def _extra_versions(self) -> dict:
        width, depth = self._thin()
        return {**super()._extra_versions(), "tenas_lr_input": {
            "repeat": self.repeat, "batches": self.batches, "crop": self.crop, "width": width, "depth": depth}}

    def score(self, archs: Sequence[str], ctx: Context) -> np.ndarray:
        width, depth = self._thin()
        # NB-201: the network at the thin size, whose first cells are the thin net; NB-101: a small
        # network the cell's structure is read from (the thin size is in the cache key either way)
        size = (width, depth) if ctx.space == "nb201" else NB101_PROBE
        with _scoring(self, *size):
            return super().score(archs, ctx)

    def measure_params(self) -> dict:
        return {"repeat": self.repeat, "batches": self.batches, "depth": self._thin()[1]}


def rank_sum(cond: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """prune_tenas.py:147-172: dense ranks from 0 of κ ascending and of the regions descending (equal
    values share a rank; the next value's rank is one more), summed. NaN ranks last in both."""
    cond = np.nan_to_num(np.asarray(cond, dtype=float), nan=np.inf)
    regions = np.nan_to_num(np.asarray(regions, dtype=float), nan=-np.inf)
    return (stats.rankdata(cond, method="dense") - 1) + (stats.rankdata(-regions, method="dense") - 1)


class TenasSelector(Aggregate, Selector):
    """TE-NAS: minus the sum of the NTK-condition rank and the linear-region rank (Chen, Gong & Wang, ICLR 2021).

    The components are ``tenas_ntk`` (``batch_size``, ``repeat``, ``C``, ``N``, ``network``) and ``tenas_lr``
    (``lr_batch_size``, ``lr_batches``, ``repeat``, on TE-NAS's thin network), each at TE-NAS's defaults."""

    name = "tenas"
    inputs = frozenset({"images"})
    ranks_jointly = True
    fast_hparams = {"C": 4, "N": 1, "batch_size": 8, "lr_batch_size": 50}
    hparam_constraints = {**{k: v for k, v in PROXY_CONSTRAINTS.items() if k != "share"}, "repeat": POSITIVE,
                          "lr_batch_size": POSITIVE, "lr_batches": POSITIVE}
    deviations = (
        *dict.fromkeys(TenasNtkSelector.deviations + TenasLrSelector.deviations),   # _NO_NONE once
        "the ranks are taken among the cells scored together (one seed's sample); TE-NAS ranks the candidate "
        "op removals of one pruning round of its supernet (prune_tenas.py:147-172)",
        "values are ranked exactly; TE-NAS sorts them rounded to 3 significant figures (round_to, "
        "prune_tenas.py:147, 159; precision 3, prune_launch.py:24) but ties only equal values, so values equal "
        "to 3 figures take consecutive ranks in candidate order",
    )

    def __init__(self, *, seed: int = 0, device: str = "cpu", batch_size: int = NTK_BATCH, repeat: int = REPEAT,
                 lr_batch_size: int = LR_BATCH, lr_batches: int = LR_BATCHES, C: int | None = None,
                 N: int | None = None, network: str = "benchmark", cell_batch: int | None = None,
                 cifar_dir: str | None = None) -> None:
        # defaults: the components' (TenasNtkSelector, TenasLrSelector), TE-NAS's own
        super().__init__(seed=seed)
        self.device, self.batch_size, self.repeat, self.C, self.N = device, batch_size, repeat, C, N
        self.lr_batch_size, self.lr_batches = lr_batch_size, lr_batches
        self.network, self.cell_batch, self.cifar_dir = network, cell_batch, cifar_dir
        common = dict(seed=seed, device=device, repeat=repeat, network=network, cell_batch=cell_batch,
                      cifar_dir=cifar_dir)
        self.ntk = TenasNtkSelector(batch_size=batch_size, C=C, N=N, **common)
        self.lr = TenasLrSelector(batch_size=lr_batch_size, batches=lr_batches, **common)

    def reads_images(self) -> bool:
        return True

    def preflight(self, ctx: Context) -> None:
        """Load both components' images (the NTK batch, the regions' crops), naming what is missing."""
        self.ntk.preflight(ctx)
        self.lr.preflight(ctx)

    def table_parts(self) -> dict[str, Selector]:
        """The components, at this selector's settings (a shipped table answers it from them)."""
        return {"tenas_ntk": self.ntk, "tenas_lr": self.lr}

    def combine(self, columns: dict[str, np.ndarray]) -> np.ndarray:
        """Minus the rank sum of the components' scores (``{name: scores}``)."""
        cond = -np.asarray(columns["tenas_ntk"], dtype=float)   # tenas_ntk scores -κ
        return -rank_sum(cond, np.asarray(columns["tenas_lr"], dtype=float)).astype(float)

    def report(self) -> dict:
        return {k: rep for k, rep in (("tenas_ntk", self.ntk.report()), ("tenas_lr", self.lr.report())) if rep}
