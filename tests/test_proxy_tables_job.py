"""The job that computes the all-cell proxy tables (benchmarks/proxy_tables_job.py): one pass per
shard for proxies one pass computes, shard-major order, NaN refresh, and a clean stop."""
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchsuite import proxy_tables
from benchsuite.selectors.base import Context
from benchsuite.selectors.registry import SELECTORS
from benchsuite.spaces import nb201

ROOT = Path(__file__).resolve().parent.parent


def _job(tmp_path, *args, data_dir=None):
    """The table job's command line writing its shards under ``tmp_path/s`` with ``args``, and its
    environment: a fresh proxy cache, this checkout importable, the data folder where one is given."""
    env = {**os.environ, "BENCHSUITE_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    if data_dir is not None:
        env["BENCHSUITE_DATA"] = str(data_dir)
    job = [sys.executable, str(ROOT / "benchmarks" / "proxy_tables_job.py"), *args, "--out", str(tmp_path / "s")]
    return job, env


@pytest.mark.bundle
@pytest.mark.parametrize("together", [("snip", "grad_norm"), ("az_expressivity", "az_trainability")])
def test_the_job_computes_proxies_of_one_forward_in_one_pass(tmp_path, data_dir, together):
    """Proxies one pass computes asked for together (zero-cost-nas's shared forward; AZ-NAS's feature
    components): one pass per shard, each proxy's shard written with its own default settings,
    values equal to each computed alone (a fresh cache)."""
    job, env = _job(tmp_path, "--proxies", ",".join(("params", *together)), "--tables", "nb201-cifar10",
                    "--classes", "2", "--workers", "1", data_dir=data_dir)
    r = subprocess.run(job, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"{'+'.join(together)} shared pass" in r.stdout
    ctx = Context(space="nb201", dataset="cifar10", seed=0, device="cpu", data_dir=str(data_dir),
                  cache_dir=str(tmp_path / "alone"))
    for proxy in together:
        meta = json.loads((tmp_path / "s" / "nb201-cifar10" / proxy / "shard-000.json").read_text())
        assert meta["shared_pass"] == sorted(together)
        alone = SELECTORS.get(proxy)(seed=0)
        assert meta["settings"] == proxy_tables.settings(alone)
        shard = pd.read_csv(tmp_path / "s" / "nb201-cifar10" / proxy / "shard-000.csv")
        alone.preflight(ctx)
        got = alone.score([nb201.all_archs()[i] for i in shard["index"]], ctx)
        np.testing.assert_allclose(shard["value"], got, rtol=1e-6)
    assert "shared_pass" not in json.loads((tmp_path / "s" / "nb201-cifar10" / "params" / "shard-000.json").read_text())


def test_the_job_computes_what_one_pass_gives_as_one_task(bench_script):
    """The proxies one pass computes together form one task per shard (so two workers never run the
    same pass on one shard): zero-cost-nas's shared forward, AZ-NAS's three feature components."""
    groups = bench_script("proxy_tables_job").groups
    asked = ["az_expressivity", "l2_norm", "snip", "az_progressivity", "grad_norm", "az_trainability", "zen"]
    assert groups(asked, False) == [("az_expressivity", "az_progressivity", "az_trainability"), ("l2_norm",),
                                    ("snip", "grad_norm"), ("zen",)]
    assert groups(["az_expressivity", "snip", "zen"], False) == [("az_expressivity",), ("snip",), ("zen",)]
    assert groups(asked, True) == [(p,) for p in asked]


def test_the_job_finishes_every_proxy_s_shard_before_the_next_shard(tmp_path):
    """Shards run shard by shard, not proxy by proxy: a job stopped early leaves the same finished
    shards for every proxy it was asked for."""
    job, env = _job(tmp_path, "--proxies", "l2_norm,az_complexity", "--tables", "nb201-cifar10", "--classes", "3",
                    "--shard-size", "1", "--workers", "1")
    r = subprocess.run(job, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    order = [(line.split()[1], line.split()[3].rstrip(":")) for line in r.stdout.splitlines() if " shard " in line]
    assert order == [(p, f"{n:03d}") for n in range(3) for p in ("l2_norm", "az_complexity")]
    meta = json.loads((tmp_path / "s" / "nb201-cifar10" / "l2_norm" / "shard-000.json").read_text())
    assert meta["device"] == "cpu"


@pytest.mark.parametrize("device,says", [("tpu", "--device must be auto, cpu or cuda[:N], got 'tpu'"),
                                         ("cuda", "no CUDA device is available here")])
def test_the_job_refuses_a_device_it_cannot_use_in_one_line(tmp_path, device, says):
    """A device the job cannot compute on is refused before any shard, in one line."""
    import torch

    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("a CUDA device is visible: --device cuda is usable here")
    job, env = _job(tmp_path, "--proxies", "l2_norm", "--tables", "nb201-cifar10", "--classes", "1",
                    "--device", device)
    r = subprocess.run(job, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and says in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "s").exists()


def test_the_job_refreshes_only_the_nan_cells_of_finished_shards(tmp_path):
    """``--refresh-nan`` recomputes the cells a shard stores as NaN with the current code and leaves
    the others as they are; the shard records which it recomputed and with which code version."""
    job, env = _job(tmp_path, "--proxies", "zen", "--tables", "nb201-cifar10", "--classes", "3", "--workers", "1")
    assert subprocess.run(job, env=env, capture_output=True, text=True, timeout=600).returncode == 0
    csv = tmp_path / "s" / "nb201-cifar10" / "zen" / "shard-000.csv"
    first = pd.read_csv(csv)
    meta = json.loads(csv.with_suffix(".json").read_text())
    assert meta["measure_versions"] == {"measures": 2, "zen": 2}
    damaged = first.copy()
    damaged.loc[1, "value"] = np.nan
    damaged.loc[2, "value"] = 123.0   # a finite value is not recomputed
    damaged.to_csv(csv, index=False)
    r = subprocess.run([*job, "--refresh-nan"], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "1 NaN cells recomputed" in r.stdout
    after = pd.read_csv(csv)
    np.testing.assert_allclose(after.value[:2], first.value[:2], rtol=1e-6)
    assert after.value[2] == 123.0
    refreshed = json.loads(csv.with_suffix(".json").read_text())["refreshed"]
    assert refreshed["indices"] == [int(first.loc[1, "index"])] and refreshed["measure_versions"]["zen"] == 2


def _running(pid: str) -> bool:
    """Whether process ``pid`` exists and is not a zombie (state field of /proc/PID/stat)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads the process tree from /proc")
def test_a_terminated_job_takes_its_workers_with_it(tmp_path):
    """``kill PID`` on the job ends its worker processes too: a worker busy with a shard would
    otherwise compute on for its whole shard, uncollected (a pool worker notices a dead parent only
    when it asks for its next task)."""
    job, env = _job(tmp_path, "--proxies", "zen", "--tables", "nb201-cifar10", "--shard-size", "2000", "--workers", "1")
    proc = subprocess.Popen(job, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    children: list[str] = []
    try:
        deadline = time.time() + 120
        while not children and time.time() < deadline and proc.poll() is None:
            time.sleep(0.5)
            children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        assert children, "the job started no worker process"
        time.sleep(5)   # the worker is inside its shard (2,000 classes: minutes)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) != 0
        deadline = time.time() + 30
        while any(map(_running, children)) and time.time() < deadline:
            time.sleep(0.2)
        assert not any(map(_running, children)), "a worker outlived the job"
    finally:
        proc.kill()
        for c in filter(_running, children):
            os.kill(int(c), signal.SIGKILL)


def test_the_gpu_script_runs_the_job_per_piece_and_returns_its_shards(tmp_path):
    """benchmarks/gpu_tables.sh (the lent GPU's one command), run on the CPU: each PROXY:TABLE piece
    is the table job, NB-101's in shards of 10 cells, and the pieces' shards come back in one archive."""
    env = {**os.environ, "BENCHSUITE_CACHE": str(tmp_path / "cache"), "SHARDS": str(tmp_path / "s"),
           "OUT": str(tmp_path / "out"), "DEVICE": "cpu", "WORKERS": "1", "LIMIT": "300", "EXTRA": "--classes 12"}
    r = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_tables.sh"), "l2_norm:nb101-cifar10"], cwd=ROOT,
                       env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "l2_norm:nb101-cifar10: exit 0, 2 new shards (2 in all)" in r.stdout
    with tarfile.open(tmp_path / "out" / "shards.tgz") as tgz:   # one file: the device tool returns few
        # read in place: extractall's filter= needs Python 3.11.4, and users run older 3.11s
        back = "nb101-cifar10/l2_norm"
        assert [len(pd.read_csv(tgz.extractfile(f"{back}/shard-00{n}.csv"))) for n in (0, 1)] == [10, 2]
        assert json.loads(tgz.extractfile(f"{back}/shard-000.json").read())["device"] == "cpu"


@pytest.mark.bundle
def test_the_whole_set_timer_computes_each_pass_once_and_catches_a_second(bench_script, capsys, monkeypatch, tmp_path):
    """benchmarks/perf_whole_set.py: the proxies of one forward in one pass, every other selector and
    the aggregate reading what it can from the cell's cache (vote: synflow and snip found, jacov
    computed), each pass timed once; a proxy computed twice on a cell (here a second snip at
    another seed) stops the script, naming it."""
    monkeypatch.setenv("BENCHSUITE_CACHE", str(tmp_path / "cache"))
    perf = bench_script("perf_whole_set")
    assert perf.main(["--archs", "1", "--proxies", "synflow,snip,grad_norm,l2_norm,vote"]) == 0
    out = capsys.readouterr().out
    assert "passes per cell: grad_norm,snip; synflow; l2_norm; jacov\n" in out
    assert "in 4 distinct passes" in out
    ctx = Context(space="nb201", dataset="cifar10", seed=0)
    selectors = perf.make_selectors(["snip", "grad_norm"], ctx)
    selectors["snip"] = SELECTORS.get("snip")(seed=1)
    with pytest.raises(SystemExit, match="computed more than once on .*: snip"):
        perf.whole_set(["snip", "grad_norm"], nb201.all_archs()[7], selectors)
