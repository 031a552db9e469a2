"""Data sets whose images cover a full grid of ground-truth factors, one image per combination.

dSprites, Shapes3D, MPI3D, SmallNORB and Cars3D are all of this kind. What they share lives here:

* `Grid`: the factor sizes and the conversion between a flat grid index and its factor indices
  (the last factor varies fastest, as in every official file and in disentanglement_lib's
  ``factor_bases = prod(sizes) / cumprod(sizes)``);
* `FactorGrid`: the ground truth the disentanglement scores sample from. It follows
  disentanglement_lib's ``SplitDiscreteStateSpace`` (``disentanglement_lib/data/ground_truth/
  util.py``): only the *observed* factors are the metrics' factors; the others (SmallNORB's
  instance) are drawn uniformly, from the metric's random state and after the observed ones,
  whenever an observation is sampled, exactly as ``sample_all_factors`` does;
* the row readers the images come from (a resident array, a memory-mapped ``.npy`` member of an
  uncompressed ``.npz``, an HDF5 dataset), opened lazily in each process so that DataLoader
  workers never share a file handle;
* `split_grid`: train / validation / test splits of a grid: a fixed permutation (independent of
  the run seed) holds out 5% for validation and 5% for testing, at most 10,000 each (dSprites'
  10,000 / 10,000 of 737,280 is the cap); the rest is training. Large grids are `ImageRows`
  (read on demand, like CelebA's files), small ones resident uint8 tensors.
"""

from __future__ import annotations

import os
import struct
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vaebench.data.base import Splits, fixed_split
from vaebench.errors import DataError

if TYPE_CHECKING:
    import torch

HELD_OUT_FRACTION = 0.05  # of the grid, for validation and again for testing
MAX_HELD_OUT = 10_000  # per held-out split


def held_out_size(n: int) -> int:
    """Images in each of the validation and test splits of an n-image grid."""
    return max(1, min(MAX_HELD_OUT, round(HELD_OUT_FRACTION * n)))


def integers(rng, high: int, size: int) -> np.ndarray:
    """Uniform integers in [0, high) from a RandomState (one ``randint``, as disentanglement_lib)
    or a Generator."""
    if isinstance(rng, np.random.Generator):
        return rng.integers(high, size=size)
    return rng.randint(high, size=size)


