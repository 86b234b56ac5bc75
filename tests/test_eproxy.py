"""Eproxy: frozen barrier, fixed targets, loss orientation, DPS search and its labelled budget."""
import random

import numpy as np
import pytest
import torch

from benchsuite import get_selector
from benchsuite.selectors.base import Context
from benchsuite.selectors.proxies import eproxy_model as em
from benchsuite.selectors.proxies.eproxy import dps_search, mutate, random_setting, used
from benchsuite.spaces import nb201

pytestmark = pytest.mark.bundle   # CIFAR images or the bundle's own files (see conftest)

TINY = {"C": 4, "N": 1, "batch_size": 4, "iters": 3}


def test_targets_are_fixed_and_shaped():
    b = em.Branch(("wave_h", "dot"), barrier_channels=5, level=2.0)
    t1, t2 = em.make_targets(b, 4), em.make_targets(b, 4)
    assert t1.shape == (4, 5, 8, 8) and torch.equal(t1, t2)
    only_wave = em.make_targets(em.Branch(("wave_h",), barrier_channels=5, level=2.0), 4)
    assert not torch.equal(t1, only_wave)  # the dot pattern adds in
    assert em.make_targets(em.Branch((), barrier_channels=5), 4).abs().sum() == 0
    with pytest.raises(ValueError, match="unknown Eproxy target"):
        em._pattern("stripes", 1, 1, torch.Generator())


def test_stage_outputs_deepest_first_at_8x8():
    net = nb201.build_network(nb201.all_archs()[1], C=4, N=1)
    outs = em.stage_outputs(net, torch.randn(2, 3, 32, 32))
    assert [o.shape[1] for o in outs] == [16, 8, 4] and all(o.shape[-2:] == (8, 8) for o in outs)


def test_barrier_is_frozen_and_backbone_trains(monkeypatch):
    seen = {}
    real_sgd = torch.optim.SGD

    def spy(params, **kw):
        params = list(params)
        seen["n"] = sum(p.numel() for p in params)
        return real_sgd(params, **kw)

    monkeypatch.setattr(torch.optim, "SGD", spy)
    net = nb201.build_network(nb201.all_archs()[1], C=4, N=1)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    torch.manual_seed(0)
    loss = em.final_loss(net, torch.randn(4, 3, 32, 32), em.Setting(branches=(em.Branch(("wave_h",), 1, 3, 8, 8),),
                                                                       iters=2))
    assert np.isfinite(loss)
    head = 16 * 8 + 8 + 2 * 8  # 1x1 conv with bias + BN
    assert seen["n"] == sum(p.numel() for p in net.parameters()) + head  # barrier params not optimised
    assert any(not torch.equal(before[k], v) for k, v in net.state_dict().items() if "weight" in k)


def test_score_is_minus_loss_and_cached(tmp_path):
    ctx = Context(space="nb201", dataset="cifar10", seed=0, cache_dir=str(tmp_path))
    archs = nb201.all_archs()[:3]
    sel = get_selector("eproxy", seed=0, **TINY)
    s = sel.score(archs, ctx)
    losses = sel.losses(archs, ctx, sel.setting(ctx))
    np.testing.assert_array_equal(s, -losses)
    assert sel.cache_stats == (3, 0)  # the second pass was served from the cache
    assert (s < 0).all()


def test_mutation_and_random_settings_stay_in_the_space():
    rng = random.Random(0)
    genome = random_setting(rng, 10)
    for _ in range(50):
        genome = mutate(genome, rng)
        s = used(genome)
        assert 1 <= len(s.branches) <= 3 and s.lr in em.LRS and s.alpha in em.ALPHAS
        assert all(set(b.features) <= set(em.FEATURES) and b.head_channels in em.CHANNELS for b in s.branches)
        assert em.Setting.from_key(s.key()) == s


def test_dps_search_keeps_the_best_and_starts_from_published():
    scores = iter([0.1, 0.5, -0.2, 0.3, 0.9, 0.0])
    seen = []

    def fitness(setting):
        seen.append(setting)
        return next(scores)

    best, rho, history = dps_search(fitness, evals=6, population=3, tournament=2, seed=0, iters=10)
    assert rho == 0.9 and best == seen[4] and len(history) == 6
    assert seen[0].branches == em.DEFAULT.branches and seen[0].lr == em.DEFAULT.lr


@pytest.mark.slow
def test_dps_uses_only_labelled_cells_and_reports(tmp_path, nb201):
    labelled = nb201.archs("cifar10")[200:204]
    ctx = Context(space="nb201", dataset="cifar10", seed=0, cache_dir=str(tmp_path),
                  labelled=dict(zip(labelled, nb201.accuracy(labelled, "cifar10"))))
    sel = get_selector("eproxy-dps", seed=0, **TINY, labels=4, evals=3, population=2, tournament=1)
    assert sel.labelled_budget() == 4
    s = sel.score(nb201.archs("cifar10")[:3], ctx)
    assert s.shape == (3,)
    rep = sel.report()
    assert rep["fit_cells"] == 4 and rep["evaluated_settings"] == 3
    assert rep["best_fit_spearman"] >= rep["published_setting_fit_spearman"]
    with pytest.raises(ValueError, match="needs labelled cells"):
        get_selector("eproxy-dps", seed=0, **TINY).score(nb201.archs("cifar10")[:2],
                                                         Context(space="nb201", dataset="cifar10"))
