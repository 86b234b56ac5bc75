"""zero-cost-nas's ``vote`` (Abdelfattah et al., ICLR 2021): a majority vote of synflow, jacov and
snip over pairs of cells.

Reference: SamsungLabs/zero-cost-nas ``notebooks/nasbench201_correlations.ipynb``, cell "Voting
between 3 metrics could improve rank correlation" (notebook source lines 147-176). For every ordered
pair (i, j), i ≠ j, of NB-201 cells, ``vote`` takes the three differences m_i - m_j of
``['synflow', 'jacob_cov', 'snip']`` and says "i is better" when at least half of them are > 0
(``numpos >= len(mets)/2``, so 2 of 3; a tied or NaN difference is not > 0). The notebook never
ranks cells: it reports the fraction of pairs with different accuracies whose order the vote gets
right (0.817 / 0.832 / 0.813 on CIFAR-10 / CIFAR-100 / ImageNet16-120 over all 15,625 cells; a
pairwise agreement, not a Spearman ρ).

Here each cell is scored by how many of the cells scored with it it beats by that vote (its
Copeland count): where the vote's "better" is transitive this orders the cells exactly as the vote
does, and where it cycles the count is the number of its pairwise wins. The score depends on the
set of cells scored together (``ranks_jointly``). The components are benchsuite's synflow, jacov
and snip selectors with this selector's seed and hyperparameters (and their caches); jacov and snip
come from one shared forward pass (``measures.shared_pass``), as ``share=True`` would compute them.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...data.images import PAD_DEVIATION
from ..base import Aggregate, Context, Selector
from .zero_cost import PROXY_CONSTRAINTS, JacovSelector, SnipSelector, SynflowSelector, ZeroCostSelector

METRICS = ("synflow", "jacov", "snip")   # the notebook's ['synflow', 'jacob_cov', 'snip']


def majority_wins(values: np.ndarray, chunk: int = 512) -> np.ndarray:
    """Copeland counts: for each row i of ``values`` (cells x metrics), the number of rows j that
    it beats by the notebook's vote, i.e. with values[i, k] > values[j, k] for at least half of the
    metrics k (a NaN compares as not greater, as the notebook's ``m > 0`` on a NaN difference)."""
    v = np.asarray(values, dtype=float)
    need = v.shape[1] / 2   # numpos >= len(mets)/2
    wins = np.zeros(len(v), dtype=np.int64)
    with np.errstate(invalid="ignore"):
        for start in range(0, len(v), chunk):
            block = v[start:start + chunk]
            numpos = np.zeros((len(block), len(v)), dtype=np.uint8)
            for k in range(v.shape[1]):   # one metric at a time: (chunk x cells) rather than x metrics
                numpos += block[:, None, k] > v[None, :, k]
            wins[start:start + chunk] = (numpos >= need).sum(1)
    return wins


class _SnipJacov(ZeroCostSelector):
    """snip, with jacov computed in the same pass and cached beside it (what share=True does for the
    eight): the vote needs both, and they share a forward."""

    name = "vote"
    proxy = "snip"

    def _names(self) -> set[str]:
        return {"snip", "jacov"}


class VoteSelector(Aggregate, Selector):
    """zero-cost-nas's majority vote of synflow, jacov and snip, as Copeland counts (Abdelfattah et al. 2021).

    Each cell scores the number of the cells scored with it that at least two of the three proxies
    rank below it (notebooks/nasbench201_correlations.ipynb). Hyperparameters are the components':
    the zero-cost-nas defaults (batch 64, nasbench2_pred.py:36) and network."""

    name = "vote"
    inputs = frozenset({"images"})
    ranks_jointly = True
    pairwise = "majority"   # the notebook's own measure: the vote's pairwise order against accuracy
    fast_hparams = {"C": 4, "N": 1, "batch_size": 8}
    hparam_constraints = {k: v for k, v in PROXY_CONSTRAINTS.items() if k != "share"}
    deviations = (
        PAD_DEVIATION,
        "cells are ranked by their Copeland count (how many of the scored cells at least two of synflow, "
        "jacov and snip put below them); zero-cost-nas's notebook only scores the vote's pairwise order "
        "(nasbench201_correlations.ipynb, 'Voting between 3 metrics') and ranks no cells",
    )

    def __init__(self, *, seed: int = 0, device: str = "cpu", batch_size: int = 64, C: int | None = None,
                 N: int | None = None, network: str = "reference", cell_batch: int | None = None,
                 cifar_dir: str | None = None) -> None:
        # batch_size=64: zero-cost-nas nasbench2_pred.py:36, as the components' own default
        super().__init__(seed=seed)
        self.device, self.batch_size, self.C, self.N = device, batch_size, C, N
        self.network, self.cell_batch, self.cifar_dir = network, cell_batch, cifar_dir
        kw = dict(seed=seed, device=device, batch_size=batch_size, C=C, N=N, network=network,
                  cell_batch=cell_batch, cifar_dir=cifar_dir)
        self._pair = _SnipJacov(**kw)
        self.components: dict[str, ZeroCostSelector] = {
            "synflow": SynflowSelector(**kw), "jacov": JacovSelector(**kw), "snip": SnipSelector(**kw)}

    def reads_images(self) -> bool:
        return True   # jacov and snip read the batch

    def preflight(self, ctx: Context) -> None:
        """Load the batch jacov and snip read (synflow reads none), naming what is missing."""
        for sel in (self._pair, *self.components.values()):
            sel.preflight(ctx)

    def component_scores(self, archs: Sequence[str], ctx: Context) -> np.ndarray:
        """(cells x 3) synflow, jacov, snip, each higher = better as published."""
        return np.stack(list(self.component_columns(archs, ctx).values()), 1)

    def component_columns(self, archs: Sequence[str], ctx: Context) -> dict[str, np.ndarray]:
        self._pair.score(archs, ctx)   # snip and jacov in one pass, into the cache the two read
        return super().component_columns(archs, ctx)

    def table_parts(self) -> dict[str, Selector]:
        """The components, at this vote's settings (a shipped table answers the vote from them)."""
        return {m: self.components[m] for m in METRICS}

    def combine(self, columns: dict[str, np.ndarray]) -> np.ndarray:
        """The Copeland counts of the components' scores (``{name: scores}``)."""
        return majority_wins(np.stack([columns[m] for m in METRICS], 1)).astype(float)


    def report(self) -> dict:
        out: dict = {"vote_of": list(METRICS)}
        for name, sel in self.components.items():
            rep = sel.report()
            if rep:
                out[name] = rep
        return out
