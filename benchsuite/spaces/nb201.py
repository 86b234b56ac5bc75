"""NAS-Bench-201 cell space: string format, official enumeration order, canonical form, costs.

A cell is a DAG on 4 nodes; node j sums one op applied to each earlier node i, written as
``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``. Edge order below is that string order.
"""
from __future__ import annotations

import itertools
import random
from functools import lru_cache

import numpy as np

from ..errors import ArchError, short

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
# (target node, source node) of the 6 edges, in string order.
EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
NUM_ARCHS = len(OPS) ** len(EDGES)  # 15,625
NUM_UNIQUE = 6466  # NAS-Bench-201 paper, Sec. 2.1; checked by tests against canonical()
# NAS-Bench-201 shuffled its enumeration with this seed; row i of the official tables is
# all_archs()[i] (AutoDL-Projects, exps/NAS-Bench-201/main.py: generate_meta_info).
_OFFICIAL_SHUFFLE_SEED = 88


def format_arch(ops: tuple[str, ...] | list[str]) -> str:
    """Six op names (edge order) -> arch string."""
    if len(ops) != 6:
        raise ArchError(f"an NB201 cell has 6 edges, got {len(ops)} ops: {short(ops)}")
    for op in ops:
        if op not in OPS:
            raise ArchError(f"unknown NB201 op {short(op)} in {short(ops)}; ops are {', '.join(OPS)}")
    o = ops
    return f"|{o[0]}~0|+|{o[1]}~0|{o[2]}~1|+|{o[3]}~0|{o[4]}~1|{o[5]}~2|"


def parse_arch(arch: str) -> tuple[str, ...]:
    """Arch string -> six op names in edge order. Raises ArchError (a ValueError) naming what is wrong."""
    if not isinstance(arch, str):
        raise ArchError(f"NB201 arch must be a string, got {type(arch).__name__}: {short(arch)}")
    nodes = arch.split("+")
    if len(nodes) != 3:
        raise ArchError(f"malformed NB201 arch {short(arch)}: expected 3 nodes joined by '+', got {len(nodes)}")
    ops: list[str] = []
    for j, node in enumerate(nodes, start=1):
        if not (node.startswith("|") and node.endswith("|")) or len(node) < 2:
            raise ArchError(f"malformed NB201 arch {short(arch)}: node {j} {node!r} must be wrapped in '|'")
        items = node[1:-1].split("|")
        if len(items) != j:
            raise ArchError(f"malformed NB201 arch {short(arch)}: node {j} needs {j} inputs, got {len(items)}")
        for i, item in enumerate(items):
            op, sep, src = item.partition("~")
            if not sep or src != str(i):
                raise ArchError(f"malformed NB201 arch {short(arch)}: edge {item!r} of node {j} should be 'op~{i}'")
            if op not in OPS:
                raise ArchError(f"malformed NB201 arch {short(arch)}: unknown op {op!r}; ops are {', '.join(OPS)}")
            ops.append(op)
    return tuple(ops)


@lru_cache(maxsize=1)
def _all_archs() -> tuple[str, ...]:
    archs = [format_arch(c) for c in itertools.product(OPS, repeat=len(EDGES))]
    random.Random(_OFFICIAL_SHUFFLE_SEED).shuffle(archs)
    return tuple(archs)


def all_archs() -> list[str]:
    """All 15,625 cells in official NAS-Bench-201 index order."""
    return list(_all_archs())


@lru_cache(maxsize=1)
def _index_map() -> dict[str, int]:
    return {a: i for i, a in enumerate(_all_archs())}


def arch_index(arch: str) -> int:
    """Official NB201 index of a cell (validates the string)."""
    parse_arch(arch)
    return _index_map()[arch]


def canonical(arch: str) -> str:
    """Isomorphism-invariant form, equal for cells that compute the same function.

    Follows NB201's own rule (``Structure.to_unique_str(consider_zero=True)``): a skip passes its
    input's form through, ``none`` or a zero input gives zero, other ops wrap their input, and a
    node's inputs are sorted before joining, so edge order does not matter. Yields NUM_UNIQUE forms.
    """
    ops = parse_arch(arch)
    nodes = ["0"]
    k = 0
    for j in range(1, 4):
        terms = []
        for i in range(j):
            op, src = ops[k], nodes[i]
            k += 1
            if op == "none" or src == "#":
                terms.append("#")
            elif op == "skip_connect":
                terms.append(src)
            else:
                terms.append(f"({src})@{op}")
        nodes.append("+".join(sorted(terms)))
    return nodes[3]


# ----------------------------------------------------------------------------- cost model
# Closed-form parameter and FLOP counts of the NAS-Bench-201 network (AutoDL TinyNetwork):
# stem conv3x3+BN, 3 stages of N cells at C/2C/4C with ResNet basic blocks between them,
# final BN+ReLU, global pool, linear head. Ops are ReLU-Conv-BN with affine BN; pooling and skip
# have no weights inside a cell (stride 1, equal channels). Tests check params against the table.

def _cell_costs(ops: tuple[str, ...], c: int, hw: int) -> tuple[int, int]:
    params = flops = 0
    for op in ops:
        k = {"nor_conv_3x3": 3, "nor_conv_1x1": 1}.get(op)
        if k:
            params += k * k * c * c + 2 * c
            flops += k * k * c * c * hw * hw
    return params, flops


def _reduction_costs(c_in: int, c_out: int, hw_out: int) -> tuple[int, int]:
    # ReLU-Conv3x3(stride 2)-BN, ReLU-Conv3x3-BN, shortcut AvgPool2x2 + Conv1x1 (no BN).
    params = 9 * c_in * c_out + 2 * c_out + 9 * c_out * c_out + 2 * c_out + c_in * c_out
    flops = (9 * c_in * c_out + 9 * c_out * c_out + c_in * c_out) * hw_out * hw_out
    return params, flops


