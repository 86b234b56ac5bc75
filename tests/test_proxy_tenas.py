"""TE-NAS against VITA-Group/TENAS: plain transcriptions of get_ntk_n (ntk.py), LinearRegionCount.calc_LR
(linear_region_counter.py) and prune_tenas.py's rank sum, hand-computed values on tiny nets, the thin
networks' structure, and one CLI run per selector and space."""
import copy

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from benchsuite import get_selector
from benchsuite.cli import main
from benchsuite.data.images import ImageSet
from benchsuite.errors import ConfigError
from benchsuite.selectors.base import Context
from benchsuite.selectors.proxies.cache import nb201_representatives
from benchsuite.selectors.proxies.extra import MeasureInput
from benchsuite.selectors.proxies.tenas import (
    AUTODL_MEAN_STD,
    NAN_COND,
    count_regions,
    linear_regions,
    lr_crops,
    ntk_cond,
    ntk_condition,
    rank_sum,
    thin_network,
)
from benchsuite.spaces import nb101, nb201
from benchsuite.spaces.nb201_net import Cell, ReLUConvBN

ARCH = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
NONE = nb201.format_arch(["none"] * 6)
NB101_CELL = nb101.make_cell(
    [[0, 1, 1, 0, 0, 0, 1], [0, 0, 0, 1, 0, 0, 0], [0, 0, 0, 0, 1, 0, 0], [0, 0, 0, 0, 0, 0, 1],
     [0, 0, 0, 0, 0, 1, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0]],
    ["input", "conv3x3-bn-relu", "maxpool3x3", "conv1x1-bn-relu", "conv3x3-bn-relu", "maxpool3x3", "output"])


def _nb201(arch=ARCH, C=2, N=1, seed=0):
    torch.manual_seed(seed)
    return nb201.build_network(arch, C=C, N=N).train()


def _input(net, x, seed=0, params=None):
    return MeasureInput(lambda bn=True: copy.deepcopy(net), x, None, seed, "cpu", (3, 32, 32), 10,
                        params=params or {})


# --- NTK --------------------------------------------------------------------------------------------
def ref_get_ntk_n(network, inputs):
    """ntk.py:28-59 as written for one network and one batch (train mode, .backward() per sample,
    W.grad of every parameter named *weight*), the eigenvalues in float64 numpy."""
    network.train()
    grads = []
    network.zero_grad()
    logit = network(inputs.clone())
    for _idx in range(len(inputs)):
        logit[_idx:_idx + 1].backward(torch.ones_like(logit[_idx:_idx + 1]), retain_graph=True)
        grad = [W.grad.view(-1).detach() for name, W in network.named_parameters()
                if "weight" in name and W.grad is not None]
        grads.append(torch.cat(grad, -1))
        network.zero_grad()
    g = torch.stack(grads, 0).double().numpy()
    ev = np.linalg.eigvalsh(np.einsum("nc,mc->nm", g, g))
    with np.errstate(all="ignore"):
        return float(np.nan_to_num(ev[-1] / ev[0], nan=100000.0))


