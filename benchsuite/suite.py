"""Suites: a TOML file of runs, each row one ``RunConfig``, run into one folder per row.

    [suite]
    name = "ci"
    [defaults]              # applied to every row, a row's own keys win
    bench = "nb201"
    seeds = [0, 1]
    [[row]]
    name = "params-full"    # the row's folder under --out
    selector = "params"
    hp = { num_classes = 10 }
    [[grid]]                # one row per selector x column, named "<selector>-<column>"
    selector = ["synflow", "snip"]
    table = "nb201-cifar10" # any row key but name and selector: shared by the grid's rows
    column.c10-test200 = { dataset = "cifar10", fidelity = 200, acc = "test" }
    column.c10-test12 = { dataset = "cifar10", fidelity = 12, acc = "test" }

Rows come in file order, the [[row]]s first, then each grid's, selector by selector (a study of
many proxies over the same columns is one grid, not a row per pair; a column's keys win over
the grid's, the grid's over [defaults]). Row keys: name, bench, dataset, fidelity, acc, selector,
hp, sample, seeds (a list or "0-4"), labels, queries, metrics, n_boot, device, shards, official,
table, compute. ``shards = K`` splits a ranking row's cells into K tasks (a whole-space proxy job
spread over workers); their scores are merged, in the order a serial run writes them, into the
row's own scores.csv, so the row's metrics are the serial ones.

``run_suite`` skips rows already finished with the same identity, resumes interrupted ones and
refuses a folder run with other settings. The engine is local (serial, in this process) or Dask
(``--engine dask``): every row or shard is a task on a ``distributed`` cluster — a local one, or
the scheduler at ``--address`` / ``--scheduler-file`` (e.g. workers started by SLURM through
Dask's own launcher); a row with ``device = "cuda"`` asks the engine for a worker resource ``GPU``.
The runner stays serial and deterministic, so a row's results are the same on either engine.
"""
from __future__ import annotations

import csv
import fnmatch
import hashlib
import json
import sys
import time
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import manifest
from .config import RunConfig, parse_seeds
from .errors import BenchsuiteError, ConfigError

ROW_KEYS = ("name", "bench", "dataset", "fidelity", "acc", "selector", "hp", "sample", "seeds", "labels", "queries",
            "metrics", "n_boot", "device", "shards", "official", "table", "compute")


@dataclass(frozen=True)
class Row:
    name: str
    config: RunConfig     # without ``out``: run_suite sets it to DIR/name
    shards: int = 1

    @property
    def gpu(self) -> bool:
        return self.config.device.startswith("cuda")


