"""SVHN (Netzer et al. 2011), cropped digits: 32x32x3 from train_32x32.mat / test_32x32.mat.

The .mat files (MATLAB v5, read with scipy.io) are checked against the MD5s torchvision pins (no
SHA-256 is published). ``X`` is (32, 32, 3, N) uint8, stored here as (N, 3, 32, 32) uint8;
``y`` is 1..10 with 10 for the digit 0, stored as 0..9 (torchvision's convention). The official
73,257 train split once by a fixed permutation (independent of the run seed) into 68,257 train /
5,000 validation; the official 26,032 test. The 531,131 "extra" images are not used.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vaebench.data import _files
from vaebench.data.base import Splits, official_train_test_splits
from vaebench.errors import DataError

N_VAL = 5_000
# torchvision.datasets.SVHN.split_list
MD5 = {
    "train_32x32.mat": "e26dedcc434d2e4c54c9b2d4a06d8373",
    "test_32x32.mat": "eb5a983be6a315427106f1b164d9cef3",
}
SUBDIRS = ("", "svhn", "SVHN")
HOW_TO_GET = ("put train_32x32.mat and test_32x32.mat (SVHN format 2) in a folder and pass --data-root DIR or set "
              "VAEBENCH_DATA, or run once with network (torchvision downloads them into ~/.cache/vaebench/svhn)")


def _fetch(root: Path) -> None:
    from torchvision.datasets import SVHN

    for split in ("train", "test"):
        SVHN(str(root / "svhn"), split=split, download=True)


FILES = _files.FileSet("SVHN", SUBDIRS, pins=lambda: MD5, algorithm="md5", how_to_get=HOW_TO_GET,
                       fetch=lambda root: _fetch(root), produces="the .mat files")
find_files, not_under_root, verify = FILES.find, FILES.not_under_root, FILES.verify


def read_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    import scipy.io

    try:
        m = scipy.io.loadmat(str(path))
        x = np.ascontiguousarray(np.transpose(m["X"], (3, 2, 0, 1)), dtype=np.uint8)
        y = m["y"].astype(np.int64).reshape(-1)
    except Exception as exc:  # not a .mat file, or without X / y
        raise DataError(f"SVHN file {path} cannot be read ({type(exc).__name__}: {exc}); {HOW_TO_GET}") from None
    if x.shape[1:] != (3, 32, 32) or len(x) != len(y) or (y.size and (y.min() < 1 or y.max() > 10)):
        raise DataError(f"SVHN file {path} is not 32x32x3 images with labels 1..10; {HOW_TO_GET}")
    y[y == 10] = 0
    return x, y


def load_svhn_splits(data_root=None, allow_download: bool = True) -> Splits:
    folder = FILES.locate(data_root, allow_download)
    x_all, y_all = read_mat(folder / "train_32x32.mat")
    x_test, y_test = read_mat(folder / "test_32x32.mat")
    return official_train_test_splits("svhn", x_all, y_all, x_test, y_test, N_VAL, 10, _files.combined(MD5), str(folder))
