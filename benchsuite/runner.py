"""The one loop: pick cells -> selector.score -> scores.csv -> metrics.csv -> run.json (-> plots).

Scores are appended to ``scores.csv`` after every chunk, so an interrupted run keeps what it
finished and ``--resume`` scores only the rest. Metrics are computed from ``scores.csv`` as
written, so they always describe exactly the rows a reader sees.
"""
from __future__ import annotations

import csv
import inspect
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import manifest, metrics
from .benchmarks.registry import BENCHMARKS
from .config import RunConfig
from .errors import ConfigError
from .progress import Progress
from .selectors.base import Context
from .selectors.registry import SELECTORS

SCORE_COLUMNS = ["arch", "seed", "score", "true_acc"]
METRIC_COLUMNS = ["bench", "dataset", "fidelity", "acc_metric", "selector", "seed", "metric", "value", "n_archs"]
# Metrics with a bootstrap CI per seed (sampling uncertainty over architectures).
CI_METRICS = ("spearman", "kendall")


def resolve_device(requested: str, uses_torch: bool) -> str:
    if requested == "cpu" or (requested == "auto" and not uses_torch):
        return "cpu"
    try:
        import torch
    except ImportError:
        if requested == "auto":
            return "cpu"
        raise ConfigError(f"--device {requested} needs torch, which is not installed") from None
    if torch.cuda.is_available():
        return "cuda" if requested == "auto" else requested
    if requested == "auto":
        return "cpu"
    raise ConfigError(f"--device {requested}: no CUDA device is available here (use --device cpu or auto)")


def _selector_params(cls: type) -> dict[str, inspect.Parameter]:
    out: dict[str, inspect.Parameter] = {}
    for klass in reversed(cls.__mro__):
        init = klass.__dict__.get("__init__")
        if init is not None and klass is not object:
            out.update({p.name: p for p in inspect.signature(init).parameters.values() if p.kind is p.KEYWORD_ONLY})
    return out


def build_benchmark(cfg: RunConfig):
    cls = BENCHMARKS.get(cfg.bench)
    kwargs: dict[str, Any] = {"data_dir": cfg.data_dir}
    if cfg.nb201_pth:
        if cfg.bench != "nb201":
            raise ConfigError("--nb201-pth applies to --bench nb201 only")
        kwargs["official_path"] = cfg.nb201_pth
    return cls(**kwargs)


def _prepare_out(cfg: RunConfig, out: Path) -> set[tuple[str, int]]:
    """Create/validate the output folder; return (arch, seed) pairs already scored."""
    scores = out / "scores.csv"
    if not cfg.resume:
        if scores.exists():
            raise ConfigError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
        out.mkdir(parents=True, exist_ok=True)
        with open(scores, "w", newline="") as f:
            csv.writer(f).writerow(SCORE_COLUMNS)
        return set()
    run_json = out / "run.json"
    if not run_json.exists() or not scores.exists():
        raise ConfigError(f"--resume: {out} has no run.json and scores.csv to continue")
    old = json.loads(run_json.read_text())["args"]
    new = cfg.to_dict()
    diff = [k for k in RunConfig.IDENTITY if old.get(k) != new.get(k)]
    if diff:
        raise ConfigError(f"--resume: {out} was run with different {', '.join(diff)}; use another --out")
    done = pd.read_csv(scores, dtype={"arch": str})
    return set(zip(done.arch, done.seed.astype(int)))


def _choose(pool: list[str], seed: int, sample: int | None, budget: int) -> tuple[list[str], list[str]]:
    """Seeded draw: ``budget`` labelled archs for the selector, then the scored set (pool order).

    The draw depends only on (pool, seed), so every selector run with the same seed is scored on
    the same cells, and a resumed run recomputes the same sets."""
    need = budget + (sample or 0)
    if need > len(pool) or (sample is None and budget >= len(pool)):
        raise ConfigError(f"asked for {sample or 'all'} scored + {budget} labelled archs but the data covers "
                          f"only {len(pool)}")
    perm = np.random.default_rng(seed).permutation(len(pool))
    labelled = sorted(perm[:budget])
    scored = sorted(perm[budget:budget + sample] if sample else perm[budget:])
    return [pool[i] for i in scored], [pool[i] for i in labelled]


