"""End to end through the command line: output contract, list/report/data, bad input, resume."""
import json
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from benchsuite.cli import main
from benchsuite.runner import METRIC_COLUMNS, SCORE_COLUMNS
from benchsuite.selectors.base import Selector
from benchsuite.selectors.registry import SELECTORS


def _run(*args):
    return main(["run", *args])


def test_run_writes_the_output_contract(tmp_path):
    out = tmp_path / "r"
    assert _run("--bench", "nb201", "--selector", "params", "--sample", "300", "--seeds", "0,1",
                "--out", str(out), "--n-boot", "100") == 0
    scores = pd.read_csv(out / "scores.csv")
    assert list(scores.columns) == SCORE_COLUMNS and len(scores) == 600
    m = pd.read_csv(out / "metrics.csv", dtype={"seed": str})
    assert list(m.columns) == METRIC_COLUMNS
    names = set(m.metric)
    for k in ("spearman", "kendall", "top1_acc", "top10_acc", "precision_at_5pct", "regret",
              "spearman_ci_low", "spearman_mean", "spearman_std", "spearman_ci_high"):
        assert k in names
    assert set(m.fidelity) == {200}
    assert set(m[m.seed != "all"].n_archs) == {300} and set(m[m.seed == "all"].n_archs) == {600}
    for seed in (0, 1):
        d = scores[scores.seed == seed]
        rho = m[(m.seed == str(seed)) & (m.metric == "spearman")].value.item()
        assert rho == stats.spearmanr(d.score, d.true_acc).statistic
    # Different seeds draw different samples; the same seed always draws the same one.
    assert set(scores[scores.seed == 0].arch) != set(scores[scores.seed == 1].arch)
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "complete" and run["args"]["seeds"] == [0, 1]
    assert run["data"]["checksums"]["nb201/cifar10_200ep.csv"].startswith("fa10dede")
    assert run["versions"]["numpy"] and "commit" in run["git"] and run["wall_time_s"] > 0
    assert run["hparams"] == {"num_classes": 10, "seed": 0}   # the first seed's selector; each seed sets its own
    assert (out / "scatter.png").stat().st_size > 1000 and (out / "rho.png").stat().st_size > 1000


def test_full_space_params_spearman_equals_scipy(tmp_path):
    out = tmp_path / "full"
    assert _run("--bench", "nb201", "--dataset", "cifar10", "--selector", "params", "--out", str(out),
                "--n-boot", "20", "--no-plots") == 0
    scores = pd.read_csv(out / "scores.csv")
    assert len(scores) == 15625 and scores.arch.is_unique
    m = pd.read_csv(out / "metrics.csv", dtype={"seed": str})
    rho = m[(m.seed == "0") & (m.metric == "spearman")].value.item()
    assert rho == stats.spearmanr(scores.score, scores.true_acc).statistic
    assert 0.70 < rho < 0.80  # #params on NB201 CIFAR-10 (200 ep): about 0.75 in the literature
    assert m[(m.seed == "0") & (m.metric == "top100_acc")].value.item() == pytest.approx(94.3733)


def test_nb101_run(tmp_path):
    out = tmp_path / "nb101"
    assert _run("--bench", "nb101", "--selector", "flops", "--out", str(out), "--n-boot", "20", "--no-plots") == 0
    m = pd.read_csv(out / "metrics.csv")
    assert set(m.fidelity) == {108} and set(m.acc_metric) == {"valid"}
    assert m[m.metric == "spearman"].n_archs.item() == 301


