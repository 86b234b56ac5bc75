"""metrics.csv of a run folder, computed from its CSVs only: ranking metrics from scores.csv,
search metrics from trajectory.csv, each per seed and aggregated over seeds; and the one-line
summary a run prints."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from . import metrics
from .config import RunConfig
from .run_folder import read_scores
from .selectors.registry import SELECTORS

METRIC_COLUMNS = ["bench", "dataset", "fidelity", "acc_metric", "selector", "seed", "metric", "value", "n_archs",
                  "labels"]
# Metrics with a bootstrap CI per seed (sampling uncertainty over architectures).
CI_METRICS = ("spearman", "kendall")


def compute_metrics(out: Path, cfg: RunConfig, key: tuple[str, int, str], *, n_boot: int, labels: int = 0,
                    optimum: float | None = None, budget: int = 0) -> pd.DataFrame:
    """metrics.csv from the run's CSVs: ranking metrics from scores.csv, search metrics from
    trajectory.csv, each per seed and aggregated over seeds."""
    # An (arch, seed) is counted once, whatever happened to the file.
    df = read_scores(out / "scores.csv").drop_duplicates(["arch", "seed"])
    rows: list[tuple] = []
    base = (cfg.bench, key[0], key[1], key[2], cfg.selector)
    per_seed: dict[str, list[float]] = {}
    counts: dict[str, int] = {}
    for seed in cfg.seeds:
        d = df[df.seed == seed]
        if d.empty:
            continue
        s, a = d.score.to_numpy(), d.true_acc.to_numpy()
        n = int((~np.isnan(s)).sum())   # cells scored: -inf is a score, NaN is not
        for name, value in metrics.compute_all(s, a, list(cfg.metrics) if cfg.metrics else None).items():
            rows.append((*base, str(seed), name, value, n, labels))
            per_seed.setdefault(name, []).append(value)
            counts[name] = counts.get(name, 0) + n
        if n_boot:
            for name in (c for c in CI_METRICS if not cfg.metrics or c in cfg.metrics):
                lo, hi = metrics.bootstrap_ci(metrics.METRICS.get(name), s, a, n_boot=n_boot, seed=seed)
                rows += [(*base, str(seed), f"{name}_ci_low", lo, n, labels),
                         (*base, str(seed), f"{name}_ci_high", hi, n, labels)]
    pairs_path = out / "comparisons.csv"
    if pairs_path.is_file():   # a comparator's own measures, on its seed's judged pairs
        pairs = pd.read_csv(pairs_path, dtype={"a": str, "b": str})
        for seed in cfg.seeds:
            for name, (value, n) in comparator_metrics(pairs[pairs.seed == seed]).items():
                rows.append((*base, str(seed), name, value, n, labels))
                per_seed.setdefault(name, []).append(value)
                counts[name] = counts.get(name, 0) + n
    parts_path = out / "components.csv"
    if parts_path.is_file() and getattr(SELECTORS.get(cfg.selector), "pairwise", None) == "majority":
        parts = pd.read_csv(parts_path, dtype={"arch": str})
        for seed in cfg.seeds:
            d = parts[parts.seed == seed].merge(df[df.seed == seed][["arch", "true_acc"]], on="arch")
            if d.empty:
                continue
            value = metrics.majority_agreement(d.drop(columns=["seed", "arch", "true_acc"]).to_numpy(), d.true_acc)
            rows.append((*base, str(seed), "pairwise_agreement", value, len(d), labels))
            per_seed.setdefault("pairwise_agreement", []).append(value)
            counts["pairwise_agreement"] = counts.get("pairwise_agreement", 0) + len(d)
    traj_path = out / "trajectory.csv"
    if optimum is not None and traj_path.is_file():
        traj = pd.read_csv(traj_path, dtype={"arch": str})
        for seed in cfg.seeds:
            t = traj[traj.seed == seed].sort_values("query")
            for name, value in metrics.search_metrics(t.valid_acc, t.test_acc, optimum=optimum,
                                                      budget=budget).items():
                rows.append((*base, str(seed), name, value, len(t), labels))
                per_seed.setdefault(name, []).append(value)
                counts[name] = counts.get(name, 0) + len(t)
    for name, values in per_seed.items():
        if name == "queries_to_optimum":   # NaN = not reached: a median that counts those as above all
            rows += [(*base, "all", f"{name}_median", metrics.censored_median(values), counts[name], labels),
                     (*base, "all", "optimum_reached", float(np.mean([v == v for v in values])), counts[name],
                      labels)]
            continue
        agg = metrics.aggregate(values)
        for stat in ("mean", "std", "ci_low", "ci_high", "median"):
            value = agg[stat] if agg["n"] > 1 or stat in ("mean", "median") else float("nan")
            rows.append((*base, "all", f"{name}_{stat}", value, counts[name], labels))
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)


def comparator_metrics(pairs: pd.DataFrame) -> dict[str, tuple[float, int]]:
    """(value, cells) of ``pairwise_kendall`` (each unordered pair once, in the order judged first,
    as the reference judges i < j) and ``pair_inconsistency`` (both orders) from one seed's
    ``comparisons.csv`` rows."""
    if pairs.empty:
        return {}
    both = pairs.merge(pairs, left_on=["a", "b"], right_on=["b", "a"], suffixes=("", "_rev"))
    order = {(a, b): i for i, (a, b) in enumerate(zip(pairs.a, pairs.b))}
    first = both[[order[(a, b)] < order[(b, a)] for a, b in zip(both.a, both.b)]]
    n = int(pd.concat([pairs.a, pairs.b]).nunique())
    return {"pairwise_kendall": (metrics.pairwise_kendall(first.p_a_wins, first.acc_a, first.acc_b), n),
            "pair_inconsistency": (metrics.pair_inconsistency(first.p_a_wins, first.p_a_wins_rev), n)}


def summary_line(mdf: pd.DataFrame, out: Path) -> str:
    m = mdf[mdf.seed == "all"].set_index("metric").value
    r = mdf.iloc[0]
    n = mdf[mdf.seed != "all"].n_archs.iloc[0]
    shown = " ".join(f"{k}={m[k + '_mean']:.4f}" for k in ("spearman", "kendall", "top10_acc", "regret")
                     if k + "_mean" in m)
    per = mdf[mdf.seed != "all"].set_index(["seed", "metric"]).value
    first = str(mdf[mdf.seed != "all"].seed.iloc[0])
    if "spearman_ci_low" in m and m["spearman_ci_low"] == m["spearman_ci_low"]:
        shown += f" spearman 95% CI over seeds [{m['spearman_ci_low']:.4f}, {m['spearman_ci_high']:.4f}]"
    elif (first, "spearman_ci_low") in per:
        shown += (f" spearman 95% bootstrap CI [{per[(first, 'spearman_ci_low')]:.4f}, "
                  f"{per[(first, 'spearman_ci_high')]:.4f}]")
    search = " ".join(f"{k}={m[k + '_mean']:.2f}" for k in (f"best_test_at_q{q}" for q in metrics.SEARCH_QUERIES)
                      if k + "_mean" in m)
    if "queries_to_optimum_median" in m:
        search += f" queries_to_optimum(median)={m['queries_to_optimum_median']:g}"
    derived = ""
    if (out / "derived.csv").is_file():
        d = pd.read_csv(out / "derived.csv", dtype={"arch": str})
        derived = " derived=" + ", ".join(f"{a} ({'not in table' if pd.isna(v) else f'{v:.2f}%'})"
                                          for a, v in zip(d.arch, d.true_acc))
    labels = f", {int(r.labels)} labelled" if r.labels else ""
    return (f"{r.selector} on {r.bench}/{r.dataset} ({r.acc_metric}, {r.fidelity} epochs, n={n} per seed{labels}): "
            f"{' '.join(x for x in (shown, search) if x)}{derived} -> {out}")
