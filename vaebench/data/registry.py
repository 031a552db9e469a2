"""Dataset names → loaders with their declared parameters, and whether each can be had here.

A dataset may declare parameters (name -> default). A suite sets them as
`datasets: [{name: NAME, key: value}]`; the loader is called as `loader(data_root, **params)`
with every declared parameter (defaults filled in). A dataset that declares none takes none, and
its runs' ids are what they were before datasets had parameters.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from vaebench.data import (
    _files,
    cars3d,
    celeba,
    cifar10,
    dsprites,
    dsprites_variants,
    fashion_mnist,
    mnist,
    mpi3d,
    shapes3d,
    smallnorb,
    svhn,
)
from vaebench.data.base import Splits
from vaebench.data.digits import load_digits_splits
from vaebench.data.manifold import load_manifold_splits
from vaebench.errors import DataError, UserError
from vaebench.specs import DatasetSpec


class Dataset(NamedTuple):
    loader: Callable[..., Splits]  # loader(data_root, **params) -> Splits
    params: dict[str, Any] = {}  # declared parameters and their defaults (only these may be set)


DATASETS: dict[str, Dataset] = {
    "digits": Dataset(load_digits_splits),
    "fashion_mnist": Dataset(fashion_mnist.load_fashion_mnist_splits),
    "dsprites": Dataset(dsprites.load_dsprites_splits),
    # --- standard image benchmarks (status lines in _standard_status) ---
    "mnist": Dataset(mnist.load_mnist_splits, {"binarize": "none"}),
    "cifar10": Dataset(cifar10.load_cifar10_splits),
    "svhn": Dataset(svhn.load_svhn_splits),
    "celeba64": Dataset(celeba.load_celeba64_splits, {"attribute": "Smiling"}),
    # --- end of the standard image benchmarks ---
}

# manifold: images on a k-dimensional manifold, the data set whose latent dim is known (recommend's check)
DATASETS["manifold"] = Dataset(load_manifold_splits, {"k": 5, "generator": "mlp", "noise": 0.05, "n": 3000, "seed": 0})


# ---------------------------------------------------------------- your own data and plug-ins
# `path/to/data.npz`, `folder:path/to/images` and `package.module:name` are registered when a
# suite names them: under a name that is the same on every machine (npz and folders: file or
# folder name @ checksum; plug-ins: the path as given), so everything downstream (run ids,
# tables, loading by name) treats them like the built-in sets. See data/npz.py, folder.py, plugin.py.

# disentanglement_lib's offline dSprites variants (data/dsprites_variants.py); `subsample: n`
# keeps a fixed n-image part of the grid (the whole grid is 9.1 GB as uint8)
DATASETS["color_dsprites"] = Dataset(dsprites_variants.load_color_dsprites_splits, {"subsample": None})
DATASETS["noisy_dsprites"] = Dataset(dsprites_variants.load_noisy_dsprites_splits, {"subsample": None})

# disentanglement_lib's other ground-truth sets, from their official files (data/factor_grid.py and one
# module each); the factors are Splits.ground_truth. Their files, for `dataset_status`: name -> (the
# published, pinned files; the unpacked files users may hold instead, unpinned, or None)
DATASETS["shapes3d"] = Dataset(shapes3d.load_shapes3d_splits)
DATASETS["mpi3d_toy"] = Dataset(mpi3d.load_mpi3d_toy_splits)
DATASETS["mpi3d_realistic"] = Dataset(mpi3d.load_mpi3d_realistic_splits)
DATASETS["mpi3d_real"] = Dataset(mpi3d.load_mpi3d_real_splits)
DATASETS["smallnorb"] = Dataset(smallnorb.load_smallnorb_splits)
DATASETS["cars3d"] = Dataset(cars3d.load_cars3d_splits)
_FACTOR_SETS = {
    "shapes3d": (shapes3d.FILES, None),
    **{f"mpi3d_{v}": (mpi3d.files(v), None) for v in mpi3d.VARIANTS},
    "smallnorb": (smallnorb.PACKED, smallnorb.UNPACKED),
    "cars3d": (cars3d.PACKED, cars3d.UNPACKED),
}

USER_SOURCES: dict[str, str] = {}  # registered name -> where its data comes from (for `dataset_status`)
_USER_ID = re.compile(r"^.+\.(npz|folder)@[0-9a-f]{12}$")


def register_user_dataset(name: str) -> str | None:
    """Register a `.npz` path, `folder:` path or plug-in path under its stable name and return
    that name; None for any other name."""
    from vaebench.data import folder, npz, plugin

    if name.startswith(folder.PREFIX):
        root = Path(name[len(folder.PREFIX):]).expanduser()
        checksum = folder.folder_checksum(root)
        key, source = folder.identity(root, checksum), f"image folder {root.resolve()}"
        DATASETS[key] = Dataset(functools.partial(_ignore_root, folder.load_folder, root, checksum))
    elif name.lower().endswith(".npz"):
        path = Path(name).expanduser()
        if not path.is_file():
            raise DataError(f"data file {path} does not exist (a dataset name ending in .npz is a file path)")
        checksum = npz.file_sha256(path)
        key, source = npz.identity(path, checksum), f"data file {path.resolve()}"
        DATASETS[key] = Dataset(functools.partial(_ignore_root, npz.load_npz, path, checksum))
    elif plugin.is_plugin_name(name):
        key, source = name, "plug-in"
        DATASETS[key] = Dataset(plugin.loader(name), plugin.declared_params(plugin.resolve(name), name))
    else:
        return None
    USER_SOURCES[key] = source
    return key


def _ignore_root(load, where, checksum, data_root=None):
    return load(where, expected=checksum)


def check_dataset_name(dataset: str | DatasetSpec) -> None:
    name = dataset.name if isinstance(dataset, DatasetSpec) else dataset
    if name not in DATASETS:
        if _USER_ID.match(name):
            raise UserError(f"dataset {name!r} is your own data, named by its checksum; give its file (--datasets "
                            "path/to/file.npz) or folder (--datasets folder:path) to use it here")
        raise UserError(f"unknown dataset {name!r}; choose one of {', '.join(sorted(DATASETS))}, or give your own: "
                        "path/to/data.npz, folder:path/to/images or a plug-in package.module:function")


# ---------------------------------------------------------------- end of own data


def check_data_root(data_root) -> None:
    """A data root the user named must be a folder (every dataset; those that need no files
    ignore its contents, but a mistyped path is still a mistake)."""
    if data_root and not Path(data_root).is_dir():
        raise DataError(f"--data-root {data_root} does not exist or is not a folder; give the folder that holds "
                        "the data set's files, or leave --data-root out to use the system copy")


def resolve_dataset(name: str, params: dict[str, Any] | None = None) -> DatasetSpec:
    """The dataset's spec: name checked, parameters checked against the declared ones (same type
    as the default; an int where the default is a float becomes a float), defaults filled in."""
    name = register_user_dataset(name) or name
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
    if name in USER_SOURCES:
        return True, USER_SOURCES[name]
    if name in ("color_dsprites", "noisy_dsprites"):
        ok, where = dataset_status("dsprites", data_root, verify)
        return ok, f"from dSprites: {where}"
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
    if name in _STANDARD:
        return _standard_status(dataset, data_root, verify)
    if name in _FACTOR_SETS:
        return _factor_set_status(name, data_root, verify)
    if name == "manifold":
        return True, "generated from its parameters (no files)"
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


def about(name: str) -> str:
    """A line on what a data set with official files is (the factor sets'), or ""."""
    module = {"shapes3d": shapes3d, "smallnorb": smallnorb, "cars3d": cars3d}.get(name)
    if name.startswith("mpi3d_") and name in _FACTOR_SETS:
        return mpi3d.ABOUT.format(name[len("mpi3d_"):])
    return module.ABOUT if module else ""


def _factor_set_status(name: str, data_root, verify: bool) -> tuple[bool, str]:
    packed, unpacked = _FACTOR_SETS[name]
    folder, is_packed = _files.find_either(packed, unpacked, data_root) if unpacked else (packed.find(data_root), True)
    if folder is not None and not is_packed:
        return True, f"{folder} (unpacked files: no published checksum covers them)"
    return _folder_status(folder, data_root, packed.not_under_root, packed.how_to_get, packed.verify, verify)


def _folder_status(folder, data_root, not_under_root, how: str, check, verify: bool) -> tuple[bool, str]:
    """(available, where or how to get it) of a data set's folder as found (None: not found);
    with `verify`, its files checked by `check(folder)`."""
    if folder is None:
        return False, not_under_root(data_root) if data_root else f"not found: {how}"
    if not verify:
        return True, str(folder)
    try:
        check(folder)
    except DataError as exc:
        return False, str(exc)
    return True, f"{folder} (checksums verified)"


# --- standard image benchmarks ---
# name -> (module, finder of the folder, verifier of that folder, what to say when it is missing)
_STANDARD = {
    "mnist": (mnist, mnist.find_grey, mnist.verify_grey, mnist.HOW_TO_GET),
    "cifar10": (cifar10, cifar10.find_files, cifar10.verify, cifar10.HOW_TO_GET),
    "svhn": (svhn, svhn.find_files, svhn.verify, svhn.HOW_TO_GET),
    "celeba64": (celeba, celeba.find_files, celeba.verify, celeba.HOW_TO_GET),
}


def _standard_status(dataset: str | DatasetSpec, data_root, verify: bool) -> tuple[bool, str]:
    name = dataset.name if isinstance(dataset, DatasetSpec) else dataset
    module, find, check, how = _STANDARD[name]
    ok, where = _folder_status(find(data_root), data_root, module.not_under_root, how, check, verify)
    if not ok:
        return ok, where
    if name == "mnist":  # the fixed binarisation's .amat files are a second set, needed by binarize=fixed only
        fixed = isinstance(dataset, DatasetSpec) and dataset.params_dict().get("binarize") == "fixed"
        amat = mnist.find_amat(data_root)
        if amat is None:
            if fixed:
                return False, mnist.not_under_root(data_root, fixed=True) if data_root else f"not found: {mnist.AMAT_HOW_TO_GET}"
            where += "; binarize=fixed needs binarized_mnist_{train,valid,test}.amat (not found)"
        else:
            if verify:
                try:
                    mnist.verify_amat(amat)
                except DataError as exc:
                    return False, str(exc)
            where += f"; binarize=fixed: {amat}"
    return True, where