class Grid:
    """Factor sizes and flat index <-> factor indices, last factor fastest."""

    def __init__(self, sizes: Sequence[int]):
        self.sizes = tuple(int(s) for s in sizes)
        self.bases = np.array([int(np.prod(self.sizes[i + 1 :])) for i in range(len(self.sizes))], dtype=np.int64)
        self.size = int(np.prod(self.sizes))

    def index_to_factors(self, idx) -> np.ndarray:
        """Flat indices -> integer factor indices (N, F)."""
        idx = np.atleast_1d(np.asarray(idx, dtype=np.int64))
        if idx.size and (idx.min() < 0 or idx.max() >= self.size):
            raise ValueError(f"image index out of range [0, {self.size})")
        return (idx[:, None] // self.bases[None, :]) % np.asarray(self.sizes)[None, :]

    def factors_to_index(self, factors) -> np.ndarray:
        """Integer factor indices (N, F) -> flat indices."""
        return self.check(factors) @ self.bases

    def check(self, factors) -> np.ndarray:
        f = np.asarray(factors)
        if f.ndim == 1:
            f = f[None, :]
        if f.ndim != 2 or f.shape[1] != len(self.sizes):
            raise ValueError(f"factors must have shape (N, {len(self.sizes)}), got {f.shape}")
        f = f.astype(np.int64)
        if f.size and (f.min() < 0 or np.any(f.max(axis=0) >= np.asarray(self.sizes))):
            raise ValueError(f"factor indices out of range; sizes are {self.sizes}")
        return f

    def rows_of(self, factors: np.ndarray, what: str) -> np.ndarray | None:
        """For a file whose row r shows factors[r]: the grid index -> row table (None when the
        rows are already in grid order). DataError unless every combination occurs exactly once."""
        idx = self.factors_to_index(factors)
        if len(idx) != self.size or len(np.unique(idx)) != self.size:
            raise DataError(f"{what}: its factors cover {len(np.unique(idx))} of the {self.size} combinations of "
                            f"sizes {self.sizes} ({len(idx)} rows); the file is incomplete or not the official one")
        if np.array_equal(idx, np.arange(self.size)):
            return None
        rows = np.empty(self.size, dtype=np.int64)
        rows[idx] = np.arange(self.size)
        return rows


Reader = Callable[[np.ndarray], np.ndarray]  # rows (sorted, unique) -> uint8 (n, C, H, W)


class FactorGrid:
    """A ground-truth data set over a full factor grid, for the disentanglement scores.

    `factor_names` / `factor_sizes` / `num_factors` are the observed factors (the metrics'
    factors); `grid` holds all of them. `read(rows)` returns the images of file rows; `rows`
    maps a grid index to its file row (None: the file is in grid order). `images(indices)` are
    uint8 (N, C, H, W), `observations(indices)` float32 in [0, 1] (what the encoder sees).
    """

    def __init__(self, names: Sequence[str], sizes: Sequence[int], observed: Sequence[int], read: Reader,
                 image_shape: tuple[int, int, int], rows: np.ndarray | None = None):
        self.grid = Grid(sizes)
        self.all_factor_names = tuple(names)
        if len(self.all_factor_names) != len(self.grid.sizes):
            raise ValueError("one name per factor")
        self.observed = tuple(int(i) for i in observed)
        self.unobserved = tuple(i for i in range(len(self.grid.sizes)) if i not in self.observed)
        self.factor_names = tuple(self.all_factor_names[i] for i in self.observed)
        self.factor_sizes = np.asarray([self.grid.sizes[i] for i in self.observed], dtype=np.int64)
        self.num_factors = len(self.observed)
        self.read, self.image_shape, self.rows = read, tuple(image_shape), rows

    def __len__(self) -> int:
        return self.grid.size

    def factors(self, indices) -> np.ndarray:
        """The observed factor indices (N, num_factors) of grid indices."""
        return self.grid.index_to_factors(indices)[:, list(self.observed)]

    def sample_factors(self, num: int, rng) -> np.ndarray:
        """Uniform observed factors (num, num_factors); one ``randint`` per factor, in order."""
        out = np.empty((num, self.num_factors), dtype=np.int64)
        for j, s in enumerate(self.factor_sizes):
            out[:, j] = integers(rng, int(s), num)
        return out

    def grid_indices(self, factors, rng=None) -> np.ndarray:
        """Grid indices of observed factors (N, num_factors): the unobserved factors are drawn
        uniformly from `rng`, one ``randint`` each, in factor order (``sample_all_factors``)."""
        f = np.asarray(factors, dtype=np.int64)
        f = f[None, :] if f.ndim == 1 else f
        if f.ndim != 2 or f.shape[1] != self.num_factors:
            raise ValueError(f"factors must have shape (N, {self.num_factors}), got {f.shape}")
        full = np.zeros((len(f), len(self.grid.sizes)), dtype=np.int64)
        full[:, list(self.observed)] = f
        for i in self.unobserved:
            full[:, i] = integers(rng, self.grid.sizes[i], len(f))
        return self.grid.factors_to_index(full)

    def images(self, indices) -> np.ndarray:
        indices = np.atleast_1d(np.asarray(indices, dtype=np.int64))
        if indices.size and (indices.min() < 0 or indices.max() >= len(self)):
            raise ValueError(f"image index out of range [0, {len(self)})")
        rows = indices if self.rows is None else self.rows[indices]
        order = np.unique(rows, return_inverse=True)  # readers take sorted, unique rows (HDF5 needs them)
        return self.read(order[0])[order[1].reshape(-1)]

    def observations(self, indices) -> np.ndarray:
        return self.images(indices).astype(np.float32) / np.float32(255)

    def sample_observations_from_factors(self, factors, rng=None) -> np.ndarray:
        return self.observations(self.grid_indices(factors, rng))


# ---------------------------------------------------------------- row readers


def resident(array: np.ndarray) -> Reader:
    """Rows of an in-memory uint8 (N, C, H, W) array."""
    return lambda rows: array[rows]


class _PerProcess:
    """A reader whose handle is opened on first use in each process (DataLoader workers open
    their own; a handle is never pickled or shared across a fork)."""

    def __init__(self):
        self._handle: tuple[int, object] | None = None

    def handle(self):
        if self._handle is None or self._handle[0] != os.getpid():
            self._handle = (os.getpid(), self.open())
        return self._handle[1]

    def __getstate__(self):
        return {**self.__dict__, "_handle": None}

    def open(self):
        raise NotImplementedError


def npz_member(path: Path, key: str, what: str, how: str) -> tuple[int, np.dtype, tuple[int, ...]]:
    """(byte offset, dtype, shape) of the array `key` inside an uncompressed ``.npz`` (what
    ``np.savez`` writes), so that it can be memory-mapped in place. A compressed member
    (``np.savez_compressed``) cannot be: DataError."""
    try:
        with zipfile.ZipFile(path) as z:
            info = z.getinfo(f"{key}.npy")
        if info.compress_type != zipfile.ZIP_STORED:
            raise DataError(f"{what} file {path} stores {key!r} compressed, so it cannot be memory-mapped (the "
                            f"official file is uncompressed); {how}")
        with open(path, "rb") as f:
            f.seek(info.header_offset)
            local = f.read(30)
            if local[:4] != b"PK\x03\x04":
                raise ValueError("bad local file header")
            name_len, extra_len = struct.unpack("<HH", local[26:30])
            f.seek(info.header_offset + 30 + name_len + extra_len)
            major, _ = np.lib.format.read_magic(f)
            header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = header(f)
            offset = f.tell()
    except KeyError:
        raise DataError(f"{what} file {path} has no array {key!r}; {how}") from None
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataError(f"{what} file {path} is not a readable .npz ({exc}); {how}") from None
    if fortran:
        raise DataError(f"{what} file {path}: {key!r} is Fortran-ordered; {how}")
    return offset, dtype, tuple(shape)


class MemmapRows(_PerProcess):
    """Rows of a uint8 (N, H, W, C) array at `offset` in a file, memory-mapped: only the pages
    read are in memory (the OS page cache holds them, shared between processes)."""

    def __init__(self, path: Path, offset: int, shape: tuple[int, ...]):
        super().__init__()
        self.path, self.offset, self.shape = Path(path), offset, tuple(shape)

    def open(self):
        return np.memmap(self.path, dtype=np.uint8, mode="r", offset=self.offset, shape=self.shape)

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(self.handle()[rows].transpose(0, 3, 1, 2))


class HDF5Rows(_PerProcess):
    """Rows of a uint8 (N, H, W, C) HDF5 dataset, read through h5py (which decompresses the
    chunks it needs; `cache_bytes` of decompressed chunks are kept per process)."""

    def __init__(self, path: Path, key: str, cache_bytes: int = 64 << 20):
        super().__init__()
        self.path, self.key, self.cache_bytes = Path(path), key, cache_bytes

    def open(self):
        import h5py

        return h5py.File(self.path, "r", rdcc_nbytes=self.cache_bytes, rdcc_nslots=100_003)[self.key]

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        ds = self.handle()
        if len(rows) == 0:
            return np.zeros((0, ds.shape[3], ds.shape[1], ds.shape[2]), np.uint8)
        lo, hi = int(rows[0]), int(rows[-1]) + 1
        if hi - lo <= 2 * len(rows):  # dense (evaluation's slices): one read of the range
            block = ds[lo:hi][rows - lo]
        else:  # sparse (random batches): one slice a row; h5py's point-list selection is 20-50x slower
            block = np.stack([ds[int(r)] for r in rows])
        return np.ascontiguousarray(block.transpose(0, 3, 1, 2))


# ---------------------------------------------------------------- splits


def split_grid(name: str, ds, checksum: str, source: str, label: int, num_classes: int,
               image_shape: tuple[int, int, int], indices: np.ndarray | None = None, n_held: int | None = None,
               streamed: bool = False, render: Reader | None = None, chunk: int = 16_384) -> Splits:
    """Splits of a grid data set `ds` (its `images` draw them, or `render(grid indices)`):
    `indices` (default: the whole grid) split by `fixed_split` into train and `n_held`
    (default `held_out_size`) validation and test images. Labels are observed factor `label`.
    `streamed`: the splits are `ImageRows`, read when indexed, instead of resident tensors."""
    import torch

    from vaebench.data.streamed import ImageRows

    render = render or ds.images
    indices = np.arange(len(ds)) if indices is None else np.asarray(indices, dtype=np.int64)
    n_held = held_out_size(len(indices)) if n_held is None else n_held
    train, val, test = (indices[part] for part in fixed_split(len(indices), n_held, n_held))

    def split(idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.from_numpy(np.ascontiguousarray(ds.factors(idx)[:, label]))
        if streamed:
            return ImageRows(render, idx, image_shape, f"{name}:{checksum}"), y
        x = torch.empty((len(idx), *image_shape), dtype=torch.uint8)
        for i in range(0, len(idx), chunk):
            x[i : i + chunk] = torch.from_numpy(np.ascontiguousarray(render(idx[i : i + chunk])))
        return x, y

    (trx, try_), (vx, vy), (tx, ty) = split(train), split(val), split(test)
    return Splits(name=name, train_x=trx, train_y=try_, val_x=vx, val_y=vy, test_x=tx, test_y=ty,
                  num_classes=num_classes, checksum=checksum, source=source, ground_truth=ds)
