"""Eproxy: frozen barrier, fixed targets, loss orientation, DPS search and its labelled budget."""
import random

import numpy as np
import pytest
import torch

from benchsuite import get_selector
from benchsuite.data.images import augment, load_images, proxy_batch
from benchsuite.errors import ConfigError
from benchsuite.selectors.base import Context
from benchsuite.selectors.proxies import eproxy_model as em
from benchsuite.selectors.proxies.eproxy import (
    EproxyDPSSelector,
    dps_search,
    mutate,
    random_setting,
    used,
)
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
        seen["groups"] = params
        return real_sgd(params, **kw)

    monkeypatch.setattr(torch.optim, "SGD", spy)
    net = nb201.build_network(nb201.all_archs()[1], C=4, N=1)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    torch.manual_seed(0)
    loss = em.final_loss(net, torch.randn(4, 3, 32, 32), em.Setting(branches=(em.Branch(("wave_h",), 1, 3, 8, 8),),
                                                                       iters=2))
    assert np.isfinite(loss)
    head = 16 * 8 + 8 + 2 * 8  # 1x1 conv with bias + BN
    n = sum(p.numel() for g in seen["groups"] for p in g["params"])
    assert n == sum(p.numel() for p in net.parameters()) + head  # barrier params not optimised
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
        genome = mutate(genome, rng, 0.2)
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

    best, rho, history = dps_search(fitness, evals=6, population=3, tournament=2, seed=0, iters=10,
                                    mutation=0.2)
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


def test_weight_decay_only_on_conv_and_linear_weights():
    """utils.get_parameters: decay on '*weight*' parameters of two or more dimensions only."""
    net = nb201.build_network(nb201.all_archs()[1], C=4, N=1, style="zero-cost-nas")
    decay, free = em.param_groups(net.named_parameters())
    assert "weight_decay" not in decay and free["weight_decay"] == 0.0
    names = {id(p): n for n, p in net.named_parameters()}
    expected = {n for n, p in net.named_parameters() if n.endswith("weight") and p.dim() > 1}
    assert {names[id(p)] for p in decay["params"]} == expected and "classifier.weight" in expected
    assert all(p.dim() == 1 for p in free["params"])   # biases (cell convs have them) and BN affine
    assert any("cells" in names[id(p)] and names[id(p)].endswith("bias") for p in free["params"])


@pytest.mark.parametrize("how,bias", [("xavier_uniform", 0.01), ("xavier_normal", 0.01),
                                      ("kaiming_uniform", 0.0), ("kaiming_normal", 0.0)])
def test_initialisers_as_the_reference_sets_them(how, bias):
    torch.manual_seed(0)
    conv, bn = torch.nn.Conv2d(64, 256, 3), torch.nn.BatchNorm2d(8)
    torch.nn.init.constant_(bn.weight, 3.0)
    em.init_module(conv, how)
    em.init_module(bn, how)
    assert torch.all(conv.bias == bias) and torch.all(bn.weight == 1) and torch.all(bn.bias == 0)
    fan_in, fan_out = 64 * 9, 256 * 9
    std = {"xavier": (2 / (fan_in + fan_out)) ** 0.5, "kaiming": (2 / fan_out) ** 0.5}[how.split("_")[0]]
    assert conv.weight.std().item() == pytest.approx(std, rel=0.05)   # kaiming uses fan_out, as utils.py


def test_init_reaches_what_the_reference_apply_reaches():
    """On the non-affine network the reference's try/except apply stops in cell 1's first edge."""
    conv_first = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
    pool_first = "|avg_pool_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
    heads = torch.nn.Sequential(torch.nn.Conv2d(4, 4, 1))
    ref = nb201.build_network(conv_first, C=4, N=1, style="zero-cost-nas")
    reach = em.init_reach(ref, heads)
    assert reach[:2] == list(ref.stem) and reach[-1] is ref.cells[0].edges[0][1]
    assert not any(m is heads[0] for m in reach)
    pool = nb201.build_network(pool_first, C=4, N=1, style="zero-cost-nas")
    assert [m for m in em.init_reach(pool, heads) if isinstance(m, torch.nn.Conv2d)] == [pool.stem[0]]
    bench = nb201.build_network(conv_first, C=4, N=1)   # affine BN everywhere: apply completes
    assert sum(isinstance(m, torch.nn.Conv2d) for m in em.init_reach(bench, heads)) == \
        sum(isinstance(m, torch.nn.Conv2d) for m in [*bench.modules(), *heads.modules()])


