"""NAS-Bench-101 cell space: spec validation, pruning, the official graph hash, cost model.

A cell is an upper-triangular adjacency matrix on at most 7 vertices plus one op per vertex
(first ``input``, last ``output``). The hash is NAS-Bench-101's iterated-MD5 graph fingerprint
(google-research/nasbench, ``graph_util.hash_module``), reimplemented here because
``ModelSpec.hash_spec`` breaks with numpy 2 (numpy scalars change ``str()`` of the label tuples).
"""
from __future__ import annotations

import functools
import hashlib
import itertools
import json
import operator
from dataclasses import dataclass

import numpy as np

from ..errors import ArchError, short

INPUT, OUTPUT = "input", "output"
OPS: tuple[str, ...] = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")
MAX_VERTICES, MAX_EDGES = 7, 9
# json.dumps(..., separators=(",", ":")) would build this encoder anew for every cell it writes.
_COMPACT = json.JSONEncoder(separators=(",", ":"))


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
        return _COMPACT.encode({"matrix": [list(r) for r in self.matrix], "ops": list(self.ops)})


def _check(matrix: np.ndarray, ops: list[str]) -> list[list[int]]:
    """The matrix as row lists, once it is known to be a valid unpruned spec. The entry checks run on
    Python lists: a 7x7 numpy check costs more than the whole cell (``mutate`` makes tens of
    thousands of cells per search)."""
    what = f"(ops={short(ops)})"
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ArchError(f"NB101 cell {what}: matrix must be square, got shape {matrix.shape}")
    n = matrix.shape[0]
    if not 2 <= n <= MAX_VERTICES:
        raise ArchError(f"NB101 cell {what}: {n} vertices, must be 2..{MAX_VERTICES}")
    if len(ops) != n:
        raise ArchError(f"NB101 cell {what}: {len(ops)} ops for {n} vertices")
    rows = matrix.tolist()
    if not set(itertools.chain.from_iterable(rows)) <= {0, 1}:
        raise ArchError(f"NB101 cell {what}: matrix entries must be 0 or 1")
    if any(any(row[:i + 1]) for i, row in enumerate(rows)):
        raise ArchError(f"NB101 cell {what}: matrix must be strictly upper-triangular (a DAG)")
    if ops[0] != INPUT or ops[-1] != OUTPUT:
        raise ArchError(f"NB101 cell {what}: ops must start with 'input' and end with 'output'")
    bad = [o for o in ops[1:-1] if o not in OPS]
    if bad:
        raise ArchError(f"NB101 cell {what}: unknown ops {bad}; ops are {', '.join(OPS)}")
    return rows


def prune(rows: list[list[int]], ops: list[str]) -> tuple[tuple[tuple[int, ...], ...], list[str]]:
    """Drop vertices not on an input->output path, as NAS-Bench-101 does before hashing/training.
    ``rows``: the 0/1 matrix as row lists; returns the pruned matrix as row tuples and its ops."""
    n = len(rows)
    cols = list(zip(*rows))
    # The matrix is upper-triangular, so one pass in vertex order (then in reverse) settles each
    # vertex from the ones before (after) it; map(and_) keeps the inner loops in C.
    from_input = [True] + [False] * (n - 1)
    for v in range(1, n):
        from_input[v] = any(map(operator.and_, cols[v], from_input))
    to_output = [False] * (n - 1) + [True]
    for v in range(n - 2, -1, -1):
        to_output[v] = any(map(operator.and_, rows[v], to_output))
    if not from_input[-1]:
        raise ArchError("NB101 cell: output is not reachable from input")
    keep = [v for v in range(n) if from_input[v] and to_output[v]]
    take = operator.itemgetter(*keep)   # keep holds input and output: at least 2, so take(x) is a tuple
    return tuple(take(rows[i]) for i in keep), list(take(ops))


def make_cell(matrix, ops) -> Cell:
    """Validate and prune a (matrix, ops) pair. Raises ArchError (a ValueError) saying what is wrong."""
    try:
        m = np.asarray(matrix, dtype=np.int64)
        ops = list(ops)
    except (TypeError, ValueError):
        raise ArchError(f"NB101 cell: the matrix must be a square 0/1 matrix and ops a list, got {short(matrix)}") \
            from None
    return _pruned_cell(_check(m, ops), ops)


def _pruned_cell(rows: list[list[int]], ops: list[str]) -> Cell:
    """The cell of a checked spec (0/1 strictly upper-triangular rows, input/hidden/output ops):
    pruned, with at most 9 edges left, else ArchError."""
    pruned, kept = prune(rows, ops)
    edges = sum(map(sum, pruned))
    if edges > MAX_EDGES:  # counted after pruning: dangling edges are never built
        raise ArchError(f"NB101 cell (ops={short(ops)}): {edges} edges after pruning, at most {MAX_EDGES}")
    return Cell(pruned, tuple(kept))


