"""Golden tables: a suite's headline metrics committed with the identity of their inputs, and the
check that fails a build when a metric moves the worse way past its tolerance.

A golden row is a suite row's aggregate over seeds (``<metric>_mean``, and for searches
``queries_to_optimum_median`` and ``optimum_reached``), with its direction (which way is better),
its tolerance and the rule that set it, and the inputs' identity: a hash of the cells scored and
labelled per seed, a hash of the data files' checksums, a hash of the row's settings and the
benchsuite version. A changed input is an error, never a comparison.

Tolerance rule (``tolerance``): a selector that uses no torch (baselines, random, random search,
REA; run.json's ``uses_torch`` says which) is a pure function of its inputs, so its metrics must
come back exactly (to 1e-9, relative).
Everything computed or trained with torch may move with the platform's floating point, so it gets
max(floor, 3·SE) with SE the standard error over the golden run's seeds (std/√seeds) and a floor
per metric (FLOORS: 0.02 for correlations, 0.05 for precision@k%, 0.3 percentage points for
accuracies and regret, 25% of the value for queries to the optimum, 0.2 for the share of seeds
that reached it).
"""
from __future__ import annotations

import hashlib
import json
import math
import shlex
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import BenchsuiteError, ConfigError
from .report_inputs import check_run, read_csv, read_json, read_metrics, read_run_json, read_scores, read_suite

LOWER_IS_BETTER = ("regret", "queries_to_optimum")
FLOORS = {"spearman": 0.02, "kendall": 0.02, "pearson": 0.02, "precision": 0.05, "acc": 0.3, "regret": 0.3,
          "best_test_at": 0.3, "optimum_reached": 0.2}
GOLDEN_COLUMNS = ["row", "bench", "dataset", "fidelity", "acc_metric", "selector", "metric", "value", "n_archs",
                  "labels", "direction", "tolerance", "rule", "cells_sha256", "data_sha256", "settings_sha256",
                  "version"]
IDENTITY = ("cells_sha256", "data_sha256", "settings_sha256", "version")
# What check reads of a golden table; the other columns only describe the row to a reader.
CHECKED_COLUMNS = ["row", "metric", "value", "direction", "tolerance", *IDENTITY]


class ChangedInputError(BenchsuiteError):
    """A run's inputs (cells, data, settings, version) differ from the golden table's."""


def _base(metric: str) -> str:
    for suffix in ("_mean", "_median"):
        if metric.endswith(suffix):
            return metric[: -len(suffix)]
    return metric


def direction(metric: str) -> str:
    return "lower" if _base(metric) in LOWER_IS_BETTER else "higher"


def _floor(metric: str, golden: float) -> float:
    base = _base(metric)
    if base == "queries_to_optimum":
        return 0.25 * golden if math.isfinite(golden) else 0.0
    for key in ("best_test_at", "precision", "optimum_reached", "spearman", "kendall", "pearson", "regret", "acc"):
        if key in base:
            return FLOORS[key]
    return 0.02


def tolerance(metric: str, golden: float, *, uses_torch: bool, std: float, seeds: int) -> tuple[float, str]:
    if not uses_torch:
        return 1e-9 * max(1.0, abs(golden)) if math.isfinite(golden) else 0.0, "exact"
    se = 3 * std / math.sqrt(seeds) if seeds > 1 and std == std else 0.0
    return max(_floor(metric, golden), se), "max(floor, 3·SE over seeds)"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def row_identity(run_dir: Path) -> dict[str, str]:
    """What a row's numbers are a function of, besides the code: cells, data, settings, version."""
    run = read_json(run_dir / "run.json", "run manifest", ("args", "seeds", "data", "versions"))
    if not isinstance(run["data"], dict) or "checksums" not in run["data"]:
        raise ConfigError(f"run manifest {run_dir / 'run.json'} lacks data.checksums (damaged?)")
    scores = read_scores(run_dir)
    cells = sorted(f"{a}\t{s}" for a, s in zip(scores.arch, scores.seed))
    cells += sorted(f"L\t{a}\t{s}" for s, info in run["seeds"].items() for a in info.get("labelled_excluded", []))
    args = run["args"]
    from .config import RunConfig

    # Unset settings are left out, so that a setting added later (unset in old runs) keeps old hashes.
    settings = {k: args[k] for k in (*RunConfig.IDENTITY, "seeds", "metrics", "n_boot") if args.get(k) is not None}
    return {"cells_sha256": _sha("\n".join(cells)),
            "data_sha256": _sha(json.dumps(run["data"]["checksums"], sort_keys=True)),
            "settings_sha256": _sha(json.dumps(settings, sort_keys=True)),
            "version": str(run["versions"].get("benchsuite"))}


