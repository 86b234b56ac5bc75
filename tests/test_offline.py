"""No images anywhere and no network: selectors that read no image (synflow alone) still run, with
the scores they had when computed next to images; the others, when asked to compute (runs the
shipped tables answer are tested in test_proxy_tables), are refused in one line before their run
folder is made, and what their preflight loads is what they score with."""
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchsuite import get_selector
from benchsuite.cli import main
from benchsuite.data.images import IMAGE_SHAPE, load_images, proxy_batch
from benchsuite.selectors.base import Context
from benchsuite.selectors.proxies.measures import compute
from benchsuite.selectors.proxies.packed import compute_packed
from benchsuite.spaces import nb201

SMALL = ["--hp", "C=4", "--hp", "N=1", "--no-plots", "--n-boot", "0"]


@pytest.mark.parametrize("bench, hp", [("nb201", []), ("nb101", ["--hp", "C=8"])])
def test_synflow_runs_offline_without_images(offline, bench, hp, capsys):
    out = offline / "run"
    args = ["run", "--bench", bench, "--selector", "synflow", "--sample", "10", *SMALL, *hp, "--out", str(out)]
    assert main(args) == 0, capsys.readouterr().err
    scores = pd.read_csv(out / "scores.csv")
    assert len(scores) == 10 and np.isfinite(scores["score"]).all()
    report = json.loads((out / "run.json").read_text())["seeds"]["0"]["selector_report"]
    assert "images" not in report and report["input"] == "all-ones 3x32x32 (no images read)"
    assert report["proxies_computed"] == ["synflow"]


@pytest.mark.parametrize("selector", [["snip", "--compute"], ["synflow", "--hp", "share=true"],
                                      ["naswot", "--bench", "nb101", "--compute"], ["eproxy"],
                                      ["spos", "--hp", "preset=smoke"]])
