"""One-shot ranking by inherited weights: ``spos`` (Guo et al. 2020) and ``fewshot`` (Zhao et al. 2021).

``spos`` trains one supernet by uniform single-path sampling; a cell scores its validation
accuracy with the supernet's weights (no fine-tuning; BN uses batch statistics, see
``supernet.model``). ``fewshot`` continues that one-shot supernet as five sub-supernets, one per op
on ``split_edge`` (each initialised from the one-shot weights and trained with that edge fixed);
a cell is scored by the sub-supernet that matches its op on the split edge. Both derive a cell by
SPOS's evolutionary search with the same fitness.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ...hparams import Interval
from ..base import Context
from ..registry import SELECTORS
from .base import SinglePathSelector


@SELECTORS.register("spos")
class SPOSSelector(SinglePathSelector):
    """Validation accuracy of each cell with inherited one-shot supernet weights."""

    name = "spos"
    train_mode = "spos"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._fitness: dict[str, float] = {}

    def net_for(self, ctx: Context, path: Sequence[int]):
        return self.supernet(ctx)

    def _accuracy(self, archs: Sequence[str], ctx: Context) -> list[float]:
        from ...supernet.evaluate import accuracy
        from ...supernet.model import arch_to_path

        batches = self.eval_set(ctx)
        for a in archs:
            if a not in self._fitness:
                path = arch_to_path(a)
                self._fitness[a] = accuracy(self.net_for(ctx, path), batches, path=path)[0]
        return [self._fitness[a] for a in archs]

    def score(self, archs: Sequence[str], ctx: Context) -> np.ndarray:
        return np.asarray(self._accuracy(archs, ctx), dtype=float)

    def derive(self, ctx: Context) -> str:
        return self.evolve_derive(lambda cells: self._accuracy(cells, ctx), fitness_is="validation accuracy")


@SELECTORS.register("fewshot")
class FewShotSelector(SPOSSelector):
    """Few-shot NAS: five sub-supernets split on one edge, each scoring the cells it contains."""

    name = "fewshot"

    # split_edge: an NB-201 edge; split_epochs: each sub-supernet's (default: the preset's)
    hparam_constraints = {"split_edge": Interval(int, 0, 5), "split_epochs": [Interval(int, 1, None), None]}

    def __init__(self, *, split_edge: int = 0, split_epochs: int | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.split_edge, self.split_epochs = split_edge, split_epochs
        self._subs: dict[int, Any] = {}

    def train_all(self, ctx: Context) -> list:
        path = [0] * 6
        nets = [self.supernet(ctx)]
        for op in range(5):
            path[self.split_edge] = op
            nets.append(self.net_for(ctx, path))
        return nets

    def net_for(self, ctx: Context, path: Sequence[int]):
        op = path[self.split_edge]
        if op not in self._subs:
            one_shot = self.supernet(ctx)
            epochs = self.split_epochs or self.preset_value("split_epochs")
            cfg = self.config(ctx, "spos", epochs=epochs, fixed_edge=(self.split_edge, op), init_from=one_shot.key)
            self._subs[op] = self.supernet(ctx, cfg)
        return self._subs[op]