def _describe_derived(arch: str, bench, key: tuple, pool: list[str]) -> dict[str, Any]:
    """The derived cell, its true accuracy in the column ranked on, and how many of the column's
    cells it beats (None where the column does not cover the cell)."""
    if arch not in set(pool):
        return {"arch": arch, "true_acc": None, "beats_pct": None, "n_pool": len(pool)}
    acc = float(bench.accuracy([arch], *key)[0])
    pool_acc = bench.accuracy(pool, *key)
    return {"arch": arch, "true_acc": acc, "beats_pct": round(100.0 * float(np.mean(pool_acc < acc)), 3),
            "n_pool": len(pool)}


def _write_seed_rows(path: Path, seed: int, rows: list[dict]) -> None:
    """Write one seed's rows (derived cell; supernet training curves, one row per epoch) into a
    CSV for the plots, which read only CSVs; a resumed run replaces that seed's old rows."""
    df = pd.DataFrame(rows)
    df.insert(0, "seed", seed)
    if path.exists():
        old = pd.read_csv(path)
        df = pd.concat([old[old.seed != seed], df], ignore_index=True)
    df.to_csv(path, index=False)


def run(cfg: RunConfig, *, log: Callable[[str], None] = print) -> Path:
    t0 = time.time()
    sel_cls = SELECTORS.get(cfg.selector)  # unknown names fail before any data is read
    for name in cfg.metrics or ():
        metrics.METRICS.get(name)
    params = _selector_params(sel_cls)
    unknown = sorted(set(cfg.hparams) - set(params) - {"seed", "device"})
    if unknown:
        raise ConfigError(f"selector {cfg.selector!r} has no hyperparameter {', '.join(unknown)}; "
                          f"it takes: {', '.join(sorted(set(params) - {'seed', 'device'})) or 'none'}")
    bench = build_benchmark(cfg)
    key = bench.resolve(cfg.dataset, cfg.fidelity, cfg.acc)
    if bench.space not in sel_cls.spaces:
        raise ConfigError(f"selector {cfg.selector!r} supports {', '.join(sorted(sel_cls.spaces))}, not {bench.space}")
    pool = bench.archs(*key)
    device = resolve_device(cfg.device, getattr(sel_cls, "uses_torch", True))
    out = cfg.out_dir()
    done = _prepare_out(cfg, out)
    info: dict[str, Any] = {
        "args": cfg.to_dict(), "status": "running", "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "versions": manifest.package_versions(), "git": manifest.git_state(), "env": manifest.environment(),
        "data": {"checksums": bench.checksums, "source": bench.source(*key), "pool_size": len(pool)},
        "column": {"dataset": key[0], "fidelity": key[1], "metric": key[2]},
        "device": device, "seeds": {},
    }
    manifest.write_json(out / "run.json", info)
    try:
        for seed in cfg.seeds:
            kwargs = dict(cfg.hparams, seed=seed)
            if "device" in params:
                kwargs["device"] = device
            selector = sel_cls(**kwargs)
            info["hparams"] = selector.hparams()
            scored, labelled = _choose(pool, seed, cfg.sample, selector.labelled_budget())
            ctx = Context(space=bench.space, dataset=key[0], seed=seed, device=device, data_dir=cfg.data_dir,
                          labelled=dict(zip(labelled, bench.accuracy(labelled, *key))))
            info["seeds"][str(seed)] = {"n_scored": len(scored), "labelled_excluded": labelled}
            todo = [a for a in scored if (a, seed) not in done]
            truth = dict(zip(todo, bench.accuracy(todo, *key)))
            bar = Progress(len(todo), f"{cfg.selector} seed {seed}")
            for i in range(0, len(todo), cfg.chunk):
                chunk = todo[i:i + cfg.chunk]
                s = np.asarray(selector.score(chunk, ctx), dtype=float)
                if s.shape != (len(chunk),) or np.isinf(s).any():
                    raise RuntimeError(f"selector {cfg.selector!r} returned {s.shape} scores (inf allowed: no) "
                                       f"for {len(chunk)} archs")
                with open(out / "scores.csv", "a", newline="") as f:
                    csv.writer(f).writerows((a, seed, repr(float(v)), repr(float(truth[a]))) for a, v in zip(chunk, s))
                bar.update(len(chunk))
            derived = selector.derive(ctx)
            if derived is not None:
                info["seeds"][str(seed)]["derived"] = _describe_derived(derived, bench, key, pool)
                _write_seed_rows(out / "derived.csv", seed, [info["seeds"][str(seed)]["derived"]])
            learned = selector.report()
            if learned:
                history = learned.pop("history", None)
                if history:
                    _write_seed_rows(out / "training.csv", seed, history)
                info["seeds"][str(seed)]["selector_report"] = learned
    except KeyboardInterrupt:
        info["status"] = "interrupted"
        info["wall_time_s"] = round(time.time() - t0, 3)
        manifest.write_json(out / "run.json", info)
        raise
    mdf = compute_metrics(out / "scores.csv", cfg, key, n_boot=cfg.n_boot)
    mdf.to_csv(out / "metrics.csv", index=False)
    info.update(status="complete", finished=time.strftime("%Y-%m-%dT%H:%M:%S"),
                wall_time_s=round(time.time() - t0, 3))
    manifest.write_json(out / "run.json", info)
    if cfg.plots:
        from .report import plot_run

        plot_run(out)
    log(summary_line(mdf, out))
    return out


