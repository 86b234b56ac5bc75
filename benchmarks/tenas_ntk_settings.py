"""Why tenas_ntk ranks NB-201 so much better here than in ZiCo's Table 3 (CIFAR-10 ρ 0.73 against 0.44).

benchsuite's tenas_ntk follows TE-NAS's own pruning setting (VITA-Group/TENAS prune_tenas.py and
prune_launch.py: the network at C=3, N=1, batches of 72 CIFAR training images, 3 repeats). ZiCo says
it ran TE-NAS "with the authors' code"; the TE-NAS code ZiCo's repository ships
(SLDGroup/ZiCo ``ZeroShotProxy/compute_te_nas_score.py``, ZenNAS's copy of TENAS's ntk.py) computes κ
differently: on Gaussian inputs (``torch.randn``, line 215), one batch (``compute_NTK_score``:
``num_batch=1``, line 251), on whatever network it is handed (NB-201's own: C=16, N=5, for a
NATS-Bench correlation), and a NaN κ becomes 0 (``np.nan_to_num`` without ``nan=``, line 245), so a
cell whose kernel is all zeros ranks first instead of last. This script scores the same cells under
each setting, one factor at a time, and prints ρ against the CIFAR-10 200-epoch test column:

- ``tenas``: the selector's default network and images, one batch of 72 (``--hp repeat=1``);
- ``tenas_full_net``: the same on NB-201's own network (``--hp C=16 --hp N=5``);
- ``gaussian``: TE-NAS's network, one Gaussian batch of ``--gaussian-batch`` (64: ZiCo does not say
  its batch; 64 is its batch for ZiCo itself), NaN κ as 0;
- ``zico_code``: NB-201's own network with Gaussian inputs, NaN κ as 0 (the ZenNAS code's setting).

The two image settings are the selector itself (through the proxy cache); the Gaussian ones are
computed here with the selector's network and initialisation (seeded as its ``compute`` seeds it) and
its ``ntk_cond``. Cells: the head of the runner's seed-S permutation (the first ``--cells`` of the
zero-cost study's sample). Rows are appended as computed; a rerun skips the (setting, cell) pairs the
CSV holds, so a stopped run resumes.

    BENCHSUITE_DATA=DIR python benchmarks/tenas_ntk_settings.py [--cells 60] [--seed 0]
        [--settings tenas,gaussian,tenas_full_net,zico_code] [--out results/zero_cost/tenas_ntk_settings.csv]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
COLUMN = "cifar10_test_200"
# setting -> (inputs, C, N); C, N None: the selector's default network (TE-NAS's C=3, N=1)
SETTINGS = {"tenas": ("images", None, None), "tenas_full_net": ("images", 16, 5),
            "gaussian": ("gaussian", 3, 1), "zico_code": ("gaussian", 16, 5)}


def score_images(cell: str, C, N, seed: int, ctx) -> float:
    from benchsuite import get_selector

    kw = {} if C is None else {"C": C, "N": N}
    sel = get_selector("tenas_ntk", seed=seed, repeat=1, **kw)
    sel.preflight(ctx)
    return float(sel.score([cell], ctx)[0])


def score_gaussian(cell: str, C: int, N: int, seed: int, batch: int) -> float:
    import torch

    from benchsuite.selectors.proxies.cache import nb201_representatives
    from benchsuite.selectors.proxies.tenas import ntk_cond
    from benchsuite.spaces import nb201

    rep = nb201_representatives()[nb201.canonical(cell)]   # the cell the selector computes a class on
    torch.manual_seed(seed)   # as measures.compute seeds before it builds the network
    net = nb201.build_network(rep, C=C, N=N, num_classes=10, bn=True).train()
    x = torch.randn(batch, 3, 32, 32, generator=torch.Generator().manual_seed(seed))
    return -ntk_cond(net, x, nan=0.0)


def summary(d: pd.DataFrame, table: pd.DataFrame, n_boot: int = 1000, common: bool = True) -> pd.DataFrame:
    """ρ of each setting with a bootstrap CI over its cells: the cells every setting has (``common``)
    or each setting's own. ``nan_kappa``: cells scored 0, a NaN κ under the ZenNAS code, which ranks
    them first; ``rho_nan_last`` is ρ with those ranked last instead, as the selector ranks a NaN κ."""
    from benchsuite.metrics import bootstrap_ci, kendall, spearman

    wide = d.pivot(index="arch", columns="setting", values="score")
    if common:
        wide = wide.dropna()
    acc_of = table.set_index("arch")[COLUMN]
    rows = []
    for s in wide.columns:
        col = wide[s].dropna()
        v, acc = col.to_numpy(float), acc_of.loc[col.index].to_numpy(float)
        lo, hi = bootstrap_ci(spearman, v, acc, n_boot=n_boot)
        vs_tenas = 1.0 if s == "tenas" else np.nan
        if s != "tenas" and "tenas" in wide:
            both = wide[[s, "tenas"]].dropna()
            vs_tenas = spearman(both[s], both["tenas"])
        rows.append({"setting": s, "cells": len(v), "rho": spearman(v, acc), "rho_lo": lo, "rho_hi": hi,
                     "tau": kendall(v, acc), "nan_kappa": int((v == 0).sum()),
                     "rho_nan_last": spearman(np.where(v == 0, -np.inf, v), acc), "rho_vs_tenas": vs_tenas})
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cells", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--settings", default="tenas,gaussian,tenas_full_net,zico_code")
    ap.add_argument("--gaussian-batch", type=int, default=64)
    ap.add_argument("--out", default=str(ROOT / "results" / "zero_cost" / "tenas_ntk_settings.csv"))
    args = ap.parse_args(argv)
    settings = [s for s in args.settings.split(",") if s]
    for s in settings:
        if s not in SETTINGS:
            raise SystemExit(f"tenas_ntk_settings: unknown setting {s!r}; known: {', '.join(SETTINGS)}")
    import benchsuite
    from benchsuite.runner import _choose
    from benchsuite.selectors.base import Context
    from benchsuite.threads import set_threads

    set_threads(1)
    table = benchsuite.proxy_table("nb201", "cifar10")
    cells, _ = _choose(table.arch.tolist(), args.seed, args.cells, 0)
    ctx = Context(space="nb201", dataset="cifar10", seed=args.seed, device="cpu")
    out = Path(args.out)
    done = pd.read_csv(out) if out.is_file() else pd.DataFrame(columns=["setting", "arch", "score", "seconds"])
    have = set(zip(done.setting, done.arch))
    for cell in cells:   # cell-major: a stopped run leaves every setting on the same cells
        for s in settings:
            if (s, cell) in have:
                continue
            inputs, C, N = SETTINGS[s]
            t0 = time.time()
            v = (score_images(cell, C, N, args.seed, ctx) if inputs == "images"
                 else score_gaussian(cell, C, N, args.seed, args.gaussian_batch))
            row = pd.DataFrame([{"setting": s, "arch": cell, "score": v, "seconds": round(time.time() - t0, 2)}])
            row.to_csv(out, mode="a", header=not out.is_file(), index=False)
            print(f"{s} {cell}: {v:.6g} ({time.time() - t0:.1f} s)", flush=True)
    d = pd.read_csv(out)
    d = d[d.arch.isin(cells) & d.setting.isin(settings)]
    common = summary(d, table)
    print(f"on the {common.cells.iloc[0]} cells every setting has:")
    print(common.round(3).to_string(index=False))
    if d.groupby("setting").size().nunique() > 1:
        print("on each setting's own cells:")
        print(summary(d, table, common=False).round(3).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
