"""Dataset names → loaders, and whether each dataset can be had on this machine."""

from __future__ import annotations

from collections.abc import Callable

from vaebench.data import dsprites, fashion_mnist
from vaebench.data.base import Splits
from vaebench.data.digits import load_digits_splits
from vaebench.errors import UserError

DATASETS: dict[str, Callable[..., Splits]] = {
    "digits": load_digits_splits,
    "fashion_mnist": fashion_mnist.load_fashion_mnist_splits,
    "dsprites": dsprites.load_dsprites_splits,
}


def check_dataset_name(name: str) -> None:
    if name not in DATASETS:
        raise UserError(f"unknown dataset {name!r}; choose one of {', '.join(sorted(DATASETS))}")


def load_dataset(name: str, data_root=None) -> Splits:
    check_dataset_name(name)
    return DATASETS[name](data_root)


def dataset_status(name: str, data_root=None) -> tuple[bool, str]:
    """(available here, where from or how to get it) without loading the data."""
    check_dataset_name(name)
    if name == "digits":
        return True, "ships with scikit-learn"
    if name == "dsprites":
        official = dsprites.find_official_file(data_root)
        return True, str(official) if official else "rendered procedurally (no official .npz under --data-root)"
    files = fashion_mnist.find_files(data_root)
    if files is not None:
        return True, str(next(iter(files.values())).parent)
    return False, f"not found: {fashion_mnist.HOW_TO_GET} (or let torchvision download it, with network)"
