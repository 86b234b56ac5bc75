"""Build the package's embedded tables (benchsuite/benchmarks/embedded/*.xz) from a bundle folder.

    python benchmarks/build_embedded.py [--data ../shared/data]

Each file is checked against its pinned SHA-256 before packing, and the packed form is unpacked
again and compared byte for byte before it is written.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from benchsuite.benchmarks import embedded, sources


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.environ.get("BENCHSUITE_DATA", "../shared/data"))
    a = ap.parse_args()
    out = Path(embedded.__file__).parent / "embedded"
    out.mkdir(exist_ok=True)
    total = 0
    for rel in embedded.EMBEDDED:
        path = sources.verify(Path(a.data) / rel, sources.FILES[rel])
        raw = path.read_bytes()
        blob = embedded.pack(rel, raw)
        assert embedded.unpack(rel, blob) == raw, rel
        (out / embedded.resource_name(rel)).write_bytes(blob)
        total += len(blob)
        print(f"{rel}: {len(raw):,} -> {len(blob):,} bytes")
    print(f"total {total:,} bytes in {out}")


if __name__ == "__main__":
    main()
