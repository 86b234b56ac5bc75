"""The search view: budgeted oracle, moves over covered cells, random search and REA, the labelled
budget's draw and column, trajectory.csv and the search metrics in metrics.csv."""
import json

import numpy as np
import pandas as pd
import pytest

from benchsuite import get_selector, metrics
from benchsuite.cli import main
from benchsuite.errors import ConfigError
from benchsuite.selectors.base import Context, Selector
from benchsuite.selectors.registry import SELECTORS
from benchsuite.selectors.search.domain import Domain
from benchsuite.selectors.search.oracle import Oracle, QueryBudgetExhausted
from benchsuite.spaces import nb101, nb201


def test_oracle_counts_distinct_cells_and_refuses_past_budget():
    acc = {a: float(i) for i, a in enumerate(nb201.all_archs()[:5])}
    o = Oracle("nb201", acc, budget=2)
    a, b, c = list(acc)[:3]
    assert o.query(a) == 0.0 and o.query(a) == 0.0 and o.used == 1   # asking again is free
    assert o.query(b) == 1.0 and o.remaining == 0
    with pytest.raises(QueryBudgetExhausted):
        o.query(c)
    assert o.query(b) == 1.0   # known cells stay answerable
    with pytest.raises(KeyError, match="no accuracy"):
        o.query("|none~0|+|none~0|none~1|+|none~0|none~1|bogus~2|")
    assert o.history == [(a, 0.0), (b, 1.0)] and Oracle("nb201", acc, budget=99).budget == 5


def test_best_so_far_and_search_metrics():
    valid = [80, 85, 84, 90, 90]
    test = [81, 84, 86, 93, 94]
    best, bt = metrics.best_so_far(valid, test)
    assert best.tolist() == [0, 1, 1, 3, 3] and bt.tolist() == [81, 84, 84, 93, 93]   # ties keep the incumbent
    m = metrics.search_metrics(valid, test, optimum=93, budget=50)
    assert m == {"best_test_at_q10": 93.0, "best_test_at_q50": 93.0, "queries_to_optimum": 4.0,
                 "queries_used": 5.0}
    assert metrics.queries_to_optimum(valid, test, 94) != metrics.queries_to_optimum(valid, test, 94)   # NaN
    assert metrics.censored_median([10, float("nan"), 30]) == 30 and metrics.censored_median([1, np.nan]) == np.inf


def test_nb201_moves():
    rng = np.random.default_rng(0)
    a = nb201.random_arch(rng)
    for kind in nb201.MUTATIONS:
        for _ in range(50):
            child = nb201.mutate(a, rng, kind)
            assert sum(x != y for x, y in zip(nb201.flat_code(a), nb201.flat_code(child))) == 1
    # AutoDL's "node" mutation picks node 1's single edge a third of the time; NASLib's "edge" a sixth.
    first = [nb201.flat_code(nb201.mutate(a, rng, "node"))[0] != nb201.flat_code(a)[0] for _ in range(3000)]
    assert abs(np.mean(first) - 1 / 3) < 0.03
    first = [nb201.flat_code(nb201.mutate(a, rng, "edge"))[0] != nb201.flat_code(a)[0] for _ in range(3000)]
    assert abs(np.mean(first) - 1 / 6) < 0.03


def test_domain_replaces_uncovered_cells_by_the_nearest_covered_one():
    from benchsuite.benchmarks.nb101 import NB101

    pool = NB101().archs("cifar10")
    d = Domain("nb101", pool)
    rng = np.random.default_rng(1)
    codes = np.array([nb101.flat_code(a) for a in pool])
    for _ in range(20):
        cell = nb101.random_arch(rng)
        near = d.cover(cell, rng)
        dist = (codes != np.array(nb101.flat_code(cell))).sum(1)
        assert near in d and dist[pool.index(near)] == dist.min()
    assert d.cover(pool[3], rng) == pool[3]
    assert d.nearest(pool[3], rng, exclude=[pool[3]]) != pool[3]
    assert d.nearest(pool[0], rng, exclude=pool) is None


def _tiny_table():
    """125 NB201 cells (last three edges fixed) whose accuracy is the sum of their op indices."""
    cells = [a for a in nb201.all_archs() if nb201.flat_code(a)[3:] == (3, 3, 3)]
    return {a: float(sum(nb201.flat_code(a))) for a in cells}


