"""The accuracy tables the package carries, so a fresh install runs with no data folder.

Each bundle CSV is stored as ``embedded/<name>.csv.xz``: the same text with every NB-201 arch
string replaced by its official index (the strings are most of the bytes and are rebuilt from the
space itself), then xz-compressed. Restoring gives back the original file byte for byte, and
``sources.locate`` checks it against the same pinned SHA-256 as the bundle file before anything
reads it. ``benchmarks/build_embedded.py`` builds these files from a bundle folder.
"""
from __future__ import annotations

import lzma
from importlib import resources

EMBEDDED = ("nb201/cifar10_200ep.csv", "nb201/all_12ep.csv", "nb201/imagenet16_200ep_valid.csv",
            "nb201/naslib_subset_200ep_valid.csv", "nb201/hw_cifar10.csv", "nb101/subset500_108ep_valid.csv")


def resource_name(relpath: str) -> str:
    return relpath.replace("/", "__") + ".xz"


def _nb201_strings() -> list[str]:
    from ..spaces.nb201 import _all_archs

    return list(_all_archs())


def pack(relpath: str, text: bytes) -> bytes:
    """Bundle file bytes -> embedded bytes (NB-201 arch field -> official index, then xz)."""
    if relpath.startswith("nb201/"):
        index = {a: i for i, a in enumerate(_nb201_strings())}
        head, *rows = text.split(b"\n")
        out = [head]
        for row in rows:
            arch, sep, rest = row.partition(b",")
            out.append(str(index[arch.decode()]).encode() + sep + rest if sep else row)
        text = b"\n".join(out)
    return lzma.compress(text, preset=9 | lzma.PRESET_EXTREME)


def unpack(relpath: str, blob: bytes) -> bytes:
    """Embedded bytes -> the bundle file's bytes."""
    text = lzma.decompress(blob)
    if relpath.startswith("nb201/"):
        archs = [a.encode() for a in _nb201_strings()]
        head, *rows = text.split(b"\n")
        out = [head]
        for row in rows:
            idx, sep, rest = row.partition(b",")
            out.append(archs[int(idx)] + sep + rest if sep else row)
        text = b"\n".join(out)
    return text


def available(relpath: str) -> bool:
    return relpath in EMBEDDED and resources.files(__package__).joinpath("embedded", resource_name(relpath)).is_file()


def restore(relpath: str) -> bytes:
    blob = resources.files(__package__).joinpath("embedded", resource_name(relpath)).read_bytes()
    return unpack(relpath, blob)
