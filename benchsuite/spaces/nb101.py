"""NAS-Bench-101 cell space: spec validation, pruning, the official graph hash, cost model.

A cell is an upper-triangular adjacency matrix on at most 7 vertices plus one op per vertex
(first ``input``, last ``output``). The hash is NAS-Bench-101's iterated-MD5 graph fingerprint
(google-research/nasbench, ``graph_util.hash_module``), reimplemented here because
``ModelSpec.hash_spec`` breaks with numpy 2 (numpy scalars change ``str()`` of the label tuples).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np

INPUT, OUTPUT = "input", "output"
OPS: tuple[str, ...] = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")
MAX_VERTICES, MAX_EDGES = 7, 9


@dataclass(frozen=True)
class Cell:
    """A pruned, validated NB101 cell. ``matrix`` is a tuple of row tuples so the cell is hashable."""

    matrix: tuple[tuple[int, ...], ...]
    ops: tuple[str, ...]

    @property
    def array(self) -> np.ndarray:
        return np.array(self.matrix, dtype=np.int64)

    def to_string(self) -> str:
        """Compact, parseable encoding used as the ``arch`` column of result files."""
        return json.dumps({"matrix": [list(r) for r in self.matrix], "ops": list(self.ops)}, separators=(",", ":"))


def _check(matrix: np.ndarray, ops: list[str], what: str) -> None:
    n = matrix.shape[0]
    if matrix.ndim != 2 or matrix.shape != (n, n):
        raise ValueError(f"NB101 cell {what}: matrix must be square, got shape {matrix.shape}")
    if not 2 <= n <= MAX_VERTICES:
        raise ValueError(f"NB101 cell {what}: {n} vertices, must be 2..{MAX_VERTICES}")
    if len(ops) != n:
        raise ValueError(f"NB101 cell {what}: {len(ops)} ops for {n} vertices")
    if not np.isin(matrix, (0, 1)).all():
        raise ValueError(f"NB101 cell {what}: matrix entries must be 0 or 1")
    if np.tril(matrix).any():
        raise ValueError(f"NB101 cell {what}: matrix must be strictly upper-triangular (a DAG)")
    if ops[0] != INPUT or ops[-1] != OUTPUT:
        raise ValueError(f"NB101 cell {what}: ops must start with 'input' and end with 'output'")
    bad = [o for o in ops[1:-1] if o not in OPS]
    if bad:
        raise ValueError(f"NB101 cell {what}: unknown ops {bad}; ops are {', '.join(OPS)}")


def prune(matrix: np.ndarray, ops: list[str]) -> tuple[np.ndarray, list[str]]:
    """Drop vertices not on an input->output path, as NAS-Bench-101 does before hashing/training."""
    n = matrix.shape[0]
    from_input, to_output = {0}, {n - 1}
    for v in range(1, n):
        if any(matrix[u, v] and u in from_input for u in range(v)):
            from_input.add(v)
    for v in range(n - 2, -1, -1):
        if any(matrix[v, w] and w in to_output for w in range(v + 1, n)):
            to_output.add(v)
    if n - 1 not in from_input:
        raise ValueError("NB101 cell: output is not reachable from input")
    keep = sorted(from_input & to_output)
    return matrix[np.ix_(keep, keep)], [ops[k] for k in keep]


def make_cell(matrix, ops) -> Cell:
    """Validate and prune a (matrix, ops) pair. Raises ValueError saying what is wrong."""
    m = np.asarray(matrix, dtype=np.int64)
    ops = list(ops)
    what = f"(ops={ops})"
    _check(m, ops, what)
    m, ops = prune(m, ops)
    if int(m.sum()) > MAX_EDGES:  # counted after pruning: dangling edges are never built
        raise ValueError(f"NB101 cell {what}: {int(m.sum())} edges after pruning, at most {MAX_EDGES}")
    return Cell(tuple(tuple(int(x) for x in r) for r in m), tuple(ops))


def parse_cell(text: str) -> Cell:
    """Inverse of ``Cell.to_string``."""
    try:
        d = json.loads(text)
        return make_cell(d["matrix"], d["ops"])
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise ValueError(f"malformed NB101 cell string {text!r}: {e}") from None


def cell_hash(cell: Cell) -> str:
    """NAS-Bench-101 fingerprint: equal to the official ``ModelSpec.hash_spec(OPS)``."""
    m = cell.array
    n = m.shape[0]
    labels = [-1] + [OPS.index(o) for o in cell.ops[1:-1]] + [-2]
    in_deg = [int(x) for x in m.sum(axis=0)]
    out_deg = [int(x) for x in m.sum(axis=1)]
    hashes = [hashlib.md5(str((out_deg[v], in_deg[v], labels[v])).encode()).hexdigest() for v in range(n)]
    for _ in range(n):
        hashes = [
            hashlib.md5(
                (
                    "".join(sorted(hashes[w] for w in range(n) if m[w, v]))
                    + "|"
                    + "".join(sorted(hashes[w] for w in range(n) if m[v, w]))
                    + "|"
                    + hashes[v]
                ).encode()
            ).hexdigest()
            for v in range(n)
        ]
    return hashlib.md5(str(sorted(hashes)).encode()).hexdigest()


# ----------------------------------------------------------------------------- cost model
# Closed form of the NAS-Bench-101 network (nasbench/lib/model_builder.py): stem conv3x3-BN-ReLU
# to 128 channels, 3 stacks of 3 cells, max-pool + channel doubling between stacks, global pool,
# dense head. Convs have no bias; BN has scale and shift. Tests check params against the table.

def vertex_channels(c_in: int, c_out: int, m: np.ndarray) -> list[int]:
    """Channel count of every vertex (official ``compute_vertex_channels``)."""
    n = m.shape[0]
    ch = [0] * n
    ch[0], ch[n - 1] = c_in, c_out
    if n == 2:
        return ch
    in_deg_out = int(m[1:, n - 1].sum())
    interior, correction = divmod(c_out, in_deg_out)
    for v in range(1, n - 1):
        if m[v, n - 1]:
            ch[v] = interior + (1 if correction else 0)
            correction -= 1 if correction else 0
    for v in range(n - 3, 0, -1):
        if not m[v, n - 1]:
            for dst in range(v + 1, n - 1):
                if m[v, dst]:
                    ch[v] = max(ch[v], ch[dst])
    return ch


def _conv_bn(k: int, c_in: int, c_out: int, hw: int) -> tuple[int, int]:
    return k * k * c_in * c_out + 2 * c_out, k * k * c_in * c_out * hw * hw


def _cell_costs(cell: Cell, c_in: int, c_out: int, hw: int) -> tuple[int, int]:
    m = cell.array
    n = m.shape[0]
    ch = vertex_channels(c_in, c_out, m)
    params = flops = 0

    def add(pf: tuple[int, int]) -> None:
        nonlocal params, flops
        params, flops = params + pf[0], flops + pf[1]

    for v in range(1, n - 1):
        if m[0, v]:
            add(_conv_bn(1, c_in, ch[v], hw))  # projection of the cell input
        op = cell.ops[v]
        if op != "maxpool3x3":
            add(_conv_bn(3 if op == "conv3x3-bn-relu" else 1, ch[v], ch[v], hw))
    if m[0, n - 1]:
        add(_conv_bn(1, c_in, c_out, hw))
    return params, flops


def cell_costs(cell: Cell, *, stem_channels: int = 128, stacks: int = 3, cells_per_stack: int = 3,
          num_classes: int = 10, resolution: int = 32) -> dict[str, float]:
    """Parameters (millions) and FLOPs (millions of multiply-accumulates of conv/dense layers)."""
    params, flops = _conv_bn(3, 3, stem_channels, resolution)
    c_in = c = stem_channels
    hw = resolution
    for s in range(stacks):
        if s:
            c, hw = 2 * c, hw // 2
        for _ in range(cells_per_stack):
            p, f = _cell_costs(cell, c_in, c, hw)
            params, flops, c_in = params + p, flops + f, c
    params += c * num_classes + num_classes
    flops += c * num_classes
    return {"params_m": params / 1e6, "flops_m": flops / 1e6}


def costs(arch: str, **kwargs) -> dict[str, float]:
    """``cell_costs`` of an arch string (``Cell.to_string()`` form)."""
    return cell_costs(parse_cell(arch), **kwargs)


def canonical(arch: str) -> str:
    """Isomorphism-invariant key of an arch string: its NB101 hash."""
    return cell_hash(parse_cell(arch))


def build_network(arch: str, **kwargs):
    """The torch NAS-Bench-101 network of a cell (imports torch only when called)."""
    from .nb101_net import build_network as _build

    return _build(arch, **kwargs)
