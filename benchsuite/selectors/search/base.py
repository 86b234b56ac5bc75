"""SearchMethod: a selector whose product is the cells it queries, not a ranking."""
from __future__ import annotations

import abc

import numpy as np

from ...progress import Progress
from ..base import Context, Selector


class SearchMethod(Selector):
    """Random search, REA: they spend queries and rank nothing (capability ``search`` alone), so the
    runner scores no cells for them and reads their trajectory instead."""

    capabilities = frozenset({"search"})
    uses_torch = False

    @abc.abstractmethod
    def search(self, oracle, ctx: Context) -> None:
        """Query cells until the oracle's budget is spent."""

    def query_protocol(self) -> tuple[int | None, str]:
        """What a query answers: (training epochs of the validation column, None for the scored
        fidelity; "mean" over trials or one "random" trial). The runner builds the oracle from it."""
        return None, "mean"


def rng_for(seed: int, tag: int) -> np.random.Generator:
    """A method's own stream, a function of (seed, method tag) only."""
    return np.random.default_rng([seed, tag])


def query_bar(name: str, oracle) -> Progress:
    """A search's progress bar: the oracle's budget in queries, from those already spent (a learned
    selector's labelled cells are queried before its search starts). Advance it with
    ``bar.update_to(oracle.used)``."""
    return Progress(oracle.budget, f"{name} queries", unit="query", initial=oracle.used)
