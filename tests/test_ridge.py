"""``ridge``, the same-label yardstick: the closed-form fit and leave-one-out residuals against
their definitions, the encoding, and the selector through the runner on the embedded NB-201 table."""
import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from benchsuite import get_selector
from benchsuite.cli import main
from benchsuite.errors import ConfigError
from benchsuite.selectors.base import Context
from benchsuite.selectors.learned.ridge import ALPHAS, RidgeSelector, choose_alpha, fit_ridge, loo_residuals, one_hot
from benchsuite.spaces import nb101, nb201


def test_fit_solves_the_augmented_ridge_system():
    """Ridge with an unpenalised intercept is least squares on [1 X; 0 sqrt(alpha) I] b = [y; 0]."""
    x = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=float)
    y = np.array([2.0, -1.0, 0.5, 1.5, -0.5, 3.0, 1.0])
    for alpha in (0.01, 0.7, 25.0):
        b, w = fit_ridge(x, y, alpha)
        aug = np.block([[np.ones((7, 1)), x], [np.zeros((3, 1)), np.sqrt(alpha) * np.eye(3)]])
        want = np.linalg.lstsq(aug, np.concatenate([y, np.zeros(3)]), rcond=None)[0]
        np.testing.assert_allclose([b, *w], want, rtol=1e-10, atol=1e-12)
    # a large penalty shrinks every coefficient towards zero and the intercept towards mean(y)
    b, w = fit_ridge(x, y, 1e9)
    assert np.abs(w).max() < 1e-7 and b == pytest.approx(y.mean())


def test_leave_one_out_closed_form_equals_refitting():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 2, (14, 6)).astype(float)
    y = x @ rng.normal(size=6) + rng.normal(size=14)
    for alpha in (1e-3, 0.3, 40.0):
        brute = []
        for i in range(len(y)):
            keep = np.arange(len(y)) != i
            b, w = fit_ridge(x[keep], y[keep], alpha)
            brute.append(y[i] - b - x[i] @ w)
        np.testing.assert_allclose(loo_residuals(x, y, alpha), brute, rtol=1e-9, atol=1e-12)


def test_alpha_is_the_leave_one_out_minimum():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, (40, 8)).astype(float)
    exact = x @ rng.normal(size=8)
    alpha, mse = choose_alpha(x, exact)
    assert alpha == ALPHAS[int(np.argmin(mse))] == ALPHAS[0] and len(mse) == len(ALPHAS) == 13
    # a target unrelated to the cells: shrink hard (over 30 draws the choice was always >= 10, mostly 1e3)
    assert choose_alpha(x, rng.normal(size=40))[0] >= 10


def test_one_hot_encodings():
    arch = nb201.format_arch(["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3", "none"])
    row = one_hot("nb201", [arch])[0]
    assert row.shape == (30,) and row.sum() == 6
    assert list(np.flatnonzero(row)) == [5 * e + op for e, op in enumerate([0, 1, 2, 3, 4, 0])]
    # a 5-vertex NB-101 cell: its edges on the 7-vertex form (output last), 3 ops one-hot, 2 absent
    m = [[0, 1, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 1, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]]
    ops = ["input", "conv1x1-bn-relu", "conv3x3-bn-relu", "maxpool3x3", "output"]
    row = one_hot("nb101", [nb101.make_cell(m, ops).to_string()])[0]
    assert row.shape == (36,)
    slots = [(i, j) for i in range(7) for j in range(i + 1, 7)]
    assert {slots[k] for k in np.flatnonzero(row[:21])} == {(0, 1), (0, 2), (1, 3), (2, 3), (2, 6), (3, 6)}
    hot = row[21:].reshape(5, 3)
    assert hot.tolist() == [[0, 1, 0], [1, 0, 0], [0, 0, 1], [0, 0, 0], [0, 0, 0]]   # nb101.OPS order
    assert one_hot("nb101", []).shape == (0, 36)


def _cells(space, n):
    if space == "nb201":
        return nb201.all_archs()[::37][:n]
    rng = np.random.default_rng(0)
    return list(dict.fromkeys(nb101.random_arch(rng) for _ in range(2 * n)))[:n]


@pytest.mark.parametrize("space, k", [("nb201", 31), ("nb101", 120)])
def test_an_additive_target_is_recovered(space, k):
    """Accuracy additive in the encoded features (each edge's op; NB-101 also each edge) is ranked
    exactly from K labelled cells, leave-one-out picking a small alpha: on every held-out cell whose
    encoding the labelled ones span (NB-101 has rare features a few labelled cells may all lack)."""
    cells = _cells(space, k + 300)
    x = one_hot(space, cells)
    truth = 90 + x @ np.random.default_rng(1).normal(size=x.shape[1])
    sel = get_selector("ridge", labels=k)
    scores = sel.score(cells[k:], Context(space=space, dataset="cifar10", labelled=dict(zip(cells[:k], truth[:k]))))
    centre = x[:k].mean(axis=0)
    span = np.linalg.pinv(x[:k] - centre) @ (x[:k] - centre)
    inside = np.abs((x[k:] - centre) @ span - (x[k:] - centre)).max(axis=1) < 1e-8
    assert inside.sum() >= (300 if space == "nb201" else 150)
    assert spearmanr(scores[inside], truth[k:][inside])[0] > 0.999 and sel.report()["alpha"] <= 0.1


def test_bad_inputs_fail_in_one_line():
    with pytest.raises(ConfigError, match=r"alpha must be > 0"):
        RidgeSelector(alpha=0.0)
    with pytest.raises(ConfigError, match="labels must be at least 2"):
        RidgeSelector(labels=1)
    with pytest.raises(ConfigError, match="ridge needs at least 2 labelled cells, got 1"):
        get_selector("ridge").score(nb201.all_archs()[:3], Context(space="nb201", dataset="cifar10",
                                                                   labelled={nb201.all_archs()[5]: 90.0}))


def test_given_alpha_and_equal_labels():
    cells = nb201.all_archs()[:12]
    sel = get_selector("ridge", labels=10, alpha=2.5)
    ctx = Context(space="nb201", dataset="cifar10", labelled={a: 91.0 for a in cells[:10]})
    s = sel.score(cells[10:], ctx)
    assert np.isfinite(s).all() and np.ptp(s) == 0   # nothing to learn: the mean for every cell
    assert sel.report()["alpha"] == 2.5 and sel.report()["alpha_from"] == "given"


def test_ranks_nb201_through_the_runner(tmp_path):
    out = tmp_path / "run"
    assert main(["run", "--bench", "nb201", "--dataset", "cifar10", "--selector", "ridge", "--labels", "100",
                 "--sample", "300", "--seeds", "0", "--n-boot", "0", "--no-plots", "--out", str(out)]) == 0
    m = pd.read_csv(out / "metrics.csv")
    rho = m[(m.seed.astype(str) == "0") & (m.metric == "spearman")].value.item()
    # seed 0 gives 0.60; a random ranking of 300 cells has sd 0.06 around 0
    assert rho > 0.3 and (m.labels == 100).all()
    run = json.loads((out / "run.json").read_text())
    assert run["hparams"] == {"alpha": None, "labels": 100, "seed": 0}
    assert run["capabilities"] == ["rank"] and run["inputs"] == ["labels"] and run["uses_torch"] is False
    assert run["deviations"] == list(RidgeSelector.deviations) and "not a published method" in run["deviations"][0]
    seed = run["seeds"]["0"]
    assert len(seed["labelled_excluded"]) == 100
    assert seed["selector_report"]["alpha"] in ALPHAS and seed["selector_report"]["labelled"] == 100
