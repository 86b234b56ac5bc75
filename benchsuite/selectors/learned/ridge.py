"""``ridge``: ridge regression on the one-hot cell encoding, trained on the same labelled budget
as the learned selectors; benchsuite's yardstick for them, not a published method.

Features (``one_hot``): NB-201, the op of each of the six edges one-hot (30 columns); NB-101, the
21 edge bits of the cell padded to 7 vertices then the op of each of the 5 hidden vertices one-hot
(15 columns, all zero for a vertex the cell lacks), both read from the space's ``flat_code``. The
target is the labelled validation accuracy, standardised on the labelled cells; the intercept is
fitted and not penalised. The regularisation strength ``alpha`` is given, or chosen by
leave-one-out cross-validation on the labelled cells alone (closed form: residual / (1 - H_ii))
over ``ALPHAS``; the scored cells are never read. Cells are ranked by predicted accuracy.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ...errors import ConfigError
from ...hparams import Interval
from ...spaces import get_space
from ..base import Context, Selector
from ..registry import SELECTORS
from .common import fit_key

# The leave-one-out grid: 1e-3 .. 1e3, two values a decade, 13 in all.
ALPHAS: tuple[float, ...] = tuple(float(a) for a in np.logspace(-3, 3, 13))


def _layout(space: str) -> tuple[int, int, int]:
    """(edge bits, op slots, ops per slot) of the space's ``flat_code``."""
    mod = get_space(space)
    if space == "nb201":
        return 0, len(mod.EDGES), len(mod.OPS)
    return mod.MAX_VERTICES * (mod.MAX_VERTICES - 1) // 2, mod.MAX_VERTICES - 2, len(mod.OPS)


def one_hot(space: str, archs: Sequence[str]) -> np.ndarray:
    """Design matrix [len(archs), features] of 0/1 floats (see the module doc)."""
    mod = get_space(space)
    bits, slots, n_ops = _layout(space)
    codes = np.array([mod.flat_code(a) for a in archs], dtype=np.int64).reshape(len(archs), bits + slots)
    hot = codes[:, bits:, None] == np.arange(n_ops)   # -1 (a vertex the cell lacks) matches no op
    return np.concatenate([codes[:, :bits], hot.reshape(len(archs), slots * n_ops)], axis=1).astype(float)


def _centred(x: np.ndarray, y: np.ndarray):
    return x - x.mean(axis=0), y - y.mean()


def fit_ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[float, np.ndarray]:
    """(intercept, coefficients) minimising |y - b - x w|^2 + alpha |w|^2: the intercept is left
    unpenalised by centring x and y, which makes it mean(y) - mean(x) w."""
    xc, yc = _centred(x, y)
    w = np.linalg.solve(xc.T @ xc + alpha * np.eye(x.shape[1]), xc.T @ yc)
    return float(y.mean() - x.mean(axis=0) @ w), w


def loo_residuals(x: np.ndarray, y: np.ndarray, alpha: float) -> np.ndarray:
    """Each point's residual under the fit without it, as e_i / (1 - H_ii) of the full fit. H, the
    hat matrix, is 11'/n plus the centred ridge smoother; with alpha > 0 every H_ii is below 1."""
    n = len(y)
    xc, yc = _centred(x, y)
    smoother = xc @ np.linalg.solve(xc.T @ xc + alpha * np.eye(x.shape[1]), xc.T)
    h = 1.0 / n + np.diag(smoother)
    return (yc - smoother @ yc) / (1.0 - h)


def choose_alpha(x: np.ndarray, y: np.ndarray, grid: Sequence[float] = ALPHAS) -> tuple[float, np.ndarray]:
    """(alpha with the least leave-one-out mean squared error, that error for every grid value).
    Ties go to the larger alpha: the simpler model."""
    mse = np.array([float(np.mean(loo_residuals(x, y, a) ** 2)) for a in grid])
    best = int(np.flatnonzero(mse <= mse.min())[-1])
    return float(grid[best]), mse


@SELECTORS.register("ridge")
class RidgeSelector(Selector):
    """Ridge regression on the one-hot encoding of ``labels`` labelled cells."""

    name = "ridge"
    capabilities = frozenset({"rank"})
    inputs = frozenset({"labels"})
    uses_torch = False
    score_chunk = 4096   # one closed-form fit, then a matrix product per chunk
    hparam_constraints = {"labels": Interval(int, 2, None),   # leave-one-out needs a point left in
                          "alpha": [Interval(float, 0, None, closed="neither"), None]}
    fast_hparams = {"labels": 20}
    deviations = (
        "benchsuite's own yardstick for the learned selectors, not a published method: ridge regression on the "
        "one-hot cell encoding, alpha chosen by leave-one-out on the labelled cells unless given",
        "labels are the validation column's accuracies as the benchmark reports them (the mean over its trials "
        "where it keeps several), as every learned selector reads them",
    )

    def __init__(self, *, seed: int = 0, labels: int = 100, alpha: float | None = None) -> None:
        super().__init__(seed=seed)   # the fit is deterministic; the seed only picks the runner's labelled cells
        self.labels = int(labels)
        self.alpha = alpha
        self._fitted_on: tuple | None = None
        self.fit_report: dict[str, Any] = {}

    def _ensure_fit(self, ctx: Context) -> None:
        key = fit_key(self.name, ctx)
        if self._fitted_on == key:
            return
        archs = list(ctx.labelled)
        acc = np.array([ctx.labelled[a] for a in archs], dtype=float)
        if not np.isfinite(acc).all():
            raise ConfigError(f"{self.name}: the labelled accuracies must be finite numbers")
        std = float(acc.std()) or 1.0   # equal labels: every prediction is their mean
        z = (acc - acc.mean()) / std
        x = one_hot(ctx.space, archs)
        if self.alpha is None:
            alpha, mse = choose_alpha(x, z)
            source = f"leave-one-out over {len(ALPHAS)} values in [{ALPHAS[0]:g}, {ALPHAS[-1]:g}]"
            loo = float(np.sqrt(mse[ALPHAS.index(alpha)]))
        else:
            alpha, source = float(self.alpha), "given"
            loo = float(np.sqrt(np.mean(loo_residuals(x, z, alpha) ** 2)))
        self.intercept, self.coef = fit_ridge(x, z, alpha)
        self.fit_report = {"alpha": alpha, "alpha_from": source, "labelled": len(archs),
                           "loo_rmse_standardised": loo}
        self._fitted_on = key

    def score(self, archs: Sequence[str], ctx: Context) -> np.ndarray:
        self._ensure_fit(ctx)
        return self.intercept + one_hot(ctx.space, list(archs)) @ self.coef

    def report(self) -> dict[str, Any]:
        return dict(self.fit_report)
