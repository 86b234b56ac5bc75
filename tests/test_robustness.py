"""A run folder is never corrupted: a lock against a second run, validation before anything is
written, resume that continues the same run only, and a run.json that says what happened."""
import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from benchsuite.cli import main
from benchsuite.run_folder import LOCK, locked

pytestmark = pytest.mark.bundle   # CIFAR images or the bundle's own files (see conftest)

# Slow enough per cell (float64 synflow, C=8, N=2) that a signal sent after the first row lands
# before the last one: at C=4, N=1 a loaded machine once saw the whole run end first.
SLOW = ["--selector", "synflow", "--hp", "share=false", "--hp", "C=8", "--hp", "N=2", "--hp", "batch_size=8"]


def _cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "benchsuite", *args], capture_output=True, text=True,
                          timeout=timeout, env=os.environ)


def test_a_locked_folder_refuses_a_second_run(tmp_path, capsys):
    out = tmp_path / "r"
    with locked(out):
        assert main(["run", "--selector", "params", "--sample", "20", "--out", str(out)]) == 2
        assert f"is in use by another run (pid {os.getpid()})" in capsys.readouterr().err
        r = _cli("run", "--selector", "params", "--sample", "20", "--out", str(out), "--resume")
        assert r.returncode == 2 and "is in use by another run" in r.stderr and r.stderr.count("\n") == 1
    assert not (out / "scores.csv").exists()
    assert main(["run", "--selector", "params", "--sample", "20", "--out", str(out), "--no-plots"]) == 0


@pytest.mark.slow
def test_two_processes_resuming_one_folder(tmp_path):
    """Both resume an interrupted run at once: one continues, the other is refused, no row twice.
    The first is paused (SIGSTOP) once it holds the lock, so the two overlap however the machine
    schedules them: left to run, it can finish its 59 cells before a second process on a loaded
    machine has even imported torch, and the second then finds a finished run."""
    out = tmp_path / "r"
    args = [*SLOW, "--sample", "60", "--out", str(out), "--no-plots", "--n-boot", "0"]
    assert _stop_after_first_rows(args, out, signal.SIGINT) == 130
    cmd = [sys.executable, "-m", "benchsuite", "run", *args, "--resume"]
    first = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    # the lock file records its holder's pid (a run removes it when it ends; flock is the lock)
    def holds_lock() -> bool:
        try:
            return (out / LOCK).read_text().strip() == str(first.pid)
        except FileNotFoundError:   # not taken yet
            return False

    _wait_until(holds_lock, first, 300, "the resumed run never took the lock")
    first.send_signal(signal.SIGSTOP)
    try:
        second = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
        assert second.wait(timeout=600) == 2
        assert "is in use by another run" in second.stderr.read()
    finally:
        first.send_signal(signal.SIGCONT)
    assert first.wait(timeout=600) == 0, first.stderr.read()
    scores = pd.read_csv(out / "scores.csv")
    assert len(scores) == 60 and not scores.duplicated(["arch", "seed"]).any()
    m = pd.read_csv(out / "metrics.csv")
    assert set(m.n_archs) == {60}


def _stop_after_first_rows(args, out, sig) -> int:
    """Start a run in a subprocess, send ``sig`` once scores.csv has a row; its exit code."""
    proc = subprocess.Popen([sys.executable, "-m", "benchsuite", "run", *args], stderr=subprocess.PIPE, text=True)
    _wait_for_rows(out, 1, proc)
    proc.send_signal(sig)
    return proc.wait(timeout=120)


def _wait_for_rows(out, n, proc, timeout=120):
    def enough() -> bool:
        try:
            return len(pd.read_csv(out / "scores.csv")) >= n
        except (OSError, pd.errors.EmptyDataError):
            return False

    _wait_until(enough, proc, timeout, "no scores appeared")


