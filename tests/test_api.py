"""The notebook API is the command line's run: same cells, same metrics, files only with out=."""
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import benchsuite
from benchsuite.cli import main
from benchsuite.errors import ConfigError

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_example_runs_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    block = re.search(r"<!-- evaluate-example.*?```python\n(.*?)```", README.read_text(), re.S).group(1)
    scope: dict = {}
    exec(compile(block, "README.md", "exec"), scope)
    res, params = scope["res"], scope["params"]
    assert list(tmp_path.iterdir()) == []   # no out=: nothing written
    for seed in (0, 1):
        d = res.scores[res.scores.seed == seed]
        rho = stats.spearmanr(d.score, d.true_acc).statistic
        m = res.metrics
        got = m[(m.seed == str(seed)) & (m.metric == "spearman")].value.item()
        assert got == pytest.approx(rho, abs=1e-12) and len(d) == 500
    # the same seed draws the same cells whatever the selector
    assert set(res.scores.arch) == set(params.scores.arch)
    assert "conv_count" in repr(res) and res.run["hparams"]["fn"].endswith("conv_count")


def test_function_equals_the_cli_run_of_the_same_selector(tmp_path):
    via_cli = tmp_path / "cli"
    assert main(["run", "--selector", "params", "--sample", "300", "--seeds", "0,3", "--n-boot", "50",
                 "--no-plots", "--out", str(via_cli)]) == 0
    res = benchsuite.evaluate("params", sample=300, seeds=[0, 3], n_boot=50, out=tmp_path / "api")
    cli = pd.read_csv(via_cli / "metrics.csv", dtype={"seed": str})
    pd.testing.assert_frame_equal(res.metrics, cli)
    assert (tmp_path / "api" / "run.json").is_file() and res.out == tmp_path / "api"
    ax = res.plot()
    assert ax.get_ylabel() == "true accuracy (%)"
    legend = ax.get_legend()   # one colour per seed, and which is which
    assert legend is not None and [t.get_text() for t in legend.get_texts()] == ["0", "3"]


def test_a_selector_instance_and_bad_selectors():
    sel = benchsuite.get_selector("random")
    a = benchsuite.evaluate(sel, sample=100, seeds=[1, 2])
    b = benchsuite.evaluate("random", sample=100, seeds=[1, 2])
    assert np.array_equal(a.scores.score, b.scores.score)   # rebuilt per seed, like the CLI
    with pytest.raises(ConfigError, match="a selector name, a Selector or a function"):
        benchsuite.evaluate(42)
    with pytest.raises(ConfigError, match="hp= sets a registered"):
        benchsuite.evaluate(lambda archs: [0.0] * len(archs), hp={"x": 1})
    with pytest.raises(Exception, match="unknown selector 'nope'"):
        benchsuite.evaluate("nope")


def test_the_trajectory_comes_with_the_search_capability():
    from benchsuite import evaluate

    searched = evaluate("rea", queries=20, n_boot=0)
    assert searched.run["capabilities"] == ["search"] and len(searched.trajectory) == 20
    ranked = evaluate("params", sample=20, n_boot=0)
    assert ranked.trajectory is None and ranked.run["capabilities"] == ["rank"]
