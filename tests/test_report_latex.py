"""`report(..., latex=True)`: booktabs tables of the ranking and search runs, one row per run, each
metric with the CI its run's metrics.csv holds, names escaped, one table per scored column."""
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchsuite.cli import main
from benchsuite.report import report
from benchsuite.report_latex import escape
from benchsuite.selectors.base import Selector
from benchsuite.selectors.registry import SELECTORS

ODD = "my_proxy_50%&co"   # a third-party selector's name with the characters LaTeX reads as commands


class _OddName(Selector):
    """A deterministic score from the cell's string: a real (if poor) selector with an odd name."""

    uses_torch = False

    def score(self, archs, ctx):
        return np.array([float(sum(map(ord, str(a))) % 97) for a in archs])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Quick real runs from the embedded tables: on NB-201 CIFAR-10, params and the odd-named
    selector over two seeds, flops over one, a random search over two; params on NB-101 once."""
    root = tmp_path_factory.mktemp("latex")
    common = ["--n-boot", "50", "--no-plots"]
    with pytest.MonkeyPatch.context() as mp, SELECTORS.temporary(ODD, _OddName):
        mp.setenv("BENCHSUITE_CACHE", str(root / "cache"))
        mp.setenv("BENCHSUITE_OFFLINE", "1")
        for name, args in (("params", ["--selector", "params", "--sample", "50", "--seeds", "0,1"]),
                           ("odd", ["--selector", ODD, "--sample", "50", "--seeds", "0,1"]),
                           ("flops", ["--selector", "flops", "--sample", "50", "--seeds", "0"]),
                           ("rs", ["--selector", "random-search", "--queries", "20", "--seeds", "0,1"]),
                           ("p101", ["--bench", "nb101", "--selector", "params", "--sample", "50", "--seeds", "0"])):
            assert main(["run", *args, "--out", str(root / name), *common]) == 0
    return root


def _tables(text: str) -> list[str]:
    tables = re.findall(r"\\begin\{table\}.*?\\end\{table\}", text, re.S)
    assert text.count(r"\begin{table}") == len(tables) == text.count(r"\end{table}")
    return tables


def _body(table: str) -> tuple[int, str, list[str]]:
    """(columns, header row, body rows) of one booktabs table, checking its structure on the way."""
    assert table.count(r"\toprule") == table.count(r"\midrule") == table.count(r"\bottomrule") == 1
    assert table.index(r"\toprule") < table.index(r"\midrule") < table.index(r"\bottomrule")
    spec = re.search(r"\\begin\{tabular\}\{([lrc]+)\}", table).group(1)
    head = table.split(r"\toprule")[1].split(r"\midrule")[0].strip()
    rows = [r.strip() for r in table.split(r"\midrule")[1].split(r"\bottomrule")[0].strip().splitlines()]
    for row in [head, *rows]:
        assert row.endswith(r"\\") and len(re.findall(r"(?<!\\)&", row)) == len(spec) - 1, row
    return len(spec), head, rows


def _balanced(text: str) -> bool:
    depth = 0
    for ch in re.sub(r"\\[{}]", "", text):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def _cells(row: str) -> list[str]:
    """A body row's cells with bold removed."""
    return [re.sub(r"\\textbf\{([^}]*)\}", r"\1", c).strip() for c in row.removesuffix(r"\\").split(" & ")]


def _bold(row: str) -> list[bool]:
    return [c.strip().startswith(r"\textbf{") for c in row.split(" & ")]


def _agg(run: Path, metric: str) -> float:
    m = pd.read_csv(run / "metrics.csv", dtype={"seed": str})
    return m[(m.seed == "all") & (m.metric == metric)].value.item()


def _seed(run: Path, metric: str, seed: str = "0") -> float:
    m = pd.read_csv(run / "metrics.csv", dtype={"seed": str})
    return m[(m.seed == seed) & (m.metric == metric)].value.item()


def _num(value: float, spec: str) -> str:
    return f"{value:{spec}}".replace("-", "$-$")   # a minus sign, not a hyphen


def _ci(value: float, lo: float, hi: float, spec: str) -> str:
    return f"{_num(value, spec)} {{\\scriptsize [{_num(lo, spec)}, {_num(hi, spec)}]}}"


def test_escape_makes_every_special_character_literal():
    assert escape("a_b%c&d#e$f{g}h") == r"a\_b\%c\&d\#e\$f\{g\}h"
    assert escape("x~y^z\\w") == r"x\textasciitilde{}y\textasciicircum{}z\textbackslash{}w"
    assert escape("plain-name (nb201)") == "plain-name (nb201)"


