"""NASLib's other four proxies (plain, l2_norm, epe_nas, zen) against their references' behaviour:
hand-computed values on tiny models, and plain transcriptions of the reference code written here."""
import copy
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from benchsuite import get_selector
from benchsuite.cli import main
from benchsuite.selectors.base import Context
from benchsuite.selectors.proxies import naslib_four as nf
from benchsuite.selectors.proxies.extra import MeasureInput
from benchsuite.spaces import nb101, nb201

SHAPE = (3, 32, 32)
NB201_CELL = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|nor_conv_1x1~1|avg_pool_3x3~2|"
DEAD_CELL = "|none~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|nor_conv_3x3~1|none~2|"   # output = 0
NB101_CELL = nb101.make_cell([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]],
                             ["input", "conv3x3-bn-relu", "maxpool3x3", "output"]).to_string()


def _nb201(arch=NB201_CELL, style="zero-cost-nas", classes=10):
    torch.manual_seed(0)
    return nb201.build_network(arch, C=4, N=1, num_classes=classes, style=style)


def _nb101():
    torch.manual_seed(0)
    return nb101.build_network(NB101_CELL, stem_channels=8, cells_per_stack=1)


def _input(net, x=None, y=None, seed=0, classes=10):
    return MeasureInput(lambda bn=True: copy.deepcopy(net).train(), x, y, seed, "cpu", SHAPE, classes)


def _batch(n=16, classes=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, *SHAPE, generator=g), torch.randint(0, classes, (n,), generator=g)


# ------------------------------------------------------------------------------------------ plain

def test_plain_hand_computed_on_a_linear_model():
    """plain = Σ w·∂L/∂w over weights (not biases), L the mean cross-entropy: for a linear layer
    ∂L/∂W = (softmax(z) - onehot(y))ᵀ x / n."""
    lin = nn.Linear(3, 2)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]]))
        lin.bias.copy_(torch.tensor([0.3, -0.2]))
    x = torch.tensor([[1.0, 2.0, 0.5], [-1.0, 0.0, 1.0], [0.5, -0.5, 2.0], [2.0, 1.0, -1.0]])
    y = torch.tensor([0, 1, 1, 0])
    W, b, X = lin.weight.detach().numpy(), lin.bias.detach().numpy(), x.numpy()
    z = X @ W.T + b
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    grad = (p - np.eye(2)[y.numpy()]).T @ X / len(X)
    assert nf.plain(_input(lin, x, y)) == pytest.approx(float((W * grad).sum()), rel=1e-5)


@pytest.mark.parametrize("build", [_nb201, _nb101])
def test_plain_equals_the_reference_loop(build):
    """NASLib plain.py:26-44 + sum_arr: zero_grad, loss.backward(), Σ_layers Σ weight.grad·weight."""
    net = build()
    x, y = _batch()
    ref = copy.deepcopy(net).train()
    if build is _nb101:
        nf.nasbench1_init(ref, 0)    # NASLib's NB-101 Network initialises itself
    ref.zero_grad()
    F.cross_entropy(ref(x), y).backward()
    want = 0.0
    for layer in ref.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            g = layer.weight.grad if layer.weight.grad is not None else torch.zeros_like(layer.weight)
            want += float(torch.sum(g * layer.weight).detach())
    assert nf.plain(_input(net, x, y)) == pytest.approx(want, rel=1e-5)


# ---------------------------------------------------------------------------------------- l2_norm

def test_l2_norm_hand_computed_weights_only():
    """Σ ‖weight‖ over conv and linear layers; biases and BN do not count; no input is read."""
    net = nn.Sequential(nn.Conv2d(1, 1, 2, bias=True), nn.BatchNorm2d(1), nn.Flatten(), nn.Linear(2, 1))
    with torch.no_grad():
        net[0].weight.fill_(1.0)          # ‖·‖ = 2
        net[0].bias.fill_(10.0)
        net[1].weight.fill_(7.0)
        net[3].weight.copy_(torch.tensor([[3.0, 4.0]]))   # ‖·‖ = 5
        net[3].bias.fill_(10.0)
    assert nf.l2_norm(_input(net)) == pytest.approx(7.0)


