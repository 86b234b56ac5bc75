"""A report's tables as text: summary.md's Markdown, and the LaTeX of ``benchsuite report
--format latex``, ready to ``\\input`` in a paper.

``ranking.tex`` holds one table per column the runs were scored on (benchmark, dataset, accuracy
metric, fidelity), one row per run, best ρ first; ``search.tex`` the same for search runs, best at
100 queries first. Each metric is the mean over seeds with its 95% CI in small type beside it; the
best value of a column is bold. The tables use booktabs (``\\usepackage{booktabs}``) and nothing
else beyond LaTeX itself. Everything comes from the summary table that ``report.summarize`` reads
from the runs' CSVs.
"""
from __future__ import annotations

import math
import numbers
import re
from pathlib import Path

import pandas as pd

from . import metrics

# (column, header, format, which way is better) of the ranking table.
RANKING = (("spearman", r"Spearman $\rho$", ".3f", "higher"), ("kendall", r"Kendall $\tau$", ".3f", "higher"),
           ("top10_acc", r"Top-10 acc.\ (\%)", ".2f", "higher"), ("regret", r"Regret (pp)", ".2f", "lower"))
_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
            "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
COLUMN = ["bench", "dataset", "acc_metric", "fidelity"]


def display_name(row) -> str:
    """A summary row's selector as tables and legends show it: with its preset, if it has one."""
    get = row.get if isinstance(row, dict) else lambda k, d=None: getattr(row, k, d)
    preset = get("preset", "")
    return f"{get('selector')} ({preset})" if isinstance(preset, str) and preset else get("selector")


def query_columns(table: pd.DataFrame) -> list[str]:
    """The search view's ``best_test_at_q<N>`` columns of a summary table, fewest queries first."""
    return [c for c in table.columns if re.fullmatch(r"best_test_at_q\d+", c)]


def _fmt(v, spec: str) -> str:
    return "" if v is None or v != v else format(v, spec)


