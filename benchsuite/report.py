"""Plots and summary tables, drawn only from the CSVs a run wrote (never from live objects)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: CI and servers have no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .errors import BenchsuiteError  # noqa: E402

SUMMARY_METRICS = ("spearman", "kendall", "top1_acc", "top10_acc", "precision_at_5pct", "regret")


def _read(run_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    s, m = run_dir / "scores.csv", run_dir / "metrics.csv"
    if not s.is_file() or not m.is_file():
        raise BenchsuiteError(f"{run_dir} is not a finished run: it needs scores.csv and metrics.csv")
    return pd.read_csv(s, dtype={"arch": str}), pd.read_csv(m, dtype={"seed": str})


def _title(m: pd.DataFrame) -> str:
    r = m.iloc[0]
    return f"{r.selector} on {r.bench}/{r.dataset} ({r.acc_metric}, {r.fidelity} ep)"


def plot_run(run_dir: str | Path) -> list[Path]:
    """scatter.png (score vs true accuracy) and rho.png (Spearman per seed with bootstrap CI)."""
    run_dir = Path(run_dir)
    s, m = _read(run_dir)
    paths = []
    fig, ax = plt.subplots(figsize=(5, 4))
    for seed, d in s.groupby("seed"):
        ax.scatter(d.score, d.true_acc, s=4 if len(d) > 2000 else 10, alpha=0.4, label=f"seed {seed}")
    ax.set_xlabel("selector score (higher = better)")
    ax.set_ylabel("true accuracy (%)")
    ax.set_title(_title(m), fontsize=9)
    if s.seed.nunique() > 1:
        ax.legend(fontsize=7, markerscale=2)
    fig.tight_layout()
    paths.append(run_dir / "scatter.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    per = m[m.seed != "all"].pivot_table(index="seed", columns="metric", values="value", dropna=False)
    fig, ax = plt.subplots(figsize=(max(4.5, 0.6 * len(per) + 2), 3.5))
    x = np.arange(len(per))
    rho = per["spearman"].to_numpy()
    if "spearman_ci_low" in per:
        err = np.vstack([rho - per["spearman_ci_low"].to_numpy(), per["spearman_ci_high"].to_numpy() - rho])
        ax.errorbar(x, rho, yerr=err, fmt="o", capsize=4, label="seed (bootstrap 95% CI)")
    else:
        ax.plot(x, rho, "o", label="seed")
    agg = m[m.seed == "all"].set_index("metric").value
    ax.axhline(agg["spearman_mean"], color="k", lw=1, ls="--", label="mean over seeds")
    ax.set_xticks(x, [str(i) for i in per.index])
    ax.set_xlabel("seed")
    ax.set_ylabel("Spearman ρ")
    n = int(m[m.seed != "all"].n_archs.iloc[0])
    ax.set_title(f"{_title(m)}\nn={n} archs per seed", fontsize=8)
    ax.legend(fontsize=7)
    fig.tight_layout()
    paths.append(run_dir / "rho.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    if (run_dir / "training.csv").is_file():
        paths.append(plot_training(run_dir))
    return paths


def plot_training(run_dir: Path) -> Path:
    """training.png: supernet training loss and accuracy per epoch, one line per (seed, supernet)."""
    t = pd.read_csv(run_dir / "training.csv")
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, ((seed, key), d) in enumerate(t.groupby(["seed", "supernet"], sort=False)):
        label, color = f"seed {seed} {key}", colors[i % len(colors)]   # one colour per supernet
        axes[0].plot(d.epoch, d.train_loss, marker=".", color=color, label=label)
        axes[1].plot(d.epoch, d.train_acc, marker=".", color=color, label=f"train {label}")
        if "valid_acc" in d and d.valid_acc.notna().any():
            axes[1].plot(d.epoch, d.valid_acc, ls="--", marker=".", color=color, label=f"valid {label}")
    axes[0].set_ylabel("training loss")
    axes[1].set_ylabel("accuracy (%)")
    for ax in axes:
        ax.set_xlabel("supernet epoch")
    axes[1].legend(fontsize=6)
    fig.tight_layout()
    path = run_dir / "training.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def training_summary(run_dir: Path) -> tuple[float, float]:
    """(supernet training seconds summed over every supernet and seed, median images/s) from
    training.csv; NaN for runs without a supernet."""
    path = run_dir / "training.csv"
    if not path.is_file():
        return float("nan"), float("nan")
    t = pd.read_csv(path)
    return float(t.seconds.sum()), float(t.images_per_s.median())


def derived_summary(run_dir: Path) -> tuple[str, float]:
    """(derived cell(s), mean true accuracy over seeds) from derived.csv, or ('', nan)."""
    path = run_dir / "derived.csv"
    if not path.is_file():
        return "", float("nan")
    d = pd.read_csv(path, dtype={"arch": str})
    return ";".join(dict.fromkeys(d.arch)), float(d.true_acc.mean())


def _run_extras(run_dir: Path) -> dict:
    """Columns read from a run's own files beside its metrics: the derived cell and supernet cost."""
    derived, derived_acc = derived_summary(run_dir)
    seconds, images_per_s = training_summary(run_dir)
    return {"derived": derived, "derived_acc": derived_acc, "supernet_seconds": seconds,
            "supernet_images_per_s": images_per_s}


