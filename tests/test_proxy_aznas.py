"""AZ-NAS (cvlab-yonsei/AZ-NAS, NB201/ZeroShotProxy/compute_az_nas_score.py and tss_general.ipynb):
the components against a plain transcription of the reference's loops, hand values on tiny blocks,
the reference's re-initialisation invariance, AutoDL's FLOP count, and the rank aggregate."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from benchsuite import get_selector
from benchsuite.cli import main
from benchsuite.selectors.base import Context
from benchsuite.selectors.proxies import aznas
from benchsuite.selectors.proxies.extra import MeasureInput
from benchsuite.spaces import nb101, nb201
from benchsuite.spaces.nb101_net import build_network as nb101_network

ARCH = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
IDENTITY = "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"   # the cell's output is its input
NB101_ARCH = nb101.random_arch(np.random.default_rng(0))


def _nb201_input(arch, *, batch=8, seed=0, classes=10, style="benchmark", scramble=False):
    def net(bn=True):
        torch.manual_seed(123 if scramble else 0)   # weights the measure must replace by its own init
        return nb201.build_network(arch, C=4, N=1, num_classes=classes, bn=bn, style=style).train()

    x = torch.zeros(batch, 3, 32, 32)   # only its size is read: AZ-NAS feeds Gaussian noise (az:126-127)
    return MeasureInput(net, x, None, seed, "cpu", (3, 32, 32), classes)


def _nb101_input(cell, *, batch=8, seed=0):
    def net(bn=True):
        return nb101_network(cell, stem_channels=4, cells_per_stack=1, bn=bn).train()

    return MeasureInput(net, torch.zeros(batch, 3, 32, 32), None, seed, "cpu", (3, 32, 32), 10)


# --- a plain transcription of compute_az_nas_score.py (float64 numpy, explicit loops) -------------
def ref_az(m: MeasureInput, blocks) -> dict:
    g = torch.Generator().manual_seed(m.seed)
    net = m.net(bn=True)
    with torch.no_grad():
        for mod in net.modules():   # az:7-15, the leaves in order
            if isinstance(mod, (nn.Conv2d, nn.Linear)):
                fan_in = mod.weight[0].numel()
                mod.weight.normal_(0, math.sqrt(2.0 / fan_in), generator=g)
                if mod.bias is not None:
                    mod.bias.zero_()
            elif isinstance(mod, nn.BatchNorm2d) and mod.affine:
                mod.weight.fill_(1.0)
                mod.bias.zero_()
    net.train()
    h = torch.randn((m.x.shape[0], 3, 32, 32), generator=g)
    feats = []
    for b in blocks(net):
        h = b(h)
        feats.append(h)
    ents = []
    for f in feats:
        a = f.detach().permute(0, 2, 3, 1).reshape(-1, f.shape[1]).double().numpy()
        cov = np.cov(a, rowvar=False, bias=True)
        s = np.linalg.eigvalsh(cov)
        p = s / s.sum()
        ents.append(sum(-pi * math.log(pi + 1e-8) for pi in p))
    scores = []
    for i in reversed(range(1, len(feats))):
        g_out = (torch.bernoulli(torch.full(feats[i].shape, 0.5), generator=g) - 0.5) * 2
        (g_in,) = torch.autograd.grad(feats[i], feats[i - 1], g_out, retain_graph=True)
        if g_in.shape == g_out.shape and torch.equal(g_in, g_out):
            scores.append(-math.inf)
            continue
        go, gi = g_out.double().numpy(), g_in.double().numpy()
        b, c, hi, wi = gi.shape
        s = hi // go.shape[2]
        if s > 1:   # pixel unshuffle written out: channel c·s² + i·s + j holds pixel (h·s+i, w·s+j)
            gi = gi.reshape(b, c, hi // s, s, wi // s, s).transpose(0, 1, 3, 5, 2, 4).reshape(b, c * s * s, hi // s,
                                                                                              wi // s)
        # az:177-179, the "straight-forward way": the mean over (image, pixel) of g_in g_outᵀ
        mat = np.einsum("bihw,bohw->io", gi, go) / (go.shape[0] * go.shape[2] * go.shape[3])
        smax = np.linalg.svd(mat, compute_uv=False).max()
        scores.append(-smax - 1 / (smax + 1e-6) + 2)
    ents = np.array(ents)
    return {"az_expressivity": ents.sum(), "az_progressivity": np.min(np.diff(ents)),
            "az_trainability": np.mean(scores)}


def _nb201_blocks(net):
    return [net.stem, *net.cells]   # tss_model.py:54-68: stem, then every cell and reduction block


@pytest.mark.parametrize("arch", [ARCH, IDENTITY, nb201.format_arch(["avg_pool_3x3"] * 6)])
def test_components_equal_a_transcription_of_the_reference(arch):
    m = _nb201_input(arch, seed=3)
    got = aznas.components(m)
    want = ref_az(m, _nb201_blocks)
    for k, v in want.items():
        assert got[k] == pytest.approx(v, rel=2e-4, abs=1e-5), k
    assert len(_nb201_blocks(m.net())) == 3 * 1 + 3   # N=1: stem, 3 cells, 2 reduction blocks


def test_identity_cell_trainability_is_minus_inf_and_no_expressivity_gain():
    got = aznas.components(_nb201_input(IDENTITY))
    assert got["az_trainability"] == -math.inf       # az:165-166
    assert got["az_progressivity"] == 0.0            # the cell repeats the stem's features exactly


def test_nb101_stages_are_stem_cells_and_pools():
    m = _nb101_input(NB101_ARCH, seed=1)
    blocks = lambda net: list(net.features)   # noqa: E731
    assert [type(b).__name__ for b in blocks(m.net())] == ["ConvBnRelu", "NB101Cell", "MaxPool2d", "NB101Cell",
                                                          "MaxPool2d", "NB101Cell"]
    got, want = aznas.components(m), ref_az(m, blocks)
    for k, v in want.items():
        assert got[k] == pytest.approx(v, rel=2e-4, abs=1e-5), k


def test_reinitialised_as_the_reference_whatever_the_incoming_weights_or_network_style():
    base = aznas.components(_nb201_input(ARCH))
    assert aznas.components(_nb201_input(ARCH, scramble=True)) == base
    # zero-cost-nas's variant (biased convs, non-affine BN) gives the same features once the
    # biases are zeroed and affine BN is at 1/0, as the reference's init leaves it
    other = aznas.components(_nb201_input(ARCH, style="zero-cost-nas"))
    for k, v in base.items():
        assert other[k] == pytest.approx(v, rel=1e-5), k
    assert aznas.components(_nb201_input(ARCH, seed=1)) != base


# --- hand values -----------------------------------------------------------------------------
def test_entropy_of_an_isotropic_spectrum_is_log_channels():
    a = torch.tensor([[1.0, -1.0], [1.0, -1.0]])     # channel 0
    b = torch.tensor([[1.0, 1.0], [-1.0, -1.0]])     # channel 1: orthogonal to 0, same variance
    feat = torch.stack([a, b])[None]                  # (1, 2, 2, 2)
    assert aznas.entropy_of_spectrum(feat) == pytest.approx(-math.log(0.5 + 1e-8), rel=1e-6)
    one = torch.stack([a, 2 * a])[None]               # rank one: all mass on one eigenvalue
    assert aznas.entropy_of_spectrum(one) == pytest.approx(0.0, abs=1e-6)


def _probe(shape, seed=0):
    return (torch.bernoulli(torch.full(shape, 0.5), generator=torch.Generator().manual_seed(seed)) - 0.5) * 2


def test_block_trainability_hand_values():
    x = torch.randn(2, 1, 4, 4, requires_grad=True)
    # f = 2x: g_in = 2 g_out, E[g_in g_out] = 2, so 2 - 2 - 1/(2 + 1e-6)
    assert aznas.block_trainability(2 * x, x, _probe((2, 1, 4, 4))) == pytest.approx(-1 / (2 + 1e-6), rel=1e-9)
    # 2x2 average pool: each of the 4 sub-grids gets g_out/4: a 4x1 matrix of 1/4, sigma = 1/2
    y = torch.randn(2, 1, 4, 4, requires_grad=True)
    pooled = nn.functional.avg_pool2d(y, 2)
    assert aznas.block_trainability(pooled, y, _probe((2, 1, 2, 2))) == pytest.approx(
        2 - 0.5 - 1 / (0.5 + 1e-6), rel=1e-6)
    z = torch.randn(2, 3, 4, 4, requires_grad=True)
    assert aznas.block_trainability(z * 1, z, _probe((2, 3, 4, 4))) == -math.inf


# --- complexity: AutoDL's counter, which made NATS-Bench's FLOPs -----------------------------
@pytest.mark.parametrize("arch", [ARCH, IDENTITY, nb201.format_arch(["nor_conv_3x3"] * 6)])
def test_complexity_is_the_benchmark_flop_count(arch):
    def net(bn=True):
        return nb201.build_network(arch, num_classes=classes, bn=bn)

    for classes, res in ((10, 32), (120, 16)):   # ImageNet16-120 at its own 16x16, as NATS-Bench
        m = MeasureInput(net, None, None, 0, "cpu", (3, 32, 32), classes)
        # the cost model counts MACs of convs and the classifier; AutoDL adds the classifier's bias
        want = nb201.costs(arch, num_classes=classes, resolution=res)["flops_m"] + classes / 1e6
        assert aznas.complexity(m) == pytest.approx(want, rel=1e-9)
    # the table's value for this cell (NATS-Bench, cifar10: "FLOP=153.27 M", tss_general.ipynb cell 7)
    best = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|"
    assert aznas.complexity(MeasureInput(lambda bn=True: nb201.build_network(best), None, None, 0, "cpu",
                                         (3, 32, 32), 10)) == pytest.approx(153.27, abs=0.005)


def test_complexity_on_nb101_counts_conv_and_dense():
    m = MeasureInput(lambda bn=True: nb101_network(NB101_ARCH), None, None, 0, "cpu", (3, 32, 32), 10)
    assert aznas.complexity(m) == pytest.approx(nb101.costs(NB101_ARCH)["flops_m"] + 10 / 1e6, rel=1e-9)


def test_complexity_runs_without_images():
    sel = get_selector("az_complexity")
    assert not sel.reads_images()
    archs = [ARCH, IDENTITY, nb201.format_arch(["nor_conv_3x3"] * 6)]
    s = sel.score(archs, Context(space="nb201", dataset="cifar10"))
    assert s[2] > s[0] > s[1]


# --- the aggregate -----------------------------------------------------------------------------
class _Fixed:
    def __init__(self, values):
        self.values = np.array(values, dtype=float)

    def score(self, archs, ctx):
        return self.values

    def _names(self):
        return set()


def _avg_rank(v, i):
    less = sum(1 for u in v if u < v[i])
    ties = sum(1 for u in v if u == v[i])
    return 1 + less + (ties - 1) / 2


def test_aggregate_is_the_sum_of_log_rank_fractions_with_nan_last():
    cols = [[3.0, 1.0, 2.0, 2.0], [0.5, np.nan, -1.0, 7.0], [1.0, 2.0, 3.0, 4.0], [-np.inf, 0.0, 1.0, 1.0]]
    sel = get_selector("az_nas")
    sel._components = [_Fixed(c) for c in cols]
    got = sel.score(["a", "b", "c", "d"], Context(space="nb201", dataset="cifar10"))
    filled = [[-math.inf if math.isnan(u) else u for u in c] for c in cols]   # az:193-195
    want = [sum(math.log(_avg_rank(c, i) / 4) for c in filled) for i in range(4)]
    np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.bundle
def test_aggregate_reads_the_components_from_one_pass(tmp_path):
    fast = dict(C=4, N=1, batch_size=8, seed=2)
    archs = nb201.all_archs()[:5] + [IDENTITY]
    ctx = Context(space="nb201", dataset="cifar10", cache_dir=str(tmp_path))
    agg = get_selector("az_nas", **fast)
    got = agg.score(archs, ctx)
    assert agg.report()["proxy_cache"] == {"hits": 12, "misses": 12}   # 3 feature components, 1 pass
    cols = [get_selector(n, **fast).score(archs, Context(space="nb201", dataset="cifar10"))
            for n in aznas.COMPONENTS]
    n = len(archs)
    want = [sum(math.log(_avg_rank(np.nan_to_num(c, nan=-np.inf), i) / n) for c in cols) for i in range(n)]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    # the identity cell's trainability is the reference's -inf, a score: last alone and in the aggregate
    assert cols[aznas.COMPONENTS.index("az_trainability")][-1] == -np.inf and np.isfinite(got).all()


@pytest.mark.bundle
@pytest.mark.parametrize("bench, hp", [("nb201", ["--hp", "N=1"]), ("nb101", ["--hp", "N=1"])])
def test_cli_runs(bench, hp, tmp_path):
    for name in ("az_nas", "az_trainability"):
        out = tmp_path / f"{bench}-{name}"
        args = ["run", "--bench", bench, "--selector", name, "--sample", "6", "--hp", "C=4", *hp,
                "--hp", "batch_size=8", "--no-plots", "--n-boot", "0", "--out", str(out)]
        assert main(args) == 0


@pytest.mark.parametrize("bench, hp", [("nb201", []), ("nb101", ["--hp", "C=4"])])
def test_complexity_runs_offline_without_images(bench, hp, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("BENCHSUITE_DATA", raising=False)   # no bundle, no images anywhere
    monkeypatch.delenv("BENCHSUITE_CIFAR_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "run"
    args = ["run", "--bench", bench, "--selector", "az_complexity", "--sample", "6", "--hp", "N=1", *hp,
            "--no-plots", "--n-boot", "0", "--out", str(out)]
    assert main(args) == 0, capsys.readouterr().err
