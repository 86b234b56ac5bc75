"""GradSign and MeCo against their references: plain transcriptions of cmu-catalyst/GradSign's
grad_conflict.py and HamsterMimi/MeCo's get_score (every module hooked, on a network with the
reference's module tree), hand-computed values on tiny nets, and one CLI run per space."""
import copy
import random
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from benchsuite import get_selector
from benchsuite.selectors.proxies.extra import MeasureInput
from benchsuite.selectors.proxies.gradsign import REFERENCE_BATCH, gradsign, nasbench1_init, sign_sum
from benchsuite.selectors.proxies.meco import NB101_INPUT, meco, meco_of, meco_opt
from benchsuite.spaces import nb101, nb201
from benchsuite.spaces.nb101_net import ConvBnRelu, NB101Network
from benchsuite.spaces.nb201_net import Cell, ReLUConvBN

ARCH = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
# input -> conv3x3 -> conv1x1 -> out; input -> maxpool -> conv3x3 -> (out, maxpool -> out); input -> out
NB101_CELL = nb101.make_cell(
    [[0, 1, 1, 0, 0, 0, 1], [0, 0, 0, 1, 0, 0, 0], [0, 0, 0, 0, 1, 0, 0], [0, 0, 0, 0, 0, 0, 1],
     [0, 0, 0, 0, 0, 1, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0]],
    ["input", "conv3x3-bn-relu", "maxpool3x3", "conv1x1-bn-relu", "conv3x3-bn-relu", "maxpool3x3", "output"])


def _nb201(C=4, seed=0):
    torch.manual_seed(seed)
    return nb201.build_network(ARCH, C=C, N=1, style="zero-cost-nas").train()


def _nb101(C=16, seed=0):
    torch.manual_seed(seed)
    return nb101.build_network(NB101_CELL, stem_channels=C, cells_per_stack=1).train()


def _input(net, x, y=None, seed=0):
    """A MeasureInput whose net() hands out copies of ``net``."""
    return MeasureInput(lambda bn=True: copy.deepcopy(net), x, y, seed, "cpu", (3, 32, 32), 10)


def _batch(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 32, 32, generator=g), torch.randint(0, 10, (n,), generator=g)


# --- GradSign ---------------------------------------------------------------------------------
def ref_grad_conflict(net, x, y):
    """grad_conflict.py:48-65 as written: per-sample .backward(), flattened numpy grads, sign, sum, abs, nansum."""
    rows = []
    for i in range(x.shape[0]):
        net.zero_grad()
        F.cross_entropy(net.forward(x[[i]]), y[[i]]).backward()
        rows.append(np.concatenate([
            (m.weight.grad.numpy() if m.weight.grad is not None else np.zeros(m.weight.shape, np.float32)).ravel()
            for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]))
    return float(np.nansum(abs(np.sign(np.stack(rows)).sum(axis=0))))


def test_gradsign_equals_reference_transcription_nb201():
    net = _nb201()
    x, y = _batch()
    assert gradsign(_input(net, x, y)) == ref_grad_conflict(copy.deepcopy(net), x, y)


def test_gradsign_nb101_reinitialises_as_nasbench1():
    net = _nb101(C=4)
    x, y = _batch(4)
    expected = ref_grad_conflict(nasbench1_init(copy.deepcopy(net), 3), x, y)
    assert gradsign(_input(net, x, y, seed=3)) == expected


def test_gradsign_hand_value_and_sample_order():
    # logits = W x with W = I; dL/dW = (p - e_y) xᵀ, so sign(dL/dW)_kj = sign(p - e_y)_k · sign(x_j).
    # (1,-2), y=0: [[-1,+1],[+1,-1]]; (3,1), y=0: [[-1,-1],[+1,+1]]; (1,1), y=1: [[+1,+1],[-1,-1]]
    lin = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.eye(2))
    x = torch.tensor([[1.0, -2.0], [3.0, 1.0], [1.0, 1.0]])
    y = torch.tensor([0, 0, 1])
    assert sign_sum(lin, x[:2], y[:2]) == 4.0          # |[[-2, 0], [2, 0]]| summed
    assert sign_sum(lin, x, y) == 4.0                  # |[[-1, 1], [1, -1]]| summed
    assert sign_sum(lin, x[[2, 0, 1]], y[[2, 0, 1]]) == 4.0
    assert sign_sum(lin, x[:1], y[:1]) == 4.0          # one sample: every nonzero gradient counts 1


