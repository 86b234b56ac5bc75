"""NAS-Bench-101's official tfrecord, read without TensorFlow: a small file written in the test in
the official format (TFRecord framing with masked CRC32C, JSON rows, ModelMetrics protobuf)."""
import base64
import json

import numpy as np
import pandas as pd
import pytest
from nb101_records import metrics, record, rows

from benchsuite.benchmarks.nb101 import NB101
from benchsuite.benchmarks.official import nb101_tfrecord as tfr
from benchsuite.cli import main
from benchsuite.errors import BenchsuiteError
from benchsuite.spaces import nb101 as space

CELLS = [  # pruned cells, as the official file stores them
    ([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]], ["input", "conv3x3-bn-relu", "maxpool3x3", "output"]),
    ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", "conv1x1-bn-relu", "output"]),
    ([[0, 1, 0, 0, 1], [0, 0, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]],
     ["input", "conv3x3-bn-relu", "conv3x3-bn-relu", "conv1x1-bn-relu", "output"]),
]


@pytest.fixture
def tfrecord(tmp_path):
    """Three cells, three repeats each at 108 epochs; the first also at 36 (as nasbench_full has)."""
    out = []
    for i, cell in enumerate(CELLS):
        out += rows(cell, 108, [(0.90 + i / 100, 0.89 + i / 100), (0.91 + i / 100, 0.90 + i / 100),
                                (0.92 + i / 100, 0.91 + i / 100)], params=1_000_000 * (i + 1))
    out += rows(CELLS[0], 36, [(0.80, 0.79)] * 3, params=1_000_000)
    path = tmp_path / "nasbench_only108.tfrecord"
    path.write_bytes(b"".join(record(r) for r in out))
    return path


def test_crc32c_and_protobuf_match_their_specifications():
    # RFC 3720 B.4 test vectors, and the customary check value of "123456789"
    assert [hex(x) for x in tfr.crc32c([bytes(32), b"\xff" * 32, bytes(range(32)), b"123456789"])] == \
        ["0x8a9136aa", "0x62a8ab43", "0x46dd794e", "0xe3069283"]
    # TensorFlow's mask: rotate right by 15 bits, add 0xa282ead8
    assert int(tfr.masked(np.array([0x8A9136AA], dtype=np.uint32))[0]) == \
        ((0x8A9136AA >> 15 | 0x8A9136AA << 17) + 0xA282EAD8) & 0xFFFFFFFF
    assert tfr.masked_crc(bytes(32)) == int(tfr.masked(np.array([0x8A9136AA], dtype=np.uint32))[0])
    assert tfr.fields(b"\x10\x96\x01") == [(2, 150)]   # the protobuf guide's varint example
    params, evals = tfr.model_metrics(metrics(0.9, 0.8, 300))
    assert params == 300 and [e[1] for e in evals] == [0, 54, 108] and evals[2][4] == 0.9


def test_tfrecord_gives_every_column_with_the_mean_over_repeats(tfrecord, monkeypatch, tmp_path):
    monkeypatch.setenv("BENCHSUITE_CACHE", str(tmp_path / "cache"))
    b = NB101(official_path=str(tfrecord))
    archs = [space.make_cell(*c).to_string() for c in CELLS]
    assert sorted(b.archs("cifar10", 108, "test")) == sorted(archs)
    np.testing.assert_allclose(b.accuracy(archs, "cifar10", 108, "valid"), [91.0, 92.0, 93.0])
    np.testing.assert_allclose(b.accuracy(archs, "cifar10", 108, "test"), [90.0, 91.0, 92.0])
    np.testing.assert_allclose(b.accuracy(archs[:1], "cifar10", 36, "valid"), [80.0])
    assert [b.params_m[a] for a in archs] == [1.0, 2.0, 3.0]
    # each repeat's validation accuracy, for an oracle that answers one random repeat
    np.testing.assert_allclose(b.trials(("cifar10", 108, "valid"))[archs[1]], [91.0, 92.0, 93.0])
    assert b.trials(("cifar10", 108, "test")) is None
    assert b.checksums["nasbench_only108.tfrecord"] == tfr.digest(tfrecord)
    assert list((tmp_path / "cache" / "official" / "nb101_tfrecord").glob("*.csv.gz"))
    assert NB101(official_path=str(tfrecord)).coverage() == b.coverage()   # from the cache


