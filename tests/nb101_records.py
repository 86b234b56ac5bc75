"""NAS-Bench-101 records in the official tfrecord format (google-research/nasbench ``api.py``,
``lib/model_metrics.proto``), written by hand for tests and benchmarks/perf_official_readers.py."""
import base64
import json
import struct

from benchsuite.benchmarks.official import nb101_tfrecord as tfr
from benchsuite.spaces import nb101 as space


def _key(number, wire):
    return bytes([number << 3 | wire])


def _double(number, v):
    return _key(number, 1) + struct.pack("<d", v)


def _varint(v):
    out = b""
    while True:
        out += bytes([(v & 0x7F) | (0x80 if v > 0x7F else 0)])
        v >>= 7
        if not v:
            return out


def _message(number, payload):
    return _key(number, 2) + _varint(len(payload)) + payload


def metrics(valid, test, params):
    """ModelMetrics as nasbench writes it: evaluation_data at init, halfway, end; params; total time."""
    evals = b""
    for epoch, (va, te) in ((0, (0.1, 0.1)), (54, (valid - 0.05, test - 0.05)), (108, (valid, test))):
        evals += _message(1, _double(1, epoch) + _double(2, 100.0 * epoch) + _double(3, 0.99) + _double(4, va)
                          + _double(5, te) + _message(6, b"/ckpt/model.ckpt-1"))
    return evals + _key(2, 0) + _varint(params) + _double(3, 1234.5)


def record(data: bytes) -> bytes:
    """TFRecord framing: length, masked CRC32C of the length, data, masked CRC32C of the data."""
    head = struct.pack("<Q", len(data))
    return head + struct.pack("<I", tfr.masked_crc(head)) + data + struct.pack("<I", tfr.masked_crc(data))


def rows(cell, epochs, accs, params):
    matrix, ops = cell
    h = space.cell_hash(space.make_cell(matrix, ops))
    adjacency = "".join(str(x) for row in matrix for x in row)
    return [json.dumps([h, epochs, adjacency, ",".join(ops), base64.b64encode(metrics(va, te, params)).decode()])
            .encode() for va, te in accs]