def test_ntk_cond_matches_get_ntk_n():
    net = _nb201()
    x = torch.randn(6, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    ours = ntk_cond(copy.deepcopy(net), x)
    assert ours == pytest.approx(ref_get_ntk_n(copy.deepcopy(net), x), rel=1e-6)
    assert ours > 1


def test_ntk_cond_of_a_linear_model_is_the_condition_number_of_x_xt():
    # logits = W x + b: ∂Σ_c logit_c/∂W = 1_k ⊗ x (the bias is not a "weight"), so K = k·X·Xᵀ
    torch.manual_seed(0)
    net = nn.Linear(5, 3)
    x = torch.randn(4, 5, generator=torch.Generator().manual_seed(2))
    xd = x.double().numpy()
    ev = np.linalg.eigvalsh(xd @ xd.T)
    assert ntk_cond(net, x) == pytest.approx(ev[-1] / ev[0], rel=1e-8)


def test_a_kernel_of_zeros_counts_as_100000():
    # every edge `none`: the cell outputs 0, the last BN sees a constant, no weight reaches the logits
    net = _nb201(NONE)
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    assert ntk_cond(net, x) == NAN_COND
    assert ntk_condition(_input(net, torch.cat([x] * 3))) == -NAN_COND
    # ZenNAS's copy of ntk.py (the one ZiCo ships) calls np.nan_to_num without nan=: such a cell's κ is 0
    assert ntk_cond(net, x, nan=0.0) == 0.0


def test_ntk_condition_is_minus_the_mean_over_repeats_in_train_mode():
    net = _nb201().eval()   # the measure puts its copy in train mode (train_mode=True, prune_tenas.py:111)
    x = torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    got = ntk_condition(_input(net, x, params={"repeat": 2}))
    want = [ref_get_ntk_n(copy.deepcopy(net), xb) for xb in (x[:4], x[4:])]
    assert got == pytest.approx(-np.mean(want), rel=1e-6)


# --- linear regions ---------------------------------------------------------------------------------
def ref_linear_regions(model, batches):
    """Linear_Region_Collector.forward + LinearRegionCount.update2D/calc_LR (linear_region_counter.py:
    120-136, 204-231) as written, the matmul in float32 (the reference's half is exact for these counts)."""
    feats = []
    hooks = [m.register_forward_hook(lambda _m, i, o: feats.append(o.detach()) if len(i[0].size()) == 4 else None)
             for m in model.modules() if isinstance(m, nn.ReLU)]
    rows = []
    with torch.no_grad():
        for xb in batches:
            feats.clear()
            model.forward(xb)
            rows.append(torch.sign(torch.cat([f.view(xb.size(0), -1) for f in feats], 1)))
    for h in hooks:
        h.remove()
    a = torch.cat(rows)
    res = torch.matmul(a, (1 - a).T)
    res = res + res.T   # line 132's `res += res.T` (current torch refuses the aliased in-place add; the
                        # counts are >= 0, so which order it summed in never changes the sign)
    res = 1 - torch.sign(res)
    return (1.0 / res.sum(1).float()).sum().item()


def test_count_regions_by_hand():
    # one ReLU over two units: patterns 11, 10, 01, 11, 00 -> 4 regions
    x = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [2.0, 3.0], [-1.0, -1.0]]).view(5, 1, 1, 2)
    assert count_regions(nn.Sequential(nn.ReLU()), [x]) == 4
    # a ReLU fed a 2-D tensor is not counted (linear_region_counter.py:210): one region
    assert count_regions(nn.Sequential(nn.Flatten(), nn.ReLU()), [x]) == 1


def test_count_regions_matches_calc_lr():
    torch.manual_seed(0)
    thin = nn.Sequential(Cell(nb201.parse_arch(ARCH), 1), nn.BatchNorm2d(1), nn.ReLU(inplace=True)).train()
    x = torch.randn(3 * 200, 1, 3, 3, generator=torch.Generator().manual_seed(5))
    got = count_regions(thin, list(x.chunk(3)))
    assert got == pytest.approx(ref_linear_regions(thin, list(x.chunk(3))), abs=1e-2)
    assert 1 < got <= len(x)
    # train-mode BN normalises each forward over its own batch: the split matters, as in the reference
    assert count_regions(thin, [x]) == pytest.approx(ref_linear_regions(thin, [x]), abs=1e-2)


def test_thin_nb201_network_is_the_first_cell_at_one_channel_then_bn_relu():
    net = _nb201(C=1, N=1)
    thin = thin_network(net, width=1, depth=1, seed=0)
    assert thin[0] is net.cells[0]
    assert isinstance(thin[1], nn.BatchNorm2d) and thin[1].num_features == 1 and isinstance(thin[2], nn.ReLU)
    # one ReLU per ReLU-conv-BN op (three in ARCH) and the head's
    assert sum(isinstance(m, nn.ReLU) for m in thin.modules()) == 4
    assert sum(isinstance(m, ReLUConvBN) for m in thin.modules()) == 3
    assert thin(torch.randn(10, 1, 3, 3)).shape == (10, 1, 3, 3)


