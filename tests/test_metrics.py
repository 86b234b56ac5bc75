import numpy as np
import pytest
from scipy import stats

from benchsuite import metrics
from benchsuite.metrics import METRICS

ACC = np.array([90.0, 80.0, 70.0, 60.0, 50.0, 40.0, 30.0, 20.0, 10.0, 5.0])


@pytest.mark.parametrize("name", METRICS.names())
def test_every_metric_contract(name):
    f = METRICS.get(name)
    perfect, reverse = f(ACC, ACC), f(-ACC, ACC)
    assert isinstance(perfect, float) and isinstance(reverse, float)
    if name == "regret":
        assert perfect == 0.0 and reverse == 85.0
    elif name.startswith("top"):
        assert perfect == 90.0 and reverse <= perfect
    else:
        assert perfect == pytest.approx(1.0) and reverse < perfect


def test_correlations_equal_scipy():
    rng = np.random.default_rng(1)
    a = rng.normal(size=200)
    s = a + rng.normal(size=200)
    s[:20] = s[0]  # ties
    assert metrics.spearman(s, a) == stats.spearmanr(s, a).statistic
    assert metrics.kendall(s, a) == stats.kendalltau(s, a).statistic
    assert metrics.pearson(s, a) == pytest.approx(stats.pearsonr(s, a).statistic)


def test_top_k_precision_regret_by_hand():
    acc = np.array([70.0, 95.0, 80.0, 60.0])
    score = np.array([4.0, 1.0, 3.0, 2.0])  # ranks: 70, 80, 60, 95
    assert metrics.top_k_acc(score, acc, 1) == 70.0
    assert metrics.top_k_acc(score, acc, 2) == 80.0
    assert metrics.top_k_acc(score, acc, 100) == 95.0
    assert metrics.regret(score, acc) == 25.0
    assert metrics.precision_at_pct(score, acc, 50) == 0.5  # top-2 by score {70, 80} vs true {95, 80}


def test_nan_scores_rank_last():
    acc = np.array([10.0, 20.0, 30.0])
    s = np.array([np.nan, 1.0, 2.0])
    assert metrics.top_k_acc(s, acc, 1) == 30.0
    assert metrics.spearman(s, acc) == pytest.approx(1.0)


def test_minus_inf_is_the_worst_score_in_every_metric():
    """-inf (log 0: a network whose output ignores its input) is a score below every finite one:
    the rank correlations rank it last, as a reference's ranking of its own -inf does, whereas NaN
    (not scored) is left out. Pearson is over the finite scores; top-k puts NaN after -inf."""
    acc = np.array([90.0, 80.0, 70.0, 10.0, 12.0, 95.0])
    s = np.array([3.0, 2.0, 1.0, -np.inf, np.nan, np.nan])
    lowest = np.array([3.0, 2.0, 1.0, -1e300, np.nan, np.nan])
    for name in ("spearman", "kendall"):
        assert metrics.METRICS.get(name)(s, acc) == pytest.approx(metrics.METRICS.get(name)(lowest, acc))
    assert metrics.spearman(s, acc) == pytest.approx(stats.spearmanr([3, 2, 1, 0], acc[:4]).statistic)
    assert metrics.pearson(s, acc) == pytest.approx(stats.pearsonr([3, 2, 1], acc[:3]).statistic)
    assert list(metrics._order(s)) == [0, 1, 2, 3, 4, 5]
    assert metrics.top_k_acc(np.array([np.nan, -np.inf, 1.0]), np.array([99.0, 50.0, 40.0]), 2) == 50.0
    assert np.isnan(metrics.spearman(np.array([-np.inf, -np.inf, np.nan]), acc[:3]))   # constant: undefined


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="equal length"):
        metrics.spearman([1, 2], [1, 2, 3])


def test_bootstrap_ci_brackets_estimate_and_is_seeded():
    rng = np.random.default_rng(0)
    a = rng.normal(size=300)
    s = a + rng.normal(size=300)
    lo, hi = metrics.bootstrap_ci(metrics.spearman, s, a, n_boot=300, seed=3)
    assert lo < metrics.spearman(s, a) < hi
    assert (lo, hi) == metrics.bootstrap_ci(metrics.spearman, s, a, n_boot=300, seed=3)
    wide = metrics.bootstrap_ci(metrics.spearman, s[:30], a[:30], n_boot=300, seed=3)
    assert wide[1] - wide[0] > hi - lo  # fewer archs, wider interval


def test_aggregate_over_seeds():
    agg = metrics.aggregate([0.5, 0.7, 0.6])
    assert agg["mean"] == pytest.approx(0.6) and agg["std"] == pytest.approx(0.1) and agg["n"] == 3
    half = stats.t.ppf(0.975, 2) * 0.1 / np.sqrt(3)
    assert agg["ci_low"] == pytest.approx(0.6 - half) and agg["ci_high"] == pytest.approx(0.6 + half)
    assert metrics.aggregate([0.4])["std"] == 0.0
