"""Packed proxies (many NB201 cells in one graph, the --device cuda path): the same values as the
one-cell computation, here on CPU."""
import math

import numpy as np
import pytest

from benchsuite import get_selector
from benchsuite.data.images import load_images, proxy_batch
from benchsuite.errors import ConfigError
from benchsuite.selectors.base import Context
from benchsuite.selectors.proxies.measures import PROXIES, compute
from benchsuite.selectors.proxies.packed import compute_packed
from benchsuite.spaces import nb201

pytestmark = pytest.mark.bundle   # CIFAR images or the bundle's own files (see conftest)

# Mixed ops on every edge position, a cut-off cell, the all-none and all-skip cells.
CELLS = [nb201.all_archs()[i] for i in (6230, 9009, 11111, 1234)] + [
    "|none~0|+|none~0|avg_pool_3x3~1|+|none~0|nor_conv_3x3~1|nor_conv_1x1~2|",
    nb201.format_arch(["none"] * 6), nb201.format_arch(["skip_connect"] * 6)]


@pytest.fixture(scope="module")
def batch():
    return proxy_batch(load_images("cifar10"), 16, seed=0)


def _builds(cells, style):
    return [lambda bn, a=a: nb201.build_network(a, C=8, N=1, bn=bn, style=style) for a in cells]


def _close(a, b, rel):
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=rel, abs=1e-9)


@pytest.mark.parametrize("style", ["benchmark", "zero-cost-nas"])
def test_packed_equals_one_cell_path(batch, style):
    x, y = batch
    one = [compute(b, x, y, PROXIES, seed=0) for b in _builds(CELLS, style)]
    many = compute_packed(_builds(CELLS, style), x, y, PROXIES, seed=0)
    assert len(many) == len(CELLS)
    for cell, o, m in zip(CELLS, one, many):
        for name in PROXIES:
            # ZiCo divides by the std of two half-batch gradients: where the halves nearly agree,
            # the rounding of a grouped conv (as of any other conv kernel, e.g. on a GPU) moves it.
            rel = 5e-2 if name == "zico" else 1e-4
            assert _close(o[name], m[name], rel), (cell, name, o[name], m[name])


def test_packed_naswot_live_relus_equal_one_cell_path(batch):
    """relus=live in a pack where the same edge is live in some networks and dead in others."""
    from benchsuite.spaces.nb201_net import live_edges

    cells = CELLS + ["|nor_conv_3x3~0|+|nor_conv_1x1~0|none~1|+|nor_conv_3x3~0|none~1|none~2|"]
    dead = [c for c in cells if not all(live or op == "none" for op, live in
                                        zip(nb201.parse_arch(c), live_edges(nb201.parse_arch(c))))]
    assert len(dead) >= 2   # the pack holds cells with dead conv edges
    one = [compute(b, x, y, ["naswot"], seed=0, naswot_relus="live")["naswot"]
           for b in _builds(cells, "zero-cost-nas") for x, y in [batch]]
    many = compute_packed(_builds(cells, "zero-cost-nas"), *batch, ["naswot"], seed=0, naswot_relus="live")
    for cell, o, m in zip(cells, one, many):
        assert _close(o, m["naswot"], 1e-6), cell


def test_packed_single_network_matches_zico_tightly(batch):
    """One network in the pack: ZiCo within 1e-3 (a wrong layer moves it by percents)."""
    x, y = batch
    for b in _builds(CELLS[:3], "zero-cost-nas"):
        assert compute_packed([b], x, y, ["zico"], seed=0)[0]["zico"] == pytest.approx(
            compute(b, x, y, ["zico"], seed=0)["zico"], rel=1e-3)


def test_selector_cell_batch_gives_the_same_scores_and_dedups(tmp_path):
    kw = dict(seed=0, C=4, N=1, batch_size=8)
    twin = CELLS[4]
    archs = CELLS[:5] + [twin]
    one = get_selector("snip", cell_batch=1, **kw)
    s1 = one.score(archs, Context("nb201", "cifar10", cache_dir=str(tmp_path / "a")))
    sel = get_selector("snip", cell_batch=4, **kw)
    s4 = sel.score(archs, Context("nb201", "cifar10", cache_dir=str(tmp_path / "b")))
    np.testing.assert_allclose(s4, s1, rtol=1e-4)
    assert sel.cache_stats == (1, 5)  # the twin is computed once, in the first pack
    with pytest.raises(ConfigError, match="cell_batch must be at least 1"):
        get_selector("snip", cell_batch=0)


def test_full_precision_turns_tf32_off_on_cuda_only():
    import torch

    from benchsuite.selectors.proxies.measures import full_precision

    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
    try:
        with full_precision("cuda:0"):  # only flips flags: needs no GPU
            assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
        assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32
        with full_precision("cpu"):
            assert torch.backends.cudnn.allow_tf32
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