def _wait_until(ready, proc, timeout: float, failure: str) -> None:
    """Poll ``ready()`` every 10 ms until it holds; fail if ``proc`` exits first or ``timeout`` passes."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        if ready():
            return
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.01)
    raise AssertionError(failure)


@pytest.mark.slow
def test_sigterm_then_resume_keeps_an_honest_run_json(tmp_path):
    out = tmp_path / "r"
    args = [*SLOW, "--sample", "40", "--out", str(out), "--no-plots", "--n-boot", "0"]
    assert _stop_after_first_rows(args, out, signal.SIGTERM) == 130
    run = json.loads((out / "run.json").read_text())
    rows = len(pd.read_csv(out / "scores.csv"))
    assert run["status"] == "interrupted" and run["seeds"]["0"]["n_scored"] == rows < 40
    assert run["seeds"]["0"]["n_planned"] == 40
    first_wall = run["wall_time_s"]
    assert main(["run", *args, "--resume"]) == 0
    done = json.loads((out / "run.json").read_text())
    assert done["status"] == "complete" and done["started"] == run["started"] and len(done["resumed"]) == 1
    assert done["seeds"]["0"]["n_scored"] == 40 and done["wall_time_s"] > first_wall
    rep = done["seeds"]["0"]["selector_report"]
    assert rep["input"] == "all-ones 3x32x32 (no images read)" and "images" not in rep
    assert rep["proxies_computed"] == ["synflow"]


def test_resume_identity_and_summary_arguments(tmp_path, capsys):
    out = tmp_path / "r"
    base = ["run", "--selector", "params", "--sample", "50", "--seeds", "0,1", "--out", str(out), "--no-plots"]
    assert main([*base, "--n-boot", "20"]) == 0
    assert main(["run", "--selector", "params", "--sample", "50", "--seeds", "0,1,2", "--out", str(out),
                 "--resume"]) == 2
    assert "different seeds" in capsys.readouterr().err
    # --metrics and --n-boot only summarise: metrics.csv is recomputed from every row with them.
    assert main([*base, "--resume", "--metrics", "spearman", "--n-boot", "0"]) == 0
    m = pd.read_csv(out / "metrics.csv", dtype={"seed": str})
    assert set(m.metric) == {"spearman", "spearman_mean", "spearman_std", "spearman_ci_low", "spearman_ci_high",
                             "spearman_median"}
    assert set(m[m.seed != "all"].n_archs) == {50} and set(m[m.seed == "all"].n_archs) == {100}
    run = json.loads((out / "run.json").read_text())
    assert run["args"]["metrics"] == ["spearman"] and run["args"]["n_boot"] == 0


@pytest.mark.parametrize("args, expect", [
    (["--selector", "params", "--sample", "20000"], "covers only 15625"),
    (["--selector", "params", "--seeds", "-1"], "--seeds must be whole numbers >= 0"),
    (["--selector", "synflow", "--hp", "cell_batch=0"], "cell_batch must be at least 1"),
    (["--selector", "synflow", "--hp", "batch_size=abc"], "--hp batch_size must be int, got 'abc'"),
    (["--selector", "synflow", "--hp", "batch_size=-1"], "--hp batch_size must be at least 1, got -1"),
    (["--selector", "synflow", "--hp", "batch_size=0"], "--hp batch_size must be at least 1, got 0"),
    (["--selector", "synflow", "--hp", "share=maybe"], "--hp share must be bool, got 'maybe'"),
    (["--selector", "params", "--hp", "num_classes=ten"], "--hp num_classes must be int, got 'ten'"),
    (["--selector", "params", "--hp", "seed=5"], "--hp seed=... is not a hyperparameter here; use --seeds"),
    (["--selector", "rlnas", "--hp", "preset=fast"], "--hp preset must be one of smoke, cpu, paper, got 'fast'"),
    (["--selector", "ctnas", "--hp", "lr=-0.1"], "--hp lr must be at least 0, got -0.1"),
])
def test_bad_values_leave_nothing_behind(args, expect, tmp_path, capsys):
    out = tmp_path / "x"
    assert main(["run", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and expect in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize("damage, expect", [
    (lambda out: (out / "run.json").write_text("{not json"), "run.json is damaged"),
    (lambda out: open(out / "scores.csv", "a").write("garbage\n"), "scores.csv line 12 has a seed that is not"),
    (lambda out: open(out / "scores.csv", "a").write("|x|,0,abc,1.0\n"), "line 12 has a score that is not"),
])
def test_resume_over_a_damaged_folder_is_one_line(damage, expect, tmp_path, capsys):
    out = tmp_path / "r"
    base = ["run", "--selector", "params", "--sample", "10", "--out", str(out), "--no-plots", "--n-boot", "0"]
    assert main(base) == 0
    damage(out)
    capsys.readouterr()
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert main([*base, "--resume"]) == 2
    err = [line for line in capsys.readouterr().err.strip().splitlines() if not line.startswith("benchsuite: note")]
    assert len(err) == 1 and expect in err[0]
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before   # nothing lost or rewritten


def test_read_only_output_is_one_line(tmp_path, capsys):
    if os.geteuid() == 0:
        pytest.skip("root writes through read-only permissions")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    assert main(["run", "--selector", "params", "--sample", "10", "--out", str(ro / "r")]) == 2
    assert "cannot write to" in capsys.readouterr().err
