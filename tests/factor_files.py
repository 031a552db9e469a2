"""Small files in the official formats of Shapes3D, MPI3D, SmallNORB and Cars3D, for the tests.

Each writer makes a complete grid of (small) factor sizes in the real layout: ``3dshapes.h5``
(HDF5 datasets ``images`` uint8 (N, 64, 64, 3), gzip-chunked like the release, and ``labels``
float64 (N, 6) of factor values), ``mpi3d_<variant>.npz`` (``np.savez``: the array ``images``),
SmallNORB's six binary matrices (LeCun's format: int32 magic, rank, at least three dimensions,
then the data; the rows shuffled, as the files are not in grid order), and Cars3D's ``list.txt``
and per-car MATLAB files (``im`` uint8 (128, 128, 3, 24, 4), ``mask``), unpacked or in the
``nips2015-analogy-data.tar.gz`` layout. Every image shows its factors: factor j is the grey
level ``5 + 10 * index`` of the j-th vertical band (`paint`), which survives the resizes, so
`read_painted` tells which factors an image that a loader returns really has.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from pathlib import Path

import numpy as np

from vaebench.data.factor_grid import Grid


def paint(factors, side: int, channels: int) -> np.ndarray:
    """uint8 (side, side, channels): band j (of len(factors)) is grey 5 + 10 * factors[j]."""
    img = np.zeros((side, side, channels), dtype=np.uint8)
    n = len(factors)
    for j, f in enumerate(factors):
        img[:, j * side // n : (j + 1) * side // n] = 5 + 10 * int(f)
    return img


def read_painted(images: np.ndarray, n_factors: int) -> np.ndarray:
    """Factors (N, n_factors) of painted uint8 images (N, C, H, W): each band's centre pixel."""
    side = images.shape[-1]
    cols = [(2 * j + 1) * side // (2 * n_factors) for j in range(n_factors)]
    values = images[:, 0, side // 2, cols].astype(np.int64)
    return values // 10  # grey 5 + 10 f -> f


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def md5(path: Path) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


# ---------------------------------------------------------------- Shapes3D

SHAPES3D_SIZES = (2, 2, 3, 2, 4, 3)  # floor, wall, object hue, scale, shape, orientation


def write_shapes3d(folder: Path, sizes=SHAPES3D_SIZES, chunks: bool = True) -> Path:
    """``3dshapes.h5`` in grid order (orientation fastest), labels as the release's values."""
    import h5py

    grid = Grid(sizes)
    f = grid.index_to_factors(np.arange(grid.size))
    # the release's value ranges: hues in [0, 0.9], scale in [0.75, 1.25], shape 0..3, orientation in [-30, 30]
    ranges = [(0, 0.9), (0, 0.9), (0, 0.9), (0.75, 1.25), (0, sizes[4] - 1), (-30, 30)]
    labels = np.stack([np.linspace(lo, hi, s)[f[:, j]] for j, ((lo, hi), s) in enumerate(zip(ranges, sizes, strict=True))], axis=1)
    images = np.stack([paint(row, 64, 3) for row in f])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "3dshapes.h5"
    with h5py.File(path, "w") as h:
        if chunks:
            h.create_dataset("images", data=images, chunks=(1, 64, 64, 3), compression="gzip")
        else:
            h.create_dataset("images", data=images)
        h.create_dataset("labels", data=labels.astype(np.float64))
    return path


# ---------------------------------------------------------------- MPI3D

MPI3D_SIZES = (2, 2, 2, 1, 2, 3, 4)


def write_mpi3d(folder: Path, variant: str = "toy", sizes=MPI3D_SIZES, compressed: bool = False) -> Path:
    grid = Grid(sizes)
    images = np.stack([paint(row, 64, 3) for row in grid.index_to_factors(np.arange(grid.size))])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"mpi3d_{variant}.npz"
    (np.savez_compressed if compressed else np.savez)(path, images=images)
    return path


# ---------------------------------------------------------------- SmallNORB

SMALLNORB_SIZES = (2, 4, 2, 3, 2)  # category, instance, elevation, azimuth, lighting
SMALLNORB_TRAIN_INSTANCES = (1, 3)  # the rest are in the testing file
MAGIC = {np.dtype(np.uint8): 0x1E3D4C55, np.dtype("<i4"): 0x1E3D4C54}


def binary_matrix(array: np.ndarray) -> bytes:
    """LeCun's binary matrix format: magic, rank, max(3, rank) dimensions (padded with 1), data."""
    dims = list(array.shape) + [1] * (3 - array.ndim)
    header = np.array([MAGIC[array.dtype], array.ndim, *dims], dtype="<i4").tobytes()
    return header + np.ascontiguousarray(array).tobytes()


def write_smallnorb(folder: Path, sizes=SMALLNORB_SIZES, packed: bool = True, seed: int = 0) -> Path:
    """The six files; the left image of a pair shows its five factors, the right one their negative."""
    from vaebench.data.smallnorb import CHUNKS, name

    grid = Grid(sizes)
    f = grid.index_to_factors(np.arange(grid.size))
    folder.mkdir(parents=True, exist_ok=True)
    for chunk, train in zip(CHUNKS, (True, False), strict=True):
        rows = f[np.isin(f[:, 1], SMALLNORB_TRAIN_INSTANCES) == train]
        rows = rows[np.random.default_rng(seed).permutation(len(rows))]
        left = np.stack([paint(r, 96, 1)[:, :, 0] for r in rows])
        dat = np.stack([left, 255 - left], axis=1)  # (N, 2, 96, 96)
        cat = rows[:, 0].astype("<i4")
        info = np.column_stack([rows[:, 1], rows[:, 2], 2 * rows[:, 3], rows[:, 4]]).astype("<i4")
        for part, array in (("dat", dat), ("cat", cat), ("info", info)):
            raw = binary_matrix(array)
            path = folder / name(chunk, part)
            if packed:
                with gzip.open(f"{path}.gz", "wb") as g:
                    g.write(raw)
            else:
                path.write_bytes(raw)
    return folder


def smallnorb_pins(folder: Path) -> dict[str, str]:
    return {p.name: sha256(p) for p in sorted(folder.glob("*.mat.gz"))}


# ---------------------------------------------------------------- Cars3D

CARS3D_CARS = 3
CARS3D_NAMES = ("car_002_mesh", "car_000_mesh", "car_001_mesh")  # list.txt order, not sorted


def _car_mat(car: int) -> bytes:
    from scipy.io import savemat

    im = np.zeros((128, 128, 3, 24, 4), dtype=np.uint8)
    for az in range(24):
        for el in range(4):
            im[:, :, :, az, el] = paint((el, az, car), 128, 3)
    buf = io.BytesIO()
    savemat(buf, {"im": im, "mask": np.ones((128, 128, 24, 4), dtype=np.uint8)})
    return buf.getvalue()


def write_cars3d(folder: Path, packed: bool = True) -> Path:
    """The unpacked cars/ folder, or the archive with data/cars/ in it; car i is line i of list.txt."""
    files = {"list.txt": "".join(f"{n}\n" for n in CARS3D_NAMES).encode()}
    for car, stem in enumerate(CARS3D_NAMES):
        files[f"{stem}.mat"] = _car_mat(car)
    folder.mkdir(parents=True, exist_ok=True)
    if not packed:
        (folder / "cars").mkdir(exist_ok=True)
        for n, raw in files.items():
            (folder / "cars" / n).write_bytes(raw)
        return folder / "cars"
    path = folder / "nips2015-analogy-data.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for n, raw in files.items():
            info = tarfile.TarInfo(f"data/cars/{n}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return path
