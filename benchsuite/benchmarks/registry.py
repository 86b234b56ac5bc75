"""The benchmark registry. Built-ins are lazy so `benchsuite list` imports only what it shows."""
from __future__ import annotations

from ..registry import Registry

BENCHMARKS: Registry = Registry("benchmark", "benchsuite.benchmarks")
BENCHMARKS.register("nb201", "benchsuite.benchmarks.nb201:NB201")
BENCHMARKS.register("nb101", "benchsuite.benchmarks.nb101:NB101")
