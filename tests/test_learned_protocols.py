"""What the learned search methods' protocols promise: TNAO's separated training and search (the
model frozen while it searches, fine-tuning only as an option), its competitive swarm's random
factors drawn per dimension, and NAO's two presets (SemiNAS's and NAO_pytorch's settings)."""
import numpy as np
import pytest
import torch

from benchsuite import get_selector, presets
from benchsuite.errors import ConfigError
from benchsuite.hparams import check
from benchsuite.selectors.base import Context
from benchsuite.selectors.learned.nao import NAOSelector
from benchsuite.selectors.learned.tnao import TNAOSelector, compete
from benchsuite.selectors.search.oracle import Oracle
from benchsuite.spaces import nb201


def _oracle(labels: int, budget: int):
    """An oracle over 64 NB-201 cells (valid = the cell's code sum) with the first ``labels``
    already queried, as the runner queries a learned selector's labelled cells first."""
    cells = nb201.all_archs()[:64]
    valid = {a: float(sum(nb201.flat_code(a))) for a in cells}
    oracle = Oracle("nb201", valid, budget=budget)
    labelled = dict(list(valid.items())[:labels])
    for a in labelled:
        oracle.query(a)
    return oracle, labelled


def _flat(model) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1).clone() for p in model.parameters()])


def _search_recording_models(monkeypatch, **hp):
    """Run a tiny TNAO search; return (selector, stage-1 parameters, the parameters of the model
    each search round used, scores of fixed cells before and after the search)."""
    seen = []
    original = TNAOSelector.swarm_search

    def recording(self, model, known, rng):
        seen.append(_flat(model))
        return original(self, model, known, rng)

    monkeypatch.setattr(TNAOSelector, "swarm_search", recording)
    hp = {**TNAOSelector.fast_hparams, **hp}
    oracle, labelled = _oracle(hp["labels"], budget=20)
    sel = get_selector("tnao", seed=0, **hp)
    ctx = Context(space="nb201", dataset="cifar10", seed=0, labelled=labelled)
    probe = nb201.all_archs()[100:140]
    before = sel.score(probe, ctx)
    stage1 = _flat(sel.model)
    sel.search(oracle, ctx)
    assert oracle.used == 20 and len(seen) == 3   # 8 labelled + 3 rounds of per_round = 4
    return sel, stage1, seen, before, sel.score(probe, ctx)


def test_tnao_searches_with_the_stage1_model_frozen_by_default(monkeypatch):
    sel, stage1, seen, before, after = _search_recording_models(monkeypatch)
    assert sel.finetune_epochs == 0
    assert all(torch.equal(p, stage1) for p in seen)   # every round: the stage-1 parameters
    assert torch.equal(_flat(sel.model), stage1)
    np.testing.assert_array_equal(before, after)   # ranking: the model trained on the labels only
    assert len(sel.fit_report["rounds"]) == 1 and sel.fit_report["search_rounds"] == 3
    assert not any("fine-tunes" in d for d in sel.deviations)


def test_tnao_fine_tunes_a_copy_between_rounds_with_the_option(monkeypatch):
    sel, stage1, seen, before, after = _search_recording_models(monkeypatch, finetune_epochs=1)
    assert torch.equal(seen[0], stage1)
    assert not torch.equal(seen[1], stage1) and not torch.equal(seen[2], seen[1])   # trained after rounds 1, 2
    assert torch.equal(_flat(sel.model), stage1)   # the scoring model is not the one fine-tuned
    np.testing.assert_array_equal(before, after)
    assert len(sel.fit_report["rounds"]) == 3
    assert any("fine-tunes a copy of the model 1 epochs" in d for d in sel.deviations)


