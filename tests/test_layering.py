"""What importing the reporting layer does and reads: no switch of the caller's matplotlib backend
(figures still drawn, as PNG and PDF), golden tables that take what they need from run.json
rather than from the selectors installed now, and published values shipped inside the package."""
import ast
import csv
import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from benchsuite.cli import main
from benchsuite.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]

SUITE = """
[suite]
name = "layers"
[defaults]
bench = "nb201"
dataset = "cifar10"
n_boot = 20
[[row]]
name = "params"
selector = "params"
sample = 30
seeds = [0, 1]
[[row]]
name = "rs"
selector = "random-search"
queries = 15
seeds = [0, 1]
"""


def _python(code: str, *, cwd: Path, env: dict | None = None) -> str:
    """Run ``code`` in a fresh interpreter with no MPLBACKEND (so only what the code and the
    imports it makes choose counts); its stdout, or the test fails with its stderr."""
    environ = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    environ.update(env or {})
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=environ, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    """A finished tiny suite (params over two seeds, a random search), from the embedded tables."""
    root = tmp_path_factory.mktemp("layers")
    (root / "s.toml").write_text(SUITE)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BENCHSUITE_CACHE", str(root / "cache"))
        mp.setenv("BENCHSUITE_OFFLINE", "1")
        assert main(["suite", "run", str(root / "s.toml"), "--out", str(root / "suite"), "--no-plots"]) == 0
    return root / "suite"


# ----------------------------------------------------------------------------- matplotlib backend
@pytest.mark.parametrize("backend", ["svg", "pdf"])
def test_importing_and_drawing_keep_the_callers_backend(suite, tmp_path, backend):
    runs = [str(suite / "params"), str(suite / "rs")]
    out = _python(f"""
        import matplotlib
        matplotlib.use({backend!r})
        import benchsuite, benchsuite.cli, benchsuite.golden, benchsuite.leaderboard, benchsuite.report
        import benchsuite.report_latex
        import sys
        print("imported", matplotlib.get_backend(), "matplotlib.pyplot" in sys.modules)
        from benchsuite.report import plot_run, report
        drawn = plot_run({runs[0]!r}) + report({runs!r}, {str(tmp_path / "rep")!r}, latex=True)
        drawn += benchsuite.leaderboard.leaderboard({str(suite)!r}, {str(tmp_path / "lb")!r})
        print("drawn", matplotlib.get_backend(), "matplotlib.pyplot" in sys.modules)
        print("\\n".join(map(str, drawn)))
    """, cwd=tmp_path)
    lines = out.splitlines()
    assert lines[0] == f"imported {backend} False" and lines[1] == f"drawn {backend} False"
    drawn = [Path(p) for p in lines[2:]]
    figures = [p for p in drawn if p.suffix == ".png"]
    expect = {suite / "params" / "scatter.png", suite / "params" / "rho.png", tmp_path / "rep" / "rho_compare.png",
              tmp_path / "rep" / "search_curves.png", tmp_path / "lb" / "leaderboard.png",
              tmp_path / "lb" / "search_curves_nb201_cifar10.png"}
    assert expect <= set(figures)
    for png in figures:   # every PNG has its PDF beside it, both real files of their kind
        pdf = png.with_suffix(".pdf")
        assert pdf in drawn and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 1000
        assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 1000
        assert b"/FontFile2" in pdf.read_bytes()   # TrueType fonts embedded, not Type 3


def test_the_same_figure_gives_the_same_pdf(suite, tmp_path):
    from benchsuite.report import plot_run

    first = (suite / "params" / "rho.pdf")
    plot_run(suite / "params")
    before = first.read_bytes()
    plot_run(suite / "params")
    assert first.read_bytes() == before


# ----------------------------------------------------------------------------- golden tables
def _set_uses_torch(run_dir: Path, value) -> None:
    path = run_dir / "run.json"
    run = json.loads(path.read_text())
    if value is None:
        run.pop("uses_torch", None)
    else:
        run["uses_torch"] = value
    path.write_text(json.dumps(run))


def _rules(gold: pd.DataFrame, row: str) -> set[str]:
    return set(gold.rule[gold.row == row])


def test_golden_tolerance_follows_run_json(suite, tmp_path):
    """params uses no torch, so its run.json says false and its metrics must come back exactly;
    the same row marked true, or unmarked (an older run.json), gets the wider torch rule: the rule
    is read from the run folder, not from the selector installed now."""
    from benchsuite.golden import build_baseline

    copy = tmp_path / "suite"
    shutil.copytree(suite, copy)
    assert json.loads((copy / "params" / "run.json").read_text())["uses_torch"] is False
    gold = build_baseline(copy, tmp_path / "g.csv", ["test"])
    assert _rules(gold, "params") == {"exact"} and _rules(gold, "rs") == {"exact"}
    exact = gold[gold.row == "params"].set_index("metric")
    assert (exact.tolerance <= 1e-9 * exact.value.abs().clip(lower=1)).all()

    torch_rule = "max(floor, 3·SE over seeds)"
    for value in (True, None):
        _set_uses_torch(copy / "params", value)
        gold = build_baseline(copy, tmp_path / "g.csv", ["test"])
        assert _rules(gold, "params") == {torch_rule} and _rules(gold, "rs") == {"exact"}
        wide = gold[gold.row == "params"].set_index("metric").tolerance
        assert wide["spearman_mean"] >= 0.02 and wide["top10_acc_mean"] >= 0.3