def test_ranking_and_search_tables(runs, tmp_path):
    names = ["params", "odd", "flops", "rs", "p101"]
    written = report([runs / n for n in names], tmp_path / "rep", latex=True)
    assert {tmp_path / "rep" / "ranking.tex", tmp_path / "rep" / "search.tex"} <= set(written)
    ranking = (tmp_path / "rep" / "ranking.tex").read_text()
    assert _balanced(ranking) and "\t" not in ranking

    nb201, nb101 = _tables(ranking)   # one table per scored column, in the order the runs came
    assert r"\label{tab:ranking-nb201-cifar10-test-200}" in nb201 and r"\label{tab:ranking-nb101-cifar10-valid-108}" \
        in nb101
    caption = re.search(r"\\caption\{(.*)\}\n\\label", nb201, re.S).group(1)
    assert "nb201 cifar10, test accuracy after 200 epochs" in caption and "50 cells per seed" in caption
    assert "1--2 seeds" in caption and "95\\% CI" in caption

    columns, head, rows = _body(nb201)
    assert columns == 5 and head.startswith(r"Selector & Spearman $\rho$ & Kendall $\tau$")
    assert len(rows) == 3   # params, the odd name, flops: the search ranks nothing
    by_name = {_cells(r)[0]: r for r in rows}
    odd = r"my\_proxy\_50\%\&co"
    assert set(by_name) == {"params", odd, "flops"}
    rhos = {"params": _agg(runs / "params", "spearman_mean"), odd: _agg(runs / "odd", "spearman_mean"),
            "flops": _seed(runs / "flops", "spearman")}
    assert list(by_name) == sorted(rhos, key=rhos.get, reverse=True)   # best ρ first

    # Two seeds: every metric with its t-interval over seeds from metrics.csv.
    metrics = (("spearman", ".3f"), ("kendall", ".3f"), ("top10_acc", ".2f"), ("regret", ".2f"))
    assert _cells(by_name["params"])[1:] == [_ci(*(_agg(runs / "params", f"{m}_{s}") for s in ("mean", "ci_low",
                                                                                                "ci_high")), spec)
                                             for m, spec in metrics]
    # One seed: ρ and τ with that seed's bootstrap CI, top-10 accuracy and regret bare.
    flops = _cells(by_name["flops"])
    assert flops[1:3] == [_ci(*(_seed(runs / "flops", f"{m}{s}") for s in ("", "_ci_low", "_ci_high")), ".3f")
                          for m in ("spearman", "kendall")]
    assert flops[3:] == [_num(_seed(runs / "flops", "top10_acc"), ".2f"), _num(_seed(runs / "flops", "regret"), ".2f")]
    # The best value of each column is bold, the others not (lower is better for regret).
    for i, (metric, _) in enumerate(metrics, 1):
        values = {n: float(_cells(r)[i].split(" ")[0].replace("$-$", "-")) for n, r in by_name.items()}
        best = (min if metric == "regret" else max)(values.values())
        assert {n: _bold(r)[i] for n, r in by_name.items()} == {n: v == best for n, v in values.items()}

    assert len(_body(nb101)[2]) == 1

    search = (tmp_path / "rep" / "search.tex").read_text()
    assert _balanced(search)
    (table,) = _tables(search)
    assert r"\label{tab:search-nb201-cifar10-test-200}" in table
    columns, head, rows = _body(table)
    assert head.split(" & ")[1] == "$q=10$" and len(rows) == 1
    cells = _cells(rows[0])
    assert cells[0] == "random-search"
    assert cells[1] == _ci(_agg(runs / "rs", "best_test_at_q10_mean"),
                                   _agg(runs / "rs", "best_test_at_q10_ci_low"),
                                   _agg(runs / "rs", "best_test_at_q10_ci_high"), ".2f")
    reached = _agg(runs / "rs", "optimum_reached")
    assert cells[-1] == f"{reached:.0%}".replace("%", r"\%")


def test_without_latex_no_tex_and_without_searches_no_search_table(runs, tmp_path):
    plain = report([runs / "params", runs / "rs"], tmp_path / "plain")
    assert not list((tmp_path / "plain").glob("*.tex")) and not [p for p in plain if p.suffix == ".tex"]
    written = report([runs / "params", runs / "flops"], tmp_path / "ranks", latex=True)
    assert (tmp_path / "ranks" / "ranking.tex") in written and not (tmp_path / "ranks" / "search.tex").exists()


def test_common_cells_table_has_the_bootstrap_ci_it_computed(runs, tmp_path):
    report([runs / "params", runs / "flops"], tmp_path / "c", common=True, latex=True)
    summary = pd.read_csv(tmp_path / "c" / "summary.csv")
    (table,) = _tables((tmp_path / "c" / "ranking.tex").read_text())
    _, _, rows = _body(table)
    for r in summary.itertuples():
        cells = next(_cells(x) for x in rows if x.startswith(f"{r.selector} & "))
        assert cells[1] == _ci(r.spearman, r.spearman_lo, r.spearman_hi, ".3f")
        assert cells[2] == _num(r.kendall, ".3f")   # τ has no CI on the shared cells


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_the_tables_compile(runs, tmp_path):
    report([runs / "params", runs / "odd", runs / "rs"], tmp_path, latex=True)
    (tmp_path / "doc.tex").write_text("\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n"
                                      "\\input{ranking.tex}\n\\input{search.tex}\n\\end{document}\n")
    r = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-2000:]
    assert (tmp_path / "doc.pdf").stat().st_size > 1000


def test_the_command_line_writes_latex_and_refuses_it_for_a_leaderboard(runs, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["report", str(runs / "params"), str(runs / "flops"), "--out", str(out), "--format", "latex"]) == 0
    tex = (out / "ranking.tex").read_text()
    assert "\\toprule" in tex and "\\bottomrule" in tex and (out / "rho_compare.pdf").is_file()
    assert main(["report", str(runs / "params"), "--out", str(tmp_path / "md")]) == 0
    assert not list((tmp_path / "md").glob("*.tex"))
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "suite.json").write_text("{}")
    assert main(["report", str(suite), "--format", "latex"]) == 2
    assert "--format latex" in capsys.readouterr().err
