"""The one loop: pick cells -> selector.score -> scores.csv -> metrics.csv -> run.json.

Scores are appended to ``scores.csv`` after every chunk, so an interrupted run keeps what it
finished and ``--resume`` scores only the rest. Metrics are computed from ``scores.csv`` as
written, so they always describe exactly the rows a reader sees.

A learned selector's labelled cells and a search method's queries read the benchmark's validation
column (``Benchmark.validation_column``), never the column a run is scored on. Search methods
(capability ``search``) then spend a budgeted oracle per seed; what it recorded goes to
``trajectory.csv`` with the test accuracy the method never saw, and its search metrics to
``metrics.csv``. What the runner does for a selector follows its declared ``capabilities`` and
``inputs`` alone (``selectors.base``). Plots are drawn by the caller (``report.plot_run``).
"""
from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import manifest, metrics
from .benchmarks.registry import BENCHMARKS
from .config import DEFAULT_QUERIES, RunConfig
from .errors import ConfigError, SelectorError
from .hparams import check as check_hparams
from .hparams import keyword_params
from .progress import Progress
from .run_folder import (  # noqa: F401  (SCORE_COLUMNS: the output contract)
    SCORE_COLUMNS,
    append_rows,
    drop_seed_rows,
    locked,
    missing_rows,
    prepare,
    write_seed_rows,
)
from .run_metrics import METRIC_COLUMNS, compute_metrics, summary_line  # noqa: F401
from .run_steps import compare_step, components_step, search_step
from .selectors.base import Context, Selector
from .selectors.registry import SELECTORS
from .threads import check_threads, set_threads


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


def build_benchmark(cfg: RunConfig):
    cls = BENCHMARKS.get(cfg.bench)
    kwargs: dict[str, Any] = {"data_dir": cfg.data_dir}
    if cfg.official:
        if "official_path" not in keyword_params(cls):
            raise ConfigError(f"--official applies to nb201 and nb101, not {cfg.bench}")
        kwargs["official_path"] = cfg.official
    return cls(**kwargs)


def _choose(pool: list[str], seed: int, sample: int | None, budget: int) -> tuple[list[str], list[str]]:
    """Seeded draw: the scored set (pool order) and ``budget`` labelled archs (draw order).

    One permutation of the pool per seed: the scored cells are its head (``sample`` of them, or all
    but the labelled ones), the labelled cells its tail. So every selector run with the same seed
    and sample is scored on the same cells, with or without a labelled budget, and a resumed run
    recomputes the same sets."""
    if budget + (sample or 1) > len(pool):
        raise ConfigError(f"asked for {sample or 'all'} scored + {budget} labelled archs but the data covers "
                          f"only {len(pool)}")
    perm = np.random.default_rng(seed).permutation(len(pool))
    head = perm[:len(pool) - budget]
    scored = sorted(head[:sample] if sample else head)
    return [pool[i] for i in scored], [pool[i] for i in perm[len(pool) - budget:]]


def _describe_derived(arch: str, bench, key: tuple, pool: list[str]) -> dict[str, Any]:
    """The derived cell, its true accuracy in the column ranked on, and how many of the column's
    cells it beats (None where the column does not cover the cell)."""
    if arch not in set(pool):
        return {"arch": arch, "true_acc": None, "beats_pct": None, "n_pool": len(pool)}
    acc = float(bench.accuracy([arch], *key)[0])
    pool_acc = bench.accuracy(pool, *key)
    return {"arch": arch, "true_acc": acc, "beats_pct": round(100.0 * float(np.mean(pool_acc < acc)), 3),
            "n_pool": len(pool)}


