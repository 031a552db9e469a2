"""Your own data as one `.npz` file: `--datasets path/to/data.npz`.

Arrays (any other name is an error, so that a typo like `x_valid` is not silently ignored):

    x_train, x_test   required  images
    x_val             optional  images; without it a fixed 10% of x_train (at most 5,000
                                images, chosen independently of the run seed) is the validation split
    y_train, y_test   required  integer labels >= 0, one per image, of at least 2 classes (every
                                run's linear probe, `probe_acc`, is a classifier fitted on them)
    y_val             with x_val

Images: uint8 in 0..255 (kept as uint8, like dSprites) or float (16/32/64 bit) in [0, 1] (kept as
float32); shape (N, H, W) (grey), or 4-D with 1 or 3 channels, either channels-first
(N, C, H, W) or channels-last (N, H, W, C), told apart by where the 1 or 3 is (a shape where
both axes could be channels is refused as ambiguous). Every split must have one image shape,
and a shared network must exist for it (see `checks.check_network`).

The checksum in every record is the SHA-256 of the file's bytes (what `sha256sum data.npz`
prints); the data set's name in run ids and tables is the file name plus the first 12 hex
digits of that checksum (`faces.npz@3f2a9c1b0d4e`), so the same file gives the same runs on
every machine, wherever it lies, and an edited file gives new runs.
"""

from __future__ import annotations

import hashlib
import zipfile
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vaebench.data.base import Splits, fixed_split
from vaebench.data.checks import check_splits
from vaebench.errors import DataError

if TYPE_CHECKING:
    import torch

ARRAYS = ("x_train", "x_test", "x_val", "y_train", "y_test", "y_val")
VAL_FRACTION, VAL_MAX = 0.1, 5_000
ID_HEX = 12  # checksum digits in the data set's name


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB blocks (cached per path, size and mtime)."""
    st = path.stat()
    return _sha256(str(path.resolve()), st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=64)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def identity(path: Path, checksum: str) -> str:
    """The data set's name in run ids and tables: file name @ checksum prefix."""
    return f"{path.name}@{checksum[:ID_HEX]}"


def images(a: np.ndarray, where: str) -> torch.Tensor:
    """An image array as (N, C, H, W): uint8 kept, float in [0, 1] -> float32 (see module doc)."""
    import torch

    if a.ndim == 3:
        a = a[:, None]
    elif a.ndim == 4:
        first, last = a.shape[1] in (1, 3), a.shape[3] in (1, 3)
        if first and last:
            raise DataError(f"{where}: shape {a.shape} is ambiguous (channels first or last?); images need a side > 3")
        if last:
            a = a.transpose(0, 3, 1, 2)
        elif not first:
            raise DataError(f"{where}: shape {a.shape} has no channel axis of size 1 or 3 (grey or RGB); "
                            "use (N, H, W), (N, C, H, W) or (N, H, W, C)")
    else:
        raise DataError(f"{where}: images must have shape (N, H, W), (N, C, H, W) or (N, H, W, C), got {a.shape}")
    if a.dtype == np.uint8:
        return torch.from_numpy(np.ascontiguousarray(a))
    if a.dtype.kind != "f":
        raise DataError(f"{where}: dtype {a.dtype} is neither uint8 (0..255) nor float in [0, 1]; "
                        "convert it, e.g. x.astype(np.uint8) or x.astype(np.float32) / 255")
    if a.size and not np.isfinite(a).all():
        raise DataError(f"{where}: holds NaN or infinite values")
    lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
    if lo < 0 or hi > 1:
        raise DataError(f"{where}: float pixels must lie in [0, 1], found [{lo:g}, {hi:g}]"
                        + ("; divide by 255 or store uint8" if hi > 1 else ""))
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))


def labels(a: np.ndarray, n: int, where: str) -> torch.Tensor:
    import torch

    if a.dtype.kind not in "iu":
        raise DataError(f"{where}: labels must be integers, got dtype {a.dtype}")
    if a.shape != (n,):
        raise DataError(f"{where}: {a.shape[0] if a.ndim else 'a scalar'} labels for {n} images; "
                        f"labels must have shape ({n},)")
    if n and a.min() < 0:
        raise DataError(f"{where}: labels must be >= 0, found {a.min()}")
    return torch.from_numpy(a.astype(np.int64))


def check_shapes(x: dict, where: str) -> None:
    """Every split non-empty and of x_train's image shape (named by the file's keys)."""
    for split, a in x.items():
        if len(a) == 0:
            raise DataError(f"{where}: array x_{split} holds no images")
    shape = tuple(x["train"].shape[1:])
    for split, a in x.items():
        if tuple(a.shape[1:]) != shape:
            raise DataError(f"{where}: x_{split} images are {tuple(a.shape[1:])} (C, H, W), x_train's are {shape}; "
                            "every split needs one image shape")


