"""One supernet trainer for every weight-sharing selector; it knows nothing about selectors.

Modes: ``darts`` (bilevel: alpha on the architecture half, weights on the weight half; first order,
or second order with DARTS's finite-difference unrolled gradient), ``it`` (IT-NAS's indicator
transformer weighs the ops; by default trained jointly with the weights on the same batches and
loss — IT-NAS blames DARTS's collapse on the bilevel optimisation, but its abstract does not say the
transformer is trained jointly, so ``it_train="bilevel"`` trains it on the architecture half as
DARTS trains alpha; a separate Adam, the architecture optimiser's settings), ``spos`` (uniform
single-path sampling, a path per cell per step), ``rlnas`` (SPOS on fixed random labels, keeping
the initial weights for the angle). Few-shot sub-supernets are ``spos`` runs with one edge held
fixed (``fixed_edge``) that start from a trained one-shot checkpoint (``init_from``).

A checkpoint is written after every epoch under ``<cache>/supernet/<config key>/``; training with
a finished key just loads it, an interrupted one resumes from its last epoch. Every epoch's
randomness (batch order, augmentation, sampled paths) is derived from (seed, epoch), so a resumed
run ends bit-identical to an uninterrupted one on the same device. Under torchrun/DDP each rank
takes its slice of every global batch and rank 0 writes the checkpoints.
"""
from __future__ import annotations

import contextlib
import copy
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..benchmarks.sources import cache_dir
from ..progress import Progress
from .config import TrainConfig
from .data import SearchData
from .indicator import IndicatorTransformer
from .model import NUM_EDGES, NUM_OPS, OPS, Supernet

NONE = OPS.index("none")


@dataclass
class TrainedSupernet:
    config: TrainConfig
    model: Supernet
    alpha: torch.Tensor | None = None                 # darts: (6, 5) architecture logits
    indicator: IndicatorTransformer | None = None      # it
    init_state: dict | None = None                     # rlnas: weights at initialisation
    history: list[dict] = field(default_factory=list)
    train_seconds: float = 0.0
    images_per_s: float = float("nan")
    loaded: bool = False                               # served from a finished checkpoint
    projected: dict[int, int] = field(default_factory=dict)   # DARTS-PT: edge -> op fixed one-hot
    arch_optimizer: dict | None = None   # the architecture optimiser's final state (DARTS-PT continues it)

    def darts_weights(self) -> torch.Tensor:
        """softmax(alpha) per edge, with DARTS-PT's projected edges replaced by one-hot rows."""
        w = torch.softmax(self.alpha, -1)
        if self.projected:
            w = w.clone()
            for e, k in self.projected.items():
                w[e] = 0.0
                w[e, k] = 1.0
        return w

    @property
    def key(self) -> str:
        return self.config.key()


def distributed() -> tuple[int, int]:
    """(rank, world size) of an initialised torch.distributed group, else (0, 1)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def init_distributed_from_env(device: str) -> str:
    """Join the process group torchrun describes (WORLD_SIZE > 1): NCCL on this rank's GPU, gloo on
    CPU. Returns the device this rank trains on; without torchrun, ``device`` unchanged."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return device
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device.startswith("cuda") or (device == "auto" and torch.cuda.is_available()):
        torch.cuda.set_device(local)
        torch.distributed.init_process_group("nccl")
        return f"cuda:{local}"
    torch.distributed.init_process_group("gloo")
    return "cpu"


def _allreduce_grads(params) -> None:
    rank, world = distributed()
    if world > 1:
        for p in params:
            if p.grad is not None:
                torch.distributed.all_reduce(p.grad)
                p.grad.div_(world)


def _cosine_lr(cfg: TrainConfig, epoch: int, step: int, steps: int) -> float:
    t = (epoch + step / steps) / cfg.epochs
    return cfg.lr_min + 0.5 * (cfg.lr - cfg.lr_min) * (1 + math.cos(math.pi * t))


def _path_generator(cfg: TrainConfig, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(np.random.SeedSequence([cfg.seed, epoch, 7]).generate_state(1)[0]))


def sample_path(g: torch.Generator, fixed_edge: tuple[int, int] | None = None) -> list[int]:
    """One uniform op per edge (the `shared` mode: one path for every cell of the step)."""
    path = torch.randint(0, NUM_OPS, (NUM_EDGES,), generator=g).tolist()
    if fixed_edge is not None:
        path[fixed_edge[0]] = fixed_edge[1]
    return path


