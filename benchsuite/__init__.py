"""benchsuite: how good is a NAS architecture selector, measured against tabular benchmarks."""
from __future__ import annotations

__version__ = "0.1.0"

from .benchmarks.registry import BENCHMARKS  # noqa: E402
from .errors import BenchsuiteError  # noqa: E402
from .metrics import METRICS  # noqa: E402
from .selectors.base import Context, Selector  # noqa: E402
from .selectors.registry import SELECTORS  # noqa: E402


def load_benchmark(name: str, **kwargs):
    """Build a registered benchmark, e.g. ``load_benchmark("nb201")``."""
    return BENCHMARKS.create(name, **kwargs)


def get_selector(name: str, **hparams) -> Selector:
    """Build a registered selector with keyword-only hyperparameters."""
    return SELECTORS.create(name, **hparams)


def list_selectors() -> list[str]:
    return SELECTORS.names()


def evaluate(selector, **kwargs):
    """Evaluate a selector (a registered name, a ``Selector`` or a function ``f(archs) -> scores``);
    returns a ``Result`` with ``.metrics``, ``.scores`` and ``.plot()``. See ``benchsuite.api``."""
    from .api import evaluate as _evaluate

    return _evaluate(selector, **kwargs)


def proxy_table(bench: str = "nb201", dataset: str = "cifar10"):
    """The package's all-cell proxy table as a DataFrame: arch, index, class, every proxy it holds,
    every accuracy column of the benchmark. See ``benchsuite.proxy_tables``."""
    from .proxy_tables import proxy_table as _proxy_table

    return _proxy_table(bench, dataset)


__all__ = ["BENCHMARKS", "METRICS", "SELECTORS", "BenchsuiteError", "Context", "Selector", "evaluate",
           "get_selector", "list_selectors", "load_benchmark", "proxy_table"]