def _row_header(run_dir: Path, m: pd.DataFrame) -> dict:
    r = m.iloc[0]
    return {"run": str(run_dir), "bench": r.bench, "dataset": r.dataset, "acc_metric": r.acc_metric,
            "fidelity": int(r.fidelity), "selector": r.selector}


def summarize_common(run_dirs: list[str | Path], *, n_boot: int = 1000) -> pd.DataFrame:
    """Like ``summarize``, but every run is re-scored on the (arch, seed) pairs that all runs share,
    so selectors are compared on exactly the same cells (e.g. after a learned selector held some
    out). Metrics are recomputed from each run's scores.csv."""
    from . import metrics

    runs = [(Path(d), *_read(Path(d))) for d in run_dirs]
    keys = set.intersection(*(set(zip(s.arch, s.seed)) for _, s, _ in runs))
    if not keys:
        raise BenchsuiteError("the runs share no (arch, seed) pairs to compare on")
    rows = []
    for d, s, m in runs:
        common = s[[k in keys for k in zip(s.arch, s.seed)]]
        row = {**_row_header(d, m), "seeds": common.seed.nunique()}
        per_seed = [metrics.compute_all(g.score.to_numpy(), g.true_acc.to_numpy(), list(SUMMARY_METRICS))
                    for _, g in common.groupby("seed")]
        row["n_archs"] = int(common.groupby("seed").size().iloc[0])
        for name in SUMMARY_METRICS:
            row[name] = float(np.mean([p[name] for p in per_seed]))
        g = common[common.seed == common.seed.min()]
        lo, hi = metrics.bootstrap_ci(metrics.spearman, g.score.to_numpy(), g.true_acc.to_numpy(), n_boot=n_boot)
        row["spearman_ci"] = f"[{lo:.3f}, {hi:.3f}]"
        row.update(_run_extras(d))
        rows.append(row)
    return pd.DataFrame(rows)


def summarize(run_dirs: list[str | Path]) -> pd.DataFrame:
    """One row per run: mean over seeds of each summary metric, with its fidelity and n."""
    rows = []
    for d in run_dirs:
        _, m = _read(Path(d))
        agg = m[m.seed == "all"].set_index("metric").value
        per = m[m.seed != "all"]
        row = {**_row_header(Path(d), m), "seeds": per.seed.nunique(), "n_archs": int(per.n_archs.iloc[0])}
        for name in SUMMARY_METRICS:
            row[name] = agg.get(f"{name}_mean", np.nan)
        first = per[per.seed == per.seed.iloc[0]].set_index("metric").value
        row["spearman_ci"] = (f"[{first['spearman_ci_low']:.3f}, {first['spearman_ci_high']:.3f}]"
                              if "spearman_ci_low" in first else "")
        row.update(_run_extras(Path(d)))
        rows.append(row)
    return pd.DataFrame(rows)


def report(run_dirs: list[str | Path], out: str | Path, *, common: bool = False) -> list[Path]:
    """Per-run plots, plus summary.csv, summary.md and rho_compare.png in ``out``."""
    if not run_dirs:
        raise BenchsuiteError("report needs at least one run folder")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    table = summarize_common(run_dirs) if common else summarize(run_dirs)
    written = [p for d in run_dirs for p in plot_run(d)]
    table.to_csv(out / "summary.csv", index=False)
    md = ["| selector | bench | dataset | acc | epochs | n | seeds | ρ | ρ CI (first seed) | τ | top-10 acc | regret "
          "| derived cell acc | supernet s (img/s) |",
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        derived = "" if np.isnan(r.derived_acc) else f"{r.derived_acc:.2f}"
        trained = "" if np.isnan(r.supernet_seconds) else f"{r.supernet_seconds:.0f} ({r.supernet_images_per_s:.0f})"
        md.append(f"| {r.selector} | {r.bench} | {r.dataset} | {r.acc_metric} | {r.fidelity} | {r.n_archs} | "
                  f"{r.seeds} | {r.spearman:.3f} | {r.spearman_ci} | {r.kendall:.3f} | {r.top10_acc:.2f} | "
                  f"{r.regret:.2f} | {derived} | {trained} |")
    (out / "summary.md").write_text("\n".join(md) + "\n")
    fig, ax = plt.subplots(figsize=(max(4, 0.8 * len(table) + 2), 3.5))
    labels = [f"{r.selector}\n{r.dataset}" for r in table.itertuples()]
    ax.bar(range(len(table)), table.spearman)
    ax.set_xticks(range(len(table)), labels, fontsize=7)
    ax.set_ylabel("Spearman ρ (mean over seeds)")
    fig.tight_layout()
    fig.savefig(out / "rho_compare.png", dpi=120)
    plt.close(fig)
    return written + [out / "summary.csv", out / "summary.md", out / "rho_compare.png"]
