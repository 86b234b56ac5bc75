"""Plots and summary tables, drawn only from the CSVs a run wrote (never from live objects)."""
from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .errors import BenchsuiteError
from .report_inputs import (
    check_run,
    read_derived,
    read_metrics,
    read_run_json,
    read_scores,
    read_training,
    read_trajectory,
    run_folder,
)
from .report_latex import display_name, markdown

SUMMARY_METRICS = ("spearman", "kendall", "top1_acc", "top10_acc", "precision_at_5pct", "regret")


def _read(run_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(scores, metrics) of a finished run, each checked (one-line errors naming the file)."""
    run_dir = run_folder(run_dir)
    return read_scores(run_dir), read_metrics(run_dir)


def _title(m: pd.DataFrame) -> str:
    r = m.iloc[0]
    return f"{r.selector} on {r.bench}/{r.dataset} ({r.acc_metric}, {r.fidelity} ep)"


def new_figure(figsize: tuple[float, float]) -> Figure:
    """A figure on its own Agg canvas. Never pyplot: importing or drawing a report leaves the
    caller's backend (a notebook's inline one, say) as it was, and needs no display."""
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: Path, dpi: int = 120) -> Path:
    """``path`` (a PNG) and the same figure as a PDF beside it, for papers; returns the PNG's path.
    The PDF embeds TrueType fonts (journals refuse Type 3) and no creation date, so that a figure
    redrawn from the same CSVs is the same file."""
    fig.savefig(path, dpi=dpi)
    with matplotlib.rc_context({"pdf.fonttype": 42}):
        fig.savefig(path.with_suffix(".pdf"), dpi=300, metadata={"CreationDate": None})   # dpi: rasterized parts
    return path


def with_pdfs(paths: list[Path]) -> list[Path]:
    """Each PNG of ``paths`` followed by the PDF that ``save_figure`` wrote beside it."""
    return [q for p in paths for q in ((p, p.with_suffix(".pdf")) if p.suffix == ".png" else (p,))]



def plot_run(run_dir: str | Path) -> list[Path]:
    """scatter.png (score vs true accuracy) and rho.png (Spearman per seed with bootstrap CI) for a
    ranking run; training.png for a supernet's curves; search.png for a search's trajectory; each
    also as a PDF beside it (the list names both)."""
    run_dir = Path(run_dir)
    s, m = _read(run_dir)
    paths = []
    if (run_dir / "training.csv").is_file():
        paths.append(plot_training(run_dir))
    if (run_dir / "trajectory.csv").is_file():
        paths.append(plot_search([run_dir], run_dir / "search.png"))
    if s.empty:   # a search method ranks nothing
        return with_pdfs(paths)
    paths.append(save_figure(scatter_figure(s, m), run_dir / "scatter.png"))
    if (m.metric == "spearman").any():   # a run with --metrics that leaves spearman out has no ρ to draw
        paths.append(save_figure(rho_figure(m), run_dir / "rho.png"))
    return with_pdfs(paths)


def rho_text(s: pd.DataFrame, m: pd.DataFrame) -> str:
    """"Spearman ρ = 0.743, n = 50": metrics.csv's ρ (mean over seeds when several) and cells per
    seed; computed from the scores drawn when the run's --metrics left spearman out."""
    per = m[(m.seed != "all") & (m.metric == "spearman")]
    if len(per):
        rhos, ns = per.value.to_numpy(dtype=float), per.n_archs.to_numpy(dtype=int)
    else:
        from .metrics import spearman

        by_seed = [d for _, d in s.groupby("seed")]
        rhos = np.array([spearman(d.score.to_numpy(), d.true_acc.to_numpy()) for d in by_seed])
        ns = np.array([int((~np.isnan(d.score.to_numpy())).sum()) for d in by_seed])
    rho = float(np.nanmean(rhos)) if np.isfinite(rhos).any() else float("nan")
    n = f"{ns.min()}" if ns.min() == ns.max() else f"{ns.min()}-{ns.max()}"
    if len(rhos) > 1:
        return f"Spearman ρ = {rho:.3f} (mean over {len(rhos)} seeds), n = {n} per seed"
    return f"Spearman ρ = {rho:.3f}, n = {n}"