def test_thin_nb101_network_gives_each_output_vertex_the_width():
    torch.manual_seed(0)
    net = nb101.build_network(NB101_CELL, stem_channels=5, cells_per_stack=1).train()
    thin = thin_network(net, width=2, depth=1, seed=3)
    (cell,) = thin
    # vertices 3, 4, 5 feed the output: 2 channels each, concatenated: 6; vertex 1 feeds 3 (2), 2 feeds 4 (2)
    assert cell.ch == [2, 2, 2, 2, 2, 2, 6]
    assert [type(cell.ops[str(v)]).__name__ for v in range(1, 6)] == \
        ["ConvBnRelu", "MaxPool2d", "ConvBnRelu", "ConvBnRelu", "MaxPool2d"]
    assert thin(torch.randn(4, 2, 3, 3)).shape == (4, 6, 3, 3)
    again = thin_network(net, width=2, depth=1, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(thin.parameters(), again.parameters()))   # seeded


def test_linear_regions_averages_repeats_on_the_thin_network():
    net = _nb201(C=1, N=1)
    x = torch.randn(2 * 3 * 40, 1, 3, 3, generator=torch.Generator().manual_seed(6))
    got = linear_regions(_input(net, x, params={"repeat": 2, "batches": 3, "depth": 1}))
    thin = thin_network(copy.deepcopy(net), 1, 1, 0).train()
    want = [ref_linear_regions(thin, list(xr.chunk(3))) for xr in x.chunk(2)]
    assert got == pytest.approx(np.mean(want), abs=1e-2)


def test_lr_crops_are_normalised_windows_of_one_channel():
    rng = np.random.default_rng(0)
    images = ImageSet(rng.integers(0, 256, (7, 32, 32, 3), dtype=np.uint8), np.arange(7), None, None, "cifar10",
                      "test")
    x, y = lr_crops(images, 20, seed=1, crop=3, channels=1)   # more crops than images: two passes and a bit
    assert x.shape == (20, 1, 3, 3) and y.shape == (20,)
    assert sorted(y[:7].tolist()) == list(range(7)) and sorted(y[7:14].tolist()) == list(range(7))
    mean, std = (np.array(v) for v in AUTODL_MEAN_STD["cifar10"])
    for i in range(20):   # each crop is some 3x3 window of one channel of its image, normalised
        img = (images.x_train[int(y[i])] / 255.0 - mean) / std
        windows = np.lib.stride_tricks.sliding_window_view(img, (3, 3), axis=(0, 1))   # 30 x 30 x ch x 3 x 3
        assert np.isclose(windows, x[i, 0].numpy(), atol=1e-5).all(axis=(-1, -2)).any()
    again, _ = lr_crops(images, 20, seed=1, crop=3, channels=1)
    assert torch.equal(x, again)


# --- combined rank -----------------------------------------------------------------------------------
def ref_rankings(ntk, regions):
    """prune_tenas.py:147-172 with the candidates' values as given (κ ascending is the reference's Δκ
    descending; the regions descending its Δregions ascending), ties on exact equality."""
    ntk_all = sorted([[v, i] for i, v in enumerate(ntk)], key=lambda t: t[0])
    rankings = {}
    for idx, data in enumerate(ntk_all):
        if idx == 0:
            rankings[data[1]] = [idx]
        elif data[0] == ntk_all[idx - 1][0]:
            rankings[data[1]] = [rankings[ntk_all[idx - 1][1]][0]]
        else:
            rankings[data[1]] = [rankings[ntk_all[idx - 1][1]][0] + 1]
    regions_all = sorted([[v, i] for i, v in enumerate(regions)], key=lambda t: -t[0])
    for idx, data in enumerate(regions_all):
        if idx == 0:
            rankings[data[1]].append(idx)
        elif data[0] == regions_all[idx - 1][0]:
            rankings[data[1]].append(rankings[regions_all[idx - 1][1]][1])
        else:
            rankings[data[1]].append(rankings[regions_all[idx - 1][1]][1] + 1)
    return np.array([sum(rankings[i]) for i in range(len(ntk))])


