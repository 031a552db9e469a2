"""MNIST (LeCun et al. 1998), grey-level or binarised as the likelihood literature uses it.

`binarize` (a dataset parameter: `{name: mnist, binarize: ...}`):

* ``none`` (default): the 28x28 grey images from torchvision's four idx ``.gz`` files (read by
  the Fashion-MNIST idx reader), each checked against the MD5 torchvision pins for it (the
  published checksums are of the ``.gz`` files; keep them: torchvision's download does).
  60,000 train split once by a fixed permutation into 50,000 train / 10,000 validation (the
  sizes of the fixed binarisation's split); the official 10,000 test.
* ``dynamic``: the same splits; every training batch is re-binarised, x ~ Bernoulli(grey / 255),
  with noise seeded by (run seed, epoch, batch), drawn in `runner.train.TensorBatches`
  (`BinarizedSplits.dynamic_binarization` switches it on). Validation and test are binarised
  once, with a fixed seed that does not depend on the run seed, so every run is scored on the
  same binary images.
* ``fixed``: the binarisation of Larochelle & Murray (2011, "The neural autoregressive
  distribution estimator"; the stochastic binarisation of Salakhutdinov & Murray 2008),
  ``binarized_mnist_{train,valid,test}.amat`` (50,000 / 10,000 / 10,000 rows of 784 0/1 values)
  from Hugo Larochelle's page, each checked against the SHA-1 published with public download
  code (no SHA-256 is published for them). The files have no labels: labels (for the probe and
  the CVAE) come from the grey MNIST files, whose train[:50000], train[50000:] and test the
  three files binarise in order; that alignment is checked on load (a binary 1 where the grey
  pixel is 0 is impossible under Bernoulli(grey / 255)), so the grey files must be there too.

This is the set on which a Bernoulli VAE's test NLL compares with published values (Burda et al.
2016, one stochastic layer: VAE 86.76, IWAE k=50 84.78 nats).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vaebench.data import _files
from vaebench.data.base import Splits, fixed_split
from vaebench.data.fashion_mnist import parse_idx
from vaebench.errors import DataError, UserError

if TYPE_CHECKING:
    import torch

N_VAL = 10_000
BINARIZE = ("none", "dynamic", "fixed")
EVAL_BINARIZE_SEED = 20110401  # the fixed seed of the dynamic variant's validation/test binarisation

# torchvision's pinned MD5s (torchvision.datasets.MNIST.resources) of the four .gz files
MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
SUBDIRS = ("", "mnist", "MNIST/raw")
HOW_TO_GET = ("put torchvision's four MNIST idx .gz files (train-images-idx3-ubyte.gz, ...) in a folder "
              "and pass --data-root DIR or set VAEBENCH_DATA, or run once with network (torchvision downloads "
              "them into ~/.cache/vaebench/MNIST/raw)")

AMAT_URL = "http://www.cs.toronto.edu/~larocheh/public/datasets/binarized_mnist/binarized_mnist_{}.amat"
SHA1_AMAT = {
    "binarized_mnist_train.amat": "cf70514ec5f481e54ad3eb0e6c03c83326ff96f8",
    "binarized_mnist_valid.amat": "13418487742e6ea6d48db7b5187353a20b1b1f8c",
    "binarized_mnist_test.amat": "ca70bd7775e182596dec148d4dc1bc6bd6c4c5f4",
}
AMAT_SUBDIRS = ("", "binarized_mnist", "mnist", "MNIST/raw")
AMAT_HOW_TO_GET = ("put binarized_mnist_{train,valid,test}.amat (Larochelle & Murray 2011) in a folder and pass "
                   "--data-root DIR or set VAEBENCH_DATA, or run once with network (downloaded into "
                   "~/.cache/vaebench/binarized_mnist); the grey MNIST files are needed too, for the labels")


@dataclass
class BinarizedSplits(Splits):
    """MNIST splits whose training batches are re-binarised every epoch (see the module doc)."""

    dynamic_binarization: bool = True


def _fetch_grey(root: Path) -> None:
    from torchvision.datasets import MNIST

    MNIST(str(root), train=True, download=True)
    MNIST(str(root), train=False, download=True)


def _fetch_amat(root: Path) -> None:
    _files.fetch_urls({f: AMAT_URL.format(f.split("_")[2].split(".")[0]) for f in SHA1_AMAT}, root / "binarized_mnist")


GREY = _files.FileSet("MNIST", SUBDIRS, pins=lambda: MD5, algorithm="md5", how_to_get=HOW_TO_GET,
                      fetch=lambda root: _fetch_grey(root), produces="the idx files")
AMAT = _files.FileSet("binarized MNIST", AMAT_SUBDIRS, pins=lambda: SHA1_AMAT, algorithm="sha1",
                      how_to_get=AMAT_HOW_TO_GET, fetch=lambda root: _fetch_amat(root), produces="the .amat files",
                      root_title="binarized MNIST (.amat)")
find_grey, verify_grey, find_amat, verify_amat = GREY.find, GREY.verify, AMAT.find, AMAT.verify


def not_under_root(data_root, fixed: bool = False) -> str:
    return (AMAT if fixed else GREY).not_under_root(data_root)


def read_grey(data_root=None, allow_download: bool = True) -> tuple[dict[str, np.ndarray], Path]:
    """The four idx arrays (MD5-verified) by file stem, and their folder."""
    folder = GREY.locate(data_root, allow_download)
    arrays = {}
    for name in MD5:
        try:
            arrays[name.removesuffix(".gz")] = parse_idx(gzip.decompress((folder / name).read_bytes()))
        except (OSError, EOFError, ValueError, gzip.BadGzipFile) as exc:
            raise DataError(f"MNIST file {folder / name} cannot be read ({exc}); {HOW_TO_GET}") from None
    return arrays, folder


def parse_amat(data: bytes, path: Path) -> np.ndarray:
    """Rows of 784 whitespace-separated 0/1 values -> (N, 1, 28, 28) uint8 in {0, 1}."""
    digits = np.frombuffer(data.translate(None, b" \t\r\n"), dtype=np.uint8) - ord("0")
    rows = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
    if digits.size != rows * 784 or (digits > 1).any():
        raise DataError(f"binarized MNIST file {path} is not rows of 784 0/1 values; {AMAT_HOW_TO_GET}")
    return digits.reshape(-1, 1, 28, 28)


def _check_aligned(binary: np.ndarray, grey: np.ndarray, path: Path) -> None:
    impossible = np.logical_and(binary == 1, grey == 0).sum()
    if len(binary) != len(grey) or impossible > 0.01 * max(1, int(binary.sum())):
        raise DataError(f"binarized MNIST file {path} does not binarise the grey MNIST images in order "
                        f"({impossible} ones on zero-valued grey pixels), so it has no labels; {AMAT_HOW_TO_GET}")


def _u8(a: np.ndarray) -> torch.Tensor:
    """(N, 28, 28) uint8 -> (N, 1, 28, 28), in a writable copy (idx arrays are read-only buffers)."""
    import torch

    return torch.from_numpy(np.array(a)).unsqueeze(1)


def _binarize_once(x: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random(x.shape, dtype=np.float32) < x.astype(np.float32) / 255.0).astype(np.uint8) * 255


def load_mnist_splits(data_root=None, binarize: str = "none", allow_download: bool = True) -> Splits:
    import torch

    if binarize not in BINARIZE:
        raise UserError(f"dataset 'mnist': binarize must be one of {', '.join(BINARIZE)}, got {binarize!r}")
    if binarize == "fixed":
        return _load_fixed(data_root, allow_download)
    arrays, folder = read_grey(data_root, allow_download)
    x_all, y_all = arrays["train-images-idx3-ubyte"], arrays["train-labels-idx1-ubyte"].astype(np.int64)
    x_test, y_test = arrays["t10k-images-idx3-ubyte"], arrays["t10k-labels-idx1-ubyte"].astype(np.int64)
    train, val, _ = fixed_split(len(x_all), N_VAL)
    x_val = x_all[val]
    cls = Splits
    if binarize == "dynamic":
        x_val, x_test, cls = _binarize_once(x_val, EVAL_BINARIZE_SEED), _binarize_once(x_test, EVAL_BINARIZE_SEED + 1), BinarizedSplits
    return cls(
        name="mnist",
        train_x=_u8(x_all[train]), train_y=torch.from_numpy(y_all[train]),
        val_x=_u8(x_val), val_y=torch.from_numpy(y_all[val]),
        test_x=_u8(x_test), test_y=torch.from_numpy(y_test),
        num_classes=10,
        checksum=_files.combined({**MD5, "binarize": binarize}) if binarize != "none" else _files.combined(MD5),
        source=str(folder),
    )


def _load_fixed(data_root, allow_download: bool) -> Splits:
    import torch

    folder = AMAT.locate(data_root, allow_download)
    grey, _ = read_grey(data_root, allow_download)
    parts = {}
    for split in ("train", "valid", "test"):
        path = folder / f"binarized_mnist_{split}.amat"
        parts[split] = parse_amat(path.read_bytes(), path)
    g_train, g_test = grey["train-images-idx3-ubyte"], grey["t10k-images-idx3-ubyte"]
    labels, test_labels = grey["train-labels-idx1-ubyte"].astype(np.int64), grey["t10k-labels-idx1-ubyte"].astype(np.int64)
    n_train = len(parts["train"])
    aligned = {"train": (g_train[:n_train], labels[:n_train]), "valid": (g_train[n_train:], labels[n_train:]),
               "test": (g_test, test_labels)}
    for split, (g, _) in aligned.items():
        _check_aligned(parts[split][:, 0], g, folder / f"binarized_mnist_{split}.amat")
    return Splits(
        name="mnist",
        train_x=torch.from_numpy(parts["train"] * np.uint8(255)), train_y=torch.from_numpy(aligned["train"][1]),
        val_x=torch.from_numpy(parts["valid"] * np.uint8(255)), val_y=torch.from_numpy(aligned["valid"][1]),
        test_x=torch.from_numpy(parts["test"] * np.uint8(255)), test_y=torch.from_numpy(aligned["test"][1]),
        num_classes=10,
        checksum=_files.combined({**SHA1_AMAT, **MD5}),
        source=str(folder),
    )
