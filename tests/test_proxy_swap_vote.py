"""SWAP, regularised SWAP and zero-cost-nas's vote: each against a plain transcription of its
reference (pym1024/SWAP src/metrics/swap.py; zero-cost-nas notebooks/nasbench201_correlations.ipynb),
hand-computed values and the reference's invariances, plus one CLI run per space."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from benchsuite import get_selector
from benchsuite.errors import ConfigError
from benchsuite.metrics import majority_agreement
from benchsuite.selectors.base import Context
from benchsuite.selectors.proxies import swap as S
from benchsuite.selectors.proxies.cache import nb201_representatives
from benchsuite.selectors.proxies.vote import majority_wins
from benchsuite.spaces import nb101, nb201

ARCHS = [nb201.format_arch(ops) for ops in (
    ["nor_conv_3x3"] * 6,
    ["nor_conv_1x1", "avg_pool_3x3", "skip_connect", "nor_conv_3x3", "none", "nor_conv_1x1"],
    ["none", "skip_connect", "nor_conv_3x3", "avg_pool_3x3", "nor_conv_1x1", "skip_connect"],
)]
NB101_CELL = nb101.make_cell(
    [[0, 1, 1, 0, 0, 0, 1], [0, 0, 0, 1, 0, 0, 0], [0, 0, 0, 0, 1, 0, 0], [0, 0, 0, 0, 0, 0, 1],
     [0, 0, 0, 0, 0, 1, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0]],
    ["input", "conv3x3-bn-relu", "maxpool3x3", "conv1x1-bn-relu", "conv3x3-bn-relu", "maxpool3x3", "output"],
).to_string()


def _nets():
    for a in ARCHS:
        for style in ("zero-cost-nas", "benchmark"):
            yield nb201.build_network(a, C=4, N=1, style=style).train()
    yield nb101.build_network(NB101_CELL, stem_channels=4, cells_per_stack=1).train()


def ref_swap(net, x):
    """swap.py's SWAP.forward, transcribed: ReLU outputs of 4-D inputs, concatenated per sample,
    torch.sign, transposed, distinct rows counted."""
    feats = []

    def hook(_m, inp, out):
        if isinstance(inp, tuple) and len(inp[0].size()) == 4:
            feats.append(out.detach())

    hooks = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, nn.ReLU)]
    with torch.no_grad():
        net(x)
    for h in hooks:
        h.remove()
    acts = torch.sign(torch.cat([f.view(x.size(0), -1) for f in feats], 1))
    return torch.unique(acts.T, dim=0).size(0)


# 6 samples: int32 words counted in a tally; 40: one int64 word, too large a code for the tally,
# sorted; 70: two words per unit (62 + 8), rows sorted
@pytest.mark.parametrize("n", [6, 40, 70])
def test_swap_counts_the_references_distinct_patterns(n):
    x = torch.randn(n, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    for net in _nets():
        S.gaussian_init(net, torch.Generator().manual_seed(0))
        assert S.swap_once(net, x) == ref_swap(net, x)


def test_swap_hand_counted():
    """Units' on/off vectors over 3 samples: (1,0,1), (1,0,1), (0,1,1), (0,0,0) from the first ReLU;
    (0,0,0) again from the second; the 2-D ReLU is not counted (swap.py:83): 3 distinct patterns."""
    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.flat = nn.ReLU(), nn.ReLU(), nn.ReLU()

        def forward(self, x):
            self.b(-x.abs())
            return self.flat(self.a(x).flatten(1) - 5)

    x = torch.tensor([[1.0, 2.0, -1.0, 0.0], [-1.0, -3.0, 2.0, -2.0], [0.5, 1.0, 4.0, -1.0]]).view(3, 1, 2, 2)
    assert S.swap_once(Tiny(), x) == 3 == ref_swap(Tiny(), x)


def test_swap_is_invariant_to_the_order_of_the_batch():
    """A pattern set is the same whoever comes first, and train-mode BN pools the batch."""
    x = torch.randn(12, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    perm = torch.randperm(12, generator=torch.Generator().manual_seed(2))
    net = nb201.build_network(ARCHS[1], C=4, N=1, style="zero-cost-nas")
    assert S.swap_of(net, x, seed=5, repeats=3) == S.swap_of(net, x[perm], seed=5, repeats=3)


def test_gaussian_init_is_the_references():
    """utilities.py:15-32: conv/linear weights N(0, 1), biases 0, affine BN 1 and 0; seeded."""
    net = nb201.build_network(ARCHS[0], C=8, N=1, style="zero-cost-nas")
    S.gaussian_init(net, torch.Generator().manual_seed(0))
    w = torch.cat([m.weight.detach().flatten() for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))])
    assert abs(float(w.mean())) < 0.02 and abs(float(w.std()) - 1) < 0.02
    assert all(float(m.bias.detach().abs().max()) == 0 for m in net.modules()
               if isinstance(m, (nn.Conv2d, nn.Linear)) and m.bias is not None)
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d) and m.weight is not None]
    assert bns and all(bool((m.weight == 1).all() and (m.bias == 0).all()) for m in bns)
    again = nb201.build_network(ARCHS[0], C=8, N=1, style="zero-cost-nas")
    S.gaussian_init(again, torch.Generator().manual_seed(0))
    assert all(torch.equal(p, q) for p, q in zip(net.parameters(), again.parameters()))


def test_swap_of_averages_the_repeats():
    x = torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    net = nb201.build_network(ARCHS[1], C=4, N=1)
    g = torch.Generator().manual_seed(7)
    each = []
    for _ in range(4):
        S.gaussian_init(net, g)
        each.append(ref_swap(net, x))
    assert S.swap_of(net, x, seed=7, repeats=4) == pytest.approx(np.mean(each))


def test_regularisation_is_the_references():
    """swap.py:6-11 with count_parameters (utilities.py:12): exp(-(Θ-μ)²/σ), Θ in thousands; on the
    benchmark network Θ is nb201.costs's parameter count."""
    for a in ARCHS:
        net = nb201.build_network(a)
        assert S.param_thousands(net) == pytest.approx(nb201.costs(a)["params_m"] * 1e3)
    assert S.regular_factor(7.0, 5.0, 2.0) == pytest.approx(math.exp(-2.0))
    assert S.regular_factor(5.0, 5.0, 2.0) == 1.0