def test_nasbench1_init_statistics_and_seed():
    net = nasbench1_init(_nb101(C=16), seed=5)
    conv = max((m for m in net.modules() if isinstance(m, nn.Conv2d)), key=lambda m: m.weight.numel())
    k = conv.kernel_size[0] * conv.kernel_size[1] * conv.out_channels
    assert float(conv.weight.detach().std()) == pytest.approx((2.0 / k) ** 0.5, rel=0.1)
    assert float(net.classifier.weight.detach().std()) == pytest.approx(0.01, rel=0.2)
    assert not net.classifier.bias.any()
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(bool((b.weight == 1).all()) and not b.bias.any() for b in bns)
    again = nasbench1_init(_nb101(C=16, seed=9), seed=5)
    other = nasbench1_init(_nb101(C=16), seed=6)
    assert torch.equal(conv.weight, dict(again.named_modules())[_name(net, conv)].weight)
    assert not torch.equal(conv.weight, dict(other.named_modules())[_name(net, conv)].weight)


def _name(net, module):
    return next(n for n, m in net.named_modules() if m is module)


def test_gradsign_batch_default_is_the_references_per_space():
    sel = get_selector("gradsign")
    assert sel.batch_size is None and sel._images_drawn() == REFERENCE_BATCH["nb201"] == 128
    sel._space = "nb101"
    assert sel._images_drawn() == REFERENCE_BATCH["nb101"] == 64
    assert get_selector("gradsign", batch_size=8)._images_drawn() == 8


# --- MeCo ---------------------------------------------------------------------------------------
def ref_get_score(net, x):
    """NAS_Bench_201.py:11-43 as written: a hook on every module, first image, corrcoef, NaN/inf -> 0,
    min real eigenvalue, NaN/inf results dropped, summed."""
    result_list = []

    def forward_hook(module, data_input, data_output):
        fea = data_output[0].clone().detach()
        n = fea.shape[0]
        fea = fea.reshape(n, -1)
        corr = torch.corrcoef(fea)
        corr[torch.isnan(corr)] = 0
        corr[torch.isinf(corr)] = 0
        values = torch.linalg.eig(corr)[0]
        result_list.append(torch.min(torch.real(values)))

    for _, module in net.named_modules():
        module.register_forward_hook(forward_hook)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # corrcoef of one-value rows (logits), as in the reference
        net(x)
    results = torch.tensor(result_list)
    results = results[torch.logical_not(torch.isnan(results))]
    results = results[torch.logical_not(torch.isinf(results))]
    return torch.sum(results).item()