def costs(arch: str, *, C: int = 16, N: int = 5, num_classes: int = 10, resolution: int = 32) -> dict[str, float]:
    """Parameters (millions) and FLOPs (millions of multiply-accumulates of conv/linear layers)."""
    ops = parse_arch(arch)
    params = 27 * C + 2 * C  # stem conv + BN
    flops = 27 * C * resolution * resolution
    c, hw = C, resolution
    for stage in range(3):
        if stage:
            p, f = _reduction_costs(c, 2 * c, hw // 2)
            params, flops, c, hw = params + p, flops + f, 2 * c, hw // 2
        p, f = _cell_costs(ops, c, hw)
        params, flops = params + N * p, flops + N * f
    params += 2 * c + c * num_classes + num_classes  # last BN + classifier
    flops += c * num_classes
    return {"params_m": params / 1e6, "flops_m": flops / 1e6}


def build_network(arch: str, *, C: int = 16, N: int = 5, num_classes: int = 10, bn: bool = True,
                  style: str = "benchmark"):
    """The torch NAS-Bench-201 network of a cell (imports torch only when called); ``style`` is
    ``benchmark`` (the trained network, parameters equal the table) or ``zero-cost-nas``."""
    from .nb201_net import build_network as _build

    return _build(arch, C=C, N=N, num_classes=num_classes, bn=bn, style=style)


# ----------------------------------------------------------------------------- encodings and moves
# Shared by the learned selectors and the search methods (selectors/learned, selectors/search).
#
# Node-op DAG (the form NASLib and the predictor papers give NB201 cells, and what CTNAS's GCN
# reads): node 0 is the input, nodes 1..6 are the six edges' ops in string order, node 7 the
# output. An op node for edge (j <- i) feeds every op node on an edge leaving cell node j, or the
# output when j is the last node; the input feeds the op nodes of edges leaving cell node 0.
GRAPH_NODES = len(EDGES) + 2
GRAPH_VOCAB = len(OPS) + 3          # 0 = padding (unused here), 1 = input, 2..6 = OPS, 7 = output


def _graph_adjacency() -> np.ndarray:
    adj = np.zeros((GRAPH_NODES, GRAPH_NODES), dtype=np.int8)
    for e, (_, src) in enumerate(EDGES):
        if src == 0:
            adj[0, e + 1] = 1
    for e, (dst, _) in enumerate(EDGES):
        nxt = [f for f, (_, s) in enumerate(EDGES) if s == dst]
        for f in nxt:
            adj[e + 1, f + 1] = 1
        if dst == 3:
            adj[e + 1, GRAPH_NODES - 1] = 1
    adj.setflags(write=False)
    return adj


GRAPH_ADJACENCY = _graph_adjacency()


def to_graph(arch: str):
    """(adjacency [from, to], node labels) of the node-op DAG; labels index ``GRAPH_VOCAB``."""
    ops = parse_arch(arch)
    return GRAPH_ADJACENCY, [1] + [2 + OPS.index(o) for o in ops] + [GRAPH_VOCAB - 1]


# Token sequence (NAO / TNAO): one token per edge, op index + 1 (0 is the decoder's start token).
SEQ_LENGTH, SEQ_VOCAB = len(EDGES), len(OPS) + 1


def to_sequence(arch: str) -> list[int]:
    return [OPS.index(o) + 1 for o in parse_arch(arch)]


def seq_allowed(prefix) -> tuple[int, ...]:
    """Tokens a decoder may emit after ``prefix``: any op, so every decoded sequence is a cell."""
    return tuple(range(1, SEQ_VOCAB)) if len(prefix) < SEQ_LENGTH else ()


def from_sequence(seq) -> str | None:
    """Inverse of ``to_sequence``; None for a sequence that is not a cell."""
    if len(seq) != SEQ_LENGTH or any(not 1 <= int(t) < SEQ_VOCAB for t in seq):
        return None
    return format_arch([OPS[int(t) - 1] for t in seq])


def flat_code(arch: str) -> tuple[int, ...]:
    """Fixed-length code whose Hamming distance counts the edges two cells differ on."""
    return tuple(OPS.index(o) for o in parse_arch(arch))


def random_arch(rng) -> str:
    """A uniform random cell (``rng``: numpy Generator)."""
    return format_arch([OPS[int(i)] for i in rng.integers(0, len(OPS), len(EDGES))])


# Which edge a mutation changes. "edge": uniform over the six edges (NASLib,
# naslib/search_spaces/nasbench201/graph.py `mutate`); "node": a uniform node, then a uniform input
# edge of that node (AutoDL-Projects exps/algos/R_EA.py `mutate_arch_func`, the NB201 paper's REA).
MUTATIONS = ("edge", "node")


def mutate(arch: str, rng, kind: str = "edge") -> str:
    """Change one edge's op to a different op, drawn uniformly."""
    ops = list(parse_arch(arch))
    if kind == "edge":
        e = int(rng.integers(len(EDGES)))
    elif kind == "node":
        node = int(rng.integers(1, 4))
        first = [i for i, (dst, _) in enumerate(EDGES) if dst == node]
        e = first[int(rng.integers(len(first)))]
    else:
        raise ArchError(f"unknown NB201 mutation {short(kind)}; known: {', '.join(MUTATIONS)}")
    others = [o for o in OPS if o != ops[e]]
    ops[e] = others[int(rng.integers(len(others)))]
    return format_arch(ops)
