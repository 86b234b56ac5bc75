"""`check`, `report` and `baseline` on bad inputs: exit 2 with one line naming the file and what is
wrong, nothing written; exit 1 only for a metric that got worse. And what the report's plots say:
the benchmark in rho_compare's labels, search bands inside the seeds' range, rho.png's legend off
the data, ρ and n in the scatter's title."""
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from benchsuite.cli import main

SUITE = """
[suite]
name = "tiny"
[defaults]
n_boot = 20
[[row]]
name = "p"
selector = "params"
sample = 40
seeds = [0, 1]
[[row]]
name = "p101"
bench = "nb101"
selector = "params"
sample = 40
seeds = [0]
[[row]]
name = "rs"
selector = "random-search"
queries = 20
seeds = [0, 1, 2]
"""
GARBAGE = bytes(range(256)) * 2   # not UTF-8, not a CSV


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A finished tiny suite (NB-201 and NB-101 params, a random search) and its golden table; the
    tables come from the package's embedded copies, so no bundle is needed."""
    root = tmp_path_factory.mktemp("made")
    (root / "tiny.toml").write_text(SUITE)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BENCHSUITE_CACHE", str(root / "cache"))
        mp.setenv("BENCHSUITE_OFFLINE", "1")
        assert main(["suite", "run", str(root / "tiny.toml"), "--out", str(root / "suite")]) == 0
        assert main(["baseline", str(root / "suite"), "--out", str(root / "gold.csv")]) == 0
    return root


@pytest.fixture
def work(made, tmp_path, monkeypatch):
    """A private copy of the suite and golden table, in a folder that is also the working directory
    (so the default output folder, results/report, would land in it)."""
    shutil.copytree(made / "suite", tmp_path / "suite")
    shutil.copyfile(made / "gold.csv", tmp_path / "gold.csv")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _one_line_error(capsys, *names) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("benchsuite: error: ") and "\n" not in err, err
    assert "Traceback" not in err
    for name in names:
        assert name in err, err
    return err


def _cut(path: Path, keep: float) -> None:
    text = path.read_text()
    path.write_text(text[:int(len(text) * keep)])


def _cut_at_line(path: Path, keep: float) -> None:
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:int(len(lines) * keep)]))


# ----------------------------------------------------------------------------- check
def _gold_with(gold: Path, col: str, value: str) -> str:
    """The golden table with one cell of its first row replaced."""
    table = pd.read_csv(gold, comment="#", dtype=str)
    table.loc[0, col] = value
    return table.to_csv(index=False)


@pytest.mark.parametrize("make, expect", [
    (lambda gold: "row,metric,value\np,spearman_mean,0.5\n", "lacks the columns"),
    (lambda gold: GARBAGE, "is not a readable CSV file"),
    (lambda gold: "", "is empty"),
    (lambda gold: "# a comment only\n", "is empty"),
    (lambda gold: "".join(gold.read_text().splitlines(keepends=True)[:3]), "has a header but no rows"),
    (lambda gold: _gold_with(gold, "direction", "sideways"), "direction must be higher or lower"),
    (lambda gold: _gold_with(gold, "value", "abc"), "has a value that is not a number"),
    (lambda gold: _gold_with(gold, "tolerance", ""), "has no tolerance"),
], ids=["other-columns", "garbage", "empty", "comment-only", "header-only", "direction", "value", "tolerance"])
def test_check_on_a_bad_baseline_is_exit_2_naming_it(work, capsys, make, expect):
    bad = work / "bad.csv"
    content = make(work / "gold.csv")
    bad.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert main(["check", str(work / "suite"), "--baseline", str(bad)]) == 2
    _one_line_error(capsys, str(bad), expect)


@pytest.mark.parametrize("suite, expect", [
    ("missing", "no such folder"),
    ("empty", "is not a suite folder"),
    ("unfinished", "has no finished rows"),
])
def test_check_on_a_folder_that_is_no_finished_suite_says_so(work, capsys, suite, expect):
    if suite == "empty":
        (work / "empty").mkdir()
    if suite == "unfinished":
        for row in ("p", "p101", "rs"):
            (work / "suite" / row / "metrics.csv").unlink()
    folder = {"missing": work / "nothere", "empty": work / "empty", "unfinished": work / "suite"}[suite]
    assert main(["check", str(folder), "--baseline", str(work / "gold.csv")]) == 2
    _one_line_error(capsys, str(folder), expect)


