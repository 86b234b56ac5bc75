"""What a newcomer found giving wrong numbers without a word, or losing work: each test here failed
on the code before its fix. They need no images (params and plain functions read none)."""
import errno
import json
import os

import numpy as np
import pandas as pd
import pytest

import benchsuite
from benchsuite import metrics, run_folder
from benchsuite.cli import main


def _conv_count(archs, invert=False):
    s = np.array([a.count("nor_conv_3x3") + 0.5 * a.count("nor_conv_1x1") for a in archs], dtype=float)
    return -s if invert else s


def test_evaluate_never_passes_the_seed_as_another_argument():
    res = benchsuite.evaluate(_conv_count, sample=200, seeds=[0, 1], n_boot=0)
    rho = res.metrics[res.metrics.metric == "spearman"].set_index("seed").value
    assert rho["0"] > 0.5 and rho["1"] > 0.5     # seed 1 used to arrive as invert=True: rho -0.78


def test_evaluate_passes_the_seed_to_a_function_that_names_it():
    seen = set()

    def by_seed(archs, seed):
        seen.add(seed)
        return _conv_count(archs)

    benchsuite.evaluate(by_seed, sample=50, seeds=[3, 4], n_boot=0)
    assert seen == {3, 4}


def test_an_error_inside_the_function_is_its_own():
    def broken(archs):
        return [len(a) + None for a in archs]   # a TypeError of the user's

    with pytest.raises(TypeError, match="unsupported operand") as info:
        benchsuite.evaluate(broken, sample=20, n_boot=0)
    assert info.value.__context__ is None   # not raised while handling "takes 1 positional argument"


def test_inf_scores_name_the_cell():
    from benchsuite.errors import SelectorError

    with pytest.raises(SelectorError, match=r"scored \|.* as inf; scores must be finite"):
        benchsuite.evaluate(lambda archs: [np.inf] * len(archs), sample=20, n_boot=0)


def test_minus_inf_scores_are_kept_and_ranked_last(tmp_path):
    """A proxy's -inf (log 0) is written to scores.csv as -inf, read back as -inf, counted in n_archs
    and ranked last by the correlations, not dropped as a cell not scored."""
    def worst_without_convs(archs):
        s = _conv_count(archs)
        return np.where(s == 0, -np.inf, s)

    res = benchsuite.evaluate(worst_without_convs, sample=200, n_boot=0, out=tmp_path / "r")
    stored = pd.read_csv(tmp_path / "r" / "scores.csv")
    assert np.isneginf(stored.score).sum() == np.isneginf(res.scores.score).sum() > 0
    m = res.metrics[(res.metrics.seed == "0") & (res.metrics.metric == "spearman")].iloc[0]
    assert m.n_archs == 200
    ranked = np.where(np.isneginf(stored.score), -1.0, stored.score)   # below every finite count
    assert m.value == pytest.approx(metrics.spearman(ranked, stored.true_acc))


def test_metrics_over_no_finite_score_are_nan():
    acc = np.linspace(80, 94, 50)
    got = metrics.compute_all(np.full(50, np.nan), acc)
    assert all(np.isnan(v) for v in got.values()), got
    # one NaN among finite scores still ranks last, as documented
    s = acc.copy()
    s[-1] = np.nan
    assert metrics.top_k_acc(s, acc, 1) == acc[-2]


def test_an_all_nan_run_reports_nan_and_warns(capsys, tmp_path):
    res = benchsuite.evaluate(lambda archs: [float("nan")] * len(archs), sample=100, n_boot=0,
                              out=tmp_path / "r")
    m = res.metrics[res.metrics.seed == "0"].set_index("metric")
    assert np.isnan(m.value).all() and (m.n_archs == 0).all()   # top10_acc was 93.66, precision 0.1


def _params_run(out, *extra):
    return main(["run", "--selector", "params", "--sample", "300", "--seeds", "0,1", "--n-boot", "0",
                 "--no-plots", "--out", str(out), *extra])


def test_resume_rescores_rows_a_truncated_scores_csv_lost(tmp_path, capsys):
    out = tmp_path / "r"
    assert _params_run(out) == 0
    full = pd.read_csv(out / "metrics.csv", dtype={"seed": str})
    lines = (out / "scores.csv").read_text().splitlines(keepends=True)
    (out / "scores.csv").write_text("".join(lines[:101]))        # header + 100 of 600 rows
    capsys.readouterr()
    assert _params_run(out, "--resume") == 0
    err = capsys.readouterr().out
    assert "seed 0: " in err and "holds 100 of the 300 rows" in err and "seed 1: " in err
    again = pd.read_csv(out / "metrics.csv", dtype={"seed": str})
    assert (again[again.seed != "all"].n_archs == 300).all()     # were computed on 100 and 0 cells
    pd.testing.assert_frame_equal(full, again)


def test_resume_refuses_rows_of_cells_the_run_does_not_score(tmp_path, capsys):
    out = tmp_path / "r"
    assert _params_run(out) == 0
    other = tmp_path / "other"
    assert main(["run", "--selector", "params", "--sample", "300", "--seeds", "5,6", "--n-boot", "0",
                 "--no-plots", "--out", str(other)]) == 0
    rows = (other / "scores.csv").read_text().splitlines(keepends=True)[1:]
    with open(out / "scores.csv", "a") as f:
        f.write("".join(r.replace(",5,", ",0,", 1) for r in rows[:5]))
    capsys.readouterr()
    assert _params_run(out, "--resume") == 2
    assert "not among the cells this run scores" in capsys.readouterr().err


