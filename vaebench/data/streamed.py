"""Image files read from disk on demand: a split too large to hold as a tensor.

`ImageFiles` stands where a split's uint8 x tensor would be (`Splits.train_x` etc.): it has a
length, a shape and a dtype, and indexing it (an int, a slice, or an index tensor / array)
decodes those files into a uint8 (n, C, H, W) tensor on its device. So every consumer that
reads a split in batches (evaluation, FID, the probe, PCA, figures) works unchanged, while the
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


class ImageFiles:
    """Files decoded by `read(path) -> uint8 array (C, H, W)` when indexed."""

    dtype = torch.uint8

    def __init__(self, paths: Sequence[Path], read: Callable[[Path], np.ndarray], image_shape: tuple[int, int, int],
                 device: torch.device | str = "cpu"):
        self.paths = list(paths)
        self.read = read
        self.image_shape = tuple(image_shape)
        self.device = torch.device(device)

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self.paths), *self.image_shape))

    def to(self, device) -> ImageFiles:
        return ImageFiles(self.paths, self.read, self.image_shape, device)

    def cpu(self) -> ImageFiles:
        return self.to("cpu")

    def digest(self) -> str:
        """SHA-256 of the file names and sizes, in order (cheap; the content is pinned elsewhere)."""
        h = hashlib.sha256()
        for p in self.paths:
            h.update(f"{p.name}:{p.stat().st_size}\n".encode())
        return h.hexdigest()

    def __getitem__(self, index) -> torch.Tensor:
        if isinstance(index, int):
            return self[[index]][0]
        if isinstance(index, slice):
            rows = range(len(self.paths))[index]
        else:
            rows = torch.as_tensor(index).reshape(-1).tolist()
        paths = [self.paths[i] for i in rows]
        in_worker = torch.utils.data.get_worker_info() is not None
        arrays = list(map(self.read, paths)) if in_worker or len(paths) < 16 else list(_pool().map(self.read, paths))
        out = torch.from_numpy(np.stack(arrays)) if arrays else torch.empty((0, *self.image_shape), dtype=torch.uint8)
        return out.to(self.device)
