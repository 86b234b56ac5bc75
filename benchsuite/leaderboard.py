"""The leaderboard of a suite folder: one summary of every row, beside the published values.

``benchsuite report DIR`` on a suite folder writes ``leaderboard.md``, ``leaderboard.csv``,
``leaderboard.html``, ``leaderboard.png`` (ρ per row, sorted, with its 95% CI and the published
value) and, when rows searched, ``search_curves_<bench>_<dataset>.png``; each figure also as a PDF.
Everything is read from the rows' CSVs and run.json files; published values come from the
package's own ``benchsuite/data/published.csv`` (value, paper, table or file, and the column and
cells they were measured on), so an installed benchsuite has them too.
"""
from __future__ import annotations

import html
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from . import metrics
from .errors import ConfigError
from .report import new_figure, plot_search, save_figure, summarize, with_pdfs
from .report_inputs import finished_rows, read_csv, read_run_json, read_suite
from .report_latex import query_columns
from .report_matrix import matrices

PUBLISHED_COLUMNS = ["selector", "bench", "dataset", "metric", "value", "measured_on", "source", "where"]
# Optional: the accuracy column a value was measured on (acc_metric test/valid, fidelity in epochs);
# a value that names them is printed beside the rows scored on that column only, blank = any column.
PUBLISHED_COLUMN_KEYS = ("acc_metric", "fidelity")


def read_published(path: str | Path | None = None) -> pd.DataFrame:
    """The published values: ``path`` (which must exist), else the package's own file (an empty
    table where an install lacks it)."""
    if path is not None:
        return _read_published(path)
    shipped = resources.files("benchsuite.data") / "published.csv"
    if not shipped.is_file():
        return pd.DataFrame(columns=PUBLISHED_COLUMNS)
    with resources.as_file(shipped) as local:   # a real file even where the package is zipped
        return _read_published(local)


def _read_published(path: str | Path) -> pd.DataFrame:
    pub = read_csv(path, "published values", PUBLISHED_COLUMNS, by_run=False, rows=False,
                   keys=("selector", "bench", "dataset", "metric"), numbers=("value",))
    for col in PUBLISHED_COLUMN_KEYS:
        if col not in pub:
            pub[col] = np.nan
    bad = pub.fidelity.notna() & pd.to_numeric(pub.fidelity, errors="coerce").isna()
    if bad.any():
        raise ConfigError(f"published values {path}: fidelity must be a number of epochs or empty, not "
                          f"{pub.fidelity[bad].iloc[0]!r} (row {int(bad.idxmax()) + 2})")
    pub["fidelity"] = pd.to_numeric(pub.fidelity)
    return pub


def _with_published(table: pd.DataFrame, pub: pd.DataFrame, metric: str) -> pd.DataFrame:
    """``table`` with the first published ``metric`` of each row's selector, bench and dataset whose
    column (acc_metric, fidelity), where the value names one, is the row's."""
    names = {"value": f"published_{metric}", "source": f"published_{metric}_source",
             "where": f"published_{metric}_where", "measured_on": f"published_{metric}_on"}
    keys = ["selector", "bench", "dataset"]
    p = pub[pub.metric == metric].rename(columns={k: f"pub_{k}" for k in PUBLISHED_COLUMN_KEYS})
    rows = table[keys + list(PUBLISHED_COLUMN_KEYS)].reset_index(names="_row").merge(p, on=keys)
    fits = np.ones(len(rows), dtype=bool)
    for k in PUBLISHED_COLUMN_KEYS:
        fits &= (rows[f"pub_{k}"].isna() | (rows[f"pub_{k}"] == rows[k])).to_numpy()
    first = rows[fits].drop_duplicates("_row").set_index("_row")[list(names)].rename(columns=names)
    return table.join(first).reindex(columns=[*table.columns, *names.values()])


def _extras(run_dir: Path) -> dict:
    """Seconds per scored cell (per query for a search that ranks nothing), from run.json."""
    run = read_run_json(run_dir)
    seeds = run.get("seeds", {}).values()
    cells = sum(s.get("n_scored", 0) for s in seeds) or sum(s.get("search", {}).get("queries_used", 0) for s in seeds)
    return {"seconds_per_cell": run.get("wall_time_s", np.nan) / cells if cells else np.nan}


def leaderboard_table(suite_dir: str | Path, published: str | Path | None = None) -> pd.DataFrame:
    """One row per finished suite row: its summary, seconds per cell and the published values."""
    rows = finished_rows(suite_dir)
    table = summarize(rows)
    table.insert(0, "row", [d.name for d in rows])
    extra = pd.DataFrame([_extras(d) for d in rows])
    table = pd.concat([table.reset_index(drop=True), extra], axis=1)
    pub = read_published(published)
    table = table.reset_index(drop=True)
    for metric in ("spearman", "kendall", "best_test_at_q100", "pairwise_agreement"):
        table = _with_published(table, pub, metric)
    return table