def test_l2_norm_nb201_at_the_shared_init_nb101_reinitialised_as_nasbench1():
    net = _nb201()
    want = sum(float(m.weight.detach().norm()) for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
    assert nf.l2_norm(_input(net)) == pytest.approx(want, rel=1e-6)
    net = _nb101()
    ref = nf.reference_net(_input(net))
    assert float(ref.classifier.weight.detach().std()) == pytest.approx(0.01, rel=0.25)      # N(0, 0.01)
    conv = ref.features[0][0]
    n = conv.kernel_size[0] * conv.kernel_size[1] * conv.out_channels
    assert float(conv.weight.detach().std()) == pytest.approx(math.sqrt(2 / n), rel=0.25)   # N(0, √(2/n))
    assert nf.l2_norm(_input(net, seed=3)) == nf.l2_norm(_input(net, seed=3)) != nf.l2_norm(_input(net, seed=4))


# ---------------------------------------------------------------------------------------- epe_nas

def _pearson(a, b):
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    cov = sum((u - ma) * (v - mb) for u, v in zip(a, b))
    return cov / math.sqrt(sum((u - ma) ** 2 for u in a) * sum((v - mb) ** 2 for v in b))


def _epe_reference(jacob, labels, n_classes, k=1e-5):
    """search.py:68-109 in plain loops: per class Σ log(|corr| + k) over its correlation matrix (a
    class seen once: the 0-d 1.0, skipped when n_classes > 100), then Σ|s| or the pairwise form."""
    classes = list(dict.fromkeys(labels.tolist()))
    scores = []
    for c in classes:
        rows = [jacob[i].tolist() for i in range(len(labels)) if labels[i] == c]
        if len(rows) == 1:
            if n_classes > 100:
                continue
            scores.append(math.log(1.0 + k))
            continue
        s = sum(math.log(abs(_pearson(r, q)) + k) for r in rows for q in rows)
        scores.append(s / len(rows) if n_classes > 100 else s)
    if n_classes <= 100:
        return sum(abs(s) for s in scores)
    return sum(abs(s - t) for s in scores for t in scores) / len(scores)


@pytest.mark.parametrize("n_classes", [10, 100, 120])
def test_epe_score_equals_a_loop_transcription(n_classes):
    rng = np.random.default_rng(0)
    jacob = rng.standard_normal((14, 6)).astype(np.float32)
    labels = np.array([3, 1, 3, 7, 1, 3, 9, 1, 7, 3, 1, 2, 7, 3])   # classes 9 and 2 seen once
    got = nf.eval_score_perclass(jacob, labels, n_classes)
    assert got == pytest.approx(_epe_reference(jacob.astype(float), labels, n_classes), rel=1e-9)


@pytest.mark.parametrize("build, classes", [(lambda: _nb201(style="benchmark"), 10), (_nb101, 10),
                                            (lambda: _nb201(classes=120), 120)])
def test_epe_nas_on_the_reference_jacobian(build, classes):
    """get_batch_jacobian (search.py:55-65): x.requires_grad_, y = net(x), y.backward(ones), x.grad;
    n_classes = the number of logits (NASLib epe_nas.py:43)."""
    net = build()
    x, y = _batch(24, classes=classes)
    ref = copy.deepcopy(net).train()
    if build is _nb101:
        nf.nasbench1_init(ref, 0)
    xr = x.clone().requires_grad_(True)
    out = ref(xr)
    out.backward(torch.ones_like(out))
    want = _epe_reference(xr.grad.reshape(len(x), -1).double().numpy(), y.numpy(), out.shape[-1])
    assert nf.epe_nas(_input(net, x, y, classes=classes)) == pytest.approx(want, rel=1e-6)


def test_epe_nas_of_a_constant_network_is_nan():
    x, y = _batch(16)
    assert math.isnan(nf.epe_nas(_input(_nb201(DEAD_CELL), x, y)))


# -------------------------------------------------------------------------------------------- zen

def _zen_reference(net, seed, batch, gamma, pre_gap_hook):
    """compute_zen_score.py:46-66 with one repeat, the BN term from the batch variances each BN saw
    (running_var after two momentum-0.1 updates from 1: 0.9·(0.9 + 0.1·v₁) + 0.1·v₂), and the pre-GAP
    map taken by a hook, as NASLib's forward_before_global_avg_pool."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():        # network_weight_gaussian_init, drawn in modules() order
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen))
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, nn.BatchNorm2d) and m.weight is not None:
                m.weight.fill_(1.0)
                m.bias.zero_()
        x = torch.randn((batch, *SHAPE), generator=gen)
        eps = torch.randn((batch, *SHAPE), generator=gen)
        seen: dict = {}
        bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
        hooks = [m.register_forward_hook(lambda m, i, o: seen.setdefault(m, []).append(
            i[0].transpose(0, 1).reshape(i[0].shape[1], -1).var(1, unbiased=True))) for m in bns]
        feats = []
        hooks.append(pre_gap_hook(net, feats))
        net.train()
        net(x)
        net(x + gamma * eps)
        for h in hooks:
            h.remove()
        delta = torch.sum(torch.abs(feats[0] - feats[1]), dim=[1, 2, 3]).mean()
        bn = 0.0
        for m in bns:
            v1, v2 = seen[m]
            bn += math.log(math.sqrt(float((0.9 * (0.9 + 0.1 * v1) + 0.1 * v2).mean())))
    return math.log(float(delta)) + bn


def _pool_input(net, feats):      # NASLib nasbench201/graph.py:308-321
    return net.pool.register_forward_hook(lambda m, i, o: feats.append(i[0]))


def _last_cell_output(net, feats):    # NASLib nasbench101/graph.py:299-312
    return net.features[-1].register_forward_hook(lambda m, i, o: feats.append(o))


@pytest.mark.parametrize("build, hook", [(_nb201, _pool_input), (lambda: _nb201(style="benchmark"), _pool_input),
                                         (_nb101, _last_cell_output)])
def test_zen_equals_the_reference_transcription(build, hook):
    """Every BN counts (cell BNs without running statistics included) with momentum 0.1 (NB-101's
    own BNs use 0.003), on the map the global pool reads."""
    net = build()
    got = nf.zen_value(copy.deepcopy(net), SHAPE, nf.ZenSettings(batch_size=6), seed=5, device="cpu")
    want = _zen_reference(copy.deepcopy(net), 5, 6, 1e-2, hook)
    assert got == pytest.approx(want, rel=1e-4, abs=1e-4)


def test_zen_grows_with_log_gamma_for_small_perturbations():
    """For a small γ, f(x + γε) - f(x) ≈ γ·J ε, so the score moves by about log(γ₂/γ₁)."""
    net = _nb201()
    s1 = nf.zen_value(copy.deepcopy(net), SHAPE, nf.ZenSettings(batch_size=8, mixup_gamma=1e-3), 0, "cpu")
    s2 = nf.zen_value(copy.deepcopy(net), SHAPE, nf.ZenSettings(batch_size=8, mixup_gamma=2e-3), 0, "cpu")
    assert s2 - s1 == pytest.approx(math.log(2), abs=0.05)


def test_zen_of_a_constant_network_is_minus_infinity():
    assert nf.zen(_input(_nb201(DEAD_CELL))) == -math.inf    # torch.log(0), as the reference, kept in runs


def test_zen_settings_reach_the_measure_and_key_the_cache(tmp_path):
    ctx = Context(space="nb201", dataset="cifar10", cache_dir=str(tmp_path))
    cells = [NB201_CELL]
    base = dict(C=4, N=1, batch_size=4)
    a = get_selector("zen", **base).score(cells, ctx)
    assert get_selector("zen", **base).score(cells, ctx)[0] == a[0]
    assert get_selector("zen", **{**base, "batch_size": 6}).score(cells, ctx)[0] != a[0]
    assert get_selector("zen", **{**base, "mixup_gamma": 0.1}).score(cells, ctx)[0] != a[0]
    two = get_selector("zen", **{**base, "repeat": 2}).score(cells, ctx)[0]
    assert two != a[0]
    assert len(list(tmp_path.glob("*.jsonl"))) == 4


# ------------------------------------------------------------------------------------- selectors

def test_defaults_follow_the_references():
    epe = get_selector("epe_nas")
    assert epe.batch_size == 256 and epe.network == "benchmark"        # EPE-NAS search.py:22-23, 177
    zen = get_selector("zen")
    assert (zen.batch_size, zen.repeat, zen.mixup_gamma) == (64, 1, 1e-2)
    assert not get_selector("zen").reads_images() and not get_selector("l2_norm").reads_images()
    assert get_selector("plain").reads_images() and epe.reads_images()
    for name in ("plain", "l2_norm", "epe_nas", "zen"):
        assert get_selector(name).deviations


SPACE_HP = {"nb201": ["--hp", "C=4", "--hp", "N=1"], "nb101": ["--hp", "C=8", "--hp", "N=1"]}


def _cli(name, bench, out):
    return main(["run", "--bench", bench, "--selector", name, "--sample", "6", *SPACE_HP[bench],
                 "--hp", "batch_size=8", "--no-plots", "--n-boot", "0", "--out", str(out)])


@pytest.mark.parametrize("bench", ["nb201", "nb101"])
@pytest.mark.parametrize("name", ["l2_norm", "zen"])
def test_image_free_proxies_run_offline(offline, name, bench, capsys):
    out = offline / "run"
    assert _cli(name, bench, out) == 0, capsys.readouterr().err
    scores = pd.read_csv(out / "scores.csv")
    # zen's -inf (a sampled cell whose output ignores its input: log 0) is a score, kept as -inf
    assert len(scores) == 6 and np.isfinite(scores["score"]).sum() >= 4 and not np.isposinf(scores["score"]).any()
    run = json.loads((out / "run.json").read_text())
    assert "images" not in run["seeds"]["0"]["selector_report"]


@pytest.mark.bundle
@pytest.mark.parametrize("bench", ["nb201", "nb101"])
@pytest.mark.parametrize("name", ["plain", "epe_nas"])
def test_image_proxies_run(tmp_path, name, bench):
    assert _cli(name, bench, tmp_path / "run") == 0
    scores = pd.read_csv(tmp_path / "run" / "scores.csv")
    assert len(scores) == 6 and scores["score"].notna().sum() >= 5
