"""Ranking metrics: pure functions of (scores, true accuracy), registered by name.

Every metric takes ``scores`` (higher = better) and ``acc`` (true accuracy, %) of the same
architectures and returns one float. Ties in scores are ranked by average rank (scipy's default).
A score of -inf is a proxy's own worst value (the log of a zero: a network whose output ignores its
input, a singular kernel): it ranks below every finite score, in the rank correlations too, as the
references rank it. NaN (a cell a selector could not score) ranks last in the top-k metrics and is
left out of the correlations. Pearson's r, undefined on -inf, is over the finite scores. With no
finite score at all, every metric is NaN.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy import stats

from .registry import Registry

METRICS: Registry[Callable[[np.ndarray, np.ndarray], float]] = Registry("metric", "benchsuite.metrics")


def _clean(scores, acc) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=float)
    a = np.asarray(acc, dtype=float)
    if s.shape != a.shape or s.ndim != 1:
        raise ValueError(f"scores and acc must be 1-D of equal length, got {s.shape} and {a.shape}")
    if np.isnan(a).any():
        raise ValueError("true accuracy contains NaN")
    return s, a


def _order(s: np.ndarray) -> np.ndarray:
    """Indices by descending score, -inf after every finite score and NaN (failed evaluations)
    after that; ties by index."""
    return np.lexsort((np.arange(len(s)), -np.nan_to_num(s, nan=-np.inf), np.isnan(s)))


def _scored_pair(scores, acc, *, finite: bool = False) -> tuple[np.ndarray, np.ndarray] | None:
    """Scored rows only (NaN left out; -inf kept unless ``finite``); None when a correlation is
    undefined (under 2 rows or a constant side, e.g. a selector that scores every cell alike): the
    metric is then NaN, without a warning."""
    s, a = _clean(scores, acc)
    ok = np.isfinite(s) if finite else ~np.isnan(s)
    s, a = s[ok], a[ok]
    if len(s) < 2 or np.unique(s).size < 2 or np.ptp(a) == 0:
        return None
    return s, a


@METRICS.register("spearman")
def spearman(scores, acc) -> float:
    pair = _scored_pair(scores, acc)
    return float("nan") if pair is None else float(stats.spearmanr(*pair).statistic)


@METRICS.register("kendall")
def kendall(scores, acc) -> float:
    pair = _scored_pair(scores, acc)
    return float("nan") if pair is None else float(stats.kendalltau(*pair).statistic)


@METRICS.register("pearson")
def pearson(scores, acc) -> float:
    pair = _scored_pair(scores, acc, finite=True)
    return float("nan") if pair is None else float(stats.pearsonr(*pair).statistic)


def _unscored(s: np.ndarray) -> bool:
    """No finite score at all: a ranking metric would only reflect the cells' order in the file,
    so it is NaN (as the correlations are), never a number."""
    return not np.isfinite(s).any()


def top_k_acc(scores, acc, k: int) -> float:
    """True accuracy of the best architecture among the k highest-scored."""
    s, a = _clean(scores, acc)
    if _unscored(s):
        return float("nan")
    return float(a[_order(s)[: max(1, k)]].max())


def precision_at_pct(scores, acc, pct: float) -> float:
    """Fraction of the top pct% by score that are also in the top pct% by true accuracy."""
    s, a = _clean(scores, acc)
    if _unscored(s):
        return float("nan")
    k = max(1, int(math.ceil(len(s) * pct / 100)))
    top_true = set(np.lexsort((np.arange(len(a)), -a))[:k])
    return len(top_true & set(_order(s)[:k])) / k


@METRICS.register("regret")
def regret(scores, acc) -> float:
    """Best true accuracy in the scored set minus that of the top-scored architecture."""
    s, a = _clean(scores, acc)
    if _unscored(s):
        return float("nan")
    return float(a.max() - a[_order(s)[0]])


for _k in (1, 10, 100):
    METRICS.register(f"top{_k}_acc", lambda s, a, k=_k: top_k_acc(s, a, k))
for _p in (1, 5, 10):
    METRICS.register(f"precision_at_{_p}pct", lambda s, a, p=_p: precision_at_pct(s, a, p))


def compute_all(scores, acc, names: list[str] | None = None) -> dict[str, float]:
    return {n: METRICS.get(n)(scores, acc) for n in (names or METRICS.names())}


def bootstrap_ci(metric: Callable, scores, acc, *, n_boot: int = 1000, level: float = 0.95,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of a metric, resampling architectures with replacement.

    This is the sampling uncertainty of evaluating on a sample of the space: the CI that
    ``--sample N`` results must be read with.
    """
    s, a = _clean(scores, acc)
    rng = np.random.default_rng(seed)
    n = len(s)
    vals = []
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        v = metric(s[idx], a[idx])
        if v == v:
            vals.append(v)
    if not vals:
        return float("nan"), float("nan")
    lo, hi = np.percentile(vals, [(1 - level) / 2 * 100, (1 + level) / 2 * 100])
    return float(lo), float(hi)


def aggregate(values, level: float = 0.95) -> dict[str, float]:
    """Mean, sample std, a t-interval CI and the median of one metric across seeds."""
    v = np.asarray([x for x in values if x == x], dtype=float)
    n = len(v)
    if n == 0:
        return {"mean": float("nan"), "std": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"),
                "median": float("nan"), "n": 0}
    mean = float(v.mean())
    std = float(v.std(ddof=1)) if n > 1 else 0.0
    half = float(stats.t.ppf((1 + level) / 2, n - 1) * std / math.sqrt(n)) if n > 1 else 0.0
    return {"mean": mean, "std": std, "ci_low": mean - half, "ci_high": mean + half, "median": float(np.median(v)),
            "n": n}


