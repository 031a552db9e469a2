"""disentanglement_lib's colour and noise variants of dSprites, offline and reproducible.

The definitions are those of google-research/disentanglement_lib,
``disentanglement_lib/data/ground_truth/dsprites.py`` (Locatello et al. 2019, "Challenging
Common Assumptions in the Unsupervised Learning of Disentangled Representations"), applied to
the binary dSprites images (the procedural renderer, or the official file when it is found, as
for ``dsprites``); both have the five dSprites factors and 3 channels (64x64x3):

* ``color_dsprites`` (``ColorDSprites``): the white sprite is multiplied by a colour drawn per
  observation, each channel uniform in [0.5, 1]; the background stays black.
* ``noisy_dsprites`` (``NoisyDSprites``): ``min(image + noise, 1)`` with noise uniform in
  [0, 1] per pixel and channel: the sprite stays white, the black background becomes noise.

Two deliberate differences, both for reproducibility:

1. disentanglement_lib draws the colour / noise afresh from its ``random_state`` each time an
   observation is sampled, so the same factors give a different image on every draw. Here the
   colour and the noise are a fixed function of the image's grid index (a counter-based
   generator, SplitMix64 of the index and the position in the image), so the data set is a fixed
   set of 737,280 images: the training splits, the test split and the observations the
   disentanglement metrics draw are the same on every machine and in every run, and an image
   is rendered the same way whichever code path asks for it. Across images the colours and
   noise are still independent and uniform; what is lost is the variation between two draws of
   the same factor combination.
2. Pixels are stored as uint8, so the uniforms are 8-bit: colour channels k/255 with k uniform
   in 128..255 (i.e. [0.502, 1]), noise k/255 with k uniform in 0..255.

Memory: the whole grid is 737,280 x 3 x 64 x 64 bytes = 9.1 GB (3x dSprites); use the
``subsample`` parameter of the loader for quick runs.
"""

from __future__ import annotations

import hashlib

import numpy as np

from vaebench.data.base import Splits
from vaebench.data.dsprites import grid_splits, ground_truth
from vaebench.data.dsprites_render import (
    FACTOR_NAMES,
    IMAGE_SIZE,
    NUM_IMAGES,
    DSprites,
)
from vaebench.errors import DataError

VERSION = "1"  # bump when the variants' pixels change
CHANNELS = 3
_PIXELS = CHANNELS * IMAGE_SIZE * IMAGE_SIZE
_STREAMS = {"color": 1, "noisy": 2}  # one independent counter stream per variant
DEFINITIONS = {
    "color": "disentanglement_lib ColorDSprites: sprite x colour, each channel ~ U{128..255}/255 per image",
    "noisy": "disentanglement_lib NoisyDSprites: min(sprite + noise, 1), noise ~ U{0..255}/255 per pixel and channel",
}


def splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 (Steele, Lea & Flood 2014) of uint64 counters: well-mixed 64-bit words,
    the same on every machine (pure integer arithmetic, wrapping)."""
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def index_bytes(indices: np.ndarray, n_bytes: int, stream: int) -> np.ndarray:
    """(N, n_bytes) uniform random bytes that depend only on (grid index, stream): the i-th
    image's bytes are those of counters stream * 2**48 + index * words + 0 .. words - 1."""
    words = -(-n_bytes // 8)
    idx = np.asarray(indices, dtype=np.uint64)[:, None]
    counters = np.uint64(stream << 48) + idx * np.uint64(words) + np.arange(words, dtype=np.uint64)[None, :]
    out = splitmix64(counters).astype("<u8").view(np.uint8)  # little-endian: the same bytes everywhere
    return out.reshape(len(idx), words * 8)[:, :n_bytes]


class DSpritesVariant:
    """A dSprites variant as a ground-truth data set: the `DSprites` interface (factors,
    `sample_factors`, `sample_observations_from_factors`, `observations`, `len()`) with
    3-channel observations; `images(indices)` gives them as uint8 (N, 3, 64, 64)."""

    factor_names = FACTOR_NAMES

    def __init__(self, base: DSprites, variant: str):
        if variant not in _STREAMS:
            raise ValueError(f"unknown dSprites variant {variant!r}; choose one of {sorted(_STREAMS)}")
        self.base, self.variant = base, variant
        self.factor_sizes, self.num_factors = base.factor_sizes, base.num_factors

    def __len__(self) -> int:
        return len(self.base)

    def images(self, indices) -> np.ndarray:
        indices = np.atleast_1d(np.asarray(indices, dtype=np.int64))
        sprite = self.base.images(indices)[:, None].astype(bool)  # (N, 1, 64, 64)
        if self.variant == "color":
            colour = 128 + (index_bytes(indices, CHANNELS, _STREAMS["color"]) >> 1)  # 128..255
            return np.where(sprite, colour[:, :, None, None], np.uint8(0)).astype(np.uint8)
        noise = index_bytes(indices, _PIXELS, _STREAMS["noisy"]).reshape(len(indices), CHANNELS, IMAGE_SIZE, IMAGE_SIZE)
        return np.where(sprite, np.uint8(255), noise)

    def observations(self, indices) -> np.ndarray:
        """float32 (N, 3, 64, 64) in [0, 1]: what the encoder sees."""
        return self.images(indices).astype(np.float32) / np.float32(255)

    def sample_factors(self, num: int, rng) -> np.ndarray:
        return self.base.sample_factors(num, rng)

    def factors(self, indices) -> np.ndarray:
        return self.base.factors(indices)

    def grid_indices(self, factors, rng=None) -> np.ndarray:
        return self.base.grid_indices(factors, rng)

    def sample_observations_from_factors(self, factors, rng=None) -> np.ndarray:
        """Observations for given factors; `rng` is not consumed (the colour / noise of a factor
        combination is fixed, see the module doc)."""
        return self.observations(self.grid_indices(factors))


def load_variant_splits(variant: str, data_root=None, subsample: int | None = None) -> Splits:
    if subsample is not None and (isinstance(subsample, bool) or not isinstance(subsample, int) or not 300 <= subsample <= NUM_IMAGES):
        raise DataError(f"{variant}_dsprites: subsample must be an integer in [300, {NUM_IMAGES}] (images of the grid), got {subsample!r}")
    base, checksum, source = ground_truth(data_root)
    ds = DSpritesVariant(base, variant)
    checksum = hashlib.sha256(f"{checksum}-{variant}-v{VERSION}".encode()).hexdigest()
    return grid_splits(f"{variant}_dsprites", ds, checksum, f"{source}; {DEFINITIONS[variant]} (v{VERSION})",
                       subsample, ds.images, channels=CHANNELS)


def load_color_dsprites_splits(data_root=None, subsample: int | None = None) -> Splits:
    return load_variant_splits("color", data_root, subsample)


def load_noisy_dsprites_splits(data_root=None, subsample: int | None = None) -> Splits:
    return load_variant_splits("noisy", data_root, subsample)