class Wrap(nn.Module):
    """A module that only calls another: the reference's wrapper classes."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x)


class Top(nn.Module):   # nasbench2_ops.top: lastact, global pooling, flatten
    def __init__(self, lastact, pool):
        super().__init__()
        self.lastact, self.global_pooling = lastact, pool

    def forward(self, x):
        return self.global_pooling(self.lastact(x)).flatten(1)


class RefNB201(nn.Module):
    """zero-cost-nas's nasbench2.NAS201Model module tree around benchsuite's layers: ``stem`` wrapping
    a Sequential, ``ReLUConvBN`` wrapping ``op``, ``POOLING`` wrapping the AvgPool, a Sequential per
    stage, ``top``; the same weights."""

    def __init__(self, net, N=1):
        super().__init__()
        net = copy.deepcopy(net)
        for m in list(net.modules()):
            if isinstance(m, Cell):
                for k, op in enumerate(m.edges):
                    if isinstance(op, (ReLUConvBN, nn.AvgPool2d)):
                        m.edges[k] = Wrap(op)
            elif hasattr(m, "conv_a"):
                m.conv_a, m.conv_b = Wrap(m.conv_a), Wrap(m.conv_b)
        cells = list(net.cells)
        self.stem = Wrap(net.stem)
        self.stack_cell1 = nn.Sequential(*cells[:N])
        self.reduction1 = cells[N]
        self.stack_cell2 = nn.Sequential(*cells[N + 1: 2 * N + 1])
        self.reduction2 = cells[2 * N + 1]
        self.stack_cell3 = nn.Sequential(*cells[2 * N + 2:])
        self.top = Top(net.lastact, net.pool)
        self.classifier = net.classifier

    def forward(self, x):
        x = self.reduction1(self.stack_cell1(self.stem(x)))
        x = self.reduction2(self.stack_cell2(x))
        return self.classifier(self.top(self.stack_cell3(x)))


class RefNB101(nn.Module):
    """zero-cost-nas's nasbench1.Network module tree around benchsuite's layers: a ModuleList of
    layers, ConvBnRelu wrapping a Sequential, Conv3x3BnRelu/Conv1x1BnRelu wrapping a ConvBnRelu,
    MaxPool3x3 wrapping the MaxPool; mean over pixels; the same weights."""

    def __init__(self, net):
        super().__init__()
        net = copy.deepcopy(net)
        layers = list(net.features)
        for cell in layers:
            if hasattr(cell, "ops"):
                for k, op in cell.ops.items():
                    cell.ops[k] = Wrap(Wrap(op)) if isinstance(op, ConvBnRelu) else Wrap(op)
                for k, p in cell.proj.items():
                    cell.proj[k] = Wrap(p)
        layers[0] = Wrap(layers[0])
        self.layers = nn.ModuleList(layers)
        self.classifier = net.classifier

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return self.classifier(torch.mean(x, (2, 3)))


def test_meco_hand_value_two_channels():
    # two channels with correlation r: corr = [[1, r], [r, 1]], λ_min = 1 - |r|; the root Sequential
    # and the Identity both return the map, so it counts twice
    a = torch.tensor([1.0, 2.0, 3.0, 4.0])
    b = torch.tensor([1.0, 2.0, 3.0, 6.0])
    x = torch.stack([a, b]).reshape(1, 2, 2, 2)
    r = float(np.corrcoef(a.numpy(), b.numpy())[0, 1])
    net = nn.Sequential(nn.Identity())
    assert meco(_input(net, x)) == pytest.approx(2 * (1 - r), rel=1e-5)
    # only the first image's features count (no BN here to mix the batch)
    assert meco(_input(net, torch.cat([x, torch.randn(2, 2, 2, 2)]))) == pytest.approx(2 * (1 - r), rel=1e-5)


def test_meco_equals_reference_transcription_nb201():
    net = _nb201(C=4)
    x, _ = _batch(1)
    ours = meco(_input(net, x))
    assert ours == pytest.approx(ref_get_score(RefNB201(net), x), rel=1e-5, abs=1e-5)
    # hooking benchsuite's own module tree instead counts some tensors fewer times: not the reference
    assert ours != pytest.approx(ref_get_score(copy.deepcopy(net), x), rel=1e-3)


def test_meco_batch_only_the_first_images_features_count():
    net = _nb201(C=4)
    x, _ = _batch(3)
    ours = meco(_input(net, x))   # BatchNorm normalises over all three, the hooks read image 0
    assert ours == pytest.approx(ref_get_score(RefNB201(net), x), rel=1e-5, abs=1e-5)
    assert ours != pytest.approx(meco(_input(net, x[:1])), rel=1e-3)


def test_meco_nb101_noise_input_and_reference_tree():
    net = _nb101(C=16)
    m = _input(net, *_batch(1), seed=4)
    ours = meco(m)
    assert ours == meco(_input(net, *_batch(1, seed=1), seed=4))   # the images are not read on NB-101
    ref_net = nasbench1_init(copy.deepcopy(net), 4)
    noise = torch.randn(NB101_INPUT, generator=torch.Generator().manual_seed(4))
    assert ours == pytest.approx(meco_of(ref_net, noise), rel=1e-12)
    assert ours == pytest.approx(ref_get_score(RefNB101(ref_net), noise), rel=1e-5, abs=1e-5)
    assert isinstance(ref_net, NB101Network)


def test_meco_opt_with_eight_channels_is_meco():
    # 8 channels: the sample is a permutation of all of them (same eigenvalues), scaled by 8/8
    x = torch.randn(1, 8, 4, 4)
    net = nn.Sequential(nn.Identity())
    assert meco_opt(_input(net, x)) == pytest.approx(meco(_input(net, x)), rel=1e-5)
    x16 = torch.randn(1, 16, 6, 6)
    assert meco_opt(_input(net, x16, seed=2)) == meco_opt(_input(net, x16, seed=2))
    # the reference's formula at one site: λ_min of 8 sampled channels x 16/8, sampled per firing
    rng = random.Random(2)
    fea = x16[0].reshape(16, -1)
    expected = sum(float(torch.linalg.eigvalsh(torch.corrcoef(fea[rng.sample(range(16), 8)])).min()) * 2
                   for _ in range(2))
    assert meco_opt(_input(net, x16, seed=2)) == pytest.approx(expected, rel=1e-4)


def test_meco_selector_defaults_to_one_image():
    assert get_selector("meco").batch_size == 1


# --- CLI, one run per space -----------------------------------------------------------------------
@pytest.mark.bundle
@pytest.mark.parametrize("name", ["gradsign", "meco"])
@pytest.mark.parametrize("bench", ["nb201", "nb101"])
def test_cli_run(name, bench, tmp_path):
    from benchsuite.cli import main

    assert main(["run", "--bench", bench, "--selector", name, "--sample", "6", "--hp", "C=4", "--hp", "N=1",
                 "--hp", "batch_size=8", "--no-plots", "--n-boot", "0", "--out", str(tmp_path / "r")]) == 0
