import json

import numpy as np
import pandas as pd
import pytest

from benchsuite.spaces import nb101

CONV3, CONV1, POOL = nb101.OPS


def test_prune_drops_dangling_vertices():
    m = [[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0]]  # vertex 2 leads nowhere
    cell = nb101.make_cell(m, ["input", CONV3, CONV1, "output"])
    assert cell.matrix == ((0, 1, 0), (0, 0, 1), (0, 0, 0))
    assert cell.ops == ("input", CONV3, "output")


@pytest.mark.parametrize("matrix, ops, why", [
    ([[0, 1], [1, 0]], ["input", "output"], "upper-triangular"),
    ([[0, 1], [0, 0]], ["input", "conv5x5", "output"], "ops for"),
    ([[0, 1, 0], [0, 0, 0], [0, 0, 0]], ["input", CONV3, "output"], "not reachable"),
    ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", "conv5x5", "output"], "unknown ops"),
    ([[0, 2], [0, 0]], ["input", "output"], "0 or 1"),
])
def test_invalid_cells_raise(matrix, ops, why):
    with pytest.raises(ValueError, match=why):
        nb101.make_cell(matrix, ops)


def test_string_roundtrip():
    cell = nb101.make_cell([[0, 1, 1], [0, 0, 1], [0, 0, 0]], ["input", POOL, "output"])
    assert nb101.parse_cell(cell.to_string()) == cell
    with pytest.raises(ValueError, match="malformed NB101"):
        nb101.parse_cell("{not json")


@pytest.fixture(scope="module")
def table(data_dir):
    df = pd.read_csv(data_dir / "nb101/subset500_108ep_valid.csv")
    df["cell"] = [nb101.make_cell(json.loads(m), json.loads(o)) for m, o in zip(df.matrix, df.ops)]
    return df


def test_hash_equals_official_implementation(table):
    from nasbench_pytorch.model import graph_util  # the official NB101 hash, ported

    for cell in table.cell:
        labels = [-1] + [nb101.OPS.index(o) for o in cell.ops[1:-1]] + [-2]
        assert nb101.cell_hash(cell) == graph_util.hash_module(cell.array, labels)


def test_hash_is_permutation_invariant(table):
    rng = np.random.default_rng(0)
    for cell in table.cell[:50]:
        m, n = cell.array, len(cell.ops)
        inner = rng.permutation(np.arange(1, n - 1))
        perm = np.concatenate([[0], inner, [n - 1]])
        pm = m[np.ix_(perm, perm)]
        if np.tril(pm).any():  # only relabellings that keep the matrix upper-triangular
            continue
        other = nb101.make_cell(pm, [cell.ops[p] for p in perm])
        assert nb101.cell_hash(other) == nb101.cell_hash(cell)
    a = nb101.make_cell([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", CONV3, "output"])
    b = nb101.make_cell([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", CONV1, "output"])
    assert nb101.cell_hash(a) != nb101.cell_hash(b)


def test_param_counts_match_table(table):
    for cell, p in zip(table.cell, table.params_m):
        assert float(f"{nb101.cell_costs(cell)['params_m']:.6g}") == pytest.approx(p, abs=1e-9)


def test_vertex_channels_split_output_evenly():
    m = np.array([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]])
    assert nb101.vertex_channels(128, 129, m) == [128, 65, 64, 129]
