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


def _reference_cell(m, ops):
    """NAS-Bench-101's spec check (``ModelSpec._prune``, at most 9 edges) read plainly in numpy;
    None for an invalid spec."""
    m, n = np.asarray(m), len(ops)
    fwd, bwd = {0}, {n - 1}
    for v in range(1, n):
        if any(m[u, v] and u in fwd for u in range(v)):
            fwd.add(v)
    for v in range(n - 2, -1, -1):
        if any(m[v, w] and w in bwd for w in range(v + 1, n)):
            bwd.add(v)
    keep = sorted(fwd & bwd)
    if n - 1 not in fwd or m[np.ix_(keep, keep)].sum() > nb101.MAX_EDGES:
        return None
    return nb101.Cell(tuple(map(tuple, m[np.ix_(keep, keep)].tolist())), tuple(ops[k] for k in keep))


def _reference_mutate(arch, rng):
    """The mutation as NAS-Bench-101's example writes it: one uniform draw per edge slot of the
    7-vertex form, then per hidden op, redrawn until valid."""
    cell = nb101.parse_cell(arch)
    n = len(cell.ops)
    idx = list(range(n - 1)) + [6]
    base = np.zeros((7, 7), dtype=np.int64)
    base[np.ix_(idx, idx)] = cell.array
    base_ops = list(cell.ops[:-1]) + [CONV3] * (7 - n) + ["output"]
    while True:
        m, ops = base.copy(), list(base_ops)
        for i in range(6):
            for j in range(i + 1, 7):
                if rng.random() < 1 / 7:
                    m[i, j] = 1 - m[i, j]
        for k in range(1, 6):
            if rng.random() < 1 / 5:
                others = [o for o in nb101.OPS if o != ops[k]]
                ops[k] = others[int(rng.integers(len(others)))]
        child = _reference_cell(m, ops)
        if child is not None:
            return child.to_string()


def test_cells_and_mutations_match_a_plain_reading_of_nasbench(table):
    """make_cell's list-based pruning and mutate's one batch of edge draws are speed-ups only: the
    cells, and the random stream a search goes on with, are those of the plain per-slot code."""
    rng = np.random.default_rng(0)
    for _ in range(2000):
        m = np.triu(rng.integers(0, 2, (7, 7)), 1)
        ops = ["input"] + [nb101.OPS[i] for i in rng.integers(0, 3, 5)] + ["output"]
        try:
            got = nb101.make_cell(m, ops)
        except ValueError:
            got = None
        assert got == _reference_cell(m, ops)
    a, b = np.random.default_rng(1), np.random.default_rng(1)
    for start in table.cell[:5]:
        arch = ref = start.to_string()
        for _ in range(100):
            arch, ref = nb101.mutate(arch, a), _reference_mutate(ref, b)
            assert arch == ref
    assert a.random() == b.random()
