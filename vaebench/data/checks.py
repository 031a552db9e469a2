"""Checks that data from outside the registry (a `.npz`, an image folder, a plug-in) can be
benchmarked: the `Splits` contract, and a shared network for its image shape.

Every failure is a `DataError` (exit 2) that names where the data came from and what to fix.
"""

from __future__ import annotations

from vaebench.data.base import Splits
from vaebench.errors import DataError

SPLITS = ("train", "val", "test")


def check_splits(splits, where: str) -> Splits:
    """`splits` as the suite needs it, or a DataError naming `where` and the field at fault:
    x (N, C, H, W) float32 in [0, 1] or uint8, C in {1, 3}, the same (C, H, W) in every split,
    no empty split; y int64 (N,), labels in [0, num_classes); a checksum string."""
    import torch

    if not isinstance(splits, Splits):
        raise DataError(f"{where}: returned a {type(splits).__name__}, not a vaebench.data.base.Splits")
    if not isinstance(splits.checksum, str) or not splits.checksum:
        raise DataError(f"{where}: Splits.checksum must be a non-empty string (e.g. the SHA-256 of the source files)")
    if not isinstance(splits.num_classes, int) or isinstance(splits.num_classes, bool) or splits.num_classes < 1:
        raise DataError(f"{where}: Splits.num_classes must be an integer >= 1, got {splits.num_classes!r}")
    shape = None
    for name in SPLITS:
        x, y = splits.split(name)
        if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
            raise DataError(f"{where}: {name}_x and {name}_y must be torch tensors")
        if x.dim() != 4 or x.shape[1] not in (1, 3):
            raise DataError(f"{where}: {name}_x must have shape (N, C, H, W) with C = 1 or 3, got {tuple(x.shape)}")
        if len(x) == 0:
            raise DataError(f"{where}: the {name} split is empty")
        if shape is not None and tuple(x.shape[1:]) != shape:
            raise DataError(f"{where}: {name}_x images are {tuple(x.shape[1:])}, train_x's are {shape}; every split needs one image shape")
        shape = tuple(x.shape[1:])
        if x.dtype == torch.float32:
            if not bool(torch.isfinite(x).all()) or float(x.min()) < 0 or float(x.max()) > 1:
                raise DataError(f"{where}: {name}_x must hold pixels in [0, 1] (float32) or 0..255 (uint8)")
        elif x.dtype != torch.uint8:
            raise DataError(f"{where}: {name}_x must be float32 in [0, 1] or uint8, got {x.dtype}")
        if y.dtype != torch.int64 or y.shape != (len(x),):
            raise DataError(f"{where}: {name}_y must be int64 of shape ({len(x)},), got {y.dtype} {tuple(y.shape)}")
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= splits.num_classes):
            raise DataError(f"{where}: {name}_y labels must lie in [0, num_classes={splits.num_classes})")
    if len(torch.unique(splits.train_y)) < 2:
        raise DataError(f"{where}: train_y has one class; give labels of at least 2 classes (every run's linear "
                        "probe, probe_acc, is a classifier fitted on them)")
    check_network(shape, where)
    check_ground_truth(splits.ground_truth, where)
    return splits


# what the disentanglement evaluation calls on `Splits.ground_truth` (runner/disentanglement.py)
GROUND_TRUTH = ("factor_names", "factor_sizes", "num_factors", "sample_factors", "grid_indices", "observations", "__len__")


def check_ground_truth(ground_truth, where: str) -> None:
    """DataError unless `ground_truth` is None or has the ground-truth grid interface (that of
    `vaebench.data.factor_grid.FactorGrid`), so a run fails before training, not after."""
    if ground_truth is None:
        return
    missing = [name for name in GROUND_TRUTH if not hasattr(ground_truth, name)]
    if missing:
        raise DataError(f"{where}: Splits.ground_truth ({type(ground_truth).__name__}) lacks {', '.join(missing)}; "
                        "give the interface of vaebench.data.factor_grid.FactorGrid (e.g. build one), or leave it None")


def check_network(image_shape: tuple[int, int, int], where: str) -> None:
    """DataError unless the shared encoder and decoder (`vaebench.models.networks`) exist for
    `image_shape` and give back images of that shape (tried on one blank image)."""
    import torch

    from vaebench.models.networks import Decoder, Encoder

    c, h, w = image_shape
    try:
        with torch.no_grad():
            Encoder(image_shape, 2)(torch.zeros(1, *image_shape))
            out = Decoder(2, image_shape)(torch.zeros(1, 2))
        ok = tuple(out.shape) == (1, *image_shape)
    except (RuntimeError, ValueError):
        ok = False
    if not ok:
        raise DataError(
            f"{where}: no shared network for {c}x{h}x{w} images: the conv networks halve the side 2 times "
            "(16..63 px) or 4 times (>= 64 px), so H and W must be divisible by 4 (resp. 16); images under "
            "16 px use an MLP. Resize, crop or pad the images (e.g. to 28x28, 32x32 or 64x64)"
        )