def test_check_on_a_garbled_row_is_exit_2_not_worse(work, capsys):
    metrics = work / "suite" / "p" / "metrics.csv"
    metrics.write_bytes(GARBAGE)
    assert main(["check", str(work / "suite"), "--baseline", str(work / "gold.csv")]) == 2
    _one_line_error(capsys, str(metrics), "not a readable CSV file")


def test_check_on_a_cut_off_row_is_exit_2_not_worse(work, capsys):
    metrics = work / "suite" / "p" / "metrics.csv"
    _cut_at_line(metrics, 0.95)   # whole lines: the last aggregates are gone, nothing else tells
    assert main(["check", str(work / "suite"), "--baseline", str(work / "gold.csv")]) == 2
    _one_line_error(capsys, str(metrics), "is incomplete")


# ----------------------------------------------------------------------------- report
@pytest.mark.parametrize("folder", ["nothere", "empty"])
def test_report_on_a_missing_or_empty_folder_leaves_no_output_folder(work, capsys, folder):
    (work / "empty").mkdir()
    assert main(["report", str(work / folder)]) == 2
    _one_line_error(capsys, str(work / folder))
    assert not (work / "results").exists()


@pytest.mark.parametrize("damage, expect", [
    (lambda p: _cut(p, 1 / 3), "cut off"),                      # mid-line
    (lambda p: _cut_at_line(p, 1 / 3), "is incomplete"),        # at a line boundary: no aggregates
    (lambda p: p.write_bytes(GARBAGE), "not a readable CSV file"),
    (lambda p: p.write_text("a,b\n1,2\n"), "lacks the columns"),
    (lambda p: p.write_text(""), "is empty"),
], ids=["cut-mid-line", "cut-at-line", "garbage", "other-columns", "empty"])
def test_report_on_a_damaged_metrics_file_is_one_line(work, capsys, damage, expect):
    run = work / "suite" / "p"
    damage(run / "metrics.csv")
    assert main(["report", str(run), "--out", str(work / "rep")]) == 2
    _one_line_error(capsys, str(run / "metrics.csv"), expect)
    assert not (work / "rep").exists()


@pytest.mark.parametrize("name", ["trajectory.csv", "run.json"])
def test_report_on_a_damaged_search_file_is_one_line(work, capsys, name):
    run = work / "suite" / "rs"
    (run / name).write_bytes(GARBAGE)
    assert main(["report", str(run), "--out", str(work / "rep")]) == 2
    _one_line_error(capsys, str(run / name))
    assert not (work / "rep").exists()


def test_report_common_with_nothing_shared_writes_nothing(work, capsys):
    suite = work / "suite"
    assert main(["report", str(suite / "p"), str(suite / "rs"), "--out", str(work / "rep"), "--common"]) == 2
    _one_line_error(capsys, "share no (arch, seed) pairs")
    assert not (work / "rep").exists()


def test_report_names_a_suite_folder_given_among_runs(work, capsys):
    assert main(["report", str(work / "suite" / "p"), str(work / "suite"), "--out", str(work / "rep")]) == 2
    _one_line_error(capsys, "is a suite folder")
    assert not (work / "rep").exists()


# ----------------------------------------------------------------------------- leaderboard
@pytest.mark.parametrize("damage, expect", [
    (lambda s: [(s / r / "metrics.csv").unlink() for r in ("p", "p101", "rs")], "has no finished rows"),
    (lambda s: (s / "p101" / "metrics.csv").write_bytes(GARBAGE), "p101/metrics.csv is not a readable CSV"),
    (lambda s: (s / "rs" / "trajectory.csv").write_text("seed,query\n0,1\n"), "lacks the column best_test_acc"),
    (lambda s: (s / "suite.json").write_text("{not json"), "is not readable JSON"),
], ids=["no-finished-row", "garbage-row", "trajectory-columns", "suite-json"])
def test_leaderboard_on_a_bad_suite_folder_leaves_nothing(work, capsys, damage, expect):
    damage(work / "suite")
    assert main(["report", str(work / "suite")]) == 2
    _one_line_error(capsys, expect)
    assert not (work / "suite" / "leaderboard").exists()


