"""The selector registry: built-ins by lazy "module:Class" (so listing never imports torch),
third parties through the ``benchsuite.selectors`` entry-point group."""
from __future__ import annotations

from ..registry import Registry

SELECTORS: Registry = Registry("selector", "benchsuite.selectors")
for _name, _target in {
    "random": "benchsuite.selectors.baselines:RandomSelector",
    "params": "benchsuite.selectors.baselines:ParamsSelector",
    "flops": "benchsuite.selectors.baselines:FlopsSelector",
}.items():
    SELECTORS.register(_name, _target)
