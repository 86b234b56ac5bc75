"""Moves over the cells a benchmark covers, shared by every search method.

A method samples and mutates cells with its space's own rules (``spaces.<space>.random_arch`` and
``mutate``). When the benchmark covers only part of the space (the NB-101 bundle's 301 cells, the
725-cell CIFAR-100 200-epoch column), a proposed cell outside it is replaced by the nearest covered
cell: the fewest edits by the space's ``flat_code`` (Hamming distance), ties broken at random.
On NB-201's full tables every move stays inside and nothing is replaced.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from ...spaces import get_space

_EXCLUDED = np.iinfo(np.int16).max   # the distance given to excluded cells (computed once: iinfo is slow)


class Domain:
    def __init__(self, space: str, cells: Sequence[str]):
        self.space = space
        self.mod = get_space(space)
        self.cells = list(cells)
        self._index = {a: i for i, a in enumerate(self.cells)}
        self._codes: np.ndarray | None = None
        self.projected = 0   # proposals replaced by their nearest covered cell (reported)

    def __contains__(self, arch: str) -> bool:
        return arch in self._index

    @property
    def full(self) -> bool:
        """Whether every cell of the space is covered (then no proposal is ever replaced)."""
        return self.space == "nb201" and len(self.cells) == self.mod.NUM_ARCHS

    def sample(self, rng: np.random.Generator, n: int, exclude: Iterable[str] = ()) -> list[str]:
        """``n`` distinct covered cells, uniformly, none of them in ``exclude``."""
        skip = set(exclude)
        left = [a for a in self.cells if a not in skip] if skip else self.cells
        pick = rng.choice(len(left), size=min(n, len(left)), replace=False)
        return [left[int(i)] for i in pick]

    def nearest(self, arch: str, rng: np.random.Generator, exclude: Iterable[str] = ()) -> str | None:
        """The covered cell with the fewest edits from ``arch`` (itself when covered and not excluded)."""
        skip = {self._index[a] for a in exclude if a in self._index}
        if arch in self._index and self._index[arch] not in skip:
            return arch
        if self._codes is None:
            self._codes = np.array([self.mod.flat_code(a) for a in self.cells], dtype=np.int16)
        dist = (self._codes != np.array(self.mod.flat_code(arch), dtype=np.int16)).sum(axis=1)
        if skip:
            dist[list(skip)] = _EXCLUDED
        best = np.flatnonzero(dist == dist.min())
        if dist[best[0]] == _EXCLUDED:
            return None
        self.projected += 1
        return self.cells[int(rng.choice(best))]

    def cover(self, arch: str, rng: np.random.Generator, exclude: Iterable[str] = ()) -> str | None:
        """``arch`` itself when the benchmark covers it, else its nearest covered cell."""
        return arch if arch in self._index else self.nearest(arch, rng, exclude)

    def mutate(self, arch: str, rng: np.random.Generator, kind: str) -> str:
        """The space's mutation, replaced by the nearest covered cell when it leaves the table."""
        child = self.mod.mutate(arch, rng, kind)
        return self.cover(child, rng, exclude=[arch]) or child
