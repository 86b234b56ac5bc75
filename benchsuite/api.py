"""The notebook API: ``evaluate`` a selector — a registered name, a ``Selector``, or a plain
function ``f(archs) -> scores`` — on a benchmark, and get DataFrames back.

It is the command line's run, not a second implementation: the same runner scores the same cells
(the seed's sample), writes the same files and computes the same metrics. Without ``out=`` the
run goes to a temporary folder that is removed before ``evaluate`` returns, so nothing is left on
disk; with ``out=`` the folder is a normal run folder (``benchsuite report`` reads it).
"""
from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .config import RunConfig
from .errors import ConfigError
from .selectors.base import Context, Selector


class _Named:
    """A function that prints as its qualified name in run.json (not as a memory address)."""

    def __init__(self, fn: Callable):
        self.fn = fn

    def __str__(self) -> str:
        return f"{getattr(self.fn, '__module__', '?')}.{getattr(self.fn, '__qualname__', repr(self.fn))}"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)


def _takes_seed(fn: Callable) -> bool:
    """Whether ``fn`` names a ``seed`` parameter: decided once from the signature, so a user's
    ``f(archs, invert=False)`` is never handed the seed as ``invert``, and a ``TypeError`` raised
    inside ``fn`` is the user's own error, not a cue to call it another way."""
    import inspect

    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):   # a builtin without a signature: call it with the archs only
        return False
    p = params.get("seed")
    return p is not None and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)


class FunctionSelector(Selector):
    """A plain function ``fn(archs) -> scores`` (higher = better) as a selector. It sees only the
    arch strings, a chunk of them per call; a function with a parameter named ``seed`` is called
    as ``fn(archs, seed=seed)``."""

    name = "function"
    uses_torch = False
    hparam_constraints = {"fn": callable}

    def __init__(self, *, fn: Callable | _Named, seed: int = 0) -> None:
        super().__init__(seed=seed)
        self.fn = fn.fn if isinstance(fn, _Named) else fn
        self._seeded = _takes_seed(self.fn)

    def hparams(self) -> dict[str, Any]:
        return {"fn": _Named(self.fn), "seed": self.seed}

    def score(self, archs: Sequence[str], ctx: Context) -> np.ndarray:
        out = self.fn(list(archs), seed=ctx.seed) if self._seeded else self.fn(list(archs))
        try:
            return np.asarray(out, dtype=float)
        except (TypeError, ValueError):
            raise ConfigError(f"{getattr(self.fn, '__name__', 'the function')} returned {type(out).__name__}, "
                              "not one number per arch") from None


@dataclass
class Result:
    """What ``evaluate`` returns: the run's tables as DataFrames (the CSVs' contents)."""

    metrics: pd.DataFrame          # metrics.csv: per seed and aggregated ("all")
    scores: pd.DataFrame           # scores.csv: arch, seed, score, true_acc
    run: dict                      # run.json
    trajectory: pd.DataFrame | None = None   # selectors with the capability "search"
    out: Path | None = None        # the run folder, when out= was given
    summary: dict[str, float] = field(default_factory=dict)   # the "all" rows, metric -> value

    def __repr__(self) -> str:
        keys = ("spearman_mean", "kendall_mean", "top10_acc_mean", "best_test_at_q100_mean")
        shown = ", ".join(f"{k}={self.summary[k]:.4f}" for k in keys if k in self.summary)
        return f"Result({self.run['args']['selector']} on {self.run['args']['bench']}: {shown})"

    def plot(self, ax=None):
        """Score vs true accuracy (one colour per seed), on a log or rank axis where scores span
        orders of magnitude — the run folder's scatter.png, drawn from ``scores``."""
        import matplotlib.pyplot as plt

        from .report import score_axis

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 4))
        axis = score_axis(self.scores.score.to_numpy())
        for seed, d in self.scores.groupby("seed"):
            x = d.score.rank(pct=True) * 100 if axis == "rank" else d.score
            ax.scatter(x, d.true_acc, s=8, alpha=0.5, label=str(seed))
        if axis == "log":
            ax.set_xscale("log")
        if self.scores.seed.nunique() > 1:   # one colour per seed: say which is which
            ax.legend(title="seed", fontsize="small", markerscale=2)
        ax.set_xlabel("selector score" + {"log": " (log scale)", "rank": ", percentile rank"}.get(axis, ""))
        ax.set_ylabel("true accuracy (%)")
        if self.summary.get("spearman_mean") is not None:
            ax.set_title(f"{self.run['args']['selector']}: Spearman ρ {self.summary['spearman_mean']:.3f}")
        return ax


