"""RLNAS (Zhang et al. 2021): a supernet trained on random labels; cells ranked by weight angle.

The supernet is trained by uniform single-path sampling on labels drawn at random once per image
(``supernet.trainer``, mode ``rlnas``). A cell's score is the angle between its weight vector at
initialisation and after training, built as the RLNAS reference (``exps/angle/weight_angle.py``)
does: stem conv + BN; for each of the four input-to-output paths of the cell (0→3, 0→2→3,
0→1→2→3, 0→1→3) and each search cell, the conv weights of the path's ops — a pooling op adds a
fixed kernel of 1/9 entries (the same before and after training), a skip adds nothing, and a path
through ``none`` is dropped; the two reduction blocks (added once, if any path survives); the final
BN and classifier. A cell whose every path goes through ``none`` gets angle 0. Larger angle =
better. The cell is derived by evolutionary search with the angle as fitness, as in the reference.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ...spaces.nb201 import EDGES
from ..base import Context
from ..registry import SELECTORS
from .base import SinglePathSelector

PATHS = ((0, 3), (0, 2, 3), (0, 1, 2, 3), (0, 1, 3))
_EDGE_INDEX = {edge: k for k, edge in enumerate(EDGES)}
_CONV_OPS = {2: "nor_conv_1x1", 3: "nor_conv_3x3"}   # op index -> name
_NONE, _SKIP, _POOL = 0, 1, 4


def _stats(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    a, b = a.double().flatten(), b.double().flatten()
    return np.array([float(a @ b), float(a @ a), float(b @ b)])


class AngleTable:
    """(dot, |init|², |trained|²) of every weight group, so one cell's angle is a few sums."""

    def __init__(self, model, init: dict[str, torch.Tensor]):
        now = {k: v.detach().cpu() for k, v in model.state_dict().items()}

        def group(names: Sequence[str]) -> np.ndarray:
            return sum((_stats(init[n], now[n]) for n in names), np.zeros(3))

        self.head = group(["stem.0.weight", "stem.1.weight", "stem.1.bias"])
        self.tail = group(["lastact.0.weight", "lastact.0.bias", "classifier.weight", "classifier.bias"])
        self.fixed = np.zeros(3)
        self.ops: list[dict[tuple[int, int], np.ndarray]] = []   # per search cell: (edge, op) -> stats
        for i, stage in enumerate(model.stage_of):
            if stage < 0:
                self.fixed += group([f"cells.{i}.{p}" for p in ("conv_a.1.weight", "conv_a.2.weight", "conv_a.2.bias",
                                                               "conv_b.1.weight", "conv_b.2.weight", "conv_b.2.bias",
                                                               "downsample.1.weight")])
                continue
            table = {}
            for e in range(len(EDGES)):
                for k in _CONV_OPS:
                    table[(e, k)] = group([f"cells.{i}.edges.{e}.ops.{k}.1.weight"])
                c = now[f"cells.{i}.edges.{e}.ops.3.1.weight"].shape[0]
                table[(e, _POOL)] = np.full(3, c * 9 / 81.0)   # a constant 1/9 kernel per channel
            self.ops.append(table)

    def angle(self, path_ops: Sequence[int]) -> float:
        total, alive = self.head + self.tail, False
        for p in PATHS:
            edges = [_EDGE_INDEX[(p[t], p[t - 1])] for t in range(1, len(p))]
            if any(path_ops[e] == _NONE for e in edges):
                continue
            alive = True
            for table in self.ops:
                for e in edges:
                    if path_ops[e] != _SKIP:
                        total = total + table[(e, path_ops[e])]
        if not alive:
            return 0.0
        total = total + self.fixed
        cos = total[0] / np.sqrt(total[1] * total[2])
        return float(np.arccos(np.clip(cos, -1.0, 1.0)))


@SELECTORS.register("rlnas")
class RLNASSelector(SinglePathSelector):
    """Angle between a cell's initial and trained weights in a random-label supernet."""

    name = "rlnas"
    train_mode = "rlnas"
    # evolution sizes per preset: benchsuite.presets (paper: the RLNAS reference's search)
    # Its mutation draws np.random.randint(1, op_num) (line 175): never `none` (op 0).
    mutation_ops = tuple(range(1, 5))
    deviations = SinglePathSelector.deviations + (
        "evolution carries the parents into the next population; the reference's population is 50 mutations + "
        "50 crossovers, with the top 30 kept across generations",)

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._table: AngleTable | None = None

    def table(self, ctx: Context) -> AngleTable:
        if self._table is None:
            net = self.supernet(ctx)
            self._table = AngleTable(net.model, net.init_state)
        return self._table

    def score(self, archs: Sequence[str], ctx: Context) -> np.ndarray:
        from ...supernet.model import arch_to_path

        t = self.table(ctx)
        return np.array([t.angle(arch_to_path(a)) for a in archs])

    def derive(self, ctx: Context) -> str:
        return self.evolve_derive(lambda cells: self.score(cells, ctx), fitness_is="angle")
