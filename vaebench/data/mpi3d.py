"""MPI3D (Gondal et al. 2019, "On the Transfer of Inductive Bias from Simulation to the Real World:
a New Disentanglement Dataset", https://github.com/rr-learning/disentanglement_dataset): a robot
arm holding an object, 64x64x3, in three variants: ``toy`` (simplistic renderings),
``realistic`` (realistic renderings) and ``real`` (photographs of the real platform).

The definitions are disentanglement_lib's (``disentanglement_lib/data/ground_truth/mpi3d.py``):
seven factors, all observed, the last varying fastest, pixels / 255, no resizing:

    object_color, object_shape, object_size (2), camera_height (3), background_color (3),
    first_dof (40), second_dof (40)

The factor sizes follow from the number of images: the files of the dataset's final release
(``Final_Dataset/mpi3d_{toy,realistic,real}.npz``) hold 1,036,800 images, six colours and six
shapes (sizes 6, 6, 2, 3, 3, 40, 40); the earlier release of toy and realistic held 460,800,
four and four (4, 4, 2, 3, 3, 40, 40, what disentanglement_lib's code assumes for toy and
realistic). Any other count is refused.

Files: ``mpi3d_<variant>.npz`` with the array ``images`` uint8 (N, 64, 64, 3), in the folder
itself or its ``mpi3d/`` or ``mpi3d_<variant>/`` subfolder (disentanglement_lib's layout). They
are checked against the MD5s the `disent` project pins (nmichlo/disent,
``disent/dataset/data/_groundtruth__mpi3d.py``); neither the authors nor TensorFlow Datasets
publish checksums. Memory: the array is memory-mapped where it lies in the (uncompressed)
``.npz``, so only the pages read are in memory (the OS page cache); the file is 12.7 GB.
Licence: CC BY 4.0 (the dataset's README).
"""

from __future__ import annotations

from pathlib import Path

from vaebench.data import _files
from vaebench.data.base import Splits
from vaebench.data.factor_grid import FactorGrid, MemmapRows, npz_member, split_grid
from vaebench.errors import DataError

FACTOR_NAMES = ("object_color", "object_shape", "object_size", "camera_height", "background_color",
                "first_dof", "second_dof")
# image count -> factor sizes (see the module doc)
SIZES_BY_COUNT = {1_036_800: (6, 6, 2, 3, 3, 40, 40), 460_800: (4, 4, 2, 3, 3, 40, 40)}
LABEL = 1  # the probe's class: object shape
ABOUT = ("Gondal et al. 2019, the {} variant: 1,036,800 images 3x64x64; factors object_color 6, object_shape 6, "
         "object_size 2, camera_height 3, background_color 3, first_dof 40, second_dof 40; CC BY 4.0")
VARIANTS = ("toy", "realistic", "real")
URL = "https://storage.googleapis.com/disentanglement_dataset/Final_Dataset/mpi3d_{}.npz"
# nmichlo/disent, disent/dataset/data/_groundtruth__mpi3d.py ("full" hashes of the final release)
MD5 = {
    "toy": "55889cb7c7dfc655d6e0277beee88868",
    "realistic": "59a6225b88b635365f70c91b3e52f70f",
    "real": "0f33f609918fb5c97996692f91129802",
}


def filename(variant: str) -> str:
    return f"mpi3d_{variant}.npz"


def how_to_get(variant: str) -> str:
    return (f"download {URL.format(variant)} (12.7 GB) into a folder (or its mpi3d/ subfolder) and pass --data-root DIR "
            "or set VAEBENCH_DATA, or run once with network (it is downloaded into ~/.cache/vaebench/mpi3d)")


def files(variant: str) -> _files.FileSet:
    name = filename(variant)
    return _files.FileSet(f"MPI3D {variant}", ("mpi3d", f"mpi3d_{variant}", ""), pins=lambda: {name: MD5[variant]},
                          algorithm="md5", how_to_get=how_to_get(variant), produces=name,
                          fetch=lambda root: _files.fetch_urls({name: URL.format(variant)}, _folder(root)))


def _folder(root: Path) -> Path:
    (root / "mpi3d").mkdir(parents=True, exist_ok=True)
    return root / "mpi3d"


def read(path: Path, variant: str) -> FactorGrid:
    """The ground truth of an ``mpi3d_<variant>.npz`` (images memory-mapped)."""
    what, how = f"MPI3D {variant}", how_to_get(variant)
    offset, dtype, shape = npz_member(path, "images", what, how)
    if dtype != "uint8" or len(shape) != 4 or tuple(shape[1:]) != (64, 64, 3):
        raise DataError(f"{what} file {path}: images are {dtype} {shape}, not uint8 (N, 64, 64, 3); {how}")
    sizes = SIZES_BY_COUNT.get(shape[0])
    if sizes is None:
        counts = " or ".join(f"{n:,}" for n in SIZES_BY_COUNT)
        raise DataError(f"{what} file {path} holds {shape[0]:,} images, not a full MPI3D grid ({counts}); {how}")
    return FactorGrid(FACTOR_NAMES, sizes, range(len(sizes)), MemmapRows(path, offset, shape), (3, 64, 64))


def load_mpi3d_splits(variant: str, data_root=None, allow_download: bool = True) -> Splits:
    fileset = files(variant)
    folder = fileset.locate(data_root, allow_download)
    path = folder / filename(variant)
    ds = read(path, variant)
    source = f"{path} (MD5 verified; disentanglement_lib's MPI3D factors, sizes {tuple(ds.grid.sizes)})"
    return split_grid(f"mpi3d_{variant}", ds, _files.combined(fileset.pins()), source, label=LABEL,
                      num_classes=int(ds.factor_sizes[LABEL]), image_shape=ds.image_shape, streamed=True)


def load_mpi3d_toy_splits(data_root=None) -> Splits:
    return load_mpi3d_splits("toy", data_root)


def load_mpi3d_realistic_splits(data_root=None) -> Splits:
    return load_mpi3d_splits("realistic", data_root)


def load_mpi3d_real_splits(data_root=None) -> Splits:
    return load_mpi3d_splits("real", data_root)