def test_run_on_the_tfrecord_scores_on_test_and_labels_from_valid(tfrecord, tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["run", "--bench", "nb101", "--selector", "params", "--official", str(tfrecord), "--out", str(out),
                 "--n-boot", "0", "--no-plots"]) == 0
    m = pd.read_csv(out / "metrics.csv")
    assert set(m.acc_metric) == {"test"} and set(m.n_archs) == {3}
    run = json.loads((out / "run.json").read_text())
    assert run["args"]["official"] == str(tfrecord)
    assert run["data"]["checksums"]["nasbench_only108.tfrecord"] == tfr.digest(tfrecord)


@pytest.mark.parametrize("damage, expect", [
    (lambda b: b[:-3], "cut off inside the record"),
    (lambda b: b[:30] + bytes([b[30] ^ 1]) + b[31:], "data CRC of the record at byte 0"),
    (lambda b: b[:2] + b"\x07" + b[3:], "length CRC of the record at byte 0"),
])
def test_damaged_file_is_one_line_naming_therecord(tfrecord, damage, expect, tmp_path, capsys):
    tfrecord.write_bytes(damage(tfrecord.read_bytes()))
    assert main(["run", "--bench", "nb101", "--selector", "params", "--official", str(tfrecord),
                 "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert expect in err and "\n" not in err and not (tmp_path / "r").exists()


def test_a_record_whose_hash_is_not_its_cell_is_refused(tmp_path):
    matrix, ops = CELLS[0]
    row = json.dumps(["0" * 32, 108, "".join(str(x) for r in matrix for x in r), ",".join(ops),
                      base64.b64encode(metrics(0.9, 0.9, 5)).decode()]).encode()
    path = tmp_path / "nasbench_only108.tfrecord"
    path.write_bytes(record(row))
    with pytest.raises(BenchsuiteError, match="hashes to"):
        tfr.read_table(path)


def test_official_path_of_the_wrong_kind_is_one_line(tfrecord, tmp_path, capsys):
    assert main(["run", "--bench", "nb201", "--selector", "params", "--official", str(tfrecord),
                 "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "NAS-Bench-201 .pth or a NATS-Bench topology folder" in err and err.count("\n") == 1


def test_official_files_are_hashed_once_until_they_change(tmp_path, monkeypatch):
    """The digest naming a converted table is remembered by (path, size, mtime): a multi-GB file is
    not hashed again on every run, and a rewritten file is."""
    import hashlib
    import os

    from benchsuite.benchmarks import sources
    from benchsuite.benchmarks.official import sha256_memo

    monkeypatch.setenv("BENCHSUITE_CACHE", str(tmp_path / "cache"))
    calls = []
    real = sources.sha256_of
    monkeypatch.setattr(sources, "sha256_of", lambda p: calls.append(p) or real(p))
    f = tmp_path / "nasbench_only108.tfrecord"
    f.write_bytes(b"one")
    want = hashlib.sha256(b"one").hexdigest()
    assert sha256_memo(f) == want and sha256_memo(f) == want and len(calls) == 1
    f.write_bytes(b"two")
    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))   # a rewrite moves the mtime
    assert sha256_memo(f) == hashlib.sha256(b"two").hexdigest() and len(calls) == 2
    (tmp_path / "cache" / "official" / "sha256.json").write_text("{not json")   # a damaged index: hash again
    assert sha256_memo(f) == hashlib.sha256(b"two").hexdigest() and len(calls) == 3