def test_rank_sum_is_prune_tenas_ranking():
    rng = np.random.default_rng(0)
    for _ in range(20):
        n = int(rng.integers(2, 30))
        ntk = rng.choice([1.5, 2.0, 7.0, 100000.0, 3.25, 40.0], n)   # ties on purpose
        regions = rng.integers(1, 6, n).astype(float)
        np.testing.assert_array_equal(rank_sum(ntk, regions), ref_rankings(ntk, regions))
    assert list(rank_sum([1.0, 1.0, 3.0], [5.0, 9.0, 9.0])) == [1, 0, 1]


# --- selectors ---------------------------------------------------------------------------------------
def test_selector_defaults_and_refusals():
    ntk = get_selector("tenas_ntk")
    assert (ntk.batch_size, ntk.repeat, ntk.network, ntk.C, ntk.N) == (72, 3, "benchmark", None, None)
    lr = get_selector("tenas_lr")
    assert (lr.batch_size, lr.batches, lr.repeat, lr.crop) == (1000, 3, 3, 3) and lr.reads_images()
    both = get_selector("tenas")
    assert both.ranks_jointly and both.ntk.batch_size == 72 and both.lr.batch_size == 1000
    with pytest.raises(ConfigError, match="share"):
        get_selector("tenas_ntk", share=True)
    with pytest.raises(ConfigError, match=r"C must be in \[1, 3\], got 4"):   # the crops' colour channels
        get_selector("tenas_lr", C=4)


@pytest.mark.bundle
def test_tenas_is_minus_the_rank_sum_of_its_components():
    archs = nb201.all_archs()[:6] + [NONE]
    ctx = Context(space="nb201", dataset="cifar10", seed=0)
    kw = dict(seed=0, C=3, N=1, batch_size=8, lr_batch_size=50)
    got = get_selector("tenas", **kw).score(archs, ctx)
    ntk = get_selector("tenas_ntk", seed=0, C=3, N=1, batch_size=8).score(archs, ctx)
    lr = get_selector("tenas_lr", seed=0, batch_size=50).score(archs, ctx)
    np.testing.assert_array_equal(got, -ref_rankings(-ntk, lr))
    assert ntk[-1] == -NAN_COND


@pytest.mark.bundle
def test_ntk_defaults_to_te_nas_network_on_nb201():
    sel = get_selector("tenas_ntk", batch_size=4, repeat=1)
    sel.score(nb201.all_archs()[:1], Context(space="nb201", dataset="cifar10", seed=0))
    assert sel.report()["network_C_N"] == [3, 1] and sel.C is None


@pytest.mark.bundle
def test_ntk_defaults_to_a_narrow_network_on_nb101():
    """NB-101 is not in TE-NAS; as its NB-201 and DARTS supernets (prune_tenas.py:358-359, 371-372), κ is
    taken on a narrow network: 5 stem channels and one cell per stack, not the benchmark's 128 and 3."""
    ctx = Context(space="nb101", dataset="cifar10", seed=0)
    kw, cells = dict(seed=0, batch_size=4, repeat=1), [NB101_CELL.to_string()]
    sel = get_selector("tenas_ntk", **kw)
    got = sel.score(cells, ctx)
    assert sel.report()["network_C_N"] == [5, 1] and sel.C is None
    np.testing.assert_array_equal(got, get_selector("tenas_ntk", C=5, N=1, **kw).score(cells, ctx))
    assert got[0] != get_selector("tenas_ntk", C=8, N=1, **kw).score(cells, ctx)[0]


