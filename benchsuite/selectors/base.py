"""Selector: scores, searches or derives architectures; what it can do and reads is declared.

The contract (checked when a subclass is defined, so a mismatch fails at import, in one line):

``capabilities`` ⊆ {"rank", "search", "derive"}: ``rank`` implements ``score`` (one float per
cell, higher = better), ``search`` implements ``search`` (spends a budgeted oracle; the runner
writes trajectory.csv), ``derive`` implements ``derive`` (the one cell the method picks). A class
that declares nothing and defines ``score`` is a ranker.

``inputs`` ⊆ {"labels", "supernet", "images"}: what the runner prepares or must know about:
``labels`` a labelled budget of validation accuracies (the ``labels`` hyperparameter, which
``--labels`` sets; left out of every metric), ``supernet`` a trained supernet (``train_all``, which
``benchsuite train-supernet`` runs), ``images`` image batches (loaded by ``preflight``).

Hyperparameters are keyword-only ``__init__`` arguments, each with a constraint in
``hparam_constraints`` and rules between them in ``hparam_rules`` (``benchsuite.hparams``). They
are validated whenever a selector is built, by ``--hp`` or in Python, before ``__init__`` runs.
"""
from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from .. import hparams as hp
from ..hparams import Interval

CAPABILITIES = {"rank": "score", "search": "search", "derive": "derive"}   # capability -> method
INPUTS = frozenset({"labels", "supernet", "images"})


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


class SelectorMeta(abc.ABCMeta):
    """Validates the keyword arguments of every construction against the declared constraints.

    Here rather than in ``__new__`` or a wrapped ``__init__``: ``__call__`` runs once per
    construction with the full keyword set (a subclass's ``super().__init__(**kwargs)`` does not
    check again with part of it), sees the defaults the rules need, and is bypassed by pickle and
    copy, which rebuild an instance without calling the constructor."""

    def __call__(cls, *args: Any, **kwargs: Any):
        if not args:   # positional hyperparameters: __init__'s own TypeError says so
            kwargs = hp.validate(cls, f"selector {cls.name or cls.__name__!r}", kwargs, prefix="")
        return super().__call__(*args, **kwargs)


def _implements(cls: type, method: str) -> bool:
    return getattr(cls, method) is not getattr(Selector, method)


class Selector(metaclass=SelectorMeta):
    """Base class; see the module doc for the contract."""

    name: ClassVar[str] = ""
    capabilities: ClassVar[frozenset[str]] = frozenset({"rank"})
    inputs: ClassVar[frozenset[str]] = frozenset()
    spaces: ClassVar[frozenset[str]] = frozenset({"nb201", "nb101"})
    uses_torch: ClassVar[bool] = True
    hparam_constraints: ClassVar[dict[str, Any]] = {"seed": Interval(int, 0, None), "device": str}
    hparam_rules: ClassVar[tuple[hp.Rule, ...]] = ()
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

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        where = f"selector class {cls.__qualname__}"
        for old, new in (("needs", "inputs and capabilities"), ("ranks", "capabilities"),
                         ("hparam_min", "hparam_constraints"), ("hparam_choices", "hparam_constraints")):
            if old in cls.__dict__:
                raise TypeError(f"{where}: {old!r} is not part of the selector contract; declare {new}")
        caps, inputs = frozenset(cls.capabilities), frozenset(cls.inputs)
        if not caps or caps - set(CAPABILITIES) or inputs - INPUTS:
            raise TypeError(f"{where}: capabilities must be a non-empty subset of {sorted(CAPABILITIES)} and inputs "
                            f"a subset of {sorted(INPUTS)}, got {sorted(caps)} and {sorted(inputs)}")
        for cap, method in CAPABILITIES.items():
            if (cap in caps) != _implements(cls, method):
                said = "declares" if cap in caps else "does not declare"
                does = "does not implement" if cap in caps else "implements"
                raise TypeError(f"{where} {said} capability {cap!r} but {does} {method}()")
        params = hp.keyword_params(cls)
        if ("labels" in inputs) != ("labels" in params):
            raise TypeError(f"{where}: input 'labels' and a keyword-only 'labels' hyperparameter go together "
                            f"(declared: {'labels' in inputs}, hyperparameter: {'labels' in params})")
        if "supernet" in inputs and not callable(getattr(cls, "train_all", None)):
            raise TypeError(f"{where} declares input 'supernet' but has no train_all(ctx)")
        cls.capabilities, cls.inputs = caps, inputs

    def __init__(self, *, seed: int = 0) -> None:
        self.seed = seed

    def hparams(self) -> dict[str, Any]:
        """Keyword-only constructor arguments and their current values."""
        return dict(sorted((n, getattr(self, n, p.default)) for n, p in hp.keyword_params(type(self)).items()))

    def score(self, archs: Sequence[str], ctx: Context) -> np.ndarray:
        """Capability ``rank``: one float per arch, higher = better; -inf is the worst score (ranked
        last, kept in every metric), NaN marks an arch that could not be scored."""
        raise NotImplementedError(f"selector {self.name!r} ranks no cells")

    def search(self, oracle, ctx: Context) -> None:
        """Capability ``search``: spend ``oracle`` (a ``search.oracle.Oracle``) on cells the method
        picks; the oracle records the trajectory. ``ctx.labelled`` holds the labelled cells, which
        the runner has already queried (they are the first queries)."""
        raise NotImplementedError(f"selector {self.name!r} is not a search method")

    def derive(self, ctx: Context) -> str:
        """Capability ``derive``: the architecture the method picks."""
        raise NotImplementedError(f"selector {self.name!r} derives no cell")

    def preflight(self, ctx: Context) -> None:
        """Check, before the run folder is made, that what the selector reads is reachable (its
        images, an optional package); raise a ``BenchsuiteError`` naming what is missing. The runner
        calls it once per run, so a run that cannot start leaves nothing behind."""
        return None

    def labelled_budget(self) -> int:
        """How many benchmarked archs the runner labels for the selector (input ``labels``: its
        ``labels`` hyperparameter, which ``--labels K`` sets), else none."""
        return int(self.labels) if "labels" in self.inputs else 0   # type: ignore[attr-defined]

    def report(self) -> dict[str, Any]:
        """Anything the selector learned that a reader should see (recorded in run.json)."""
        return {}


class Aggregate:
    """Mixin (before ``Selector`` in the bases) for a ranker whose score combines registered
    proxies' scores (``vote``, ``tenas``, ``az_nas``): ``table_parts`` names the components at this
    selector's settings and ``combine`` turns their scores ({name: scores}) into its own. The runner
    writes the components' scores beside its own (``components.csv``), and a shipped table holding
    every component answers it (``proxy_tables``). ``pairwise = "majority"``: the aggregate judges a
    pair of cells by the majority of its components, and the run also reports how often that
    judgement agrees with accuracy (``metrics.majority_agreement``)."""

    pairwise: ClassVar[str | None] = None

    def table_parts(self) -> dict[str, Selector]:
        raise NotImplementedError

    def combine(self, columns: dict[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def component_columns(self, archs: Sequence[str], ctx: Context) -> dict[str, np.ndarray]:
        """Each component's scores of ``archs`` (from its cache once the aggregate has scored them)."""
        return {n: np.asarray(sel.score(archs, ctx), dtype=float) for n, sel in self.table_parts().items()}

    def score(self, archs: Sequence[str], ctx: Context) -> np.ndarray:
        return self.combine(self.component_columns(archs, ctx))
