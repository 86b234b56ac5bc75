"""Torch networks: parameter counts equal the closed-form model (and through it the tables)."""
import json

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from benchsuite.spaces import nb101, nb201, nb201_net


def _count(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def test_nb201_param_counts_equal_closed_form_on_every_op_signature(data_dir):
    # Params depend only on how many 1x1 and 3x3 convs the cell has: cover all 28 signatures.
    seen: dict[tuple[int, int], str] = {}
    for a in nb201.all_archs():
        ops = nb201.parse_arch(a)
        seen.setdefault((ops.count("nor_conv_1x1"), ops.count("nor_conv_3x3")), a)
    assert len(seen) == 28
    table = pd.read_csv(data_dir / "nb201/cifar10_200ep.csv").set_index("arch").params_m
    for a in seen.values():
        n = _count(nb201.build_network(a))
        assert n == round(nb201.costs(a)["params_m"] * 1e6)
    # And the table agrees for the first cell (index 0) to its 6 significant digits.
    a0 = nb201.all_archs()[0]
    assert float(f"{_count(nb201.build_network(a0)) / 1e6:.6g}") == table[a0]


def test_nb201_forward_and_bn_free_copy():
    a = nb201.all_archs()[1]
    assert nb201.build_network(a, num_classes=7)(torch.randn(2, 3, 32, 32)).shape == (2, 7)
    net = nb201.build_network(a)
    plain = nb201.build_network(a, bn=False)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in plain.modules())
    missing = plain.load_state_dict(net.state_dict(), strict=False).missing_keys
    assert missing == []


def test_nb201_zero_cost_nas_style():
    """zero-cost-nas's variant: biased convs + non-affine BN in the cells give the same train-mode
    function as the benchmark network with the same weights; its BN-free copy keeps the reduction
    blocks' BN (that model's residual block ignores use_bn)."""
    a = nb201.all_archs()[123]
    torch.manual_seed(0)
    zc = nb201.build_network(a, C=8, N=2, style="zero-cost-nas").train()
    bench = nb201.build_network(a, C=8, N=2).train()
    assert bench.load_state_dict(zc.state_dict(), strict=False).unexpected_keys  # the conv biases
    x = torch.randn(6, 3, 32, 32)
    assert torch.allclose(zc(x), bench(x), atol=1e-4)
    cell_convs = [m for c in zc.cells if isinstance(c, nb201_net.Cell) for m in c.modules()
                  if isinstance(m, nn.Conv2d)]
    assert cell_convs and all(m.bias is not None for m in cell_convs)
    plain = nb201.build_network(a, C=8, N=2, bn=False, style="zero-cost-nas")
    bns = [n for n, m in plain.named_modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(bns) == 4 and all(isinstance(plain.cells[i], nb201_net.ResNetBasicBlock)
                                 for i in {int(n.split(".")[1]) for n in bns})
    with pytest.raises(ValueError, match="known: benchmark, zero-cost-nas"):
        nb201.build_network(a, style="xautodl")


def test_nb201_none_cell_outputs_constant():
    net = nb201.build_network(nb201.format_arch(["none"] * 6)).eval()
    out = net(torch.randn(4, 3, 32, 32))
    assert torch.allclose(out, out[:1].expand_as(out))


def test_nb101_param_counts_equal_table(data_dir):
    df = pd.read_csv(data_dir / "nb101/subset500_108ep_valid.csv").head(25)
    for m, o, p in zip(df.matrix, df.ops, df.params_m):
        cell = nb101.make_cell(json.loads(m), json.loads(o))
        n = _count(nb101.build_network(cell.to_string()))
        assert n == round(nb101.cell_costs(cell)["params_m"] * 1e6)
        assert float(f"{n / 1e6:.6g}") == pytest.approx(p, abs=1e-9)


def test_nb101_small_network_runs():
    cell = nb101.make_cell([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]],
                           ["input", "conv3x3-bn-relu", "maxpool3x3", "output"])
    net = nb101.build_network(cell.to_string(), stem_channels=8, cells_per_stack=1)
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert np.isclose(_count(net) / 1e6, nb101.cell_costs(cell, stem_channels=8, cells_per_stack=1)["params_m"])
