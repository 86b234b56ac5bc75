"""IT-NAS's Lite-Transformer with an indicator token (IT), one module shared by every edge.

For one edge, each candidate op's output feature map becomes a token: global-average-pooled
(B, C) and linearly embedded to ``dim`` (one embedding per stage, since C doubles per stage), plus a
learned embedding saying which op it came from. A learnable indicator token for that edge position
is prepended; one pre-norm self-attention + feed-forward block lets the tokens attend to each
other; the op importance is ``softmax(q_IT · k_op / sqrt(dim))`` over the op tokens, per image.
The edge output is the importance-weighted sum of the op outputs, so the transformer is trained
through the network loss. Averaged importance per edge derives the cell (argmax) and scores
cells (Σ log importance), exactly as alpha does for DARTS.
"""
from __future__ import annotations

import math

import torch
from torch import nn


class IndicatorTransformer(nn.Module):
    def __init__(self, stage_channels: tuple[int, ...], *, num_edges: int = 6, num_ops: int = 5,
                 dim: int = 32, heads: int = 2):
        super().__init__()
        self.dim = dim
        self.embed = nn.ModuleList(nn.Linear(c, dim) for c in stage_channels)
        self.op_embed = nn.Parameter(torch.zeros(num_ops, dim))
        self.indicator = nn.Parameter(torch.zeros(num_edges, dim))
        nn.init.normal_(self.op_embed, std=0.02)
        nn.init.normal_(self.indicator, std=0.02)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.norm_out = nn.LayerNorm(dim)
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.record: torch.Tensor | None = None   # running (edges, ops) sums of importance when set

    def start_recording(self) -> None:
        self.record = torch.zeros_like(self.indicator[:, :self.op_embed.shape[0]], dtype=torch.float64).detach()
        self.record_n = torch.zeros(self.indicator.shape[0], dtype=torch.float64, device=self.indicator.device)

    def stop_recording(self) -> torch.Tensor:
        """Mean importance per edge over every image and cell seen since ``start_recording``."""
        out = (self.record / self.record_n[:, None].clamp_min(1)).float().cpu()
        self.record = None
        return out

    def forward(self, outs: torch.Tensor, stage: int, edge: int) -> torch.Tensor:
        """outs (B, K, C, H, W) -> importance (B, K), rows summing to 1."""
        b = outs.shape[0]
        pooled = outs.float().mean(dim=(3, 4))                              # (B, K, C)
        ops = self.embed[stage](pooled) + self.op_embed                     # (B, K, d)
        tokens = torch.cat([self.indicator[edge].expand(b, 1, -1), ops], 1)  # (B, 1+K, d)
        h = self.norm1(tokens)
        tokens = tokens + self.attn(h, h, h, need_weights=False)[0]
        tokens = tokens + self.ffn(self.norm2(tokens))
        h = self.norm_out(tokens)
        q = self.q(h[:, :1])                                                 # (B, 1, d)
        k = self.k(h[:, 1:])                                                 # (B, K, d)
        w = torch.softmax((q @ k.transpose(1, 2)).squeeze(1) / math.sqrt(self.dim), dim=-1)
        if self.record is not None:
            self.record[edge] += w.detach().double().sum(0)
            self.record_n[edge] += b
        return w.to(outs.dtype)