def _check_hparams(cfg: RunConfig, sel_cls: type, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """The selector's keyword arguments from --hp and --labels; unknown names fail here, before
    any data is read. ``base``: the values they override (a given selector's own)."""
    params = keyword_params(sel_cls)
    hparams = dict(cfg.hparams)
    if cfg.labels is not None:
        if "labels" not in sel_cls.inputs:
            learned = [n for n in SELECTORS.names() if "labels" in SELECTORS.get(n).inputs]
            raise ConfigError(f"--labels: selector {cfg.selector!r} takes no labelled cells; these do: "
                              f"{', '.join(learned)}")
        hparams["labels"] = cfg.labels
    unknown = sorted(set(hparams) - set(params) - {"seed", "device"})
    if unknown:
        raise ConfigError(f"selector {cfg.selector!r} has no hyperparameter {', '.join(unknown)}; "
                          f"it takes: {', '.join(sorted(set(params) - {'seed', 'device'})) or 'none'}")
    hparams = check_hparams(sel_cls, cfg.selector, hparams, {"labels": "--labels"} if cfg.labels is not None else None,
                            base)
    caps, inputs = sel_cls.capabilities, sel_cls.inputs
    if "search" not in caps and cfg.queries is not None:
        raise ConfigError(f"--queries applies to search methods; {cfg.selector!r} spends no queries")
    if cfg.shard and (caps != {"rank"} or inputs & {"labels", "supernet"}):
        raise ConfigError(f"shards split the cells of a ranking run; {cfg.selector!r} learns, trains, searches or "
                          "derives once per seed, so run it as one task")
    if "rank" not in caps and cfg.sample is not None:
        raise ConfigError(f"--sample picks the cells to rank, and {cfg.selector!r} ranks none (it is a search "
                          "method: set its budget with --queries)")
    return hparams


@dataclass
class Plan:
    """Everything a run needs, checked before any file is written: a bad argument leaves nothing."""

    sel_cls: type
    bench: Any
    key: tuple[str, int, str]          # the scored column
    pool: list[str]                    # cells the run draws from
    vkey: tuple[str, int, str] | None  # the validation column (labels, queries)
    valid: dict[str, float] | None
    budget: int                        # queries per seed (search methods), else 0
    labels: int
    device: str
    build: Callable[[int], Any]        # seed -> selector
    first: Any                         # the first seed's selector, already built
    trials: dict[str, tuple[float, ...]] | None = None   # per-trial validation values a query draws from
    trial: str = "mean"                # what a query answers: the trial "mean" or one "random" trial
    served: dict | None = None         # the shipped table a ranking is answered from (proxy_tables)

    searches = property(lambda self: "search" in self.sel_cls.capabilities)
    ranks = property(lambda self: "rank" in self.sel_cls.capabilities)


def plan(cfg: RunConfig, selector: Selector | None = None) -> Plan:
    """``selector``: an unregistered instance to run instead of ``cfg.selector`` (the notebook API);
    it is rebuilt per seed from its own hyperparameters."""
    # unknown names fail before any data is read
    sel_cls = type(selector) if selector is not None else SELECTORS.get(cfg.selector)
    # before anything builds a network: torch's default (a thread per core) made small runs 5-20x
    # slower on a shared machine (benchsuite/threads.py)
    set_threads(cfg.threads, import_torch=sel_cls.uses_torch)
    for name in cfg.metrics or ():
        metrics.METRICS.get(name)
    own = {k: v for k, v in selector.hparams().items() if k not in ("seed", "device")} if selector is not None else {}
    hparams = own | _check_hparams(cfg, sel_cls, own)
    params = keyword_params(sel_cls)
    bench = build_benchmark(cfg)
    key = bench.resolve(cfg.dataset, cfg.fidelity, cfg.acc)
    if bench.space not in sel_cls.spaces:
        raise ConfigError(f"selector {cfg.selector!r} supports {', '.join(sorted(sel_cls.spaces))}, not {bench.space}")
    pool = bench.archs(*key)
    searches = "search" in sel_cls.capabilities
    vkey = valid = None
    if searches or "labels" in sel_cls.inputs:
        vkey = bench.validation_column(key)
        valid = dict(zip(bench.archs(*vkey), bench.accuracy(bench.archs(*vkey), *vkey)))
        pool = [a for a in pool if a in valid]
    budget = min(cfg.queries or DEFAULT_QUERIES, len(pool)) if searches else 0
    device = resolve_device(cfg.device, sel_cls.uses_torch)

    def build(seed: int):
        kwargs = dict(hparams, seed=seed)
        if "device" in params:
            kwargs["device"] = device
        try:
            return sel_cls(**kwargs)
        except TypeError as e:   # a wrongly typed value reaching a constructor
            raise ConfigError(f"selector {cfg.selector!r}: {e}") from None

    first = build(cfg.seeds[0])
    labels = first.labelled_budget()
    trials, trial = None, "mean"
    if searches and hasattr(first, "query_protocol"):
        epochs, trial = first.query_protocol()
        if epochs is not None and epochs != key[1]:
            if labels:
                raise ConfigError(f"selector {cfg.selector!r}: labelled cells and queries read one validation "
                                  f"column; a query fidelity of {epochs} epochs is for search methods without labels")
            vkey = bench.validation_column((key[0], int(epochs), key[2]))
            valid = dict(zip(bench.archs(*vkey), bench.accuracy(bench.archs(*vkey), *vkey)))
            pool = [a for a in bench.archs(*key) if a in valid]
            budget = min(cfg.queries or DEFAULT_QUERIES, len(pool))
        trials = bench.trials(vkey) if trial == "random" else None
    if labels and vkey is None:   # a labelled_budget() of its own, without the declaration
        raise ConfigError(f"selector {cfg.selector!r} asks for {labels} labelled cells but does not declare the "
                          "input 'labels'")
    if searches and labels > budget:
        raise ConfigError(f"{labels} labelled cells are more than the query budget of {budget}")
    _choose(pool, cfg.seeds[0], cfg.sample if "rank" in sel_cls.capabilities else 1, labels)   # enough cells?
    served = None
    if cfg.table and (selector is not None or sel_cls.capabilities != {"rank"} or labels):
        raise ConfigError(f"--table answers a registered training-free ranker from a shipped table; "
                          f"{cfg.selector!r} is not one")
    if selector is None and sel_cls.capabilities == {"rank"} and not labels:
        from . import proxy_tables

        served = proxy_tables.serving(cfg.selector, first, bench.space, key[0], cfg.seeds, compute=cfg.compute,
                                      table=cfg.table, cells=pool)
        if served is not None:
            table = served["name"]
            first = proxy_tables.Served(first, cfg.selector, table)
            build = (lambda make: lambda seed: proxy_tables.Served(make(seed), cfg.selector, table))(build)
    first.preflight(Context(space=bench.space, dataset=key[0], seed=cfg.seeds[0], device=device,
                            data_dir=cfg.data_dir))
    return Plan(sel_cls, bench, key, pool, vkey, valid, budget, labels, device, build, first, trials, trial, served)


def run(cfg: RunConfig, *, log: Callable[[str], None] = print, selector: Selector | None = None) -> Path:
    """Run ``cfg`` into its folder (``cfg.out``, which the caller resolves once: see
    ``RunConfig.resolved``) and return the folder."""
    t0 = time.time()
    cfg = cfg.resolved()
    p = plan(cfg, selector)
    out = Path(cfg.out)
    if cfg.resume and not out.is_dir():   # checked before the lock, which would make the folder
        raise ConfigError(f"--resume: {out} holds no run to continue (no such folder)")
    with locked(out), _terminate_as_interrupt():
        return _execute(cfg, p, out, t0, log)


def _execute(cfg: RunConfig, p: Plan, out: Path, t0: float, log: Callable[[str], None]) -> Path:
    sel_cls, bench, key, pool, valid, vkey = p.sel_cls, p.bench, p.key, p.pool, p.valid, p.vkey
    searches, budget, labels, device = p.searches, p.budget, p.labels, p.device
    done, previous = prepare(cfg, out, log)
    old = previous if cfg.resume else {}
    info: dict[str, Any] = {
        "args": cfg.to_dict(), "status": "running", "started": old.get("started", time.strftime("%Y-%m-%dT%H:%M:%S")),
        "versions": manifest.package_versions(), "git": manifest.git_state(), "env": manifest.environment(),
        "data": {"checksums": bench.checksums, "source": bench.source(*key), "pool_size": len(pool)},
        "column": {"dataset": key[0], "fidelity": key[1], "metric": key[2]},
        "device": device, "threads": check_threads(cfg.threads), "seeds": {},
    }
    if old:   # a resume: keep when it started, add up the time of every session
        info["resumed"] = [*old.get("resumed", []), time.strftime("%Y-%m-%dT%H:%M:%S")]
    before = float(old.get("wall_time_s") or 0.0)
    if vkey is not None:   # where labels and queries were read: never the scored column when it is a test one
        info["validation_column"] = {"dataset": vkey[0], "fidelity": vkey[1], "metric": vkey[2],
                                     "source": bench.source(*vkey)}
    if searches:
        # what a query answered: the column, and one random trial or the mean (the embedded tables
        # hold means only, so a "random" protocol on them reads the mean, and says so)
        answered = "one random trial" if p.trials else "the trial mean"
        if p.trial == "random" and not p.trials:
            answered += " (one random trial was asked; the data holds no per-trial values)"
            log(f"note: {cfg.selector} asks for one random trial per query, but {bench.source(*vkey)} holds trial "
                "means only; each query reads the mean")
        info["search"] = {"budget": budget, "optimum": float(bench.accuracy(pool, *key).max()),
                          "fitness": {"dataset": vkey[0], "fidelity": vkey[1], "metric": vkey[2],
                                      "trial": p.trial, "answers": answered}}
    # what the selector declares, and where it still differs from its reference ([] where nowhere)
    if p.served:   # answered from a shipped table: which file, its checksum, how it was computed
        info["scores_from"] = p.served
    info.update(hparams=p.first.hparams(), capabilities=sorted(sel_cls.capabilities), inputs=sorted(sel_cls.inputs),
                uses_torch=bool(sel_cls.uses_torch), deviations=list(p.first.deviations))
    manifest.write_json(out / "run.json", info)
    if len(cfg.seeds) > 1 or not old:
        per_seed = f"{p.budget} queries" if searches else f"{len(_cells(cfg, p, cfg.seeds[0])[0])} cells"
        log(f"{cfg.selector} on {cfg.bench}/{key[0]}: {len(cfg.seeds)} seed{'s' * (len(cfg.seeds) > 1)} x "
            f"{per_seed}{f' (+{labels} labelled)' if labels else ''} -> {out}")
    written = time.time()
    try:
        for seed in cfg.seeds:
            scored, labelled = _cells(cfg, p, seed)
            if old and _resumable(old, done, seed, scored, out, log):   # finished in an earlier session
                info["seeds"][str(seed)] = old["seeds"][str(seed)]
                continue
            selector = p.first if seed == cfg.seeds[0] else p.build(seed)
            ctx = Context(space=bench.space, dataset=key[0], seed=seed, device=device, data_dir=cfg.data_dir,
                          labelled={a: valid[a] for a in labelled})
            todo = [a for a in scored if (a, seed) not in done]
            if sel_cls.ranks_jointly and 0 < len(todo) < len(scored):   # ranks among a subset would differ
                log(f"benchsuite: note: seed {seed}: {cfg.selector} ranks a seed's cells jointly; scoring all "
                    f"{len(scored)} again")
                drop_seed_rows(out / "scores.csv", seed)
                todo = list(scored)
            record = info["seeds"][str(seed)] = {"n_scored": len(scored) - len(todo), "n_planned": len(scored)}
            if labelled:
                record["labelled_excluded"] = labelled
            if p.ranks:
                _score(selector, ctx, todo, bench, key, cfg, out, record)
                if callable(getattr(selector, "compare", None)):
                    record["comparator"] = compare_step(selector, ctx, scored, bench, key, out)
                if callable(getattr(selector, "component_columns", None)):
                    record["components"] = components_step(selector.component_columns, ctx, scored, out)
            if searches:
                record["search"] = search_step(selector, ctx, bench, key, pool, valid, budget, out, p.trials)
            if "derive" in sel_cls.capabilities:
                derived = selector.derive(ctx)
                if not isinstance(derived, str):
                    raise SelectorError(f"selector {cfg.selector!r} declares 'derive' but derive() returned "
                                        f"{derived!r}, not a cell")
                record["derived"] = _describe_derived(derived, bench, key, pool)
                write_seed_rows(out / "derived.csv", seed, [record["derived"]])
            learned = selector.report()
            if learned:
                history = learned.pop("history", None)
                if history:
                    write_seed_rows(out / "training.csv", seed, history)
                record["selector_report"] = learned
            record["complete"] = True
            # a seed's record is rewritten at most every few seconds (thousands of quick seeds would
            # rewrite a growing run.json each time); a resume re-checks the rows of the unrecorded ones
            if time.time() - written > RUN_JSON_EVERY_S:
                manifest.write_json(out / "run.json", info)
                written = time.time()
    except BaseException as e:
        info["status"] = "interrupted" if isinstance(e, KeyboardInterrupt) else "failed"
        if not isinstance(e, KeyboardInterrupt):
            info["error"] = f"{type(e).__name__}: {e}"
        info["wall_time_s"] = round(before + time.time() - t0, 3)
        with contextlib.suppress(OSError):   # a full disk: scores.csv still says what was finished
            manifest.write_json(out / "run.json", info)
        raise
    optimum = info["search"]["optimum"] if searches else None
    mdf = compute_metrics(out, cfg, key, n_boot=cfg.n_boot, labels=labels, optimum=optimum, budget=budget)
    unscored = sorted(int(s) for s, n in mdf[mdf.seed != "all"].groupby("seed").n_archs.max().items() if n == 0)
    if unscored:
        log(f"benchsuite: warning: {cfg.selector} gave no finite score on seed(s) "
            f"{', '.join(map(str, unscored))}: their ranking metrics are NaN")
    mdf.to_csv(out / "metrics.csv.part", index=False)
    (out / "metrics.csv.part").replace(out / "metrics.csv")
    info.update(status="complete", finished=time.strftime("%Y-%m-%dT%H:%M:%S"),
                wall_time_s=round(before + time.time() - t0, 3))
    manifest.write_json(out / "run.json", info)
    log(summary_line(mdf, out))
    return out


RUN_JSON_EVERY_S = 5.0


def _cells(cfg: RunConfig, p: Plan, seed: int) -> tuple[list[str], list[str]]:
    """A seed's scored cells (its shard of them; none for a pure search method) and labelled cells."""
    scored, labelled = _choose(p.pool, seed, cfg.sample if p.ranks else 1, p.labels)
    scored = scored if p.ranks else []
    return (scored[cfg.shard[0]::cfg.shard[1]] if cfg.shard else scored), labelled


def _resumable(old: dict, done: set[tuple[str, int]], seed: int, scored: list[str], out: Path,
               log: Callable[[str], None]) -> bool:
    """Whether a seed an earlier session finished can be kept as it is: run.json says it is complete
    and scores.csv still holds every row it recorded. A file that lost rows (a crash, a full disk,
    an editor) is never summarised as complete: the seed is run again, scoring only the cells
    whose rows are missing, and the run says so."""
    record = old.get("seeds", {}).get(str(seed), {})
    recorded, have = missing_rows(old, done, seed, scored)
    if have < recorded or (record.get("complete") and have < len(scored)):
        log(f"benchsuite: note: seed {seed}: {out / 'scores.csv'} holds {have} of the {max(recorded, len(scored))} "
            f"rows run.json records; scoring the {len(scored) - have} missing cells again")
        return False
    return bool(record.get("complete"))


class _Terminated(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl-C: the run stops between chunks and says so in run.json."""


@contextlib.contextmanager
def _terminate_as_interrupt():
    if threading.current_thread() is not threading.main_thread():
        yield   # signals reach the main thread only (e.g. a Dask worker's task thread)
        return

    def handler(signum, frame):
        raise _Terminated()

    before = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def _score(selector, ctx: Context, todo: list[str], bench, key: tuple, cfg: RunConfig, out: Path,
           record: dict) -> None:
    """Score ``todo`` chunk by chunk, appending each chunk to scores.csv as soon as it is done and
    counting it in ``record`` (so an interrupted run.json says how many are really there)."""
    if not todo:
        return
    truth = dict(zip(todo, bench.accuracy(todo, *key)))
    with Progress(len(todo), f"{cfg.selector} seed {ctx.seed}", unit="cell") as bar:
        size = len(todo) if selector.ranks_jointly else (cfg.chunk or selector.score_chunk)
        for i in range(0, len(todo), size):
            chunk = todo[i:i + size]
            s = np.asarray(selector.score(chunk, ctx), dtype=float)
            _check_scores(cfg.selector, chunk, s)
            append_rows(out / "scores.csv", ((a, ctx.seed, repr(float(v)), repr(float(truth[a])))
                                             for a, v in zip(chunk, s)))
            record["n_scored"] += len(chunk)
            bar.update(len(chunk))


def _check_scores(name: str, chunk: list[str], s: np.ndarray) -> None:
    """One float per arch: finite, -inf (the proxy's own worst value, e.g. the log of a zero; ranked
    last, kept in every metric) or NaN (could not score); else a one-line error naming the arch."""
    if s.shape != (len(chunk),):
        raise SelectorError(f"selector {name!r} returned {s.size} scores for {len(chunk)} archs (it is called on "
                            "chunks of the cells and must return one score per arch)")
    if np.isposinf(s).any():
        i = int(np.flatnonzero(np.isposinf(s))[0])
        raise SelectorError(f"selector {name!r} scored {chunk[i]} as {s[i]}; scores must be finite numbers, -inf "
                            "for its worst value, or NaN for a cell it cannot score")
