"""The NATS-Bench topology folder (NATS-tss-v1_0-3ffb9-simple), exercised with a small folder built
in the official layout: bz2 pickles, OrderedDict of {'12', '200'} results, numpy scalars."""
import bz2
import collections
import json
import pathlib
import pickle

import pytest
from nb201_results import arch_results

from benchsuite.benchmarks.nb201 import NB201
from benchsuite.benchmarks.official import nats_tss
from benchsuite.cli import main
from benchsuite.errors import BenchsuiteError
from benchsuite.spaces import nb201 as space

INDEXES = [0, 7, 284]


def _write(path, obj):
    path.write_bytes(bz2.compress(pickle.dumps(obj, protocol=4)))


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCHSUITE_CACHE", str(tmp_path / "cache"))
    d = tmp_path / "NATS-tss-v1_0-3ffb9-simple"
    d.mkdir()
    _write(d / "meta.pickle.pbz2", {"meta_archs": space.all_archs(), "total_archs": 15625, "arch2infos": None,
                                    "evaluated_indexes": set()})
    for i in INDEXES:
        _write(d / f"{i:06d}.pickle.pbz2", collections.OrderedDict(
            [("12", arch_results(i, 12, 60.0 + i / 10, numpy_scalars=True)),
             ("200", arch_results(i, 200, 90.0 + i / 100, numpy_scalars=True))]))
    return d


def test_folder_is_read_with_the_official_api_numbers(folder):
    b = NB201(official_path=str(folder))
    archs = space.all_archs()
    assert b.archs("cifar10", 200, "test") == [archs[i] for i in INDEXES]
    assert b.accuracy([archs[284]], "cifar10", 200, "test")[0] == pytest.approx(90.0 + 2.84 + 0.5)  # mean of trials
    assert b.accuracy([archs[7]], "cifar10-valid", 12, "valid")[0] == pytest.approx(60.7 - 1 + 0.5)
    assert b.accuracy([archs[0]], "cifar100", 200, "test")[0] == pytest.approx(69.0)
    assert b.params_m[archs[284]] == pytest.approx(0.384)   # a numpy float64 in the file
    assert b.checksums["NATS-tss-v1_0-3ffb9-simple"] == nats_tss.digest(folder)
    again = NB201(official_path=str(folder))   # from the converted cache
    assert again.coverage() == b.coverage()


def test_run_and_data_on_the_folder(folder, tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["run", "--selector", "params", "--official", str(folder), "--out", str(out), "--n-boot", "0",
                 "--no-plots"]) == 0
    assert json.loads((out / "run.json").read_text())["args"]["official"] == str(folder)
    capsys.readouterr()
    main(["data", "--official", str(folder)])
    text = capsys.readouterr().out
    assert "NATS-Bench topology folder" in text and "nasbench_only108.tfrecord" in text
    assert f"{folder} (nb201) provides:" in text and "imagenet16" not in text.split("provides:")[-1]


class Payload:
    """A crafted pickle: unpickling it would create a file."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return pathlib.Path.touch, (pathlib.Path(self.target),)


def test_a_crafted_pickle_is_refused_and_never_runs(folder, tmp_path):
    marker = tmp_path / "ran"
    _write(folder / "000007.pickle.pbz2", collections.OrderedDict([("200", {"x": Payload(str(marker))})]))
    with pytest.raises(BenchsuiteError, match="refers to pathlib") as info:
        NB201(official_path=str(folder))
    assert not marker.exists() and "\n" not in str(info.value)


@pytest.mark.parametrize("damage, expect", [
    (lambda d: (d / "000000.pickle.pbz2").write_bytes(b"BZh9garbage"), "is not a NATS-Bench results file"),
    (lambda d: _write(d / "meta.pickle.pbz2", {"meta_archs": ["a", "b"]}), "not NAS-Bench-201's 15,625 cells"),
    (lambda d: (d / "meta.pickle.pbz2").unlink(), "has no meta.pickle.pbz2"),
])
def test_damaged_folder_is_one_line(folder, damage, expect, tmp_path, capsys):
    damage(folder)
    assert main(["run", "--selector", "params", "--official", str(folder), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert expect in err and err.count("\n") == 1 and not (tmp_path / "r").exists()
