"""``zc_gbt``: gradient-boosted trees on zero-cost proxy scores and the cell encoding, trained on the
labelled budget; NAS-Bench-Suite-Zero's "ZC proxies as predictor features" (Krishnakumar et al.,
NeurIPS 2022 Datasets and Benchmarks), NB-201 only.

Reference: automl/NASLib, branch ``zerocost``: ``naslib/predictors/trees/xgb.py`` (the XGBoost
predictor and its default hyperparameters: ``max_depth`` 6, ``min_child_weight`` 1,
``learning_rate`` 0.3, 500 boosting rounds, column sampling 1, labels standardised) and
``naslib/predictors/trees/base_tree_class.py`` (the features: the cell's ``adjacency_one_hot``
encoding, on NB-201 each edge's op one-hot, with the ZC proxy scores appended).

Features of a cell: the value of each chosen proxy in the shipped all-cell table that serves the
dataset (``benchsuite.proxy_tables``; looked up by the cell's official index), then, with
``encoding``, ``ridge.one_hot`` (30 columns). The table is the seed-0 table whatever the run's seed:
a cell's features are fixed, and the seed picks only the labelled cells (the runner) and the trees'
``random_state``. Trees split on order, so the proxy values go in unscaled; NaN (a proxy that could
not score the cell) is a missing value the trees route, and infinities are clipped to the largest
finite float. The target is the labelled validation accuracy standardised on the labelled cells;
cells are ranked by predicted accuracy.

The trees are scikit-learn's ``HistGradientBoostingRegressor`` (the ``predictors`` extra) with
XGBoost's settings where the two share them: ``max_iter`` 500 (boosting rounds), ``learning_rate``
0.3, ``max_depth`` 6, ``min_samples_leaf`` 1 (``min_child_weight`` 1: one sample's hessian under
squared error), ``l2_regularization`` 1 (XGBoost's default ``lambda``), ``max_leaf_nodes`` None
(XGBoost grows depth-wise, bounded by depth alone), no early stopping, no subsampling.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ...errors import ConfigError
from ...hparams import Interval
from ..base import Context, Selector
from ..registry import SELECTORS
from .common import fit_key
from .ridge import one_hot

INSTALL = "pip install 'benchsuite[predictors]'"


def _regressor_class():
    try:
        from sklearn.ensemble import HistGradientBoostingRegressor
    except ImportError:
        raise ConfigError(f"zc_gbt needs scikit-learn, which is not installed: {INSTALL}") from None
    return HistGradientBoostingRegressor


def _table_for(space: str, dataset: str) -> str:
    """The shipped table serving ``dataset``, or a one-line error naming the ones that are."""
    from ... import proxy_tables

    name = proxy_tables.table_name(space, dataset)
    if name is None or name not in proxy_tables.manifest():
        served = sorted(f"{s}/{d}" for (s, d), t in proxy_tables.SERVES.items()
                        if t in proxy_tables.manifest() and s == space)
        raise ConfigError(f"zc_gbt reads a shipped proxy table, and none serves {space}/{dataset}; "
                          f"served: {', '.join(served) or 'none'}")
    return name


def _chosen(proxies: str | None, held: Sequence[str], table: str) -> list[str]:
    """The proxy columns to use: every one the table holds (None), or the named ones in order."""
    if proxies is None:
        return sorted(held)
    names = list(dict.fromkeys(p.strip() for p in proxies.split(",") if p.strip()))
    unknown = [p for p in names if p not in held]
    if unknown:
        raise ConfigError(f"zc_gbt: table {table} holds no {', '.join(unknown)}; it holds {', '.join(sorted(held))}")
    return names


def proxy_features(table: str, names: Sequence[str], archs: Sequence[str]) -> np.ndarray:
    """[len(archs), len(names)] of the table's values, rows by each cell's official index."""
    from ... import proxy_tables

    values = proxy_tables.values(table, names, archs) if names else np.zeros((len(archs), 0))
    big = np.finfo(float).max
    return np.nan_to_num(values, nan=np.nan, posinf=big, neginf=-big)


@SELECTORS.register("zc_gbt")
class ZcGbtSelector(Selector):
    """Gradient-boosted trees on the shipped proxy scores (and one-hot encoding) of ``labels`` cells."""

    name = "zc_gbt"
    capabilities = frozenset({"rank"})
    inputs = frozenset({"labels"})
    spaces = frozenset({"nb201"})   # the shipped tables are NB-201's
    uses_torch = False
    score_chunk = 4096   # one fit per seed, then table look-ups and a batched prediction per chunk
    hparam_constraints = {"labels": Interval(int, 2, None),
                          "proxies": [str, None],
                          "encoding": bool,
                          "max_iter": Interval(int, 1, None),
                          "learning_rate": Interval(float, 0, None, closed="neither"),
                          "max_depth": [Interval(int, 1, None), None],
                          "max_leaf_nodes": [Interval(int, 2, None), None],
                          "min_samples_leaf": Interval(int, 1, None),
                          "l2_regularization": Interval(float, 0, None)}
    fast_hparams = {"labels": 20, "max_iter": 50}
    deviations = (
        "scikit-learn's HistGradientBoostingRegressor in place of XGBoost (NASLib zerocost, "
        "naslib/predictors/trees/xgb.py), with XGBoost's shared settings (500 rounds, learning rate 0.3, depth 6, "
        "min_child_weight 1 as min_samples_leaf 1, lambda 1 as l2_regularization 1); it bins each feature into at "
        "most 255 histogram bins and grows trees leaf-wise within the depth",
        "the proxy features are whichever proxies benchsuite's shipped all-cell table holds for the dataset "
        "(run.json: selector_report.proxies), at benchsuite's default settings and seed 0, not Suite-Zero's 13 "
        "precomputed proxies",
        "labels are the validation column's accuracies as the benchmark reports them (the mean over its trials "
        "where it keeps several), as every learned selector reads them",
    )

    def __init__(self, *, seed: int = 0, labels: int = 100, proxies: str | None = None, encoding: bool = True,
                 max_iter: int = 500, learning_rate: float = 0.3, max_depth: int | None = 6,
                 max_leaf_nodes: int | None = None, min_samples_leaf: int = 1,
                 l2_regularization: float = 1.0) -> None:
        super().__init__(seed=seed)
        self.labels = int(labels)
        self.proxies, self.encoding = proxies, encoding
        self.max_iter, self.learning_rate, self.max_depth = max_iter, learning_rate, max_depth
        self.max_leaf_nodes, self.min_samples_leaf = max_leaf_nodes, min_samples_leaf
        self.l2_regularization = l2_regularization
        self._fitted_on: tuple | None = None
        self.fit_report: dict[str, Any] = {}

    def _plan(self, ctx: Context) -> tuple[str, list[str]]:
        """(table, proxies) for the run, or a one-line error: the space, the dataset, the names."""
        from ... import proxy_tables

        if ctx.space not in self.spaces:
            raise ConfigError(f"zc_gbt supports nb201 (the shipped proxy tables' space), not {ctx.space}")
        table = _table_for(ctx.space, ctx.dataset)
        names = _chosen(self.proxies, list(proxy_tables.manifest()[table]["proxies"]), table)
        if not names and not self.encoding:
            raise ConfigError("zc_gbt has no features: give proxies or keep encoding=True")
        return table, names

    def preflight(self, ctx: Context) -> None:
        _regressor_class()
        self._plan(ctx)

    def features(self, archs: Sequence[str], table: str, names: Sequence[str]) -> np.ndarray:
        x = proxy_features(table, names, archs)
        return np.concatenate([x, one_hot("nb201", archs)], axis=1) if self.encoding else x

    def _ensure_fit(self, ctx: Context) -> None:
        key = fit_key(self.name, ctx) + (ctx.dataset,)
        if self._fitted_on == key:
            return
        from ... import proxy_tables

        regressor = _regressor_class()
        table, names = self._plan(ctx)
        archs = list(ctx.labelled)
        acc = np.array([ctx.labelled[a] for a in archs], dtype=float)
        if not np.isfinite(acc).all():
            raise ConfigError(f"{self.name}: the labelled accuracies must be finite numbers")
        self._mean, self._std = float(acc.mean()), float(acc.std()) or 1.0   # equal labels: predict their mean
        x = self.features(archs, table, names)
        self.model = regressor(loss="squared_error", max_iter=self.max_iter, learning_rate=self.learning_rate,
                               max_depth=self.max_depth, max_leaf_nodes=self.max_leaf_nodes,
                               min_samples_leaf=self.min_samples_leaf, l2_regularization=self.l2_regularization,
                               early_stopping=False, random_state=self.seed)
        self.model.fit(x, (acc - self._mean) / self._std)
        self._table, self._names = table, names
        self.fit_report = {"proxies": list(names), "encoding": bool(self.encoding), "features": int(x.shape[1]),
                           "table": table, "table_sha256": proxy_tables.manifest()[table]["sha256"],
                           "labelled": len(archs), "trees": int(self.model.n_iter_)}
        self._fitted_on = key

    def score(self, archs: Sequence[str], ctx: Context) -> np.ndarray:
        self._ensure_fit(ctx)
        archs = list(archs)
        if not archs:
            return np.zeros(0)
        return self._mean + self._std * self.model.predict(self.features(archs, self._table, self._names))

    def report(self) -> dict[str, Any]:
        return dict(self.fit_report)
