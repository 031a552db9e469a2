"""CelebA at 64x64 (Liu et al. 2015), streamed from the aligned jpgs.

Files, in torchvision's layout (``celeba/`` under a data root, or the root itself):
``img_align_celeba/*.jpg`` (178x218), ``list_eval_partition.txt`` (0 train / 1 valid / 2 test)
and ``list_attr_celeba.txt`` (40 binary attributes, -1/1). The two text files are checked
against the MD5s torchvision pins for them; the images against the MD5 of
``img_align_celeba.zip`` when the archive is still there (torchvision's download keeps it).
Without the archive no published checksum covers the images: the record's checksum then
includes a SHA-256 of every image's name and size, and `source` says the images are unverified.

Each image is centre-cropped to 148x148 (rows 35..182, columns 15..162: torchvision's
CenterCrop(148)) and resized to 64x64 (PIL bilinear with antialiasing), the preprocessing of
many VAE papers and code bases (e.g. PyTorch-VAE, pythae's CelebA). The official partition is
used as is: 162,770 train / 19,867 valid / 19,962 test. Labels: `Splits.train_y` etc. are the
`attribute` parameter (default Smiling, the most balanced of the 40: about 48% positive), 0/1, the
probe's class; all 40 attributes stay in `CelebASplits.attributes` (split -> (N, 40) int8 0/1).

The splits are `ImageFiles` (decoded on demand), not resident tensors: 202,599 images are 2.5 GB
as uint8 and 10 GB as float32.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vaebench.data import _files
from vaebench.data.base import Splits
from vaebench.errors import DataError, UserError

if TYPE_CHECKING:
    import torch

CROP = 148
SIDE = 64
IMAGE_SHAPE = (3, SIDE, SIDE)
# torchvision.datasets.CelebA.file_list
MD5 = {
    "list_eval_partition.txt": "d32c9cbf5e040fd4025c592c306e6668",
    "list_attr_celeba.txt": "75e246fa4810816ffd6ee81facbd244c",
}
ZIP_MD5 = ("img_align_celeba.zip", "00d2c5bc6d35e252742224ab0c1e8fcb")
IMAGES = "img_align_celeba"
SUBDIRS = ("celeba", "")
HOW_TO_GET = ("put CelebA's img_align_celeba/ (the aligned jpgs), list_eval_partition.txt and list_attr_celeba.txt in a "
              "folder (or its celeba/ subfolder) and pass --data-root DIR or set VAEBENCH_DATA, or run once with network "
              "(torchvision downloads them from Google Drive into ~/.cache/vaebench/celeba; it needs gdown)")


@dataclass
class CelebASplits(Splits):
    attribute_names: tuple[str, ...] = ()
    attributes: dict[str, torch.Tensor] = field(default_factory=dict)


def _fetch(root: Path) -> None:
    from torchvision.datasets import CelebA

    CelebA(str(root), split="all", target_type="attr", download=True)


FILES = _files.FileSet("CelebA", SUBDIRS, pins=lambda: MD5, algorithm="md5", how_to_get=HOW_TO_GET,
                       fetch=lambda root: _fetch(root), also_needs=(IMAGES,))  # the zip: `_verify_archive`
find_files, not_under_root = FILES.find, FILES.not_under_root


def _verify_archive(folder: Path) -> bool:
    """Checks the image archive when it is there; True when it was (the images are then covered)."""
    archive = folder / ZIP_MD5[0]
    if archive.is_file():
        _files.verify_file(archive, "md5", ZIP_MD5[1], "CelebA", HOW_TO_GET)
        return True
    return False


def verify(folder: Path) -> bool:
    """Checks the text files (and the image archive when present); True when the images were covered."""
    FILES.verify(folder)
    return _verify_archive(folder)


def read_image(path: Path) -> np.ndarray:
    """One aligned jpg -> centre 148x148 crop -> 64x64, uint8 (3, 64, 64)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            w, h = im.size
            left, top = int(round((w - CROP) / 2.0)), int(round((h - CROP) / 2.0))
            im = im.crop((left, top, left + CROP, top + CROP)).resize((SIDE, SIDE), Image.BILINEAR)
            return np.asarray(im, dtype=np.uint8).transpose(2, 0, 1).copy()
    except OSError as exc:
        raise DataError(f"CelebA image {path} cannot be read ({exc}); {HOW_TO_GET}") from None


