"""CIFAR archive download for users: verified before extraction, served from 127.0.0.1 only."""
import hashlib
import io
import pickle
import socket
import tarfile
import threading

import numpy as np
import pytest

from benchsuite.cli import main
from benchsuite.data import cifar_fetch
from benchsuite.data.images import load_images, load_python_batches
from benchsuite.errors import ChecksumError, DataNotFoundError

NAMES = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"]


def _batch(i: int) -> bytes:
    rng = np.random.default_rng(i)
    return pickle.dumps({b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8),
                         b"labels": rng.integers(0, 10, 4).tolist()})


def _archive(extra: tarfile.TarInfo | None = None) -> tuple[bytes, dict[str, str]]:
    buf, sums = io.BytesIO(), {}
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for i, name in enumerate(NAMES):
            raw = _batch(i)
            sums[name] = hashlib.md5(raw).hexdigest()
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
        if extra is not None:
            tar.addfile(extra, io.BytesIO(b"x" * extra.size))
    return buf.getvalue(), sums


def test_fetch_verifies_extracts_and_is_preferred(http_server):
    root, url = http_server
    data, sums = _archive()
    (root / "c10.tar.gz").write_bytes(data)
    folder = cifar_fetch.fetch_cifar("cifar10", url=f"{url}/c10.tar.gz", md5=hashlib.md5(data).hexdigest())
    imgs = load_python_batches("cifar10", folder, checksums=sums)
    assert imgs.x_train.shape == (20, 32, 32, 3) and imgs.x_test.shape == (4, 32, 32, 3)
    (root / "c10.tar.gz").unlink()   # a second fetch is served from the cache
    assert cifar_fetch.fetch_cifar("cifar10", url=f"{url}/c10.tar.gz") == folder
    # load_images now prefers the download and checks it against the published MD5s: these
    # synthetic batches are not the real ones, so they are refused rather than read.
    with pytest.raises(ChecksumError, match="refusing to unpickle"):
        load_images("cifar10")


def test_fetch_with_wrong_md5_keeps_nothing(http_server):
    root, url = http_server
    data, _ = _archive()
    (root / "c10.tar.gz").write_bytes(data)
    with pytest.raises(ChecksumError, match="nothing was cached"):
        cifar_fetch.fetch_cifar("cifar10", url=f"{url}/c10.tar.gz")   # the published MD5 of the real archive
    assert cifar_fetch.cached_folder("cifar10") is None
    assert not list(cifar_fetch.cifar_root().iterdir())   # no archive, no temporary file


def test_wrong_md5_leaves_a_file_already_there_untouched(http_server):
    """An archive already in the cache that does not match is downloaded again; when the download
    does not match either, the file that was there is kept byte for byte."""
    root, url = http_server
    data, _ = _archive()
    (root / "c10.tar.gz").write_bytes(data)
    mine = cifar_fetch.cifar_root() / "cifar-10-python.tar.gz"
    mine.parent.mkdir(parents=True)
    mine.write_bytes(b"the user's own bytes")
    with pytest.raises(ChecksumError, match=r"^download of .* has MD5 [0-9a-f]{16}…, expected c58f30108f718f92…; "
                                            r"nothing was cached$"):
        cifar_fetch.fetch_cifar("cifar10", url=f"{url}/c10.tar.gz")
    assert mine.read_bytes() == b"the user's own bytes"
    assert [p.name for p in mine.parent.iterdir()] == [mine.name]


def test_a_matching_archive_in_the_cache_is_used_without_the_network(http_server):
    _, url = http_server
    data, sums = _archive()
    archive = cifar_fetch.cifar_root() / "cifar-10-python.tar.gz"
    archive.parent.mkdir(parents=True)
    archive.write_bytes(data)
    folder = cifar_fetch.fetch_cifar("cifar10", url=f"{url}/not-served.tar.gz", md5=hashlib.md5(data).hexdigest())
    assert load_python_batches("cifar10", folder, checksums=sums).x_train.shape == (20, 32, 32, 3)


def test_fetch_refuses_paths_outside_the_folder(http_server):
    root, url = http_server
    evil = tarfile.TarInfo("cifar-10-batches-py/../../evil")
    evil.size = 3
    data, _ = _archive(evil)
    (root / "c10.tar.gz").write_bytes(data)
    with pytest.raises(ChecksumError, match="not a usable CIFAR archive"):
        cifar_fetch.fetch_cifar("cifar10", url=f"{url}/c10.tar.gz", md5=hashlib.md5(data).hexdigest())
    assert cifar_fetch.cached_folder("cifar10") is None


