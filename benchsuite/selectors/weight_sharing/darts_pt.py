"""DARTS-PT (Wang et al. 2021): perturbation-based selection on a trained DARTS supernet.

Follows ruocwang/darts-pt's NB201 projection (``nasbench201/projection.py`` ``pt_project``):
starting from the DARTS supernet, fine-tune it for ``proj_intv`` × (edges − 1) epochs (weights and
alpha as in the search: an architect step on a validation batch, then a weight step) with a fresh
SGD at a constant lr/10 (``model.reset_optimizer``) and the architect's Adam *continued* from the
search checkpoint; at the start of every ``proj_intv``-th epoch and of the last one, pick a
remaining edge at random; for each op, mask it (its mixing weight set to 0) and measure the
supernet's validation accuracy; keep the op whose removal hurts most (lowest accuracy) and fix the
edge to it (one-hot). An edge still open at the end (with ``proj_intv=1`` the reference projects
only five of the six) takes the argmax of its weights, as the reference's ``genotype()`` does.
``proj_intv=0`` projects every edge at once, without fine-tuning (not in the reference).

Scores for ρ (the reference only derives one cell): on the trained, unprojected supernet every
(edge, op) is masked once; a cell scores Σ_edges (acc_full − acc_masked(edge, op)), the validation
accuracy its own ops carry. The projection uses a copy, so the shared DARTS supernet is unchanged.
"""
from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ... import presets
from ...hparams import Interval
from ..base import Context
from ..registry import SELECTORS
from .base import SupernetSelector

# Under `paper` DARTS-PT trains its own supernet as ruocwang/darts-pt nasbench201/train_search.py
# does (its epochs, weight decay and plain SGD: benchsuite.presets), not the 50-epoch `darts` one;
# cpu/smoke share darts'.


@SELECTORS.register("darts-pt")
class DartsPTSelector(SupernetSelector):
    """DARTS-PT: keep, edge by edge, the op whose masking drops validation accuracy most."""

    name = "darts-pt"
    train_mode = "darts"

    # 0: project without fine-tuning between edges; None: the preset's
    hparam_constraints = {"proj_intv": [Interval(int, 0, None), None]}

    def __init__(self, *, proj_intv: int | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.proj_intv = proj_intv
        self._drops: torch.Tensor | None = None

    def train_overrides(self):
        own = presets.own_training(self.name, self.preset)
        return {**super().train_overrides(), **own, **({"epochs": self.epochs} if self.epochs else {})}

    def _masked_accuracy(self, net, batches, weights: torch.Tensor, edge: int, op: int) -> float:
        from ...supernet.evaluate import accuracy

        w = weights.clone()
        w[edge, op] = 0.0
        return accuracy(net, batches, weights=w)[0]

    def drops(self, ctx: Context) -> torch.Tensor:
        """(6, 5) validation-accuracy drop when each op is masked on the trained supernet."""
        from ...supernet.evaluate import accuracy

        if self._drops is None:
            net, batches = self.supernet(ctx), self.eval_set(ctx)
            with torch.no_grad():
                w = net.darts_weights().detach()
            full = accuracy(net, batches, weights=w)[0]
            self._drops = torch.tensor([[full - self._masked_accuracy(net, batches, w, e, k) for k in range(w.shape[1])]
                                        for e in range(w.shape[0])])
        return self._drops

    def score(self, archs: Sequence[str], ctx: Context) -> np.ndarray:
        from ...supernet.model import arch_to_path

        d = self.drops(ctx).double()
        return np.array([float(sum(d[e, k] for e, k in enumerate(arch_to_path(a)))) for a in archs])

    def derive(self, ctx: Context) -> str:
        from ...supernet.model import path_to_arch
        from ...supernet.trainer import checkpoint_dir, train_epoch

        base = self.supernet(ctx)
        intv = self.preset_value("proj_intv") if self.proj_intv is None else self.proj_intv
        batches = self.eval_set(ctx)
        # The projection is deterministic given the supernet, interval and validation batches:
        # cache it beside the supernet's checkpoint.
        cache = checkpoint_dir(base.config, Path(ctx.cache_dir) / "supernet" if ctx.cache_dir else None) \
            / f"darts-pt-v2-intv{intv}-eval{len(batches)}x{len(batches[0][1])}.json"
        if cache.is_file():
            self.derived = json.loads(cache.read_text())
            return self.derived["arch"]
        net = copy.copy(base)
        net.model = copy.deepcopy(base.model)
        net.alpha = base.alpha.detach().clone().requires_grad_(True)
        net.projected, net.history = {}, []
        cfg = base.config
        tune_cfg = type(cfg)(**{**cfg.to_dict(), "lr": cfg.lr / 10, "lr_min": cfg.lr / 10})  # constant lr/10
        net.config = tune_cfg
        w_opt = torch.optim.SGD(net.model.parameters(), lr=tune_cfg.lr, momentum=cfg.momentum, weight_decay=cfg.wd,
                                nesterov=cfg.nesterov)
        a_opt = torch.optim.Adam([net.alpha], lr=cfg.arch_lr, betas=(cfg.arch_beta1, 0.999), weight_decay=cfg.arch_wd)
        if base.arch_optimizer is None:
            raise RuntimeError(f"darts-pt: supernet {cfg.key()} carries no architect state to continue")
        a_opt.load_state_dict(copy.deepcopy(base.arch_optimizer))   # the search's Adam, continued
        data = self.search_data(ctx, limit=cfg.limit)
        rng = np.random.default_rng([self.seed, 0x5054])
        steps: list[dict] = []
        n_edges = net.alpha.shape[0]

        def project() -> None:
            remaining = [e for e in range(n_edges) if e not in net.projected]
            edge = int(rng.choice(remaining))
            with torch.no_grad():
                w = net.darts_weights().detach()
            accs = [self._masked_accuracy(net, batches, w, edge, k) for k in range(w.shape[1])]
            net.projected[edge] = int(np.argmin(accs))   # first of equals, as the reference's strict <
            steps.append({"edge": edge, "op": net.projected[edge], "masked_acc": [round(a, 3) for a in accs]})

        if intv == 0:
            for _ in range(n_edges):
                project()
        tune_epochs = intv * (n_edges - 1)
        for k in range(tune_epochs):
            if k % intv == 0 or k == tune_epochs - 1:
                project()
            row = train_epoch(net, data, cfg.epochs + k, w_opt, a_opt, device=self.device)
            steps[-1].setdefault("tune", []).append(round(row["train_acc"], 3))
        with torch.no_grad():
            final = net.darts_weights().detach()
        open_edges = [e for e in range(n_edges) if e not in net.projected]
        for e in open_edges:   # genotype(): argmax of the (projected) weights
            net.projected[e] = int(final[e].argmax())
        cell = path_to_arch([net.projected[e] for e in range(net.alpha.shape[0])])
        self.derived = {"arch": cell, "proj_intv": intv, "projection": steps, "argmax_edges": open_edges}
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(self.derived))
        return cell