def test_a_garbled_uses_torch_is_one_line_and_writes_nothing(suite, tmp_path):
    from benchsuite.golden import build_baseline

    copy = tmp_path / "suite"
    shutil.copytree(suite, copy)
    _set_uses_torch(copy / "rs", "yes")
    with pytest.raises(ConfigError, match=r"rs/run.json: uses_torch must be true or false, not 'yes'"):
        build_baseline(copy, tmp_path / "g.csv", ["test"])
    assert not (tmp_path / "g.csv").exists()


def test_golden_needs_no_selector_package(suite, tmp_path):
    """golden.py names no selector module, and builds a baseline in an interpreter where importing
    benchsuite.selectors fails (benchsuite's own __init__ loads it, so it is unloaded first)."""
    tree = ast.parse((REPO / "benchsuite" / "golden.py").read_text())
    imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert imported and not [m for m in imported if "selectors" in m]
    out = _python(f"""
        import importlib.abc, sys
        import benchsuite
        for name in [m for m in sys.modules if m.startswith("benchsuite.selectors")]:
            del sys.modules[name]

        class Refuse(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.startswith("benchsuite.selectors"):
                    raise ImportError("golden must not import " + name)

        sys.meta_path.insert(0, Refuse())
        from benchsuite.golden import build_baseline
        table = build_baseline({str(suite)!r}, {str(tmp_path / "g.csv")!r}, ["test"])
        print(sorted(set(table.rule)), any(m.startswith("benchsuite.selectors") for m in sys.modules))
    """, cwd=tmp_path)
    assert out.strip() == "['exact'] False"


# ----------------------------------------------------------------------------- published values
def test_published_values_ship_in_the_package():
    """The package's own file is what the leaderboard reads, and results/ links to it."""
    from importlib import resources

    from benchsuite.leaderboard import read_published

    shipped = resources.files("benchsuite.data") / "published.csv"
    assert (REPO / "benchsuite" / "data" / "__init__.py").is_file() and shipped.is_file()
    link = REPO / "results" / "published.csv"
    assert link.is_symlink() and link.resolve() == (REPO / "benchsuite" / "data" / "published.csv").resolve()
    with open(str(shipped), newline="") as f:
        rows = list(csv.DictReader(f))
    pub = read_published()
    assert len(pub) == len(rows) > 0
    assert list(pub.value) == [float(r["value"]) for r in rows]


def _build_wheel(tmp_path: Path) -> Path:
    """A wheel built from a copy of the sources (building in the checkout would write build/ and
    egg-info folders into it)."""
    src = tmp_path / "src"
    shutil.copytree(REPO / "benchsuite", src / "benchsuite", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                        "-w", str(tmp_path / "wheel"), str(src)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    (wheel,) = (tmp_path / "wheel").glob("benchsuite-*.whl")
    return wheel


@pytest.mark.bundle   # the synflow row runs a network on the bundle's CIFAR images
def test_an_installed_wheel_fills_the_published_column(tmp_path, data_dir):
    wheel = _build_wheel(tmp_path)
    assert "benchsuite/data/published.csv" in zipfile.ZipFile(wheel).namelist()
    site = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]

    (tmp_path / "s.toml").write_text('[suite]\nname = "pub"\n[[row]]\nname = "synflow"\nselector = "synflow"\n'
                                     'dataset = "cifar10-valid"\nsample = 8\nseeds = [0]\nn_boot = 0\n'
                                     'hp = { share = false, C = 4, N = 1, batch_size = 8 }\n')
    assert main(["suite", "run", str(tmp_path / "s.toml"), "--out", str(tmp_path / "suite"), "--no-plots"]) == 0
    elsewhere = tmp_path / "elsewhere"   # no results/ folder anywhere near the working directory
    elsewhere.mkdir()
    out = _python(f"""
        import benchsuite
        from benchsuite.leaderboard import leaderboard
        written = leaderboard({str(tmp_path / "suite")!r}, "lb")
        print(benchsuite.__file__)
    """, cwd=elsewhere, env={"PYTHONPATH": str(site), "BENCHSUITE_DATA": str(data_dir)})
    assert out.strip() == str(site / "benchsuite" / "__init__.py")
    table = pd.read_csv(elsewhere / "lb" / "leaderboard.csv")
    with open(REPO / "benchsuite" / "data" / "published.csv", newline="") as f:
        expect = next(float(r["value"]) for r in csv.DictReader(f) if (r["selector"], r["bench"], r["dataset"],
                      r["metric"]) == ("synflow", "nb201", "cifar10-valid", "spearman"))
    assert table.published_spearman.tolist() == [expect]
    assert f"{expect:g} [1]" in (elsewhere / "lb" / "leaderboard.md").read_text()