def test_a_selector_that_reads_images_is_refused_before_its_run_folder(offline, selector, capsys):
    out = offline / "run"
    assert main(["run", "--selector", *selector, "--sample", "10", "--no-plots", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("benchsuite: error: no cifar10 images here")
    assert "cifar_dir" in err[0] and "images/cifar10_subset.npz" in err[0]
    assert not out.exists()   # nothing left to block the same --out once images are there


def test_an_empty_cifar_dir_is_refused_before_the_run_folder(offline, capsys):
    empty, out = offline / "empty", offline / "run"
    empty.mkdir()
    assert main(["run", "--selector", "snip", "--sample", "10", "--hp", f"cifar_dir={empty}", "--no-plots",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "lacks the cifar10 python batches" in err[0]
    assert not out.exists()


# synflow of these cells, seed 0, batch_size 8, recorded from the code before synflow stopped reading
# images (commit 9858b43: get_selector("synflow", ...).score(cells, ctx) with BENCHSUITE_DATA at the
# data bundle, i.e. on its CIFAR subsets; share=False, share=True and cell_batch=4 gave the same
# values). The all-ones input only ever took its shape from those images, so the values must not move.
CELLS = ["|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|",
         nb201.format_arch(["nor_conv_3x3"] * 6),
         nb201.format_arch(["avg_pool_3x3", "none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "none"]),
         nb201.format_arch(["none"] * 6)]
NB101 = ['{"matrix":[[0,1,1,1,1,1],[0,0,0,0,0,1],[0,0,0,0,0,1],[0,0,0,0,1,0],[0,0,0,0,0,1],[0,0,0,0,0,0]],'
         '"ops":["input","maxpool3x3","maxpool3x3","conv3x3-bn-relu","conv3x3-bn-relu","output"]}',
         '{"matrix":[[0,1,1,0,0],[0,0,0,1,1],[0,0,0,0,1],[0,0,0,0,1],[0,0,0,0,0]],'
         '"ops":["input","conv3x3-bn-relu","maxpool3x3","conv1x1-bn-relu","output"]}']
RECORDED = [
    ("nb201", "cifar10", CELLS, {}, [8546546.010337887, 1013397048.0305305, 84965.58969565935, 0.0]),
    ("nb201", "cifar10", CELLS, {"cell_batch": 4}, [8546546.010337887, 1013397048.0305305, 84965.58969565935, 0.0]),
    ("nb201", "imagenet16", CELLS[:2], {}, [118012793.88122123, 12134016791.809265]),
    ("nb201", "cifar10", CELLS[:2], {"seed": 1, "network": "benchmark"}, [2663277477.9654794, 231663811608.88904]),
    ("nb101", "cifar10", NB101, {"C": 8}, [426013.2566746884, 64177.66213451309]),
]


@pytest.mark.parametrize("space, dataset, archs, kw, before", RECORDED)
def test_synflow_scores_are_those_computed_from_images(offline, space, dataset, archs, kw, before):
    args = {"seed": 0, "C": 4, "N": 1, "batch_size": 8, **kw}
    sel = get_selector("synflow", **args)
    ctx = Context(space=space, dataset=dataset, seed=args["seed"], cache_dir=str(offline / "proxies"))
    sel.preflight(ctx)   # nothing to check: it reads no image
    assert sel.score(archs, ctx) == pytest.approx(before, rel=1e-12, abs=0)


@pytest.mark.bundle   # the CIFAR subset, for the batch the shape-only input is compared with
def test_synflow_reads_only_the_shape_of_the_images():
    """zero-cost-nas's synflow feeds ones of the data's shape: the batch's images change nothing, so
    the shape alone (no batch, as offline) gives the same value, in the packed pass too."""
    x, y = proxy_batch(load_images("cifar10"), 16, seed=0)
    assert tuple(x.shape[1:]) == IMAGE_SHAPE
    cells = [CELLS[0], nb201.format_arch(["nor_conv_3x3"] * 6)]
    builds = [lambda bn, a=a: nb201.build_network(a, C=8, N=1, bn=bn, style="benchmark") for a in cells]
    with_images = [compute(b, x, y, ["synflow"], seed=0)["synflow"] for b in builds]
    shape_only = [compute(b, None, None, ["synflow"], seed=0, shape=IMAGE_SHAPE)["synflow"] for b in builds]
    packed = [v["synflow"] for v in compute_packed(builds, None, None, ["synflow"], seed=0, shape=IMAGE_SHAPE)]
    assert shape_only == with_images
    assert packed == pytest.approx(with_images, rel=1e-12)
    with pytest.raises(ValueError, match="snip needs an image batch"):
        compute(builds[0], None, None, ["synflow", "snip"], seed=0, shape=IMAGE_SHAPE)


@pytest.mark.bundle   # the CIFAR subset
def test_preflight_loads_the_batch_the_scores_use_once(tmp_path, monkeypatch):
    from benchsuite.selectors.proxies import zero_cost

    loads = []
    real = zero_cost.load_images
    monkeypatch.setattr(zero_cost, "load_images", lambda *a, **kw: loads.append(a) or real(*a, **kw))
    ctx = Context(space="nb201", dataset="cifar10", seed=0, cache_dir=str(tmp_path))
    snip = get_selector("snip", seed=0, C=4, N=1, batch_size=8)
    snip.preflight(ctx)
    assert len(loads) == 1
    snip.score(CELLS[:1], ctx)
    assert len(loads) == 1 and snip.report()["images"] == "images/cifar10_subset.npz"
    synflow = get_selector("synflow", seed=0, C=4, N=1, batch_size=8)
    synflow.preflight(ctx)
    synflow.score(CELLS[:1], ctx)
    assert len(loads) == 1 and "images" not in synflow.report()   # synflow alone reads no image
    shared = get_selector("synflow", seed=0, C=4, N=1, batch_size=8, share=True)
    shared.preflight(ctx)
    assert len(loads) == 2   # share=True computes all eight proxies: it needs the batch


def test_data_fetch_without_a_network_is_one_line_and_caches_nothing(offline, capsys):
    assert main(["data", "--fetch", "--url", "https://mirror.invalid/bundle"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "could not download https://mirror.invalid/bundle/" in err[0]
    assert "Network is unreachable" in err[0] and "Traceback" not in err[0]
    assert not [p for p in (offline / "cache").rglob("*") if p.is_file()]   # not even a temporary file


def test_the_default_cache_is_the_platform_user_cache(monkeypatch, tmp_path):
    import platformdirs

    from benchsuite.benchmarks.sources import cache_dir
    from benchsuite.errors import ConfigError

    monkeypatch.delenv("BENCHSUITE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == Path(platformdirs.user_cache_dir("benchsuite", appauthor=False))
    if sys.platform.startswith("linux"):
        assert cache_dir() == tmp_path / "xdg" / "benchsuite"
    monkeypatch.setenv("BENCHSUITE_CACHE", str(tmp_path / "mine"))   # the override wins, made on first write
    assert cache_dir() == tmp_path / "mine" and not (tmp_path / "mine").exists()
    (tmp_path / "mine").write_text("not a folder")
    with pytest.raises(ConfigError, match=r"the cache .*mine \(\$BENCHSUITE_CACHE\) is a file, not a folder"):
        cache_dir()
