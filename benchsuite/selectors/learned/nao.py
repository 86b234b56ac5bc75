"""``nao``: Neural Architecture Optimization (Luo et al., NeurIPS 2018), written anew after two
codes of its authors: SemiNAS's NB-101 code (renqianluo/SemiNAS, nasbench/: controller.py,
encoder.py, decoder.py, train_seminas.py, utils.py), without SemiNAS's synthetic (pseudo-labelled)
data, and NAO_pytorch (renqianluo/NAO_pytorch NAO_V1/: train_search.py, encoder.py). Presets
(``benchsuite.presets.NAO``, each value with its source): ``seminas`` (the default) takes
SemiNAS's NB-101 settings, ``nao`` NAO_pytorch's where they apply to a cell table (its predictor
MLP, hidden size, maximum step size); explicit hyperparameters override either.

Encoder (SemiNAS ``encoder.py``, under both presets): token embedding (``hidden``) with dropout, a
bidirectional LSTM projected back to ``hidden`` plus a residual, L2-normalised per position; the
cell embedding is the normalised mean. Predictor (``predictor``): ``residual`` (SemiNAS
``forward_predictor``): ``mlp_layers`` layers hidden -> ``mlp_hidden`` -> ... -> hidden (ReLU,
dropout), a residual scaled by sqrt(0.5), a linear output, regressing the standardised accuracy;
``sigmoid`` (NAO_pytorch ``NAO_V1/encoder.py``): ``mlp_layers`` layers hidden -> ``mlp_hidden`` ->
... -> ``mlp_hidden`` (ReLU, dropout), a linear output and a sigmoid, regressing the accuracy
min-max scaled to [0, 1] over the training cells (``NAO_V1/train_search.py``: ``encoder_target``).
Decoder (SemiNAS ``decoder.py``): an LSTM started from the cell embedding, with attention over the
encoder outputs, residuals scaled by sqrt(0.5), greedy decoding restricted to the tokens each
position may hold after the tokens before it (``spaces.<space>.seq_allowed``: every decoded
sequence is a valid cell). Loss 0.8 MSE + 0.2 token NLL (``trade_off``); Adam 1e-3, weight decay
1e-4, gradient norm 5, batch 100, 1000 epochs (both codes agree on these).

Search (``train_seminas.py: main``; the same moves in NAO_pytorch's ``train_search.py: main``): the
top ``k`` (100) cells by validation accuracy are encoded and moved along the predictor's gradient,
``e + λ·∂f/∂e`` with λ = 1, 2, ... (up to ``max_step_size``: SemiNAS 100, NAO_pytorch 50), and
decoded, until ``new_arch`` (300) new valid cells are found; those are queried, the model trains
again on everything queried, and so on until the budget is spent.
Differences, stated: the first cells are the run's random labelled cells (SemiNAS draws 1,100 and
keeps those with validation accuracy >= 90%, a filter that reads labels it does not count); the
``residual`` target is standardised by the labelled cells' own mean and std (SemiNAS hard-codes
NB-101's); labels and queries read the table's value, where SemiNAS asks ``nasbench.query`` for one
random repeat; NB-201 cells are the six op tokens; on NB-101 only the last column may emit the
output token. Where the benchmark lacks a decoded cell (the NB-101 bundle), the nearest covered
unqueried cell is queried.
"""
from __future__ import annotations

import copy
import math

import numpy as np

from ... import presets
from ...hparams import Choice, Interval, Rule
from ...progress import Progress
from ...spaces import get_space
from ..base import Context
from ..registry import SELECTORS
from ..search.base import query_bar
from ..search.domain import Domain
from .common import (
    VALID_DECODER,
    LearnedSelector,
    allowed_tokens,
    batches,
    decode_cells,
    fixed_batches,
    sequence_batch,
    standardise,
)


