"""Bad inputs below the CLI: each is the suite's own error in one short line, never a raw traceback
or a message that echoes a huge input, and one damaged file costs only its own columns."""
import os
import shutil

import numpy as np
import pytest

from benchsuite.benchmarks.nb201 import NB201
from benchsuite.benchmarks.official import nb201_pth
from benchsuite.cli import main
from benchsuite.errors import ArchError, BenchsuiteError, CoverageError
from benchsuite.spaces import nb101, nb201

LONG = "|nor_conv_3x3~0|" * 6000   # ~95,000 characters


@pytest.mark.parametrize("call, expect", [
    (lambda: nb201.parse_arch(LONG), "characters)"),
    (lambda: nb201.parse_arch("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|"), "conv"),
    (lambda: nb101.parse_cell("{" + "x" * 90000), "characters)"),
    (lambda: nb101.make_cell([[0, 1, 0], [0, 0, 1]], ["input", "conv3x3-bn-relu", "output"]), "must be square"),
    (lambda: nb101.make_cell([[0, 1], [0, 0, 1]], ["input", "output"]), "square 0/1 matrix"),
    (lambda: nb101.make_cell(np.zeros((3, 3, 1)), ["input", "maxpool3x3", "output"]), "must be square"),
])
def test_malformed_architectures_are_short_arch_errors(call, expect):
    with pytest.raises(ArchError) as info:
        call()
    msg = str(info.value)
    assert isinstance(info.value, BenchsuiteError) and isinstance(info.value, ValueError)
    assert expect in msg and len(msg) < 400 and "\n" not in msg


def test_a_lone_string_is_not_a_list_of_archs():
    bench = NB201()
    arch = bench.archs("cifar10")[0]
    with pytest.raises(CoverageError, match="not one string"):
        bench.accuracy(arch, "cifar10")
    assert bench.accuracy([arch], "cifar10").shape == (1,)


def test_one_bad_file_costs_only_its_own_columns(tmp_path, data_dir):
    data = tmp_path / "data"
    shutil.copytree(data_dir, data, ignore=shutil.ignore_patterns("images"))
    with open(data / "nb201" / "cifar10_200ep.csv", "a") as f:
        f.write("tampered\n")
    bench = NB201(data_dir=str(data))
    assert list(bench.unavailable) == ["nb201/cifar10_200ep.csv"]
    assert len(bench.archs("cifar10", 12)) == 15625          # the 12-epoch file is still read
    with pytest.raises(CoverageError, match="cifar10_200ep.csv was not read: .*SHA-256"):
        bench.accuracy(bench.archs("cifar10", 12)[:2], "cifar10", 200)


def test_garbage_official_file_is_one_line(tmp_path, capsys):
    pth = tmp_path / "NAS-Bench-201-v1_1.pth"
    pth.write_bytes(os.urandom(4096))
    with pytest.raises(BenchsuiteError) as info:
        nb201_pth.read_table(pth)
    assert "\n" not in str(info.value) and "weights_only=False" not in str(info.value)
    assert main(["run", "--selector", "params", "--sample", "10", "--nb201-pth", str(pth),
                 "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "not an official NAS-Bench-201 file" in err
    assert not (tmp_path / "r").exists()


def test_missing_nb101_table_does_not_suggest_the_nb201_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BENCHSUITE_DATA", str(tmp_path / "empty"))
    monkeypatch.setenv("BENCHSUITE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("BENCHSUITE_DATA_URL", raising=False)
    from benchsuite.benchmarks import embedded
    monkeypatch.setattr(embedded, "EMBEDDED", ())   # as if the package carried no copy
    assert main(["run", "--bench", "nb101", "--selector", "params", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert "nb101/subset500_108ep_valid.csv not found" in err and "--nb201-pth" not in err and "\n" not in err


def test_n_boot_zero_says_that_it_drops_the_intervals(tmp_path, capsys):
    assert main(["run", "--selector", "params", "--sample", "20", "--n-boot", "0", "--no-plots",
                 "--out", str(tmp_path / "r")]) == 0
    assert "--n-boot 0" in capsys.readouterr().err


@pytest.mark.bundle   # synflow needs the CIFAR subset
def test_unwritable_cache_and_report_folder_are_one_line(tmp_path, monkeypatch, capsys):
    """A plain file where a folder should be fails for root too (read-only bits do not)."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    run = tmp_path / "r"
    assert main(["run", "--selector", "params", "--sample", "20", "--no-plots", "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["report", str(run), "--out", str(blocker / "rep")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("benchsuite: error: cannot") and "\n" not in err
    # the proxy cache only saves time: the run goes on without it and says so once
    monkeypatch.setenv("BENCHSUITE_CACHE", str(blocker / "cache"))
    assert main(["run", "--selector", "synflow", "--sample", "3", "--hp", "C=4", "--hp", "N=1", "--hp",
                 "batch_size=8", "--no-plots", "--n-boot", "0", "--out", str(tmp_path / "s")]) == 0
    err = capsys.readouterr().err
    assert err.count("cannot be written") == 1 and "Traceback" not in err
    assert (tmp_path / "s" / "metrics.csv").is_file()
