"""The package's all-cell proxy tables: built from the committed shards, checksum-pinned, served
offline for default settings, and equal to what the selectors compute."""
import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import benchsuite
from benchsuite import proxy_tables
from benchsuite.cli import main
from benchsuite.errors import BenchsuiteError
from benchsuite.selectors.base import Context
from benchsuite.selectors.registry import SELECTORS
from benchsuite.spaces import nb201

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = proxy_tables.manifest()
PROXIES = sorted({(t, p) for t, e in SHIPPED.items() for p in e["proxies"]})


def _script(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_shipped_tables_are_what_the_build_script_makes_of_the_committed_shards(capsys):
    assert SHIPPED, "the package ships no proxy table"
    build = _script("build_proxy_tables")
    assert build.main(["--check"]) == 0, capsys.readouterr().out


def test_a_damaged_table_is_refused_not_read(tmp_path, monkeypatch):
    folder = tmp_path / "proxy_tables"
    shutil.copytree(proxy_tables._folder(), folder)
    name = sorted(SHIPPED)[0]
    path = folder / SHIPPED[name]["file"]
    raw = bytearray(path.read_bytes())
    raw[100] ^= 1
    path.write_bytes(bytes(raw))
    monkeypatch.setattr(proxy_tables, "_folder", lambda: folder)
    proxy_tables.load.cache_clear()
    try:
        with pytest.raises(BenchsuiteError, match="damaged"):
            proxy_tables.load(name)
    finally:
        proxy_tables.load.cache_clear()


@pytest.mark.parametrize("proxy", sorted({p for _, p in PROXIES}))
def test_default_run_is_served_offline_from_the_table(proxy, offline):
    """No images, no data folder, no network: every cell scored from the table, run.json names it."""
    assert main(["run", "--bench", "nb201", "--selector", proxy, "--out", "r", "--n-boot", "0", "--no-plots"]) == 0
    run = json.loads((offline / "r" / "run.json").read_text())
    entry = SHIPPED["nb201-cifar10"]
    assert run["scores_from"]["table"] == f"benchsuite/data/proxy_tables/{entry['file']}"
    assert run["scores_from"]["sha256"] == entry["sha256"]
    assert run["seeds"]["0"]["n_scored"] == 15625
    assert run["hparams"] == {**entry["proxies"][proxy]["settings"], "seed": 0,
                              **({"device": run["hparams"]["device"]} if "device" in run["hparams"] else {})}


def test_other_settings_seeds_and_compute_are_computed(tmp_path):
    proxy = "params"
    for extra in (["--hp", "num_classes=100"], ["--seeds", "1"], ["--compute"]):
        out = tmp_path / "_".join(extra).strip("-")
        assert main(["run", "--selector", proxy, "--sample", "20", "--out", str(out), "--n-boot", "0",
                     "--no-plots", *extra]) == 0
        assert "scores_from" not in json.loads((out / "run.json").read_text()), extra


def test_proxy_table_holds_every_cell_proxy_and_accuracy_column():
    t = benchsuite.proxy_table("nb201", "cifar10")
    assert len(t) == 15625 and list(t.columns[:3]) == ["arch", "index", "class"]
    assert t.arch.tolist() == nb201.all_archs()
    for p in SHIPPED["nb201-cifar10"]["proxies"]:
        assert t[p].notna().all()
    assert {"cifar10_test_200", "cifar10-valid_valid_200", "cifar100_test_12", "imagenet16_valid_12"} <= set(t.columns)
    # a class's first cell is its own class; isomorphic cells share their class
    assert (t["class"] <= t["index"]).all() and (t.loc[t["class"], "class"].to_numpy() == t["class"].to_numpy()).all()
    rho = stats.spearmanr(t["params"], t["cifar10_test_200"]).statistic
    assert rho == pytest.approx(0.7522, abs=5e-4)   # what `benchsuite run --selector params` gives (all cells)


@pytest.mark.parametrize("table,proxy", PROXIES)
def test_shipped_values_equal_a_recomputation(table, proxy, data_dir):
    """Recompute a seeded sample of cells with the selector itself. Tolerance: relative 1e-4 —
    float32 networks summed in another order (thread count, BLAS build) differ in the last bits
    (about 1e-6 relative); a proxy whose code changed differs by far more."""
    entry = SHIPPED[table]
    t = proxy_tables.load(table)
    rng = np.random.default_rng(0)
    cells = sorted(rng.choice(len(t), 3, replace=False).tolist())
    archs = [nb201.all_archs()[i] for i in cells]
    selector = SELECTORS.get(proxy)(seed=entry["seed"], **entry["proxies"][proxy]["settings"])
    ctx = Context(space="nb201", dataset=entry["serves"][0], seed=entry["seed"], device="cpu", data_dir=str(data_dir))
    selector.preflight(ctx)
    got = np.asarray(selector.score(archs, ctx), dtype=float)
    np.testing.assert_allclose(got, t[proxy].to_numpy()[cells], rtol=1e-4, atol=1e-12)


def test_a_study_over_several_columns_reports_its_matrices(tmp_path):
    """The all-cell study's report: ρ per (selector, column), the image set named where a table
    answered another dataset, and the selectors' scores against each other."""
    suite = tmp_path / "s.toml"
    rows = []
    for p in ("params", "flops"):
        for name, ds, extra in (("c10", "cifar10", ""), ("in16", "imagenet16", 'table = "nb201-cifar10"\n')):
            rows.append(f'[[row]]\nname = "{p}-{name}"\nselector = "{p}"\ndataset = "{ds}"\nsample = 300\n{extra}')
    suite.write_text('[suite]\nname = "m"\n[defaults]\nbench = "nb201"\nn_boot = 0\n' + "\n".join(rows))
    assert main(["suite", "run", str(suite), "--out", str(tmp_path / "o"), "--no-plots"]) == 0
    assert main(["report", str(tmp_path / "o"), "--out", str(tmp_path / "r")]) == 0
    rho = pd.read_csv(tmp_path / "r" / "rho_matrix.csv", index_col=0)
    assert rho.shape == (2, 2) and "imagenet16 valid 200ep (cifar10 images)" in rho.columns
    corr = pd.read_csv(tmp_path / "r" / "score_correlation.csv", index_col=0)
    assert corr.loc["params", "params"] == pytest.approx(1.0) and 0.5 < corr.loc["params", "flops"] <= 1.0
    assert "(cifar10 images)" in (tmp_path / "r" / "leaderboard.md").read_text()
