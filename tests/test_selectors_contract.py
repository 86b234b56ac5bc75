"""Contract every registered selector must meet (third-party ones included, via entry points)."""
import inspect

import numpy as np
import pytest

from benchsuite import get_selector, list_selectors
from benchsuite.benchmarks.nb101 import NB101
from benchsuite.errors import ConfigError
from benchsuite.selectors.base import Context, Selector
from benchsuite.selectors.registry import SELECTORS
from benchsuite.spaces import nb201

pytestmark = pytest.mark.bundle   # CIFAR images or the bundle's own files (see conftest)

NB201_ARCHS = nb201.all_archs()[:6]


@pytest.fixture(scope="module")
def nb101_bench():
    return NB101()


SLOW = {"eproxy-dps", "grasp", "ctnas", "darts-pt", "nao", "tnao"}   # over ~20 s each on 2 cores


def _params(names):
    return [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in names]


@pytest.mark.parametrize("name", _params(list_selectors()))
def test_selector_contract(name, nb101_bench, nb201):
    cls = SELECTORS.get(name)
    assert issubclass(cls, Selector)
    init = inspect.signature(cls.__init__).parameters
    assert all(p.kind in (p.KEYWORD_ONLY, p.VAR_KEYWORD) for n, p in init.items() if n != "self"), \
        "hyperparameters must be keyword-only"
    fast = cls.fast_hparams
    sel = get_selector(name, seed=1, **fast)
    hp = sel.hparams()
    assert hp["seed"] == 1 and all(hp[k] == v for k, v in fast.items())
    if not cls.ranks:   # a pure search method says so instead of inventing scores
        with pytest.raises(ConfigError, match="ranks no cells"):
            sel.score(NB201_ARCHS, Context(space="nb201", dataset="cifar10"))
    for space, bench in (("nb201", nb201), ("nb101", nb101_bench)):
        if space not in cls.spaces or not cls.ranks:
            continue
        pool = bench.archs("cifar10")
        archs = NB201_ARCHS if space == "nb201" else pool[:4]
        # Learned selectors get their labelled budget from cells outside the scored ones.
        k = sel.labelled_budget()
        labelled = dict(zip(pool[-k:], bench.accuracy(pool[-k:], "cifar10"))) if k else {}
        ctx = Context(space=space, dataset="cifar10", seed=1, labelled=labelled)
        s = sel.score(archs, ctx)
        assert isinstance(s, np.ndarray) and s.shape == (len(archs),)
        assert not np.isinf(s).any()
        again = get_selector(name, seed=1, **fast).score(archs, ctx)
        np.testing.assert_array_equal(s, again)  # reproducible to the seed
        # Scoring a subset gives the same scores: no hidden dependence on batch composition (except
        # where the selector declares it ranks cells jointly: an aggregate of ranks over the set).
        if not cls.ranks_jointly:
            np.testing.assert_array_equal(get_selector(name, seed=1, **fast).score(archs[:3], ctx), s[:3])


def test_params_selector_counts_parameters():
    sel = get_selector("params")
    ctx = Context(space="nb201", dataset="cifar10")
    big = nb201.format_arch(["nor_conv_3x3"] * 6)
    small = nb201.format_arch(["none"] * 6)
    s = sel.score([big, small], ctx)
    assert s[0] > s[1] and s[0] == pytest.approx(nb201.costs(big)["params_m"])


def test_flops_selector_prefers_conv3x3():
    sel = get_selector("flops")
    ctx = Context(space="nb201", dataset="cifar10")
    a = nb201.format_arch(["nor_conv_3x3"] + ["none"] * 5)
    b = nb201.format_arch(["nor_conv_1x1"] + ["none"] * 5)
    s = sel.score([a, b], ctx)
    assert s[0] > s[1]


def test_random_selector_depends_on_seed():
    ctx = Context(space="nb201", dataset="cifar10")
    assert not np.array_equal(get_selector("random", seed=0).score(NB201_ARCHS, ctx),
                              get_selector("random", seed=1).score(NB201_ARCHS, ctx))


def test_positional_hyperparameters_are_rejected():
    with pytest.raises(TypeError):
        SELECTORS.get("params")(0)


@pytest.mark.parametrize("name", _params([n for n in list_selectors() if "queries" in SELECTORS.get(n).needs]))
def test_search_contract(name, nb101_bench, nb201):
    """Every search method spends at most its budget on cells the benchmark has, starts after the
    labelled cells the runner queried, and repeats its trajectory for the same seed."""
    from benchsuite.selectors.search.oracle import Oracle

    cls = SELECTORS.get(name)
    for space, bench in (("nb201", nb201), ("nb101", nb101_bench)):
        if space not in cls.spaces:
            continue
        vkey = bench.validation_column(bench.resolve("cifar10"))
        pool = bench.archs(*vkey)
        valid = dict(zip(pool, bench.accuracy(pool, *vkey)))
        runs = []
        for _ in range(2):
            sel = get_selector(name, seed=3, **cls.fast_hparams)
            k = sel.labelled_budget()
            labelled = {a: valid[a] for a in pool[-k:]} if k else {}
            oracle = Oracle(space, valid, budget=k + 12)
            for a in labelled:
                oracle.query(a)
            sel.search(oracle, Context(space=space, dataset="cifar10", seed=3, labelled=labelled))
            assert 0 < oracle.used <= k + 12 and all(a in valid for a, _ in oracle.history)
            assert [a for a, _ in oracle.history[:k]] == list(labelled)
            runs.append(oracle.history)
        assert runs[0] == runs[1]
