"""Command line: ``benchsuite run | list | report | data | train-supernet``.

User errors (``BenchsuiteError``) print one line and exit with code 2; argparse errors too.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import BenchsuiteError, ConfigError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, no usage dump
        print(f"benchsuite: error: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


def _add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", dest="data_dir", help="data folder (default: $BENCHSUITE_DATA, then the cache)")
    p.add_argument("--official", "--nb201-pth", dest="official", metavar="PATH",
                   help="read accuracies from an official file instead: NB-201 .pth or NATS-Bench topology folder "
                        "(--bench nb201), nasbench_only108.tfrecord (--bench nb101)")


class _Help(argparse.HelpFormatter):
    """--help shows each option's default, unless it has none or its text already says it."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.default in (None, False, argparse.SUPPRESS) or "default" in text or action.default == []:
            return text
        return f"{text} (default: %(default)s)"


def _with_defaults(add):
    def add_parser(*args, **kwargs):
        kwargs.setdefault("formatter_class", _Help)
        return add(*args, **kwargs)
    return add_parser


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="benchsuite", description="How good is your NAS architecture selector?",
                 formatter_class=_Help)
    sub = ap.add_subparsers(dest="cmd", required=True, parser_class=_Parser)
    sub.add_parser = _with_defaults(sub.add_parser)

    r = sub.add_parser("run", help="score architectures with a selector and rank-correlate with the benchmark")
    r.add_argument("--bench", default="nb201", help="benchmark: nb201 or nb101 (`benchsuite list` shows coverage)")
    r.add_argument("--dataset", default="cifar10",
                   help="nb201: cifar10, cifar10-valid, cifar100, imagenet16; nb101: cifar10")
    r.add_argument("--selector", required=True, help="a registered selector (`benchsuite list`), e.g. params, "
                                                      "synflow, ctnas, rea")
    r.add_argument("--fidelity", type=int, help="training epochs of the true accuracy (nb201: 200 or 12)")
    r.add_argument("--acc", help="accuracy column: test or valid (default: test where available)")
    r.add_argument("--sample", type=int, help="score a seeded random sample of N architectures")
    r.add_argument("--labels", type=int, metavar="K",
                   help="labelled cells for a learned selector (validation accuracy; left out of every metric)")
    r.add_argument("--queries", type=int, metavar="N",
                   help="search methods: distinct cells each seed may query (default 500)")
    r.add_argument("--seeds", default="0", help="e.g. 0,1,2 or 0-4")
    r.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    r.add_argument("--out", help="output folder (default: results/runs/<bench>-<dataset>-<selector>-<time>)")
    r.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    r.add_argument("--hp", action="append", default=[], metavar="KEY=VALUE", help="selector hyperparameter")
    r.add_argument("--metrics", help="comma-separated ranking metrics (default: all)")
    r.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for the CIs")
    r.add_argument("--no-plots", action="store_true", help="draw no plots into the run folder after the run")
    r.add_argument("--compute", action="store_true",
                   help="compute a proxy even where the package's all-cell table holds it at these settings")
    r.add_argument("--table", metavar="NAME",
                   help="answer a proxy from this shipped table (e.g. nb201-cifar10) whatever --dataset: proxies "
                        "computed on those images, ranked against the dataset's accuracy")
    r.add_argument("--threads", type=int, metavar="N",
                   help="torch's CPU threads (default 1: faster than one per core for these small networks, "
                        "see benchmarks/perf_threads.py)")
    _add_data_args(r)

    t = sub.add_parser("train-supernet", help="train (or resume) the supernet(s) a weight-sharing selector uses, "
                                              "for later runs to load; runs under torchrun for DDP")
    t.add_argument("--selector", required=True)
    t.add_argument("--dataset", default="cifar10")
    t.add_argument("--seeds", default="0", help="e.g. 0,1,2 or 0-4: one supernet per seed")
    t.add_argument("--device", default="auto", help="auto | cpu | cuda[:N] (under torchrun: each rank's GPU)")
    t.add_argument("--hp", action="append", default=[], metavar="KEY=VALUE", help="selector hyperparameter")
    t.add_argument("--data", dest="data_dir")
    t.add_argument("--threads", type=int, metavar="N", help="torch's CPU threads (default 1; see `run --help`)")

    ls = sub.add_parser("list", help="benchmarks with coverage, selectors, metrics")
    ls.add_argument("--selector", metavar="NAME", help="show one selector: what it needs and its --hp settings")
    _add_data_args(ls)

    su = sub.add_parser("suite", help="run a suite file: one run folder per row, on this machine or a Dask cluster")
    su_sub = su.add_subparsers(dest="suite_cmd", required=True, parser_class=_Parser)
    sr = su_sub.add_parser("run", help="run every row of a suite (skips finished rows, resumes interrupted ones)")
    sr.add_argument("file", help="suite TOML, e.g. benchmarks/ci.toml")
    sr.add_argument("--out", required=True, help="suite folder: one subfolder per row")
    sr.add_argument("--engine", default="local", choices=("local", "dask"),
                    help="local: serial in this process; dask: rows (and shards) as tasks on a Dask cluster")
    sr.add_argument("--address", help="scheduler address of a running Dask cluster (default: a local cluster)")
    sr.add_argument("--scheduler-file", help="Dask scheduler file (e.g. written by workers started under SLURM)")
    sr.add_argument("--workers", type=int, help="workers of the local Dask cluster, one thread each (default: one per "
                                                 "core)")
    sr.add_argument("--no-plots", action="store_true", help="draw no plots into the row folders after the suite")
    sr.add_argument("--rows", help="run only the rows whose names match these comma-separated patterns "
                                   "(fnmatch, e.g. 'synflow-*,*-nb101'); the leaderboard still covers every "
                                   "finished row")

    ck = sub.add_parser("check", help="compare a suite folder with its golden table; exit 1 if a metric got worse")
    ck.add_argument("suite_dir")
    ck.add_argument("--baseline", required=True, help="golden table, e.g. results/baselines/ci.csv")

    bl = sub.add_parser("baseline", help="write the golden table of a finished suite folder")
    bl.add_argument("suite_dir")
    bl.add_argument("--out", required=True, help="golden table to write, e.g. results/baselines/ci.csv")

    rep = sub.add_parser("report", help="plots and a summary table from run folders; a suite folder's leaderboard")
    rep.add_argument("runs", nargs="+", help="run folders, or one suite folder (leaderboard)")
    rep.add_argument("--out", help="output folder (default: results/report; a suite's: DIR/leaderboard)")
    rep.add_argument("--published", help="published values to show beside ours "
                     "(default: the package's benchsuite/data/published.csv)")
    rep.add_argument("--format", choices=("md", "latex"), default="md",
                     help="latex: also write ranking.tex (and search.tex) as booktabs tables with CIs")
    rep.add_argument("--common", action="store_true",
                     help="recompute every run's metrics on the (arch, seed) pairs all runs share")

    d = sub.add_parser("data", help="where the data is; verify checksums; fetch missing files")
    _add_data_args(d)
    d.add_argument("--fetch", action="store_true", help="download missing files into the cache")
    d.add_argument("--url", help="mirror of the data bundle (default: $BENCHSUITE_DATA_URL)")
    d.add_argument("--fetch-cifar", choices=("cifar10", "cifar100"),
                   help="download the official CIFAR python archive (MD5-verified) into the cache")
    d.add_argument("--cifar-url", help="mirror of that archive (default: the official cs.toronto.edu URL)")
    return ap


