"""Suites, the Dask engine, golden tables and `benchsuite check`, the leaderboard."""
import json
import shutil
import sys

import numpy as np
import pandas as pd
import pytest

from benchsuite.cli import main

pytestmark = pytest.mark.bundle   # CIFAR images or the bundle's own files (see conftest)

SUITE = """
[suite]
name = "tiny"
[defaults]
bench = "nb201"
dataset = "cifar10"
n_boot = 50
[[row]]
name = "params"
selector = "params"
sample = 300
seeds = [0, 1]
[[row]]
name = "rea"
selector = "rea"
queries = 60
seeds = "0-2"
[[row]]
name = "synflow"
selector = "synflow"
sample = 12
seeds = [0, 1]
hp = { share = false, C = 4, N = 1, batch_size = 8 }
[[row]]
name = "synflow-sharded"
selector = "synflow"
sample = 12
seeds = [0, 1]
shards = 3
hp = { share = false, C = 4, N = 1, batch_size = 8 }
"""


def _run_suite(root, name: str, engine: str, data_dir):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BENCHSUITE_DATA", str(data_dir))
        mp.setenv("BENCHSUITE_CACHE", str(root / f"cache-{name}"))
        assert main(["suite", "run", str(root / "tiny.toml"), "--out", str(root / name), "--engine", engine,
                     "--workers", "2"]) == 0
    return root / name


@pytest.fixture(scope="module")
def suites(tmp_path_factory, data_dir):
    """One tiny suite run serially and the same suite again serially, each with a fresh proxy cache so
    that nothing is served from another run. The Dask run is its own fixture (``dask_suite``): a
    cluster's start-up belongs in the slow set."""
    root = tmp_path_factory.mktemp("suites")
    (root / "tiny.toml").write_text(SUITE)
    return root, {name: _run_suite(root, name, "local", data_dir) for name in ("serial", "again")}


@pytest.fixture(scope="module")
def dask_suite(suites, data_dir):
    root, out = suites
    return _run_suite(root, "dask", "dask", data_dir)


def test_the_cli_draws_each_finished_row_after_the_suite(suites, tmp_path):
    """The engines draw nothing; `suite run` draws every row it finished, a merged sharded row too,
    unless --no-plots."""
    _, out = suites
    for row in ("params", "synflow", "synflow-sharded"):
        assert (out["serial"] / row / "scatter.png").is_file()
    assert (out["serial"] / "rea" / "search.png").is_file()
    assert not list((out["serial"] / "synflow-sharded" / "shards").rglob("*.png"))
    (tmp_path / "one.toml").write_text(SUITE.split("[[row]]")[0] + "[[row]]" + SUITE.split("[[row]]")[1])
    assert main(["suite", "run", str(tmp_path / "one.toml"), "--out", str(tmp_path / "s"), "--no-plots"]) == 0
    assert (tmp_path / "s" / "params" / "metrics.csv").is_file() and not list((tmp_path / "s").rglob("*.png"))


def _same(a, b, name, files=("metrics.csv", "scores.csv")):
    for f in files:
        assert (a / name / f).read_bytes() == (b / name / f).read_bytes(), f"{name}/{f} differs"


@pytest.mark.slow
def test_dask_engine_equals_the_serial_run_bit_for_bit(suites, dask_suite):
    _, out = suites
    for row in ("params", "synflow", "synflow-sharded"):
        _same(out["serial"], dask_suite, row)
        assert (dask_suite / row / "scatter.png").is_file()   # the CLI draws the rows a Dask engine finished
    _same(out["serial"], dask_suite, "rea", ("metrics.csv", "trajectory.csv"))
    assert json.loads((dask_suite / "suite.json").read_text())["engine"] == "dask"


def test_shards_merge_into_the_serial_order(suites):
    _, out = suites
    one, sharded = out["serial"] / "synflow", out["serial"] / "synflow-sharded"
    for f in ("scores.csv", "metrics.csv"):
        assert (one / f).read_bytes() == (sharded / f).read_bytes()
    serial = out["serial"]
    run = json.loads((serial / "synflow-sharded" / "run.json").read_text())
    assert len(run["shards"]) == 3 and run["seeds"]["0"]["n_scored"] == 12 and run["status"] == "complete"


