"""The NB201 cell's DAG walk (``nb201_net.cell_forward``), shared by the network and the supernet.

The recorded numbers below (output sum, output norm, Σ squared parameter gradients of
Σ output², float64 on CPU) were computed with the code from before the network and the supernet
shared the walk, each then with its own loop over nodes and edges; the shared walk must reproduce
them for the stand-alone network (both styles, with and without BN) and for every way the supernet
evaluates an edge: DARTS mixture, DARTS-PT masked mixture, one path for every cell (evaluation,
RLNAS), one path per cell (SPOS) and the IT-NAS indicator.
"""
import pytest
import torch

from benchsuite.spaces import nb201, nb201_net
from benchsuite.supernet.indicator import IndicatorTransformer
from benchsuite.supernet.model import Supernet, arch_to_path

REL = 1e-6

NETWORK = {  # (index in nb201.all_archs(), style, bn): (arch, (sum, norm, grad²))
    (123, "benchmark", True): (
        "|avg_pool_3x3~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|",
        (-2.271504499274739, 1.2737822339258713, 2434.9944425241106)),
    (4242, "benchmark", False): ("|avg_pool_3x3~0|+|skip_connect~0|none~1|+|skip_connect~0|avg_pool_3x3~1|none~2|",
                                 (1.303515670555244, 0.6601261320791812, 21.059729211404715)),
    (9000, "zero-cost-nas", True): (
        "|nor_conv_3x3~0|+|avg_pool_3x3~0|avg_pool_3x3~1|+|avg_pool_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
        (0.3769261820297249, 0.9188157995929137, 1910.445082769076)),
    (777, "zero-cost-nas", False): ("|avg_pool_3x3~0|+|avg_pool_3x3~0|nor_conv_3x3~1|+|skip_connect~0|none~1|none~2|",
                                    (-1.4103327308804818, 0.9693342175269403, 199.57493352809476)),
}

SUPERNET = {
    "darts": (-0.43137767222865575, 1.1124778190517512, 1038.4959730019523),
    "darts-pt-mask": (-0.23406648911794747, 1.1785078089086207, 1219.1299905563303),
    "path-shared": (-0.3606637298486097, 1.1184327503706808, 245.2278848163399),
    "path-per-cell": (-0.17067735552245022, 1.0702315140711938, 252.7317770826938),
    "indicator": (-0.48532162199517925, 1.212298893101168, 700.4391099178583),
}
INDICATOR_RECORD_NORM = 1.095872819542831   # norm of the (6, 5) mean importance after one forward


def _stats(model, fwd, seed):
    torch.manual_seed(seed)
    x = torch.randn(3, 3, 8, 8, dtype=torch.float64)
    model.zero_grad(set_to_none=True)
    out = fwd(model, x)
    out.pow(2).sum().backward()
    g = sum(p.grad.pow(2).sum() for p in model.parameters() if p.grad is not None)
    return float(out.detach().sum()), float(out.detach().norm()), float(g)


def _close(got, want):
    assert got == pytest.approx(want, rel=REL, abs=1e-12)


@pytest.mark.parametrize("key", list(NETWORK))
def test_network_outputs_match_the_recorded_ones(key):
    index, style, bn = key
    arch, want = NETWORK[key]
    assert nb201.all_archs()[index] == arch
    torch.manual_seed(1)
    net = nb201_net.build_network(arch, C=4, N=1, num_classes=5, bn=bn, style=style).double().train()
    _close(_stats(net, lambda m, x: m(x), 2), want)


def test_supernet_outputs_match_the_recorded_ones_in_every_mode():
    torch.set_num_threads(1)
    torch.manual_seed(3)
    sn = Supernet(C=4, N=1, num_classes=5).double().train()
    torch.manual_seed(4)
    w = torch.softmax(torch.randn(6, 5, dtype=torch.float64), -1)
    masked = w.clone()
    masked[0, 1] = 0
    masked[2, :] = 0
    masked[3] = torch.tensor([0, 0, 1.0, 0, 0], dtype=torch.float64)
    path = arch_to_path(nb201.all_archs()[321])
    paths = [arch_to_path(nb201.all_archs()[i]) for i in (11, 5000, 15000)]
    got = {
        "darts": _stats(sn, lambda m, x: m(x, weights=w), 5),
        "darts-pt-mask": _stats(sn, lambda m, x: m(x, weights=masked), 6),
        "path-shared": _stats(sn, lambda m, x: m(x, path=path), 7),
        "path-per-cell": _stats(sn, lambda m, x: m(x, path=paths), 8),
    }
    torch.manual_seed(9)
    ind = IndicatorTransformer(sn.stage_channels, dim=8, heads=2)   # float32: it pools in float
    got["indicator"] = _stats(sn, lambda m, x: m(x, indicator=ind), 10)
    for mode, want in SUPERNET.items():
        _close(got[mode], want)
    ind.start_recording()
    sn(torch.randn(2, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(11)), indicator=ind)
    rec = ind.stop_recording()
    assert rec.sum(1).tolist() == pytest.approx([1.0] * 6, rel=1e-6)
    assert float(rec.double().norm()) == pytest.approx(INDICATOR_RECORD_NORM, rel=1e-5)   # float32 transformer


def test_cell_forward_sums_each_node_over_its_sources_in_edge_order():
    # edge k scales its input by w_k: node1 = w0 x; node2 = w1 x + w2 node1; node3 = w3 x + w4 node1 + w5 node2.
    w = [2.0, 3.0, 5.0, 7.0, 11.0, 13.0]
    calls = []

    def edge(k, h):
        calls.append(k)
        return h * w[k]

    out = nb201_net.cell_forward(torch.ones(1), edge)
    n1 = w[0]
    n2 = w[1] + w[2] * n1
    assert out.item() == w[3] + w[4] * n1 + w[5] * n2
    assert calls == list(range(6)) and nb201_net.NUM_NODES == 4


def test_supernet_cell_with_a_one_hot_mixture_equals_the_sampled_path():
    torch.manual_seed(0)
    sn = Supernet(C=4, N=1, num_classes=3).double()
    path = arch_to_path(nb201.all_archs()[2024])
    onehot = torch.nn.functional.one_hot(torch.tensor(path), 5).double()
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    assert torch.equal(sn(x, weights=onehot), sn(x, path=path))
    with pytest.raises(ValueError, match="exactly one"):
        sn.cells[0](x)