def sample_cell_paths(g: torch.Generator, cells: int, fixed_edge: tuple[int, int] | None = None,
                      avoid_all_none: bool = False) -> list[list[int]]:
    """One path per cell, each drawn independently, as the references train: few-shot-NAS's
    ``UniformRandomSupernet.forward`` draws a ``random_genotype()`` for every cell (rank_model.py);
    RLNAS's ``SearchCell.forward_urs`` draws every node's incoming ops per cell and draws them again
    while all are ``none`` (search_cells.py) — ``avoid_all_none``. A fixed edge (few-shot
    sub-supernet) keeps its op in every cell and is never redrawn."""
    paths = []
    for _ in range(cells):
        path: list[int] = []
        for node in range(1, 4):   # node's incoming edges are the next `node` ones in EDGES order
            fixed = fixed_edge[0] - len(path) if fixed_edge and 0 <= fixed_edge[0] - len(path) < node else None
            while True:
                ops = torch.randint(0, NUM_OPS, (node,), generator=g).tolist()
                if fixed is not None:
                    ops[fixed] = fixed_edge[1]
                nothing_to_redraw = fixed is not None and node == 1
                if not avoid_all_none or nothing_to_redraw or any(op != NONE for op in ops):
                    break
            path += ops
        paths.append(path)
    return paths


def checkpoint_dir(cfg: TrainConfig, root: str | os.PathLike | None = None) -> Path:
    return Path(root or cache_dir() / "supernet") / cfg.key()


def _save(path: Path, state: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)   # atomic: an interruption never leaves a half-written checkpoint


def load_checkpoint(cfg: TrainConfig, root=None) -> dict | None:
    path = checkpoint_dir(cfg, root) / "state.pt"
    if not path.is_file():
        return None
    return torch.load(path, map_location="cpu", weights_only=True)   # tensors and plain data only


def _build(cfg: TrainConfig, device: torch.device) -> TrainedSupernet:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = Supernet(C=cfg.C, N=cfg.N, num_classes=cfg.num_classes)
        alpha = 1e-3 * torch.randn(NUM_EDGES, NUM_OPS) if cfg.mode == "darts" else None
        indicator = (IndicatorTransformer(model.stage_channels, dim=cfg.it_dim, heads=cfg.it_heads)
                     if cfg.mode == "it" else None)
    out = TrainedSupernet(cfg, model.to(device))
    if alpha is not None:
        out.alpha = alpha.to(device).requires_grad_(True)
    if indicator is not None:
        out.indicator = indicator.to(device)
    if cfg.channels_last:
        out.model.to(memory_format=torch.channels_last)
    if cfg.mode == "rlnas":
        out.init_state = {k: v.detach().cpu().clone() for k, v in out.model.state_dict().items()}
    return out


def _arch_params(net: TrainedSupernet) -> list[torch.Tensor]:
    if net.alpha is not None:
        return [net.alpha]
    return list(net.indicator.parameters()) if net.indicator is not None else []


def forward(net: TrainedSupernet, x: torch.Tensor, *, path=None, model=None) -> torch.Tensor:
    """Logits under the training mode's own op selection (or a given path)."""
    model = model or net.model
    if path is not None:
        return model(x, path=path)
    if net.alpha is not None:
        return model(x, weights=net.darts_weights())
    if net.indicator is not None:
        return model(x, indicator=net.indicator)
    raise ValueError("uniform-sampling supernets need a path")


def _unrolled_alpha_grad(net, xw, yw, xa, ya, lr: float, w_opt) -> None:
    """DARTS second order: grad_alpha L_val(w - lr * grad_w L_train(w), alpha), with the
    Hessian-vector product by central finite differences (eps = 0.01 / ||grad_w' L_val||)."""
    cfg, model, alpha = net.config, net.model, net.alpha
    params = [p for p in model.parameters() if p.requires_grad]
    backup = [p.detach().clone() for p in params]
    g = torch.autograd.grad(F.cross_entropy(forward(net, xw), yw), params, allow_unused=True)
    with torch.no_grad():
        for p, gp in zip(params, g):
            buf = w_opt.state.get(p, {}).get("momentum_buffer")
            step = (gp if gp is not None else torch.zeros_like(p)) + cfg.wd * p
            if buf is not None:
                step = step + cfg.momentum * buf
            p.sub_(lr * step)
    val_loss = F.cross_entropy(forward(net, xa), ya)
    grads = torch.autograd.grad(val_loss, [alpha] + params, allow_unused=True)
    d_alpha, d_w = grads[0], [torch.zeros_like(p) if v is None else v for p, v in zip(params, grads[1:])]
    eps = 0.01 / torch.cat([v.flatten() for v in d_w]).norm().clamp_min(1e-12)
    hessian = []
    for sign in (1.0, -1.0):
        with torch.no_grad():
            for p, b, v in zip(params, backup, d_w):
                p.copy_(b + sign * eps * v)
        hessian.append(torch.autograd.grad(F.cross_entropy(forward(net, xw), yw), alpha)[0])
    with torch.no_grad():
        for p, b in zip(params, backup):
            p.copy_(b)
    alpha.grad = d_alpha - lr * (hessian[0] - hessian[1]) / (2 * eps)