@functools.lru_cache(maxsize=8192)
def _parse(text: str) -> Cell:
    try:
        d = json.loads(text)
        return make_cell(d["matrix"], d["ops"])
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise ArchError(f"malformed NB101 cell string {short(text)}: {e}") from None


def parse_cell(text: str) -> Cell:
    """Inverse of ``Cell.to_string``. Memoised (a Cell is immutable): a search parses the same few
    population members again for each of its tens of thousands of mutations."""
    return _parse(text) if isinstance(text, str) else _parse.__wrapped__(text)


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


# ----------------------------------------------------------------------------- encodings and moves
# Shared by the learned selectors and the search methods (selectors/learned, selectors/search).
#
# Node-op DAG as CTNAS tensorises it (chenyaofo/CTNAS core/dataset/tensorize/nasbench.py): the
# pruned cell's own matrix, padded to 7 nodes with padding nodes after the output.
GRAPH_NODES = MAX_VERTICES
GRAPH_VOCAB = len(OPS) + 3          # 0 = padding, 1 = input, 2..4 = OPS, 5 = output


def to_graph(arch: str) -> tuple[np.ndarray, list[int]]:
    """(adjacency [from, to] padded to 7 nodes, node labels indexing ``GRAPH_VOCAB``)."""
    cell = parse_cell(arch)
    n = len(cell.ops)
    adj = np.zeros((GRAPH_NODES, GRAPH_NODES), dtype=np.int8)
    adj[:n, :n] = cell.array
    labels = [1] + [2 + OPS.index(o) for o in cell.ops[1:-1]] + [GRAPH_VOCAB - 1] + [0] * (GRAPH_NODES - n)
    return adj, labels


