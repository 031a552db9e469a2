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

import numpy as np

from vaebench.data.base import Splits
from vaebench.data.dsprites_render import (
    FACTOR_SIZES,
    IMAGE_SIZE,
    NUM_IMAGES,
    OFFICIAL_FILENAME,
    DSprites,
    _sprite_bank,
)
from vaebench.data.factor_grid import MAX_HELD_OUT, split_grid
from vaebench.errors import DataError

N_VAL = N_TEST = MAX_HELD_OUT  # 5% of the grid would be 36,864: the cap applies
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


def grid_splits(name: str, ds, checksum: str, source: str, subsample: int | None, render, channels: int) -> Splits:
    """Splits of the dSprites grid (or a `subsample`d part of it, see `load_dsprites_splits`)
    whose images `render(indices) -> uint8 (n, channels, 64, 64)` draws; `ds` is the ground
    truth the metrics sample from. The label is the shape."""
    indices, n_held = None, None
    if subsample is not None:
        indices = np.sort(np.random.default_rng(0).choice(NUM_IMAGES, size=subsample, replace=False))
        n_held = max(1, round(subsample * N_VAL / NUM_IMAGES))
        checksum = hashlib.sha256(f"{checksum}-subsample{subsample}".encode()).hexdigest()
    return split_grid(name, ds, checksum, source, label=0, num_classes=FACTOR_SIZES[0],
                      image_shape=(channels, IMAGE_SIZE, IMAGE_SIZE), indices=indices, n_held=n_held, render=render)