def scatter_figure(s: pd.DataFrame, m: pd.DataFrame):
    """Score against true accuracy, one colour per seed; the title gives ρ and n."""
    fig = new_figure((5, 4))
    ax = fig.subplots()
    axis = score_axis(s.score.to_numpy())
    for seed, d in s.groupby("seed"):
        x = d.score.rank(pct=True).to_numpy() * 100 if axis == "rank" else d.score.to_numpy()
        dense = len(d) > 2000   # thousands of vector markers make a PDF slow to open: draw them as an image
        ax.scatter(x, d.true_acc, s=4 if dense else 10, alpha=0.4, label=f"seed {seed}", rasterized=dense)
    if axis == "log":
        ax.set_xscale("log")
    ax.set_xlabel({"log": "selector score (log scale; higher = better)",
                   "rank": "selector score, percentile rank within its seed (higher = better)"}.get(
                      axis, "selector score (higher = better)"))
    ax.set_ylabel("true accuracy (%)")
    ax.set_title(f"{_title(m)}\n{rho_text(s, m)}", fontsize=9)
    if s.seed.nunique() > 1:
        ax.legend(fontsize=7, markerscale=2)
    fig.tight_layout()
    return fig


def rho_figure(m: pd.DataFrame):
    """Spearman ρ per seed with its bootstrap CI and the mean over seeds; the legend sits below the
    axes, where it can cover neither the mean line nor a seed."""
    per = m[m.seed != "all"].pivot_table(index="seed", columns="metric", values="value", dropna=False)
    fig = new_figure((max(4.5, 0.6 * len(per) + 2), 4))
    ax = fig.subplots()
    x = np.arange(len(per))
    rho = per["spearman"].to_numpy()
    if "spearman_ci_low" in per:
        err = np.vstack([rho - per["spearman_ci_low"].to_numpy(), per["spearman_ci_high"].to_numpy() - rho])
        ax.errorbar(x, rho, yerr=err, fmt="o", capsize=4, label="one seed, bootstrap 95% CI over its cells")
    else:
        ax.plot(x, rho, "o", label="one seed (no CI: --n-boot 0)")
    for xi, r in zip(x, rho):
        ax.annotate(f"{r:.3f}", (xi, r), textcoords="offset points", xytext=(6, 0), fontsize=7, va="center")
    agg = m[m.seed == "all"].set_index("metric").value
    ax.axhline(agg["spearman_mean"], color="k", lw=1, ls="--", label="mean over seeds")
    ax.set_xticks(x, [str(i) for i in per.index])
    ax.set_xlabel("seed")
    ax.set_ylabel("Spearman ρ")
    n = int(m[m.seed != "all"].n_archs.iloc[0])
    ax.set_title(f"{_title(m)}\nn={n} archs per seed", fontsize=8)
    # Below the x label, centred: tight_layout makes room for it, whatever the number of seeds.
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
    fig.tight_layout()
    return fig


def score_axis(scores: np.ndarray) -> str:
    """How to draw scores that may span many orders of magnitude (synflow reaches 1e33): "linear",
    "log" (all positive, max/min > 1e3) or "rank" (otherwise spanning more than 1e3 in magnitude)."""
    s = scores[np.isfinite(scores)]
    if len(s) < 2:
        return "linear"
    mag = np.abs(s[s != 0])
    if len(mag) and mag.max() / mag.min() > 1e3:
        return "log" if (s > 0).all() else "rank"
    return "linear"