def test_rea_finds_the_optimum_of_a_tiny_table_and_beats_random_search():
    table = _tiny_table()
    best = max(table.values())
    found = {}
    for name in ("rea", "random-search"):
        q = []
        for seed in range(6):
            o = Oracle("nb201", table, budget=50)
            get_selector(name, seed=seed, **({"preset": "nb201"} if name == "rea" else {})).search(
                o, Context(space="nb201", dataset="cifar10", seed=seed))
            assert o.used == 50 and len({a for a, _ in o.history}) == 50
            valid = [v for _, v in o.history]
            q.append(metrics.queries_to_optimum(valid, valid, best))
        found[name] = q
    assert all(x == x for x in found["rea"])   # every seed reached the optimum within 50 of 125 cells
    assert np.nanmedian(found["rea"]) < np.nanmedian(np.nan_to_num(found["random-search"], nan=99))


def test_rea_presets_and_bad_values():
    r = get_selector("rea", preset="nb201")
    assert (r.population, r.sample_size, r.mutation) == (10, 3, "node")
    assert get_selector("rea").hparams()["population"] == 30
    with pytest.raises(ConfigError, match="preset must be one of naslib, nb201, nb201-paper, got 'fast'"):
        get_selector("rea", preset="fast")


class _Spy(Selector):
    """Records what the runner hands a learned selector; scores like a table lookup would not."""

    name = "spy"
    uses_torch = False
    capabilities = frozenset({"rank", "search"})
    inputs = frozenset({"labels"})
    seen: dict = {}

    def __init__(self, *, seed: int = 0, labels: int = 5):
        super().__init__(seed=seed)
        self.labels = labels

    def score(self, archs, ctx):
        _Spy.seen[ctx.seed] = dict(ctx.labelled)
        return np.array([float(len(a)) for a in archs])

    def search(self, oracle, ctx):
        oracle.query_many(Domain(ctx.space, oracle.candidates()).sample(np.random.default_rng(ctx.seed), 7))


@pytest.fixture
def spy():
    with SELECTORS.temporary("spy", _Spy):
        yield _Spy


def test_labelled_cells_come_from_the_validation_column_and_never_reach_metrics(tmp_path, spy, nb201):
    out = tmp_path / "r"
    assert main(["run", "--selector", "spy", "--labels", "12", "--sample", "300", "--seeds", "0,1", "--queries", "15",
                 "--out", str(out), "--n-boot", "0", "--no-plots"]) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["validation_column"]["dataset"] == "cifar10-valid" and run["validation_column"]["metric"] == "valid"
    scores = pd.read_csv(out / "scores.csv")
    for seed in (0, 1):
        labelled = run["seeds"][str(seed)]["labelled_excluded"]
        assert len(labelled) == 12 and not set(labelled) & set(scores[scores.seed == seed].arch)
        got = spy.seen[seed]
        assert list(got) == labelled
        np.testing.assert_array_equal(list(got.values()), nb201.accuracy(labelled, "cifar10-valid", 200, "valid"))
        assert list(got.values()) != list(nb201.accuracy(labelled, "cifar10", 200, "test"))
    # The scored cells are the same with or without a labelled budget (one permutation per seed).
    plain = tmp_path / "p"
    assert main(["run", "--selector", "params", "--sample", "300", "--seeds", "0,1", "--out", str(plain),
                 "--n-boot", "0", "--no-plots"]) == 0
    p = pd.read_csv(plain / "scores.csv")
    assert set(zip(p.arch, p.seed)) == set(zip(scores.arch, scores.seed))
    m = pd.read_csv(out / "metrics.csv", dtype={"seed": str})
    assert set(m["labels"]) == {12}
    # The labelled cells are the first queries of the trajectory, then the method's own.
    traj = pd.read_csv(out / "trajectory.csv")
    for seed in (0, 1):
        t = traj[traj.seed == seed].sort_values("query")
        assert len(t) == 15 and t.labelled.tolist() == [True] * 12 + [False] * 3
        assert t.arch.tolist()[:12] == run["seeds"][str(seed)]["labelled_excluded"]
        np.testing.assert_array_equal(t.valid_acc, nb201.accuracy(t.arch.tolist(), "cifar10-valid", 200, "valid"))
        np.testing.assert_array_equal(t.test_acc, nb201.accuracy(t.arch.tolist(), "cifar10", 200, "test"))
        assert (np.diff(t.best_valid_acc) >= 0).all()
        got = m[(m.seed == str(seed)) & (m.metric == "best_test_at_q10")].value.item()
        assert got == metrics.best_test_at(t.valid_acc, t.test_acc, 10)


