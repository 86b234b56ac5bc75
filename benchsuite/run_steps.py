"""The run's per-seed steps beside scoring: a search on its oracle (``trajectory.csv``), a
comparator's pairwise judgements (``comparisons.csv``) and an aggregate's component scores
(``components.csv``). Each writes its seed's rows as one piece, replacing that seed's rows of an
interrupted earlier session."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from . import metrics
from .run_folder import write_seed_rows
from .selectors.base import Context
from .selectors.search.base import rng_for
from .selectors.search.oracle import Oracle

TRAJECTORY_COLUMNS = ["seed", "query", "arch", "valid_acc", "test_acc", "labelled", "best_arch", "best_valid_acc",
                      "best_test_acc"]
# How many of a seed's scored cells a comparator judges pairwise: CTNAS measures its comparator's
# Kendall tau on a held-out set of 100 cells (chenyaofo/CTNAS ctnas/core/config.py `--valset_size 100`,
# `--val_batch_size 100`; ctnas/core/utils.py `compute_kendall_tau_AR`).
COMPARATOR_CELLS = 100


def trajectory_rows(seed: int, history: list[tuple[str, float]], test: dict[str, float],
                    labelled: set[str]) -> list[dict]:
    """One row per query: the cell, the validation accuracy the method saw, the test accuracy it
    did not, and the incumbent (best by validation so far) with its test accuracy."""
    valid = [v for _, v in history]
    best, _ = metrics.best_so_far(valid, [test[a] for a, _ in history])
    return [{"seed": seed, "query": i + 1, "arch": a, "valid_acc": v, "test_acc": test[a], "labelled": a in labelled,
             "best_arch": history[b][0], "best_valid_acc": history[b][1], "best_test_acc": test[history[b][0]]}
            for i, ((a, v), b) in enumerate(zip(history, best))]



def search_step(selector, ctx: Context, bench, key: tuple, pool: list[str], valid: dict[str, float], budget: int,
            out: Path, trials: dict[str, tuple[float, ...]] | None = None) -> dict[str, Any]:
    """Run one seed's search on a fresh oracle (labelled cells first) and write its trajectory."""
    oracle = Oracle(bench.space, {a: valid[a] for a in pool}, budget, trials=trials,
                    rng=rng_for(ctx.seed, 0x7A1) if trials else None)
    for arch in ctx.labelled:
        oracle.query(arch)
    t0 = time.time()
    selector.search(oracle, ctx)
    test = dict(zip([a for a, _ in oracle.history], bench.accuracy([a for a, _ in oracle.history], *key)))
    rows = trajectory_rows(ctx.seed, oracle.history, test, set(ctx.labelled))
    write_seed_rows(out / "trajectory.csv", ctx.seed, rows)
    best = rows[-1] if rows else {}
    return {"budget": budget, "queries_used": oracle.used, "seconds": round(time.time() - t0, 3),
            "best_arch": best.get("best_arch"), "best_valid_acc": best.get("best_valid_acc"),
            "best_test_acc": best.get("best_test_acc")}


def compare_step(selector, ctx: Context, scored: list[str], bench, key: tuple, out: Path) -> dict[str, Any]:
    """Every ordered pair of the seed's first ``COMPARATOR_CELLS`` scored cells (a seeded random
    draw) judged by the selector's ``compare`` (P(first beats second)), written to
    ``comparisons.csv`` with both cells' accuracy in the scored column; the metrics are computed
    from that file (``run_metrics``)."""
    cells = list(scored[:COMPARATOR_CELLS])
    acc = bench.accuracy(cells, *key)
    pairs = [(i, j) for i in range(len(cells)) for j in range(len(cells)) if i != j]
    t0 = time.time()
    p = selector.compare([cells[i] for i, _ in pairs], [cells[j] for _, j in pairs], ctx)
    rows = [{"seed": ctx.seed, "a": cells[i], "b": cells[j], "p_a_wins": float(v), "acc_a": float(acc[i]),
             "acc_b": float(acc[j])} for (i, j), v in zip(pairs, p)]
    write_seed_rows(out / "comparisons.csv", ctx.seed, rows)
    return {"cells": len(cells), "ordered_pairs": len(pairs), "seconds": round(time.time() - t0, 3)}


def components_step(columns_of, ctx: Context, scored: list[str], out: Path) -> dict[str, Any]:
    """An aggregate's components' scores of the seed's cells (``columns_of``: its
    ``component_columns``, from the components' caches or the shipped table that answered it),
    written to ``components.csv``: seed, arch, one column per component."""
    t0 = time.time()
    columns = columns_of(list(scored), ctx)
    rows = [{"seed": ctx.seed, "arch": a, **{n: float(v[i]) for n, v in columns.items()}}
            for i, a in enumerate(scored)]
    write_seed_rows(out / "components.csv", ctx.seed, rows)
    return {"columns": list(columns), "seconds": round(time.time() - t0, 3)}