def test_eproxy_builds_the_reference_network_and_batch(tmp_path, monkeypatch):
    """Default network: zero-cost-nas's nasbench2 (non-affine BN after a biased conv); the batch is
    CIFAR-10 with GenNAS-Zero's normalisation whatever the dataset, the crop padded black."""
    built = []
    real = nb201.build_network

    def spy(arch, **kw):
        built.append(kw)
        return real(arch, **kw)

    monkeypatch.setattr(nb201, "build_network", spy)
    ctx = Context(space="nb201", dataset="cifar100", seed=0, cache_dir=str(tmp_path))
    sel = get_selector("eproxy", seed=0, **TINY)
    sel.score(nb201.all_archs()[:1], ctx)
    assert built[-1]["style"] == "zero-cost-nas"
    net = real(nb201.all_archs()[0], **built[-1])
    cell_convs = [m for m in net.cells[0].modules() if isinstance(m, torch.nn.Conv2d)]
    assert cell_convs and all(c.bias is not None for c in cell_convs)
    assert all(not b.affine for b in net.cells[0].modules() if isinstance(b, torch.nn.BatchNorm2d))
    images = load_images("cifar10")
    assert sel._source == images.source   # CIFAR-10 images although the dataset is cifar100
    x, _ = proxy_batch(images, TINY["batch_size"], 0, mean_std=em.MEAN_STD, pad_black=True)
    assert torch.equal(sel._x, x)
    bench = get_selector("eproxy", seed=0, network="benchmark", **TINY)
    bench.score(nb201.all_archs()[:1], ctx)
    assert "style" not in built[-1]
    with pytest.raises(Exception, match="network must be one of reference, benchmark"):
        get_selector("eproxy", network="nasbench2")


def test_black_pad_fills_the_border_with_the_normalised_black():
    """torchvision pads the image before Normalize: the border is black, (0 - mean) / std."""
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in em.MEAN_STD)
    x = torch.rand(16, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    raw_black = (torch.zeros(1, 3, 1, 1) - mean) / std
    got = augment((x - mean) / std, torch.Generator().manual_seed(3), fill=raw_black.flatten())
    want = augment(x, torch.Generator().manual_seed(3))   # pad 0 on the raw image, same draws
    torch.testing.assert_close(got, (want - mean) / std, atol=1e-5, rtol=0)
    assert not torch.equal(augment((x - mean) / std, torch.Generator().manual_seed(3)), got)


def test_dps_searches_once_per_benchmark_and_labelled_set(monkeypatch):
    """A selector reused on another space or labelled set searches again (it once carried the
    NB-201 setting over to NB-101)."""
    from benchsuite.selectors.proxies import eproxy

    calls = []

    def fake_search(fitness, **kw):
        calls.append(kw)
        best = em.Setting(branches=em.DEFAULT.branches, lr=em.LRS[len(calls)])
        return best, 0.5, [(0.5, (best, 3))]

    monkeypatch.setattr(eproxy, "dps_search", fake_search)
    sel = get_selector("eproxy-dps", seed=0, **TINY)
    a = Context(space="nb201", dataset="cifar10", labelled={"x": 1.0, "y": 2.0, "z": 3.0})
    b = Context(space="nb101", dataset="cifar10", labelled={"u": 1.0, "v": 2.0, "w": 3.0})
    first, second = sel.setting(a), sel.setting(b)
    assert sel.setting(a) == first and first != second and len(calls) == 2


def test_dps_defaults_and_grids_are_gennas_zeros():
    """GenNAS-Zero configs/config_loss_macs_nb201_nas.yaml (791b2b2): nas_config lines 25-35,
    ea_config lines 36-39, train_config total_pairs (68) and train_sample (77)."""
    reference = {"labels": 20, "evals": 200, "population": 40, "tournament": 10, "mutation": 0.2}
    hp = get_selector("eproxy-dps").hparams()
    assert {k: hp[k] for k in reference} == reference
    assert em.LRS == tuple(round(0.5 + 0.1 * i, 1) for i in range(11))
    assert em.ALPHAS == tuple(round(-0.5 + 0.1 * i, 1) for i in range(11)) and em.LEVELS == (0.5, 1, 1.5, 2)
    assert em.CHANNELS == (16, 32, 64, 128, 256, 512) and em.KERNELS == (1, 3, 7)   # barrier_nas.py index 0/1/2
    assert em.FEATURES == ("net", "wave_l", "wave_m", "wave_h", "dot")
    assert em.INITS[1:] == ("xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal")


def test_mutation_rate_is_per_gene():
    rng = random.Random(1)
    start = random_setting(rng, 10)
    assert all(mutate(start, rng, 1e-12) == start for _ in range(20))
    # 6 global genes + 3 branches x (5 feature bits + 5 genes), each redrawn or flipped at the rate
    changed = [sum(a != b for a, b in zip(_genes(start), _genes(mutate(start, rng, 0.5)))) for _ in range(200)]
    assert 0.3 < np.mean(changed) / len(_genes(start)) < 0.5   # 0.5 x (most redraws differ) ~ 0.43


def _genes(genome):
    s, n = genome
    out = [s.lr, s.alpha, s.init_net, s.init_barrier, n]
    for b in s.branches:
        out += [f in b.features for f in em.FEATURES]
        out += [b.head_kernel, b.barrier_kernel, b.head_channels, b.barrier_channels, b.level]
    return out


@pytest.mark.parametrize("bad, words", [({"tournament": 41}, "must not exceed population"),
                                        ({"mutation": 1.5}, r"mutation must be in \(0, 1\], got 1.5")])
def test_dps_rejects_settings_its_evolution_cannot_run(bad, words):
    with pytest.raises(ConfigError, match=words):
        EproxyDPSSelector(**bad)


def test_dps_records_its_deviations():
    assert any("published setting" in d for d in EproxyDPSSelector.deviations)
    assert set(get_selector("eproxy").deviations) < set(EproxyDPSSelector.deviations)
