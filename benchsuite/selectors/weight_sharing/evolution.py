"""The evolutionary search SPOS, few-shot NAS and RLNAS run over a trained supernet to derive a cell.

As in SPOS's reference: a random population; each generation keeps the top ``parents`` and refills
the population half by mutation (each edge resampled with probability ``mutate_prob``) and half by
uniform crossover of two parents; every cell is evaluated once (fitness is memoised). The derived
cell is the fittest cell ever evaluated. RLNAS's reference mutates only to ops other than ``none``
(``mutation_ops``).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ...supernet.model import NUM_EDGES, NUM_OPS, path_to_arch


def evolve(fitness: Callable[[Sequence[str]], Sequence[float]], *, seed: int, population: int = 50,
           generations: int = 20, parents: int = 10, mutate_prob: float = 0.1,
           mutation_ops: Sequence[int] | None = None) -> tuple[str, float, int]:
    """(best cell, its fitness, number of cells evaluated)."""
    rng = np.random.default_rng([seed, 0xE70])
    seen: dict[str, float] = {}

    def evaluate(cells: list[str]) -> None:
        new = [c for c in dict.fromkeys(cells) if c not in seen]
        if new:
            seen.update(zip(new, map(float, fitness(new))))

    def random_cell() -> list[int]:
        return rng.integers(0, NUM_OPS, NUM_EDGES).tolist()

    pop = [path_to_arch(random_cell()) for _ in range(population)]
    evaluate(pop)
    for _ in range(generations):
        ranked = sorted(set(pop), key=lambda c: seen[c], reverse=True)[:parents]
        genes = [[_op_index(c, e) for e in range(NUM_EDGES)] for c in ranked]
        children: list[str] = []
        tries = 0
        while len(children) < population and tries < 50 * population:
            tries += 1
            if len(children) < population // 2 or len(genes) < 2:
                g = list(genes[rng.integers(len(genes))])
                for e in range(NUM_EDGES):
                    if rng.random() < mutate_prob:
                        g[e] = int(rng.integers(NUM_OPS)) if mutation_ops is None else \
                            int(mutation_ops[rng.integers(len(mutation_ops))])
            else:
                a, b = rng.choice(len(genes), size=2, replace=False)
                g = [genes[a][e] if rng.random() < 0.5 else genes[b][e] for e in range(NUM_EDGES)]
            cell = path_to_arch(g)
            if cell not in seen and cell not in children:
                children.append(cell)
        evaluate(children)
        pop = ranked + children
    best = max(seen, key=seen.get)
    return best, seen[best], len(seen)


def _op_index(cell: str, edge: int) -> int:
    from ...supernet.model import arch_to_path

    return arch_to_path(cell)[edge]
