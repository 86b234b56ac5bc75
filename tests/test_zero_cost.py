"""Zero-cost proxies: shared passes equal separate reference-style computations; sign
conventions; cache hits; isomorphism dedup."""
import copy
import types
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from benchsuite import get_selector
from benchsuite.data.images import load_images, proxy_batch
from benchsuite.errors import ConfigError
from benchsuite.selectors.base import Context
from benchsuite.selectors.proxies.measures import PROXIES, compute
from benchsuite.selectors.proxies.packed import compute_packed
from benchsuite.spaces import nb201
from benchsuite.spaces.nb201_net import live_edges

pytestmark = pytest.mark.bundle   # CIFAR images or the bundle's own files (see conftest)

ARCH = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


def _small(arch, bn=True, style="benchmark"):
    return nb201.build_network(arch, C=8, N=1, bn=bn, style=style)


@pytest.fixture(scope="module")
def batch():
    return proxy_batch(load_images("cifar10"), 16, seed=0)


def _layers(net):
    return [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def _fresh(seed=0, style="benchmark"):
    torch.manual_seed(seed)
    return _small(ARCH, style=style).train()


# --- reference-style computations: one network copy and one pass per proxy, as zero-cost-nas ---
def ref_grad_norm(net, x, y):
    F.cross_entropy(net(x), y).backward()
    return sum(float(m.weight.grad.norm()) for m in _layers(net))


def ref_snip(net, x, y):
    masks = []
    for m in _layers(net):
        m.weight_mask = nn.Parameter(torch.ones_like(m.weight))
        m.weight.requires_grad = False
        if isinstance(m, nn.Conv2d):
            m.forward = types.MethodType(lambda s, i: F.conv2d(i, s.weight * s.weight_mask, s.bias, s.stride,
                                                               s.padding, s.dilation, s.groups), m)
        else:
            m.forward = types.MethodType(lambda s, i: F.linear(i, s.weight * s.weight_mask, s.bias), m)
        masks.append(m.weight_mask)
    F.cross_entropy(net(x), y).backward()
    return sum(float(mk.grad.abs().sum()) for mk in masks)


def ref_fisher(net, x, y):
    acts = {}

    def keep(mod, inp, out):
        out.retain_grad()
        acts[mod] = out

    for m in _layers(net):
        m.register_forward_hook(keep)
    F.cross_entropy(net(x), y).backward()
    total = 0.0
    for m, a in acts.items():
        g = a * a.grad
        g_nk = g.sum(dim=(2, 3)) if g.dim() == 4 else g
        del_k = g_nk.pow(2).mean(0).mul(0.5)
        total += float(torch.stack([torch.full(m.weight.shape[1:], float(v)) for v in del_k.detach()]).sum())
    return total


def ref_grasp(net, x, y):
    weights = [m.weight for m in _layers(net)]
    grad_w = torch.autograd.grad(F.cross_entropy(net(x), y), weights)
    grad_f = torch.autograd.grad(F.cross_entropy(net(x), y), weights, create_graph=True)
    z = sum((gw.data * gf).sum() for gw, gf in zip(grad_w, grad_f))
    z.backward()
    return sum(float((-w.data * w.grad).sum()) for w in weights)


def ref_jacov(net, x, y):
    x = x.clone().requires_grad_(True)
    out = net(x)
    out.backward(torch.ones_like(out))
    corrs = np.corrcoef(x.grad.reshape(x.shape[0], -1).numpy())
    v, _ = np.linalg.eig(corrs)
    k = 1e-5
    return float(-np.sum(np.log(v.real + k) + 1.0 / (v.real + k)))


def ref_naswot(net, x, y, visited=None):
    """BayesWatch score_networks.py: a ReLU counts only once a backward pass has reached it
    (get_batch_jacobian's y.backward), and K is summed on a second forward of the same batch."""
    K = np.zeros((x.shape[0], x.shape[0]))

    def forward_hook(mod, inp, out):
        if not getattr(mod, "visited_backwards", False):
            return
        c = (inp[0].reshape(inp[0].size(0), -1) > 0).float()
        K[:] += (c @ c.t()).numpy() + ((1.0 - c) @ (1.0 - c.t())).numpy()

    def backward_hook(mod, grad_in, grad_out):
        mod.visited_backwards = True

    relus = [m for m in net.modules() if isinstance(m, nn.ReLU)]
    for m in relus:
        m.register_forward_hook(forward_hook)
        m.register_backward_hook(backward_hook)   # the reference's (deprecated) module hook
    net.zero_grad()
    xg = x.clone().requires_grad_(True)
    with warnings.catch_warnings():   # torch warns that non-full backward hooks are deprecated
        warnings.simplefilter("ignore", FutureWarning)
        out = net(xg)
        out.backward(torch.ones_like(out))
        net(x.clone())
    if visited is not None:
        visited += [getattr(m, "visited_backwards", False) for m in relus]
    return float(np.linalg.slogdet(K)[1])


def ref_zico(net, x, y):
    grads = {}
    for sp in range(2):
        net.zero_grad()
        st, en = sp * len(x) // 2, (sp + 1) * len(x) // 2
        F.cross_entropy(net(x[st:en]), y[st:en]).backward()
        for name, m in net.named_modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                grads.setdefault(name, []).append(m.weight.grad.reshape(-1).numpy().copy())
    score = 0.0
    for g in grads.values():
        g = np.array(g)
        std = np.std(g, axis=0)
        nz = np.nonzero(std)[0]
        tmp = np.sum(np.mean(np.abs(g), axis=0)[nz] / std[nz])
        if tmp != 0:
            score += np.log(tmp)
    return float(score)


def ref_synflow(net, x, y, style="benchmark"):
    plain = _small(ARCH, bn=False, style=style)
    plain.load_state_dict(net.state_dict(), strict=False)
    for p in plain.state_dict().values():
        p.abs_()
    plain.double()
    plain(torch.ones((1, *x.shape[1:]), dtype=torch.float64)).sum().backward()
    return sum(float((m.weight.detach() * m.weight.grad).abs().sum()) for m in _layers(plain))


REFS = {"grad_norm": ref_grad_norm, "snip": ref_snip, "fisher": ref_fisher, "grasp": ref_grasp,
        "jacov": ref_jacov, "naswot": ref_naswot, "zico": ref_zico, "synflow": ref_synflow}


@pytest.mark.parametrize("style", ["benchmark", "zero-cost-nas"])
def test_shared_passes_equal_reference_computations(batch, style):
    x, y = batch
    ours = compute(lambda bn: _small(ARCH, bn, style), x, y, PROXIES, seed=0)
    for name in PROXIES:
        kw = {"style": style} if name == "synflow" else {}
        ref = REFS[name](_fresh(0, style), x, y, **kw)
        assert ours[name] == pytest.approx(ref, rel=2e-4, abs=1e-9), name
    alone = {p: compute(lambda bn: _small(ARCH, bn, style), x, y, [p], seed=0)[p] for p in PROXIES}
    assert alone == pytest.approx(ours, rel=1e-6)


def test_naswot_counts_the_relus_the_reference_counts_dead_branches_included(batch):
    """NB-201's `none` is x.mul(0.) in the reference network (xautodl/BayesWatch Zero), so the
    backward pass reaches every ReLU, also on a branch whose only way out is `none`: the
    reference counts them, and so do we (issue 13's item 3 read them as excluded)."""
    x, y = batch
    dead = "|nor_conv_3x3~0|+|nor_conv_1x1~0|none~1|+|none~0|none~1|nor_conv_1x1~2|"  # node 1 leads nowhere
    for arch in (ARCH, dead):
        ours = compute(lambda bn, a=arch: _small(a, bn), x, y, ["naswot"], seed=0)["naswot"]
        torch.manual_seed(0)
        visited = []
        ref = ref_naswot(_small(arch).train(), x, y, visited)
        assert visited and all(visited), arch
        assert ours == pytest.approx(ref, rel=1e-6), arch


# Node 1 and node 2 lead nowhere (1->2, 1->3 and 2->3 are none): their convs are dead branches.
DEAD = "|nor_conv_3x3~0|+|nor_conv_1x1~0|none~1|+|nor_conv_3x3~0|none~1|none~2|"
BARE = "|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|"   # the same cell without them


def test_live_edges_follow_paths_to_the_output():
    assert live_edges(nb201.parse_arch(DEAD)) == (False, False, False, True, False, False)
    assert live_edges(nb201.parse_arch(ARCH)) == (True,) * 5 + (True,)
    # 1->2 is live only because 2->3 is: node 1 reaches the output through node 2
    chain = nb201.parse_arch("|nor_conv_3x3~0|+|none~0|nor_conv_1x1~1|+|none~0|none~1|skip_connect~2|")
    assert live_edges(chain) == (True, False, True, False, False, True)
    cut = nb201.parse_arch("|nor_conv_3x3~0|+|none~0|nor_conv_1x1~1|+|none~0|none~1|none~2|")
    assert live_edges(cut) == (False,) * 6


def _with_bare_weights(arch, bn):
    """``arch``'s network carrying the weights of BARE's network (same seed) wherever the two share
    a parameter; only the dead convs keep weights of their own."""
    torch.manual_seed(0)
    bare = _small(BARE, bn).state_dict()
    torch.manual_seed(1)
    net = _small(arch, bn)
    missing, unexpected = net.load_state_dict(bare, strict=False)
    assert not unexpected and all(".edges.0." in k or ".edges.1." in k for k in missing)
    return net


@pytest.mark.parametrize("path", ["one-cell", "packed"])
def test_naswot_live_relus_ignore_a_dead_conv_branch(batch, path):
    """Issue 13 item 3: with relus=live, adding dead conv branches to a cell leaves K unchanged
    when the live weights are equal; the reference's counting (relus=all) does not."""
    x, y = batch

    def score(arch, relus):
        build = lambda bn: _with_bare_weights(arch, bn)  # noqa: E731
        if path == "packed":
            return compute_packed([build], x, y, ["naswot"], seed=0, naswot_relus=relus)[0]["naswot"]
        return compute(build, x, y, ["naswot"], seed=0, naswot_relus=relus)["naswot"]

    bare = score(BARE, "live")
    assert score(BARE, "all") == bare  # no dead ReLU in BARE: the two countings agree
    assert score(DEAD, "live") == pytest.approx(bare, rel=1e-9, abs=1e-9)
    assert abs(score(DEAD, "all") - bare) > 1e-3


def test_naswot_relus_option_checked_keyed_and_stated(tmp_path):
    with pytest.raises(ConfigError, match="relus must be one of all, live"):
        get_selector("naswot", relus="dead")
    ctx = Context(space="nb201", dataset="cifar10", seed=0, cache_dir=str(tmp_path))
    kw = dict(seed=0, C=4, N=1, batch_size=8)
    ref, live = get_selector("naswot", **kw), get_selector("naswot", relus="live", **kw)
    assert live.hparams()["relus"] == "live" and ref.hparams()["relus"] == "all"
    assert any("relus=live" in d for d in live.deviations) and not any("relus" in d for d in ref.deviations)
    a, b = ref.score([DEAD, ARCH], ctx), live.score([DEAD, ARCH], ctx)
    assert a[1] == pytest.approx(b[1]) and abs(a[0] - b[0]) > 1e-3  # ARCH has no dead edge
    assert live.cache_stats == (0, 2)  # its own cache entries, not the reference counting's


def test_cell_conv_bias_reaches_fisher_only(batch):
    """zero-cost-nas's network: batch-statistics BN removes the cell convs' bias from the forward, so
    weight-gradient proxies ignore it; fisher reads the biased conv output, so it changes."""
    x, y = batch

    def build(bn, zero_bias):
        net = _small(ARCH, bn, "zero-cost-nas")
        biased = [m for m in net.modules() if isinstance(m, nn.Conv2d) and m.bias is not None]
        assert biased  # the cell convs carry a bias in this style
        if zero_bias:
            with torch.no_grad():
                for m in biased:
                    m.bias.zero_()
        return net

    def scores(zero_bias):  # compute() seeds before building: the same weights both times
        return compute(lambda bn: build(bn, zero_bias), x, y, ["snip", "grasp", "fisher"], seed=0)

    with_bias, without = scores(False), scores(True)
    assert with_bias["snip"] == pytest.approx(without["snip"], rel=1e-4)
    assert with_bias["grasp"] == pytest.approx(without["grasp"], rel=1e-3)
    assert abs(with_bias["fisher"] - without["fisher"]) > 1e-3 * abs(without["fisher"])  # rounding: ~1e-7


@pytest.fixture(scope="module")
def default_net_scores():
    """Full NB201 networks, batch 64: the best cell vs all-pool and all-skip cells."""
    x, y = proxy_batch(load_images("cifar10"), 64, seed=0)
    best = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    cells = [best, nb201.format_arch(["avg_pool_3x3"] * 6), nb201.format_arch(["skip_connect"] * 6)]
    return [compute(lambda bn, a=a: nb201.build_network(a, bn=bn), x, y, PROXIES, seed=0) for a in cells]


@pytest.mark.slow
@pytest.mark.parametrize("proxy", PROXIES)
def test_sign_convention_higher_is_better(proxy, default_net_scores):
    best, pool, skip = (s[proxy] for s in default_net_scores)
    # 94.37% (the NB201 optimum) vs 49.0% (all pooling) and 54.3% (all skip) on CIFAR-10.
    assert best > pool and best > skip


def test_degenerate_cell_ranks_last(batch):
    x, y = batch
    none = nb201.format_arch(["none"] * 6)
    v = compute(lambda bn: _small(none, bn), x, y, PROXIES, seed=0)
    # jacov's corrcoef of constant Jacobians is NaN (jacob_cov.py's try/except); NASWOT's kernel of
    # all-equal codes is singular: slogdet's -inf, as the reference's hooklogdet returns it
    assert np.isnan(v["jacov"]) and v["naswot"] == -np.inf
    for p in ("synflow", "snip", "grad_norm", "grasp", "zico"):
        assert v[p] == 0.0
    # fisher keeps the classifier's term (logits = bias times dL/dlogits), as in the reference,
    # but it is tiny next to any working cell.
    assert 0 < v["fisher"] < 1e-3


def test_synflow_grows_with_parameterised_paths(batch):
    x, y = batch
    one = nb201.format_arch(["nor_conv_3x3"] + ["skip_connect"] * 5)
    two = nb201.format_arch(["nor_conv_3x3", "nor_conv_3x3"] + ["skip_connect"] * 4)
    s1, s2 = (compute(lambda bn, a=a: _small(a, bn), x, y, ["synflow"], seed=0)["synflow"] for a in (one, two))
    assert s2 > s1 > 0


def test_cache_hits_and_isomorphism_dedup(tmp_path):
    ctx = Context(space="nb201", dataset="cifar10", seed=0, cache_dir=str(tmp_path))
    a = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|none~1|skip_connect~2|"
    b = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|none~0|none~1|skip_connect~2|"
    twin = a  # the same cell twice
    # Cells differing only on a path cut by 'none' compute the same function.
    cut1 = "|none~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
    cut2 = "|none~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
    assert nb201.canonical(cut1) == nb201.canonical(cut2)
    sel = get_selector("snip", seed=0, C=4, N=1, batch_size=8, share=True)
    s = sel.score([a, b, cut1, cut2, twin], ctx)
    assert s[2] == s[3] and s[0] == s[4]
    assert sel.cache_stats == (2, 3)  # cut2 and twin served from the first computation
    again = get_selector("grad_norm", seed=0, C=4, N=1, batch_size=8)
    again.score([a, b, cut1], ctx)
    assert again.cache_stats == (3, 0)  # every proxy was computed with snip and cached
    other_seed = get_selector("snip", seed=1, C=4, N=1, batch_size=8)
    other_seed.score([a], ctx)
    assert other_seed.cache_stats == (0, 1)  # the key includes the seed


def test_unshared_computes_only_its_proxy(tmp_path):
    ctx = Context(space="nb201", dataset="cifar10", seed=0, cache_dir=str(tmp_path))
    sel = get_selector("naswot", seed=0, C=4, N=1, batch_size=8, share=False)
    sel.score([ARCH], ctx)
    snip = get_selector("snip", seed=0, C=4, N=1, batch_size=8, share=False)
    snip.score([ARCH], ctx)
    assert snip.cache_stats == (0, 1)


@pytest.mark.slow
def test_copy_semantics_do_not_leak_between_proxies(batch):
    """Computing proxies must not change the network the next proxy sees (same init each time)."""
    x, y = batch
    first = compute(lambda bn: _small(ARCH, bn), x, y, ["grasp", "zico"], seed=0)
    second = compute(lambda bn: _small(ARCH, bn), x, y, ["zico"], seed=0)
    assert first["zico"] == pytest.approx(second["zico"], rel=1e-6)
    assert copy.deepcopy(first) == first


def test_network_choice_is_validated_and_keys_the_cache(tmp_path):
    with pytest.raises(ConfigError, match="network must be one of reference, benchmark"):
        get_selector("snip", network="xautodl")
    ctx = Context(space="nb201", dataset="cifar10", seed=0, cache_dir=str(tmp_path))
    kw = dict(seed=0, C=4, N=1, batch_size=8, share=False)
    ref = get_selector("fisher", **kw)
    bench = get_selector("fisher", network="benchmark", **kw)
    s_ref, s_bench = ref.score([ARCH], ctx), bench.score([ARCH], ctx)
    assert ref.cache_stats == (0, 1) and bench.cache_stats == (0, 1)  # separate cache entries
    assert s_ref[0] != s_bench[0]
