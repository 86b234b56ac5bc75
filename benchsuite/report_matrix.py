"""A suite's matrices, for studies that rank the same selectors against several accuracy columns
(the all-cell proxy study): ρ of each selector against each column, and the selectors' scores'
rank correlation with each other. Read from the leaderboard table and the runs' scores.csv only."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .report import new_figure, save_figure
from .report_inputs import read_run_json, read_scores


def column_label(r: dict) -> str:
    """A ranking column as a reader names it, with the images the scores saw where a shipped table
    answered them for another dataset (run.json: scores_from.images)."""
    label = f"{r['dataset']} {r['acc_metric']} {r['fidelity']}ep"
    images = (read_run_json(Path(r["run"])).get("scores_from") or {}).get("images")
    base = {"cifar10-valid": "cifar10", "imagenet16": "cifar100"}.get(r["dataset"], r["dataset"])
    return f"{label} ({images} images)" if images and images != base else label


def variant_labels(table: pd.DataFrame) -> list[str]:
    """Each row's selector, and where one selector ran with several settings (zico's two gradient
    samplings), the settings that set it apart, so that no variant hides behind another's name."""
    settings = []
    for r in table.to_dict("records"):
        hp = read_run_json(Path(r["run"])).get("hparams") or {}
        settings.append({k: v for k, v in hp.items() if k not in ("seed", "device")})
    labels = []
    for r, hp in zip(table.to_dict("records"), settings):
        others = [s for q, s in zip(table.to_dict("records"), settings) if q["selector"] == r["selector"]]
        differ = sorted(k for k in hp if any(s.get(k) != hp[k] for s in others))
        labels.append(f"{r['selector']} ({', '.join(f'{k}={hp[k]}' for k in differ)})" if differ else r["selector"])
    return labels


def rho_matrix(table: pd.DataFrame, labels: list[str] | None = None) -> pd.DataFrame:
    """Spearman ρ: one row per selector (per variant of its settings), one column per accuracy
    column (NaN where not run)."""
    ranked = table[table.spearman.notna()].copy()
    ranked["column"] = [column_label(r) for r in ranked.to_dict("records")]
    ranked["variant"] = labels if labels is not None else variant_labels(ranked)
    return ranked.pivot_table(index="variant", columns="column", values="spearman", aggfunc="first",
                              sort=False).rename_axis(index="selector")


def score_correlations(runs: dict[str, Path]) -> pd.DataFrame:
    """Spearman ρ between selectors' scores on the (arch, seed) pairs all of them scored; one run
    per selector (the scores do not depend on the accuracy column a run is ranked against)."""
    frames = {}
    for name, run in runs.items():
        s = read_scores(run)
        frames[name] = s.drop_duplicates(["arch", "seed"]).set_index(["arch", "seed"]).score
    joined = pd.DataFrame(frames).dropna()
    if joined.empty:
        return pd.DataFrame()
    out = joined.rank().corr()   # Spearman: Pearson of the ranks
    out.attrs["cells"] = len(joined)
    return out


def markdown(matrix: pd.DataFrame) -> list[str]:
    """A matrix as a markdown table, three decimals, blank where NaN."""
    head = ["| |" + "|".join(f" {c} " for c in matrix.columns) + "|", "|---|" + "---|" * matrix.shape[1]]
    return head + [f"| {i} |" + "|".join(f" {v:.3f} " if v == v else " " for v in row) + "|"
                   for i, row in zip(matrix.index, matrix.to_numpy(dtype=float))]


def plot_matrix(matrix: pd.DataFrame, path: Path, title: str, *, vmin: float = -1.0) -> Path:
    fig = new_figure(figsize=(1.1 * matrix.shape[1] + 3, 0.4 * matrix.shape[0] + 2))
    ax = fig.subplots()
    values = matrix.to_numpy(dtype=float)
    im = ax.imshow(values, cmap="RdBu_r", vmin=vmin, vmax=1.0, aspect="auto")
    ax.set_xticks(range(matrix.shape[1]), matrix.columns, rotation=40, ha="right", fontsize=7)
    ax.set_yticks(range(matrix.shape[0]), matrix.index, fontsize=7)
    for (i, j), v in np.ndenumerate(values):
        if v == v:
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6)
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.03)
    fig.tight_layout()
    return save_figure(fig, path, dpi=130)


def matrices(table: pd.DataFrame, out: Path) -> tuple[list[Path], list[str]]:
    """rho_matrix.csv/.png and score_correlation.csv/.png in ``out`` when the suite ranks on more
    than one accuracy column; the figures and the markdown that shows them."""
    ranked = table[table.spearman.notna()]
    labels = variant_labels(ranked)   # each row's run.json read once for both matrices
    rho = rho_matrix(table, labels)
    if rho.shape[1] < 2:
        return [], []
    rho.to_csv(out / "rho_matrix.csv")
    pngs = [plot_matrix(rho, out / "rho_matrix.png", "Spearman ρ: selector × accuracy column")]
    first = {}
    for r, label in zip(ranked.to_dict("records"), labels):
        first.setdefault(label, Path(r["run"]))
    md = ["## ρ of each selector against each accuracy column", "", *markdown(rho), ""]
    corr = score_correlations(first) if len(first) > 1 else pd.DataFrame()
    if not corr.empty:
        corr.to_csv(out / "score_correlation.csv")
        pngs.append(plot_matrix(corr, out / "score_correlation.png",
                                f"Spearman ρ between selectors' scores ({corr.attrs['cells']} cells)"))
        md += [f"## The selectors' scores against each other (Spearman ρ, {corr.attrs['cells']} (cell, seed) "
               "pairs all of them scored)", "", *markdown(corr), ""]
    return pngs, md
