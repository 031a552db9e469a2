"""SmallNORB (LeCun, Huang & Bottou 2004, "Learning Methods for Generic Object Recognition with
Invariance to Pose and Lighting", https://cs.nyu.edu/~ylclab/data/norb-v1.0-small/): 96x96 grey
stereo photographs of 50 toys, 24,300 pairs in a training and 24,300 in a test file.

The definitions are disentanglement_lib's (``disentanglement_lib/data/ground_truth/norb.py``):
both files together, the first image of each stereo pair, resized to 64x64 with PIL's
antialiasing (Lanczos) filter, pixels / 255; five factors

    category (5), instance (10), elevation (9), azimuth (18: the file's 0, 2, ..., 34 halved),
    lighting (6)

of which instance is not observed: the metrics' factors are category, elevation, azimuth and
lighting, and the instance is drawn uniformly whenever an observation is sampled. Rows are
located by their factors (the files are not in grid order). One deliberate difference:
disentanglement_lib reads the byte matrices as int8; they are unsigned bytes (the format's
``0x1E3D4C55``), and are read as uint8 here.

Files: the six ``smallnorb-5x{46789,01235}x9x18x6x2x96x96-{training,testing}-{dat,cat,info}.mat``
in LeCun's binary matrix format (not MATLAB's: an int32 magic number, the rank, the dimensions,
then the data, little-endian), in the folder itself or its ``small_norb/`` or ``smallnorb/``
subfolder, either as published (``.mat.gz``, checked against the SHA-256s that TensorFlow
Datasets pins, ``tensorflow_datasets/url_checksums/smallnorb.txt``) or unpacked (``.mat``: no
checksum is published for those; the record then holds the SHA-256 of their contents and its
source says they were not checked against a pin). Memory: the resized grid is held, 199 MB as
uint8; a file is read a few thousand images at a time. Licence: none stated on the data set's
page, which asks for the paper to be cited.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from vaebench.data import _files
from vaebench.data.base import Splits
from vaebench.data.factor_grid import FactorGrid, Grid, resident, split_grid
from vaebench.errors import DataError

FACTOR_NAMES = ("category", "instance", "elevation", "azimuth", "lighting")
FACTOR_SIZES = (5, 10, 9, 18, 6)
OBSERVED = (0, 2, 3, 4)  # instance is not observed (disentanglement_lib's latent_factor_indices)
LABEL = 0  # the probe's class: category (index among the observed factors)
ABOUT = ("LeCun et al. 2004: 48,600 images 1x64x64 (96x96 resized); factors category 5, elevation 9, azimuth 18, "
         "lighting 6 (instance 10, not observed); no licence stated")
SIDE = 64
CHUNKS = ("5x46789x9x18x6x2x96x96-training", "5x01235x9x18x6x2x96x96-testing")
PARTS = ("dat", "cat", "info")
URL = "https://cs.nyu.edu/~ylclab/data/norb-v1.0-small/"
# tensorflow_datasets/url_checksums/smallnorb.txt
SHA256 = {
    "smallnorb-5x01235x9x18x6x2x96x96-testing-cat.mat.gz": "ecaf6d5bb8c3bc5eab9cf0258f6d2198dd474e016e374836fc097f2e5ff509ff",
    "smallnorb-5x01235x9x18x6x2x96x96-testing-dat.mat.gz": "cf7104eed3e51174d2f65b66d1e5878b9da233b886f161b0d88f4510ba2c7474",
    "smallnorb-5x01235x9x18x6x2x96x96-testing-info.mat.gz": "16adf314226327ee006d1a44db8cfef52773c06c829951d5653a9f6f310248a2",
    "smallnorb-5x46789x9x18x6x2x96x96-training-cat.mat.gz": "2784e542c1922060691090952b6cd6278879a216c90f81476f0f00256d42cdaa",
    "smallnorb-5x46789x9x18x6x2x96x96-training-dat.mat.gz": "5ffd6272a07d32695ee1082a26a41a93a37aab8c28da047f8c34ed348d214873",
    "smallnorb-5x46789x9x18x6x2x96x96-training-info.mat.gz": "de7eb932ebe7a4ee16217fead60660d0eb3d23632c2f4d1c51f88c501c17bf32",
}
HOW_TO_GET = (f"download the six smallnorb-*-{{dat,cat,info}}.mat.gz files of {URL} (262 MB) into a folder (or its "
              "small_norb/ subfolder; unpacked .mat files work too) and pass --data-root DIR or set VAEBENCH_DATA, or run "
              "once with network (they are downloaded into ~/.cache/vaebench/small_norb)")
SUBDIRS = ("small_norb", "smallnorb", "")
# LeCun's binary matrix format: magic number -> element type
DTYPES = {0x1E3D4C55: np.uint8, 0x1E3D4C54: np.dtype("<i4"), 0x1E3D4C56: np.dtype("<i2"),
          0x1E3D4C51: np.dtype("<f4"), 0x1E3D4C53: np.dtype("<f8")}


def name(chunk: str, part: str) -> str:
    return f"smallnorb-{chunk}-{part}.mat"


PACKED = _files.FileSet("SmallNORB", SUBDIRS, pins=lambda: SHA256, algorithm="sha256", how_to_get=HOW_TO_GET,
                        fetch=lambda root: _files.fetch_urls({n: URL + n for n in SHA256}, _folder(root)),
                        produces="the six .mat.gz files")
UNPACKED = _files.FileSet("SmallNORB", SUBDIRS, pins=dict, algorithm="sha256", how_to_get=HOW_TO_GET, fetch=None,
                          also_needs=tuple(name(c, p) for c in CHUNKS for p in PARTS))


def _folder(root: Path) -> Path:
    (root / "small_norb").mkdir(parents=True, exist_ok=True)
    return root / "small_norb"


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def _header(f, path: Path) -> tuple[np.dtype, tuple[int, ...]]:
    raw = f.read(8)
    if len(raw) < 8:
        raise DataError(f"SmallNORB file {path} is truncated (no header); {HOW_TO_GET}")
    magic, ndim = np.frombuffer(raw, "<i4")
    if int(magic) not in DTYPES or not 1 <= ndim <= 16:
        raise DataError(f"SmallNORB file {path} is not a binary matrix (magic {int(magic):#x}, rank {int(ndim)}); {HOW_TO_GET}")
    dims = np.frombuffer(f.read(4 * max(3, int(ndim))), "<i4")[: int(ndim)]  # at least 3 dimensions are stored
    return np.dtype(DTYPES[int(magic)]), tuple(int(d) for d in dims)


def read_matrix(path: Path) -> np.ndarray:
    """A whole binary matrix (the cat and info files)."""
    try:
        with _open(path) as f:
            dtype, shape = _header(f, path)
            data = np.frombuffer(f.read(), dtype)
    except (OSError, EOFError, ValueError) as exc:
        raise DataError(f"SmallNORB file {path} cannot be read ({exc}); {HOW_TO_GET}") from None
    if data.size != int(np.prod(shape)):
        raise DataError(f"SmallNORB file {path} holds {data.size} values, its header says {shape}; {HOW_TO_GET}")
    return data.reshape(shape)


def read_left_images(path: Path, chunk: int = 2048) -> np.ndarray:
    """The first image of every stereo pair of a dat file (N, 2, 96, 96), resized to 64x64:
    uint8 (N, 1, 64, 64), read `chunk` pairs at a time."""
    from PIL import Image

    try:
        with _open(path) as f:
            dtype, shape = _header(f, path)
            if dtype != np.uint8 or len(shape) != 4 or shape[1] != 2:
                raise DataError(f"SmallNORB file {path}: {dtype} {shape}, not uint8 stereo pairs (N, 2, H, W); {HOW_TO_GET}")
            n, _, h, w = shape
            out = np.empty((n, 1, SIDE, SIDE), dtype=np.uint8)
            for start in range(0, n, chunk):
                k = min(chunk, n - start)
                raw = f.read(k * 2 * h * w)
                if len(raw) != k * 2 * h * w:
                    raise DataError(f"SmallNORB file {path} is truncated (pair {start + len(raw) // (2 * h * w)} of {n}); {HOW_TO_GET}")
                pairs = np.frombuffer(raw, np.uint8).reshape(k, 2, h, w)
                for i in range(k):
                    out[start + i, 0] = np.asarray(Image.fromarray(pairs[i, 0]).resize((SIDE, SIDE), Image.LANCZOS))
    except (OSError, EOFError) as exc:
        raise DataError(f"SmallNORB file {path} cannot be read ({exc}); {HOW_TO_GET}") from None
    return out


def read(folder: Path, packed: bool) -> FactorGrid:
    """The ground truth of the six files in `folder` (packed: .mat.gz)."""
    suffix = ".gz" if packed else ""
    images, features = [], []
    for chunk in CHUNKS:
        path = {p: folder / (name(chunk, p) + suffix) for p in PARTS}
        x = read_left_images(path["dat"])
        cat, info = read_matrix(path["cat"]).reshape(-1), read_matrix(path["info"])
        if info.ndim != 2 or info.shape[1] != 4 or not len(x) == len(cat) == len(info):
            raise DataError(f"SmallNORB files {chunk}: {len(x)} images, {cat.shape} categories, info {info.shape} "
                            f"(expected N, N and (N, 4)); {HOW_TO_GET}")
        # info columns: instance, elevation, azimuth (0, 2, ..., 34), lighting
        features.append(np.column_stack([cat, info[:, 0], info[:, 1], info[:, 2] // 2, info[:, 3]]).astype(np.int64))
        images.append(x)
    images_all, factors = np.concatenate(images), np.concatenate(features)
    try:
        rows = Grid(FACTOR_SIZES).rows_of(factors, f"SmallNORB files in {folder}")
    except ValueError as exc:  # a factor index beyond its size
        raise DataError(f"SmallNORB files in {folder}: {exc}; {HOW_TO_GET}") from None
    return FactorGrid(FACTOR_NAMES, FACTOR_SIZES, OBSERVED, resident(images_all), (1, SIDE, SIDE), rows)


def load_smallnorb_splits(data_root=None, allow_download: bool = True) -> Splits:
    folder, packed = _files.locate_either(PACKED, UNPACKED, data_root, allow_download)
    ds = read(folder, packed)
    if packed:
        checksum, how = _files.combined(SHA256), "SHA-256 verified"
    else:
        names = UNPACKED.also_needs
        checksum = _files.combined({n: _files.digest(folder / n, "sha256") for n in names})
        how = "unpacked .mat files: no published checksum, not verified"
    source = f"{folder} ({how}; disentanglement_lib's SmallNORB factors, instance not observed)"
    return split_grid("smallnorb", ds, checksum, source, label=LABEL, num_classes=FACTOR_SIZES[0],
                      image_shape=ds.image_shape)
