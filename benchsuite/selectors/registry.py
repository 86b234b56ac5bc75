"""The selector registry: built-ins by lazy "module:Class" (so listing never imports torch),
third parties through the ``benchsuite.selectors`` entry-point group."""
from __future__ import annotations

from ..registry import Registry

SELECTORS: Registry = Registry("selector", "benchsuite.selectors")
for _name, _target in {
    "random": "benchsuite.selectors.baselines:RandomSelector",
    "params": "benchsuite.selectors.baselines:ParamsSelector",
    "flops": "benchsuite.selectors.baselines:FlopsSelector",
    **{p: f"benchsuite.selectors.proxies.zero_cost:{p.title().replace('_', '')}Selector"
       for p in ("synflow", "snip", "grasp", "fisher", "grad_norm", "jacov", "naswot", "zico")},
    # NASLib's other four, and the 2021-24 proxies: one module per reference (extra.py lists them)
    "plain": "benchsuite.selectors.proxies.naslib_four:PlainSelector",
    "l2_norm": "benchsuite.selectors.proxies.naslib_four:L2NormSelector",
    "epe_nas": "benchsuite.selectors.proxies.naslib_four:EpeNasSelector",
    "zen": "benchsuite.selectors.proxies.naslib_four:ZenSelector",
    "tenas_ntk": "benchsuite.selectors.proxies.tenas:TenasNtkSelector",
    "tenas_lr": "benchsuite.selectors.proxies.tenas:TenasLrSelector",
    "tenas": "benchsuite.selectors.proxies.tenas:TenasSelector",
    "gradsign": "benchsuite.selectors.proxies.gradsign:GradsignSelector",
    "meco": "benchsuite.selectors.proxies.meco:MecoSelector",
    "meco_opt": "benchsuite.selectors.proxies.meco:MecoOptSelector",
    "swap": "benchsuite.selectors.proxies.swap:SwapSelector",
    "swap_reg": "benchsuite.selectors.proxies.swap:SwapRegSelector",
    "az_expressivity": "benchsuite.selectors.proxies.aznas:AzExpressivitySelector",
    "az_progressivity": "benchsuite.selectors.proxies.aznas:AzProgressivitySelector",
    "az_trainability": "benchsuite.selectors.proxies.aznas:AzTrainabilitySelector",
    "az_complexity": "benchsuite.selectors.proxies.aznas:AzComplexitySelector",
    "az_nas": "benchsuite.selectors.proxies.aznas:AzNasSelector",
    "vote": "benchsuite.selectors.proxies.vote:VoteSelector",
    "eproxy": "benchsuite.selectors.proxies.eproxy:EproxySelector",
    "eproxy-dps": "benchsuite.selectors.proxies.eproxy:EproxyDPSSelector",
    "darts": "benchsuite.selectors.weight_sharing.darts:DartsSelector",
    "it": "benchsuite.selectors.weight_sharing.darts:ITSelector",
    "darts-pt": "benchsuite.selectors.weight_sharing.darts_pt:DartsPTSelector",
    "spos": "benchsuite.selectors.weight_sharing.spos:SPOSSelector",
    "fewshot": "benchsuite.selectors.weight_sharing.spos:FewShotSelector",
    "rlnas": "benchsuite.selectors.weight_sharing.rlnas:RLNASSelector",
    "ctnas": "benchsuite.selectors.learned.ctnas:CTNASSelector",
    "nao": "benchsuite.selectors.learned.nao:NAOSelector",
    "tnao": "benchsuite.selectors.learned.tnao:TNAOSelector",
    "ridge": "benchsuite.selectors.learned.ridge:RidgeSelector",
    "zc_gbt": "benchsuite.selectors.learned.zc_gbt:ZcGbtSelector",
    "random-search": "benchsuite.selectors.search.baselines:RandomSearch",
    "rea": "benchsuite.selectors.search.baselines:REA",
}.items():
    SELECTORS.register(_name, _target)
