"""The `paper` presets pinned to their sources (issue 13, item 1), RLNAS's evolution rules, and the
no-clipping path the single-path references use. No training beyond two smoke steps."""
import numpy as np
import pytest
import torch

from benchsuite import get_selector, presets
from benchsuite.selectors.registry import SELECTORS
from benchsuite.selectors.weight_sharing.evolution import evolve
from benchsuite.supernet.config import preset_config

# (mode, field values, source) — each value as the reference file states it.
PAPER = [
    ("darts", {"epochs": 50, "batch_size": 64, "wd": 5e-4, "grad_clip": 5.0, "nesterov": True, "lr": 0.025,
               "lr_min": 0.001, "arch_lr": 3e-4, "arch_wd": 1e-3, "arch_beta1": 0.5},
     "D-X-Y/AutoDL-Projects configs/nas-benchmark/algos/DARTS.config"),
    ("spos", {"epochs": 600, "batch_size": 48, "wd": 1e-4, "grad_clip": 0.0, "nesterov": True, "lr": 0.025,
              "lr_min": 0.001, "C": 16, "N": 5},
     "aoiang/few-shot-NAS configs/nas-benchmark/algos/ONE-SHOT-SUPERNET.config"),
    ("rlnas", {"epochs": 250, "batch_size": 64, "wd": 5e-4, "grad_clip": 0.0, "nesterov": True, "lr": 0.025,
               "lr_min": 0.001, "C": 16, "N": 5},
     "megvii-model/RLNAS nas_bench_201/configs/nas-benchmark/algos/SPOS.config"),
]


@pytest.mark.parametrize("mode, values, source", PAPER, ids=[p[0] for p in PAPER])
def test_paper_preset_is_the_reference_setting(mode, values, source):
    cfg = preset_config(mode, "paper")
    assert {k: getattr(cfg, k) for k in values} == values, source


def test_fewshot_and_darts_pt_paper_settings():
    assert presets.values("fewshot", "paper")["split_epochs"] == 300   # FEW-SHOT-SUPERNET.config epochs
    pt = get_selector("darts-pt", preset="paper")
    own = preset_config("darts", "paper", **pt.train_overrides())
    assert (own.epochs, own.wd, own.nesterov, own.grad_clip, own.batch_size) == (100, 3e-4, False, 5.0, 64)
    darts = preset_config("darts", "paper", **get_selector("darts", preset="paper").train_overrides())
    assert own.key() != darts.key()   # its own supernet, not the 50-epoch darts checkpoint
    cpu = get_selector("darts-pt", preset="cpu")
    assert preset_config("darts", "cpu", **cpu.train_overrides()).key() == \
        preset_config("darts", "cpu", **get_selector("darts", preset="cpu").train_overrides()).key()


def test_cpu_presets_are_unchanged_scaled_down_versions():
    assert [(preset_config(m, "cpu").epochs, preset_config(m, "cpu").C) for m in ("darts", "spos", "rlnas")] == \
        [(30, 8), (100, 8), (100, 8)]
    evolve_paper = [presets.values("spos", "paper")[k] for k in ("population", "generations", "parents")]
    assert evolve_paper == [50, 20, 10]   # SPOS's reference search (select 10, population 50)


def test_rlnas_evolution_is_the_references_and_never_mutates_to_none():
    sel = get_selector("rlnas", preset="paper")
    assert [sel.preset_value(k) for k in ("population", "generations", "parents")] == [100, 20, 30]
    assert sel.mutation_ops == (1, 2, 3, 4)
    batches = []

    def more_none_is_fitter(cells):   # pulls towards `none`: only mutation could add one
        batches.append(list(cells))
        return [c.count("none") for c in cells]

    def nones_added(mutation_ops):
        batches.clear()
        evolve(more_none_is_fitter, seed=0, population=20, generations=3, parents=1, mutate_prob=0.5,
               mutation_ops=mutation_ops)
        best = max(c.count("none") for c in batches[0])
        return max(c.count("none") for b in batches[1:] for c in b) - best

    assert nones_added((1, 2, 3, 4)) <= 0    # one parent, children by mutation only: none never drawn
    assert nones_added(None) > 0              # the shared SPOS rule does draw it


def test_grad_clip_zero_never_clips(monkeypatch, data_dir):
    from benchsuite.data.images import load_images
    from benchsuite.supernet.data import SearchData
    from benchsuite.supernet.trainer import train_supernet

    def refuse(*a, **k):
        raise AssertionError("clipped although grad_clip is 0")

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", refuse)
    cfg = preset_config("rlnas", "smoke", image_source="test", grad_clip=0.0)
    images = load_images("cifar10", data_dir=data_dir)
    data = SearchData.from_images(images, num_classes=10, seed=0, limit=cfg.limit, random_labels=True)
    net = train_supernet(cfg, data)
    assert len(net.history) == cfg.epochs


@pytest.mark.parametrize("name, has", [("darts", False), ("darts-pt", False), ("it", True), ("spos", False),
                                       ("fewshot", False), ("rlnas", True), ("zico", True), ("synflow", True),
                                       ("eproxy", True)])
