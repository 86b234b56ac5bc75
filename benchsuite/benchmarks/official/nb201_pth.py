"""Read an official NAS-Bench-201 file (``NAS-Bench-201-v1_0-e61699.pth`` / ``v1_1-096897.pth``).

The file is a torch pickle; it is loaded with ``weights_only=True`` (plain containers and tensors
only, never arbitrary objects) and handed to ``nas_201_api`` as a dict (the API's own ``torch.load``
trips torch's ``weights_only`` default); the numbers come from the API's own ``get_metrics``.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ...errors import BenchsuiteError
from ...spaces import nb201 as space
from . import COLUMNS, TRIAL_MARK, sha256_memo

# (our dataset, NB201 dataset, NB201 set, our metric)
_SETS = (
    ("cifar10", "cifar10", "ori-test", "test"),
    ("cifar10-valid", "cifar10-valid", "x-valid", "valid"),
    ("cifar10-valid", "cifar10-valid", "ori-test", "test"),
    ("cifar100", "cifar100", "x-valid", "valid"),
    ("cifar100", "cifar100", "x-test", "test"),
    ("imagenet16", "ImageNet16-120", "x-valid", "valid"),
    ("imagenet16", "ImageNet16-120", "x-test", "test"),
)


def arch_rows(arch: str, by_hp: dict) -> list[tuple]:
    """Tidy rows of one cell from its ``{epochs: ArchResults}`` (NB-201's and NATS-Bench's layout):
    each set's accuracy after the last epoch, the mean over the trials the file holds, and for the
    validation sets each trial's own (metric ``valid#<seed>``)."""
    space.parse_arch(arch)
    rows = []
    for hp, res in by_hp.items():
        for ours, ds, setname, metric in _SETS:
            if ds not in res.get_dataset_names():
                continue
            try:
                acc = res.get_metrics(ds, setname, is_random=False)["accuracy"]
            except (KeyError, ValueError):
                continue
            rows.append((arch, ours, int(hp), metric, float(acc)))
            if metric == "valid":   # queries read validation: each trial too, for a one-random-trial oracle
                for seed in res.get_dataset_seeds(ds):
                    one = res.get_metrics(ds, setname, is_random=int(seed))["accuracy"]
                    rows.append((arch, ours, int(hp), f"{metric}{TRIAL_MARK}{int(seed)}", float(one)))
        if int(hp) == 200 and "cifar10" in res.get_dataset_names():
            rows.append((arch, "cifar10", 200, "params_m", float(res.get_compute_costs("cifar10")["params"])))
    return rows


def digest(path: Path) -> str:
    return sha256_memo(path)


def read_table(path: Path) -> pd.DataFrame:
    import torch
    from nas_201_api import NASBench201API

    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure means: not a plain official file
        # torch's own text is a paragraph of advice about weights_only=False (which benchsuite never
        # uses on a file it has not verified); the error's kind says enough
        raise BenchsuiteError(f"{path} is not an official NAS-Bench-201 file: torch cannot load it as plain tensors "
                              f"and containers ({type(e).__name__})") from None
    if not isinstance(raw, dict) or not {"meta_archs", "arch2infos", "evaluated_indexes"} <= set(raw):
        raise BenchsuiteError(f"{path} lacks the NAS-Bench-201 keys meta_archs/arch2infos/evaluated_indexes")
    api = NASBench201API(raw, verbose=False)
    rows = [r for index, by_hp in api.arch2infos_dict.items() for r in arch_rows(api.meta_archs[index], by_hp)]
    return pd.DataFrame(rows, columns=COLUMNS)