def test_finished_rows_are_skipped_and_other_settings_refused(suites, capsys):
    root, out = suites
    before = (out["serial"] / "params" / "run.json").read_text()
    assert main(["suite", "run", str(root / "tiny.toml"), "--out", str(out["serial"])]) == 0
    assert (out["serial"] / "params" / "run.json").read_text() == before
    assert json.loads((out["serial"] / "suite.json").read_text())["skipped"] == ["params", "rea", "synflow",
                                                                                 "synflow-sharded"]
    (root / "other.toml").write_text(SUITE.replace("sample = 300", "sample = 200"))
    assert main(["suite", "run", str(root / "other.toml"), "--out", str(out["serial"])]) == 2
    assert "holds a run with different sample" in capsys.readouterr().err


def test_rows_runs_the_matching_rows_alone_and_the_leaderboard_covers_every_finished_one(tmp_path, capsys):
    """--rows: a big study runs in pieces; suite.json keeps every row (the leaderboard lists all that
    are finished) and records the selection; a pattern matching no row is a one-line error."""
    (tmp_path / "s.toml").write_text("[defaults]\nbench='nb201'\nn_boot=0\n" + "".join(
        f"[[row]]\nname='{n}'\nselector='{n.split('-')[0]}'\nsample=50\nseeds=[0]\n"
        for n in ("params-a", "flops-a", "params-b")))
    out = tmp_path / "o"
    assert main(["suite", "run", str(tmp_path / "s.toml"), "--out", str(out), "--rows", "params-*", "--no-plots"]) == 0
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["params-a", "params-b"]
    record = json.loads((out / "suite.json").read_text())
    assert record["rows"] == ["params-a", "flops-a", "params-b"] and record["selected"] == ["params-a", "params-b"]
    assert main(["suite", "run", str(tmp_path / "s.toml"), "--out", str(out), "--rows", "flops-a", "--no-plots"]) == 0
    assert json.loads((out / "suite.json").read_text())["skipped"] == ["params-a", "params-b"]
    capsys.readouterr()
    assert main(["report", str(out), "--out", str(tmp_path / "lb")]) == 0
    assert set(pd.read_csv(tmp_path / "lb" / "leaderboard.csv").row) == {"params-a", "flops-a", "params-b"}
    assert main(["suite", "run", str(tmp_path / "s.toml"), "--out", str(out), "--rows", "zen-*"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--rows zen-* matches no row of this suite; its rows: params-a, flops-a" in err[0]


@pytest.mark.parametrize("text, expect", [
    ("[[row]]\nname='a'\nselector='params'\nwidth=3\n", "unknown key width"),
    ("[[row]]\nname='a'\nselector='params'\n[[row]]\nname='a'\nselector='flops'\n", "duplicate row names a"),
    ("[[row]]\nname='a/b'\nselector='params'\n", "must be letters, digits"),
    ("[[row]]\nselector='params'\n", "every row needs a name and a selector"),
    ("[rows]\n", "unknown table rows"),
    ("[[row]\n", "is not valid TOML"),
    ("[suite]\nname='x'\n", "has no [[row]]"),
    ("[[row]]\nname='a'\nselector='params'\nsample=1\n", "--sample must be at least 2"),
    ("[[grid]]\nselector='params'\ncolumn.a={fidelity=12}\n", "grid 1: selector must be a non-empty list"),
    ("[[grid]]\nselector=['params']\nsample=50\n", "grid 1: needs column.<name>"),
    ("[[grid]]\nselector=['params']\ncolumn.a={sampel=3}\n", "grid 1 column a: unknown key sampel"),
    ("[[grid]]\nselector=['params']\nname='x'\ncolumn.a={}\n", "grid 1: a grid names its rows"),
    ("[grid]\nselector=['params']\n", "write [[grid]] (an array of tables)"),
    ("[[row]]\nname='params-a'\nselector='params'\n[[grid]]\nselector=['params']\ncolumn.a={}\n",
     "duplicate row names params-a"),
])
def test_bad_suite_files_are_one_line(text, expect, tmp_path, capsys):
    (tmp_path / "s.toml").write_text(text)
    assert main(["suite", "run", str(tmp_path / "s.toml"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and expect in err and not (tmp_path / "o").exists()


def test_a_grid_is_one_row_per_selector_and_column(tmp_path):
    """Rows, then each grid's rows selector by selector, named <selector>-<column>; a column's keys
    win over the grid's, the grid's over [defaults]."""
    from benchsuite.suite import load_suite

    (tmp_path / "g.toml").write_text(
        "[defaults]\nsample = 40\nfidelity = 200\n"
        "[[grid]]\nselector = ['synflow', 'params']\nsample = 30\n"
        "column.t200 = { acc = 'test' }\ncolumn.v12 = { acc = 'valid', fidelity = 12, sample = 20 }\n"
        "[[row]]\nname = 'alone'\nselector = 'flops'\n")
    _, rows = load_suite(tmp_path / "g.toml")
    assert [r.name for r in rows] == ["alone", "synflow-t200", "synflow-v12", "params-t200", "params-v12"]
    got = {r.name: (r.config.selector, r.config.acc, r.config.fidelity, r.config.sample) for r in rows}
    assert got == {"alone": ("flops", None, 200, 40), "synflow-t200": ("synflow", "test", 200, 30),
                   "synflow-v12": ("synflow", "valid", 12, 20), "params-t200": ("params", "test", 200, 30),
                   "params-v12": ("params", "valid", 12, 20)}


def test_check_passes_an_honest_rerun_and_fails_a_worse_one_or_changed_input(suites, tmp_path, capsys):
    root, out = suites
    gold = tmp_path / "gold.csv"
    assert main(["baseline", str(out["serial"]), "--out", str(gold)]) == 0
    text = gold.read_text()
    assert text.startswith(f"# made by: benchsuite baseline {out['serial']} --out {gold}\n# from a suite run made by:")
    table = pd.read_csv(gold, comment="#")
    assert set(table.direction[table.metric == "regret_mean"]) == {"lower"}
    assert set(table.rule[table.selector == "params"]) == {"exact"} and set(table.rule[table.selector == "synflow"]) \
        == {"max(floor, 3·SE over seeds)"}
    capsys.readouterr()
    assert main(["check", str(out["again"]), "--baseline", str(gold)]) == 0          # honest rerun
    assert "metrics checked" in capsys.readouterr().out

    worse = tmp_path / "worse"
    shutil.copytree(out["again"], worse)
    m = pd.read_csv(worse / "params" / "metrics.csv", dtype={"seed": str})
    m.loc[(m.seed == "all") & (m.metric == "spearman_mean"), "value"] -= 1e-6   # exact row: any drop fails
    m.to_csv(worse / "params" / "metrics.csv", index=False)
    assert main(["check", str(worse), "--baseline", str(gold)]) == 1
    report = capsys.readouterr().out
    assert "spearman_mean" in report and "worse" in report

    better = tmp_path / "better"
    shutil.copytree(out["again"], better)
    for row, metric, gain in (("params", "kendall_mean", 1e-3), ("synflow", "top10_acc_mean", -0.1)):
        m = pd.read_csv(better / row / "metrics.csv", dtype={"seed": str})
        m.loc[(m.seed == "all") & (m.metric == metric), "value"] += gain
        m.to_csv(better / row / "metrics.csv", index=False)
    assert main(["check", str(better), "--baseline", str(gold)]) == 0
    report = capsys.readouterr().out
    assert "better (stale golden)" in report and "within tolerance" in report   # torch row: 0.1 pp < 0.3 floor

    changed = tmp_path / "changed"
    shutil.copytree(out["again"], changed)
    s = (changed / "rea" / "run.json")
    run = json.loads(s.read_text())
    run["data"]["checksums"]["nb201/cifar10_200ep.csv"] = "0" * 64
    s.write_text(json.dumps(run))
    assert main(["check", str(changed), "--baseline", str(gold)]) == 2
    err = capsys.readouterr().err
    assert "inputs changed" in err and "rea: data_sha256 differ" in err


def test_leaderboard_renders_sorted_with_published_values(suites, tmp_path, capsys):
    _, out = suites
    pub = tmp_path / "published.csv"
    pub.write_text("selector,bench,dataset,metric,value,measured_on,source,where\n"
                   "synflow,nb201,cifar10,spearman,0.737,\"cifar10-valid test, 15,625 cells\",zero-cost-nas,Table 1\n")
    assert main(["report", str(out["serial"]), "--out", str(tmp_path / "lb"), "--published", str(pub)]) == 0
    md = (tmp_path / "lb" / "leaderboard.md").read_text()
    ranking = [line for line in md.splitlines() if line.startswith("| 1 |") or line.startswith("| 2 |")]
    assert "params" in ranking[0]   # sorted by ρ, best first
    assert "0.737 [1]" in md and "[1] zero-cost-nas, Table 1; measured on cifar10-valid test, 15,625 cells." in md
    assert "## Search: nb201 cifar10" in md and "| rea | rea | 3 |" in md
    # a value naming its accuracy column is printed beside rows scored on that column only
    pub.write_text(pub.read_text().replace("where\n", "where,acc_metric,fidelity\n")
                   + "params,nb201,cifar10,spearman,0.4321,valid column,paper X,Table 9,valid,200\n"
                   + "params,nb201,cifar10,kendall,0.1234,test column,paper Y,Table 2,test,200\n"
                   + "params,nb201,cifar10,kendall,0.5678,12-epoch column,paper Z,Table 3,test,12\n")
    assert main(["report", str(out["serial"]), "--out", str(tmp_path / "lb2"), "--published", str(pub)]) == 0
    lb = pd.read_csv(tmp_path / "lb2" / "leaderboard.csv").set_index("row")
    assert np.isnan(lb.loc["params", "published_spearman"]) and lb.loc["params", "published_kendall"] == 0.1234
    assert lb.loc["synflow", "published_spearman"] == 0.737   # names no column: beside any
    for f in ("leaderboard.png", "leaderboard.html", "leaderboard.csv", "search_curves_nb201_cifar10.png"):
        assert (tmp_path / "lb" / f).stat().st_size > 500
    assert "# Leaderboard: suite tiny" in capsys.readouterr().out


@pytest.mark.parametrize("path", sorted(str(p) for p in __import__("pathlib").Path(__file__).resolve().parents[1]
                                        .joinpath("benchmarks").glob("*.toml")))
def test_committed_suites_are_valid(path):
    """Every committed suite parses and every row names a known selector with known hyperparameters."""
    from benchsuite.runner import _check_hparams
    from benchsuite.selectors.registry import SELECTORS
    from benchsuite.suite import load_suite

    meta, rows = load_suite(path)
    assert meta["name"] and rows
    for row in rows:
        _check_hparams(row.config, SELECTORS.get(row.config.selector))


def test_suite_refusals_name_the_culprit_and_leave_nothing(tmp_path, capsys, monkeypatch):
    bad = tmp_path / "bad.toml"
    bad.write_text('[suite]\nname = "b"\n[defaults]\nsampel = 20\n[[row]]\nname = "p"\nselector = "params"\n')
    assert main(["suite", "run", str(bad), "--out", str(tmp_path / "s1")]) == 2
    err = capsys.readouterr().err
    assert "bad.toml [defaults]: unknown key sampel" in err and "row 1" not in err
    good = tmp_path / "good.toml"
    good.write_text('[suite]\nname = "g"\n[[row]]\nname = "p"\nselector = "params"\nsample = 20\n')
    monkeypatch.setitem(sys.modules, "distributed", None)   # the dask extra not installed
    assert main(["suite", "run", str(good), "--out", str(tmp_path / "s2"), "--engine", "dask"]) == 2
    assert "needs the optional extra" in capsys.readouterr().err
    assert not (tmp_path / "s1").exists() and not (tmp_path / "s2").exists()   # no suite.json left behind