def _f(v, spec=".3f") -> str:
    return "" if v is None or v != v else format(v, spec)


class _Notes:
    """Numbered sources for the published values, listed once under the tables."""

    def __init__(self):
        self.items: dict[tuple, int] = {}

    def cite(self, r: dict, metric: str) -> str:
        v = r.get(f"published_{metric}")
        if v is None or v != v:
            return ""
        key = (r[f"published_{metric}_source"], r[f"published_{metric}_where"], r[f"published_{metric}_on"])
        n = self.items.setdefault(key, len(self.items) + 1)
        return f"{v:g} [{n}]"

    def lines(self) -> list[str]:
        if not self.items:
            return []
        return ["Published values:", ""] + [f"[{n}] {src}, {where}; measured on {on}."
                                            for (src, where, on), n in self.items.items()] + [""]


SHORT_NOTE = ("† the method spent fewer queries than q (the mean over seeds is in `queries_used`): the figure is its "
              "last incumbent, not an equal-budget one.")


def short_mark(r: dict, column: str) -> str:
    """"†" where ``column`` (best_test_at_q<N>) holds an incumbent from fewer than N queries."""
    return "†" if metrics.short_of(r.get("queries_used", float("nan")), int(column[len("best_test_at_q"):])) else ""


def _ci(v) -> str:
    return v if isinstance(v, str) else ""