def test_open_deviations_are_recorded_in_run_json(name, has, tmp_path):
    """What a selector still does differently from its reference goes into run.json; every selector
    that augments CIFAR batches states the mean-colour pad (synflow reads no image, eproxy pads black)."""
    from benchsuite.data.images import PAD_DEVIATION

    dev = get_selector(name).deviations
    assert bool([d for d in dev if d != PAD_DEVIATION]) == has
    assert (PAD_DEVIATION in dev) == (name not in ("synflow", "eproxy"))


def test_every_selector_states_deviations_as_sentences():
    """A tuple of sentences: a bare string would be written to run.json one character per entry."""
    from benchsuite.selectors.registry import SELECTORS

    for name in SELECTORS.names():
        dev = get_selector(name, **SELECTORS.get(name).fast_hparams).deviations
        assert isinstance(dev, tuple), name
        assert all(isinstance(d, str) and len(d) > 40 for d in dev), name


def test_it_offers_both_readings():
    assert get_selector("it").train_overrides()["it_train"] == "joint"
    assert get_selector("it", train="bilevel").train_overrides()["it_train"] == "bilevel"


@pytest.mark.bundle   # zico needs CIFAR images
def test_run_json_carries_the_deviations(tmp_path):
    import json
    import os

    from benchsuite.cli import main

    assert main(["run", "--selector", "zico", "--sample", "2", "--hp", "C=4", "--hp", "N=1", "--hp", "batch_size=4",
                 "--out", str(tmp_path / "r"), "--n-boot", "0", "--no-plots"]) == 0
    run = json.loads((tmp_path / "r" / "run.json").read_text())
    assert run["deviations"] == list(get_selector("zico").deviations)
    # the thread count a torch run's numbers depend on (see manifest.environment)
    assert run["env"]["torch_threads"] == torch.get_num_threads() >= 1
    assert run["env"]["omp_num_threads"] == os.environ.get("OMP_NUM_THREADS")


@pytest.mark.bundle   # CIFAR images
def test_zico_offers_the_reference_loader_batches(tmp_path):
    """batches=loader: two samples of batch_size images each (SLDGroup/ZiCo getzico over --maxbatch 2
    loader batches); the same computation as the halves of a batch twice as large, nothing stated."""
    from benchsuite.errors import ConfigError
    from benchsuite.selectors.base import Context
    from benchsuite.spaces import nb201

    ctx = Context(space="nb201", dataset="cifar10", seed=0, cache_dir=str(tmp_path))
    archs = nb201.all_archs()[:2]
    kw = {"C": 4, "N": 1}
    loader = get_selector("zico", batch_size=4, batches="loader", **kw)
    halves8 = get_selector("zico", batch_size=8, **kw)
    halves4 = get_selector("zico", batch_size=4, **kw)
    a, b, c = (s.score(archs, ctx) for s in (loader, halves8, halves4))
    assert loader._batch[0].shape[0] == 8 and halves4._batch[0].shape[0] == 4
    np.testing.assert_array_equal(a, b)
    assert halves8.cache_stats == (2, 0)   # served from loader's entry: same images, same split
    assert not np.allclose(a, c)
    assert not any("loader" in d for d in loader.deviations) and "loader batches" in halves4.deviations[-1]
    with pytest.raises(ConfigError, match="batches must be one of halves, loader, got 'one'"):
        get_selector("zico", batches="one")
    with pytest.raises(ConfigError, match="cannot share"):
        get_selector("zico", batches="loader", share=True)


def test_every_preset_value_states_its_source():
    """presets.table: (preset, key, value, source) rows, one per value, for every selector; the
    selectors read exactly these values."""
    for name in SELECTORS.names():
        rows = presets.table(name)
        assert rows == [] or all(isinstance(p, str) and isinstance(k, str) and len(src) > 20 for p, k, _, src in rows)
        if rows:
            assert {p for p, *_ in rows} == set(presets.names(name))
            for p in presets.names(name):
                assert presets.values(name, p) == {k: v for q, k, v, _ in rows if q == p}
    assert presets.table("params") == [] and presets.table("no-such-selector") == []
    rea = {(p, k): v for p, k, v, _ in presets.table("rea")}
    assert rea[("naslib", "population")] == 30 and rea[("nb201", "sample_size")] == 3
    r = get_selector("rea", preset="nb201")
    assert (r.population, r.sample_size, r.mutation) == (10, 3, "node")


@pytest.mark.parametrize("name", sorted(presets.SUPERNET_MODE))
def test_supernet_selectors_train_what_their_presets_say(name):
    cls = SELECTORS.get(name)
    assert cls.train_mode == presets.SUPERNET_MODE[name] and set(presets.names(name)) == {"smoke", "cpu", "paper"}
    for preset in presets.names(name):
        values = presets.values(name, preset)
        sel = get_selector(name, preset=preset)
        cfg = preset_config(cls.train_mode, preset, **sel.train_overrides())
        fields = {k: v for k, v in values.items() if hasattr(cfg, k)}
        assert fields and {k: getattr(cfg, k) for k in fields} == fields, (name, preset)