def test_list_shows_real_coverage(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^ +cifar10 +200 ep +test +15625 ", out, re.M)
    assert re.search(r"^ +cifar100 +200 ep +valid +725 ", out, re.M)
    assert re.search(r"^ +cifar10 +108 ep +valid +301 ", out, re.M)
    assert "params" in out and "spearman" in out and "nb101" in out


def test_report_from_csvs(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _run("--selector", "params", "--sample", "200", "--out", str(a), "--n-boot", "50", "--no-plots")
    _run("--selector", "random", "--sample", "200", "--out", str(b), "--n-boot", "50", "--no-plots")
    assert main(["report", str(a), str(b), "--out", str(tmp_path / "rep")]) == 0
    summary = pd.read_csv(tmp_path / "rep" / "summary.csv")
    assert list(summary.selector) == ["params", "random"]
    assert summary.spearman[0] > summary.spearman[1]
    assert "| params | nb201 | cifar10 | test | 200 | 200 |" in (tmp_path / "rep" / "summary.md").read_text()
    assert not (a / "rho.png").exists() and (tmp_path / "rep" / "rho_compare.png").is_file()   # runs are only read


@pytest.mark.bundle
def test_data_command(capsys, tmp_path, monkeypatch):
    assert main(["data"]) == 0
    assert "all 8 files present and verified" in capsys.readouterr().out
    monkeypatch.setenv("BENCHSUITE_DATA", str(tmp_path))
    assert main(["data"]) == 1   # the tables come from the package; the image subsets do not
    out = capsys.readouterr().out
    assert "2 of 8 files missing" in out and out.count("embedded") >= 6


@pytest.mark.parametrize("args, expect", [
    (["--bench", "nb999", "--selector", "params"], "unknown benchmark 'nb999'; known: nb101, nb201"),
    (["--dataset", "svhn", "--selector", "params"], "unknown nb201 dataset 'svhn'; known: cifar10, cifar10-valid"),
    (["--selector", "magic"], "unknown selector 'magic'; known: az_complexity, az_expressivity"),
    (["--selector", "params", "--metrics", "spearman,auc"], "unknown metric 'auc'; known: kendall"),
    (["--selector", "params", "--dataset", "cifar100", "--acc", "test"], "has: fidelity 12 test (15625 archs)"),
    (["--selector", "params", "--sample", "1"], "--sample must be at least 2"),
    (["--selector", "params", "--sample", "99999"], "covers only 15625"),
    (["--selector", "params", "--seeds", "a,b"], "--seeds must look like"),
    (["--selector", "params", "--hp", "width=3"], "has no hyperparameter width; it takes: num_classes"),
    (["--selector", "params", "--device", "tpu"], "--device must be auto, cpu or cuda"),
    (["--selector", "params", "--resume"], "--resume needs --out"),
])
def test_bad_input_is_one_line_exit_2(args, expect, capsys, tmp_path):
    assert _run(*args, "--out", str(tmp_path / "x")) == 2 if "--resume" not in args else _run(*args) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and expect in err and "Traceback" not in err


def test_cuda_without_gpu_is_clear(capsys, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert _run("--selector", "random", "--sample", "10", "--device", "cuda", "--out", str(tmp_path / "c")) == 2
    assert "no CUDA device is available" in capsys.readouterr().err


def test_missing_data_message(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("BENCHSUITE_DATA", str(tmp_path / "none"))
    assert _run("--selector", "snip", "--compute", "--sample", "2", "--out", str(tmp_path / "o")) == 2
    assert not (tmp_path / "o").exists()
    err = capsys.readouterr().err
    assert "no cifar10 images here" in err and "images/cifar10_subset.npz" in err and "cifar_dir" in err
    assert err.count("benchsuite: error:") == 1 and "Traceback" not in err


def test_existing_output_is_never_overwritten(tmp_path):
    out = tmp_path / "r"
    assert _run("--selector", "params", "--sample", "20", "--out", str(out), "--no-plots", "--n-boot", "0") == 0
    before = (out / "scores.csv").read_text()
    assert _run("--selector", "params", "--sample", "20", "--out", str(out)) == 2
    assert _run("--selector", "flops", "--sample", "20", "--out", str(out), "--resume") == 2
    assert (out / "scores.csv").read_text() == before


class _Flaky(Selector):
    """Scores like 'params' but is interrupted after a given number of chunks."""

    name = "flaky"
    uses_torch = False
    budget_calls = 2

    def score(self, archs, ctx):
        _Flaky.budget_calls -= 1
        if _Flaky.budget_calls < 0:
            raise KeyboardInterrupt
        return np.arange(len(archs), dtype=float) + len(archs[0])


@pytest.fixture
def flaky():
    with SELECTORS.temporary("flaky", _Flaky):
        yield _Flaky


def test_interrupted_run_keeps_scores_and_resumes(tmp_path, flaky, capsys):
    out = tmp_path / "r"
    flaky.budget_calls = 2
    args = ["--selector", "flaky", "--sample", "100", "--seeds", "0,1", "--out", str(out), "--no-plots",
            "--n-boot", "0"]
    assert main(["run", *args, "--hp", "chunk=1"]) == 2  # unknown hyperparameter: nothing written
    assert not out.exists()
    from benchsuite.config import RunConfig
    from benchsuite.runner import run

    cfg = RunConfig(selector="flaky", sample=100, seeds=(0, 1), out=str(out), n_boot=0, chunk=30)
    with pytest.raises(KeyboardInterrupt):
        run(cfg)
    kept = pd.read_csv(out / "scores.csv")
    assert len(kept) == 60 and json.loads((out / "run.json").read_text())["status"] == "interrupted"
    flaky.budget_calls = 100
    run(RunConfig(**{**cfg.to_dict(), "seeds": (0, 1), "resume": True, "metrics": None}))
    done = pd.read_csv(out / "scores.csv")
    assert len(done) == 200 and not done.duplicated(["arch", "seed"]).any()
    assert done.iloc[:60].equals(kept)  # finished scores were kept, not recomputed
    assert json.loads((out / "run.json").read_text())["status"] == "complete"


def test_console_script_interrupt_message(tmp_path):
    """SIGINT-free check of the entry point: `python -m benchsuite` runs and errors in one line."""
    r = subprocess.run([sys.executable, "-m", "benchsuite", "run", "--selector", "nope"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "known: az_complexity, az_expressivity" in r.stderr and ", synflow, " in r.stderr


def test_report_common_compares_on_shared_cells(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _run("--selector", "params", "--sample", "300", "--out", str(a), "--n-boot", "0", "--no-plots")
    _run("--selector", "flops", "--sample", "100", "--out", str(b), "--n-boot", "0", "--no-plots")
    assert main(["report", str(a), str(b), "--out", str(tmp_path / "rep"), "--common"]) == 0
    summary = pd.read_csv(tmp_path / "rep" / "summary.csv")
    assert list(summary.n_archs) == [100, 100]  # seed 0's 100-cell sample is inside its 300-cell one
    s = pd.read_csv(a / "scores.csv")
    shared = s[s.arch.isin(pd.read_csv(b / "scores.csv").arch)]
    assert summary.spearman[0] == pytest.approx(stats.spearmanr(shared.score, shared.true_acc).statistic)


def test_list_one_selector_shows_its_hyperparameters(capsys):
    assert main(["list", "--selector", "ctnas"]) == 0
    out = capsys.readouterr().out
    assert "can: rank, search;" in out and "reads: labels" in out
    labels = next(line.split() for line in out.splitlines() if line.strip().startswith("labels "))
    assert labels == ["labels", "int", "default", "100", "at", "least", "2"]
    assert "seed" not in out.split("hyper")[1]
    assert main(["list", "--selector", "nope"]) == 2
    assert "unknown selector 'nope'; known:" in capsys.readouterr().err


def test_a_string_hyperparameter_outside_its_choices_is_refused():
    from benchsuite.errors import ConfigError
    from benchsuite.hparams import Choice, check
    from benchsuite.selectors.base import Selector

    class Picky(Selector):
        hparam_constraints = {"mode": Choice("a", "b")}

        def __init__(self, *, mode: str = "a", seed: int = 0):
            super().__init__(seed=seed)
            self.mode = mode

        def score(self, archs, ctx):
            return [0.0] * len(archs)

    assert check(Picky, "picky", {"mode": "b"}) == {"mode": "b"}
    with pytest.raises(ConfigError, match="--hp mode must be one of a, b, got 'c'"):
        check(Picky, "picky", {"mode": "c"})


def test_the_cli_draws_after_a_run_and_the_pipeline_never_does(tmp_path):
    from benchsuite import evaluate
    from benchsuite.config import RunConfig
    from benchsuite.runner import run

    drawn, bare = tmp_path / "drawn", tmp_path / "bare"
    assert main(["run", "--selector", "params", "--sample", "20", "--n-boot", "0", "--out", str(drawn)]) == 0
    assert (drawn / "scatter.png").is_file() and (drawn / "rho.png").is_file()
    assert main(["run", "--selector", "params", "--sample", "20", "--n-boot", "0", "--out", str(bare),
                 "--no-plots"]) == 0
    run(RunConfig(selector="params", sample=20, n_boot=0, out=str(tmp_path / "runner")), log=lambda _: None)
    evaluate("params", sample=20, n_boot=0, out=tmp_path / "api")
    for folder in (bare, tmp_path / "runner", tmp_path / "api"):
        assert (folder / "metrics.csv").is_file() and not list(folder.glob("*.png"))
    info = json.loads((bare / "run.json").read_text())
    assert info["capabilities"] == ["rank"] and info["uses_torch"] is False and info["deviations"] == []
    assert "plots" not in info["args"]
