"""Read NAS-Bench-101's ``nasbench_only108.tfrecord`` / ``nasbench_full.tfrecord`` without TensorFlow.

TFRecord framing (TensorFlow ``core/lib/io/record_writer.cc``): per record a little-endian uint64
length, the masked CRC32C of those 8 bytes, the data, the masked CRC32C of the data. Every CRC is
checked, vectorised over a block of records with numpy; a mismatch or a cut-off record names its
offset. Each record is JSON ``[module_hash, epochs, adjacency, ops, metrics]`` (google-research/nasbench
``nasbench/api.py``, ``NASBench.__init__``): the adjacency as a row-major 0/1 string, the ops comma
separated, the metrics a base64 ``ModelMetrics`` protobuf (``nasbench/lib/model_metrics.proto``),
decoded here by its wire format: ``evaluation_data`` (field 1, repeated; [0] at initialisation,
[1] halfway, [2] end of training) with ``validation_accuracy`` (4) and ``test_accuracy`` (5) as
doubles, and ``trainable_parameters`` (field 2, varint).

Table: per cell and epoch budget, the end-of-training validation and test accuracy in percent, the
mean over the file's repeats (3 per cell), as NAS-Bench-201 tables average trials, and each repeat's
validation accuracy (metric ``valid#1`` …); params in millions. Every record's module hash is
recomputed from its cell (``spaces.nb101.cell_hash``, the official fingerprint; all of the first
5,000 cells, then one in 20) and must match, so a systematic misreading cannot pass unnoticed.
"""
from __future__ import annotations

import base64
import json
import struct
from pathlib import Path

import numpy as np
import pandas as pd

from ...errors import ArchError, BenchsuiteError
from ...progress import Progress
from ...spaces import nb101 as space
from . import COLUMNS, TRIAL_MARK, sha256_memo

_MASK_DELTA = 0xA282EAD8   # TensorFlow core/lib/hash/crc32c.h kMaskDelta
_FINAL = 2                 # evaluation_data index at the end of training (nasbench/api.py)
# Every cell's hash is recomputed for the first _HASH_ALL cells, then for one in _HASH_EVERY: a
# systematic misreading shows at once, and the CRCs already guard every byte (hashing all 423,624
# cells would add about three minutes).
_HASH_ALL, _HASH_EVERY = 5000, 20


def _crc_table() -> np.ndarray:
    """Byte table of CRC-32C (Castagnoli, reflected polynomial 0x82F63B78)."""
    t = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        t = np.where(t & 1, (t >> 1) ^ np.uint32(0x82F63B78), t >> 1).astype(np.uint32)
    return t


_TABLE = _crc_table()


def crc32c(chunks: list[bytes]) -> np.ndarray:
    """CRC-32C of every byte string, one numpy step per byte position across all of them (a
    byte-at-a-time Python loop over a 500 MB file would take minutes)."""
    n = len(chunks)
    lens = np.fromiter(map(len, chunks), dtype=np.int64, count=n)
    order = np.argsort(-lens, kind="stable")   # longest first: the strings still running are a prefix
    lens_sorted = lens[order]
    width = int(lens_sorted[0]) if n else 0
    buf = np.zeros((n, width), dtype=np.uint8)
    buf[np.arange(width) < lens_sorted[:, None]] = np.frombuffer(b"".join(chunks[i] for i in order), np.uint8)
    crc = np.full(n, 0xFFFFFFFF, dtype=np.uint32)
    running = np.searchsorted(-lens_sorted, -np.arange(width), side="left")   # how many are longer than i
    for i, k in enumerate(running):
        c = crc[:k]
        crc[:k] = _TABLE[(c ^ buf[:k, i]) & 0xFF] ^ (c >> 8)
    out = np.empty(n, dtype=np.uint32)
    out[order] = crc ^ np.uint32(0xFFFFFFFF)
    return out


def masked(crc):
    """TensorFlow's masking of a CRC (rotate right by 15 bits, add kMaskDelta), for a uint32 array
    or a Python int."""
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


_TABLE_LIST = _TABLE.tolist()