def test_rea_run_writes_the_search_view_and_repeats_to_the_seed(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        assert main(["run", "--selector", "rea", "--seeds", "0,1", "--queries", "120", "--out", str(out)]) == 0
    assert (a / "trajectory.csv").read_text() == (b / "trajectory.csv").read_text()
    m = pd.read_csv(a / "metrics.csv", dtype={"seed": str})
    names = set(m.metric)
    assert {"best_test_at_q10", "best_test_at_q100", "queries_to_optimum", "best_test_at_q100_mean",
            "queries_to_optimum_median", "optimum_reached"} <= names
    assert "best_test_at_q200" not in names and "spearman" not in names   # over budget / ranks nothing
    assert (a / "search.png").stat().st_size > 1000 and pd.read_csv(a / "scores.csv").empty
    assert main(["report", str(a), "--out", str(tmp_path / "rep")]) == 0
    assert "| rea (naslib) | nb201 | cifar10 | test | 2 | 0 |" in capsys.readouterr().out
    assert (tmp_path / "rep" / "search_curves.png").is_file()


def test_search_views_name_the_column_they_report(tmp_path):
    """NB-101's bundle reports validation accuracy: the leaderboard heading and the curve's axis say
    so rather than calling it test accuracy."""
    (tmp_path / "s.toml").write_text('[suite]\nname = "n101"\n[[row]]\nname = "rs"\nbench = "nb101"\n'
                                     'dataset = "cifar10"\nselector = "random-search"\nqueries = 20\nseeds = [0]\n')
    assert main(["suite", "run", str(tmp_path / "s.toml"), "--out", str(tmp_path / "suite")]) == 0
    assert main(["report", str(tmp_path / "suite"), "--out", str(tmp_path / "lb")]) == 0
    md = (tmp_path / "lb" / "leaderboard.md").read_text()
    assert "## Search: nb101 cifar10, valid accuracy of the best cell found" in md and "test accuracy" not in md
    import matplotlib.pyplot as plt

    from benchsuite.report import plot_search
    seen = []
    orig = plt.Axes.set_ylabel
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(plt.Axes, "set_ylabel", lambda ax, label, *a, **k: seen.append(label) or orig(ax, label, *a, **k))
        plot_search([tmp_path / "suite" / "rs"], tmp_path / "curve.png")
    assert seen == ["valid accuracy of best cell found (%)"]


@pytest.mark.parametrize("args, expect", [
    (["--selector", "params", "--labels", "5"],
     "takes no labelled cells; these do: ctnas, eproxy-dps, nao, ridge, tnao"),
    (["--selector", "params", "--queries", "5"], "--queries applies to search methods"),
    (["--selector", "rea", "--sample", "50"], "ranks none"),
    (["--selector", "rea", "--queries", "0"], "--queries must be at least 1"),
    (["--selector", "nao", "--labels", "-1"], "--labels must be 0 or more"),
    (["--selector", "nao", "--labels", "600"], "600 labelled cells are more than the query budget of 500"),
    (["--selector", "rea", "--hp", "mutation=swap"], "--hp mutation must be one of edge, flip, node, got 'swap'"),
])
def test_search_bad_input_is_one_line(args, expect, capsys, tmp_path):
    assert main(["run", *args, "--out", str(tmp_path / "x"), "--no-plots"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and expect in err
    assert not (tmp_path / "x").exists()   # refused before anything was written


@pytest.mark.parametrize("name", ["rea", "random-search"])
def test_search_shows_a_progress_bar_over_its_queries(name, capsys, monkeypatch):
    from benchsuite.progress import Progress

    monkeypatch.setattr(Progress, "log_delay_s", 0.0)   # the tiny run ends before a log's first line
    o = Oracle("nb201", _tiny_table(), budget=40)
    get_selector(name, seed=0).search(o, Context(space="nb201", dataset="cifar10", seed=0))
    out, err = capsys.readouterr()
    assert out == "" and f"{name} queries: 100%" in err and "| 40/40 " in err and o.used == 40
