"""Search spaces: architecture encodings, enumeration, isomorphism and cost models.

No accuracy data lives here (that is ``benchsuite.benchmarks``) and nothing here imports torch.
"""
from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import UnknownNameError

SPACES = ("nb201", "nb101")


def get_space(name: str) -> ModuleType:
    """The space module: ``costs(arch)``, ``canonical(arch)`` and its own parsing helpers."""
    if name not in SPACES:
        raise UnknownNameError("search space", name, list(SPACES))
    return importlib.import_module(f"{__name__}.{name}")