def check_label_sets(y: dict, where: str, names: list[str] | None = None) -> None:
    """Labels of x_val / x_test that y_train never has are refused: a class input (CVAE) and the
    linear probe learn only the classes seen in training, so such a label would be scored
    against a class no model could have learnt. `names[label]`, when given, is how the message
    names a label (an image folder's class folders)."""
    seen = set(np.unique(y["train"].numpy()).tolist())
    if len(seen) < 2:
        raise DataError(f"{where}: y_train has one class; give labels of at least 2 classes (every run's linear "
                        "probe, probe_acc, is a classifier fitted on them)")
    for split in ("val", "test"):
        if split not in y:
            continue
        unseen = sorted(set(np.unique(y[split].numpy()).tolist()) - seen)
        if unseen and names is not None:
            shown = ", ".join(names[i] for i in unseen[:10]) + (", ..." if len(unseen) > 10 else "")
            raise DataError(f"{where}: {split}/ has class folder(s) {shown} that train/ does not have; a CVAE's class "
                            "input and the linear probe learn only classes seen in training: add training images of "
                            f"those classes to train/ or remove them from {split}/")
        if unseen:
            shown = ", ".join(map(str, unseen[:10])) + (", ..." if len(unseen) > 10 else "")
            raise DataError(f"{where}: y_{split} has label(s) {shown} that y_train never has (y_train's run "
                            f"{min(seen)}..{max(seen)}); a CVAE's class input and the linear probe learn only "
                            "classes seen in training: relabel those images or move some into x_train")


def carve_val(x: dict, y: dict, where: str, alternative: str) -> None:
    """Move a fixed 10% of x["train"] (at most 5,000 images; the permutation does not depend on
    the run seed) into x["val"], with their labels."""
    n = len(x["train"])
    if n < 2:
        raise DataError(f"{where} has {n} image(s); a validation split needs at least 2 (or give {alternative})")
    train, val, _ = fixed_split(n, min(VAL_MAX, max(1, round(VAL_FRACTION * n))))
    x["val"], y["val"] = x["train"][val], y["train"][val]
    x["train"], y["train"] = x["train"][train], y["train"][train]


def load_npz(path, expected: str | None = None) -> Splits:
    """The splits of a user `.npz` (see the module doc); `expected`, when given, is the checksum
    the name was made from (a file changed since the suite was parsed is an error)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file {path} does not exist")
    checksum = file_sha256(path)
    if expected is not None and checksum != expected:
        raise DataError(f"data file {path} changed while the suite ran (SHA-256 {checksum[:ID_HEX]}, was {expected[:ID_HEX]})")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"data file {path} cannot be read as a .npz ({type(exc).__name__}: {exc}); "
                        "write it with numpy.savez or numpy.savez_compressed") from None
    unknown = sorted(set(arrays) - set(ARRAYS))
    if unknown:
        raise DataError(f"data file {path}: unknown array(s) {unknown}; allowed: {', '.join(ARRAYS)}")
    for required in ("x_train", "x_test"):
        if required not in arrays:
            raise DataError(f"data file {path}: missing array {required!r} (has {sorted(arrays) or 'none'})")
    has_val = "x_val" in arrays
    for required in ("y_train", "y_test") + (("y_val",) if has_val else ()):
        if required not in arrays:
            raise DataError(f"data file {path}: missing array {required!r} (integer labels, one per image of "
                            f"x_{required[2:]}: every run's linear probe is fitted on them)")
    if "y_val" in arrays and not has_val:
        raise DataError(f"data file {path}: has y_val but is missing array 'x_val'")

    x = {s: images(arrays[f"x_{s}"], f"data file {path}: array x_{s}") for s in ("train", "val", "test") if f"x_{s}" in arrays}
    y = {s: labels(arrays[f"y_{s}"], len(x[s]), f"data file {path}: array y_{s}") for s in x}
    check_shapes(x, f"data file {path}")
    check_label_sets(y, f"data file {path}")
    if not has_val:
        carve_val(x, y, f"data file {path}: x_train", "x_val")
    num_classes = 1 + max(int(t.max()) if len(t) else 0 for t in y.values())
    splits = Splits(
        name=identity(path, checksum),
        train_x=x["train"], train_y=y["train"], val_x=x["val"], val_y=y["val"], test_x=x["test"], test_y=y["test"],
        num_classes=num_classes, checksum=checksum, source=str(path.resolve()),
    )
    return check_splits(splits, f"data file {path}")