def _run_epoch(net, data: SearchData, epoch: int, w_opt, a_opt, device, ddp_model, bar) -> dict:
    cfg = net.config
    rank, world = distributed()
    steps = data.steps("weights", cfg.batch_size)
    if cfg.steps_per_epoch:
        steps = min(steps, cfg.steps_per_epoch)
    g_path = _path_generator(cfg, epoch)
    bilevel = cfg.mode == "darts" or (cfg.mode == "it" and cfg.it_train == "bilevel")
    joint = cfg.mode == "it" and cfg.it_train == "joint"   # architecture parameters stepped on the weight batch
    arch_iter = data.batches("arch", cfg.batch_size, seed=cfg.seed, epoch=epoch, rank=rank, world=world) \
        if bilevel else None
    amp = torch.autocast(device.type, dtype=torch.bfloat16) if cfg.amp else contextlib.nullcontext()
    fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
    loss_sum = correct = seen = 0.0
    t0 = time.perf_counter()
    net.model.train()
    batches = data.batches("weights", cfg.batch_size, seed=cfg.seed, epoch=epoch, rank=rank, world=world)
    for step, (xw, yw) in zip(range(steps), batches):
        lr = _cosine_lr(cfg, epoch, step, steps)
        for group in w_opt.param_groups:
            group["lr"] = lr
        xw = xw.contiguous(memory_format=fmt)
        if bilevel or joint:
            path = None
        elif cfg.path_sampling == "shared":
            path = sample_path(g_path, cfg.fixed_edge)
        else:
            path = sample_cell_paths(g_path, 3 * cfg.N, cfg.fixed_edge, avoid_all_none=cfg.mode == "rlnas")
        if bilevel:
            try:
                xa, ya = next(arch_iter)
            except StopIteration:   # the architecture half is shorter: start it over
                arch_iter = data.batches("arch", cfg.batch_size, seed=cfg.seed, epoch=epoch + 10**6 * (step + 1),
                                         rank=rank, world=world)
                xa, ya = next(arch_iter)
            xa = xa.contiguous(memory_format=fmt)
            a_opt.zero_grad(set_to_none=True)
            if cfg.second_order:
                _unrolled_alpha_grad(net, xw, yw, xa, ya, lr, w_opt)
            else:
                with amp:
                    a_loss = F.cross_entropy(forward(net, xa).float(), ya)
                a_loss.backward()
            _allreduce_grads(_arch_params(net))
            a_opt.step()
        w_opt.zero_grad(set_to_none=True)
        if joint:
            a_opt.zero_grad(set_to_none=True)
        with amp:
            logits = forward(net, xw, path=path, model=ddp_model).float()
            loss = F.cross_entropy(logits, yw)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(net.model.parameters(), cfg.grad_clip)
        w_opt.step()
        if joint:
            _allreduce_grads(_arch_params(net))
            a_opt.step()
        loss_sum += float(loss.detach()) * len(yw)
        correct += float((logits.argmax(1) == yw).sum())
        seen += len(yw)
        bar.update(1, f"epoch {epoch + 1} loss {loss_sum / seen:.3f} acc {100.0 * correct / seen:.1f}%")
    seconds = time.perf_counter() - t0
    images = seen * (2 if bilevel else 1) * world   # bilevel steps also push an architecture batch
    return {"epoch": epoch + 1, "lr": round(lr, 6), "train_loss": loss_sum / max(seen, 1),
            "train_acc": 100.0 * correct / max(seen, 1), "seconds": round(seconds, 3),
            "images_per_s": images / seconds if seconds > 0 else float("nan")}


