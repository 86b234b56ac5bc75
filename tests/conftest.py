"""Shared fixtures. Data comes from $BENCHSUITE_DATA (CI: ../shared/data), never from the repo."""
from __future__ import annotations

import http.server
import os
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def data_dir() -> Path:
    d = Path(os.environ.get("BENCHSUITE_DATA") or REPO.parent / "shared" / "data")
    if not (d / "SHA256SUMS").is_file():
        pytest.fail(f"reference data not found at {d}: set BENCHSUITE_DATA to the data bundle")
    return d


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path_factory, data_dir):
    """Each test sees the bundle as BENCHSUITE_DATA and a private, empty cache."""
    monkeypatch.setenv("BENCHSUITE_DATA", str(data_dir))
    monkeypatch.setenv("BENCHSUITE_CACHE", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.delenv("BENCHSUITE_DATA_URL", raising=False)
    monkeypatch.delenv("BENCHSUITE_NB201_PTH", raising=False)


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
