"""Images read from disk on demand: a split too large to hold as a tensor.

`ImageFiles` (one file per image, e.g. CelebA's jpgs) and `ImageRows` (rows of one large array,
e.g. a memory-mapped or HDF5 factor grid) stand where a split's uint8 x tensor would be
(`Splits.train_x` etc.): each has a length, a shape and a dtype, and indexing it (an int, a
slice, or an index tensor / array) reads those images into a uint8 (n, C, H, W) tensor on its
device. So every consumer that reads a split in batches (evaluation, FID, the probe, PCA, figures) works unchanged, while the
training loop streams it through a DataLoader with workers (`runner.train.StreamedData`).
`.to(device)` / `.cpu()` return a view that delivers its batches on that device; nothing is held.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

_POOL: tuple[int, ThreadPoolExecutor] | None = None


def _pool() -> ThreadPoolExecutor:
    """One thread pool per process (PIL releases the GIL while it decodes and resizes)."""
    global _POOL
    if _POOL is None or _POOL[0] != os.getpid():
        _POOL = (os.getpid(), ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)))
    return _POOL[1]


class _OnDemand:
    """What every split read on demand shares: a length, a shape, a device, and indexing by an
    int, a slice or an index tensor / array into a uint8 (n, C, H, W) tensor on that device.
    A subclass says how a list of its rows is read (`_read`) and what identifies it (`digest`)."""

    dtype = torch.uint8

    def __init__(self, n: int, image_shape: tuple[int, int, int], device: torch.device | str = "cpu"):
        self._n = n
        self.image_shape = tuple(image_shape)
        self.device = torch.device(device)

    def __len__(self) -> int:
        return self._n

    @property
    def shape(self) -> torch.Size:
        return torch.Size((self._n, *self.image_shape))

    def cpu(self):
        return self.to("cpu")

    def __getitem__(self, index) -> torch.Tensor:
        if isinstance(index, int):
            return self[[index]][0]
        if isinstance(index, slice):
            rows = list(range(self._n)[index])
        else:
            rows = torch.as_tensor(index).reshape(-1).tolist()
        out = self._read(rows) if rows else torch.empty((0, *self.image_shape), dtype=torch.uint8)
        return out.to(self.device)


class ImageFiles(_OnDemand):
    """Files decoded by `read(path) -> uint8 array (C, H, W)` when indexed."""

    def __init__(self, paths: Sequence[Path], read: Callable[[Path], np.ndarray], image_shape: tuple[int, int, int],
                 device: torch.device | str = "cpu"):
        self.paths = list(paths)
        self.read = read
        super().__init__(len(self.paths), image_shape, device)

    def to(self, device) -> ImageFiles:
        return ImageFiles(self.paths, self.read, self.image_shape, device)

    def digest(self) -> str:
        """SHA-256 of the file names and sizes, in order (cheap; the content is pinned elsewhere)."""
        h = hashlib.sha256()
        for p in self.paths:
            h.update(f"{p.name}:{p.stat().st_size}\n".encode())
        return h.hexdigest()

    def _read(self, rows: list[int]) -> torch.Tensor:
        paths = [self.paths[i] for i in rows]
        in_worker = torch.utils.data.get_worker_info() is not None
        arrays = list(map(self.read, paths)) if in_worker or len(paths) < 16 else list(_pool().map(self.read, paths))
        return torch.from_numpy(np.stack(arrays))


class ImageRows(_OnDemand):
    """Rows of a large array read in batches when indexed: split row i is the image that
    `read(indices) -> uint8 (n, C, H, W)` returns for `indices[i]` (e.g. a factor grid's
    memory-mapped or HDF5 images, `data.factor_grid`). `identity` names the source (its checksum)."""

    def __init__(self, read: Callable[[np.ndarray], np.ndarray], indices: np.ndarray, image_shape: tuple[int, int, int],
                 identity: str, device: torch.device | str = "cpu"):
        self.read, self.indices, self.identity = read, np.asarray(indices, dtype=np.int64), identity
        super().__init__(len(self.indices), image_shape, device)

    def to(self, device) -> ImageRows:
        return ImageRows(self.read, self.indices, self.image_shape, self.identity, device)

    def digest(self) -> str:
        """SHA-256 of the source's identity and the rows, in order."""
        return hashlib.sha256(self.identity.encode() + self.indices.tobytes()).hexdigest()

    def _read(self, rows: list[int]) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(self.read(self.indices[rows])))