def test_swap_reg_needs_mu_and_sigma():
    with pytest.raises(ConfigError, match="mu=.*sigma="):
        get_selector("swap_reg")   # refused when built, before any run folder
    with pytest.raises(ConfigError, match="sigma must be > 0"):
        get_selector("swap_reg", mu=1.0, sigma=0.0)
    with pytest.raises(ConfigError, match="share"):
        get_selector("swap", share=True)


def ref_vote_wins(metrics):
    """The notebook's vote over every ordered pair: i wins when vote(diffs, +1) > 0."""
    def vote(mets, gt):
        numpos = 0
        for m in mets:
            numpos += 1 if m > 0 else 0
        sign = +1 if numpos >= len(mets) / 2 else -1
        return sign * gt

    n = len(metrics)
    wins = [0] * n
    for i in range(n):
        for j in range(n):
            if i != j and vote([metrics[i][k] - metrics[j][k] for k in range(3)], 1) > 0:
                wins[i] += 1
    return wins


def test_vote_counts_the_notebooks_pairwise_majorities():
    rng = np.random.default_rng(0)
    m = rng.integers(0, 4, (40, 3)).astype(float)   # many ties
    m[3, 1] = m[7, 0] = np.nan
    with np.errstate(invalid="ignore"):
        expected = ref_vote_wins(m)
    assert majority_wins(m, chunk=7).tolist() == expected


def test_vote_orders_as_the_three_agree():
    """Where the three proxies order the cells alike, the vote orders them so too."""
    x = np.arange(10.0)
    m = np.stack([x ** 3, x - 100, np.exp(x)], 1)
    assert majority_wins(m).tolist() == list(range(10))


# --- on the bundle's CIFAR images ---

@pytest.mark.bundle
def test_swap_reads_the_first_training_images_unaugmented():
    """correlation.py:37-39: an unshuffled loader's first batch; utilities.py:54's transform is the
    identity on 32x32 images but for Normalize with SWAP's statistics (utilities.py:38-40)."""
    from benchsuite.data.images import load_images

    sel = get_selector("swap", batch_size=5, seed=3)
    x, y, _ = sel._image_batch(Context(space="nb201", dataset="cifar10"))
    imgs = load_images("cifar10")
    raw = torch.from_numpy(imgs.x_train[:5]).permute(0, 3, 1, 2).float() / 255
    mean = torch.tensor([0.49139968, 0.48215827, 0.44653124]).view(1, 3, 1, 1)
    std = torch.tensor([0.24703233, 0.24348505, 0.26158768]).view(1, 3, 1, 1)
    assert torch.allclose(x, (raw - mean) / std, atol=1e-6)
    assert y.tolist() == imgs.y_train[:5].tolist()