def test_a_torn_last_row_is_dropped_and_scored_again(tmp_path, capsys):
    out = tmp_path / "r"
    assert _params_run(out) == 0
    full = pd.read_csv(out / "metrics.csv")
    data = (out / "scores.csv").read_bytes()
    (out / "scores.csv").write_bytes(data[:-12])                  # cut mid-row, as a full disk does
    assert _params_run(out, "--resume") == 0
    assert "cut off mid-write" in capsys.readouterr().out
    pd.testing.assert_frame_equal(full, pd.read_csv(out / "metrics.csv"))


def test_a_full_disk_leaves_whole_rows_and_a_resumable_run(tmp_path, capsys, monkeypatch):
    out = tmp_path / "r"
    real_write, calls = os.write, []

    def disk_fills(fd, data):       # the third chunk's write stops halfway, as on ENOSPC
        calls.append(len(data))
        if len(calls) == 3:
            real_write(fd, data[:len(data) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(run_folder.os, "write", disk_fills)
    assert _params_run(out) == 2
    err = capsys.readouterr().err
    assert err.count("benchsuite: error: ") == 1
    assert f"cannot write {out / 'scores.csv'}: No space left on device" in err.splitlines()[-1]
    assert (out / "scores.csv").read_bytes().endswith(b"\n")
    assert len(pd.read_csv(out / "scores.csv")) == 64              # two whole chunks of 32
    assert json.loads((out / "run.json").read_text())["status"] == "failed"
    monkeypatch.setattr(run_folder.os, "write", real_write)
    assert _params_run(out, "--resume") == 0
    m = pd.read_csv(out / "metrics.csv", dtype={"seed": str})
    assert (m[m.seed != "all"].n_archs == 300).all()


def test_a_refused_resume_leaves_nothing(tmp_path, capsys):
    missing = tmp_path / "DOES_NOT_EXIST"
    assert main(["run", "--selector", "params", "--resume", "--out", str(missing)]) == 2
    assert "holds no run to continue" in capsys.readouterr().err
    assert not missing.exists()                                   # it used to hold .lock


def test_a_finished_run_leaves_no_lock(tmp_path):
    out = tmp_path / "r"
    assert main(["run", "--selector", "params", "--sample", "20", "--no-plots", "--out", str(out)]) == 0
    assert not (out / run_folder.LOCK).exists()


def test_ctrl_c_names_the_folder_it_wrote(tmp_path, capsys, monkeypatch):
    import benchsuite.config as config
    import benchsuite.runner as runner

    stamps = iter(f"20261204-1200{i:02d}" for i in range(60))
    monkeypatch.setattr(config.time, "strftime", lambda fmt, *a: next(stamps) if "%H%M%S" in fmt else
                        "2026-12-04T12:00:00")

    def interrupted(*a, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "_score", interrupted)
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--selector", "params", "--sample", "20", "--no-plots"]) == 130
    err = capsys.readouterr().err
    folder = err.split("--resume --out ")[1].strip()
    assert (tmp_path / folder / "run.json").is_file(), err


@pytest.mark.parametrize("args, message", [
    (["--data", "/nonexistent/typo"], "--data /nonexistent/typo: no such folder"),
    (["--seeds", "3-1"], "--seeds 3-1: a range runs from the lower seed to the higher"),
    (["--n-boot", "-3"], "--n-boot must be 0 (no bootstrap CIs) or more, got -3"),
])
def test_bad_run_arguments_say_what_is_wrong(tmp_path, capsys, args, message):
    out = tmp_path / "r"
    assert main(["run", "--selector", "params", "--sample", "20", "--out", str(out), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not out.exists()


def test_a_cache_path_that_is_a_file_is_refused(tmp_path, capsys, monkeypatch):
    f = tmp_path / "cachefile"
    f.write_text("x")
    monkeypatch.setenv("BENCHSUITE_CACHE", str(f))
    out = tmp_path / "r"
    assert main(["run", "--selector", "params", "--sample", "20", "--out", str(out)]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert not out.exists()


def test_many_seeds_say_how_much_will_run_and_keep_run_json_small(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["run", "--selector", "params", "--sample", "20", "--seeds", "0-199", "--n-boot", "0",
                 "--no-plots", "--out", str(out)]) == 0
    assert "200 seeds x 20 cells" in capsys.readouterr().out
    seeds = json.loads((out / "run.json").read_text())["seeds"]
    assert len(seeds) == 200 and "labelled_excluded" not in seeds["0"]   # an empty list per seed before


def test_labels_errors_name_the_option_typed(tmp_path, capsys):
    assert main(["run", "--selector", "ctnas", "--labels", "0", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "--labels must be at least 2, got 0" in err and "--hp" not in err


def test_a_jointly_ranking_selector_rescores_a_damaged_seed_whole(tmp_path, capsys):
    """A score that depends on the other cells (an aggregate of ranks) is never computed on the
    subset a truncated file left: the seed is scored again in one call."""
    from benchsuite.selectors.base import Selector

    calls = []

    class RankOfConvs(Selector):
        ranks_jointly = True
        uses_torch = False

        def score(self, archs, ctx):
            calls.append(len(archs))
            return pd.Series([a.count("conv") for a in archs]).rank().to_numpy()

    out = tmp_path / "r"
    benchsuite.evaluate(RankOfConvs(), sample=100, n_boot=0, out=out)
    assert calls == [100]
    lines = (out / "scores.csv").read_text().splitlines(keepends=True)
    (out / "scores.csv").write_text("".join(lines[:41]))
    from benchsuite.config import RunConfig
    from benchsuite.runner import run

    run(RunConfig(selector="RankOfConvs", sample=100, n_boot=0, out=str(out), resume=True),
        selector=RankOfConvs())
    assert calls == [100, 100] and len(pd.read_csv(out / "scores.csv")) == 100
