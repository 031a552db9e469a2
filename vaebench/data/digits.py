"""scikit-learn's 8x8 handwritten digits (1,797 images, shipped with scikit-learn)."""

from __future__ import annotations

import hashlib

from vaebench.data.base import Splits, fixed_split

N_VAL, N_TEST = 180, 360  # of 1,797: 1,257 train / 180 val / 360 test


def load_digits_splits(data_root=None) -> Splits:
    import torch
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.from_numpy(bunch.images.astype("float32") / 16.0).unsqueeze(1)  # [0, 16] -> [0, 1]
    y = torch.from_numpy(bunch.target.astype("int64"))
    checksum = hashlib.sha256(bunch.images.astype("uint8").tobytes() + bunch.target.astype("uint8").tobytes()).hexdigest()
    train, val, test = fixed_split(len(x), N_VAL, N_TEST)
    return Splits(
        name="digits",
        train_x=x[train], train_y=y[train],
        val_x=x[val], val_y=y[val],
        test_x=x[test], test_y=y[test],
        num_classes=10,
        checksum=checksum,
        source="sklearn.datasets.load_digits",
    )
