"""Reads per second of the on-demand factor grids: Shapes3D through h5py, MPI3D memory-mapped.

    python benchmarks/factor_grid_reads.py [--images 20000] [--seconds 5] [--json PATH]

Writes two files of `--images` 64x64x3 images in the official layouts (tests/factor_files.py's
writers' formats at full image size, random pixels so that compression does not flatter):
a ``3dshapes.h5`` three times, with the images gzip-compressed in chunks of one and of 100
images and contiguous uncompressed, and an uncompressed ``mpi3d_toy.npz``. Then, through the loaders' own row readers
(`vaebench.data.factor_grid.HDF5Rows` / `MemmapRows`, via `FactorGrid.images`), it measures

  random64    batches of 64 random grid indices: what training and the metrics' draws do
  slice1000   consecutive slices of 1,000: what evaluation and the probe do

each for `--seconds`, first pass (cold for h5py's chunk cache; the OS page cache is warm, the
files were just written), and prints images/s. The official 3dshapes.h5's chunk layout could not
be checked offline, so the three h5py layouts are given.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def rate(read, n: int, pattern: str, seconds: float) -> float:
    rng = np.random.default_rng(0)
    done, start, pos = 0, time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        if pattern == "random64":
            idx = rng.integers(0, n, size=64)
        else:
            idx = np.arange(pos, min(pos + 1000, n))
            pos = 0 if pos + 1000 >= n else pos + 1000
        done += len(read(idx))
    return done / (time.perf_counter() - start)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=20_000)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    import h5py

    from vaebench.data.factor_grid import FactorGrid, HDF5Rows, MemmapRows, npz_member

    n = args.images
    images = np.random.default_rng(0).integers(0, 256, size=(n, 64, 64, 3), dtype=np.uint8)
    out: dict = {"images": n, "seconds_each": args.seconds}
    with tempfile.TemporaryDirectory() as tmp:
        readers = {}
        layouts = (("h5_gzip_chunk1", {"chunks": (1, 64, 64, 3), "compression": "gzip"}),
                   ("h5_gzip_chunk100", {"chunks": (100, 64, 64, 3), "compression": "gzip"}), ("h5_contiguous", {}))
        for layout, kw in layouts:
            path = Path(tmp) / f"{layout}.h5"
            with h5py.File(path, "w") as h:
                h.create_dataset("images", data=images, **kw)
            readers[layout] = HDF5Rows(path, "images")
        path = Path(tmp) / "mpi3d_toy.npz"
        np.savez(path, images=images)
        offset, _, shape = npz_member(path, "images", "MPI3D", "")
        readers["npz_memmap"] = MemmapRows(path, offset, shape)
        for name, reader in readers.items():
            ds = FactorGrid(("i",), (n,), (0,), reader, (3, 64, 64))
            for pattern in ("random64", "slice1000"):
                r = rate(ds.images, n, pattern, args.seconds)
                out[f"{name}_{pattern}_images_per_s"] = round(r)
                print(f"{name:<16} {pattern:<10} {r:>10,.0f} images/s")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