def cmd_run(a) -> int:
    from .config import RunConfig, parse_hparams, parse_seeds
    from .runner import run

    if a.resume and not a.out:
        raise ConfigError("--resume needs --out DIR naming the run to continue")
    cfg = RunConfig(
        bench=a.bench, dataset=a.dataset, selector=a.selector, fidelity=a.fidelity, acc=a.acc, sample=a.sample,
        labels=a.labels, queries=a.queries,
        seeds=parse_seeds(a.seeds), device=a.device, out=a.out, resume=a.resume, hparams=parse_hparams(a.hp),
        metrics=tuple(m.strip() for m in a.metrics.split(",")) if a.metrics else None,
        data_dir=a.data_dir, official=a.official, n_boot=a.n_boot, threads=a.threads, compute=a.compute, table=a.table,
    ).resolved()
    if cfg.n_boot == 0:
        print("benchsuite: note: --n-boot 0: metrics.csv will have no bootstrap CIs for rho and tau", file=sys.stderr)
    try:
        out = run(cfg)
    except KeyboardInterrupt:
        print(f"benchsuite: interrupted; finished scores are kept in {cfg.out}/scores.csv; to continue, rerun "
              f"the same command with --resume --out {cfg.out}", file=sys.stderr)
        return 130
    if not a.no_plots:
        from .report import plot_run

        plot_run(out)
    return 0