@pytest.mark.parametrize("published, expect", [
    ("missing.csv", "no such file"),
    ("bad.csv", "lacks the columns"),
])
def test_leaderboard_with_a_bad_published_file_leaves_nothing(work, capsys, published, expect):
    (work / "bad.csv").write_text("selector,value\nparams,0.7\n")
    assert main(["report", str(work / "suite"), "--out", str(work / "lb"), "--published", str(work / published)]) == 2
    _one_line_error(capsys, str(work / published), expect)
    assert not (work / "lb").exists()


# ----------------------------------------------------------------------------- baseline
@pytest.mark.parametrize("damage, expect", [
    (lambda s: (s / "p" / "run.json").write_bytes(GARBAGE), "p/run.json is not readable JSON"),
    (lambda s: (s / "p" / "scores.csv").write_text("arch,seed\n"), "lacks the columns score, true_acc"),
    (lambda s: _cut(s / "rs" / "metrics.csv", 0.5), "rs/metrics.csv is cut off"),
    (lambda s: shutil.rmtree(s) or s.mkdir(), "is not a suite folder"),
], ids=["run-json", "scores-columns", "cut-metrics", "not-a-suite"])
def test_baseline_of_a_bad_suite_folder_writes_nothing(work, capsys, damage, expect):
    damage(work / "suite")
    out = work / "new" / "gold.csv"
    assert main(["baseline", str(work / "suite"), "--out", str(out)]) == 2
    _one_line_error(capsys, expect)
    assert not (work / "new").exists()


# ----------------------------------------------------------------------------- plots
@pytest.fixture
def figures(monkeypatch):
    """Every figure saved, by file name, kept for inspection (the PNGs are still written)."""
    saved = {}
    original = Figure.savefig

    def record(fig, fname, *args, **kwargs):
        saved[Path(fname).name] = fig
        return original(fig, fname, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", record)
    return saved


def test_rho_compare_labels_name_the_benchmark(work, figures):
    suite = work / "suite"
    assert main(["report", str(suite / "p"), str(suite / "p101"), "--out", str(work / "rep")]) == 0
    labels = [t.get_text() for t in figures["rho_compare.png"].axes[0].get_xticklabels()]
    assert len(labels) == 2 and any("nb201" in t for t in labels) and any("nb101" in t for t in labels)


def test_search_band_stays_inside_the_seeds_values():
    """Two seeds 40 points apart at q=1: the t-interval (t = 12.7 with one degree of freedom) would
    reach far outside 0-100 %; the band is clipped to what the seeds reached."""
    from benchsuite.report import search_curve

    traj = pd.DataFrame({"seed": [0, 0, 0, 1, 1, 1], "query": [1, 2, 3, 1, 2, 3],
                         "best_test_acc": [50.0, 90.0, 93.0, 90.0, 91.0, 93.5]})
    q, mean, lo, hi = search_curve(traj)
    grid = np.array([[50.0, 90.0, 93.0], [90.0, 91.0, 93.5]])
    assert list(q) == [1, 2, 3] and np.allclose(mean, grid.mean(axis=0))
    assert (lo >= grid.min(axis=0) - 1e-12).all() and (hi <= grid.max(axis=0) + 1e-12).all()
    assert (lo <= mean).all() and (mean <= hi).all()


def test_rho_legend_is_off_the_data_and_scatter_title_has_rho(work, figures):
    from benchsuite.report import plot_run

    run = work / "suite" / "p"
    plot_run(run)
    fig = figures["rho.png"]
    fig.canvas.draw()
    ax = fig.axes[0]
    legend = ax.get_legend() or fig.legends[0]
    box, axes_box = legend.get_window_extent(), ax.get_window_extent()
    assert not box.overlaps(axes_box)                       # never over the mean line or the seeds
    assert fig.bbox.contains(box.x0, box.y0) and fig.bbox.contains(box.x1, box.y1)   # nor cut off

    m = pd.read_csv(run / "metrics.csv", dtype={"seed": str})
    rho = m[(m.seed == "all") & (m.metric == "spearman_mean")].value.item()
    title = figures["scatter.png"].axes[0].get_title()
    assert f"ρ = {rho:.3f}" in title and "n = 40" in title


def test_a_run_without_spearman_still_plots(tmp_path):
    out = tmp_path / "k"
    assert main(["run", "--selector", "params", "--sample", "20", "--metrics", "kendall", "--n-boot", "0",
                 "--out", str(out)]) == 0
    assert (out / "scatter.png").is_file() and not (out / "rho.png").exists()
    assert os.path.getsize(out / "scatter.png") > 1000
