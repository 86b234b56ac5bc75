"""Errors a user can cause. The CLI prints these as one line and exits with code 2.

Anything that is not a ``BenchsuiteError`` is a bug in benchsuite and may show a traceback.
"""
from __future__ import annotations


class BenchsuiteError(Exception):
    """Base class of every user-facing error."""


class UnknownNameError(BenchsuiteError, KeyError):
    """A plug-in, dataset or metric name that is not registered."""

    def __init__(self, kind: str, name: str, known: list[str]):
        self.kind, self.name, self.known = kind, name, sorted(known)
        super().__init__(f"unknown {kind} {name!r}; known: {', '.join(self.known) or '(none)'}")

    def __str__(self) -> str:  # KeyError would quote the message otherwise
        return self.args[0]


class DuplicateNameError(BenchsuiteError):
    """Two plug-ins registered under one name."""


class DataNotFoundError(BenchsuiteError):
    """A data file is missing from every place benchsuite looks."""


class ChecksumError(BenchsuiteError):
    """A file's SHA-256 differs from the pinned one; it is neither parsed nor cached."""


class CoverageError(BenchsuiteError):
    """The available data lacks the requested dataset / fidelity / metric."""


class ConfigError(BenchsuiteError):
    """Invalid run arguments (bad sample size, seeds, output folder...)."""


class SelectorError(BenchsuiteError):
    """A selector (often a user's own function) returned scores the runner cannot record."""


class ArchError(BenchsuiteError, ValueError):
    """A malformed architecture (string, matrix or ops); the message quotes at most 80 characters."""


def short(value, limit: int = 80) -> str:
    """repr of a value, cut to ``limit`` characters: error messages never echo a huge input."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"
