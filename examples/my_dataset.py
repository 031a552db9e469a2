"""A dataset plug-in: 28x28 images of one bar, horizontal (class 0) or vertical (class 1).

Use it wherever a dataset name goes, as `examples.my_dataset:load` (from the repository root):

    python -m vaebench run --suite smoke --datasets examples.my_dataset:load

A plug-in is a function `load(data_root=None, **params) -> Splits` (or a class with
`__init__(**params)` and `load(data_root=None)`). Its keyword parameters with defaults are the
parameters a suite may set (`{name: "examples.my_dataset:load", n_per_class: 2000}`); each run
records them all. Return whole tensors: x (N, C, H, W) float32 in [0, 1] or uint8, y int64
labels; a checksum of the source data (it goes into every record); `data_root` is the
`--data-root` the user gave (or None): read your files from there.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from vaebench.data.base import Splits, fixed_split

SIDE = 28


def bars(n_per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(images (2n, 28, 28) uint8, labels (2n,)): a 2-4 px thick bar at a random offset."""
    rng = np.random.default_rng(seed)
    x = np.zeros((2 * n_per_class, SIDE, SIDE), dtype=np.uint8)
    y = np.repeat(np.arange(2), n_per_class)
    for i, label in enumerate(y):
        start, width = rng.integers(0, SIDE - 4), rng.integers(2, 5)
        if label == 0:
            x[i, start : start + width, :] = 255
        else:
            x[i, :, start : start + width] = 255
    return x, y


def load(data_root=None, n_per_class: int = 1000, seed: int = 0) -> Splits:
    x, y = bars(n_per_class, seed)
    checksum = hashlib.sha256(x.tobytes() + y.astype(np.int64).tobytes()).hexdigest()
    xt, yt = torch.from_numpy(x).unsqueeze(1), torch.from_numpy(y)
    n_hold = max(1, len(x) // 10)
    train, val, test = fixed_split(len(x), n_hold, n_hold)  # fixed: the same for every run seed
    return Splits(
        name="bars", train_x=xt[train], train_y=yt[train], val_x=xt[val], val_y=yt[val],
        test_x=xt[test], test_y=yt[test], num_classes=2, checksum=checksum, source=f"examples.my_dataset (seed {seed})",
    )
