"""The official NAS-Bench-201 .pth path, exercised with a small file built in the official format."""
import pytest
import torch
from nb201_results import arch_results

from benchsuite.benchmarks.nb201 import NB201
from benchsuite.errors import BenchsuiteError
from benchsuite.spaces import nb201 as space


@pytest.fixture
def official_file(tmp_path):
    indexes = [0, 1, 5]
    raw = {
        "meta_archs": space.all_archs(),
        "arch2infos": {i: {"less": arch_results(i, 12, 60.0 + i), "full": arch_results(i, 200, 90.0 + i)}
                       for i in indexes},
        "evaluated_indexes": indexes,
    }
    path = tmp_path / "NAS-Bench-201-v1_1-mini.pth"
    torch.save(raw, path)
    return path


def test_official_file_is_read_through_nas_201_api(official_file):
    b = NB201(official_path=str(official_file))
    archs = space.all_archs()
    assert b.archs("cifar10", 200, "test") == [archs[0], archs[1], archs[5]]
    assert b.accuracy([archs[5]], "cifar10", 200, "test")[0] == pytest.approx(95.5)  # mean of 95 and 96
    assert b.accuracy([archs[1]], "cifar10-valid", 12, "valid")[0] == pytest.approx(60.5)
    assert b.accuracy([archs[0]], "cifar100", 200, "test")[0] == pytest.approx(69.0)
    with pytest.raises(BenchsuiteError, match="no test accuracy for imagenet16"):
        b.resolve("imagenet16", 200, "test")
    # Second load is served from the converted cache (same numbers).
    again = NB201(official_path=str(official_file))
    assert again.coverage() == b.coverage()


class Evil:
    """Stands for arbitrary objects in a pickle, which must never be unpickled."""


def test_non_official_pickle_is_refused(tmp_path):
    p = tmp_path / "evil.pth"
    torch.save({"meta_archs": [], "x": Evil()}, p)
    with pytest.raises(BenchsuiteError, match="cannot load it as plain tensors"):
        NB201(official_path=str(p))
