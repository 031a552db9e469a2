"""Dataset names → loaders with their declared parameters, and whether each can be had here.

A dataset may declare parameters (name -> default). A suite sets them as
`datasets: [{name: NAME, key: value}]`; the loader is called as `loader(data_root, **params)`
with every declared parameter (defaults filled in). A dataset that declares none takes none, and
its runs' ids are what they were before datasets had parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from vaebench.data import dsprites, fashion_mnist
from vaebench.data.manifold import load_manifold_splits
from vaebench.data.base import Splits
from vaebench.data.digits import load_digits_splits
from vaebench.errors import DataError, UserError
from vaebench.specs import DatasetSpec


class Dataset(NamedTuple):
    loader: Callable[..., Splits]  # loader(data_root, **params) -> Splits
    params: dict[str, Any] = {}  # declared parameters and their defaults (only these may be set)


DATASETS: dict[str, Dataset] = {
    "digits": Dataset(load_digits_splits),
    "fashion_mnist": Dataset(fashion_mnist.load_fashion_mnist_splits),
    "dsprites": Dataset(dsprites.load_dsprites_splits),
}

# manifold: images on a k-dimensional manifold, the data set whose latent dim is known (recommend's check)
DATASETS["manifold"] = Dataset(load_manifold_splits, {"k": 5, "generator": "mlp", "noise": 0.05, "n": 3000, "seed": 0})


def check_dataset_name(dataset: str | DatasetSpec) -> None:
    name = dataset.name if isinstance(dataset, DatasetSpec) else dataset
    if name not in DATASETS:
        raise UserError(f"unknown dataset {name!r}; choose one of {', '.join(sorted(DATASETS))}")


def check_data_root(data_root) -> None:
    """A data root the user named must be a folder (every dataset; those that need no files
    ignore its contents, but a mistyped path is still a mistake)."""
    if data_root and not Path(data_root).is_dir():
        raise DataError(f"--data-root {data_root} does not exist or is not a folder; give the folder that holds "
                        "the data set's files, or leave --data-root out to use the system copy")


def resolve_dataset(name: str, params: dict[str, Any] | None = None) -> DatasetSpec:
    """The dataset's spec: name checked, parameters checked against the declared ones (same type
    as the default; an int where the default is a float becomes a float), defaults filled in."""
    check_dataset_name(name)
    defaults = DATASETS[name].params
    params = dict(params or {})
    unknown = set(params) - set(defaults)
    if unknown:
        allowed = ", ".join(f"{k} (default {v!r})" for k, v in sorted(defaults.items())) or "none"
        raise UserError(f"dataset {name!r} has no parameter(s) {sorted(unknown)}; its parameters: {allowed}")
    merged = {**defaults, **{k: _checked(name, k, v, defaults[k]) for k, v in params.items()}}
    return DatasetSpec(name, tuple(sorted((k, _frozen(v)) for k, v in merged.items())),
                       defaults=tuple(sorted((k, _frozen(v)) for k, v in defaults.items())))


def _checked(dataset: str, key: str, value: Any, default: Any) -> Any:
    if isinstance(default, bool) or default is None or isinstance(default, str):
        ok = default is None or isinstance(value, type(default))
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:  # list / tuple
        ok = isinstance(value, (list, tuple))
    if not ok:
        raise UserError(f"dataset {dataset!r}: parameter {key} must be like its default {default!r}, got {value!r}")
    return value


def _frozen(value: Any) -> Any:
    return tuple(_frozen(v) for v in value) if isinstance(value, (list, tuple)) else value


def _spec(dataset: str | DatasetSpec) -> DatasetSpec:
    return dataset if isinstance(dataset, DatasetSpec) else resolve_dataset(dataset)


def load_dataset(dataset: str | DatasetSpec, data_root=None) -> Splits:
    """The splits of a dataset given by name (default parameters) or by its resolved spec."""
    spec = _spec(dataset)
    check_dataset_name(spec)
    check_data_root(data_root)
    return DATASETS[spec.name].loader(data_root, **spec.params_dict())


def dataset_status(dataset: str | DatasetSpec, data_root=None, verify: bool = False) -> tuple[bool, str]:
    """(available here, where from or how to get it). Without loading the data, unless `verify`:
    then files are read and checked against their SHA-256 (a corrupted file is not available)."""
    check_dataset_name(dataset)
    check_data_root(data_root)
    name = dataset.name if isinstance(dataset, DatasetSpec) else dataset
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
    if name != "fashion_mnist":
        return True, "registered"
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