def train_epoch(net: TrainedSupernet, data: SearchData, epoch: int, w_opt, a_opt, *, device: str = "cpu",
                model=None, bar=None) -> dict:
    """One epoch of ``net.config``'s training (weights, and architecture parameters where the mode
    has them) with the given optimisers, as ``train_supernet`` runs it; returns the epoch's row
    (lr, train loss and accuracy, seconds, images/s). ``epoch`` (from 0) sets the cosine schedule
    and the seeded batch order; ``model``: a DDP wrapper of ``net.model``; ``bar``: a progress
    bar advanced per step (none by default)."""
    return _run_epoch(net, data, epoch, w_opt, a_opt, torch.device(device), model if model is not None else net.model,
                      bar if bar is not None else _NoBar())


def train_supernet(cfg: TrainConfig, data: SearchData, *, device: str = "cpu", root=None,
                   log: Callable[[str], None] | None = None,
                   on_epoch_end: Callable[[int], None] | None = None,
                   evaluate: Callable[[TrainedSupernet], dict] | None = None) -> TrainedSupernet:
    """Train (or load, or resume) the supernet of ``cfg``; ``evaluate`` adds per-epoch figures."""
    dev = torch.device(device)
    net = _build(cfg, dev)
    if cfg.init_from:
        src = torch.load(Path(root or cache_dir() / "supernet") / cfg.init_from / "state.pt", map_location="cpu",
                         weights_only=True)
        net.model.load_state_dict(src["model"])
    w_opt = torch.optim.SGD(net.model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.wd,
                            nesterov=cfg.nesterov)
    arch = _arch_params(net)
    a_opt = torch.optim.Adam(arch, lr=cfg.arch_lr, betas=(cfg.arch_beta1, 0.999), weight_decay=cfg.arch_wd) \
        if arch else None
    start = 0
    state = load_checkpoint(cfg, root)
    if state is not None:
        net.model.load_state_dict(state["model"])
        w_opt.load_state_dict(state["w_opt"])
        if a_opt is not None:
            a_opt.load_state_dict(state["a_opt"])
        if net.alpha is not None:
            with torch.no_grad():
                net.alpha.copy_(state["alpha"].to(dev))
        if net.indicator is not None:
            net.indicator.load_state_dict(state["indicator"])
        if state.get("init") is not None:
            net.init_state = state["init"]
        net.history, net.train_seconds, start = state["history"], state["train_seconds"], state["epoch"]
        net.loaded = state["epoch"] >= cfg.epochs
    rank, world = distributed()
    ddp_model = net.model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        ddp_model = DistributedDataParallel(net.model, device_ids=[dev.index] if dev.type == "cuda" else None,
                                            find_unused_parameters=True)
    steps = data.steps("weights", cfg.batch_size)
    steps = min(steps, cfg.steps_per_epoch) if cfg.steps_per_epoch else steps
    bar = Progress((cfg.epochs - start) * steps, f"supernet {cfg.key()}", unit="step") \
        if start < cfg.epochs and rank == 0 \
        else _NoBar()
    for epoch in range(start, cfg.epochs):
        row = _run_epoch(net, data, epoch, w_opt, a_opt, dev, ddp_model, bar)
        if evaluate is not None:
            row.update(evaluate(net))
        net.history.append(row)
        net.train_seconds += row["seconds"]
        if log and rank == 0:
            log(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
        if rank == 0:
            _save(checkpoint_dir(cfg, root) / "state.pt", {
                "epoch": epoch + 1, "config": cfg.to_dict(), "model": net.model.state_dict(),
                "w_opt": w_opt.state_dict(), "a_opt": a_opt.state_dict() if a_opt else None,
                "alpha": net.alpha.detach().cpu() if net.alpha is not None else None,
                "indicator": net.indicator.state_dict() if net.indicator is not None else None,
                "init": net.init_state, "history": net.history, "train_seconds": net.train_seconds,
                "device": str(dev), "world_size": world})
        if world > 1:
            torch.distributed.barrier()
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1)
    net.arch_optimizer = copy.deepcopy(a_opt.state_dict()) if a_opt is not None else None
    imgs = [r["images_per_s"] for r in net.history if np.isfinite(r["images_per_s"])]
    net.images_per_s = float(np.median(imgs)) if imgs else float("nan")
    net.model.eval()
    return net


class _NoBar:
    def update(self, n: int = 1, postfix: str = "") -> None:
        pass