def uses_torch(run_dir: Path) -> bool:
    """Whether the row's selector computes with torch, as its run.json records it. Golden tables
    are read from run folders alone (not from the selectors installed now, which may have changed
    since the run). A run.json without the key (from a benchsuite that does not record it) gets
    the wider torch tolerance: it may let a small real drift through, but never fails an exact
    rerun."""
    value = read_run_json(run_dir).get("uses_torch", True)
    if not isinstance(value, bool):
        raise ConfigError(f"run manifest {run_dir / 'run.json'}: uses_torch must be true or false, not {value!r}")
    return value


def _checked(m: pd.DataFrame) -> pd.DataFrame:
    agg = m[m.seed == "all"]
    keep = agg.metric.str.endswith("_mean") | agg.metric.isin(["queries_to_optimum_median", "optimum_reached"])
    return agg[keep & ~agg.metric.str.contains("_ci_")]


def build_baseline(suite_dir: str | Path, out_file: str | Path, command: list[str]) -> pd.DataFrame:
    """The golden table of a finished suite folder, written with the commands that made it."""
    suite_dir = Path(suite_dir)
    suite = read_suite(suite_dir)
    run_dirs = [suite_dir / name for name in suite["rows"]]
    if not run_dirs:
        raise ConfigError(f"suite folder {suite_dir} lists no rows: nothing to make a baseline of")
    for run_dir in run_dirs:
        if not (run_dir / "metrics.csv").is_file():
            raise ConfigError(f"{run_dir} has no metrics.csv: finish the suite before making a baseline")
    # Every row's files are read (and checked) before the golden table is written.
    rows, runs = [], [(check_run(d), row_identity(d)) for d in run_dirs]
    for run_dir, ident in runs:
        m = read_metrics(run_dir)
        stds = m[m.seed == "all"].set_index("metric").value
        seeds = m[m.seed != "all"].seed.nunique()
        torch_row = uses_torch(run_dir)
        for r in _checked(m).itertuples():
            std = float(stds.get(f"{_base(r.metric)}_std", float("nan")))
            tol, rule = tolerance(r.metric, float(r.value), uses_torch=torch_row, std=std, seeds=seeds)
            rows.append({"row": run_dir.name, **{c: getattr(r, c) for c in GOLDEN_COLUMNS[1:10]},
                         "direction": direction(r.metric), "tolerance": tol, "rule": rule, **ident})
    table = pd.DataFrame(rows, columns=GOLDEN_COLUMNS)
    out_file = Path(out_file)
    if out_file.is_dir():
        raise ConfigError(f"--out {out_file} is a folder: name the golden table's file, e.g. {out_file}/ci.csv")
    made_by = suite.get("command")
    sha = str((suite.get("suite") or {}).get("sha256", "unknown"))[:16]
    header = (f"# made by: {shlex.join(command)}\n"
              f"# from a suite run made by: {shlex.join(made_by) if made_by else 'unknown'} (suite file sha256 "
              f"{sha})\n")
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text(header + table.to_csv(index=False))
    return table