def cmd_train_supernet(a) -> int:
    from .config import parse_hparams, parse_seeds
    from .runner import resolve_device
    from .selectors.base import Context
    from .selectors.registry import SELECTORS
    from .supernet.trainer import distributed, init_distributed_from_env

    cls = SELECTORS.get(a.selector)
    if "supernet" not in cls.inputs:
        raise ConfigError(f"selector {a.selector!r} trains no supernet; weight-sharing selectors: "
                          + ", ".join(n for n in SELECTORS.names() if "supernet" in SELECTORS.get(n).inputs))
    from .hparams import check
    from .threads import set_threads

    hp = check(cls, a.selector, parse_hparams(a.hp))
    set_threads(a.threads)
    device = init_distributed_from_env(a.device)
    device = resolve_device(device, True) if device == "auto" else device
    try:
        for seed in parse_seeds(a.seeds):
            try:
                sel = cls(**{**hp, "seed": seed, "device": device})
            except TypeError as e:
                raise ConfigError(f"selector {a.selector!r}: {e}") from None
            ctx = Context(space="nb201", dataset=a.dataset, seed=seed, device=device, data_dir=a.data_dir)
            for net in sel.train_all(ctx):
                if distributed()[0] == 0:
                    print(f"seed {seed}: {net.key} {'loaded' if net.loaded else 'trained'} "
                          f"({len(net.history)} epochs, {net.train_seconds:.1f} s, {net.images_per_s:.0f} img/s)")
    finally:
        if distributed()[1] > 1:
            import torch

            torch.distributed.destroy_process_group()
    return 0


def _official_fits(bench: str, path: str) -> bool:
    """Whether an official file is one of ``bench``'s formats (a missing path still errors in the reader)."""
    from .benchmarks import official

    try:
        official.kind_of(bench, Path(path))
    except ConfigError:
        return False
    except BenchsuiteError:
        return True
    return True


