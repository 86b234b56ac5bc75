"""Benchmark: a lookup of true accuracy by (dataset, fidelity, metric). No torch, no networks."""
from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..errors import CoverageError, UnknownNameError


@dataclass(frozen=True)
class Coverage:
    """How many architectures one (dataset, fidelity, metric) column has, and from where."""

    dataset: str
    fidelity: int
    metric: str
    n_archs: int
    source: str


class Benchmark(abc.ABC):
    """Tabular benchmark. Subclasses fill ``self._columns`` with ``{(dataset, fidelity, metric):
    {arch: accuracy}}`` and ``self._sources`` with ``{key: source description}``."""

    name: ClassVar[str]
    space: ClassVar[str]  # name of the search space in benchsuite.spaces
    datasets: ClassVar[tuple[str, ...]]
    default_fidelity: ClassVar[int]
    # Where a dataset's validation accuracy lives when the dataset has no validation column of its
    # own (NB201's cifar10 networks were trained on train+valid; cifar10-valid's are validated).
    validation_source: ClassVar[dict[str, str]] = {}

    def __init__(self) -> None:
        self._columns: dict[tuple[str, int, str], dict[str, float]] = {}
        self._sources: dict[tuple[str, int, str], str] = {}
        self.checksums: dict[str, str] = {}  # file -> sha256 of every file read
        # per-trial values of a column, where the data keeps them (official files' validation sets)
        self._trials: dict[tuple[str, int, str], dict[str, list[float]]] = {}

    # -- coverage -------------------------------------------------------------------------------
    def coverage(self) -> list[Coverage]:
        return [Coverage(d, f, m, len(col), self._sources[(d, f, m)])
                for (d, f, m), col in sorted(self._columns.items())]

    def resolve(self, dataset: str, fidelity: int | None = None, metric: str | None = None) -> tuple[str, int, str]:
        """Pick a column, defaulting fidelity then metric ('test' before 'valid'); clear errors."""
        if dataset not in self.datasets:
            raise UnknownNameError(f"{self.name} dataset", dataset, list(self.datasets))
        have = [k for k in self._columns if k[0] == dataset]
        fidelity = self.default_fidelity if fidelity is None else int(fidelity)
        if metric is None:
            metric = next((m for m in ("test", "valid") if (dataset, fidelity, m) in self._columns), "test")
        key = (dataset, fidelity, metric)
        if key not in self._columns:
            there = "; ".join(f"fidelity {f} {m} ({len(self._columns[(d, f, m)])} archs)"
                              for d, f, m in sorted(have)) or "nothing"
            broken = "; ".join(f"{f} was not read: {why}" for f, why in getattr(self, "unavailable", {}).items())
            raise CoverageError(
                f"{self.name} has no {metric} accuracy for {dataset} at {fidelity} epochs in the available "
                f"data; it has: {there}" + (f" ({broken})" if broken else "")
            )
        return key

    def validation_column(self, key: tuple[str, int, str]) -> tuple[str, int, str]:
        """The validation column beside a scored column: where labelled cells and search queries
        read their accuracy, so that no selector ever sees the test column it is scored on."""
        dataset, fidelity, _ = key
        vkey = (self.validation_source.get(dataset, dataset), fidelity, "valid")
        if vkey not in self._columns:
            there = ", ".join(f"{d} {f} ep" for d, f, m in sorted(self._columns) if m == "valid") or "none"
            raise CoverageError(f"{self.name} has no validation accuracy for {dataset} at {fidelity} epochs, which "
                                f"labelled cells and search queries read; validation columns: {there}")
        return vkey

    def archs(self, dataset: str, fidelity: int | None = None, metric: str | None = None) -> list[str]:
        """Architectures with a known accuracy for this column, in the benchmark's index order."""
        return list(self._columns[self.resolve(dataset, fidelity, metric)])

    def accuracy(self, archs: Sequence[str], dataset: str, fidelity: int | None = None,
                 metric: str | None = None) -> np.ndarray:
        if isinstance(archs, str):   # a lone string would be read as its characters
            raise CoverageError("accuracy() takes a list of architectures, not one string; wrap it: [arch]")
        col = self._columns[self.resolve(dataset, fidelity, metric)]
        missing = [a for a in archs if a not in col]
        if missing:
            raise CoverageError(f"{len(missing)} archs have no accuracy in this column, e.g. {missing[0]!r}")
        return np.array([col[a] for a in archs], dtype=float)

    def trials(self, key: tuple[str, int, str]) -> dict[str, tuple[float, ...]] | None:
        """Each cell's per-trial values of column ``key`` (its accuracy is their mean), or None where
        the data holds only the mean (the embedded tables)."""
        have = self._trials.get(key)
        return {a: tuple(v) for a, v in have.items()} if have else None

    def source(self, dataset: str, fidelity: int | None = None, metric: str | None = None) -> str:
        return self._sources[self.resolve(dataset, fidelity, metric)]

    def _add_official(self, bench: str, path: str) -> None:
        """Every column of an official file (``benchmarks.official``), and its params."""
        import os

        from . import official

        table, digest = official.load(bench, path)
        name = os.path.basename(os.path.normpath(path))
        self.checksums[name] = digest
        params = table[table.metric == "params_m"]
        self.params_m = dict(zip(params.arch, params.value))
        per_trial = table.metric.str.contains(official.TRIAL_MARK, regex=False)
        for (dataset, fidelity, metric), group in table[(table.metric != "params_m") & ~per_trial].groupby(
                ["dataset", "fidelity", "metric"], sort=False):
            self._add((dataset, int(fidelity), metric), group.arch.tolist(), group.value.tolist(), name)
        trials = table[per_trial]
        for (dataset, fidelity, metric), group in trials.groupby(["dataset", "fidelity", "metric"], sort=False):
            col = self._trials.setdefault((dataset, int(fidelity), metric.split(official.TRIAL_MARK)[0]), {})
            for a, v in zip(group.arch.tolist(), group.value.tolist()):
                if v == v:
                    col.setdefault(a, []).append(float(v))

    def _add(self, key: tuple[str, int, str], archs: Sequence[str], values: Sequence[float], source: str) -> None:
        col = self._columns.setdefault(key, {})
        for a, v in zip(archs, values):
            if v == v:  # skip NaN
                col[a] = float(v)
        self._sources[key] = source if key not in self._sources else f"{self._sources[key]} + {source}"
