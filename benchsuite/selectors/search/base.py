"""SearchMethod: a selector whose product is the cells it queries, not a ranking."""
from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from ...errors import ConfigError
from ...progress import Progress
from ..base import Context, Selector


class SearchMethod(Selector):
    """Random search, REA: they spend queries and rank nothing. The runner skips ranking for them
    (``ranks = False``) and reads their trajectory instead."""

    needs = frozenset({"queries"})
    ranks: ClassVar[bool] = False
    uses_torch = False

    def score(self, archs: Sequence[str], ctx: Context) -> np.ndarray:
        raise ConfigError(f"{self.name} is a search method: it ranks no cells; its result is trajectory.csv")

    @abc.abstractmethod
    def search(self, oracle, ctx: Context) -> None:
        """Query cells until the oracle's budget is spent."""


def rng_for(seed: int, tag: int) -> np.random.Generator:
    """A method's own stream, a function of (seed, method tag) only."""
    return np.random.default_rng([seed, tag])


def query_bar(name: str, oracle) -> Progress:
    """A search's progress bar: the oracle's budget in queries, from those already spent (a learned
    selector's labelled cells are queried before its search starts). Advance it with
    ``bar.update_to(oracle.used)``."""
    return Progress(oracle.budget, f"{name} queries", unit="query", initial=oracle.used)