def search_curve(traj: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(queries, mean, low, high): the incumbent's test accuracy after each query, mean over seeds
    with a 95% t-interval clipped to the seeds' own range; a seed that stopped early keeps its last
    incumbent.

    The clip matters at few queries and few seeds: two seeds whose first cells are 40 points apart
    give a t-interval of ±250 points (t = 12.7 with one degree of freedom), a band past 0 and 100 %
    that fills the whole plot. Clipped, the band never claims an accuracy that no seed reached (nor
    one above the column's optimum); where the seeds agree the t-interval is the narrower one."""
    from .metrics import aggregate

    per = {seed: d.sort_values("query").best_test_acc.to_numpy() for seed, d in traj.groupby("seed")}
    q = np.arange(1, max(len(v) for v in per.values()) + 1)
    grid = np.array([np.concatenate([v, np.full(len(q) - len(v), v[-1])]) for v in per.values()])
    stats = [aggregate(grid[:, i]) for i in range(len(q))]
    mean = np.array([s["mean"] for s in stats])
    lo = np.array([s["ci_low"] if s["n"] > 1 else s["mean"] for s in stats])
    hi = np.array([s["ci_high"] if s["n"] > 1 else s["mean"] for s in stats])
    return q, mean, np.maximum(lo, np.nanmin(grid, axis=0)), np.minimum(hi, np.nanmax(grid, axis=0))


def plot_search(run_dirs: list[Path], path: Path) -> Path:
    """Best test accuracy found (the incumbent by validation) against queries, one line per run
    with a 95% CI band over seeds (see ``search_curve``), log query axis; the column's optimum as a
    dashed line."""
    fig = new_figure((6.5, 4))
    ax = fig.subplots()
    optimum, column, acc, low_at_10 = None, "", "test", []
    for d in run_dirs:
        traj = read_trajectory(Path(d))
        _, m = _read(d)
        q, mean, lo, hi = search_curve(traj)
        seeds = traj.seed.nunique()
        name = display_name(_row_header(d, m))
        line, = ax.plot(q, mean, lw=1.6, label=f"{name} ({seeds} seed{'s' if seeds > 1 else ''})")
        ax.fill_between(q, lo, hi, color=line.get_color(), alpha=0.2, lw=0)
        low_at_10.append(float(lo[min(9, len(lo) - 1)]))
        run = read_run_json(Path(d))
        optimum = run.get("search", {}).get("optimum", optimum)
        column, acc = _title(m), m.iloc[0].acc_metric
    if optimum is not None:
        ax.axhline(optimum, color="k", lw=0.8, ls="--", label=f"optimum {optimum:.2f}")
    ax.set_xscale("log")
    ticks = [q for q in (1, 10, 50, 100, 200, 500, 1000) if q <= ax.get_xlim()[1]]
    ax.set_xticks(ticks, [str(q) for q in ticks])
    ax.set_xlabel("benchmark queries (distinct cells, validation accuracy)")
    ax.set_ylabel(f"{acc} accuracy of best cell found (%)")   # NB-101's bundle reports valid
    ax.set_title(f"best found vs queries: {column.split(' on ', 1)[-1]}\nmean over seeds, 95% t-CI band "
                 "(clipped to the seeds' range)", fontsize=8)
    if optimum is not None and low_at_10:   # zoom on where methods differ: from 10 queries on
        ax.set_ylim(min(low_at_10) - 0.5, optimum + 0.3)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_training(run_dir: Path) -> Path:
    """training.png: supernet training loss and accuracy per epoch, one line per (seed, supernet)."""
    t = read_training(run_dir)
    fig = new_figure((9, 3.5))
    axes = fig.subplots(1, 2)
    colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
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
    return save_figure(fig, run_dir / "training.png")


def training_summary(run_dir: Path) -> tuple[float, float]:
    """(supernet training seconds summed over every supernet and seed, median images/s) from
    training.csv; NaN for runs without a supernet."""
    if not (run_dir / "training.csv").is_file():
        return float("nan"), float("nan")
    t = read_training(run_dir)
    return float(t.seconds.sum()), float(t.images_per_s.median())


def derived_summary(run_dir: Path) -> tuple[str, float]:
    """(derived cell(s), mean true accuracy over seeds) from derived.csv, or ('', nan)."""
    if not (run_dir / "derived.csv").is_file():
        return "", float("nan")
    d = read_derived(run_dir)
    return ";".join(dict.fromkeys(d.arch)), float(d.true_acc.mean())


def _run_extras(run_dir: Path) -> dict:
    """Columns read from a run's own files beside its metrics: the derived cell and supernet cost."""
    derived, derived_acc = derived_summary(run_dir)
    seconds, images_per_s = training_summary(run_dir)
    # what a search's queries answered: "<dataset> <metric> <epochs>ep, <trial>" (run.json: search.fitness)
    fit = (read_run_json(run_dir).get("search") or {}).get("fitness") or {}
    fitness = (f"{fit['dataset']} {fit['metric']} {fit['fidelity']}ep, "
               f"{'one random trial' if fit['answers'] == 'one random trial' else 'trial mean'}" if fit else "")
    return {"derived": derived, "derived_acc": derived_acc, "supernet_seconds": seconds,
            "supernet_images_per_s": images_per_s, "fitness": fitness}


def _row_header(run_dir: Path, m: pd.DataFrame) -> dict:
    r = m.iloc[0]
    # runs of one selector with different presets (rea naslib / nb201) are told apart by it
    preset = (read_run_json(run_dir).get("hparams") or {}).get("preset") or ""
    return {"run": str(run_dir), "bench": r.bench, "dataset": r.dataset, "acc_metric": r.acc_metric,
            "fidelity": int(r.fidelity), "selector": r.selector, "preset": preset}


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
        row.update(spearman_lo=lo, spearman_hi=hi, spearman_ci_kind="bootstrap")
        row.update(_run_extras(d))
        rows.append(row)
    return pd.DataFrame(rows)


def _search_columns(agg: pd.Series) -> dict:
    """The search view's columns of a summary row (empty for a run without a trajectory)."""
    from .metrics import SEARCH_QUERIES

    row = {}
    for q in SEARCH_QUERIES:
        name = f"best_test_at_q{q}"
        if f"{name}_mean" in agg:
            row[name] = agg[f"{name}_mean"]
            lo, hi = agg.get(f"{name}_ci_low", np.nan), agg.get(f"{name}_ci_high", np.nan)
            row[f"{name}_ci"] = f"[{lo:.2f}, {hi:.2f}]" if lo == lo else ""
            row[f"{name}_lo"], row[f"{name}_hi"] = lo, hi
    if "queries_used_mean" in agg:
        row["queries_used"] = agg["queries_used_mean"]
    if "queries_to_optimum_median" in agg:
        row["queries_to_optimum_median"] = agg["queries_to_optimum_median"]
        row["optimum_reached"] = agg["optimum_reached"]
    return row


def _cis(agg: pd.Series, first: pd.Series) -> dict:
    """95% CIs (``<metric>_lo``/``_hi``) of every summary metric: the t-interval over seeds when
    there are several, else the one seed's bootstrap (ρ and τ only; NaN for the others)."""
    out = {}
    for name in SUMMARY_METRICS:
        several = agg.get(f"{name}_ci_low", np.nan) == agg.get(f"{name}_ci_low", np.nan)
        src = agg if several else first
        out[f"{name}_lo"], out[f"{name}_hi"] = src.get(f"{name}_ci_low", np.nan), src.get(f"{name}_ci_high", np.nan)
        if name in ("spearman", "kendall"):
            out[f"{name}_ci_kind"] = "seeds" if several else "bootstrap"
    return out


def summarize(run_dirs: list[str | Path]) -> pd.DataFrame:
    """One row per run: mean over seeds of each summary metric, with its fidelity and n."""
    rows = []
    for d in run_dirs:
        _, m = _read(Path(d))
        agg = m[m.seed == "all"].set_index("metric").value
        per = m[m.seed != "all"]
        row = {**_row_header(Path(d), m), "seeds": per.seed.nunique(), "n_archs": int(per.n_archs.iloc[0]),
               "labels": int(m.labels.iloc[0]) if "labels" in m else 0}
        for name in SUMMARY_METRICS:
            row[name] = agg.get(f"{name}_mean", np.nan)
        row["pairwise_agreement"] = agg.get("pairwise_agreement_mean", np.nan)   # an aggregate's pairwise vote
        first = per[per.seed == per.seed.iloc[0]].set_index("metric").value
        row["spearman_ci"] = (f"[{first['spearman_ci_low']:.3f}, {first['spearman_ci_high']:.3f}]"
                              if "spearman_ci_low" in first else "")
        row.update(_cis(agg, first))
        row.update(_run_extras(Path(d)))
        row.update(_search_columns(agg))
        rows.append(row)
    return pd.DataFrame(rows)


def rho_compare_figure(table: pd.DataFrame):
    """Bars of each run's mean ρ, best first, with its 95% CI; a bar's label names the selector,
    the benchmark and column it was scored on, and n (NB-201 and NB-101 runs look alike otherwise)."""
    ranked = table[table.spearman.notna()].sort_values("spearman", ascending=False)
    fig = new_figure((max(4, 0.9 * len(ranked) + 2), 3.8))
    ax = fig.subplots()
    labels = [f"{display_name(r)}\n{r.bench} {r.dataset}\nn={r.n_archs}" for r in ranked.itertuples()]
    err = np.vstack([ranked.spearman - ranked.spearman_lo, ranked.spearman_hi - ranked.spearman]).clip(min=0)
    ax.bar(range(len(ranked)), ranked.spearman, yerr=np.nan_to_num(err), capsize=4, color="#4C72B0")
    ax.set_xticks(range(len(ranked)), labels, fontsize=7)
    ax.set_ylabel("Spearman ρ, mean over seeds")
    ax.set_title("whiskers: 95% CI (t over seeds; bootstrap over cells with one seed)", fontsize=8)
    ax.axhline(0, color="k", lw=0.6)
    fig.tight_layout()
    return fig


def report(run_dirs: list[str | Path], out: str | Path, *, common: bool = False, latex: bool = False) -> list[Path]:
    """summary.csv, summary.md, rho_compare.png and (for search runs) search_curves.png in ``out``,
    each figure also as a PDF; with ``latex``, ranking.tex and (for search runs) search.tex too (see
    ``report_latex``). The run folders themselves are only read. Every input is read and checked,
    and the table computed, before ``out`` is made: a bad input leaves nothing behind."""
    if not run_dirs:
        raise BenchsuiteError("report needs at least one run folder")
    run_dirs = [check_run(d) for d in run_dirs]
    table = summarize_common(run_dirs) if common else summarize(run_dirs)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "summary.csv", index=False)
    (out / "summary.md").write_text(markdown(table))
    written = [out / "summary.csv", out / "summary.md"]
    if latex:
        from .report_latex import write_latex

        written += write_latex(table, out)
    if table.spearman.notna().any():
        written.append(save_figure(rho_compare_figure(table), out / "rho_compare.png"))
    searched = [d for d in run_dirs if (d / "trajectory.csv").is_file()]
    if searched:
        written.append(plot_search(searched, out / "search_curves.png"))
    return with_pdfs(written)
