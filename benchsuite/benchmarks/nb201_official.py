"""Read an official NAS-Bench-201 file (``NAS-Bench-201-v1_0-e61699.pth`` / ``v1_1-096897.pth``).

The file is a torch pickle; it is loaded with ``weights_only=True`` (plain containers and tensors
only, never arbitrary objects), handed to ``nas_201_api`` as a dict (the API's own ``torch.load``
trips torch's ``weights_only`` default), and flattened once into a tidy CSV cached beside the
other data, keyed by the file's SHA-256, so later runs never touch the multi-GB file again.
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from ..errors import BenchsuiteError, DataNotFoundError
from ..spaces import nb201 as space
from . import sources

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


def _flatten(raw: dict) -> pd.DataFrame:
    from nas_201_api import NASBench201API

    api = NASBench201API(raw, verbose=False)
    rows = []
    for index, by_hp in api.arch2infos_dict.items():
        arch = api.meta_archs[index]
        space.parse_arch(arch)
        for hp, res in by_hp.items():
            for ours, ds, setname, metric in _SETS:
                if ds not in res.get_dataset_names():
                    continue
                try:  # mean over the trials (seeds) that the file holds
                    acc = res.get_metrics(ds, setname, is_random=False)["accuracy"]
                except (KeyError, ValueError):
                    continue
                rows.append((arch, ours, int(hp), metric, float(acc)))
            if hp == "200" and "cifar10" in res.get_dataset_names():
                rows.append((arch, "cifar10", 200, "params_m", float(res.get_compute_costs("cifar10")["params"])))
    return pd.DataFrame(rows, columns=["arch", "dataset", "fidelity", "metric", "value"])


def load_official_table(path: str | os.PathLike) -> tuple[pd.DataFrame, str]:
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"official NAS-Bench-201 file {path} does not exist")
    digest = sources.sha256_of(path)
    cached = sources.cache_dir() / "nb201_official" / f"{digest}.csv"
    if cached.is_file():
        return pd.read_csv(cached), digest
    import torch

    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure means: not a plain official file
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
        raise BenchsuiteError(f"{path} is not an official NAS-Bench-201 file (loading it with weights_only=True, as "
                              f"benchsuite always does, failed: {first})") from None
    if not isinstance(raw, dict) or not {"meta_archs", "arch2infos", "evaluated_indexes"} <= set(raw):
        raise BenchsuiteError(f"{path} lacks the NAS-Bench-201 keys meta_archs/arch2infos/evaluated_indexes")
    table = _flatten(raw)
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(".part")
    table.to_csv(tmp, index=False)
    os.replace(tmp, cached)
    return table, digest
