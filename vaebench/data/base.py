"""The one shape every dataset takes: whole splits as tensors, pixels in [0, 1], labels kept."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class Splits:
    """Train / validation / test tensors of one dataset.

    x tensors are float32 of shape (N, C, H, W) with values in [0, 1]; y tensors are int64 labels.
    `checksum` identifies the source data (it goes into every run record).
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

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_x.shape[1:])  # type: ignore[return-value]

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        return getattr(self, f"{name}_x"), getattr(self, f"{name}_y")


def fixed_split(n: int, n_val: int, n_test: int = 0, seed: int = 20240601):
    """Index arrays (train, val, test) from a permutation that does not depend on the run seed."""
    perm = np.random.default_rng(seed).permutation(n)
    val = np.sort(perm[:n_val])
    test = np.sort(perm[n_val : n_val + n_test])
    train = np.sort(perm[n_val + n_test :])
    return train, val, test