# Token sequence of SemiNAS's NB-101 code (renqianluo/SemiNAS nasbench/utils.py
# `convert_arch_to_seq`): for each column j = 1..6 of the 7x7 matrix, one token per row i < j
# (1 = no edge, 2 = edge), then the op of node j (3 = conv1x1, 4 = conv3x3, 5 = maxpool,
# 6 = output); columns past a smaller cell's output are all 0. 27 tokens, vocabulary 7.
SEQ_LENGTH, SEQ_VOCAB = (MAX_VERTICES + 2) * (MAX_VERTICES - 1) // 2, 7
_SEQ_OPS = {"conv1x1-bn-relu": 3, "conv3x3-bn-relu": 4, "maxpool3x3": 5, OUTPUT: 6}
_SEQ_OP_NAMES = {v: k for k, v in _SEQ_OPS.items()}
# Position of node j's op token: after the j(j+1)/2 - 1 tokens of the columns before it.
_OP_POSITIONS = tuple((j + 3) * j // 2 - 1 for j in range(1, MAX_VERTICES))


def to_sequence(arch: str) -> list[int]:
    cell = parse_cell(arch)
    m, n = cell.array, len(cell.ops)
    seq: list[int] = []
    for col in range(1, MAX_VERTICES):
        if col >= n:
            seq += [0] * (col + 1)
        else:
            seq += [int(m[row, col]) + 1 for row in range(col)] + [_SEQ_OPS[cell.ops[col]]]
    return seq


# (column, row) of each edge token: column j's tokens for rows 0..j-1 come just before its op token.
_EDGE_AT = {_OP_POSITIONS[j - 1] - j + i: (j, i) for j in range(1, MAX_VERTICES) for i in range(j)}


def seq_allowed(prefix) -> tuple[int, ...]:
    """Tokens a decoder may emit after ``prefix`` so that every decoded sequence is a valid cell.

    SemiNAS lets every op position emit any op or the output and every edge position either bit,
    and throws away what comes out invalid. Here the output is always node 6 (a smaller cell comes
    from pruning), the hidden columns use at most 8 edges, and the output column must take an edge
    from a node the input reaches: so the cell is connected and has at most 9 edges."""
    p = len(prefix)
    if p >= SEQ_LENGTH:
        return ()
    if p in _OP_POSITIONS:
        return (6,) if p == _OP_POSITIONS[-1] else (3, 4, 5)
    col, row = _EDGE_AT[p]
    edges = sum(1 for q in range(p) if q in _EDGE_AT and prefix[q] == 2)
    if col < MAX_VERTICES - 1:
        return (1, 2) if edges < MAX_EDGES - 1 else (1,)
    reach = {0}
    for j in range(1, MAX_VERTICES - 1):
        if any(prefix[_OP_POSITIONS[j - 1] - j + i] == 2 and i in reach for i in range(j)):
            reach.add(j)
    start = _OP_POSITIONS[-1] - (MAX_VERTICES - 1)
    linked = any(prefix[start + i] == 2 and i in reach for i in range(row))
    if edges >= MAX_EDGES:
        return (1,)
    if not linked and row == max(reach):
        return (2,)
    return (1, 2)


def from_sequence(seq) -> str | None:
    """Inverse of ``to_sequence`` (pruned); None when the tokens do not make a valid cell."""
    seq = [int(t) for t in seq]
    if len(seq) != SEQ_LENGTH:
        return None
    n = 1 + sum(1 for p in _OP_POSITIONS if seq[p] != 0)
    m = np.zeros((n, n), dtype=np.int64)
    ops = [INPUT]
    for j in range(1, n):
        start = _OP_POSITIONS[j - 1] - j
        bits = seq[start:start + j]
        if any(b not in (1, 2) for b in bits) or seq[start + j] not in _SEQ_OP_NAMES:
            return None
        m[:j, j] = [b - 1 for b in bits]
        ops.append(_SEQ_OP_NAMES[seq[start + j]])
    try:
        return make_cell(m, ops).to_string()
    except ValueError:
        return None


# The 21 edge slots of the 7-vertex form, row-major: the order NAS-Bench-101's mutation visits them.
_EDGE_SLOTS = tuple((i, j) for i in range(MAX_VERTICES) for j in range(i + 1, MAX_VERTICES))


@functools.lru_cache(maxsize=8192)
def _padded(arch: str) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """The cell on 7 vertices: its nodes but the output first, unconnected fillers, output last; as
    (its 21 edge bits in ``_EDGE_SLOTS`` order, its 5 hidden ops with conv3x3 for a filler).
    Memoised like ``parse_cell``: ``mutate`` and ``flat_code`` see the same cells again and again."""
    cell = parse_cell(arch)
    n = len(cell.ops)
    at = {v: k for k, v in enumerate([*range(n - 1), MAX_VERTICES - 1])}   # 7-vertex index -> cell index
    bits = tuple(cell.matrix[at[i]][at[j]] if i in at and j in at else 0 for i, j in _EDGE_SLOTS)
    return bits, cell.ops[1:-1] + ("conv3x3-bn-relu",) * (MAX_VERTICES - n)


def flat_code(arch: str) -> tuple[int, ...]:
    """Fixed-length code (21 edge bits of the 7-vertex form, then 5 hidden ops, -1 for a vertex the
    cell lacks) whose Hamming distance counts the edits between two cells."""
    bits, _ = _padded(arch)
    hidden = parse_cell(arch).ops[1:-1]
    return bits + tuple(OPS.index(o) for o in hidden) + (-1,) * (MAX_VERTICES - 2 - len(hidden))


def random_arch(rng) -> str:
    """A random valid cell as NAS-Bench-101's sampler draws one: uniform upper-triangular bits and
    uniform hidden ops on 7 vertices, redrawn until valid (``rng``: numpy Generator)."""
    while True:
        m = np.triu(rng.integers(0, 2, (MAX_VERTICES, MAX_VERTICES)), 1)
        ops = [INPUT] + [OPS[int(i)] for i in rng.integers(0, len(OPS), MAX_VERTICES - 2)] + [OUTPUT]
        try:
            return make_cell(m, ops).to_string()
        except ValueError:
            continue


MUTATIONS = ("flip",)


def mutate(arch: str, rng, kind: str = "flip") -> str:
    """NAS-Bench-101's mutation (google-research/nasbench's regularised-evolution example,
    ``mutate_spec``): on the 7-vertex form flip each edge bit with probability 1/7 and change each
    hidden op with probability 1/5, redrawn until the cell is valid. Two differences, stated: the
    example mutates the parent's unpruned spec, here its pruned cell padded to 7 vertices (the
    tables hold pruned cells); NASLib's ``mutate`` changes an op with probability 1/3 (1/len(OPS))."""
    if kind not in MUTATIONS:
        raise ArchError(f"unknown NB101 mutation {short(kind)}; known: {', '.join(MUTATIONS)}")
    bits, hidden = _padded(arch)
    while True:
        # One batch of uniforms for the 21 edge slots draws the same numbers as one call per slot.
        flips = (rng.random(len(_EDGE_SLOTS)) < 1 / MAX_VERTICES).tolist()
        m = [[0] * MAX_VERTICES for _ in range(MAX_VERTICES)]
        for (i, j), bit, flip in zip(_EDGE_SLOTS, bits, flips):
            m[i][j] = bit ^ flip
        ops = list(hidden)
        for k in range(len(ops)):
            if rng.random() < 1 / (MAX_VERTICES - 2):
                others = [o for o in OPS if o != ops[k]]
                ops[k] = others[int(rng.integers(len(others)))]
        try:   # a checked spec by construction: only pruning and the edge count can refuse it
            return _pruned_cell(m, [INPUT, *ops, OUTPUT]).to_string()
        except ValueError:
            continue