SPACE_HP = {"nb201": ["--hp", "C=4", "--hp", "N=1"], "nb101": ["--hp", "C=8", "--hp", "N=1"]}
CLI_HP = {"tenas_ntk": ["--hp", "batch_size=8"], "tenas_lr": ["--hp", "batch_size=50"],
          "tenas": ["--hp", "batch_size=8", "--hp", "lr_batch_size=50"]}


@pytest.mark.bundle
@pytest.mark.parametrize("bench", ["nb201", "nb101"])
@pytest.mark.parametrize("name", ["tenas_ntk", "tenas_lr", "tenas"])
def test_cli_run(tmp_path, name, bench):
    import pandas as pd

    space_hp = [] if name == "tenas_lr" else SPACE_HP[bench]   # tenas_lr's C is its crops' channels
    assert main(["run", "--bench", bench, "--selector", name, "--sample", "6", *space_hp, *CLI_HP[name],
                 "--no-plots", "--n-boot", "0", "--out", str(tmp_path / "run")]) == 0
    scores = pd.read_csv(tmp_path / "run" / "scores.csv")
    assert len(scores) == 6 and np.isfinite(scores["score"]).all()


def test_the_settings_study_scores_gaussian_inputs_as_zennas_and_resumes(tmp_path, bench_script, capsys):
    """benchmarks/tenas_ntk_settings.py's ``gaussian`` setting: κ on one seeded Gaussian batch of TE-NAS's
    network built as the selector builds it, NaN as 0 (ZenNAS's copy of ntk.py); a rerun computes nothing."""
    study = bench_script("tenas_ntk_settings")
    out = tmp_path / "s.csv"
    args = ["--cells", "2", "--settings", "gaussian", "--gaussian-batch", "8", "--out", str(out)]
    assert study.main(args) == 0
    d = pd.read_csv(out)
    assert len(d) == 2 and set(d.setting) == {"gaussian"}
    cell = d.arch[0]
    rep = nb201_representatives()[nb201.canonical(cell)]
    torch.manual_seed(0)
    net = nb201.build_network(rep, C=3, N=1, bn=True).train()
    x = torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    assert d.score[0] == pytest.approx(-ntk_cond(net, x, nan=0.0), rel=1e-9)
    assert study.main(args) == 0 and len(pd.read_csv(out)) == 2
    assert "gaussian" in capsys.readouterr().out.splitlines()[-1]


def test_the_settings_summary_counts_nan_kappa_cells_and_ranks_them_last_on_request(bench_script):
    """A 0 score is a NaN κ under the ZenNAS code: counted, and ``rho_nan_last`` ranks it last; a
    setting with more cells is scored on the common cells or on its own."""
    study = bench_script("tenas_ntk_settings")
    acc = pd.DataFrame({"arch": list("abcde"), study.COLUMN: [10.0, 50.0, 60.0, 70.0, 80.0]})
    d = pd.DataFrame({"setting": ["gaussian"] * 4 + ["tenas"] * 5, "arch": list("abcd") + list("abcde"),
                      "score": [0.0, -3.0, -2.0, -1.0, -5.0, -4.0, -3.0, -2.0, -1.0]})
    common = study.summary(d, acc, n_boot=10).set_index("setting")
    assert common.cells.tolist() == [4, 4] and common.loc["gaussian", "nan_kappa"] == 1
    assert common.loc["gaussian", "rho"] == pytest.approx(-0.2)       # the 10 % cell ranked first
    assert common.loc["gaussian", "rho_nan_last"] == pytest.approx(1.0)
    assert common.loc["gaussian", "rho_vs_tenas"] == pytest.approx(-0.2) and common.loc["tenas", "rho_vs_tenas"] == 1
    own = study.summary(d, acc, n_boot=10, common=False).set_index("setting")
    assert own.loc["tenas", "cells"] == 5 and own.loc["tenas", "rho"] == pytest.approx(1.0)
