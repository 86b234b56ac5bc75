"""Measuring a trained supernet: accuracy of a sub-network or op mix on fixed validation batches,
and the per-edge op importance a differentiable method derives its cell from."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .model import NUM_EDGES, NUM_OPS, argmax_arch
from .trainer import TrainedSupernet, forward

Batches = Sequence[tuple[torch.Tensor, torch.Tensor]]


@torch.no_grad()
def accuracy(net: TrainedSupernet, batches: Batches, *, path: Sequence[int] | None = None,
             weights: torch.Tensor | None = None) -> tuple[float, float]:
    """(top-1 accuracy %, mean loss) over ``batches``: of one sub-network (``path``), of an explicit
    op mix (``weights``, e.g. DARTS-PT masks) or of the mode's own mix."""
    net.model.eval()
    fmt = torch.channels_last if net.config.channels_last else torch.contiguous_format
    correct = loss = n = 0.0
    for x, y in batches:
        x = x.contiguous(memory_format=fmt)
        if weights is not None:
            logits = net.model(x, weights=weights.to(x.device))
        else:
            logits = forward(net, x, path=path)
        logits = logits.float()
        loss += float(F.cross_entropy(logits, y, reduction="sum"))
        correct += float((logits.argmax(1) == y).sum())
        n += len(y)
    return 100.0 * correct / n, loss / n


@torch.no_grad()
def importance(net: TrainedSupernet, batches: Batches) -> torch.Tensor:
    """(6, 5) op importance: softmax(alpha) for DARTS; IT-NAS's attention of the indicator token
    averaged over every image and cell of ``batches``."""
    if net.alpha is not None:
        return torch.softmax(net.alpha.detach().float().cpu(), -1)
    if net.indicator is None:
        raise ValueError(f"a {net.config.mode} supernet has no op importance")
    net.indicator.start_recording()
    try:
        accuracy(net, batches)
    finally:
        imp = net.indicator.stop_recording()
    return imp


def epoch_figures(batches: Batches, n_paths: int = 3):
    """Per-epoch validation figures for the training log (a closure over fixed batches)."""
    paths = np.random.default_rng(12345).integers(0, NUM_OPS, size=(n_paths, NUM_EDGES)).tolist()

    def figures(net: TrainedSupernet) -> dict:
        if net.config.mode in ("darts", "it"):
            acc, loss = accuracy(net, batches)
            imp = importance(net, batches)
            return {"valid_acc": acc, "valid_loss": loss, "derived": argmax_arch(imp)}
        accs = [accuracy(net, batches, path=p)[0] for p in paths]
        return {"valid_acc": float(np.mean(accs))}   # mean over fixed sampled sub-networks

    return figures