# ----------------------------------------------------------------------------- comparator view
# A comparator (CTNAS) judges pairs: p = P(a beats b). Its own measure is a pairwise Kendall tau.


def _sign(x: np.ndarray) -> np.ndarray:
    """+1 / -1 with ties counted +1, as CTNAS's ``_sign`` (chenyaofo/CTNAS ctnas/core/utils.py)."""
    return np.where(np.asarray(x, dtype=float) >= 0.0, 1.0, -1.0)


def pairwise_kendall(p_ab, acc_a, acc_b) -> float:
    """CTNAS's comparator Kendall tau (``compute_kendall_tau_AR``): the mean over pairs of
    sign(p - 0.5) · sign(acc_a - acc_b), ties +1. Give each unordered pair once (the reference
    judges i < j only); for ordered pairs in both orders it is the mean over both judgements."""
    p, a, b = (np.asarray(x, dtype=float) for x in (p_ab, acc_a, acc_b))
    if p.size == 0:
        return float("nan")
    return float(np.mean(_sign(p - 0.5) * _sign(a - b)))


def pair_inconsistency(p_ab, p_ba) -> float:
    """Share of unordered pairs whose two orders disagree with each other: both say "the first wins"
    (p(a, b) > 0.5 and p(b, a) > 0.5) or both say "the second wins" (both < 0.5). A consistent
    comparator has p(a, b) + p(b, a) = 1, so exactly one order says the first wins."""
    ab, ba = np.asarray(p_ab, dtype=float), np.asarray(p_ba, dtype=float)
    if ab.size == 0:
        return float("nan")
    return float(np.mean((ab > 0.5) == (ba > 0.5)))


def majority_agreement(components, acc, *, chunk: int = 256) -> float:
    """zero-cost-nas's measure of its ``vote`` (notebooks/nasbench201_correlations.ipynb, "Voting
    between 3 metrics"): over every ordered pair (i, j) of cells with different accuracy, whether
    "i is better" by a majority of the components (at least half of the differences
    ``components[i, k] - components[j, k]`` are > 0; a NaN difference is not) matches acc_i > acc_j;
    the share of pairs where it does. Cells of NaN accuracy are left out."""
    v = np.asarray(components, dtype=float)
    a = np.asarray(acc, dtype=float)
    keep = ~np.isnan(a)
    v, a = v[keep], a[keep]
    need = v.shape[1] / 2
    right = total = 0
    with np.errstate(invalid="ignore"):
        for start in range(0, len(a), chunk):
            block = slice(start, start + chunk)
            numpos = np.zeros((len(a[block]), len(a)), dtype=np.uint8)
            for k in range(v.shape[1]):
                numpos += v[block, None, k] > v[None, :, k]
            diff = a[block, None] - a[None, :]
            counted = diff != 0
            right += int(((numpos >= need) == (diff > 0))[counted].sum())
            total += int(counted.sum())
    return right / total if total else float("nan")


# ----------------------------------------------------------------------------- search view
# A search method's result is its trajectory: the validation accuracy of each cell it queried, in
# order, and (hidden from it) the test accuracy of the same cell.
SEARCH_QUERIES = (10, 50, 100, 200, 500)


def best_so_far(valid, test) -> tuple[np.ndarray, np.ndarray]:
    """After each query: the index of the best cell so far by validation accuracy (the earlier one
    on a tie, as a method that keeps its incumbent would) and that cell's test accuracy."""
    v = np.asarray(valid, dtype=float)
    t = np.asarray(test, dtype=float)
    best = np.zeros(len(v), dtype=int)
    for i in range(1, len(v)):
        best[i] = i if v[i] > v[best[i - 1]] else best[i - 1]
    return best, t[best]


def best_test_at(valid, test, q: int) -> float:
    """Test accuracy of the best-by-validation cell among the first ``q`` queries; a method that
    stopped earlier keeps its last incumbent. NaN without queries."""
    if len(valid) == 0:
        return float("nan")
    _, bt = best_so_far(valid, test)
    return float(bt[min(q, len(bt)) - 1])


def queries_to_optimum(valid, test, optimum: float) -> float:
    """Queries until the incumbent (best by validation) is a cell with the optimal test accuracy;
    NaN when it never is within the trajectory."""
    _, bt = best_so_far(valid, test)
    hit = np.flatnonzero(bt >= optimum - 1e-9)
    return float(hit[0] + 1) if len(hit) else float("nan")


def search_metrics(valid, test, *, optimum: float, budget: int) -> dict[str, float]:
    """``best_test_at_q{q}`` for every q of SEARCH_QUERIES within the budget,
    ``queries_to_optimum``, and ``queries_used``: a method that stops early (CTNAS) keeps its last
    incumbent at every later q, which the tables mark as no equal-budget figure."""
    out = {f"best_test_at_q{q}": best_test_at(valid, test, q) for q in SEARCH_QUERIES if q <= budget}
    out["queries_to_optimum"] = queries_to_optimum(valid, test, optimum)
    out["queries_used"] = float(len(valid))
    return out


def short_of(queries_used, q: int) -> bool:
    """Whether a best_test_at_q{q} figure is an incumbent from fewer than q queries."""
    return queries_used == queries_used and queries_used < q


def censored_median(values) -> float:
    """Median where NaN means 'not reached' (ranked above every number); inf when at least half of
    the values were not reached."""
    v = np.array([np.inf if x != x else x for x in values], dtype=float)
    return float(np.median(v)) if len(v) else float("nan")
