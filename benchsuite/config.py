"""Run configuration: one frozen dataclass, built from CLI args, written into run.json."""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError


@dataclass(frozen=True)
class RunConfig:
    bench: str = "nb201"
    dataset: str = "cifar10"
    selector: str = "params"
    fidelity: int | None = None       # None: the benchmark's default (200 for NB201, 108 for NB101)
    acc: str | None = None            # accuracy column, "test" | "valid"; None: test where the data has it
    metrics: tuple[str, ...] | None = None  # ranking metrics to compute; None: every registered one
    sample: int | None = None         # None: every covered architecture
    labels: int | None = None         # labelled cells for a learned selector (its ``labels`` hyperparameter)
    queries: int | None = None        # search methods: query budget per seed (None: DEFAULT_QUERIES)
    seeds: tuple[int, ...] = (0,)
    device: str = "auto"
    out: str | None = None
    resume: bool = False
    hparams: dict[str, Any] = field(default_factory=dict)
    data_dir: str | None = None
    official: str | None = None      # an official file: NB-201 .pth, NATS-Bench folder, NB-101 tfrecord
    chunk: int | None = None          # archs per score() call and flush of scores.csv; None: the selector's own
    shard: tuple[int, int] | None = None  # (i, K): score only positions i, i+K, ... of each seed's cells (suites)
    n_boot: int = 1000                # bootstrap resamples for the rho/tau CIs
    threads: int | None = None        # torch's CPU threads; None: benchsuite.threads.DEFAULT_THREADS (1)
    compute: bool = False             # compute proxies even where a shipped all-cell table holds them
    table: str | None = None          # answer from this shipped proxy table whatever the dataset

    def __post_init__(self) -> None:
        if self.sample is not None and self.sample < 2:
            raise ConfigError(f"--sample must be at least 2, got {self.sample}")
        if self.labels is not None and self.labels < 0:
            raise ConfigError(f"--labels must be 0 or more, got {self.labels}")
        if self.queries is not None and self.queries < 1:
            raise ConfigError(f"--queries must be at least 1, got {self.queries}")
        if not self.seeds:
            raise ConfigError("--seeds needs at least one seed")
        if any(not isinstance(s, int) or s < 0 for s in self.seeds):
            raise ConfigError(f"--seeds must be whole numbers >= 0, got {list(self.seeds)}")
        if len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"--seeds has duplicates: {list(self.seeds)}")
        check_device(self.device)
        from .threads import check_threads

        check_threads(self.threads)
        if self.n_boot < 0:
            raise ConfigError(f"--n-boot must be 0 (no bootstrap CIs) or more, got {self.n_boot}")
        if self.chunk is not None and self.chunk < 1:
            raise ConfigError(f"chunk must be at least 1, got {self.chunk}")
        if self.compute and self.table:
            raise ConfigError("--compute and --table exclude each other: compute, or answer from a table")
        if self.shard is not None and not (len(self.shard) == 2 and 0 <= self.shard[0] < self.shard[1]):
            raise ConfigError(f"shard must be (i, K) with 0 <= i < K, got {self.shard}")

    def resolved(self) -> RunConfig:
        """This config with its output folder fixed: the default folder carries the time it was
        made, so it is chosen once and every later message names the same folder."""
        if self.out:
            return self
        stamp = time.strftime("%Y%m%d-%H%M%S")
        return dataclasses.replace(self, out=str(Path("results") / "runs" / f"{self.bench}-{self.dataset}-"
                                                                             f"{self.selector}-{stamp}"))

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["seeds"] = list(self.seeds)
        d["metrics"] = list(self.metrics) if self.metrics else None
        d["shard"] = list(self.shard) if self.shard else None
        return d

    # Fields that must agree for --resume to continue a run rather than mix two runs.
    IDENTITY = ("bench", "dataset", "selector", "fidelity", "acc", "sample", "labels", "queries", "hparams",
                "official", "shard", "table")


# Query budget of a search method per seed when --queries is not given: the largest budget the
# search view reports (best_test_at_q500).
DEFAULT_QUERIES = 500


def check_device(device: str) -> str:
    """``device`` as given, where it names one benchsuite can be asked for: auto, cpu or cuda[:N]."""
    if device not in ("auto", "cpu", "cuda") and not device.startswith("cuda:"):
        raise ConfigError(f"--device must be auto, cpu or cuda[:N], got {device!r}")
    return device


def parse_seeds(text: str) -> tuple[int, ...]:
    """'0,1,2' or '0-4' -> seeds."""
    try:
        out: list[int] = []
        for part in text.split(","):
            part = part.strip()
            if "-" in part[1:]:
                lo, hi = (int(x) for x in part.split("-", 1))
                if hi < lo:
                    raise ConfigError(f"--seeds {part}: a range runs from the lower seed to the higher, e.g. {hi}-{lo}")
                out.extend(range(lo, hi + 1))
            elif part:
                out.append(int(part))
        return tuple(out)
    except ValueError:
        raise ConfigError(f"--seeds must look like 0,1,2 or 0-4, got {text!r}") from None


def parse_hparams(items: list[str]) -> dict[str, Any]:
    """['lr=0.1', 'k=3'] -> {'lr': 0.1, 'k': 3}; values parsed as JSON when they can be."""
    import json

    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--hp expects key=value, got {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out