def markdown(table: pd.DataFrame) -> str:
    """summary.md: the ranking table, then (when any run searched) the search table."""
    md = ["| selector | bench | dataset | acc | epochs | n | labels | seeds | ρ | ρ CI (first seed) | τ | top-10 acc "
          "| regret | derived cell acc | supernet s (img/s) |",
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        if r.spearman != r.spearman and r.top10_acc != r.top10_acc:
            continue   # a search method ranks nothing
        trained = (f"{r.supernet_seconds:.0f} ({r.supernet_images_per_s:.0f})"
                   if r.supernet_seconds == r.supernet_seconds else "")
        md.append(f"| {display_name(r)} | {r.bench} | {r.dataset} | {r.acc_metric} | {r.fidelity} | {r.n_archs} | "
                  f"{getattr(r, 'labels', 0)} | {r.seeds} | {r.spearman:.3f} | {r.spearman_ci} | {r.kendall:.3f} | "
                  f"{r.top10_acc:.2f} | {r.regret:.2f} | {_fmt(r.derived_acc, '.2f')} | {trained} |")
    qs = query_columns(table)
    if qs:
        md += ["", "Search: accuracy (the acc column) of the best cell found by validation accuracy, mean over seeds "
               "[95% t-CI]; queries until that cell is the column's optimum (median over seeds; inf: not "
               "reached by half of them) and the share of seeds that reached it.", "",
               "| selector | bench | dataset | acc | seeds | labels | " + " | ".join(
                   f"q={c[len('best_test_at_q'):]}" for c in qs) + " | queries to optimum | reached |",
               "|---|---|---|---|---|---|" + "---|" * (len(qs) + 2)]
        marked = False
        for r in table.to_dict("records"):
            if r.get(qs[0]) != r.get(qs[0]):
                continue
            marks = {c: "†" if metrics.short_of(r.get("queries_used", float("nan")), int(c[14:])) else "" for c in qs}
            marked = marked or any(marks.values())
            cells = " | ".join(f"{_fmt(r.get(c), '.2f')}{marks[c]} {r.get(c + '_ci', '')}".strip() for c in qs)
            md.append(f"| {display_name(r)} | {r['bench']} | {r['dataset']} | {r['acc_metric']} | {r['seeds']} | "
                      f"{r.get('labels', 0)} | {cells} | {_fmt(r.get('queries_to_optimum_median'), 'g')} | "
                      f"{_fmt(r.get('optimum_reached'), '.0%')} |")
        if marked:
            md += ["", "† fewer queries spent than q (mean over seeds: `queries_used` in summary.csv): the figure "
                   "is the method's last incumbent, not an equal-budget one."]
    return "\n".join(md) + "\n"


def escape(text) -> str:
    """``text`` as LaTeX prints it literally: its special characters escaped."""
    return "".join(_SPECIAL.get(ch, ch) for ch in str(text))


def _finite(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


def cell(value, lo, hi, spec: str, *, bold: bool = False) -> str:
    """``0.752 {\\scriptsize [0.745, 0.759]}``; the value alone where there is no CI, ``--`` where
    there is no value."""
    if not _finite(value):
        return "--"
    text = rf"\textbf{{{number(value, spec)}}}" if bold else number(value, spec)
    if _finite(lo) and _finite(hi):
        text += rf" {{\scriptsize [{number(lo, spec)}, {number(hi, spec)}]}}"
    return text


def number(value, spec: str) -> str:
    """``value`` formatted, with a typeset minus sign rather than a hyphen."""
    return format(value, spec).replace("-", "$-$")


def _best(values: pd.Series, way: str) -> float:
    """The best finite value of a column, NaN when there is none or only one row to compare."""
    finite = values[[_finite(v) for v in values]]
    if len(values) < 2 or finite.empty:
        return math.nan
    return float(finite.max() if way == "higher" else finite.min())


def _name(row: dict) -> str:
    return escape(display_name(row))


def _span(values, noun: str) -> str:
    """``50 cells`` or ``40--50 cells`` over the rows of a table."""
    lo, hi = int(min(values)), int(max(values))
    return f"{lo} {noun}" if lo == hi else f"{lo}--{hi} {noun}"


def _label(kind: str, key: tuple) -> str:
    return f"tab:{kind}-" + "-".join(re.sub(r"[^a-z0-9]+", "", str(k).lower()) for k in key)


def _table(caption: str, label: str, header: list[str], rows: list[list[str]]) -> str:
    lines = [r"\begin{table}[t]", r"\centering", r"\small", rf"\caption{{{caption}}}", rf"\label{{{label}}}",
             rf"\begin{{tabular}}{{l{'r' * (len(header) - 1)}}}", r"\toprule", " & ".join(header) + r" \\",
             r"\midrule", *(" & ".join(r) + r" \\" for r in rows), r"\bottomrule", r"\end{tabular}",
             r"\end{table}"]
    return "\n".join(lines) + "\n"


def _where(key: tuple) -> str:
    bench, dataset, acc, fidelity = key
    return f"{escape(bench)} {escape(dataset)}, {escape(acc)} accuracy after {int(fidelity)} epochs"


def ranking_latex(table: pd.DataFrame) -> str:
    """One booktabs table per column of the runs that rank cells ("" when none does)."""
    ranked = table[table.spearman.notna() | table.top10_acc.notna()]
    out = []
    for key, part in ranked.groupby(COLUMN, sort=False):
        part = part.sort_values("spearman", ascending=False, na_position="last")
        cols = [c for c in RANKING if c[0] in part]
        best = {c: _best(part[c], way) for c, _, _, way in cols}
        rows = [[_name(r), *(cell(r[c], r.get(f"{c}_lo"), r.get(f"{c}_hi"), spec, bold=r[c] == best[c])
                             for c, _, spec, _ in cols)] for r in part.to_dict("records")]
        caption = (f"Ranking on {_where(key)}: {_span(part.n_archs, 'cells')} per seed, "
                   f"{_span(part.seeds, 'seeds')}. Mean over seeds with its 95\\% CI in brackets (t-interval "
                   "over seeds; for a run with one seed, a bootstrap over its cells, for $\\rho$ and $\\tau$ "
                   "only). Top-10 acc.: true accuracy of the best of the 10 best-scored cells; regret: the best "
                   "accuracy among the cells minus that of the best-scored one. Best in bold.")
        out.append(_table(caption, _label("ranking", key), ["Selector", *(h for _, h, _, _ in cols)], rows))
    return "\n".join(out)


def _queries(v) -> str:
    if not isinstance(v, numbers.Real) or v != v:
        return "--"
    return r"$\infty$" if math.isinf(v) else format(v, "g")


def search_latex(table: pd.DataFrame) -> str:
    """One booktabs table per column of the search runs ("" when there are none)."""
    qs = query_columns(table)
    searched = table[table[qs].notna().any(axis=1)] if qs else table.iloc[:0]
    out = []
    for key, part in searched.groupby(COLUMN, sort=False):
        shown = [c for c in qs if part[c].notna().any()]
        first = "best_test_at_q100" if "best_test_at_q100" in shown else shown[-1]
        part = part.sort_values(first, ascending=False, na_position="last")
        best = {c: _best(part[c], "higher") for c in shown}
        rows = []
        for r in part.to_dict("records"):
            reached = r.get("optimum_reached")
            rows.append([_name(r), *(cell(r[c], r.get(f"{c}_lo"), r.get(f"{c}_hi"), ".2f", bold=r[c] == best[c])
                                     for c in shown),
                         _queries(r.get("queries_to_optimum_median")),
                         f"{reached:.0%}".replace("%", r"\%") if _finite(reached) else "--"])
        header = ["Selector", *(f"$q={c[len('best_test_at_q'):]}$" for c in shown), "Queries to opt.", "Reached"]
        caption = (f"Search on {_where(key)}: accuracy (\\%) of the best cell found by validation accuracy after "
                   f"$q$ benchmark queries, mean over {_span(part.seeds, 'seeds')} with its 95\\% t-interval in "
                   "brackets; queries until that cell is the column's optimum (median over seeds; $\\infty$: not "
                   "reached by half of them) and the share of seeds that reached it. Best in bold.")
        out.append(_table(caption, _label("search", key), header, rows))
    return "\n".join(out)


def write_latex(table: pd.DataFrame, out: Path) -> list[Path]:
    """ranking.tex and, where runs searched, search.tex in ``out``; the files written."""
    written = []
    for name, text in (("ranking.tex", ranking_latex(table)), ("search.tex", search_latex(table))):
        if text:
            (out / name).write_text(text)
            written.append(out / name)
    return written