def evaluate(selector: str | Selector | Callable, *, bench: str = "nb201", dataset: str = "cifar10",
             fidelity: int | None = None, acc: str | None = None, sample: int | None = None,
             seeds: Sequence[int] | int = (0,), labels: int | None = None, queries: int | None = None,
             hp: dict[str, Any] | None = None, metrics: Sequence[str] | None = None, n_boot: int = 1000,
             device: str = "auto", out: str | Path | None = None, data_dir: str | None = None,
             official: str | None = None, threads: int | None = None) -> Result:
    """Run ``selector`` as ``benchsuite run`` would and return its tables.

    ``selector``: a registered name (``"synflow"``; ``hp`` sets its hyperparameters), a
    ``Selector`` instance, or a function ``f(archs) -> scores`` (higher = better, one float per
    arch, -inf for its worst value, NaN for a cell it cannot score). The function is called on
    chunks of the scored cells (32 at a time), not once on all; a function with a parameter named
    ``seed`` also gets the
    run's seed as ``f(archs, seed=seed)``. ``threads``: torch's CPU threads for the run, as
    ``--threads`` (None: one, ``benchsuite.threads.DEFAULT_THREADS``); it stays set afterwards."""
    seeds = (seeds,) if isinstance(seeds, int) else tuple(seeds)
    if isinstance(selector, str):
        name, instance = selector, None
    else:
        if hp:
            raise ConfigError("hp= sets a registered selector's hyperparameters; build your Selector with them")
        if not isinstance(selector, Selector) and not callable(selector):
            raise ConfigError(f"evaluate() needs a selector name, a Selector or a function, got "
                              f"{type(selector).__name__}")
        instance = selector if isinstance(selector, Selector) else FunctionSelector(fn=selector)
        name = type(instance).name if not isinstance(instance, FunctionSelector) else \
            getattr(instance.fn, "__name__", "function")
        name = name or type(instance).__name__
    common = dict(bench=bench, dataset=dataset, selector=name, fidelity=fidelity, acc=acc, sample=sample,
                  seeds=seeds, labels=labels, queries=queries, hparams=dict(hp or {}),
                  metrics=tuple(metrics) if metrics else None, n_boot=n_boot, device=device, data_dir=data_dir,
                  official=official, threads=threads)
    from .runner import run

    if out is not None:
        folder = run(RunConfig(**common, out=str(out)), log=lambda _: None, selector=instance)
        return _read(folder, keep=True)
    with tempfile.TemporaryDirectory(prefix="benchsuite-") as tmp:
        folder = run(RunConfig(**common, out=str(Path(tmp) / "run")), log=lambda _: None, selector=instance)
        return _read(folder, keep=False)


def _read(folder: Path, *, keep: bool) -> Result:
    from .run_folder import read_run_json, read_scores

    m = pd.read_csv(folder / "metrics.csv", dtype={"seed": str})
    s = read_scores(folder / "scores.csv")
    run = read_run_json(folder / "run.json")
    searched = "search" in run["capabilities"]   # what the selector declared, as the runner recorded it
    traj = pd.read_csv(folder / "trajectory.csv", dtype={"arch": str}) if searched else None
    summary = m[m.seed == "all"].set_index("metric").value.to_dict()
    return Result(m, s, run, traj, folder if keep else None, summary)
