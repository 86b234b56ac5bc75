"""The budgeted oracle: the only way a search method learns a cell's accuracy.

The runner builds one per seed from the benchmark's *validation* column (never the test column a
run is scored on), hands it to ``Selector.search`` and writes what it records to
``trajectory.csv``, adding the test accuracy the method never saw. A query is a distinct cell:
asking again for a cell already answered costs nothing (a method that trained a network once does
not train it again) and gets the same answer; past the budget a new query raises
``QueryBudgetExhausted``.

With ``trials`` (each cell's per-trial values, where the data keeps them) a query answers one trial
drawn with ``rng``, as a method that trains the cell once sees one training run's outcome
(NB-201's R_EA.py: ``is_random=True``); without, the trial mean.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


class QueryBudgetExhausted(Exception):
    """Raised by ``Oracle.query`` for a new cell once the budget is spent; search methods stop on it."""


class Oracle:
    def __init__(self, space: str, accuracy: Mapping[str, float], budget: int, *,
                 trials: Mapping[str, Sequence[float]] | None = None, rng: np.random.Generator | None = None):
        if budget < 1:
            raise ValueError(f"a query budget must be at least 1, got {budget}")
        if trials is not None and rng is None:
            raise ValueError("an oracle answering one random trial needs its rng")
        self.space = space
        self._acc = dict(accuracy)
        self._trials, self._rng = trials, rng
        self.budget = min(int(budget), len(self._acc))
        self.history: list[tuple[str, float]] = []   # (cell, validation accuracy) in query order
        self._seen: dict[str, float] = {}

    def candidates(self) -> list[str]:
        """Every cell the oracle can answer (the benchmark's cells, in its index order)."""
        return list(self._acc)

    def __contains__(self, arch: str) -> bool:
        return arch in self._acc

    @property
    def used(self) -> int:
        return len(self.history)

    @property
    def remaining(self) -> int:
        return self.budget - len(self.history)

    def seen(self) -> dict[str, float]:
        """Cells answered so far and their validation accuracy, in query order."""
        return dict(self._seen)

    def query(self, arch: str) -> float:
        if arch in self._seen:
            return self._seen[arch]
        if arch not in self._acc:
            raise KeyError(f"the benchmark has no accuracy for {arch!r}; query cells from candidates()")
        if self.remaining <= 0:
            raise QueryBudgetExhausted(f"all {self.budget} queries are spent")
        runs = self._trials.get(arch) if self._trials is not None else None
        acc = float(runs[int(self._rng.integers(len(runs)))]) if runs else self._acc[arch]
        self._seen[arch] = acc
        self.history.append((arch, acc))
        return acc

    def query_many(self, archs: Sequence[str]) -> list[float]:
        """Query in order until the budget runs out; the answers obtained (a prefix of ``archs``)."""
        out = []
        for a in archs:
            try:
                out.append(self.query(a))
            except QueryBudgetExhausted:
                break
        return out