def read_baseline(path: str | Path) -> pd.DataFrame:
    """A golden table, checked: the columns check reads, at least one row, numbers where numbers
    go and a direction of higher or lower (one-line errors naming the file)."""
    gold = read_csv(path, "baseline", CHECKED_COLUMNS, comment="#", by_run=False,
                    dtype={"row": str, "version": str, **{k: str for k in IDENTITY}},
                    keys=("row", "metric", "direction", "tolerance", *IDENTITY),   # a NaN value is a golden NaN
                    numbers=("value", "tolerance"))
    odd = sorted(set(gold.direction) - {"higher", "lower"})
    if odd:
        raise ConfigError(f"baseline {path}: direction must be higher or lower, not {', '.join(map(repr, odd[:3]))}")
    return gold


def check(suite_dir: str | Path, baseline: str | Path) -> tuple[pd.DataFrame, int]:
    """(table of every checked metric with its verdict, exit code: 0 pass, 1 a metric got worse).

    Raises ChangedInputError when a row's inputs differ from the golden ones."""
    gold = read_baseline(baseline)
    suite_dir = Path(suite_dir)
    read_suite(suite_dir)   # a missing folder or one that is no suite folder: say so, not "inputs changed"
    finished = [name for name in gold.row.unique() if (suite_dir / name / "metrics.csv").is_file()]
    if not finished:
        raise ConfigError(f"suite folder {suite_dir} has no finished rows of baseline {baseline} "
                          f"({', '.join(gold.row.unique()[:5])}): run the suite first")
    changed, out = [], []
    for name, g in gold.groupby("row", sort=False):
        run_dir = suite_dir / name
        if not (run_dir / "metrics.csv").is_file():
            changed.append(f"{name}: no finished run in {suite_dir}")
            continue
        now = _checked(read_metrics(run_dir)).set_index("metric").value   # read first: a bad file is named
        ident = row_identity(run_dir)
        diff = [k for k in IDENTITY if str(ident[k]) != str(g[k].iloc[0])]
        if diff:
            changed.append(f"{name}: {', '.join(diff)} differ")
            continue
        for r in g.itertuples():
            value = float(now.get(r.metric, float("nan")))
            out.append({"row": name, "metric": r.metric, "golden": r.value, "now": value,
                        "delta": value - r.value if np.isfinite([value, r.value]).all() else float("nan"),
                        "tolerance": r.tolerance, "verdict": _verdict(r.value, value, r.tolerance, r.direction)})
    if changed:
        raise ChangedInputError(f"inputs changed for {len(changed)} row(s), so there is nothing to compare: "
                                + "; ".join(changed) + " (rerun the suite as the baseline was made, or regenerate "
                                "the baseline with `benchsuite baseline`)")
    table = pd.DataFrame(out)
    return table, int((table.verdict == "worse").any()) if len(table) else 0


def _verdict(golden: float, now: float, tol: float, way: str) -> str:
    if golden == now or (golden != golden and now != now):
        return "same"
    if not (np.isfinite(golden) and np.isfinite(now)):
        better = (now > golden) if way == "higher" else (now < golden)
        return "better (stale golden)" if better and now == now else "worse"
    gain = (now - golden) if way == "higher" else (golden - now)
    if gain < -tol:
        return "worse"
    if gain > tol:
        return "better (stale golden)"
    return "within tolerance"


def format_check(table: pd.DataFrame) -> str:
    """What moved, one line per metric that is not the same, then the counts."""
    if table.empty:
        return "no metrics to check"
    moved = table[table.verdict != "same"]
    lines = []
    if len(moved):
        lines.append(moved.to_string(index=False, float_format=lambda v: f"{v:.6g}"))
    counts = table.verdict.value_counts()
    lines.append(f"{len(table)} metrics checked: " + ", ".join(f"{n} {v}" for v, n in counts.items()))
    return "\n".join(lines)
