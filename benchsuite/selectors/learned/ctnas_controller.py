"""CTNAS's controller (``ctnas``): the decisions that make a cell in each space, and the LSTM policy
that samples them (chenyaofo/CTNAS core/controller/nasbench.py, core/dataset/seq2arch/nasbench.py).

On NB-101 the decisions follow the official grammar; NB-201 is not in the official code, and there
the controller picks the six ops in order. ``ctnas.py`` trains the policy against its comparator.
"""
from __future__ import annotations

import numpy as np


class _Grammar:
    """Decisions the controller makes, one at a time: ``next(prefix)`` gives the kind of the next
    decision ("count", "node", "op") and its number of choices, or None when the cell is complete."""

    n_counts = n_nodes = n_ops = 1

    def next(self, prefix: list[int]) -> tuple[str, int] | None:
        raise NotImplementedError

    def to_arch(self, tokens: list[int]) -> str:
        raise NotImplementedError


class _NB201Grammar(_Grammar):
    n_ops = 5

    def next(self, prefix):
        return ("op", 5) if len(prefix) < 6 else None

    def to_arch(self, tokens):
        from ...spaces import nb201

        return nb201.format_arch([nb201.OPS[t] for t in tokens])


class _NB101Grammar(_Grammar):
    """chenyaofo/CTNAS core/controller/nasbench.py + core/dataset/seq2arch/nasbench.py: n hidden
    nodes (1..5); node j = 1..n takes one input from nodes < j and an op; the output one input from
    nodes <= n; then 9 - n - 1 pairs of nodes, each an extra edge (none when both ends are equal)."""

    n_counts, n_nodes, n_ops = 5, 7, 3

    def next(self, prefix):
        if not prefix:
            return ("count", 5)
        n = prefix[0] + 1
        body = 2 * n + 1             # per hidden node: input, op; then the output's input
        i = len(prefix) - 1
        if i < body:
            node = i // 2
            return ("node", node + 1) if i % 2 == 0 else ("op", 3)
        return ("node", n + 2) if i < body + 2 * (9 - n - 1) else None

    def to_arch(self, tokens):
        from ...spaces import nb101

        n = tokens[0] + 1
        m = np.zeros((n + 2, n + 2), dtype=np.int64)
        ops = ["input"]
        for j in range(1, n + 1):
            m[tokens[2 * j - 1], j] = 1
            ops.append(nb101.OPS[tokens[2 * j]])
        m[tokens[2 * n + 1], n + 1] = 1
        rest = tokens[2 * n + 2:]
        for a, b in zip(rest[::2], rest[1::2]):
            if a != b:
                m[min(a, b), max(a, b)] = 1
        return nb101.make_cell(m, ops + ["output"]).to_string()


GRAMMARS = {"nb201": _NB201Grammar, "nb101": _NB101Grammar}


def controller_module(grammar: _Grammar, hidden: int):
    """The LSTM policy over ``grammar``'s decisions (chenyaofo/CTNAS core/controller/nasbench.py)."""
    import torch
    from torch import nn

    class Controller(nn.Module):
        def __init__(self):
            super().__init__()
            self.count_embedding = nn.Embedding(grammar.n_counts, hidden)
            self.node_embedding = nn.Embedding(grammar.n_nodes, hidden)
            self.op_embedding = nn.Embedding(grammar.n_ops, hidden)
            self.lstm = nn.LSTMCell(hidden, hidden)
            self.emb_attn = nn.Linear(hidden, hidden, bias=False)
            self.hid_attn = nn.Linear(hidden, hidden, bias=False)
            self.v_attn = nn.Linear(hidden, 1, bias=False)
            self.w_soft = nn.Linear(hidden, grammar.n_ops)
            self.n_soft = nn.Linear(hidden, grammar.n_counts)
            for p in self.parameters():
                p.data.uniform_(-0.1, 0.1)

        def _logits(self, kind: str, k: int, hx):
            if kind == "node":   # pointer attention over the candidate input nodes
                q = torch.tanh(self.emb_attn(self.node_embedding.weight[:k]).unsqueeze(0)
                               + self.hid_attn(hx).unsqueeze(1))
                return self.v_attn(q).squeeze(-1)
            return (self.n_soft if kind == "count" else self.w_soft)(hx)

        def _embed(self, kind: str, action):
            return {"count": self.count_embedding, "node": self.node_embedding, "op": self.op_embedding}[kind](action)

        def forward(self, uniform: bool = False):
            """(tokens, sum of log-probabilities, sum of entropies) of one sampled cell."""
            tokens, logp, entropy = self._run(1, uniform, track=True)
            return tokens[0], logp[0], entropy[0]

        def sample(self, n: int, uniform: bool = False) -> list[list[int]]:
            """``n`` cells at once (no gradient): the same draws one at a time would make, batched
            over the cells whose decisions have the same shape so far."""
            with torch.no_grad():
                return self._run(n, uniform, track=False)[0]

        def _run(self, n: int, uniform: bool, track: bool):
            zeros = torch.zeros(n, hidden)
            return self._grow([[] for _ in range(n)], zeros, (zeros, zeros), uniform, track)

        def _grow(self, tokens, embed, state, uniform, track):
            n = len(tokens)
            logp = torch.zeros(n)
            entropy = torch.zeros(n)
            while True:
                steps = [grammar.next(t) for t in tokens]
                if any(s != steps[0] for s in steps):   # split where the decisions differ (NB-101 sizes)
                    groups: dict = {}
                    for i, s in enumerate(steps):
                        groups.setdefault(s, []).append(i)
                    order = [i for idx in groups.values() for i in idx]
                    out_t, out_l, out_e = [None] * n, [None] * n, [None] * n
                    for idx in groups.values():
                        sub = torch.tensor(idx)
                        t, lp, en = self._grow([tokens[i] for i in idx], embed[sub], (state[0][sub], state[1][sub]),
                                               uniform, track)
                        for j, i in enumerate(idx):
                            out_t[i], out_l[i], out_e[i] = t[j], logp[i] + lp[j], entropy[i] + en[j]
                    assert sorted(order) == list(range(n))
                    return out_t, torch.stack(out_l), torch.stack(out_e)
                if steps[0] is None:
                    return tokens, logp, entropy
                kind, k = steps[0]
                if uniform:
                    logits = torch.zeros(n, k)
                else:
                    state = self.lstm(embed, state)
                    logits = self._logits(kind, k, state[0])
                logprob = torch.log_softmax(logits, dim=-1)
                action = torch.multinomial(logprob.exp(), 1).squeeze(1)
                if track:
                    logp = logp + logprob.gather(1, action.unsqueeze(1)).squeeze(1)
                    entropy = entropy - (logprob.exp() * logprob).sum(dim=1)
                for t, a in zip(tokens, action.tolist()):
                    t.append(a)
                embed = self._embed(kind, action)

    return Controller()
