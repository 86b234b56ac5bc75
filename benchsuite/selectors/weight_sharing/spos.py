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

from ..base import Context
from ..registry import SELECTORS
from .base import SinglePathSelector

# Few-shot sub-supernet epochs per preset (each of the five).
# paper: aoiang/few-shot-NAS Few-Shot_NasBench201/configs/nas-benchmark/algos/FEW-SHOT-SUPERNET.config
# (epochs 300; batch 48, decay 1e-4 as the one-shot supernet, whose paper config they inherit here).
SPLIT_EPOCHS = {"smoke": 1, "cpu": 20, "paper": 300}


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

    hparam_min = {"split_edge": 0}

    def __init__(self, *, split_edge: int = 0, split_epochs: int | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        if not 0 <= split_edge < 6:
            from ...errors import ConfigError

            raise ConfigError(f"split_edge must be 0..5 (an NB201 edge), got {split_edge}")
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
            epochs = self.split_epochs or SPLIT_EPOCHS[self.preset]
            cfg = self.config(ctx, "spos", epochs=epochs, fixed_edge=(self.split_edge, op), init_from=one_shot.key)
            self._subs[op] = self.supernet(ctx, cfg)
        return self._subs[op]