def test_cli_fetch_errors_are_one_line(http_server, capsys):
    _, url = http_server
    assert main(["data", "--fetch-cifar", "cifar10", "--cifar-url", f"{url}/missing.tar.gz"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "could not download" in err[0] and "404" in err[0]
    with pytest.raises(DataNotFoundError):
        cifar_fetch.fetch_cifar("svhn")


def test_images_are_downloaded_on_first_use(http_server, tmp_path, monkeypatch, capsys):
    """No bundle, no batches folder: the first selector that needs images fetches the archive."""
    from benchsuite.data import images

    root, url = http_server
    data, sums = _archive()
    (root / "c10.tar.gz").write_bytes(data)
    monkeypatch.setenv("BENCHSUITE_DATA", str(tmp_path / "no-bundle"))
    monkeypatch.setitem(cifar_fetch.ARCHIVES, "cifar10", (f"{url}/c10.tar.gz", hashlib.md5(data).hexdigest(),
                                                          "cifar-10-batches-py"))
    monkeypatch.setattr(images, "CIFAR10_BATCHES", sums)   # our synthetic batches stand in for the real ones
    monkeypatch.setenv("BENCHSUITE_OFFLINE", "1")
    with pytest.raises(DataNotFoundError, match="BENCHSUITE_OFFLINE is set; point --hp cifar_dir"):
        load_images("cifar10")
    monkeypatch.delenv("BENCHSUITE_OFFLINE")
    imgs = load_images("cifar10")
    assert imgs.x_train.shape == (20, 32, 32, 3) and "downloading" in capsys.readouterr().err
    assert cifar_fetch.cached_folder("cifar10") is not None
    (root / "c10.tar.gz").unlink()   # second use: from the cache, no network
    assert load_images("cifar10").x_test.shape == (4, 32, 32, 3)


def test_failed_first_use_download_is_one_line(http_server, tmp_path, monkeypatch, capsys):
    _, url = http_server
    monkeypatch.setenv("BENCHSUITE_DATA", str(tmp_path / "no-bundle"))
    monkeypatch.setenv("BENCHSUITE_CIFAR_URL", f"{url}/missing.tar.gz")
    monkeypatch.delenv("BENCHSUITE_OFFLINE")
    # snip computed reads images (synflow alone reads none, and the table would answer snip)
    assert main(["run", "--selector", "snip", "--compute", "--sample", "2", "--out", str(tmp_path / "r")]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("benchsuite: error")]
    assert len(err) == 1 and "download failed" in err[0] and "cifar_dir" in err[0] and "404" in err[0]
    assert not (tmp_path / "r").exists()   # refused before the run folder was made


def test_cli_fetch_offline_says_how_to_point_at_images(monkeypatch, capsys):
    """Without a network the advice is about images on disk, not the accuracy tables' --official
    file (an NB-201 .pth holds no image)."""
    import urllib.error
    import urllib.request

    def no_network(*a, **kw):
        raise urllib.error.URLError(OSError(101, "Network is unreachable"))

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    assert main(["data", "--fetch-cifar", "cifar10"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "could not download" in err[0] and "Network is unreachable" in err[0]
    assert "--hp cifar_dir=DIR or $BENCHSUITE_CIFAR_DIR" in err[0] and "images/cifar10_subset.npz" in err[0]
    assert "--official" not in err[0] and ".pth" not in err[0]


def test_success_prints_no_download_log_lines(http_server, capsys):
    """pooch logs every download at INFO on stderr; benchsuite keeps it quiet (it says itself what it does)."""
    root, url = http_server
    data, _ = _archive()
    (root / "c10.tar.gz").write_bytes(data)
    cifar_fetch.fetch_cifar("cifar10", url=f"{url}/c10.tar.gz", md5=hashlib.md5(data).hexdigest())
    assert "Downloading" not in capsys.readouterr().err


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_server_is_one_line_and_leaves_nothing(capsys):
    url = f"http://127.0.0.1:{_closed_port()}/c10.tar.gz"   # nothing listens there: refused at once
    assert main(["data", "--fetch-cifar", "cifar10", "--cifar-url", url]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "could not download" in err[0] and "refused" in err[0] and "cifar_dir" in err[0]
    assert not any(cifar_fetch.cifar_root().iterdir())


def test_a_connection_cut_mid_download_leaves_no_partial_file():
    """The server promises more bytes than it sends: a clear error, and no partial archive."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def serve_half():
        conn, _ = srv.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000)

    t = threading.Thread(target=serve_half, daemon=True)
    t.start()
    try:
        cut = r"could not download .*: the connection closed after 1,000 of 100,000 bytes; offline, point"
        with pytest.raises(DataNotFoundError, match=cut):
            cifar_fetch.fetch_cifar("cifar10", url=f"http://127.0.0.1:{srv.getsockname()[1]}/c10.tar.gz")
    finally:
        t.join(10)
        srv.close()
    assert not any(cifar_fetch.cifar_root().iterdir())


def test_a_malformed_url_is_a_clear_error():
    with pytest.raises(DataNotFoundError, match="could not download not-a-url: .*unknown url type"):
        cifar_fetch.fetch_cifar("cifar10", url="not-a-url")
