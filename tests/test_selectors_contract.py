"""The contract every registered selector and benchmark meets (third-party ones included, via entry
points): declarations match what the class does, every hyperparameter is declared and round-trips,
scores/searches/derived cells are valid. Iterating the registries, a new plug-in is covered as soon
as it registers. Only the selectors that read images need the data bundle."""
import inspect
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from benchsuite import get_selector, list_selectors
from benchsuite import hparams as hp
from benchsuite.benchmarks.nb101 import NB101
from benchsuite.benchmarks.registry import BENCHMARKS
from benchsuite.cli import main
from benchsuite.errors import ConfigError
from benchsuite.hparams import Interval
from benchsuite.selectors.base import CAPABILITIES, INPUTS, Context, Selector
from benchsuite.selectors.registry import SELECTORS
from benchsuite.spaces import nb201

NB201_ARCHS = nb201.all_archs()[:6]
SLOW = {"eproxy-dps", "grasp", "ctnas", "darts-pt", "nao", "tnao"}   # over ~20 s each on 2 cores
NAMES = list_selectors()


@pytest.fixture(scope="module")
def nb101_bench():
    return NB101()


def _params(names, *, slow=SLOW):
    """One case per selector; those that read images need the bundle, the slow ones are marked."""
    out = []
    for n in names:
        marks = [pytest.mark.slow] if n in slow else []
        if "images" in SELECTORS.get(n).inputs:
            marks.append(pytest.mark.bundle)
        out.append(pytest.param(n, marks=marks))
    return out


def _with(capability):
    return [n for n in NAMES if capability in SELECTORS.get(n).capabilities]


# ----------------------------------------------------------------------------- declarations
@pytest.mark.parametrize("name", NAMES)
def test_declarations_match_what_the_class_implements(name):
    cls = SELECTORS.get(name)
    assert issubclass(cls, Selector) and cls.capabilities and cls.capabilities <= set(CAPABILITIES)
    assert cls.inputs <= INPUTS and isinstance(cls.uses_torch, bool)
    for cap, method in CAPABILITIES.items():
        assert (cap in cls.capabilities) == (getattr(cls, method) is not getattr(Selector, method)), (cap, method)
    params = hp.keyword_params(cls)
    assert ("labels" in cls.inputs) == ("labels" in params)
    assert "supernet" not in cls.inputs or callable(cls.train_all)
    sel = cls(**cls.fast_hparams)
    if hasattr(sel, "reads_images"):   # the proxies say at run time whether they read a batch
        assert sel.reads_images() == ("images" in cls.inputs)
    assert sel.labelled_budget() == (sel.labels if "labels" in cls.inputs else 0)


@pytest.mark.parametrize("name", NAMES)
def test_every_hyperparameter_is_declared_and_round_trips(name):
    cls = SELECTORS.get(name)
    params = hp.keyword_params(cls)
    assert all(p.kind in (p.KEYWORD_ONLY, p.VAR_KEYWORD)
               for n, p in inspect.signature(cls.__init__).parameters.items() if n != "self"), \
        "hyperparameters must be keyword-only"
    assert set(params) <= set(hp.constraints(cls)), f"undeclared: {set(params) - set(hp.constraints(cls))}"
    hp.validate(cls, name, hp.defaults(cls), checks=[])   # every default is allowed by its constraint
    assert [r[0] for r in hp.describe(cls)] == [k for k in params if k not in ("seed", "device")]
    sel = cls(seed=1, **cls.fast_hparams)
    got = sel.hparams()
    assert got["seed"] == 1 and all(got[k] == v for k, v in cls.fast_hparams.items())
    assert cls(**got).hparams() == got


def test_construction_validates_like_the_command_line():
    with pytest.raises(ConfigError, match=r"^selector 'nao': lr must be at least 0, got -1.0$"):
        SELECTORS.get("nao")(lr=-1.0)
    with pytest.raises(ConfigError, match=r"--hp lr must be at least 0, got -1"):
        hp.check(SELECTORS.get("nao"), "nao", {"lr": -1})
    with pytest.raises(ConfigError, match=r"d_model \(10\) must be a multiple of heads \(4\)"):
        get_selector("tnao", d_model=10, heads=4)
    with pytest.raises(ConfigError, match=r"--hp tournament \(9\) must not exceed --hp population \(4\)"):
        hp.check(SELECTORS.get("eproxy-dps"), "eproxy-dps", {"tournament": 9, "population": 4})
    with pytest.raises(ConfigError, match="--labels must be at least 2, got 1"):
        hp.check(SELECTORS.get("nao"), "nao", {"labels": 1}, {"labels": "--labels"})
    with pytest.raises(ConfigError, match="use --seeds"):
        hp.check(SELECTORS.get("nao"), "nao", {"seed": 3})
    assert isinstance(get_selector("nao", trade_off=1).trade_off, float)   # an int given for a float
    with pytest.raises(TypeError):
        SELECTORS.get("params")(0)   # positional hyperparameters


