"""What a fresh initialisation and image batch per cell does to a proxy's rank correlation.

zero-cost-nas's ``nasbench2_pred.py`` scores every cell with its own random initialisation and its
own next batch of the shuffled loader; benchsuite scores every cell with one seeded initialisation
and batch (reproducible and cacheable per cell). Per-cell draws add noise to the scores, which can
only lower ρ on average, and by more for a proxy whose value moves more with the draw.

This script measures that from scores already computed, without computing any: for the cells of
the zero-cost study's seed-S sample (S = 1, 2), each cell has its seed-0 value (the shipped
all-cell table) and its seed-S value (``results/zero_cost/runs/<proxy>-c10/scores.csv``). Taking
each cell's value from a coin flip between the two is a per-cell draw out of two; ρ of those mixed
scores, averaged over ``--repeats`` coin flips, beside ρ of each seed's own, on each of
``--columns`` (default: the column zero-cost-nas's published values use, cifar10-valid 200-epoch
test; ZiCo's Tables 1 and 3, which give zico and gradsign, use CIFAR-10 200-epoch test).

    python benchmarks/per_cell_draws.py [--repeats 200] [--proxies P,...] [--columns C,...]
        [--out results/zero_cost/per_cell_draws.csv]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

ROOT = Path(__file__).resolve().parent.parent
COLUMN = "cifar10-valid_test_200"   # zero-cost-nas's: get_more_info(i, 'cifar10-valid', hp='200')['test-accuracy']
ZICO_COLUMN = "cifar10_test_200"    # ZiCo's Tables 1 and 3: NB-201 CIFAR-10 test accuracy


def rho(scores: np.ndarray, truth: np.ndarray) -> float:
    ok = np.isfinite(scores)
    return float(stats.spearmanr(scores[ok], truth[ok]).statistic)


def per_proxy(table: pd.DataFrame, runs: Path, proxy: str, seed: int, repeats: int,
              column: str = COLUMN) -> dict | None:
    path = runs / f"{proxy}-c10" / "scores.csv"
    if not path.is_file() or proxy not in table.columns:
        return None
    scores = pd.read_csv(path)
    own = scores[scores.seed == seed].set_index("arch").score
    if own.empty:
        return None
    at = table.loc[own.index]
    a, b, truth = at[proxy].to_numpy(float), own.to_numpy(float), at[column].to_numpy(float)
    rng = np.random.default_rng(seed)
    mixed = [rho(np.where(rng.random(len(a)) < 0.5, a, b), truth) for _ in range(repeats)]
    return {"proxy": proxy, "column": column, "sample_seed": seed, "cells": len(a), "rho_seed0": rho(a, truth),
            "rho_seedS": rho(b, truth), "rho_mixed_mean": float(np.mean(mixed)),
            "rho_mixed_sd": float(np.std(mixed)), "drop": float(np.mean(mixed) - (rho(a, truth) + rho(b, truth)) / 2),
            "scores_rho_seed0_vs_seedS": float(stats.spearmanr(a, b, nan_policy="omit").statistic)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=200)
    ap.add_argument("--runs", default=str(ROOT / "results" / "zero_cost" / "runs"))
    ap.add_argument("--proxies", default="synflow,snip,grad_norm,fisher,jacov,naswot")
    ap.add_argument("--columns", default=COLUMN, help=f"accuracy columns, comma-separated (e.g. {ZICO_COLUMN})")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    import benchsuite

    table = benchsuite.proxy_table("nb201", "cifar10").set_index("arch")
    columns = args.columns.split(",")
    unknown = [c for c in columns if c not in table.columns]
    if unknown:
        raise SystemExit(f"per_cell_draws: no accuracy column {', '.join(unknown)} in the table")
    rows = [r for c in columns for p in args.proxies.split(",") for s in (1, 2)
            if (r := per_proxy(table, Path(args.runs), p, s, args.repeats, c)) is not None]
    if not rows:
        raise SystemExit("per_cell_draws: no run folder holds seed 1 or 2 scores of these proxies")
    frame = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    print(frame.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print("\nmean drop per proxy (mixed minus the two seeds' mean):")
    print(frame.groupby(["column", "proxy"], sort=False).drop.mean().to_string(float_format=lambda v: f"{v:+.4f}"))
    if args.out:
        frame.to_csv(args.out, index=False, float_format="%.6g")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
