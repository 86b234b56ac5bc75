"""A comparator's own measures (CTNAS): the pairwise Kendall tau of its judgements and the share of
pairs whose two orders disagree, computed from the run's ``comparisons.csv``."""
import itertools
import json

import numpy as np
import pandas as pd
import pytest

from benchsuite import metrics
from benchsuite.config import RunConfig
from benchsuite.run_metrics import comparator_metrics
from benchsuite.runner import run
from benchsuite.selectors.learned.ctnas import CTNASSelector


def reference_ktau(p_upper, perf):
    """A transcription of CTNAS's compute_kendall_tau_AR loop: pairs i < j in order, sign(0) = +1."""
    def sign(x):
        return 1 if x >= 0 else -1

    count = total = 0
    for i in range(len(perf) - 1):
        for j in range(i + 1, len(perf)):
            count += sign(p_upper[total] - 0.5) * sign(perf[i] - perf[j])
            total += 1
    return count / total


def test_pairwise_kendall_agrees_with_the_reference_loop():
    rng = np.random.default_rng(0)
    perf = rng.normal(size=12).round(1)   # ties included
    pairs = list(itertools.combinations(range(12), 2))
    p = rng.uniform(size=len(pairs))
    p[:5] = 0.5                           # the reference counts p = 0.5 as "first wins"
    a = [perf[i] for i, _ in pairs]
    b = [perf[j] for _, j in pairs]
    assert metrics.pairwise_kendall(p, a, b) == pytest.approx(reference_ktau(p, perf))
    perfect = [1.0 if x > y else 0.0 for x, y in zip(a, b)]
    assert metrics.pairwise_kendall(perfect, a, b) == pytest.approx(reference_ktau(perfect, perf))


def test_pair_inconsistency_counts_pairs_whose_orders_disagree():
    assert metrics.pair_inconsistency([0.9, 0.2, 0.7, 0.3], [0.1, 0.8, 0.6, 0.4]) == pytest.approx(0.5)
    assert metrics.pair_inconsistency([0.9], [0.1]) == 0.0


def test_comparator_metrics_read_each_pair_once_in_the_order_judged_first():
    rows = []
    acc = {"x": 90.0, "y": 80.0, "z": 85.0}
    judge = {("x", "y"): 0.9, ("y", "x"): 0.7,   # both orders: "first wins": inconsistent
             ("x", "z"): 0.8, ("z", "x"): 0.2,
             ("y", "z"): 0.6, ("z", "y"): 0.3}   # first judged (y, z) says y wins: wrong
    for a, b in [("x", "y"), ("x", "z"), ("y", "x"), ("y", "z"), ("z", "x"), ("z", "y")]:
        rows.append({"seed": 0, "a": a, "b": b, "p_a_wins": judge[(a, b)], "acc_a": acc[a], "acc_b": acc[b]})
    got = comparator_metrics(pd.DataFrame(rows))
    assert got["pairwise_kendall"] == (pytest.approx((1 + 1 - 1) / 3), 3)
    assert got["pair_inconsistency"] == (pytest.approx(1 / 3), 3)


def test_ctnas_run_writes_its_judgements_and_both_measures(tmp_path):
    out = tmp_path / "ct"
    run(RunConfig(bench="nb201", selector="ctnas", seeds=[0], sample=30, queries=20,
                  hparams=dict(CTNASSelector.fast_hparams), out=str(out)), log=lambda *_: None)
    pairs = pd.read_csv(out / "comparisons.csv")
    cells = set(pairs.a)
    assert len(cells) == 30 and len(pairs) == 30 * 29   # every ordered pair of the scored cells
    scored = pd.read_csv(out / "scores.csv")
    assert cells <= set(scored.arch)
    truth = dict(zip(scored.arch, scored.true_acc))
    assert np.allclose(pairs.acc_a, pairs.a.map(truth))
    m = pd.read_csv(out / "metrics.csv")
    seed0 = m[m.seed == "0"].set_index("metric").value
    assert -1 <= seed0["pairwise_kendall"] <= 1 and 0 <= seed0["pair_inconsistency"] <= 1
    info = json.loads((out / "run.json").read_text())
    assert info["seeds"]["0"]["comparator"]["ordered_pairs"] == 870
    assert any("pairwise_kendall" in d for d in info["deviations"])


def test_a_search_that_stops_early_is_marked_in_both_tables(tmp_path):
    """CTNAS queries K labelled cells and then only its history best after each baseline update:
    its later best_test_at_q figures are an incumbent from fewer queries, marked with a dagger."""
    from benchsuite.leaderboard import leaderboard_markdown
    from benchsuite.report import report, summarize

    out = tmp_path / "ct"
    run(RunConfig(bench="nb201", selector="ctnas", seeds=[0], sample=20, queries=60,
                  hparams=dict(CTNASSelector.fast_hparams), out=str(out)), log=lambda *_: None)
    table = summarize([out])
    used = table.queries_used.iloc[0]
    assert used < 50   # 8 labelled + at most one query per baseline update
    report([out], tmp_path / "rep")
    md = (tmp_path / "rep" / "summary.md").read_text()
    row = next(line for line in md.splitlines() if line.startswith("| ctnas") and "†" in line)
    assert row.count("†") == 1 and "not an equal-budget one" in md   # q=10 is a real figure, q=50 is not
    table["row"], table["published_best_test_at_q100"] = "ct", float("nan")
    assert "†" in leaderboard_markdown(table.assign(spearman=float("nan")), "t")
