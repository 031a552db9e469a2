"""Procedural dSprites: the factor grid of Matthey et al. (2017), rendered with numpy.

The official dSprites release (``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz``,
https://github.com/deepmind/dsprites-dataset) holds 737,280 binary 64x64 images, one for
every combination of

    shape        3 values   square, ellipse, heart
    scale        6 values   evenly in [0.5, 1]
    orientation 40 values   evenly in [0, 2*pi)
    pos_x       32 values   evenly in [0, 1]
    pos_y       32 values   evenly in [0, 1]

stored with ``pos_y`` varying fastest and ``shape`` slowest. This module re-creates that grid
without the file, so the disentanglement scores can run anywhere; when the official file is
at hand, :meth:`DSprites.from_npz` loads it behind the same interface. The differences between
the two are listed in ``docs/disentanglement.md``; in short:

* the official file has a leading constant ``color`` factor (1 value); it is dropped here;
* the sprites' exact outlines, sizes and anti-aliasing differ (ours: implicit inside-tests
  on a 5x5 supersampled pixel grid, a pixel is on when at least 13 of its 25 samples are);
* ``orientation`` is ``2*pi*k/40`` here (no duplicate of 0 at 2*pi);
* a position step moves the sprite by exactly one pixel; the centre runs over pixel
  coordinates 16.5 .. 47.5 (``16.5 + 31 * pos``), rows downwards for ``pos_y``.

Rendering is vectorised and cheap: the 720 (shape, scale, orientation) sprites are drawn once
into 33x33 patches (``_sprite_bank``, cached), and an image is a 64x64 window cut from that
patch padded with zeros, offset by the two position indices. Images are rendered on demand by
index, so the full data set never has to sit in memory.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from vaebench.data.factor_grid import Grid, integers

FACTOR_NAMES: tuple[str, ...] = ("shape", "scale", "orientation", "pos_x", "pos_y")
FACTOR_SIZES: tuple[int, ...] = (3, 6, 40, 32, 32)
SHAPE_NAMES: tuple[str, ...] = ("square", "ellipse", "heart")
NUM_IMAGES = int(np.prod(FACTOR_SIZES))  # 737,280
IMAGE_SIZE = 64
OFFICIAL_FILENAME = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"

#: Factor values (for plots and documentation; the metrics use the integer indices).
SCALES = np.linspace(0.5, 1.0, FACTOR_SIZES[1])
ORIENTATIONS = 2 * np.pi * np.arange(FACTOR_SIZES[2]) / FACTOR_SIZES[2]
POSITIONS = np.linspace(0.0, 1.0, FACTOR_SIZES[3])

# Geometry, in pixels at scale 1. Chosen so the three shapes have similar areas
# (about 400, 310 and 400 px^2) and the largest sprite, at any orientation, reaches at most
# 14.2 px from its centre: with centres in 16.5 .. 47.5 it never touches the frame border.
_SQUARE_HALF_SIDE = 10.0
_ELLIPSE_SEMI_AXES = (14.0, 7.0)  # along x and y of the sprite's own frame
_HEART_UNIT = 10.5  # the heart curve (x^2 + y^2 - 1)^3 = x^2 y^3 is about 2.3 units across
_HEART_CENTROID_Y = 0.2935  # centroid of that curve's interior, so the heart turns about it
_SUPERSAMPLE = 5  # 5x5 samples per pixel; a pixel is on if at least 13 are inside
_PATCH = 33  # patch side; the sprite centre sits on the centre of pixel 16
_CENTRE0 = 16.5  # pixel coordinate of the centre at position index 0

_GRID = Grid(FACTOR_SIZES)


def index_to_factors(idx) -> np.ndarray:
    """Flat image indices (official order) -> integer factor indices, shape (N, 5)."""
    return _GRID.index_to_factors(idx)


def factors_to_index(factors) -> np.ndarray:
    """Integer factor indices, shape (N, 5) -> flat image indices (official order)."""
    return _GRID.factors_to_index(factors)


def _inside(shape: int, x: np.ndarray, y: np.ndarray, scale: float) -> np.ndarray:
    """Inside-test of one shape in its own frame (pixels, y up), at the given scale."""
    if shape == 0:
        h = _SQUARE_HALF_SIDE * scale
        return (np.abs(x) <= h) & (np.abs(y) <= h)
    if shape == 1:
        a, b = (s * scale for s in _ELLIPSE_SEMI_AXES)
        return (x / a) ** 2 + (y / b) ** 2 <= 1.0
    u = x / (_HEART_UNIT * scale)
    v = y / (_HEART_UNIT * scale) + _HEART_CENTROID_Y
    r = u * u + v * v - 1.0
    return r * r * r - u * u * v * v * v <= 0.0


@functools.lru_cache(maxsize=1)
def _sprite_bank() -> np.ndarray:
    """All 720 (shape, scale, orientation) sprites, centred in (720, 33, 33) uint8 patches."""
    s = _SUPERSAMPLE
    sub = (np.arange(s) + 0.5) / s - 0.5  # sample offsets inside a pixel, symmetric about 0
    grid = (np.arange(_PATCH) - _PATCH // 2)[:, None] + sub[None, :]  # (33, s) pixel offsets
    dy = grid.reshape(-1)[:, None]  # rows, screen coordinates (down)
    dx = grid.reshape(-1)[None, :]  # columns
    x, y_up = dx, -dy
    n_sh, n_sc, n_or = FACTOR_SIZES[:3]
    bank = np.empty((n_sh, n_sc, n_or, _PATCH, _PATCH), dtype=np.uint8)
    for k, theta in enumerate(ORIENTATIONS):
        c, si = np.cos(theta), np.sin(theta)
        # Inverse rotation: the sprite turns counter-clockwise on screen as theta grows.
        xl = c * x + si * y_up
        yl = -si * x + c * y_up
        for shape in range(n_sh):
            for j, scale in enumerate(SCALES):
                hits = _inside(shape, xl, yl, scale).reshape(_PATCH, s, _PATCH, s)
                bank[shape, j, k] = hits.sum(axis=(1, 3)) * 2 > s * s
    bank = bank.reshape(-1, _PATCH, _PATCH)
    bank.setflags(write=False)
    return bank


@functools.lru_cache(maxsize=1)
def _windows() -> np.ndarray:
    """Read-only view (720, 32, 32, 64, 64): window [b, 31 - iy, 31 - ix] is the image."""
    bank = _sprite_bank()
    n = FACTOR_SIZES[3]  # 32 positions per axis
    pad = n - 1
    canvas = np.zeros((len(bank), IMAGE_SIZE + pad, IMAGE_SIZE + pad), dtype=np.uint8)
    canvas[:, pad : pad + _PATCH, pad : pad + _PATCH] = bank
    return np.lib.stride_tricks.sliding_window_view(canvas, (IMAGE_SIZE, IMAGE_SIZE), axis=(1, 2))


def render(factor_indices) -> np.ndarray:
    """Render sprites for integer factor indices (N, 5) -> (N, 64, 64) uint8 in {0, 1}.

    Columns are (shape, scale, orientation, pos_x, pos_y) indices, as in ``FACTOR_SIZES``.
    Deterministic: the same indices give the same pixels on every machine.
    """
    f = _GRID.check(factor_indices)
    base = (f[:, 0] * FACTOR_SIZES[1] + f[:, 1]) * FACTOR_SIZES[2] + f[:, 2]
    last = FACTOR_SIZES[3] - 1
    return _windows()[base, last - f[:, 4], last - f[:, 3]]


class DSprites:
    """dSprites as a ground-truth data set: factors, and observations drawn for given factors.

    ``DSprites()`` renders procedurally; ``DSprites.from_npz(path)`` serves the official images.
    Both expose the interface the BetaVAE and FactorVAE scores need (``factor_sizes``,
    ``num_factors``, ``sample_factors``, ``sample_observations_from_factors``) plus
    ``images(indices)``, ``len()`` and ``ds[i] -> (image (1, 64, 64) float32, factors (5,))``.
    Indices are always positions in the official grid order (see ``index_to_factors``).
    """

    factor_names = FACTOR_NAMES

    def __init__(self, images: np.ndarray | None = None, rows: np.ndarray | None = None):
        self._images = images  # None: render; else uint8 (M, 64, 64) images from a file
        self._rows = rows  # grid index -> row in images (-1 where missing), or None
        self.source = "procedural" if images is None else "npz"

    @property
    def factor_sizes(self) -> np.ndarray:
        return np.asarray(FACTOR_SIZES, dtype=np.int64)

    @property
    def num_factors(self) -> int:
        return len(FACTOR_SIZES)

    def __len__(self) -> int:
        return NUM_IMAGES if self._images is None else len(self._images)

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        img = self.images(np.array([i]))[0].astype(np.float32)[None]
        return img, index_to_factors(i)[0]

    def images(self, indices) -> np.ndarray:
        """Images at official-grid indices -> (N, 64, 64) uint8 in {0, 1}."""
        indices = np.atleast_1d(np.asarray(indices, dtype=np.int64))
        f = index_to_factors(indices)
        if self._images is None:
            return render(f)
        rows = indices if self._rows is None else self._rows[indices]
        if np.any(rows < 0):
            raise KeyError("some requested factor combinations are not in the loaded file")
        return self._images[rows]

    def observations(self, indices) -> np.ndarray:
        """Images at official-grid indices as the encoder sees them: float32 (N, 1, 64, 64) in {0, 1}."""
        return self.images(indices).astype(np.float32)[:, None]

    def sample_factors(self, num: int, rng) -> np.ndarray:
        """Uniform factor indices (num, 5); one ``randint`` per factor, as disentanglement_lib."""
        out = np.empty((num, len(FACTOR_SIZES)), dtype=np.int64)
        for j, s in enumerate(FACTOR_SIZES):
            out[:, j] = integers(rng, s, num)
        return out

    def factors(self, indices) -> np.ndarray:
        """Factor indices (N, 5) of official-grid indices (every dSprites factor is observed)."""
        return index_to_factors(indices)

    def grid_indices(self, factors, rng=None) -> np.ndarray:
        """Grid indices of factors (N, 5); every factor is observed, so `rng` is not used."""
        return factors_to_index(factors)

    def sample_observations_from_factors(self, factors, rng=None) -> np.ndarray:
        """Observations for given factors -> float32 (N, 1, 64, 64) in {0, 1}.

        dSprites is noiseless, so ``rng`` is not used (it is accepted, and not consumed, to keep
        the random stream identical to disentanglement_lib's).
        """
        return self.observations(factors_to_index(factors))

    @classmethod
    def from_npz(cls, path, strict: bool = True) -> DSprites:
        """Load the official ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz``.

        Reads ``imgs`` (737280, 64, 64) uint8 and ``latents_classes`` (737280, 6); the constant
        ``color`` column is dropped. Rows may come in any order: they are located by their
        factors. ``strict=False`` accepts a file holding only part of the grid (asking for a
        missing combination then raises ``KeyError``).
        """
        path = Path(path)
        with np.load(path, allow_pickle=False) as data:
            imgs = np.asarray(data["imgs"], dtype=np.uint8)
            latents = np.asarray(data["latents_classes"], dtype=np.int64)
        return cls.from_arrays(imgs, latents, strict=strict)

    @classmethod
    def from_arrays(cls, imgs: np.ndarray, latents_classes: np.ndarray, strict=True) -> DSprites:
        """Build from official-layout arrays (see :meth:`from_npz`)."""
        if imgs.ndim != 3 or imgs.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
            raise ValueError(f"imgs must be (N, 64, 64), got {imgs.shape}")
        if latents_classes.shape != (len(imgs), 6):
            raise ValueError(f"latents_classes must be (N, 6), got {latents_classes.shape}")
        if np.any(latents_classes[:, 0] != 0):
            raise ValueError("the color factor should be constant (one value)")
        if imgs.size and imgs.max() > 1:
            raise ValueError("dSprites images are binary (0/1)")
        idx = factors_to_index(latents_classes[:, 1:])
        if len(np.unique(idx)) != len(idx):
            raise ValueError("latents_classes holds duplicate factor combinations")
        if strict and len(idx) != NUM_IMAGES:
            raise ValueError(
                f"the file holds {len(idx)} images, not the complete grid of {NUM_IMAGES}"
            )
        if len(idx) == NUM_IMAGES and np.array_equal(idx, np.arange(NUM_IMAGES)):
            return cls(imgs, None)
        rows = np.full(NUM_IMAGES, -1, dtype=np.int64)
        rows[idx] = np.arange(len(idx))
        return cls(imgs, rows)
