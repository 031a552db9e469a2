"""Dataset names → loaders, and whether each dataset can be had on this machine."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from vaebench.data import dsprites, fashion_mnist
from vaebench.data.base import Splits
from vaebench.data.digits import load_digits_splits
from vaebench.errors import DataError, UserError

DATASETS: dict[str, Callable[..., Splits]] = {
    "digits": load_digits_splits,
    "fashion_mnist": fashion_mnist.load_fashion_mnist_splits,
    "dsprites": dsprites.load_dsprites_splits,
}


def check_dataset_name(name: str) -> None:
    if name not in DATASETS:
        raise UserError(f"unknown dataset {name!r}; choose one of {', '.join(sorted(DATASETS))}")


def check_data_root(data_root) -> None:
    """A data root the user named must be a folder (every dataset; those that need no files
    ignore its contents, but a mistyped path is still a mistake)."""
    if data_root and not Path(data_root).is_dir():
        raise DataError(f"--data-root {data_root} does not exist or is not a folder; give the folder that holds "
                        "the data set's files, or leave --data-root out to use the system copy")


def load_dataset(name: str, data_root=None) -> Splits:
    check_dataset_name(name)
    check_data_root(data_root)
    return DATASETS[name](data_root)


def dataset_status(name: str, data_root=None, verify: bool = False) -> tuple[bool, str]:
    """(available here, where from or how to get it). Without loading the data, unless `verify`:
    then files are read and checked against their SHA-256 (a corrupted file is not available)."""
    check_dataset_name(name)
    check_data_root(data_root)
    if name == "digits":
        return True, "ships with scikit-learn" + (" (ignores --data-root)" if data_root else "")
    if name == "dsprites":
        official = dsprites.find_official_file(data_root)
        if official is None:
            return True, "rendered procedurally (no official .npz under --data-root)"
        if verify:
            try:
                dsprites.ground_truth(data_root)
            except DataError as exc:
                return False, str(exc)
        return True, str(official)
    files = fashion_mnist.find_files(data_root)
    if files is None:
        if data_root:
            return False, fashion_mnist.not_under_root(data_root)
        return False, f"not found: {fashion_mnist.HOW_TO_GET} (or let torchvision download it, with network)"
    if verify:
        try:
            for stem, path in files.items():
                fashion_mnist.read_verified(path, stem)
        except DataError as exc:
            return False, str(exc)
        return True, f"{next(iter(files.values())).parent} (SHA-256 verified)"
    return True, str(next(iter(files.values())).parent)
