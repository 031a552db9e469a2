"""dSprites as a benchmark data set: the whole factor grid as uint8 splits, with ground truth.

The images come from the procedural renderer (`dsprites_render`), or from the official
``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz`` when it is found under ``--data-root`` /
``VAEBENCH_DATA`` (the folder itself or its ``dsprites/`` subfolder). Either way:

* all 737,280 images, split once by a fixed permutation into 717,280 train / 10,000 validation
  / 10,000 test (disentanglement_lib trains on the whole grid; the held-out splits are what
  the ELBO, reconstruction and best-weights selection need);
* images are stored as uint8 (0 or 255; ``Splits`` / ``pixels()`` turn batches into floats),
  2.9 GB in all instead of 11.6 GB of float32;
* the label ``y`` is the shape (3 classes), so the linear probe reads shape from the code;
* ``Splits.ground_truth`` is the `DSprites` object the disentanglement metrics sample from.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vaebench.data.base import Splits, fixed_split
from vaebench.data.dsprites_render import (
    FACTOR_SIZES,
    IMAGE_SIZE,
    NUM_IMAGES,
    OFFICIAL_FILENAME,
    DSprites,
    _sprite_bank,
    index_to_factors,
)
from vaebench.errors import DataError

if TYPE_CHECKING:
    import torch

N_VAL = N_TEST = 10_000
RENDERER_VERSION = "1"  # bump when the renderer's pixels change


def find_official_file(data_root=None) -> Path | None:
    root = data_root or os.environ.get("VAEBENCH_DATA")
    if not root:
        return None
    for d in (Path(root), Path(root) / "dsprites"):
        if (d / OFFICIAL_FILENAME).is_file():
            return d / OFFICIAL_FILENAME
    return None


def ground_truth(data_root=None) -> tuple[DSprites, str, str]:
    """(data set, checksum, source): the official file when present, else the renderer."""
    path = find_official_file(data_root)
    if path is None:
        bank = _sprite_bank()
        digest = hashlib.sha256(bank.tobytes() + f"renderer-{RENDERER_VERSION}".encode()).hexdigest()
        return DSprites(), digest, f"procedural (vaebench.data.dsprites_render v{RENDERER_VERSION})"
    try:
        ds = DSprites.from_npz(path)
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"dSprites file {path} cannot be used ({type(exc).__name__}: {exc})") from None
    digest = hashlib.sha256(np.ascontiguousarray(ds._images).tobytes()).hexdigest()
    return ds, digest, str(path)


def load_dsprites_splits(data_root=None, subsample: int | None = None) -> Splits:
    """The splits described above. `subsample` keeps a random n-image subset of the grid, split
    in the same 97.3 / 1.35 / 1.35 proportions (for tests; the suite uses the whole grid)."""
    ds, checksum, source = ground_truth(data_root)

    def binary(idx: np.ndarray) -> np.ndarray:
        images = ds.images(idx)  # (n, 64, 64) uint8 in {0, 1}
        np.multiply(images, 255, out=images)
        return images[:, None]

    return grid_splits("dsprites", ds, checksum, source, subsample, binary, channels=1)


def grid_splits(name: str, ds, checksum: str, source: str, subsample: int | None, render, channels: int,
                chunk: int = 16_384) -> Splits:
    """Splits of the dSprites grid (or a `subsample`d part of it, see `load_dsprites_splits`)
    whose images `render(indices) -> uint8 (n, channels, 64, 64)` draws, chunk by chunk into
    one preallocated tensor per split; `ds` is the ground truth the metrics sample from."""
    import torch

    indices = np.arange(NUM_IMAGES)
    n_val, n_test = N_VAL, N_TEST
    if subsample is not None:
        indices = np.sort(np.random.default_rng(0).choice(NUM_IMAGES, size=subsample, replace=False))
        n_val = n_test = max(1, round(subsample * N_VAL / NUM_IMAGES))
        checksum = hashlib.sha256(f"{checksum}-subsample{subsample}".encode()).hexdigest()
    train, val, test = (indices[part] for part in fixed_split(len(indices), n_val, n_test))

    def split(idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.empty((len(idx), channels, IMAGE_SIZE, IMAGE_SIZE), dtype=torch.uint8)
        for i in range(0, len(idx), chunk):
            x[i : i + chunk] = torch.from_numpy(np.ascontiguousarray(render(idx[i : i + chunk])))
        y = torch.from_numpy(index_to_factors(idx)[:, 0].copy())  # the shape factor
        return x, y

    (trx, try_), (vx, vy), (tx, ty) = split(train), split(val), split(test)
    return Splits(
        name=name,
        train_x=trx, train_y=try_, val_x=vx, val_y=vy, test_x=tx, test_y=ty,
        num_classes=FACTOR_SIZES[0],
        checksum=checksum,
        source=source,
        ground_truth=ds,
    )
