"""Shared fixtures. Tables come from the package's embedded copies or $BENCHSUITE_DATA (CI:
../shared/data); the CIFAR image subsets only from that bundle. Without the bundle (a user's fresh
clone) the tests that need it are skipped and say so; CI always has it, so there they all run."""
from __future__ import annotations

import http.server
import importlib.util
import os
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


BUNDLE = Path(os.environ.get("BENCHSUITE_DATA") or REPO.parent / "shared" / "data")
HAVE_BUNDLE = (BUNDLE / "SHA256SUMS").is_file()
NO_BUNDLE = (f"the reference data bundle (tables and CIFAR image subsets) is not at {BUNDLE}; set "
             "BENCHSUITE_DATA to it to run them (CI does)")


def pytest_collection_modifyitems(config, items):
    if not HAVE_BUNDLE:
        for item in items:
            if item.get_closest_marker("bundle") or "data_dir" in getattr(item, "fixturenames", ()):
                item.add_marker(pytest.mark.skip(reason=f"needs the bundle: {NO_BUNDLE}"))


def pytest_terminal_summary(terminalreporter):
    if not HAVE_BUNDLE:
        terminalreporter.write_line(f"note: the tests marked or fixtured `bundle` were skipped: {NO_BUNDLE}")


@pytest.fixture(scope="session")
def bench_script():
    """A loader of ``benchmarks/NAME.py`` as a module (the scripts are not a package)."""
    def load(name: str):
        spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    return load


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not HAVE_BUNDLE:
        pytest.skip(f"needs the bundle: {NO_BUNDLE}")
    return BUNDLE


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path_factory):
    """Each test sees the bundle (when there is one) as BENCHSUITE_DATA and a private, empty cache."""
    if HAVE_BUNDLE:
        monkeypatch.setenv("BENCHSUITE_DATA", str(BUNDLE))
    else:
        monkeypatch.delenv("BENCHSUITE_DATA", raising=False)
    monkeypatch.setenv("BENCHSUITE_CACHE", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.delenv("BENCHSUITE_DATA_URL", raising=False)
    monkeypatch.setenv("BENCHSUITE_OFFLINE", "1")   # never the internet: no first-use CIFAR download
    monkeypatch.delenv("BENCHSUITE_CIFAR_URL", raising=False)
    monkeypatch.delenv("BENCHSUITE_NB201_PTH", raising=False)


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No bundle (BENCHSUITE_DATA unset: the package looks only there and in its cache, never in
    ../shared), an empty cache, no CIFAR folder, BENCHSUITE_OFFLINE=1, and any download attempt fails
    as it would without a network. Returns the test's folder, which is also the working folder."""
    import urllib.error
    import urllib.request

    for var in ("BENCHSUITE_DATA", "BENCHSUITE_CIFAR_DIR", "BENCHSUITE_DATA_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("BENCHSUITE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("BENCHSUITE_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)

    def no_network(*a, **kw):
        raise urllib.error.URLError(OSError(101, "Network is unreachable"))

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    return tmp_path


@pytest.fixture(scope="session")
def nb201():
    from benchsuite.benchmarks.nb201 import NB201

    return NB201()


@pytest.fixture
def http_server(tmp_path):
    """A static file server on 127.0.0.1 only."""
    root = tmp_path / "mirror"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(root), **kw)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield root, f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
