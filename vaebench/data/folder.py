"""Your own data as a folder of images: `--datasets folder:path/to/images`.

Layout (PNG or JPEG files, read with Pillow; other files and hidden ones are ignored):

    images/train/<class>/*.png     class sub-folders: the label is the class's index among the
    images/test/<class>/*.png      sorted class names of all splits (one class folder may be
    images/val/<class>/*.png       missing from a split); optional val/: without it a fixed 10%
                                   of train (at most 5,000, independent of the run seed)
At least 2 classes: every run's linear probe (`probe_acc`) is a classifier fitted on the labels.

Every image must have the same size (no resizing is done: prepare the images, e.g. centre-crop
and resize them to 64x64). Grey images ('L', '1' modes) give 1 channel; a folder with any colour
image is read as RGB throughout (3 channels). Pixels are stored as uint8.

The checksum is the SHA-256 of a manifest: one line `<SHA-256 of the file>  <path relative to
the folder>` per image, sorted by path (the format of `sha256sum`); the name in run ids and
tables is the folder's name plus the first 12 hex digits (`faces.folder@3f2a9c1b0d4e`), the
same on every machine for the same files.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from vaebench.data.base import Splits
from vaebench.data.checks import check_splits
from vaebench.data.npz import ID_HEX, carve_val, check_label_sets, file_sha256
from vaebench.errors import DataError

PREFIX = "folder:"
EXTENSIONS = (".png", ".jpg", ".jpeg")


def _visible(p: Path) -> bool:
    return not p.name.startswith(".")


def list_split(root: Path, split: str) -> list[tuple[Path, str]]:
    """(image file, class name) of one split, sorted by path."""
    d = root / split
    entries = sorted(p for p in d.iterdir() if _visible(p))
    classes = [p for p in entries if p.is_dir()]
    loose = [p for p in entries if p.is_file() and p.suffix.lower() in EXTENSIONS]
    if loose:
        raise DataError(f"image folder {d}: image {loose[0].name} is not in a class sub-folder; put every image in "
                        f"{d}/<class>/ (the class names are the labels)")
    files: list[tuple[Path, str]] = []
    for c in classes:
        files += [(p, c.name) for p in sorted(c.iterdir()) if _visible(p) and p.is_file() and p.suffix.lower() in EXTENSIONS]
    if not files:
        raise DataError(f"image folder {d}: no PNG or JPEG images in class sub-folders ({d}/<class>/*.png)")
    return files


def manifest_sha256(root: Path, files: list[Path]) -> str:
    rel = sorted((p.relative_to(root).as_posix(), p) for p in files)
    lines = [f"{file_sha256(p)}  {r}\n" for r, p in rel]
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def folder_checksum(root: Path) -> str:
    return manifest_sha256(root, [p for s in _splits_present(root) for p, _ in list_split(root, s)])


def identity(root: Path, checksum: str) -> str:
    return f"{root.resolve().name}.folder@{checksum[:ID_HEX]}"


def _splits_present(root: Path) -> list[str]:
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist or is not a folder")
    missing = [s for s in ("train", "test") if not (root / s).is_dir()]
    if missing:
        raise DataError(f"image folder {root}: missing sub-folder(s) {', '.join(missing)}/ "
                        "(expected train/ and test/, optionally val/, each with class sub-folders or images)")
    return ["train", "test"] + (["val"] if (root / "val").is_dir() else [])


def _read(files: list[tuple[Path, str]], rgb: bool, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    out = np.empty((len(files), 3 if rgb else 1, size[1], size[0]), dtype=np.uint8)
    for i, (p, _) in enumerate(files):
        with Image.open(p) as im:
            if im.size != size:
                raise DataError(f"image {p} is {im.size[0]}x{im.size[1]}, the first image is {size[0]}x{size[1]}; "
                                "every image must have one size (resize or crop them first)")
            a = np.asarray(im.convert("RGB" if rgb else "L"))
        out[i] = a.transpose(2, 0, 1) if rgb else a[None]
    return out


def load_folder(root, expected: str | None = None) -> Splits:
    import torch
    from PIL import Image, UnidentifiedImageError

    root = Path(root)
    splits = _splits_present(root)
    files = {s: list_split(root, s) for s in splits}
    checksum = manifest_sha256(root, [p for fs in files.values() for p, _ in fs])
    if expected is not None and checksum != expected:
        raise DataError(f"image folder {root} changed while the suite ran (checksum {checksum[:ID_HEX]}, was {expected[:ID_HEX]})")
    classes = sorted({c for fs in files.values() for _, c in fs})
    if len(classes) < 2:
        raise DataError(f"image folder {root}: one class ({classes[0]!r}); give at least 2 class sub-folders "
                        "(every run's linear probe is a classifier fitted on the labels)")
    index = {c: i for i, c in enumerate(classes)}
    y = {s: torch.tensor([index[c] for _, c in fs], dtype=torch.int64) for s, fs in files.items()}
    check_label_sets(y, f"image folder {root}", names=classes)
    modes, size = set(), None
    try:
        for fs in files.values():
            for p, _ in fs:
                with Image.open(p) as im:
                    modes.add(im.mode)
                    size = size or im.size
        rgb = bool(modes - {"L", "1"})
        x = {s: torch.from_numpy(_read(fs, rgb, size)) for s, fs in files.items()}
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"image folder {root}: cannot read an image ({type(exc).__name__}: {exc})") from None
    if "val" not in x:
        carve_val(x, y, f"image folder {root}: train/", "val/")
    out = Splits(
        name=identity(root, checksum),
        train_x=x["train"], train_y=y["train"], val_x=x["val"], val_y=y["val"], test_x=x["test"], test_y=y["test"],
        num_classes=len(classes), checksum=checksum, source=str(root.resolve()),
    )
    return check_splits(out, f"image folder {root}")
