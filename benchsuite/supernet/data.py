"""Search data: the DARTS split of a training set into a weight half and an architecture half.

Images are normalised once and kept on the training device as one tensor; every batch is
augmented there (pad-4 crop + flip, ``data.images.augment``). Batch order and augmentation draws
come from a generator seeded by (seed, epoch, part), so an epoch is the same whether or not
training was interrupted before it. Random labels (RLNAS) are drawn once per image from the seed
and stay fixed for the whole run, as in the RLNAS reference.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from ..data.images import ImageSet, augment, to_tensor
from ..errors import ConfigError


@dataclass
class SearchData:
    x: dict[str, torch.Tensor]      # "weights" / "arch" -> normalised float NCHW on the device
    y: dict[str, torch.Tensor]
    source: str
    num_classes: int

    @classmethod
    def from_images(cls, images: ImageSet, *, num_classes: int, seed: int, device: str | torch.device = "cpu",
                    limit: int | None = None, random_labels: bool = False) -> SearchData:
        """First half of the (first ``limit``) training images for the weights, second half for the
        architecture, in the set's order, as DARTS splits CIFAR-10's training set."""
        n = len(images.x_train) if limit is None else min(limit, len(images.x_train))
        if n < 4:
            raise ConfigError(f"supernet training needs at least 4 training images, {images.source} gives {n}")
        y = images.y_train[:n] % num_classes if num_classes < int(images.y_train.max()) + 1 else images.y_train[:n]
        if random_labels:
            y = np.random.default_rng([seed, 0x524C]).integers(0, num_classes, size=n)
        x = to_tensor(images.x_train[:n], images.name).to(device)
        y = torch.as_tensor(np.asarray(y, dtype=np.int64), device=device)
        half = n // 2
        return cls({"weights": x[:half], "arch": x[half:]}, {"weights": y[:half], "arch": y[half:]},
                   images.source + (" (random labels)" if random_labels else ""), num_classes)

    def steps(self, part: str, batch_size: int) -> int:
        return max(1, len(self.x[part]) // batch_size)

    def batches(self, part: str, batch_size: int, *, seed: int, epoch: int, train: bool = True,
                rank: int = 0, world: int = 1) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Shuffled, augmented batches of one epoch (an incomplete last batch is dropped). Under DDP each
        rank takes its own slice of every global batch, so the ranks see disjoint images."""
        x, y = self.x[part], self.y[part]
        g = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, epoch, part == "arch"])
                                              .generate_state(1)[0]))
        order = torch.randperm(len(x), generator=g)
        for s in range(self.steps(part, batch_size)):
            idx = order[s * batch_size:(s + 1) * batch_size]
            idx = idx[rank::world].to(x.device)
            xb = x[idx]
            if train:
                xb = augment(xb, g)
            yield xb, y[idx]

    def eval_batches(self, batch_size: int, count: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Fixed, unaugmented batches of the architecture half: the validation set every cell,
        mask or sub-supernet is measured on (identical for all of them)."""
        x, y = self.x["arch"], self.y["arch"]
        n = min(len(x), batch_size * count)
        return [(x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, n, batch_size)]
