"""benchsuite.threads: the --threads setting. Setting torch's thread count is process-wide (and
the inter-op count can be set only once), so what touches torch runs in a subprocess."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from benchsuite.errors import ConfigError
from benchsuite.threads import DEFAULT_THREADS, THREAD_ENV_VARS, check_threads, cores, set_threads, thread_env


def test_check_threads_default_and_counts():
    assert check_threads(None) == DEFAULT_THREADS >= 1
    assert check_threads(1) == 1 and check_threads(8) == 8


@pytest.mark.parametrize("bad, message", [
    (0, "--threads must be at least 1, got 0"),
    (-2, "--threads must be at least 1, got -2"),
    (1.5, "--threads must be a whole number, got 1.5"),
    ("2", "--threads must be a whole number, got '2'"),
    (True, "--threads must be a whole number, got True"),
])
def test_bad_counts_are_one_line_config_errors(bad, message):
    with pytest.raises(ConfigError) as err:
        check_threads(bad)
    assert str(err.value) == message
    with pytest.raises(ConfigError, match="--threads"):   # rejected before torch is touched
        set_threads(bad)


def test_thread_env_for_workers():
    assert thread_env(1) == {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    assert thread_env() == {var: str(DEFAULT_THREADS) for var in THREAD_ENV_VARS}
    with pytest.raises(ConfigError):
        thread_env(0)
    assert 1 <= cores() <= (os.cpu_count() or 1)


SCRIPT = textwrap.dedent("""
    import sys
    from benchsuite.threads import DEFAULT_THREADS, set_threads

    # a selector without torch: nothing imported, nothing to pay for
    assert set_threads(2, import_torch=False) == 2
    assert "torch" not in sys.modules, "set_threads(import_torch=False) imported torch"

    assert set_threads(2) == 2                      # imports torch and applies the count
    import torch
    assert torch.get_num_threads() == 2, torch.get_num_threads()
    assert torch.get_num_interop_threads() == 2, torch.get_num_interop_threads()
    x = torch.randn(64, 64)
    (x @ x).sum()                                   # parallel work has started

    # again: intra-op changes; torch refuses a second inter-op setting, which must not raise
    assert set_threads(1) == 1 and torch.get_num_threads() == 1
    assert set_threads(None) == DEFAULT_THREADS == torch.get_num_threads()
    # torch already loaded: applied even where the selector does not import it itself
    assert set_threads(3, import_torch=False) == 3 and torch.get_num_threads() == 3
    print("ok")
""")


def test_set_threads_applies_the_count_in_a_fresh_process():
    # the variables would set torch's starting count; without them every count seen is set_threads' own
    env = {k: v for k, v in os.environ.items() if k not in THREAD_ENV_VARS}
    r = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "ok"


def test_a_run_sets_and_records_its_thread_count(tmp_path):
    """--threads reaches torch and run.json; the default is one thread (the benchmark's figures)."""
    import json

    import torch

    from benchsuite.cli import main

    before = torch.get_num_threads()
    try:
        for args, want in (([], 1), (["--threads", "2"], 2)):
            out = tmp_path / f"r{want}"
            assert main(["run", "--selector", "synflow", "--sample", "4", "--hp", "C=4", "--hp", "N=1",
                         "--no-plots", "--n-boot", "0", "--out", str(out), *args]) == 0
            run = json.loads((out / "run.json").read_text())
            assert run["threads"] == want and run["env"]["torch_threads"] == want
    finally:
        torch.set_num_threads(before)