def leaderboard_markdown(table: pd.DataFrame, title: str) -> str:
    notes = _Notes()
    md = [f"# {title}", "", "Generated by `benchsuite report` from the suite's run folders; every number is a mean "
          "over the row's seeds. ρ/τ CIs: 95% t-interval over seeds (bootstrap over cells when one seed). "
          "Published values carry their source and the column and cells they were measured on, which may "
          "differ from ours.", ""]
    for (bench, dataset, acc, fid), part in table.groupby(["bench", "dataset", "acc_metric", "fidelity"], sort=False):
        ranked = part[part.spearman.notna()].sort_values("spearman", ascending=False)
        if len(ranked):
            md += [f"## Ranking: {bench} {dataset}, {acc} accuracy after {fid} epochs", "",
                   "| # | row | selector | cells/seed | labels | seeds | ρ [95% CI] | τ [95% CI] | top-10 acc "
                   "| regret | derived acc | s/cell | supernet s | published ρ |",
                   "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
            for i, r in enumerate(ranked.to_dict("records"), 1):
                md.append(f"| {i} | {r['row']} | {r['selector']} | {r['n_archs']} | {r['labels']} | {r['seeds']} | "
                          f"{_f(r['spearman'])} [{_f(r['spearman_lo'])}, {_f(r['spearman_hi'])}] | "
                          f"{_f(r['kendall'])} [{_f(r['kendall_lo'])}, {_f(r['kendall_hi'])}] | "
                          f"{_f(r['top10_acc'], '.2f')} | {_f(r['regret'], '.2f')} | {_f(r['derived_acc'], '.2f')} | "
                          f"{_f(r['seconds_per_cell'], '.3g')} | {_f(r['supernet_seconds'], '.0f')} | "
                          f"{notes.cite(r, 'spearman')} |")
            md.append("")
            voted = ranked[ranked.pairwise_agreement.notna()] if "pairwise_agreement" in ranked else ranked.iloc[:0]
            if len(voted):
                md += ["Pairwise agreement: the share of ordered pairs of cells with different accuracy that a "
                       "majority of the selector's components orders as accuracy does (zero-cost-nas's measure "
                       "of its vote; not a rank correlation).", "",
                       "| row | selector | cells/seed | pairwise agreement | published |", "|---|---|---|---|---|"]
                md += [f"| {r['row']} | {r['selector']} | {r['n_archs']} | {_f(r['pairwise_agreement'], '.4f')} | "
                       f"{notes.cite(r, 'pairwise_agreement')} |" for r in voted.to_dict("records")]
                md.append("")
        qs = query_columns(part)
        searched = part[part[qs[0]].notna()] if qs else part.iloc[:0]
        if len(searched):
            key = "best_test_at_q100" if "best_test_at_q100" in searched else qs[0]
            searched = searched.sort_values(key, ascending=False)
            md += [f"## Search: {bench} {dataset}, {acc} accuracy of the best cell found by validation accuracy", "",
                   "| # | row | selector | seeds | labels | " + " | ".join(f"q={c[14:]}" for c in qs)
                   + " | queries to optimum (median) | reached | fitness | published q=100 |",
                   "|---|---|---|---|---|" + "---|" * (len(qs) + 4)]
            for i, r in enumerate(searched.to_dict("records"), 1):
                cells = " | ".join(f"{_f(r.get(c), '.2f')}{short_mark(r, c)} {_ci(r.get(c + '_ci'))}".strip()
                                   for c in qs)
                md.append(f"| {i} | {r['row']} | {r['selector']} | {r['seeds']} | {r['labels']} | {cells} | "
                          f"{_f(r.get('queries_to_optimum_median'), 'g')} | {_f(r.get('optimum_reached'), '.0%')} | "
                          f"{r.get('fitness') or ''} | {notes.cite(r, 'best_test_at_q100')} |")
            md.append("")
            if any(short_mark(r, c) for r in searched.to_dict("records") for c in qs):
                md += [SHORT_NOTE, ""]
    return "\n".join(md + notes.lines()) + "\n"


def plot_rho(table: pd.DataFrame, path: Path) -> Path | None:
    """Horizontal bars of ρ per row, best at the top, 95% CI whiskers, published ρ as a marker."""
    ranked = table[table.spearman.notna()].copy()
    if ranked.empty:
        return None
    ranked["label"] = [f"{r.row} ({r.bench} {r.dataset}, n={r.n_archs})" for r in ranked.itertuples()]
    ranked = ranked.sort_values("spearman")
    fig = new_figure((7.5, 0.38 * len(ranked) + 1.4))
    ax = fig.subplots()
    y = np.arange(len(ranked))
    err = np.vstack([ranked.spearman - ranked.spearman_lo, ranked.spearman_hi - ranked.spearman]).clip(min=0)
    ax.barh(y, ranked.spearman, xerr=np.nan_to_num(err), capsize=3, color="#4C72B0", alpha=0.85,
            label="ours, mean over seeds (95% CI)")
    if "published_spearman" in ranked and ranked.published_spearman.notna().any():
        ax.plot(ranked.published_spearman, y, "x", color="#C44E52", ms=8, mew=2, label="published")
    ax.set_yticks(y, ranked.label, fontsize=7)
    ax.set_xlabel("Spearman ρ between score and true accuracy")
    ax.axvline(0, color="k", lw=0.6)
    ax.set_title("Ranking: Spearman ρ per suite row", fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return save_figure(fig, path, dpi=130)


def leaderboard(suite_dir: str | Path, out: str | Path | None = None,
                published: str | Path | None = None) -> list[Path]:
    """leaderboard.csv/.md/.html/.png and search curves per column in ``out`` (default
    SUITE_DIR/leaderboard), each figure also as a PDF. Every input is read and checked before
    ``out`` is made."""
    suite_dir = Path(suite_dir)
    suite = read_suite(suite_dir)
    table = leaderboard_table(suite_dir, published)
    name = str((suite.get("suite") or {}).get("name") or suite_dir.name)
    out = Path(out) if out else suite_dir / "leaderboard"
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "leaderboard.csv", out / "leaderboard.md"]
    table.to_csv(written[0], index=False)
    md = leaderboard_markdown(table, f"Leaderboard: suite {name}")
    pngs = [p for p in (plot_rho(table, out / "leaderboard.png"),) if p]
    searched = [Path(r) for r in table.run if (Path(r) / "trajectory.csv").is_file()]
    for (bench, dataset), group in _by_column(searched).items():
        pngs.append(plot_search(group, out / f"search_curves_{bench}_{dataset}.png"))
    more, lines = matrices(table, out)   # a study over several accuracy columns: its matrices
    pngs += more
    md += "\n".join(lines) + "\n" + "\n".join(f"![{p.stem}]({p.name})" for p in pngs) + "\n"
    written[1].write_text(md)
    body = "\n".join(f'<img src="{p.name}" alt="{p.stem}" style="max-width:100%">' for p in pngs)
    (out / "leaderboard.html").write_text(
        f"<!doctype html><meta charset='utf-8'><title>{html.escape(name)}</title>"
        f"<style>body{{font-family:sans-serif;max-width:1100px;margin:auto}}table{{border-collapse:collapse;"
        f"font-size:13px}}td,th{{border:1px solid #ccc;padding:3px 6px}}</style>"
        f"<h1>Leaderboard: suite {html.escape(name)}</h1>{table.to_html(index=False, na_rep='', float_format='%.3f')}"
        f"{body}")
    return written + [out / "leaderboard.html"] + with_pdfs(pngs)


def _by_column(run_dirs: list[Path]) -> dict[tuple[str, str], list[Path]]:
    groups: dict[tuple[str, str], list[Path]] = {}
    for d in run_dirs:
        m = pd.read_csv(d / "metrics.csv", nrows=1)   # checked whole by leaderboard_table
        groups.setdefault((m.bench.iloc[0], m.dataset.iloc[0]), []).append(d)
    return groups
