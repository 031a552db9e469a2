"""Shapes3D (Burgess & Kim 2018, "3D Shapes Dataset", https://github.com/deepmind/3d-shapes):
480,000 rendered 64x64x3 images of an object in a room, one for every combination of six factors.

The definitions are disentanglement_lib's (``disentanglement_lib/data/ground_truth/shapes3d.py``):

    floor_hue    10 values        object_hue   10 values      shape        4 values
    wall_hue     10 values        scale         8 values      orientation 15 values

in that order, orientation varying fastest; all six are observed; pixels / 255, no resizing.

The file is the official ``3dshapes.h5`` (HDF5, hence h5py: ``images`` uint8 (480000, 64, 64, 3)
and ``labels`` float64 (480000, 6), the factor values), checked against the SHA-256 that
TensorFlow Datasets pins for it (``tensorflow_datasets/url_checksums/shapes3d.txt``). The factor
indices are read from ``labels`` (each column's distinct values, in increasing order), so a file
whose rows are not in grid order is still read right, and an incomplete one is refused.

Memory: the images are read from the file on demand through h5py (the release stores them in
compressed chunks, so they cannot be memory-mapped): a 64 MiB chunk cache per process and the
labels (23 MB) stay in memory; held whole they would be 5.9 GB. Licence: Apache 2.0 (the 3d-shapes
repository).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vaebench.data import _files
from vaebench.data.base import Splits
from vaebench.data.factor_grid import FactorGrid, Grid, HDF5Rows, split_grid
from vaebench.errors import DataError

FACTOR_NAMES = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
FACTOR_SIZES = (10, 10, 10, 8, 4, 15)
LABEL = 4  # the probe's class: shape
FILENAME = "3dshapes.h5"
URL = "https://storage.googleapis.com/3d-shapes/3dshapes.h5"
# tensorflow_datasets/url_checksums/shapes3d.txt (267,573,662 bytes)
SHA256 = {FILENAME: "0a0f6ed98baff276a50f3a081a7434d788da63cb135a98189b2a5b5769be1785"}
ABOUT = ("Burgess & Kim 2018: 480,000 images 3x64x64; factors floor_hue 10, wall_hue 10, object_hue 10, scale 8, "
         "shape 4, orientation 15; Apache 2.0")
HOW_TO_GET = (f"download {URL} (268 MB) into a folder (or its 3dshapes/ subfolder) and pass --data-root DIR or set "
              "VAEBENCH_DATA, or run once with network (it is downloaded into ~/.cache/vaebench/3dshapes)")

FILES = _files.FileSet("Shapes3D", ("3dshapes", ""), pins=lambda: SHA256, algorithm="sha256", how_to_get=HOW_TO_GET,
                       fetch=lambda root: _files.fetch_urls({FILENAME: URL}, _folder(root)), produces=FILENAME)


def _folder(root: Path) -> Path:
    (root / "3dshapes").mkdir(parents=True, exist_ok=True)
    return root / "3dshapes"


def read(path: Path) -> FactorGrid:
    """The ground truth of a ``3dshapes.h5`` (images read on demand)."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            images, labels = f["images"], f["labels"]
            shape = images.shape
            if images.dtype != np.uint8 or len(shape) != 4 or shape[1:] != (64, 64, 3):
                raise DataError(f"Shapes3D file {path}: images are {images.dtype} {shape}, not uint8 (N, 64, 64, 3); {HOW_TO_GET}")
            values = np.asarray(labels[()], dtype=np.float64)
    except (OSError, KeyError) as exc:
        raise DataError(f"Shapes3D file {path} cannot be read as HDF5 with images and labels ({exc}); {HOW_TO_GET}") from None
    if values.shape != (shape[0], len(FACTOR_SIZES)):
        raise DataError(f"Shapes3D file {path}: labels are {values.shape}, not ({shape[0]}, {len(FACTOR_SIZES)}); {HOW_TO_GET}")
    factors = np.empty(values.shape, dtype=np.int64)
    for j, name in enumerate(FACTOR_NAMES):
        distinct, factors[:, j] = np.unique(values[:, j], return_inverse=True)
        if len(distinct) != FACTOR_SIZES[j]:
            raise DataError(f"Shapes3D file {path}: factor {name} has {len(distinct)} values, not {FACTOR_SIZES[j]}; {HOW_TO_GET}")
    rows = Grid(FACTOR_SIZES).rows_of(factors, f"Shapes3D file {path}")
    return FactorGrid(FACTOR_NAMES, FACTOR_SIZES, range(len(FACTOR_SIZES)), HDF5Rows(path, "images"), (3, 64, 64), rows)


def load_shapes3d_splits(data_root=None, allow_download: bool = True) -> Splits:
    folder = FILES.locate(data_root, allow_download)
    ds = read(folder / FILENAME)
    source = f"{folder / FILENAME} (SHA-256 verified; disentanglement_lib's Shapes3D factors)"
    return split_grid("shapes3d", ds, _files.combined(SHA256), source, label=LABEL, num_classes=FACTOR_SIZES[LABEL],
                      image_shape=ds.image_shape, streamed=True)
