"""The selector registry: built-ins by lazy "module:Class" (so listing never imports torch),
third parties through the ``benchsuite.selectors`` entry-point group."""
from __future__ import annotations

from ..registry import Registry

SELECTORS: Registry = Registry("selector", "benchsuite.selectors")
for _name, _target in {
    "random": "benchsuite.selectors.baselines:RandomSelector",
    "params": "benchsuite.selectors.baselines:ParamsSelector",
    "flops": "benchsuite.selectors.baselines:FlopsSelector",
    **{p: f"benchsuite.selectors.zero_cost:{p.title().replace('_', '')}Selector"
       for p in ("synflow", "snip", "grasp", "fisher", "grad_norm", "jacov", "naswot", "zico")},
    "eproxy": "benchsuite.selectors.eproxy:EproxySelector",
    "eproxy-dps": "benchsuite.selectors.eproxy:EproxyDPSSelector",
    "darts": "benchsuite.selectors.darts:DartsSelector",
    "it": "benchsuite.selectors.darts:ITSelector",
    "darts-pt": "benchsuite.selectors.darts_pt:DartsPTSelector",
    "spos": "benchsuite.selectors.spos:SPOSSelector",
    "fewshot": "benchsuite.selectors.spos:FewShotSelector",
    "rlnas": "benchsuite.selectors.rlnas:RLNASSelector",
}.items():
    SELECTORS.register(_name, _target)
