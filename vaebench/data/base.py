"""The one shape every dataset takes: whole splits as tensors, pixels in [0, 1], labels kept."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch


@dataclass
class Splits:
    """Train / validation / test tensors of one dataset.

    x tensors have shape (N, C, H, W): float32 in [0, 1], or uint8 in 0..255 for data sets too
    large to hold as floats (dSprites: 737,280 images); read batches through `pixels()`, which
    turns either into float32 in [0, 1]. y tensors are int64 labels. `checksum` identifies the
    source data (it goes into every run record). `ground_truth`, when set, is a data set with
    known generative factors (e.g. `DSprites`), which enables the disentanglement metrics.
    """

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int
    checksum: str
    source: str
    ground_truth: Any = None

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_x.shape[1:])  # type: ignore[return-value]

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        return getattr(self, f"{name}_x"), getattr(self, f"{name}_y")


def pixels(x: torch.Tensor) -> torch.Tensor:
    """A batch of stored images as float32 in [0, 1] (uint8 storage is 0..255)."""
    import torch

    if x.dtype == torch.uint8:
        return x.float().div_(255.0)
    return x


def fixed_split(n: int, n_val: int, n_test: int = 0, seed: int = 20240601):
    """Index arrays (train, val, test) from a permutation that does not depend on the run seed."""
    perm = np.random.default_rng(seed).permutation(n)
    val = np.sort(perm[:n_val])
    test = np.sort(perm[n_val : n_val + n_test])
    train = np.sort(perm[n_val + n_test :])
    return train, val, test


def official_train_test_splits(name: str, x_all, y_all, x_test, y_test, n_val: int, num_classes: int,
                               checksum: str, source: str) -> Splits:
    """The splits of a data set published as a training and a test set (numpy arrays): a fixed
    `n_val`-image validation part of the official training set (independent of the run seed),
    the rest for training, and the official test set."""
    import torch

    train, val, _ = fixed_split(len(x_all), n_val)
    t = torch.from_numpy
    return Splits(
        name=name,
        train_x=t(x_all[train]), train_y=t(y_all[train]),
        val_x=t(x_all[val]), val_y=t(y_all[val]),
        test_x=t(x_test), test_y=t(y_test),
        num_classes=num_classes, checksum=checksum, source=source,
    )
