"""The files ``report``, ``check`` and ``baseline`` read — a run folder's CSVs and run.json, a
suite folder's suite.json, golden tables, published values — checked as they are read, so that a
missing, cut-off, garbled or foreign file is a one-line ``ConfigError`` naming the file and what is
wrong with it. The commands read every input this way before they make an output folder, so a bad
input leaves nothing behind.

A file a run writes always ends with a newline (pandas and the csv module both end every row
with one), so a last line without one means the file was cut off; that check is skipped for the
files people edit by hand (golden tables, published values).
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd

from .errors import ConfigError, short

METRIC_COLUMNS = ["bench", "dataset", "fidelity", "acc_metric", "selector", "seed", "metric", "value", "n_archs"]
SCORE_COLUMNS = ["arch", "seed", "score", "true_acc"]
TRAJECTORY_COLUMNS = ["seed", "query", "best_test_acc"]
TRAINING_COLUMNS = ["seed", "supernet", "epoch", "train_loss", "train_acc", "seconds", "images_per_s"]
DERIVED_COLUMNS = ["arch", "true_acc"]
# The seed-"all" statistics run_metrics.compute_metrics writes for every per-seed metric.
AGGREGATE_STATS = ("mean", "std", "ci_low", "ci_high", "median")
RESUME = "`benchsuite run ... --resume --out {}` rewrites it"


def read_csv(path: str | Path, what: str, columns: list[str], *, dtype: dict | None = None, by_run: bool = True,
             comment: str | None = None, rows: bool = True, keys: tuple[str, ...] = (),
             numbers: tuple[str, ...] = ()) -> pd.DataFrame:
    """``path`` as a table with ``columns`` (others may follow). ``rows``: it must have a data row;
    ``keys``: columns no row may leave empty; ``numbers``: columns whose values must be numbers
    (empty allowed); ``by_run``: written by benchsuite, so a missing final newline means cut off."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{what} {path}: no such file")
    if path.is_dir():
        raise ConfigError(f"{what} {path} is a folder, not a CSV file")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"cannot read {what} {path}: {e.strerror or e}") from None
    if not raw.strip():
        raise ConfigError(f"{what} {path} is empty")
    try:
        text = raw.decode()
    except UnicodeDecodeError as e:
        raise ConfigError(f"{what} {path} is not a readable CSV file (not UTF-8 text: byte "
                          f"{raw[e.start]:#04x} at offset {e.start})") from None
    if "\x00" in text:
        raise ConfigError(f"{what} {path} is not a readable CSV file (binary data)")
    if by_run and not text.endswith("\n"):
        raise ConfigError(f"{what} {path} is cut off: its last line is incomplete")
    try:
        df = pd.read_csv(io.StringIO(text), dtype=dtype, comment=comment)
    except pd.errors.EmptyDataError:
        raise ConfigError(f"{what} {path} is empty (no header line)") from None
    except (pd.errors.ParserError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(f"{what} {path} is not a readable CSV file ({short(first, 100)})") from None
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ConfigError(f"{what} {path} lacks the column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                          f"(its columns: {short(', '.join(map(str, df.columns)), 120)})")
    if rows and df.empty:
        raise ConfigError(f"{what} {path} has a header but no rows")
    for col in keys:
        empty = df[col].isna().to_numpy()
        if empty.any():
            raise ConfigError(f"{what} {path}: row {int(empty.argmax()) + 1} after the header has no {col} "
                              "(a cut-off or hand-edited file?)")
    for col in numbers:
        as_number = pd.to_numeric(df[col], errors="coerce")
        bad = (as_number.isna() & df[col].notna()).to_numpy()
        if bad.any():
            raise ConfigError(f"{what} {path}: row {int(bad.argmax()) + 1} after the header has a {col} that is not "
                              f"a number ({short(df[col].iloc[int(bad.argmax())], 40)})")
        df[col] = as_number
    return df


def read_json(path: str | Path, what: str, keys: tuple[str, ...] = ()) -> dict:
    """A JSON object with ``keys``; one-line errors for a missing, unreadable or foreign file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} {path}: no such file")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"{what} {path} is not readable JSON ({short(str(e), 100)})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{what} {path} is not a JSON object")
    missing = [k for k in keys if k not in data]
    if missing:
        raise ConfigError(f"{what} {path} lacks {', '.join(missing)} (not written by benchsuite, or damaged)")
    return data


# ----------------------------------------------------------------------------- run folders
def run_folder(run_dir: str | Path) -> Path:
    """``run_dir`` if it is a finished run's folder (metrics.csv and scores.csv), else why not."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise ConfigError(f"{run_dir}: no such folder")
    if not run_dir.is_dir():
        raise ConfigError(f"{run_dir} is a file, not a run folder")
    if (run_dir / "suite.json").is_file():
        raise ConfigError(f"{run_dir} is a suite folder: report it on its own (`benchsuite report {run_dir}`) "
                          "for its leaderboard, or give its row folders")
    missing = [f for f in ("metrics.csv", "scores.csv") if not (run_dir / f).is_file()]
    if missing:
        raise ConfigError(f"{run_dir} is not a finished run: it has no {' or '.join(missing)}")
    return run_dir


def _aggregates(metric: str) -> set[str]:
    """The seed-"all" rows a run writes for one per-seed metric (see run_metrics.compute_metrics)."""
    if metric == "queries_to_optimum":
        return {"queries_to_optimum_median", "optimum_reached"}
    return {f"{metric}_{stat}" for stat in AGGREGATE_STATS}


def read_metrics(run_dir: Path) -> pd.DataFrame:
    """metrics.csv, checked to be whole: per-seed rows, then every aggregate over seeds of each of
    their metrics — the aggregates come last, so a file cut at a line boundary lacks some."""
    path = run_dir / "metrics.csv"
    m = read_csv(path, "metrics file", METRIC_COLUMNS, dtype={"seed": str},
                 keys=("bench", "dataset", "fidelity", "acc_metric", "selector", "seed", "metric", "n_archs"),
                 numbers=("value", "fidelity", "n_archs"))
    per, agg = m[m.seed != "all"], set(m.metric[m.seed == "all"])
    names = {n for n in per.metric if not n.endswith(("_ci_low", "_ci_high"))}
    lost = sorted(set().union(*(_aggregates(n) for n in names)) - agg)
    if per.empty or lost:
        what = "per-seed rows" if per.empty else "aggregate rows " + ", ".join(lost[:3]) + ("..." if lost[3:] else "")
        raise ConfigError(f"metrics file {path} is incomplete (no {what}): cut off, or the run did not finish; "
                          + RESUME.format(run_dir))
    return m


def read_scores(run_dir: Path) -> pd.DataFrame:
    # A search method ranks nothing: its scores.csv is a header only.
    return read_csv(run_dir / "scores.csv", "scores file", SCORE_COLUMNS, dtype={"arch": str}, rows=False,
                    keys=("arch", "seed"), numbers=("seed", "score", "true_acc"))


def read_trajectory(run_dir: Path) -> pd.DataFrame:
    return read_csv(run_dir / "trajectory.csv", "trajectory file", TRAJECTORY_COLUMNS, dtype={"arch": str},
                    keys=("seed", "query", "best_test_acc"), numbers=("query", "best_test_acc"))


def read_training(run_dir: Path) -> pd.DataFrame:
    return read_csv(run_dir / "training.csv", "training file", TRAINING_COLUMNS,
                    numbers=("epoch", "train_loss", "train_acc", "seconds", "images_per_s"))


def read_derived(run_dir: Path) -> pd.DataFrame:
    return read_csv(run_dir / "derived.csv", "derived-cell file", DERIVED_COLUMNS, dtype={"arch": str},
                    numbers=("true_acc",))


def read_run_json(run_dir: Path, keys: tuple[str, ...] = ()) -> dict:
    """run.json, or {} where a run folder has none (made by hand, or by an older benchsuite)."""
    path = run_dir / "run.json"
    return read_json(path, "run manifest", keys) if keys or path.exists() else {}


def check_run(run_dir: str | Path) -> Path:
    """Read every file of a finished run that a report draws from, so a bad one stops the report
    before it writes anything."""
    run_dir = run_folder(run_dir)
    read_metrics(run_dir)
    read_scores(run_dir)
    read_run_json(run_dir)
    for name, reader in (("trajectory.csv", read_trajectory), ("training.csv", read_training),
                         ("derived.csv", read_derived)):
        if (run_dir / name).exists():
            reader(run_dir)
    return run_dir


# ----------------------------------------------------------------------------- suite folders
def read_suite(suite_dir: str | Path) -> dict:
    """suite.json of a suite folder (``benchsuite suite run`` writes it), with a clear error for a
    folder that is missing or is not a suite folder."""
    suite_dir = Path(suite_dir)
    if not suite_dir.is_dir():
        raise ConfigError(f"{suite_dir}: no such folder" if not suite_dir.exists()
                          else f"{suite_dir} is a file, not a suite folder")
    if not (suite_dir / "suite.json").exists():
        raise ConfigError(f"{suite_dir} is not a suite folder: it has no suite.json "
                          "(`benchsuite suite run FILE --out DIR` makes one)")
    suite = read_json(suite_dir / "suite.json", "suite file", ("rows",))
    if not isinstance(suite["rows"], list) or not all(isinstance(r, str) and r for r in suite["rows"]):
        raise ConfigError(f"suite file {suite_dir / 'suite.json'}: rows is not a list of row names")
    return suite


def finished_rows(suite_dir: str | Path) -> list[Path]:
    """The row folders of a suite that hold a finished run, each checked; none is an error."""
    suite_dir = Path(suite_dir)
    rows = [suite_dir / name for name in read_suite(suite_dir)["rows"]]
    done = [d for d in rows if (d / "metrics.csv").is_file()]
    if not done:
        raise ConfigError(f"suite folder {suite_dir} has no finished rows (none of its {len(rows)} row folders has "
                          "a metrics.csv): run or finish the suite first")
    return [check_run(d) for d in done]