def _swarm(n=6, d=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.nn.functional.normalize(torch.randn(n, d, generator=g, dtype=torch.float64), dim=-1)
    v = torch.randn(n, d, generator=g, dtype=torch.float64) * 0.1
    fit = np.arange(n, dtype=float)[::-1].copy()
    return x, v, fit


@pytest.mark.parametrize("per_dimension", [True, False])
def test_cso_loser_update_draws_r_per_dimension(per_dimension):
    """Cheng & Jin (2015): v_l <- R1 v_l + R2 (x_w - x_l) + phi R3 (mean x - x_l), R1, R2, R3 random
    vectors in [0, 1]^n (one value per dimension); ``per_dimension=False`` is the per-particle scalar."""
    x, v, fit = _swarm()
    x0, v0, phi = x.clone(), v.clone(), 0.3
    lose = compete(x, v, fit, np.random.default_rng(7), phi, per_dimension=per_dimension)
    rng = np.random.default_rng(7)   # the same draws, in the same order: the pairing, then r
    order = rng.permutation(len(x0)).reshape(-1, 2)
    first = fit[order[:, 0]] >= fit[order[:, 1]]
    win, los = np.where(first, order[:, 0], order[:, 1]), np.where(first, order[:, 1], order[:, 0])
    assert lose.tolist() == los.tolist() and all(fit[w] >= fit[la] for w, la in zip(win, los))
    r = rng.random((3, len(los), x0.shape[1] if per_dimension else 1))
    xs, vs = x0.numpy(), v0.numpy()
    want_v = r[0] * vs[los] + r[1] * (xs[win] - xs[los]) + phi * r[2] * (xs.mean(0) - xs[los])
    np.testing.assert_allclose(v[lose].numpy(), want_v, rtol=1e-12)
    want_x = xs[los] + want_v
    np.testing.assert_allclose(x[lose].numpy(), want_x / np.linalg.norm(want_x, axis=1, keepdims=True), rtol=1e-12)
    winners = np.setdiff1d(np.arange(len(x0)), los)
    assert torch.equal(x[winners], x0[winners]) and torch.equal(v[winners], v0[winners])   # winners stay
    # The factor R2 read back from one loser: varies over the dimensions only when drawn per dimension.
    x, v, fit = _swarm()
    v.zero_()
    diff_before = x.clone()
    lose = compete(x, v, fit, np.random.default_rng(3), 0.0, per_dimension=per_dimension)
    rng = np.random.default_rng(3)
    order = rng.permutation(len(x)).reshape(-1, 2)
    first = fit[order[:, 0]] >= fit[order[:, 1]]
    w, la = np.where(first, order[:, 0], order[:, 1])[0], np.where(first, order[:, 1], order[:, 0])[0]
    r2 = (v[lose[0]] / (diff_before[w] - diff_before[la])).numpy()
    assert np.all((r2 >= 0) & (r2 <= 1))
    assert (np.ptp(r2) > 1e-3) == per_dimension


def test_tnao_old_row_settings_are_reachable():
    sel = get_selector("tnao", finetune_epochs=10, cso_r="particle")
    devs = " ".join(sel.deviations)
    assert "fine-tunes a copy of the model 10 epochs" in devs and "one random scalar per particle" in devs
    default = " ".join(get_selector("tnao").deviations)
    assert "per particle" not in default and "fine-tunes" not in default
    with pytest.raises(ConfigError, match="cso_r"):
        check(TNAOSelector, "tnao", {"cso_r": "scalar"})


# ----------------------------------------------------------------------------- nao presets
_KEYS = ("hidden", "mlp_layers", "mlp_hidden", "predictor", "dropout", "max_step_size")


def test_nao_presets_set_seminas_or_nao_pytorch_values_and_explicit_ones_win():
    default = get_selector("nao")
    assert default.preset == "seminas"
    assert {k: getattr(default, k) for k in _KEYS} == {"hidden": 64, "mlp_layers": 2, "mlp_hidden": 16,
                                                       "predictor": "residual", "dropout": 0.1,
                                                       "max_step_size": 100}
    nao = get_selector("nao", preset="nao")
    assert {k: getattr(nao, k) for k in _KEYS} == {"hidden": 96, "mlp_layers": 3, "mlp_hidden": 200,
                                                   "predictor": "sigmoid", "dropout": 0.1, "max_step_size": 50}
    assert get_selector("nao", preset="nao", max_step_size=7, hidden=32).max_step_size == 7
    assert get_selector("nao", preset="nao", hidden=32).hparams()["hidden"] == 32   # run.json: resolved values
    rows = {(p, k): src for p, k, _, src in presets.table("nao")}
    assert {p for p, _ in rows} == {"seminas", "nao"} and all((p, k) in rows for p in ("seminas", "nao")
                                                               for k in _KEYS)
    assert all("SemiNAS" in rows["seminas", k] for k in _KEYS)
    assert all("NAO_pytorch" in rows["nao", k] for k in _KEYS)


def test_nao_preset_builds_nao_pytorchs_predictor():
    """``nao``: 3 x 200 ReLU layers, a linear output and a sigmoid on [0, 1] min-max targets;
    ``seminas``: 64 -> 16 -> 64 with a residual, on z-scores."""
    cells = nb201.all_archs()[:12]
    labelled = {a: float(i) for i, a in enumerate(cells)}
    ctx = Context(space="nb201", dataset="cifar10", seed=0, labelled=labelled)
    shapes = {}
    for preset in ("seminas", "nao"):
        sel = get_selector("nao", seed=0, preset=preset, epochs=2)
        sel._ensure_fit(ctx)
        model = sel.model
        shapes[preset] = [tuple(m.weight.shape) for m in model.mlp] + [tuple(model.regressor.weight.shape)]
        scores = sel.predict(nb201.all_archs()[:300], ctx)
        assert np.all((scores > 0) & (scores < 1)) == (preset == "nao")
    assert shapes["seminas"] == [(16, 64), (64, 16), (1, 64)]
    assert shapes["nao"] == [(200, 96), (200, 200), (200, 200), (1, 200)]
    np.testing.assert_allclose(get_selector("nao", preset="nao")._target([0.5, 0.7, 0.9]), [0, 0.5, 1])
    z = get_selector("nao")._target([0.5, 0.7, 0.9])   # z-scores of 3 evenly spaced values: ±sqrt(1.5)
    np.testing.assert_allclose(z, [-np.sqrt(1.5), 0, np.sqrt(1.5)], atol=1e-12)


def test_nao_residual_predictor_refuses_one_layer():
    with pytest.raises(ConfigError, match="mlp_layers 0 or at least 2"):
        check(NAOSelector, "nao", {"mlp_layers": 1})
    check(NAOSelector, "nao", {"preset": "nao", "mlp_layers": 1})   # NAO_pytorch's plain MLP: any depth
    with pytest.raises(ConfigError, match="preset"):
        check(NAOSelector, "nao", {"preset": "naslib"})


def test_nao_preset_searches_and_records_its_deviations():
    hp = {**NAOSelector.fast_hparams, "preset": "nao"}
    oracle, labelled = _oracle(hp["labels"], budget=14)
    sel = get_selector("nao", seed=0, **hp)
    sel.search(oracle, Context(space="nb201", dataset="cifar10", seed=0, labelled=labelled))
    assert oracle.used == 14 and sel.predictor == "sigmoid" and sel.mlp_layers == 3
    devs = " ".join(sel.deviations)
    assert "NAO_pytorch" in devs and "standardised" not in devs
    seminas = " ".join(get_selector("nao").deviations)
    assert "one of NB-101's 3 repeats at random" in seminas and "standardised" in seminas
