"""CIFAR-10 (Krizhevsky 2009): 32x32x3, from the python pickle batches, MD5-verified.

The files are torchvision's layout, ``cifar-10-batches-py/{data_batch_1..5,test_batch}``, each
checked against the MD5 torchvision pins for it (no SHA-256 is published). Images are stored
uint8 (N, 3, 32, 32); the official 50,000 train split once by a fixed permutation (independent of
the run seed) into 45,000 train / 5,000 validation; the official 10,000 test. Labels: the 10
classes.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from vaebench.data import _files
from vaebench.data.base import Splits, official_train_test_splits
from vaebench.errors import DataError

N_VAL = 5_000
# torchvision.datasets.CIFAR10.train_list / test_list
MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
}
SUBDIRS = ("cifar-10-batches-py", "", "cifar10/cifar-10-batches-py", "cifar10")
HOW_TO_GET = ("extract cifar-10-python.tar.gz (the python version) so that a folder holds cifar-10-batches-py/, "
              "and pass --data-root DIR or set VAEBENCH_DATA, or run once with network (torchvision downloads it "
              "into ~/.cache/vaebench)")


def _fetch(root: Path) -> None:
    from torchvision.datasets import CIFAR10

    CIFAR10(str(root), train=True, download=True)


FILES = _files.FileSet("CIFAR-10", SUBDIRS, pins=lambda: MD5, algorithm="md5", how_to_get=HOW_TO_GET,
                       fetch=lambda root: _fetch(root), produces="the batches")
find_files, not_under_root, verify = FILES.find, FILES.not_under_root, FILES.verify


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One pickle batch: a dict with data (N, 3072) uint8, rows R then G then B, and labels."""
    try:
        with open(path, "rb") as f:
            d = pickle.load(f, encoding="bytes")
        data = d.get(b"data", d.get("data"))
        labels = d.get(b"labels", d.get("labels"))
        x = np.asarray(data, dtype=np.uint8).reshape(-1, 3, 32, 32)
        y = np.asarray(labels, dtype=np.int64)
    except Exception as exc:  # not a pickle, or not a CIFAR batch
        raise DataError(f"CIFAR-10 file {path} cannot be read ({type(exc).__name__}: {exc}); {HOW_TO_GET}") from None
    if len(x) != len(y) or (y.size and (y.min() < 0 or y.max() > 9)):
        raise DataError(f"CIFAR-10 file {path} has {len(x)} images but {len(y)} labels in 0..9; {HOW_TO_GET}")
    return x, y


def load_cifar10_splits(data_root=None, allow_download: bool = True) -> Splits:
    folder = FILES.locate(data_root, allow_download)
    batches = [read_batch(folder / f"data_batch_{i}") for i in range(1, 6)]
    x_all = np.concatenate([b[0] for b in batches])
    y_all = np.concatenate([b[1] for b in batches])
    x_test, y_test = read_batch(folder / "test_batch")
    return official_train_test_splits("cifar10", x_all, y_all, x_test, y_test, N_VAL, 10, _files.combined(MD5), str(folder))
