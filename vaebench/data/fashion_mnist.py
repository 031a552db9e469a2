"""Fashion-MNIST (Xiao et al. 2017) from its four idx files, verified by SHA-256.

Where the files come from: a `--data-root` the user names is the only place looked in (it must
hold the files; nothing else is used in its place). Without one, in order: `VAEBENCH_DATA`,
Debian's `dataset-fashion-mnist` package (/usr/share/datasets/fashion-mnist), torchvision's
download when there is network (not when VAEBENCH_OFFLINE is set). Files may be gzipped or not;
the checksums are of the decompressed idx bytes, so every source verifies against the same numbers.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vaebench.data.base import Splits, fixed_split
from vaebench.errors import DataError

if TYPE_CHECKING:
    import torch

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
DOWNLOAD_DIR = Path.home() / ".cache" / "vaebench"  # where torchvision's download goes by default
N_VAL = 5_000  # 55,000 train / 5,000 validation from the official 60,000; 10,000 test

# SHA-256 of the decompressed idx files (the original zalandoresearch release).
SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
HOW_TO_GET = (
    "install Debian's package (apt-get install dataset-fashion-mnist), or put the four idx files "
    "(optionally .gz) in a folder and pass --data-root DIR or set VAEBENCH_DATA"
)


def _root_dirs(root: str | os.PathLike) -> list[Path]:
    root = Path(root)
    return [root, root / "fashion_mnist", root / "fashion-mnist", root / "FashionMNIST" / "raw"]


def candidate_dirs(data_root: str | os.PathLike | None) -> list[Path]:
    """Folders searched, in order: only the named data root's when there is one."""
    if data_root:
        return _root_dirs(data_root)
    env = os.environ.get("VAEBENCH_DATA")
    return [*(_root_dirs(env) if env else []), DEBIAN_DIR, DOWNLOAD_DIR / "FashionMNIST" / "raw"]


def not_under_root(data_root) -> str:
    looked = ", ".join(str(d) for d in _root_dirs(data_root))
    return (f"Fashion-MNIST not found under --data-root {data_root} (looked in {looked}); put the four idx "
            f"files there, or leave --data-root out to use the system copy ({HOW_TO_GET})")


def find_files(data_root=None) -> dict[str, Path] | None:
    """The first folder that holds all four files, plain or gzipped; None when there is none."""
    for d in candidate_dirs(data_root):
        found = {}
        for stem in SHA256:
            for candidate in (d / stem, d / f"{stem}.gz"):
                if candidate.is_file():
                    found[stem] = candidate
                    break
        if len(found) == len(SHA256):
            return found
    return None


def read_verified(path: Path, stem: str) -> bytes:
    try:
        raw = path.read_bytes()
        data = gzip.decompress(raw) if path.suffix == ".gz" else raw
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"Fashion-MNIST file {path} cannot be read ({exc}); {HOW_TO_GET}") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256[stem]:
        raise DataError(
            f"Fashion-MNIST file {path} is corrupted: SHA-256 {digest[:16]}... does not match "
            f"the expected {SHA256[stem][:16]}...; replace it ({HOW_TO_GET})"
        )
    return data


def parse_idx(data: bytes) -> np.ndarray:
    """idx format: 2 zero bytes, a dtype byte (0x08 = uint8), ndim, big-endian int32 dims, data."""
    ndim = data[3]
    dims = np.frombuffer(data, dtype=">i4", count=ndim, offset=4)
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(tuple(dims))


def download(data_root) -> dict[str, Path]:
    """torchvision's download (needs network) into data_root or ~/.cache/vaebench."""
    root = Path(data_root or os.environ.get("VAEBENCH_DATA") or DOWNLOAD_DIR)
    try:
        from torchvision.datasets import FashionMNIST

        FashionMNIST(str(root), train=True, download=True)
        FashionMNIST(str(root), train=False, download=True)
    except Exception as exc:  # no network, or the host is unreachable
        raise DataError(f"Fashion-MNIST is not available here and could not be downloaded ({type(exc).__name__}); {HOW_TO_GET}") from None
    found = find_files(root)
    if found is None:
        raise DataError(f"Fashion-MNIST download into {root} did not produce the idx files; {HOW_TO_GET}")
    return found


def load_fashion_mnist_splits(data_root=None, allow_download: bool = True) -> Splits:
    import torch

    files = find_files(data_root)
    if files is None:
        if data_root:
            raise DataError(not_under_root(data_root))
        if not allow_download or os.environ.get("VAEBENCH_OFFLINE"):
            raise DataError(f"Fashion-MNIST not found; {HOW_TO_GET}")
        files = download(data_root)
    arrays = {stem: parse_idx(read_verified(path, stem)) for stem, path in files.items()}  # SHA-256 checked
    checksum = hashlib.sha256("".join(SHA256[s] for s in sorted(SHA256)).encode()).hexdigest()

    def images(a: np.ndarray) -> torch.Tensor:  # stored as the file's uint8 (a quarter of float32's memory); pixels() scales
        return torch.from_numpy(a.copy()).unsqueeze(1)

    x_all, y_all = images(arrays["train-images-idx3-ubyte"]), torch.from_numpy(arrays["train-labels-idx1-ubyte"].astype(np.int64))
    train, val, _ = fixed_split(len(x_all), N_VAL)
    return Splits(
        name="fashion_mnist",
        train_x=x_all[train], train_y=y_all[train],
        val_x=x_all[val], val_y=y_all[val],
        test_x=images(arrays["t10k-images-idx3-ubyte"]),
        test_y=torch.from_numpy(arrays["t10k-labels-idx1-ubyte"].astype(np.int64)),
        num_classes=10,
        checksum=checksum,
        source=str(next(iter(files.values())).parent),
    )
