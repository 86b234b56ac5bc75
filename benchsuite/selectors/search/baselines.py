"""The two search baselines every search method must beat, at equal query budgets.

``random-search``: distinct covered cells drawn uniformly, in order, until the budget is spent.

``rea``: regularised (aging) evolution, Real et al. 2019, Algorithm 1: a population of random
cells; each cycle draws ``sample_size`` members with replacement, mutates the best of them into a
child, queries it, appends it and drops the oldest member. Presets (``benchsuite.presets.REA``,
each value with its source): ``naslib``: population 30, sample 10, mutation of a uniform edge
(NASLib's NB-201 defaults); ``nb201``: population 10, sample 3, mutation of a uniform node's
uniform input edge (AutoDL-Projects' R-EA); ``nb201-paper``: ``nb201`` with the paper's fitness,
the 12-epoch validation accuracy of one random trial. On NB-101 the mutation is NAS-Bench-101's
(``flip``). The fitness protocol (``fitness_epochs``, ``trial``) is read by the runner, which
builds the oracle from that column (``SearchMethod.query_protocol``).
"""
from __future__ import annotations

import collections
import operator

from ... import presets
from ...errors import ConfigError
from ...hparams import Choice, Interval
from ...spaces import get_space
from ..base import Context
from ..registry import SELECTORS
from .base import SearchMethod, query_bar, rng_for
from .domain import Domain
from .oracle import QueryBudgetExhausted

MUTATIONS = tuple(sorted({m for s in ("nb201", "nb101") for m in get_space(s).MUTATIONS}))


@SELECTORS.register("random-search")
class RandomSearch(SearchMethod):
    """Uniform random cells, each queried once, until the budget is spent."""

    name = "random-search"
    deviations = ("queries count distinct cells: a cell already queried costs nothing",)
    # The fitness protocol (as rea's): it picks no cell by fitness, but its incumbent is the best by it.
    hparam_constraints = {"fitness_epochs": [Interval(int, 1, None), None], "trial": Choice("mean", "random")}

    def __init__(self, *, seed: int = 0, fitness_epochs: int | None = None, trial: str = "mean") -> None:
        super().__init__(seed=seed)
        self.fitness_epochs = None if fitness_epochs is None else int(fitness_epochs)
        self.trial = trial

    def query_protocol(self) -> tuple[int | None, str]:
        return self.fitness_epochs, self.trial

    def search(self, oracle, ctx: Context) -> None:
        domain = Domain(ctx.space, oracle.candidates())
        order = domain.sample(rng_for(self.seed, 0x5EA), oracle.budget, exclude=oracle.seen())
        with query_bar(self.name, oracle) as bar:   # table look-ups: done at once, the bar for uniformity
            oracle.query_many(order)
            bar.update_to(oracle.used)


_DEVIATIONS = (
    "queries count distinct cells: a child equal to a known cell costs no query (NASLib's REA charges every "
    "child; the NB-201 paper's R_EA.py counts simulated training time)",
    "the fitness is the validation column beside the scored one at the scored fidelity (NB-201 CIFAR-10: "
    "cifar10-valid valid accuracy at 200 epochs, the tables' trial mean), a noise-free oracle; the NB-201 paper's "
    "R_EA.py reads the 12-epoch column, one random trial (preset nb201-paper)",
    "one random trial per query needs data that keeps trials (an official .pth, NATS-Bench or tfrecord file); "
    "the embedded tables hold trial means, so on them each query reads the mean (run.json: search.fitness)",
    "on the NB-101 bundle (301 cells, fewer than the default 500 queries) repeats cost nothing, so a run goes "
    "on to max_cycles children and a child outside the table is replaced by the nearest covered cell",
)


@SELECTORS.register("rea")
class REA(SearchMethod):
    """Regularised evolution (see module doc for the presets and their sources)."""

    name = "rea"
    hparam_constraints = {"preset": Choice(*presets.names("rea")), "population": [Interval(int, 1, None), None],
                          "sample_size": [Interval(int, 1, None), None], "mutation": [Choice(*MUTATIONS), None],
                          "max_cycles": Interval(int, 1, None), "fitness_epochs": [Interval(int, 1, None), None],
                          "trial": [Choice("mean", "random"), None]}

    def __init__(self, *, seed: int = 0, preset: str = "naslib", population: int | None = None,
                 sample_size: int | None = None, mutation: str | None = None, max_cycles: int = 50_000,
                 fitness_epochs: int | None = None, trial: str | None = None) -> None:
        super().__init__(seed=seed)
        p = presets.values("rea", preset)
        self.preset = preset
        self.population = p["population"] if population is None else int(population)
        self.sample_size = p["sample_size"] if sample_size is None else int(sample_size)
        # NB201 presets name their mutation; NB101 has one (``flip``) unless one is given.
        self.mutation = p["mutation"] if mutation is None else mutation
        self._mutation_given = mutation is not None
        self.max_cycles = int(max_cycles)
        # The fitness protocol: which training length's validation accuracy a query reads (None: the
        # scored fidelity) and whether it is the trial mean or one random trial.
        self.fitness_epochs = p["fitness_epochs"] if fitness_epochs is None else int(fitness_epochs)
        self.trial = p["trial"] if trial is None else trial

    @property
    def deviations(self) -> tuple[str, ...]:
        """The fitness deviation names the protocol this instance runs."""
        out = [_DEVIATIONS[0]]
        if self.fitness_epochs is None:
            out.append(_DEVIATIONS[1])
        elif self.trial == "random":
            out.append(_DEVIATIONS[2])
        out.append(_DEVIATIONS[3])
        return tuple(out)

    def query_protocol(self) -> tuple[int | None, str]:
        return self.fitness_epochs, self.trial

    def search(self, oracle, ctx: Context) -> None:
        kinds = get_space(ctx.space).MUTATIONS
        kind = self.mutation if self.mutation in kinds or self._mutation_given else kinds[0]
        if kind not in kinds:
            raise ConfigError(f"rea: unknown {ctx.space} mutation {kind!r}; known: {', '.join(kinds)}")
        self.mutation_used = kind
        rng = rng_for(self.seed, 0xEA)
        domain = Domain(ctx.space, oracle.candidates())
        population: collections.deque[tuple[str, float]] = collections.deque()
        with query_bar(self.name, oracle) as bar:
            try:
                for arch in domain.sample(rng, self.population, exclude=oracle.seen()):
                    population.append((arch, oracle.query(arch)))
                    bar.update_to(oracle.used)
                # A child already answered costs no query, so the cycle count is capped separately.
                for cycle in range(1, self.max_cycles + 1):
                    if oracle.remaining <= 0:
                        break
                    picks = rng.integers(len(population), size=self.sample_size)
                    parent = max(map(population.__getitem__, picks.tolist()), key=operator.itemgetter(1))[0]
                    child = domain.mutate(parent, rng, kind)
                    population.append((child, oracle.query(child)))
                    if len(population) > self.population:
                        population.popleft()
                    bar.update_to(oracle.used, f"cycle {cycle}")
            except QueryBudgetExhausted:
                pass
        self.projected = domain.projected

    def report(self) -> dict:
        out = {"mutation": getattr(self, "mutation_used", self.mutation)}
        if getattr(self, "projected", 0):
            out["proposals_replaced_by_nearest_covered_cell"] = self.projected
        return out