@pytest.mark.bundle
def test_swap_reg_is_swap_times_the_factor():
    ctx = Context(space="nb201", dataset="cifar10", seed=2)
    hp = {"C": 4, "N": 1, "batch_size": 8, "seed": 2}
    plain = get_selector("swap", **hp).score(ARCHS, ctx)
    reg = get_selector("swap_reg", mu=5.0, sigma=30.0, **hp).score(ARCHS, ctx)
    # Θ of the network the count was computed on: the canonical representative (ARCHS[2]'s convs out
    # of node 1 act on zeros, so its representative has none there, and fewer parameters)
    reps = [nb201_representatives()[nb201.canonical(a)] for a in ARCHS]
    assert reps[2] != ARCHS[2]
    params = [S.param_thousands(nb201.build_network(r, C=4, N=1, style="zero-cost-nas")) for r in reps]
    np.testing.assert_allclose(reg, plain * np.exp(-((np.array(params) - 5.0) ** 2) / 30.0))


@pytest.mark.bundle
def test_vote_is_the_majority_of_its_components(tmp_path):
    """Components computed separately (each its own pass, fresh caches) give the vote's inputs: the
    shared snip+jacov pass changes no value."""
    archs = nb201.all_archs()[:8]
    hp = {"C": 4, "N": 1, "batch_size": 8, "seed": 1}
    vote = get_selector("vote", **hp)
    ctx = Context(space="nb201", dataset="cifar10", seed=1, cache_dir=str(tmp_path / "a"))
    got = vote.score(archs, ctx)
    sep = Context(space="nb201", dataset="cifar10", seed=1, cache_dir=str(tmp_path / "b"))
    cols = [get_selector(n, **hp).score(archs, sep) for n in ("synflow", "jacov", "snip")]
    np.testing.assert_array_equal(vote.component_scores(archs, ctx), np.stack(cols, 1))
    np.testing.assert_array_equal(got, majority_wins(np.stack(cols, 1)))


SMALL = ["--sample", "6", "--hp", "batch_size=8", "--no-plots", "--n-boot", "0"]


@pytest.mark.bundle
@pytest.mark.parametrize("name, hp", [("swap", []), ("swap_reg", ["--hp", "mu=5", "--hp", "sigma=30"]),
                                      ("vote", [])])
@pytest.mark.parametrize("bench", ["nb201", "nb101"])
def test_cli_runs(name, hp, bench, tmp_path):
    from benchsuite.cli import main

    size = ["--hp", "C=4", "--hp", "N=1"] if bench == "nb201" else ["--hp", "C=8", "--hp", "N=1"]
    args = ["run", "--bench", bench, "--selector", name, *SMALL, *size, *hp, "--out", str(tmp_path / "run")]
    assert main(args) == 0
    if name == "vote":   # its components' scores beside its own, and the notebook's pairwise measure
        import pandas as pd

        parts = pd.read_csv(tmp_path / "run" / "components.csv")
        assert list(parts.columns) == ["seed", "arch", "synflow", "jacov", "snip"] and len(parts) == 6
        scores = pd.read_csv(tmp_path / "run" / "scores.csv").set_index("arch").loc[parts.arch]
        np.testing.assert_array_equal(scores.score, majority_wins(parts[["synflow", "jacov", "snip"]].to_numpy()))
        m = pd.read_csv(tmp_path / "run" / "metrics.csv").set_index(["seed", "metric"]).value
        want = majority_agreement(parts[["synflow", "jacov", "snip"]].to_numpy(), scores.true_acc.to_numpy())
        assert m[("0", "pairwise_agreement")] == pytest.approx(want)


def ref_vote_agreement(metrics, acc):
    """The notebook's loop: over ordered pairs of different accuracy, right when vote(diffs, diff) > 0."""
    def vote(mets, gt):
        numpos = sum(1 if m > 0 else 0 for m in mets)
        return (+1 if numpos >= len(mets) / 2 else -1) * gt

    tot = right = 0
    for i in range(len(acc)):
        for j in range(len(acc)):
            if i != j:
                diff = acc[i] - acc[j]
                if diff == 0:
                    continue
                right += 1 if vote([metrics[i][k] - metrics[j][k] for k in range(3)], diff) > 0 else 0
                tot += 1
    return right / tot


def test_majority_agreement_is_the_notebooks_vote_measure():
    rng = np.random.default_rng(3)
    m = rng.integers(0, 5, (45, 3)).astype(float)   # ties in every component
    m[[2, 9], [0, 2]] = np.nan
    acc = rng.integers(0, 6, 45).astype(float)       # and in accuracy
    with np.errstate(invalid="ignore"):
        want = ref_vote_agreement(m, acc)
    assert majority_agreement(m, acc, chunk=8) == pytest.approx(want, abs=1e-12)
    # cells of unknown accuracy are left out
    assert majority_agreement(np.vstack([m, m[:1]]), np.append(acc, np.nan)) == pytest.approx(want, abs=1e-12)