def _check_keys(spec: dict[str, Any], where: str) -> None:
    unknown = sorted(set(spec) - set(ROW_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key {', '.join(unknown)}; rows take: {', '.join(ROW_KEYS)}")


def _row_config(spec: dict[str, Any], where: str) -> Row:
    _check_keys(spec, where)
    if "name" not in spec or "selector" not in spec:
        raise ConfigError(f"{where}: every row needs a name and a selector")
    name = str(spec["name"])
    if not name or any(not (c.isalnum() or c in "-_.") for c in name):
        raise ConfigError(f"{where}: row name {name!r} must be letters, digits, '-', '_' or '.' (it names a folder)")
    seeds = spec.get("seeds", [0])
    seeds = parse_seeds(seeds) if isinstance(seeds, str) else tuple(int(s) for s in seeds)
    metrics = spec.get("metrics")
    kwargs = {k: spec[k] for k in ("bench", "dataset", "fidelity", "acc", "sample", "labels", "queries", "n_boot",
                                   "device", "official", "table", "compute") if k in spec}
    try:
        cfg = RunConfig(selector=str(spec["selector"]), seeds=seeds, hparams=dict(spec.get("hp", {})),
                        metrics=tuple(metrics) if metrics else None, **kwargs)
    except TypeError as e:
        raise ConfigError(f"{where}: {e}") from None
    shards = int(spec.get("shards", 1))
    if shards < 1:
        raise ConfigError(f"{where}: shards must be at least 1, got {shards}")
    return Row(name, cfg, shards)


def _grid_specs(grid: dict[str, Any], where: str) -> list[tuple[dict[str, Any], str]]:
    """The row specs (without [defaults]) of one [[grid]], each with where an error points."""
    selectors, columns = grid.get("selector"), grid.get("column")
    if not isinstance(selectors, list) or not selectors or not all(isinstance(s, str) for s in selectors):
        raise ConfigError(f"{where}: selector must be a non-empty list of selector names")
    if not isinstance(columns, dict) or not columns or not all(isinstance(c, dict) for c in columns.values()):
        raise ConfigError(f"{where}: needs column.<name> = {{ row keys }} tables, one per column")
    shared = {k: v for k, v in grid.items() if k not in ("selector", "column")}
    for keys, at in ((shared, where), *((c, f"{where} column {n}") for n, c in columns.items())):
        _check_keys(keys, at)
        if "name" in keys or "selector" in keys:
            raise ConfigError(f"{at}: a grid names its rows <selector>-<column>; it takes no name or selector here")
    return [({**shared, **keys, "name": f"{sel}-{col}", "selector": sel}, f"{where} row {sel}-{col}")
            for sel in selectors for col, keys in columns.items()]


def load_suite(path: str | Path) -> tuple[dict[str, Any], list[Row]]:
    """(the [suite] table plus the file's sha256, the rows) of a suite file; one-line errors."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        doc = tomllib.loads(raw.decode())
    except OSError as e:
        raise ConfigError(f"cannot read suite {path}: {e.strerror or e}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"suite {path} is not valid TOML: {e}") from None
    extra = sorted(set(doc) - {"suite", "defaults", "row", "grid"})
    if extra:
        raise ConfigError(f"suite {path}: unknown table {', '.join(extra)}; "
                          "a suite has [suite], [defaults], [[row]], [[grid]]")
    for kind in ("row", "grid"):
        if not isinstance(doc.get(kind, []), list):
            raise ConfigError(f"suite {path}: write [[{kind}]] (an array of tables), not [{kind}]")
    defaults = doc.get("defaults", {})
    _check_keys(defaults, f"suite {path.name} [defaults]")   # blamed on [defaults], not on its first row
    specs = [(r, f"suite {path.name} row {i + 1}") for i, r in enumerate(doc.get("row", []))]
    for i, grid in enumerate(doc.get("grid", [])):
        specs += _grid_specs(grid, f"suite {path.name} grid {i + 1}")
    rows = [_row_config({**defaults, **spec}, where) for spec, where in specs]
    if not rows:
        raise ConfigError(f"suite {path} has no [[row]] or [[grid]]")
    names = [r.name for r in rows]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"suite {path}: duplicate row names {', '.join(dup)}")
    meta = {**doc.get("suite", {}), "file": str(path), "sha256": hashlib.sha256(raw).hexdigest()}
    return meta, rows


# ----------------------------------------------------------------------------- one row
def row_state(cfg: RunConfig) -> str:
    """"done", "partial" (resume it) or "new"; a folder run with other settings is an error."""
    out = Path(cfg.out)
    run_json = out / "run.json"
    if not run_json.is_file():
        return "new"
    try:
        old = json.loads(run_json.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ConfigError(f"{out}: unreadable run.json ({e}); move the folder away to rerun the row") from None
    new = cfg.to_dict()
    diff = [k for k in (*RunConfig.IDENTITY, "seeds", "metrics", "n_boot") if old.get("args", {}).get(k) != new.get(k)]
    if diff:
        raise ConfigError(f"{out} holds a run with different {', '.join(diff)}; use another --out or move it away")
    return "done" if old.get("status") == "complete" and (out / "metrics.csv").is_file() else "partial"


def run_row(cfg_dict: dict[str, Any]) -> str:
    """Run (or resume) one row or shard; what an engine's task calls. Returns the folder."""
    from .runner import run

    cfg = RunConfig(**{**cfg_dict, "seeds": tuple(cfg_dict["seeds"]),
                       "metrics": tuple(cfg_dict["metrics"]) if cfg_dict.get("metrics") else None,
                       "shard": tuple(cfg_dict["shard"]) if cfg_dict.get("shard") else None})
    try:
        state = row_state(cfg)
        if state != "done":
            run(RunConfig(**{**cfg.__dict__, "resume": state == "partial"}), log=lambda _: None)
    except BenchsuiteError as e:   # plain ConfigError: it must cross back from a worker process
        raise ConfigError(str(e)) from None
    return str(cfg.out)


def _shard_configs(row: Row, out: Path) -> list[RunConfig]:
    return [RunConfig(**{**row.config.__dict__, "out": str(out / row.name / "shards" / str(i)),
                         "shard": (i, row.shards)}) for i in range(row.shards)]


def merge_shards(row: Row, out: Path) -> Path:
    """The row's scores.csv from its shards' rows, in the order a serial run writes them (shard i
    holds positions i, i + K, ... of every seed's cells), then metrics and run.json."""
    from .run_folder import SCORE_COLUMNS
    from .run_metrics import compute_metrics, summary_line

    dest = out / row.name
    parts = [dest / "shards" / str(i) for i in range(row.shards)]
    per: list[dict[str, list[list[str]]]] = []
    runs = []
    for p in parts:
        with open(p / "scores.csv", newline="") as f:
            rows = list(csv.reader(f))[1:]
        by_seed: dict[str, list[list[str]]] = {}
        for r in rows:
            by_seed.setdefault(r[1], []).append(r)
        per.append(by_seed)
        runs.append(json.loads((p / "run.json").read_text()))
    with open(dest / "scores.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(SCORE_COLUMNS)
        for seed in row.config.seeds:
            cols = [shard.get(str(seed), []) for shard in per]
            for k in range(max(len(c) for c in cols)):
                w.writerows(c[k] for c in cols if k < len(c))
    info = runs[0]
    info["args"] = {**RunConfig(**{**row.config.__dict__, "out": str(dest)}).to_dict()}
    info["shards"] = [{"folder": str(p), "wall_time_s": r.get("wall_time_s")} for p, r in zip(parts, runs)]
    info["wall_time_s"] = round(sum(r.get("wall_time_s", 0) for r in runs), 3)
    for seed in map(str, row.config.seeds):
        info["seeds"][seed]["n_scored"] = sum(r["seeds"][seed]["n_scored"] for r in runs)
    key = (info["column"]["dataset"], info["column"]["fidelity"], info["column"]["metric"])
    cfg = RunConfig(**{**row.config.__dict__, "out": str(dest)})
    mdf = compute_metrics(dest, cfg, key, n_boot=cfg.n_boot)
    mdf.to_csv(dest / "metrics.csv", index=False)
    manifest.write_json(dest / "run.json", info)
    print(summary_line(mdf, dest), file=sys.stderr)
    return dest


# ----------------------------------------------------------------------------- the suite
def _require_dask() -> None:
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise ConfigError("--engine dask needs the optional extra: pip install 'benchsuite[dask]'") from None


def _client(engine: str, address: str | None, scheduler_file: str | None, workers: int):
    from distributed import Client, LocalCluster

    from .threads import cores, thread_env

    if address or scheduler_file:
        return Client(address=address, scheduler_file=scheduler_file), None
    # one worker process per core at one thread each (every run also sets torch to --threads'
    # default of one), so the workers never oversubscribe the cores between them
    cluster = LocalCluster(n_workers=workers or cores(), threads_per_worker=1, processes=True,
                           dashboard_address=None, env=thread_env(1))
    return Client(cluster), cluster


def _select(rows: list[Row], only: Sequence[str] | None) -> list[Row]:
    """The rows whose names match a pattern of ``only`` (all rows when None); a pattern that matches
    none is an error naming the rows."""
    if not only:
        return rows
    missing = [p for p in only if not any(fnmatch.fnmatchcase(r.name, p) for r in rows)]
    if missing:
        raise ConfigError(f"--rows {', '.join(missing)} matches no row of this suite; its rows: "
                          f"{', '.join(r.name for r in rows)}")
    return [r for r in rows if any(fnmatch.fnmatchcase(r.name, p) for p in only)]


def run_suite(path: str | Path, out: str | Path, *, engine: str = "local", address: str | None = None,
              scheduler_file: str | None = None, workers: int | None = None, command: list[str] | None = None,
              only: Sequence[str] | None = None) -> Path:
    """Run every row of a suite into ``out/<row>``; returns ``out``. ``only``: row-name patterns
    (fnmatch), to run those rows alone; suite.json still lists every row, so the leaderboard
    covers all the finished ones."""
    from tqdm import tqdm

    if engine not in ("local", "dask"):
        raise ConfigError(f"--engine must be local or dask, got {engine!r}")
    if engine == "local" and (address or scheduler_file):
        raise ConfigError("--address / --scheduler-file need --engine dask")
    if engine == "dask":   # before the suite folder is made: a refused suite leaves nothing
        _require_dask()
    meta, rows = load_suite(path)
    out = Path(out)
    chosen = _select(rows, only)
    todo: list[Row] = []
    for row in chosen:
        cfg = RunConfig(**{**row.config.__dict__, "out": str(out / row.name)})
        if row_state(cfg) != "done":
            todo.append(row)
    out.mkdir(parents=True, exist_ok=True)
    record = {"suite": meta, "rows": [r.name for r in rows], "command": command or sys.argv, "engine": engine,
              "started": time.strftime("%Y-%m-%dT%H:%M:%S"), "skipped": [r.name for r in rows if r not in todo]}
    if only:
        record["selected"] = [r.name for r in chosen]
    manifest.write_json(out / "suite.json", record)
    failed: list[str] = []
    bar = tqdm(total=len(rows), initial=len(rows) - len(todo), desc=f"suite {meta.get('name', Path(path).stem)}",
               unit="row", file=sys.stderr)
    tasks = {r.name: (_shard_configs(r, out) if r.shards > 1 else
                      [RunConfig(**{**r.config.__dict__, "out": str(out / r.name)})]) for r in todo}
    if engine == "local":
        for row in todo:
            bar.set_postfix_str(row.name)
            try:
                for cfg in tasks[row.name]:
                    run_row(cfg.to_dict())
                if row.shards > 1:
                    merge_shards(row, out)
            except BenchsuiteError as e:
                failed.append(f"{row.name}: {e}")
            bar.update(1)
    else:
        client, cluster = _client(engine, address, scheduler_file, workers)
        try:
            from distributed import as_completed

            futures = {}
            for row in todo:
                res = {"GPU": 1} if row.gpu else None
                for cfg in tasks[row.name]:
                    futures[client.submit(run_row, cfg.to_dict(), pure=False, resources=res)] = row
            left = {r.name: len(tasks[r.name]) for r in todo}
            for fut in as_completed(futures):
                row = futures[fut]
                try:
                    fut.result()
                    left[row.name] -= 1
                    if left[row.name] == 0:
                        if row.shards > 1:
                            merge_shards(row, out)
                        bar.set_postfix_str(row.name)
                        bar.update(1)
                except BenchsuiteError as e:
                    failed.append(f"{row.name}: {e}")
                    left[row.name] = -1
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    bar.close()
    record.update(finished=time.strftime("%Y-%m-%dT%H:%M:%S"), failed=failed)
    manifest.write_json(out / "suite.json", record)
    if failed:
        raise ConfigError(f"{len(failed)} of {len(rows)} rows failed: " + "; ".join(failed))
    return out


def finished_rows(out: str | Path) -> list[Path]:
    """The row folders the last ``run_suite`` into ``out`` finished (not those it skipped as done);
    none where it was refused before writing suite.json."""
    out = Path(out)
    try:
        record = json.loads((out / "suite.json").read_text())
    except (OSError, json.JSONDecodeError):
        return []
    skipped = set(record.get("skipped", []))
    return [out / n for n in record.get("rows", []) if n not in skipped and (out / n / "metrics.csv").is_file()]


def suite_rows(out: str | Path) -> list[Path]:
    """The row folders of a suite folder, in the suite's order."""
    out = Path(out)
    try:
        names = json.loads((out / "suite.json").read_text())["rows"]
    except (OSError, json.JSONDecodeError, KeyError):
        raise ConfigError(f"{out} is not a suite folder: it has no readable suite.json") from None
    return [out / n for n in names]