def _list_selector(name: str) -> int:
    """One selector's card: what it declares it can do and reads, and every --hp it takes."""
    from .hparams import describe
    from .selectors.base import CAPABILITIES
    from .selectors.registry import SELECTORS

    cls = SELECTORS.get(name)
    doc = (cls.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
    print(f"{name}: {' '.join(doc.split())}" if doc else name)
    can = [c for c in CAPABILITIES if c in cls.capabilities]   # rank, search, derive: in that order
    print(f"  can: {', '.join(can)}; spaces: {', '.join(sorted(cls.spaces))}; "
          f"reads: {', '.join(sorted(cls.inputs)) or 'the benchmark table only'}")
    rows = describe(cls)
    if not rows:
        print("  hyperparameters: none")
        return 0
    print("  hyperparameters (--hp KEY=VALUE):")
    width = max(len(r[0]) for r in rows)
    for key, typ, default, limit in rows:
        print(f"    {key:<{width}}  {typ:<14} default {default!r:<12} {limit}".rstrip())
    return 0


def cmd_list(a) -> int:
    from .benchmarks.registry import BENCHMARKS
    from .metrics import METRICS
    from .selectors.registry import SELECTORS

    if a.selector:
        return _list_selector(a.selector)

    print("benchmarks (dataset, fidelity in epochs, accuracy column: architectures covered):")
    for name in BENCHMARKS.names():
        kwargs = {"data_dir": a.data_dir}
        if a.official and _official_fits(name, a.official):
            kwargs["official_path"] = a.official
        try:
            bench = BENCHMARKS.create(name, **kwargs)
        except BenchsuiteError as e:
            print(f"  {name}: data not available: {e}")
            continue
        print(f"  {name} (space {bench.space}):")
        for c in bench.coverage():
            print(f"    {c.dataset:<14} {c.fidelity:>4} ep  {c.metric:<5} {c.n_archs:>6}   [{c.source}]")
    print("selectors: " + ", ".join(SELECTORS.names()) + "  (`benchsuite list --selector NAME`: what one can do, "
          "reads and takes)")
    print("metrics:   " + ", ".join(METRICS.names()))
    return 0


def cmd_report(a) -> int:
    from .report import report

    if len(a.runs) == 1 and (Path(a.runs[0]) / "suite.json").is_file():
        from .leaderboard import leaderboard

        if a.common:
            raise ConfigError("--common compares run folders on their shared cells; a suite's leaderboard takes "
                              "each row as it is")
        if a.format == "latex":
            raise ConfigError("--format latex writes run folders' tables; give the suite's row folders "
                              "(DIR/ROW ...) instead of the suite folder")

        written = leaderboard(a.runs[0], a.out, a.published)
        print(written[1].read_text())   # leaderboard.md
        for p in written:
            print(p)
        return 0
    if a.published:
        raise ConfigError("--published applies to a suite folder's leaderboard, not to run folders")
    written = report([Path(r) for r in a.runs], a.out or "results/report", common=a.common,
                     latex=a.format == "latex")
    print(written[1].read_text())   # summary.md
    for p in written:
        print(p)
    return 0


def cmd_suite(a) -> int:
    from .suite import run_suite

    try:
        out = run_suite(a.file, a.out, engine=a.engine, address=a.address, scheduler_file=a.scheduler_file,
                        workers=a.workers, command=["benchsuite", *a.argv],
                        only=[p for p in a.rows.split(",") if p] if a.rows else None)
    except BenchsuiteError:   # some rows failed: the finished ones still get their plots
        _plot_rows(a, Path(a.out))
        raise
    _plot_rows(a, out)
    print(f"suite finished: {out} (leaderboard: benchsuite report {out})")
    return 0


def _plot_rows(a, out: Path) -> None:
    from .report import plot_run
    from .suite import finished_rows

    for row in [] if a.no_plots else finished_rows(out):
        plot_run(row)


def cmd_check(a) -> int:
    from .golden import check, format_check

    table, code = check(a.suite_dir, a.baseline)
    print(format_check(table))
    if code:
        print("benchsuite: check failed: a metric moved the worse way past its tolerance", file=sys.stderr)
    return code


def cmd_baseline(a) -> int:
    from .golden import build_baseline

    table = build_baseline(a.suite_dir, a.out, ["benchsuite", *a.argv])
    print(f"{len(table)} golden metrics from {table.row.nunique()} rows -> {a.out}")
    return 0


def _print_official(path: str | None, data_dir: str | None) -> None:
    """The official files accepted instead of the tables, and what one given with --official holds."""
    from .benchmarks import official
    from .benchmarks.registry import BENCHMARKS

    print("official files, read instead of the tables with --official PATH:")
    for bench, formats in official.FORMATS.items():
        for name, provides in formats:
            print(f"  {bench}: {name}\n  {'':<7}provides: {provides}")
    if path:
        fits = [name for name in BENCHMARKS.names() if _official_fits(name, path)]
        if not fits:
            raise ConfigError(f"{path} is none of the official formats above")
        for name in fits:
            bench = BENCHMARKS.create(name, data_dir=data_dir, official_path=path)
            print(f"{path} ({name}) provides:")
            for c in bench.coverage():
                print(f"    {c.dataset:<14} {c.fidelity:>4} ep  {c.metric:<5} {c.n_archs:>6}")


def cmd_data(a) -> int:
    import os

    from .benchmarks import sources

    if a.fetch_cifar:
        from .data.cifar_fetch import fetch_cifar

        print(f"{a.fetch_cifar} python batches (verified): {fetch_cifar(a.fetch_cifar, url=a.cifar_url)}")
    if a.fetch:
        url = a.url or os.environ.get("BENCHSUITE_DATA_URL")
        if not url:
            raise ConfigError("--fetch needs --url or $BENCHSUITE_DATA_URL (a mirror of the data bundle)")
        for row in sources.status(a.data_dir):
            if row["status"] == "missing":
                print(f"fetched {sources.download(row['file'], url)}")
    rows = sources.status(a.data_dir)
    print(f"looking in: {', '.join(str(d) for d in sources.search_dirs(a.data_dir))}")
    for r in rows:
        print(f"  {r['status']:<18} {r['file']:<38} {r['path'] or '-'}")
        print(f"  {'':<18} provides: {r['what']}")
    _print_official(a.official, a.data_dir)
    bad = [r for r in rows if r["status"] not in ("ok", "embedded")]
    if bad:
        print(f"{len(bad)} of {len(rows)} files missing or failing their checksum; to get them, {sources.HOW_TO_GET}")
        if all(r["file"].startswith("images/") and r["status"] == "missing" for r in bad):
            print("(without the image subsets, selectors that need images download the official CIFAR archive on "
                  "first use; `benchsuite data --fetch-cifar cifar10` does it now)")
        return 1
    print(f"all {len(rows)} files present and verified"
          + (" (accuracy tables from the package's embedded copies)" if any(r["status"] == "embedded" for r in rows)
             else ""))
    return 0


def _check_places(a) -> None:
    """A mistyped --data or a cache path that is a file: one line now, not a silent fallback to
    other sources (or a failure deep inside a run)."""
    from .benchmarks.sources import cache_dir, search_dirs

    search_dirs(getattr(a, "data_dir", None))
    if a.cmd in ("run", "list", "data", "train-supernet", "suite"):
        cache_dir()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.argv = argv   # recorded by the commands that write what made them (suite.json, baselines)
    try:
        _check_places(args)
        return {"run": cmd_run, "list": cmd_list, "report": cmd_report, "data": cmd_data, "suite": cmd_suite,
                "check": cmd_check, "baseline": cmd_baseline, "train-supernet": cmd_train_supernet}[args.cmd](args)
    except BenchsuiteError as e:
        print(f"benchsuite: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:   # output piped into `head` and the like: stop quietly
        sys.stderr.close()
        return 0
    except OSError as e:   # an unwritable or vanished path: say which, in one line, not a traceback
        where = f" {e.filename}" if e.filename else ""
        print(f"benchsuite: error: cannot read or write{where}: {e.strerror or e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
