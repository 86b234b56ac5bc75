"""Supernet training throughput (images/s) beside one plain forward+backward of the same supernet.

    python benchmarks/perf_supernet.py                      # cpu-preset supernet (C=8, N=1), 2 cores
    python benchmarks/perf_supernet.py --C 16 --N 5 --device cuda --amp --channels-last

For each training mode: "plain" is forward+backward of a batch through the supernet as that mode
runs it (all five ops mixed for darts/it, one sampled path for spos/rlnas), with no optimiser or
data pipeline; "train" is the trainer's own measured rate over ``--steps`` steps (bilevel modes
count both the weight batch and the architecture batch). ratio = train / plain: 0.5 for a
bilevel method that does nothing but its two passes, 1.0 for single-path training.
"""
from __future__ import annotations

import argparse
import tempfile
import time

import torch
import torch.nn.functional as F

from benchsuite.data.images import load_images
from benchsuite.supernet.config import MODES, preset_config
from benchsuite.supernet.data import SearchData
from benchsuite.supernet.trainer import _build, forward, sample_path, train_supernet


def plain_rate(cfg, device: str, reps: int) -> float:
    net = _build(cfg, torch.device(device))
    x = torch.randn(cfg.batch_size, 3, 32, 32, device=device)
    y = torch.randint(0, cfg.num_classes, (cfg.batch_size,), device=device)
    g = torch.Generator().manual_seed(0)
    fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
    x = x.contiguous(memory_format=fmt)

    def once():
        path = sample_path(g) if cfg.mode in ("spos", "rlnas") else None
        with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=cfg.amp):
            loss = F.cross_entropy(forward(net, x, path=path).float(), y)
        loss.backward()

    once()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(reps):
        once()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return reps * cfg.batch_size / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--C", type=int, default=8)
    ap.add_argument("--N", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--amp", action="store_true")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--modes", default=",".join(MODES))
    a = ap.parse_args()
    images = load_images("cifar10")
    print(f"device={a.device} C={a.C} N={a.N} batch={a.batch_size} amp={a.amp} channels_last={a.channels_last} "
          f"threads={torch.get_num_threads()}")
    print(f"{'mode':<6} {'plain fwd+bwd img/s':>20} {'training img/s':>15} {'ratio':>6}")
    for mode in a.modes.split(","):
        cfg = preset_config(mode, "cpu", C=a.C, N=a.N, batch_size=a.batch_size, epochs=1, steps_per_epoch=a.steps,
                            amp=a.amp, channels_last=a.channels_last, image_source=images.source)
        plain = plain_rate(cfg, a.device, reps=max(3, a.steps // 2))
        data = SearchData.from_images(images, num_classes=10, seed=0, device=a.device,
                                      random_labels=mode == "rlnas")
        with tempfile.TemporaryDirectory() as root:
            net = train_supernet(cfg, data, device=a.device, root=root)
        train = net.history[-1]["images_per_s"]
        print(f"{mode:<6} {plain:>20.1f} {train:>15.1f} {train / plain:>6.2f}", flush=True)


if __name__ == "__main__":
    main()
