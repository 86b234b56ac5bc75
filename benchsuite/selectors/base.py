"""Selector: scores architectures, higher = better. One required method, optional hooks."""
from __future__ import annotations

import abc
import inspect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np


@dataclass
class Context:
    """What the runner hands a selector. Selectors never see true accuracy, except a learned
    selector's explicit labelled budget (``labelled``), which the runner excludes from metrics."""

    space: str                      # "nb201" | "nb101"
    dataset: str                    # the benchmark dataset being ranked on
    seed: int = 0
    device: str = "cpu"
    data_dir: str | None = None
    cache_dir: str | None = None
    labelled: dict[str, float] = field(default_factory=dict)


class Selector(abc.ABC):
    """Base class. Hyperparameters are keyword-only ``__init__`` arguments; ``hparams()`` reads
    them back so every result records them.

    ``needs`` tells the runner what to prepare: ``"images"``, ``"supernet"``, ``"labels"`` (a
    labelled budget, see ``labelled_budget``), ``"queries"`` (a search method: the runner calls
    ``search`` with a budgeted oracle and writes trajectory.csv).
    ``spaces`` lists the search spaces the selector can score. ``ranks`` is False for a pure search
    method (random search, REA): it picks cells but has no score for a given list of cells.
    """

    name: ClassVar[str] = ""
    needs: ClassVar[frozenset[str]] = frozenset()
    spaces: ClassVar[frozenset[str]] = frozenset({"nb201", "nb101"})
    uses_torch: ClassVar[bool] = True
    ranks: ClassVar[bool] = True
    # Lowest value a numeric hyperparameter may take where it is not the default (1 for an int, a
    # count or a size; 0 for a float): ``benchsuite.hparams``.
    hparam_min: ClassVar[dict[str, float]] = {}
    # The values a string hyperparameter may take (``benchsuite.hparams`` checks them and
    # ``benchsuite list --selector NAME`` prints them).
    hparam_choices: ClassVar[dict[str, tuple]] = {}
    # Cells per score() call, each call's scores appended to scores.csv at once (and shown by the
    # progress bar): 1 where a cell takes a noticeable time, more where scoring is batched.
    score_chunk: ClassVar[int] = 32
    # Small settings under which the contract tests can run the selector in seconds.
    fast_hparams: ClassVar[dict[str, Any]] = {}
    # True where a cell's score depends on the other cells scored with it (an aggregate of ranks, as
    # TE-NAS's and AZ-NAS's): the runner then scores a seed's cells in one call, and a resume that
    # finds some of them missing scores the whole seed again.
    ranks_jointly: ClassVar[bool] = False
    # Where the selector still differs from its reference code; run.json records them ("deviations").
    deviations: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *, seed: int = 0) -> None:
        self.seed = seed

    def hparams(self) -> dict[str, Any]:
        """Keyword-only constructor arguments and their current values."""
        out = {}
        for klass in type(self).__mro__:
            init = klass.__dict__.get("__init__")
            if init is None or klass is object:
                continue
            for p in inspect.signature(init).parameters.values():
                if p.kind is p.KEYWORD_ONLY and p.name not in out:
                    out[p.name] = getattr(self, p.name, p.default)
        return dict(sorted(out.items()))

    @abc.abstractmethod
    def score(self, archs: Sequence[str], ctx: Context) -> np.ndarray:
        """One float per arch, higher = better; NaN marks an arch that could not be scored."""

    def preflight(self, ctx: Context) -> None:
        """Check, before the run folder is made, that what the selector reads is reachable (its
        images, an optional package); raise a ``BenchsuiteError`` naming what is missing. The runner
        calls it once per run, so a run that cannot start leaves nothing behind."""
        return None

    def labelled_budget(self) -> int:
        """How many benchmarked archs the selector wants labelled (excluded from metrics): its
        ``labels`` hyperparameter (what ``--labels K`` sets) where it has one, else none."""
        return int(getattr(self, "labels", 0) or 0)

    def report(self) -> dict[str, Any]:
        """Anything the selector learned that a reader should see (recorded in run.json)."""
        return {}

    def search(self, oracle, ctx: Context) -> None:
        """Search methods (``"queries"`` in ``needs``): spend ``oracle`` (a ``search.oracle.Oracle``)
        on cells the method picks; the oracle records the trajectory. ``ctx.labelled`` holds the
        labelled cells, which the runner has already queried (they are the first queries)."""
        raise NotImplementedError(f"selector {self.name!r} is not a search method")

    def derive(self, ctx: Context) -> str | None:
        """Weight-sharing selectors: the architecture they would pick; others: None."""
        return None
