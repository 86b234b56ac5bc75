"""Baselines every selector must beat: random scores, parameter count, FLOPs.

Params and FLOPs come from the closed-form cost model of each space's network
(``benchsuite.spaces.*.costs``), not from any table.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from ..hparams import Interval
from ..spaces import get_space
from .base import Context, Selector
from .registry import SELECTORS


@SELECTORS.register("random")
class RandomSelector(Selector):
    """Uniform random scores, a function of (seed, arch) only, so that chunked or resumed
    scoring gives the same numbers as scoring everything at once."""

    name = "random"
    uses_torch = False

    def score(self, archs: Sequence[str], ctx: Context) -> np.ndarray:
        keys = (int(hashlib.sha256(a.encode()).hexdigest()[:15], 16) for a in archs)
        return np.array([np.random.default_rng([self.seed, k]).random() for k in keys])


class _CostSelector(Selector):
    key = ""
    uses_torch = False
    hparam_constraints = {"num_classes": Interval(int, 1, None)}

    def __init__(self, *, seed: int = 0, num_classes: int = 10) -> None:
        super().__init__(seed=seed)
        self.num_classes = num_classes

    def score(self, archs: Sequence[str], ctx: Context) -> np.ndarray:
        costs = get_space(ctx.space).costs
        return np.array([costs(a, num_classes=self.num_classes)[self.key] for a in archs])


@SELECTORS.register("params")
class ParamsSelector(_CostSelector):
    """More parameters = higher score."""

    name = "params"
    key = "params_m"


@SELECTORS.register("flops")
class FlopsSelector(_CostSelector):
    """More multiply-accumulates at 32x32 input = higher score."""

    name = "flops"
    key = "flops_m"
