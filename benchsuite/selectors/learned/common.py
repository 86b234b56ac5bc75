"""What the learned selectors (ctnas, nao, tnao) share: the labelled-budget base class, the cell
encodings as tensors, and the constrained greedy decoding of token sequences.

The encodings themselves (node-op DAG, token sequence, their inverses) live with each space in
``benchsuite.spaces``; this module only batches them for torch.
"""
from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...errors import ConfigError
from ...hparams import Interval
from ...spaces import get_space
from ..base import Context, Selector

# NAO's and TNAO's decoders share this difference from SemiNAS's (tests/test_learned.py checks it).
VALID_DECODER = ("the decoder emits only tokens that keep the cell valid (spaces.<space>.seq_allowed): on NB-101 the "
                 "output is always node 6 and hidden columns use at most 8 edges; SemiNAS decodes freely and "
                 "discards invalid cells")


def fit_key(name: str, ctx: Context) -> tuple:
    """What a learned selector's fit is a function of (space, seed, labelled cells), so it fits once
    per seed however the runner chunks the scoring; at least 2 labelled cells, or a one-line error."""
    if len(ctx.labelled) < 2:
        raise ConfigError(f"{name} needs at least 2 labelled cells, got {len(ctx.labelled)}")
    return ctx.space, ctx.seed, tuple(ctx.labelled)


class LearnedSelector(Selector):
    """A selector trained on ``labels`` labelled cells (validation accuracy, drawn by the runner and
    left out of every metric), that scores any list of cells with what it learned and, as a search
    method, spends further queries (``search``).

    Subclasses implement ``fit`` (train on ``ctx.labelled``), ``predict`` (higher = better) and
    ``search``; ``score`` fits once per selector and seed, so chunked scoring and a resumed run see
    the same model."""

    capabilities = frozenset({"rank", "search"})
    inputs = frozenset({"labels"})
    score_chunk = 1024   # one model, batched predictions: the first call trains, the rest are fast
    hparam_constraints = {"labels": Interval(int, 2, None)}   # it learns from pairs

    def __init__(self, *, seed: int = 0, device: str = "cpu", labels: int = 100) -> None:
        super().__init__(seed=seed)
        self.device = device
        self.labels = int(labels)
        self._fitted_on: tuple | None = None

    def _ensure_fit(self, ctx: Context) -> None:
        key = fit_key(self.name, ctx)
        if self._fitted_on == key:
            return
        import torch

        torch.manual_seed(self.seed)
        self.fit(ctx)
        self._fitted_on = key

    def score(self, archs: Sequence[str], ctx: Context) -> np.ndarray:
        self._ensure_fit(ctx)
        return np.asarray(self.predict(list(archs), ctx), dtype=float)

    @abc.abstractmethod
    def fit(self, ctx: Context) -> None:
        """Train on ``ctx.labelled`` ({cell: validation accuracy})."""

    @abc.abstractmethod
    def predict(self, archs: list[str], ctx: Context) -> Sequence[float]:
        """One score per cell, higher = better, from the fitted model."""

    @abc.abstractmethod
    def search(self, oracle, ctx: Context) -> None:
        """Spend the oracle's queries (its first ones are the labelled cells) on cells the model picks."""

    def report(self) -> dict[str, Any]:
        return dict(getattr(self, "fit_report", {}))


# ----------------------------------------------------------------------------- tensors
def graph_batch(space: str, archs: Sequence[str], device: str = "cpu"):
    """(adjacency [B, n, n] float as "row = target, column = source", node labels [B, n] long).

    Transposed as CTNAS tensorises NB-101 cells, so that ``A @ X`` sums each node's predecessors."""
    import torch

    mod = get_space(space)
    adj, ops = zip(*(mod.to_graph(a) for a in archs))
    a = torch.from_numpy(np.stack(adj).astype(np.float32)).transpose(1, 2)
    return a.to(device), torch.tensor(ops, dtype=torch.long, device=device)


def sequence_batch(space: str, archs: Sequence[str], device: str = "cpu"):
    """Token sequences [B, L] (``spaces.<space>.to_sequence``)."""
    import torch

    mod = get_space(space)
    return torch.tensor([mod.to_sequence(a) for a in archs], dtype=torch.long, device=device)


def allowed_tokens(space: str):
    """A function of the decoded prefixes [B, p] giving the tokens each row may emit next [B, V]
    (``spaces.<space>.seq_allowed``), so that every decoded sequence is a valid cell."""
    import functools

    import torch

    mod = get_space(space)
    allowed = functools.lru_cache(maxsize=200_000)(lambda prefix: mod.seq_allowed(list(prefix)))

    def mask(prefix):
        m = torch.zeros(len(prefix), mod.SEQ_VOCAB, dtype=torch.bool)
        for b, row in enumerate(prefix.tolist()):
            m[b, list(allowed(tuple(row)))] = True
        return m.to(prefix.device)

    return mask


def decode_cells(space: str, token_rows) -> list[str | None]:
    """Cells of token rows; None where the tokens make no valid cell (never for decoded rows)."""
    mod = get_space(space)
    return [mod.from_sequence(row) for row in token_rows.tolist()]


def fixed_batches(fn, items: Sequence, size: int = 256) -> np.ndarray:
    """``fn`` over ``items`` in batches of exactly ``size`` (the last one padded with copies of its
    last item): float32 matrix products round differently for different batch shapes, and a cell's
    score must not depend on which or how many cells are scored with it (chunked and resumed runs)."""
    out = []
    for i in range(0, len(items), size):
        chunk = list(items[i:i + size])
        n = len(chunk)
        out.append(np.asarray(fn(chunk + [chunk[-1]] * (size - n)), dtype=float)[:n])
    return np.concatenate(out) if out else np.zeros(0)


def standardise(values: Sequence[float]) -> tuple[np.ndarray, float, float]:
    """(z-scores, mean, std) of the labelled accuracies: the regression target NAO trains on."""
    v = np.asarray(values, dtype=float)
    mean, std = float(v.mean()), float(v.std()) or 1.0
    return (v - mean) / std, mean, std


def batches(n: int, size: int, gen) -> list:
    """Shuffled index batches of one epoch (``gen``: a torch Generator)."""
    import torch

    perm = torch.randperm(n, generator=gen)
    return [perm[i:i + size] for i in range(0, n, size)]
