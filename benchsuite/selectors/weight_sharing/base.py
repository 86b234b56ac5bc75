"""Base of the weight-sharing selectors: ask the shared trainer for a supernet, report how it trained.

A selector never trains anything itself: it builds a ``TrainConfig`` from its preset and
overrides and calls ``train_supernet``, which loads a finished checkpoint with the same key, resumes
an interrupted one, or trains. Within one process supernets are also memoised, so ``darts`` and
``darts-pt`` (or ``spos`` and ``fewshot``) share one training.
"""
from __future__ import annotations

import abc
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ... import presets
from ...data.images import PAD_DEVIATION, load_images
from ...errors import ConfigError
from ...hparams import Choice, Interval
from ...supernet.config import PATH_SAMPLING
from ..base import Context, Selector
from ..proxies.zero_cost import _CLASSES, _IMAGES

_SIZE = [Interval(int, 1, None), None]

_MEMO: dict[tuple[str, str], Any] = {}


class SupernetSelector(Selector):
    """A weight-sharing selector: ranks cells and derives one from a trained supernet. Presets
    (``preset``) and their sources: ``benchsuite.presets``."""

    train_mode: ClassVar[str] = ""
    spaces = frozenset({"nb201"})
    capabilities = frozenset({"rank", "derive"})
    inputs = frozenset({"images", "supernet"})
    fast_hparams = {"preset": "smoke"}
    hparam_constraints = {"preset": Choice(*presets.SUPERNET_PRESETS), "epochs": _SIZE, "C": _SIZE, "N": _SIZE,
                          "batch_size": [Interval(int, 2, None), None], "limit": _SIZE, "eval_batches": _SIZE,
                          "amp": [bool, None], "channels_last": [bool, None], "cifar_dir": [str, None]}
    deviations: ClassVar[tuple[str, ...]] = (PAD_DEVIATION,)   # supernet training's augmentation

    def __init__(self, *, seed: int = 0, device: str = "cpu", preset: str = "cpu", epochs: int | None = None,
                 C: int | None = None, N: int | None = None, batch_size: int | None = None,
                 limit: int | None = None, eval_batches: int | None = None, amp: bool | None = None,
                 channels_last: bool | None = None, cifar_dir: str | None = None) -> None:
        super().__init__(seed=seed)
        self.device, self.preset, self.epochs, self.C, self.N = device, preset, epochs, C, N
        self.batch_size, self.limit, self.eval_batches = batch_size, limit, eval_batches
        self.amp, self.channels_last, self.cifar_dir = amp, channels_last, cifar_dir
        self._trained: list = []          # every supernet this selector used, for the report
        self._images_by_dataset: dict[str, Any] = {}
        self._data: dict[str, Any] = {}
        self.derived: dict[str, Any] = {}

    @abc.abstractmethod
    def score(self, archs: Sequence[str], ctx: Context) -> np.ndarray:
        """Score cells with what the supernet learned."""

    @abc.abstractmethod
    def derive(self, ctx: Context) -> str:
        """The cell the method picks from its supernet."""

    def preset_value(self, key: str) -> Any:
        """This selector's value of ``key`` under its preset (``benchsuite.presets``; a subclass
        reads those of the built-in it extends)."""
        name = next(k.name for k in type(self).__mro__ if getattr(k, "name", "") in presets.SUPERNET_MODE)
        return presets.values(name, self.preset)[key]

    # -- what subclasses tune -------------------------------------------------------------
    def train_overrides(self) -> dict[str, Any]:
        cuda = str(self.device).startswith("cuda")
        return {"epochs": self.epochs, "C": self.C, "N": self.N, "batch_size": self.batch_size, "limit": self.limit,
                "amp": cuda if self.amp is None else self.amp,
                "channels_last": cuda if self.channels_last is None else self.channels_last}

    # -- shared machinery -----------------------------------------------------------------
    def preflight(self, ctx: Context) -> None:
        """Load the training images now (or fail naming what is missing, or that preset=paper has
        only the subset); kept for training and evaluation."""
        self._images(ctx)

    def _images(self, ctx: Context):
        if ctx.dataset in self._images_by_dataset:
            return self._images_by_dataset[ctx.dataset]
        images = load_images(_IMAGES[ctx.dataset], data_dir=ctx.data_dir, cifar_dir=self.cifar_dir)
        if self.preset == "paper" and "subset" in images.source:
            raise ConfigError("preset=paper needs the full CIFAR python batches (--hp cifar_dir=DIR or "
                              f"$BENCHSUITE_CIFAR_DIR); only {images.source} was found")
        self._images_by_dataset[ctx.dataset] = images
        return images

    def search_data(self, ctx: Context, *, limit: int | None, random_labels: bool = False):
        from ...supernet.data import SearchData

        key = f"{ctx.dataset}-{limit}-{random_labels}"
        if key not in self._data:
            self._data[key] = SearchData.from_images(self._images(ctx), num_classes=_CLASSES[ctx.dataset],
                                                     seed=self.seed, device=self.device, limit=limit,
                                                     random_labels=random_labels)
        return self._data[key]

    def eval_set(self, ctx: Context, cfg=None):
        """Fixed validation batches (architecture half, true labels) every cell is measured on."""
        cfg = cfg or self.config(ctx)
        n, bs = self.preset_value("eval_batches"), self.preset_value("eval_batch_size")
        return self.search_data(ctx, limit=cfg.limit).eval_batches(bs, self.eval_batches or n)

    def config(self, ctx: Context, mode: str | None = None, **extra: Any):
        from ...supernet.config import preset_config

        images = self._images(ctx)
        return preset_config(mode or self.train_mode, self.preset, seed=self.seed, images=images.name,
                             image_source=images.source, num_classes=_CLASSES[ctx.dataset],
                             **{**self.train_overrides(), **extra})

    def supernet(self, ctx: Context, cfg=None):
        from ...supernet.evaluate import epoch_figures
        from ...supernet.trainer import train_supernet

        cfg = cfg or self.config(ctx)
        memo = (cfg.key(), str(self.device))
        if memo not in _MEMO:
            if ctx.space != "nb201":
                raise ConfigError(f"{self.name} trains an NB201 supernet; it cannot rank {ctx.space} cells")
            data = self.search_data(ctx, limit=cfg.limit, random_labels=cfg.mode == "rlnas")
            root = Path(ctx.cache_dir) / "supernet" if ctx.cache_dir else None
            _MEMO[memo] = train_supernet(cfg, data, device=self.device, root=root, log=_stderr,
                                         evaluate=epoch_figures(self.eval_set(ctx, cfg)))
        net = _MEMO[memo]
        if all(t is not net for t in self._trained):
            self._trained.append(net)
        return net

    mutation_ops: ClassVar[tuple[int, ...] | None] = None   # None: any op

    def evolve_derive(self, fitness, **record: Any) -> str:
        """Derive a cell by evolutionary search (sizes from the preset) on ``fitness``."""
        from .evolution import evolve

        pop, gens, parents = (self.preset_value(k) for k in ("population", "generations", "parents"))
        cell, fit, n = evolve(fitness, seed=self.seed, population=pop, generations=gens, parents=parents,
                              mutation_ops=self.mutation_ops)
        self.derived = {"arch": cell, "fitness": fit, "evaluated": n, "search": "evolution",
                        "population": pop, "generations": gens, "parents": parents,
                        "mutation_ops": list(self.mutation_ops) if self.mutation_ops else "all", **record}
        return cell

    def train_all(self, ctx: Context) -> list:
        """Every supernet this selector needs, trained (or loaded): what ``train-supernet`` runs."""
        return [self.supernet(ctx)]

    def report(self) -> dict[str, Any]:
        out: dict[str, Any] = {"preset": self.preset, "supernets": [], "history": []}
        for net in self._trained:
            out["supernets"].append({
                "key": net.key, "mode": net.config.mode, "config": net.config.to_dict(),
                "from_checkpoint": net.loaded, "train_seconds": round(net.train_seconds, 3),
                "images_per_s": round(net.images_per_s, 1), "epochs": len(net.history)})
            out["history"] += [{"supernet": net.key, **row} for row in net.history]
        if self.derived:
            out["derived"] = self.derived
        return out


class SinglePathSelector(SupernetSelector):
    """Supernets trained by uniform single-path sampling (spos, fewshot, rlnas). ``path_sampling``:
    ``per_cell`` (default: every cell of a step draws its own path, as the references do) or
    ``shared`` (one path for all cells of a step)."""

    hparam_constraints = {"path_sampling": Choice(*PATH_SAMPLING)}

    def __init__(self, *, path_sampling: str = "per_cell", **kwargs) -> None:
        super().__init__(**kwargs)
        self.path_sampling = path_sampling

    def train_overrides(self) -> dict[str, Any]:
        return {**super().train_overrides(), "path_sampling": self.path_sampling}


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
