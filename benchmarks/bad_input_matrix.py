"""The bad-input matrix: what a newcomer types wrong, and what benchsuite answers.

Runs each case as a fresh process in a scratch folder, as a user with no data bundle, no images,
no network and an empty cache would (``BENCHSUITE_DATA`` unset, ``BENCHSUITE_OFFLINE=1``), and
prints one Markdown row per case: the command, its exit code, the last line it printed to stderr,
and whether it left files behind where it should not. Every refusal must be exit 2 with one line
and nothing left behind; ``check`` exits 1 only for a metric that got worse.

    python benchmarks/bad_input_matrix.py [--keep]
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PY = [sys.executable, "-m", "benchsuite"]


def sh(args, cwd, env, timeout=600, interrupt_after=None):
    if interrupt_after is None:
        r = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
        return r.returncode, r.stdout, r.stderr
    p = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(interrupt_after)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=timeout)
    return p.returncode, out, err


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keep", action="store_true", help="keep the scratch folder")
    a = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bad-inputs-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("BENCHSUITE_")}
    env.update(BENCHSUITE_CACHE=str(root / "cache"), BENCHSUITE_OFFLINE="1", OMP_NUM_THREADS="1",
               MPLBACKEND="Agg")
    (root / "empty").mkdir()
    (root / "cachefile").write_text("x")
    (root / "random.pth").write_bytes(os.urandom(4096))
    (root / "bad.toml").write_text('[suite]\nname = "b"\n[defaults]\nsampel = 20\n[[row]]\nname = "p"\n'
                                   'selector = "params"\n')
    (root / "ok.toml").write_text('[suite]\nname = "ok"\n[[row]]\nname = "p"\nselector = "params"\nsample = 30\n')
    (root / "baseline.csv").write_text("row,metric,value\np,spearman_mean,0.5\n")
    (root / "garbage.csv").write_bytes(os.urandom(300))
    rows = []

    def case(label, args, *, expect, leaves=(), setup=None, cwd=None, env_extra=None, interrupt_after=None,
             check=None):
        if setup:
            setup()
        e = dict(env, **(env_extra or {}))
        code, out, err = sh(args, cwd or root, e, interrupt_after=interrupt_after)
        left = [str(p.relative_to(root)) for p in map(Path, leaves) if p.exists()]
        note = check(out, err) if check else ""
        shown = " ".join(str(x) for x in args[3:] if x is not None).replace(str(root) + "/", "")
        ok = code == expect and not left and (not check or note.startswith("ok"))
        rows.append((label, shown, code, last_line(err) or last_line(out), ", ".join(left) or "-", note,
                     "yes" if ok else "**NO**"))
        print(f"| {' | '.join(map(str, rows[-1]))} |", flush=True)

    print("| case | command | exit | last line printed | left behind | check | as it should |")
    print("|---|---|---|---|---|---|---|")
    run = [*PY, "run", "--bench", "nb201"]
    # -- 1-3: wrong numbers
    case("1 evaluate(f(archs, invert=False))", [sys.executable, "-c",
         "import benchsuite as b\ndef f(archs, invert=False):\n    return [a.count('conv') * (-1 if invert else 1) "
         "for a in archs]\nr = b.evaluate(f, sample=200, seeds=[0, 1], n_boot=0)\n"
         "m = r.metrics[r.metrics.metric == 'spearman']\nprint(dict(zip(m.seed, m.value.round(3))))"], expect=0,
         check=lambda o, e: ("ok " if "-" not in o.split("{")[-1] else "negative rho ") + o.strip()[-60:])
    case("2 all-NaN scores", [sys.executable, "-c",
         "import benchsuite as b\nr = b.evaluate(lambda a: [float('nan')] * len(a), sample=100, n_boot=0)\n"
         "print(r.summary['top10_acc_mean'], r.summary['precision_at_10pct_mean'])"], expect=0,
         check=lambda o, e: ("ok " if o.split() == ["nan", "nan"] else "numbers ") + o.strip())
    trunc = root / "trunc"

    def truncate():
        sh([*run, "--selector", "params", "--sample", "5000", "--n-boot", "0", "--no-plots", "--out", str(trunc)],
           root, env)
        lines = (trunc / "scores.csv").read_text().splitlines(keepends=True)
        (trunc / "scores.csv").write_text("".join(lines[:1001]))
    case("3 truncated scores.csv resumed", [*run, "--selector", "params", "--sample", "5000", "--n-boot", "0",
         "--no-plots", "--resume", "--out", str(trunc)], expect=0, setup=truncate,
         check=lambda o, e: "ok: " + next((x for x in o.splitlines() if "holds" in x), "no note")[-70:])
    # -- 4: refused runs leave nothing
    case("4 proxy, no images", [*run, "--selector", "snip", "--sample", "5", "--out", str(root / "r4a")],
         expect=2, leaves=[root / "r4a"])
    case("4 cifar_dir= empty folder", [*run, "--selector", "snip", "--sample", "5", "--hp",
         f"cifar_dir={root / 'empty'}", "--out", str(root / "r4b")], expect=2, leaves=[root / "r4b"])
    case("4 resume a missing folder", [*run, "--selector", "params", "--resume", "--out",
         str(root / "DOES_NOT_EXIST")], expect=2, leaves=[root / "DOES_NOT_EXIST"])
    case("4 report on a missing folder", [*PY, "report", str(root / "nothing")], expect=2,
         leaves=[root / "results"])
    case("4 report on an empty folder", [*PY, "report", str(root / "empty")], expect=2, leaves=[root / "results"])
    case("4 dask suite without the extra", [*PY, "suite", "run", str(root / "ok.toml"), "--out",
         str(root / "s4"), "--engine", "dask"], expect=2 if not _has("distributed") else 0,
         leaves=[root / "s4"] if not _has("distributed") else [])
    case("4 .lock after a finished run", [*run, "--selector", "params", "--sample", "20", "--no-plots", "--out",
         str(root / "r4c")], expect=0, leaves=[root / "r4c" / ".lock"])
    # -- 5: a torn last row
    torn = root / "torn"

    def tear():
        sh([*run, "--selector", "params", "--sample", "300", "--n-boot", "0", "--no-plots", "--out", str(torn)],
           root, env)
        data = (torn / "scores.csv").read_bytes()
        (torn / "scores.csv").write_bytes(data[:-12])
    case("5 torn last row resumed", [*run, "--selector", "params", "--sample", "300", "--n-boot", "0",
         "--no-plots", "--resume", "--out", str(torn)], expect=0, setup=tear,
         check=lambda o, e: "ok: " + next((x for x in o.splitlines() if "cut off" in x), "no note")[-60:])
    # -- 6: Ctrl-C with the default --out
    case("6 Ctrl-C, default --out", [*run, "--selector", "synflow", "--hp", "C=8", "--hp", "N=2", "--sample",
         "400", "--no-plots"], expect=130, interrupt_after=12,
         check=lambda o, e: ("ok: folder exists" if "--out " in e and (root / e.split("--out ")[-1].strip()).is_dir()
                             else "folder missing"))
    # -- 7: check / report / baseline on bad files
    suite = root / "suite"
    case("7 suite for the checks", [*PY, "suite", "run", str(root / "ok.toml"), "--out", str(suite)], expect=0)
    case("7 check, malformed baseline", [*PY, "check", str(suite), "--baseline", str(root / "baseline.csv")],
         expect=2)
    case("7 check, garbage baseline", [*PY, "check", str(suite), "--baseline", str(root / "garbage.csv")],
         expect=2)
    cut = root / "cutrun"

    def cut_metrics():
        shutil.copytree(suite / "p", cut)
        text = (cut / "metrics.csv").read_text()
        (cut / "metrics.csv").write_text(text[:len(text) // 3])
    case("7 report, truncated metrics.csv", [*PY, "report", str(cut), "--out", str(root / "rep7")], expect=2,
         setup=cut_metrics, leaves=[root / "rep7"])

    def garble():
        shutil.copyfile(root / "garbage.csv", cut / "metrics.csv")
    case("7 report, garbage metrics.csv", [*PY, "report", str(cut), "--out", str(root / "rep7")], expect=2,
         setup=garble, leaves=[root / "rep7"])
    # -- 8: accepted silently before
    case("8 --data typo", [*run, "--selector", "params", "--data", "/nonexistent", "--out", str(root / "r8")],
         expect=2, leaves=[root / "r8"])
    case("8 BENCHSUITE_CACHE is a file", [*run, "--selector", "params", "--out", str(root / "r8b")], expect=2,
         leaves=[root / "r8b"], env_extra={"BENCHSUITE_CACHE": str(root / "cachefile")})
    case("8 --seeds 0-100000 (stopped)", [*run, "--selector", "params", "--sample", "20", "--seeds", "0-100000",
         "--no-plots", "--n-boot", "0", "--out", str(root / "r8c")], expect=130, interrupt_after=8,
         check=lambda o, e: "ok: " + next((x for x in o.splitlines() if "seeds x" in x), "no plan line")[:60])
    # -- 12: offline
    case("12 synflow, no images, offline", [*run, "--selector", "synflow", "--sample", "50", "--no-plots",
         "--out", str(root / "r12")], expect=0)
    case("12 data --fetch-cifar offline", [*PY, "data", "--fetch-cifar", "cifar10"], expect=2)
    # -- 13: messages
    case("13 --n-boot -3", [*run, "--selector", "params", "--n-boot", "-3", "--out", str(root / "r13")], expect=2,
         leaves=[root / "r13"])
    case("13 ctnas --labels 0", [*run, "--selector", "ctnas", "--labels", "0", "--out", str(root / "r13")],
         expect=2, leaves=[root / "r13"])
    case("13 unknown key in [defaults]", [*PY, "suite", "run", str(root / "bad.toml"), "--out", str(root / "s13")],
         expect=2, leaves=[root / "s13"])
    case("13 --seeds 3-1", [*run, "--selector", "params", "--seeds", "3-1", "--out", str(root / "r13")], expect=2,
         leaves=[root / "r13"])
    case("13 evaluate, an inf score", [sys.executable, "-c", "import benchsuite as b\n"
         "b.evaluate(lambda a: [float('inf')] * len(a), sample=20)"], expect=1,
         check=lambda o, e: "ok" if "SelectorError" in e and "as inf" in e else "unclear")
    case("13 random bytes as --official", [*run, "--selector", "params", "--official", str(root / "random.pth"),
         "--out", str(root / "r13")], expect=2, leaves=[root / "r13"])
    case("14 list --selector", [*PY, "list", "--selector", "rea"], expect=0,
         check=lambda o, e: "ok" if "default" in o else "no hyperparameters shown")
    bad = sum(r[-1] != "yes" for r in rows)
    print(f"\n{len(rows) - bad} of {len(rows)} cases as they should be; scratch folder {root}")
    if not a.keep:
        shutil.rmtree(root, ignore_errors=True)
    sys.exit(1 if bad else 0)


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


if __name__ == "__main__":
    main()