def _nao_module(vocab: int, length: int, hidden: int, mlp_hidden: int, dropout: float, allowed, *,
                mlp_layers: int = 2, predictor: str = "residual"):
    import torch
    import torch.nn.functional as F
    from torch import nn

    class NAO(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc_embedding = nn.Embedding(vocab, hidden)
            self.enc_rnn = nn.LSTM(hidden, hidden, 1, batch_first=True, bidirectional=True)
            self.out_proj = nn.Linear(2 * hidden, hidden)
            widths = [hidden] + [mlp_hidden] * mlp_layers
            if predictor == "residual" and mlp_layers:
                widths[-1] = hidden   # the residual adds the MLP's output back onto the embedding
            self.mlp = nn.ModuleList([nn.Linear(a, b) for a, b in zip(widths, widths[1:])])
            self.regressor = nn.Linear(widths[-1], 1)
            self.dec_embedding = nn.Embedding(vocab, hidden)
            self.dec_rnn = nn.LSTM(hidden, hidden, 1, batch_first=True)
            self.attn_in = nn.Linear(hidden, hidden, bias=False)
            self.attn_out = nn.Linear(2 * hidden, hidden, bias=False)
            self.out = nn.Linear(hidden, vocab)

        def predictor(self, emb):
            x = emb
            for layer in self.mlp:
                x = F.dropout(F.relu(layer(x)), dropout, self.training)
            if predictor == "sigmoid":
                return torch.sigmoid(self.regressor(x)).squeeze(-1)
            return self.regressor((emb + x) * math.sqrt(0.5)).squeeze(-1)

        def encode(self, seq):
            """(per-position outputs, cell embedding, prediction)."""
            x = F.dropout(self.enc_embedding(seq), dropout, self.training)
            h, _ = self.enc_rnn(x)
            out = F.normalize(x + self.out_proj(h), dim=-1)
            emb = F.normalize(out.mean(dim=1), dim=-1)
            return out, emb, self.predictor(emb)

        def _attend(self, x, src):
            a = torch.softmax(torch.bmm(self.attn_in(x), src.transpose(1, 2)), dim=-1)
            return torch.tanh(self.attn_out(torch.cat([torch.bmm(a, src), x], dim=-1)))

        def _step(self, tokens, state, src):
            x = F.dropout(self.dec_embedding(tokens), dropout, self.training)
            h, state = self.dec_rnn(x, state)
            x = (x + h) * math.sqrt(0.5)
            x = (x + self._attend(x, src)) * math.sqrt(0.5)
            return torch.log_softmax(self.out(x), dim=-1), state

        def reconstruct(self, seq, out, emb):
            """Teacher-forced log-probabilities of ``seq`` (decoder input: start token 0, then seq[:-1])."""
            start = torch.zeros_like(seq[:, :1])
            state = (emb.unsqueeze(0).contiguous(), emb.unsqueeze(0).contiguous())
            logp, _ = self._step(torch.cat([start, seq[:, :-1]], dim=1), state, out)
            return logp

        def decode(self, out, emb):
            """Greedy decoding, each position restricted to the tokens it may hold."""
            state = (emb.unsqueeze(0).contiguous(), emb.unsqueeze(0).contiguous())
            token = torch.zeros(len(emb), 1, dtype=torch.long, device=emb.device)
            seq = token[:, :0]
            for _ in range(length):
                logp, state = self._step(token, state, out)
                token = logp[:, -1].masked_fill(~allowed(seq), -math.inf).argmax(dim=-1, keepdim=True)
                seq = torch.cat([seq, token], dim=1)
            return seq

    return NAO()


def _predictor_ok(preset: str, mlp_layers: int | None, predictor: str | None) -> bool:
    p = presets.values("nao", preset) if preset in presets.names("nao") else {}
    layers = p.get("mlp_layers") if mlp_layers is None else mlp_layers
    return (p.get("predictor") if predictor is None else predictor) != "residual" or layers != 1


@SELECTORS.register("nao")
class NAOSelector(LearnedSelector):
    """Encoder -> predictor, attention decoder back to a cell; search by gradient steps in the embedding."""

    name = "nao"
    hparam_constraints = {
        "preset": Choice(*presets.names("nao")),
        **{k: Interval(int, 1, None) for k in ("epochs", "batch_size", "k", "new_arch")},
        **{k: [Interval(int, 1, None), None] for k in ("hidden", "mlp_hidden", "max_step_size")},
        "mlp_layers": [Interval(int, 0, None), None], "predictor": [Choice("residual", "sigmoid"), None],
        "dropout": [Interval(float, 0, 1), None],
        **{k: Interval(float, 0, None) for k in ("lr", "weight_decay", "grad_bound")},
        "trade_off": Interval(float, 0, 1)}
    hparam_rules = (Rule(("preset", "mlp_layers", "predictor"),
                         lambda preset, mlp_layers, predictor: _predictor_ok(preset, mlp_layers, predictor),
                         "{predictor} residual needs {mlp_layers} 0 or at least 2 (its last layer maps back to "
                         "the embedding)"),)
    fast_hparams = {"labels": 8, "epochs": 3, "hidden": 16, "mlp_hidden": 8, "k": 4, "new_arch": 4,
                    "max_step_size": 3}

    def __init__(self, *, seed: int = 0, device: str = "cpu", labels: int = 100, preset: str = "seminas",
                 epochs: int = 1000, batch_size: int = 100, lr: float = 1e-3, weight_decay: float = 1e-4,
                 grad_bound: float = 5.0, trade_off: float = 0.8, hidden: int | None = None,
                 mlp_layers: int | None = None, mlp_hidden: int | None = None, predictor: str | None = None,
                 dropout: float | None = None, k: int = 100, new_arch: int = 300,
                 max_step_size: int | None = None) -> None:
        super().__init__(seed=seed, device=device, labels=labels)
        p = presets.values("nao", preset)
        given = {"hidden": hidden, "mlp_layers": mlp_layers, "mlp_hidden": mlp_hidden, "predictor": predictor,
                 "dropout": dropout, "max_step_size": max_step_size}
        self.preset = preset
        for key, value in given.items():   # an explicit value overrides the preset's
            setattr(self, key, p[key] if value is None else value)
        self.epochs, self.batch_size, self.lr, self.weight_decay = epochs, batch_size, lr, weight_decay
        self.grad_bound, self.trade_off, self.k, self.new_arch = grad_bound, trade_off, k, new_arch

    @property
    def deviations(self) -> tuple[str, ...]:
        out = []
        if self.preset == "nao":
            out += ["the encoder and decoder are SemiNAS's (a bidirectional LSTM over hidden-size token embeddings, "
                    "projected back with a residual); NAO_pytorch's NAO_V1 encoder is a unidirectional LSTM over "
                    "48-d embeddings of token pairs, and its code has no NB-201 or NB-101 cells",
                    "dropout also drops the encoder's and decoder's token embeddings; NAO_pytorch drops only in the "
                    "predictor MLP (--controller_encoder_dropout 0, --controller_decoder_dropout 0)",
                    "cells are labelled by the table; NAO_pytorch's search (NAO-WS) scores them with a weight-"
                    "sharing supernet on one validation batch and starts from 600 random cells"]
        else:
            out += ["trains on the queried cells only, without SemiNAS's 10,000 pseudo-labelled cells (--m 10000, "
                    "beside the real cells up-sampled x10): NAO itself has none",
                    "starts from the run's K random labelled cells; SemiNAS draws 1,100 and keeps those with "
                    "validation accuracy >= 90%, a filter that reads labels it does not count",
                    "labels and queries are the table's value (NB-201, NB-101 tfrecord: the mean over trials); "
                    "SemiNAS asks nasbench.query, which returns one of NB-101's 3 repeats at random "
                    "(google-research/nasbench api.py query: sampled_index = random.randint(0, num_repeats - 1))"]
        if self.predictor == "residual":
            out.append("the target is standardised by the labelled cells' own mean and std (SemiNAS hard-codes "
                       "NB-101's)")
        return (*out, "keeps k = 100 seed cells even where that is every labelled cell of the first round",
                VALID_DECODER)

    def _target(self, accs: list[float]) -> np.ndarray:
        """What the predictor regresses: z-scores (``residual``, SemiNAS) or the accuracies min-max
        scaled to [0, 1] over the training cells (``sigmoid``, NAO_pytorch's ``encoder_target``)."""
        if self.predictor == "residual":
            return standardise(accs)[0]
        v = np.asarray(accs, dtype=float)
        return (v - v.min()) / ((v.max() - v.min()) or 1.0)

    def _train(self, model, archs: list[str], accs: list[float], epochs: int) -> dict:
        import torch
        import torch.nn.functional as F

        seq = sequence_batch(self.space, archs, self.device)
        target = torch.tensor(self._target(accs), dtype=torch.float32, device=self.device)
        opt = torch.optim.Adam(model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + len(archs))
        model.train()
        with Progress(epochs, f"nao train ({len(archs)} cells)", unit="epoch") as bar:
            for _ in range(epochs):
                for idx in batches(len(archs), self.batch_size, gen):
                    out, emb, pred = model.encode(seq[idx])
                    mse = F.mse_loss(pred, target[idx])
                    logp = model.reconstruct(seq[idx], out, emb)
                    nll = F.nll_loss(logp.reshape(-1, logp.size(-1)), seq[idx].reshape(-1))
                    loss = self.trade_off * mse + (1 - self.trade_off) * nll
                    opt.zero_grad()
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(model.parameters(), self.grad_bound)
                    opt.step()
                bar.update(postfix=f"mse {float(mse.detach()):.3f} nll {float(nll.detach()):.3f}")
        return {"cells": len(archs), "mse": float(mse.detach()), "nll": float(nll.detach())}

    def fit(self, ctx: Context) -> None:
        self.space = ctx.space
        mod = get_space(ctx.space)
        self.model = _nao_module(mod.SEQ_VOCAB, mod.SEQ_LENGTH, self.hidden, self.mlp_hidden, self.dropout,
                                 allowed_tokens(ctx.space), mlp_layers=self.mlp_layers,
                                 predictor=self.predictor).to(self.device)
        archs = list(ctx.labelled)
        self.fit_report = {"rounds": [self._train(self.model, archs, [ctx.labelled[a] for a in archs], self.epochs)]}

    def predict(self, archs: list[str], ctx: Context) -> np.ndarray:
        import torch

        self.model.eval()

        def run(chunk):
            with torch.no_grad():
                return self.model.encode(sequence_batch(self.space, chunk, self.device))[2].cpu()

        return fixed_batches(run, archs)

    def generate(self, model, seeds: list[str], exclude: set[str], want: int, domain: Domain | None = None,
                 rng=None) -> list[str]:
        """New valid cells decoded from the seeds' embeddings moved up the predictor's gradient,
        with growing step sizes, none of them in ``exclude``; covered cells only when a domain is given."""
        import torch

        model.eval()
        seq = sequence_batch(self.space, seeds, self.device)
        new: list[str] = []
        taken = set(exclude)
        for step in range(1, self.max_step_size + 1):
            out, _, pred = model.encode(seq)
            grad = torch.autograd.grad(pred.sum(), out)[0]
            moved = torch.nn.functional.normalize(out + step * grad, dim=-1)
            emb = torch.nn.functional.normalize(moved.mean(dim=1), dim=-1)
            with torch.no_grad():
                cells = decode_cells(self.space, model.decode(moved.detach(), emb.detach()))
            for cell in cells:
                if cell is not None and domain is not None:
                    cell = domain.cover(cell, rng, exclude=taken)
                if cell is not None and cell not in taken:
                    new.append(cell)
                    taken.add(cell)
                if len(new) >= want:
                    return new
        return new

    def search(self, oracle, ctx: Context) -> None:
        import torch

        self._ensure_fit(ctx)
        torch.manual_seed(self.seed + 1)   # the search's dropout draws do not depend on what was scored
        model = copy.deepcopy(self.model)   # the scoring model stays the one trained on the labels
        domain = Domain(ctx.space, oracle.candidates())
        rng = np.random.default_rng([self.seed, 0x4A0])
        rounds = self.fit_report["rounds"][:1]
        with query_bar(self.name, oracle) as bar:
            while oracle.remaining > 0:
                seen = oracle.seen()
                top = sorted(seen, key=seen.get, reverse=True)[:self.k]
                new = self.generate(model, top, set(seen), min(self.new_arch, oracle.remaining), domain, rng)
                if not new:
                    break
                oracle.query_many(new)
                bar.update_to(oracle.used, f"round {len(rounds)}")
                if oracle.remaining <= 0:
                    break
                seen = oracle.seen()
                rounds.append(self._train(model, list(seen), list(seen.values()), self.epochs))
        self.fit_report = {**self.fit_report, "rounds": rounds, "queries": oracle.used}
        if domain.projected:
            self.fit_report["proposals_replaced_by_nearest_covered_cell"] = domain.projected