def test_a_declaration_that_disagrees_fails_when_the_class_is_defined():
    def define(body: dict, base=Selector):
        return type("Odd", (base,), {"__module__": __name__, **body})

    def score(self, archs, ctx):
        return np.zeros(len(archs))

    def derive(self, ctx):
        return NB201_ARCHS[0]

    cases = [
        ({"capabilities": frozenset({"rank", "derive"}), "score": score}, "declares capability 'derive' but does "
                                                                           "not implement derive()"),
        ({"score": score, "derive": derive}, "does not declare capability 'derive' but implements derive()"),
        ({"capabilities": frozenset({"search"})}, "declares capability 'search' but does not implement search()"),
        ({"capabilities": frozenset({"rank", "fly"}), "score": score}, "subset of"),
        ({"inputs": frozenset({"labels"}), "score": score}, "input 'labels'"),
        ({"needs": frozenset({"images"}), "score": score}, "'needs' is not part of the selector contract"),
        ({"ranks": False, "score": score}, "'ranks' is not part of the selector contract"),
    ]
    for body, message in cases:
        with pytest.raises(TypeError, match=message) as e:
            define(body)
        assert "\n" not in str(e.value)
    plain = define({"score": score})   # a ranker that declares nothing
    assert plain.capabilities == {"rank"} and plain.inputs == frozenset()


# ----------------------------------------------------------------------------- behaviour
@pytest.mark.parametrize("name", _params(_with("rank")))
def test_rankers_score_every_cell_reproducibly(name, nb101_bench, nb201):
    cls = SELECTORS.get(name)
    fast = cls.fast_hparams
    sel = get_selector(name, seed=1, **fast)
    for space, bench in (("nb201", nb201), ("nb101", nb101_bench)):
        if space not in cls.spaces:
            continue
        pool = bench.archs("cifar10")
        archs = NB201_ARCHS if space == "nb201" else pool[:4]
        # Learned selectors get their labelled budget from cells outside the scored ones.
        k = sel.labelled_budget()
        labelled = dict(zip(pool[-k:], bench.accuracy(pool[-k:], "cifar10"))) if k else {}
        ctx = Context(space=space, dataset="cifar10", seed=1, labelled=labelled)
        s = sel.score(archs, ctx)
        assert isinstance(s, np.ndarray) and s.shape == (len(archs),)
        assert not np.isposinf(s).any()   # -inf is a proxy's worst value; +inf is refused
        again = get_selector(name, seed=1, **fast).score(archs, ctx)
        np.testing.assert_array_equal(s, again)  # reproducible to the seed
        # Scoring a subset gives the same scores: no hidden dependence on batch composition (except
        # where the selector declares it ranks cells jointly: an aggregate of ranks over the set).
        if not cls.ranks_jointly:
            np.testing.assert_array_equal(get_selector(name, seed=1, **fast).score(archs[:3], ctx), s[:3])


@pytest.mark.parametrize("name", _params(_with("search")))
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


@pytest.mark.parametrize("name", _params(_with("derive"), slow=set()))   # seconds each at the smoke preset
def test_derived_cells_are_cells_of_the_space(name, tmp_path, monkeypatch):
    # supernets trained here stay here: other tests must not find them memoised with this checkpoint folder
    monkeypatch.setattr("benchsuite.selectors.weight_sharing.base._MEMO", {})
    cls = SELECTORS.get(name)
    for space in sorted(cls.spaces):
        sel = get_selector(name, seed=0, **cls.fast_hparams)
        cell = sel.derive(Context(space=space, dataset="cifar10", cache_dir=str(tmp_path)))
        assert isinstance(cell, str)
        assert nb201.format_arch(nb201.parse_arch(cell)) == cell and cell in set(nb201.all_archs())


def test_the_runner_never_scores_a_selector_that_does_not_rank(tmp_path, monkeypatch):
    def refuse(self, archs, ctx):
        raise AssertionError("score() called on a search method")

    monkeypatch.setattr(Selector, "score", refuse)
    out = tmp_path / "r"
    assert main(["run", "--selector", "rea", "--queries", "20", "--out", str(out), "--n-boot", "0",
                 "--no-plots"]) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["capabilities"] == ["search"] and run["uses_torch"] is False
    assert run["deviations"] == list(SELECTORS.get("rea")().deviations) != []
    assert (out / "trajectory.csv").is_file()


