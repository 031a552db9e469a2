"""Cars3D (Reed, Zhang, Zhang & Lee 2015, "Deep Visual Analogy-Making", http://www.scottreed.info):
renderings of 183 car models (from Fidler et al. 2012's CAD models) at 24 azimuths and 4
elevations, 128x128x3, resized to 64x64.

The definitions are disentanglement_lib's (``disentanglement_lib/data/ground_truth/cars3d.py``):
three factors, all observed, in the order

    elevation (4), azimuth (24), object_type (183)

(object type fastest); each 128x128 image is resized to 64x64 with PIL's antialiasing (Lanczos)
filter (disentanglement_lib's ``thumbnail``, which for a square image is that resize); pixels / 255.
A car's index is its line in the archive's ``list.txt`` (disentanglement_lib takes the folder's
listing order, which the file system decides; the list makes it the same everywhere).

Files: the archive ``nips2015-analogy-data.tar.gz`` (read in place, checked against the MD5 that
the `disent` project pins, nmichlo/disent ``disent/dataset/data/_groundtruth__cars3d.py``), or
its unpacked ``cars/`` folder (``list.txt`` and one MATLAB file ``car_NNN_mesh.mat`` per car, whose
``im`` array is uint8 (128, 128, 3, 24 azimuths, 4 elevations), read with scipy.io.loadmat): no
checksum is published for the unpacked files; the record then holds the SHA-256 of their
contents and its source says they were not checked against a pin. Memory: the resized grid is
held, 216 MB as uint8; one car (4.7 MB) is read at a time. Licence: none stated on the authors'
page; the renderings derive from Fidler et al.'s CAD models.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import numpy as np

from vaebench.data import _files
from vaebench.data.base import Splits
from vaebench.data.factor_grid import FactorGrid, resident, split_grid
from vaebench.errors import DataError

FACTOR_NAMES = ("elevation", "azimuth", "object_type")
FACTOR_SIZES = (4, 24, 183)
LABEL = 1  # the probe's class: azimuth
ABOUT = ("Reed et al. 2015: 17,568 images 3x64x64 (128x128 resized); factors elevation 4, azimuth 24, "
         "object_type 183; no licence stated")
SIDE = 64
ARCHIVE = "nips2015-analogy-data.tar.gz"
URL = "http://www.scottreed.info/files/nips2015-analogy-data.tar.gz"
# nmichlo/disent, disent/dataset/data/_groundtruth__cars3d.py ("full" hash of the archive)
MD5 = {ARCHIVE: "4e866a7919c1beedf53964e6f7a23686"}
HOW_TO_GET = (f"download {URL} (the 3D cars of Reed et al. 2015) into a folder (or its cars3d/ subfolder; its unpacked "
              "cars/ folder works too) and pass --data-root DIR or set VAEBENCH_DATA, or run once with network (it is "
              "downloaded into ~/.cache/vaebench/cars3d)")
PACKED = _files.FileSet("Cars3D", ("cars3d", ""), pins=lambda: MD5, algorithm="md5", how_to_get=HOW_TO_GET,
                        fetch=lambda root: _files.fetch_urls({ARCHIVE: URL}, _folder(root)), produces=ARCHIVE)
UNPACKED = _files.FileSet("Cars3D", ("cars3d/data/cars", "cars3d/cars", "data/cars", "cars", ""), pins=dict,
                          algorithm="sha256", how_to_get=HOW_TO_GET, fetch=None, also_needs=("list.txt",))


def _folder(root: Path) -> Path:
    (root / "cars3d").mkdir(parents=True, exist_ok=True)
    return root / "cars3d"


def car_images(raw: bytes, where: str) -> np.ndarray:
    """One car's MATLAB file -> uint8 (4 elevations, 24 azimuths, 3, 64, 64)."""
    from PIL import Image
    from scipy.io import loadmat

    try:
        im = loadmat(io.BytesIO(raw))["im"]
    except (ValueError, KeyError, TypeError, OSError) as exc:
        raise DataError(f"Cars3D file {where} is not a MATLAB file with an 'im' array ({exc}); {HOW_TO_GET}") from None
    n_el, n_az = FACTOR_SIZES[0], FACTOR_SIZES[1]
    if im.dtype != np.uint8 or im.ndim != 5 or im.shape[2:] != (3, n_az, n_el):
        raise DataError(f"Cars3D file {where}: 'im' is {im.dtype} {im.shape}, not uint8 (H, W, 3, {n_az}, {n_el}); {HOW_TO_GET}")
    out = np.empty((n_el, n_az, 3, SIDE, SIDE), dtype=np.uint8)
    for el in range(n_el):
        for az in range(n_az):
            pic = Image.fromarray(np.ascontiguousarray(im[:, :, :, az, el]))
            out[el, az] = np.asarray(pic.resize((SIDE, SIDE), Image.LANCZOS)).transpose(2, 0, 1)
    return out


def _members(folder: Path, packed: bool):
    """(car names in list.txt order, a reader name -> bytes) of the archive or the unpacked folder."""
    if packed:
        tar = tarfile.open(folder / ARCHIVE, "r:gz")
        members = {m.name.rsplit("/", 1)[-1]: m for m in tar.getmembers() if "/cars/" in f"/{m.name}" and m.isfile()}

        def get(name: str) -> bytes:
            if name not in members:
                raise DataError(f"Cars3D archive {folder / ARCHIVE} has no cars/{name}; {HOW_TO_GET}")
            return tar.extractfile(members[name]).read()
    else:
        def get(name: str) -> bytes:
            try:
                return (folder / name).read_bytes()
            except OSError as exc:
                raise DataError(f"Cars3D file {folder / name} cannot be read ({exc}); {HOW_TO_GET}") from None
    names = [line.strip() for line in get("list.txt").decode().splitlines() if line.strip()]
    return names, get


def read(folder: Path, packed: bool) -> tuple[FactorGrid, str]:
    """(the ground truth, the SHA-256 of the car files as read)."""
    try:
        names, get = _members(folder, packed)
    except (OSError, tarfile.TarError, EOFError) as exc:
        raise DataError(f"Cars3D archive {folder / ARCHIVE} cannot be read ({exc}); {HOW_TO_GET}") from None
    if len(names) != FACTOR_SIZES[2]:
        raise DataError(f"Cars3D list.txt in {folder} names {len(names)} cars, not {FACTOR_SIZES[2]}; {HOW_TO_GET}")
    grid = np.empty((FACTOR_SIZES[0], FACTOR_SIZES[1], FACTOR_SIZES[2], 3, SIDE, SIDE), dtype=np.uint8)
    h = hashlib.sha256()
    for car, stem in enumerate(names):
        raw = get(f"{stem}.mat")
        h.update(raw)
        grid[:, :, car] = car_images(raw, f"{stem}.mat")
    images = grid.reshape(-1, 3, SIDE, SIDE)
    return FactorGrid(FACTOR_NAMES, FACTOR_SIZES, range(3), resident(images), (3, SIDE, SIDE)), h.hexdigest()


def load_cars3d_splits(data_root=None, allow_download: bool = True) -> Splits:
    folder, packed = _files.locate_either(PACKED, UNPACKED, data_root, allow_download)
    ds, content = read(folder, packed)
    if packed:
        checksum, how = _files.combined(MD5), "archive MD5 verified"
    else:
        checksum, how = content, "unpacked .mat files: no published checksum, not verified"
    source = f"{folder} ({how}; disentanglement_lib's Cars3D factors)"
    return split_grid("cars3d", ds, checksum, source, label=LABEL, num_classes=FACTOR_SIZES[LABEL],
                      image_shape=ds.image_shape)