def read_partition(path: Path) -> dict[str, int]:
    try:
        rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
        part = {name: int(p) for name, p in rows}
    except (OSError, ValueError) as exc:
        raise DataError(f"CelebA file {path} is not 'image.jpg 0|1|2' lines ({exc}); {HOW_TO_GET}") from None
    if not set(part.values()) <= {0, 1, 2}:
        raise DataError(f"CelebA file {path} has partitions other than 0, 1, 2; {HOW_TO_GET}")
    return part


def read_attributes(path: Path) -> tuple[list[str], dict[str, np.ndarray]]:
    """(the 40 names, image -> int8 0/1 vector): a count line, a names line, then 'image.jpg -1 1 ...'."""
    try:
        lines = path.read_text().splitlines()
        names = lines[1].split()
        table = {}
        for line in lines[2:]:
            if line.strip():
                parts = line.split()
                table[parts[0]] = (np.array(parts[1:], dtype=np.int8) > 0).astype(np.int8)
    except (OSError, ValueError, IndexError) as exc:
        raise DataError(f"CelebA file {path} cannot be read as the attribute list ({exc}); {HOW_TO_GET}") from None
    bad = [k for k, v in table.items() if len(v) != len(names)]
    if bad or int(lines[0].split()[0]) != len(table):
        raise DataError(f"CelebA file {path}: {len(table)} rows (header says {lines[0].strip()}), "
                        f"{len(bad)} with other than {len(names)} values; {HOW_TO_GET}")
    return names, table


def load_celeba64_splits(data_root=None, attribute: str = "Smiling", allow_download: bool = True) -> Splits:
    import torch

    from vaebench.data.streamed import ImageFiles

    folder = FILES.locate(data_root, allow_download)  # the text files verified
    images_verified = _verify_archive(folder)
    part = read_partition(folder / "list_eval_partition.txt")
    names, attrs = read_attributes(folder / "list_attr_celeba.txt")
    if attribute not in names:
        raise UserError(f"dataset 'celeba64': attribute {attribute!r} is not one of CelebA's 40: {', '.join(names)}")
    missing = [n for n in part if n not in attrs or not (folder / IMAGES / n).is_file()]
    if missing:
        raise DataError(f"CelebA: {len(missing)} images of list_eval_partition.txt have no attributes or no file in "
                        f"{folder / IMAGES} (first: {missing[0]}); {HOW_TO_GET}")
    col = names.index(attribute)
    xs, ys, attributes = {}, {}, {}
    for code, split in enumerate(("train", "val", "test")):
        files = sorted(n for n, p in part.items() if p == code)
        table = np.stack([attrs[n] for n in files]) if files else np.zeros((0, len(names)), np.int8)
        xs[split] = ImageFiles([folder / IMAGES / n for n in files], read_image, IMAGE_SHAPE)
        ys[split] = torch.from_numpy(table[:, col].astype(np.int64))
        attributes[split] = torch.from_numpy(table)
    pins = dict(MD5)
    if images_verified:
        pins[ZIP_MD5[0]] = ZIP_MD5[1]
    else:
        pins["images"] = _files.combined({s: xs[s].digest() for s in xs})
    return CelebASplits(
        name="celeba64",
        train_x=xs["train"], train_y=ys["train"],
        val_x=xs["val"], val_y=ys["val"],
        test_x=xs["test"], test_y=ys["test"],
        num_classes=2,
        checksum=_files.combined(pins),
        source=str(folder) + ("" if images_verified else " (images not checksummed: img_align_celeba.zip absent)"),
        attribute_names=tuple(names),
        attributes=attributes,
    )