def compute_metrics(scores_csv: Path, cfg: RunConfig, key: tuple[str, int, str], *, n_boot: int) -> pd.DataFrame:
    df = pd.read_csv(scores_csv, dtype={"arch": str})
    rows: list[tuple] = []
    base = (cfg.bench, key[0], key[1], key[2], cfg.selector)
    per_seed: dict[str, list[float]] = {}
    for seed in cfg.seeds:
        d = df[df.seed == seed]
        s, a = d.score.to_numpy(), d.true_acc.to_numpy()
        n = int(np.isfinite(s).sum())
        for name, value in metrics.compute_all(s, a, list(cfg.metrics) if cfg.metrics else None).items():
            rows.append((*base, str(seed), name, value, n))
            per_seed.setdefault(name, []).append(value)
        if n_boot:
            for name in (c for c in CI_METRICS if not cfg.metrics or c in cfg.metrics):
                lo, hi = metrics.bootstrap_ci(metrics.METRICS.get(name), s, a, n_boot=n_boot, seed=seed)
                rows += [(*base, str(seed), f"{name}_ci_low", lo, n), (*base, str(seed), f"{name}_ci_high", hi, n)]
    n_all = int(np.isfinite(df.score.to_numpy()).sum())
    for name, values in per_seed.items():
        agg = metrics.aggregate(values)
        for stat in ("mean", "std", "ci_low", "ci_high"):
            value = agg[stat] if agg["n"] > 1 or stat == "mean" else float("nan")
            rows.append((*base, "all", f"{name}_{stat}", value, n_all))
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)


def summary_line(mdf: pd.DataFrame, out: Path) -> str:
    m = mdf[mdf.seed == "all"].set_index("metric").value
    r = mdf.iloc[0]
    n = mdf[mdf.seed != "all"].n_archs.iloc[0]
    shown = " ".join(f"{k}={m[k + '_mean']:.4f}" for k in ("spearman", "kendall", "top10_acc") if k + "_mean" in m)
    derived = ""
    if (out / "derived.csv").is_file():
        d = pd.read_csv(out / "derived.csv", dtype={"arch": str})
        derived = " derived=" + ", ".join(f"{a} ({'not in table' if pd.isna(v) else f'{v:.2f}%'})"
                                          for a, v in zip(d.arch, d.true_acc))
    return (f"{r.selector} on {r.bench}/{r.dataset} ({r.acc_metric}, {r.fidelity} epochs, n={n} per seed): "
            f"{shown}{derived} -> {out}")