# ----------------------------------------------------------------------------- third parties
PLUGIN = '''
import numpy as np
from benchsuite import Selector
from benchsuite.hparams import Interval


class Vowels(Selector):
    """Counts one op's letters: a third-party ranker that declares nothing but a hyperparameter."""

    uses_torch = False
    hparam_constraints = {"weight": Interval(float, 0, None)}

    def __init__(self, *, seed: int = 0, weight: float = 1.0):
        super().__init__(seed=seed)
        self.weight = weight

    def score(self, archs, ctx):
        return np.array([self.weight * a.count("conv") for a in archs], dtype=float)
'''


def _install_plugin(site):
    (site / "bs_vowels.py").write_text(PLUGIN)
    info = site / "bs_vowels-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: bs-vowels\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[benchsuite.selectors]\nvowels = bs_vowels:Vowels\n")


def test_an_entry_point_selector_runs_through_the_command_line(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    _install_plugin(site)
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(site)}
    cmd = [sys.executable, "-m", "benchsuite", "run", "--selector", "vowels", "--sample", "40", "--n-boot", "0",
           "--no-plots", "--out", str(out)]
    r = subprocess.run([*cmd, "--hp", "weight=2"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    run = json.loads((out / "run.json").read_text())
    assert run["capabilities"] == ["rank"] and run["inputs"] == [] and run["uses_torch"] is False
    assert run["hparams"] == {"seed": 0, "weight": 2.0} and run["deviations"] == []
    bad = subprocess.run([*cmd[:-1], str(tmp_path / "bad"), "--hp", "weight=-1"], capture_output=True, text=True,
                         env=env, cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines()[-1] == \
        "benchsuite: error: selector 'vowels': --hp weight must be at least 0, got -1"
    listing = subprocess.run([sys.executable, "-m", "benchsuite", "list", "--selector", "vowels"],
                             capture_output=True, text=True, env=env, cwd=tmp_path)
    assert "can: rank;" in listing.stdout and "weight  float" in listing.stdout


def test_temporary_registration_restores_the_registry_even_on_error():
    class Dummy(Selector):
        def score(self, archs, ctx):
            return np.zeros(len(archs))

    before = SELECTORS.names()
    with pytest.raises(RuntimeError):
        with SELECTORS.temporary("dummy", Dummy):
            assert SELECTORS.get("dummy") is Dummy
            raise RuntimeError("boom")
    assert SELECTORS.names() == before and "dummy" not in SELECTORS
    params = SELECTORS.get("params")
    with SELECTORS.temporary("params", Dummy):
        assert SELECTORS.get("params") is Dummy
    assert SELECTORS.get("params") is params


# ----------------------------------------------------------------------------- benchmarks
@pytest.mark.parametrize("name", BENCHMARKS.names())
def test_benchmark_contract(name):
    """Every column it reports resolves to itself, lists distinct cells of its space with finite
    accuracies in [0, 100], and has a validation column (where it has one) that resolves too."""
    from benchsuite.spaces import get_space

    bench = BENCHMARKS.create(name)
    space = get_space(bench.space)
    assert bench.default_fidelity and bench.datasets
    for c in bench.coverage():
        key = (c.dataset, c.fidelity, c.metric)
        assert bench.resolve(*key) == key and c.dataset in bench.datasets and bench.source(*key) == c.source
        archs = bench.archs(*key)
        assert len(archs) == len(set(archs)) == c.n_archs > 0
        assert all(space.canonical(a) for a in archs[:50])   # cells the space parses
        acc = bench.accuracy(archs, *key)
        assert acc.shape == (len(archs),) and np.isfinite(acc).all() and (0 <= acc).all() and (acc <= 100).all()
        try:
            vkey = bench.validation_column(key)
        except Exception as e:   # a column without a validation column says so in one line
            assert "no validation accuracy" in str(e) and "\n" not in str(e)
            continue
        assert vkey[2] == "valid" and bench.resolve(*vkey) == vkey and bench.archs(*vkey)


def test_hyperparameter_constraints_read_in_words():
    assert Interval(float, 0, 1, closed="right").describe() == "in (0, 1]"
    assert Interval(int, 1, None).describe() == "at least 1"
    row = dict((r[0], r) for r in hp.describe(SELECTORS.get("zico")))
    assert row["batches"][1:] == ("str", "halves", "one of halves, loader")
    assert row["C"][1:] == ("int or null", None, "at least 1")
    assert row["share"][1:] == ("bool", False, "true or false")


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


def test_an_old_style_plugin_reads_as_one_line(tmp_path):
    """A selector written against `needs`/`ranks` fails at import with what to declare instead."""
    src = textwrap.dedent('''
        from benchsuite import Selector
        class Old(Selector):
            needs = frozenset({"images"})
            def score(self, archs, ctx):
                return [0.0] * len(archs)
    ''')
    r = subprocess.run([sys.executable, "-c", src], capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr.strip().splitlines()[-1] == (
        "TypeError: selector class Old: 'needs' is not part of the selector contract; declare inputs and "
        "capabilities")