def masked_crc(data: bytes) -> int:
    """The same masked CRC for the 8-byte length field, in plain Python: it must be checked before
    the length is trusted (a damaged length could announce petabytes), one record at a time."""
    crc = 0xFFFFFFFF
    for b in data:
        crc = _TABLE_LIST[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return masked(crc ^ 0xFFFFFFFF)


def iter_blocks(path: Path, block: int = 20000):
    """Lists of record payloads, ``block`` at a time, with both CRCs of each record checked."""
    with open(path, "rb") as f:
        offset = 0
        while True:
            datas, data_crcs, offsets = [], [], []
            while len(datas) < block:
                head = f.read(12)
                if not head:
                    break
                if len(head) < 12:
                    raise BenchsuiteError(f"{path}: cut off inside the record header at byte {offset}")
                if masked_crc(head[:8]) != struct.unpack("<I", head[8:])[0]:
                    raise BenchsuiteError(f"{path}: the length CRC of the record at byte {offset} does not match: "
                                          "the file is damaged or not a TFRecord file")
                (length,) = struct.unpack("<Q", head[:8])
                data, tail = f.read(length), f.read(4)
                if len(data) < length or len(tail) < 4:
                    raise BenchsuiteError(f"{path}: cut off inside the record at byte {offset} "
                                          f"({length} bytes announced)")
                datas.append(data)
                data_crcs.append(struct.unpack("<I", tail)[0])
                offsets.append(offset)
                offset += 16 + length
            if not datas:
                return
            bad = np.flatnonzero(masked(crc32c(datas)) != np.asarray(data_crcs, dtype=np.uint32))
            if len(bad):
                raise BenchsuiteError(f"{path}: the data CRC of the record at byte {offsets[bad[0]]} does not match: "
                                      "the file is damaged or not a TFRecord file")
            yield datas, offset


# ----------------------------------------------------------------------------- protobuf wire format
def _varint(buf: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7


def fields(buf: bytes) -> list[tuple[int, int | float | bytes]]:
    """(field number, value) of a message: varints as int, 64-bit as double, 32-bit as float,
    length-delimited as bytes. Groups (deprecated) are refused."""
    out, i = [], 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 1:
            value, i = struct.unpack_from("<d", buf, i)[0], i + 8
        elif wire == 2:
            n, i = _varint(buf, i)
            value, i = buf[i:i + n], i + n
        elif wire == 5:
            value, i = struct.unpack_from("<f", buf, i)[0], i + 4
        else:
            raise ValueError(f"wire type {wire}")
        out.append((number, value))
    if i != len(buf):
        raise ValueError("message runs past its end")
    return out


def model_metrics(raw: bytes, only: int | None = None) -> tuple[int, list[dict[int, float]]]:
    """trainable_parameters and the evaluation_data entries ({field: value}) of a ModelMetrics;
    with ``only``, that entry alone is decoded (the others stay empty: the table needs the last)."""
    params, evals = 0, []
    for number, value in fields(raw):
        if number == 1:
            keep = only is None or len(evals) == only
            evals.append({n: v for n, v in fields(value) if n in (1, 2, 3, 4, 5)} if keep else {})
        elif number == 2:
            params = value
    return params, evals


# ----------------------------------------------------------------------------- the table
def digest(path: Path) -> str:
    return sha256_memo(path)


def read_table(path: Path) -> pd.DataFrame:
    cells: dict[str, tuple[str, float]] = {}          # module hash -> (arch string, params in M)
    sums: dict[tuple[str, int], list] = {}            # (hash, epochs) -> [valid sum, test sum, repeats, valids]
    total = path.stat().st_size
    with Progress(total, desc="reading NAS-Bench-101", unit="B") as bar:
        done = 0
        for datas, offset in iter_blocks(path):
            for data in datas:
                try:
                    module_hash, epochs, adjacency, ops, metrics = json.loads(data)
                    params, evals = model_metrics(base64.b64decode(metrics), only=_FINAL)
                    final = evals[_FINAL]
                    valid, test = 100.0 * final[4], 100.0 * final[5]
                except (ValueError, TypeError, KeyError, IndexError, UnicodeDecodeError, struct.error) as e:
                    raise BenchsuiteError(f"{path}: a record is not NAS-Bench-101's [hash, epochs, adjacency, ops, "
                                          f"metrics] ({type(e).__name__}: {str(e)[:100]})") from None
                if module_hash not in cells:
                    dim = int(round(len(adjacency) ** 0.5))
                    try:
                        matrix = np.array([int(c) for c in adjacency], dtype=np.int64).reshape(dim, dim)
                        cell = space.make_cell(matrix, ops.split(","))
                    except (ArchError, ValueError) as e:
                        raise BenchsuiteError(f"{path}: record {module_hash} holds no valid NB-101 cell: {e}") from None
                    n = len(cells)
                    if (n < _HASH_ALL or n % _HASH_EVERY == 0) and space.cell_hash(cell) != module_hash:
                        raise BenchsuiteError(f"{path}: record {module_hash}'s cell hashes to "
                                              f"{space.cell_hash(cell)}; the file is not NAS-Bench-101's")
                    cells[module_hash] = (cell.to_string(), params / 1e6)
                acc = sums.setdefault((module_hash, int(epochs)), [0.0, 0.0, 0, []])
                acc[0] += valid
                acc[1] += test
                acc[2] += 1
                acc[3].append(valid)
            bar.update(offset - done)
            done = offset
    if not sums:
        raise BenchsuiteError(f"{path} holds no records")
    rows = []
    for (h, epochs), (valid, test, n, valids) in sums.items():
        arch = cells[h][0]
        rows += [(arch, "cifar10", epochs, "valid", valid / n), (arch, "cifar10", epochs, "test", test / n)]
        rows += [(arch, "cifar10", epochs, f"valid{TRIAL_MARK}{i}", v) for i, v in enumerate(valids, 1)]
    for arch, params in cells.values():
        rows.append((arch, "cifar10", 108, "params_m", params))
    return pd.DataFrame(rows, columns=COLUMNS)
