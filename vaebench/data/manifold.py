"""`manifold`: 28x28 images on a k-dimensional manifold, a data set whose latent dimension is known.

A fixed random generator G (drawn from `seed`) maps z ~ N(0, I_k) to an image; pixel noise is
added and the result clipped to [0, 1]:

- `generator: linear`: x = 0.5 + 0.09 * B z / sqrt(k) + noise, B a 784 x k matrix of smooth
  random images (white noise blurred by a Gaussian of 2 px, each scaled to a largest |pixel| of
  1). The clean images lie on a k-dimensional affine subspace, pixel std at most 0.09 (clipping,
  at 5.5 std or more, is rare), so PCA's answer is k.
- `generator: mlp`: x = sigmoid(G(z)) + noise, G a random tanh MLP k -> 64 -> 64 -> 784 whose last
  layer maps onto the same kind of smooth images: a curved k-dimensional manifold that needs more
  than k linear components.

`noise` is the standard deviation of the Gaussian pixel noise; `n` the number of images; the
split is fixed (10 % validation, 20 % test). The label, so that the probe has a target, is the
first latent coordinate quantised into 10 equally likely bins (deciles of N(0, 1)).
"""

from __future__ import annotations

import hashlib

import numpy as np

from vaebench.data.base import Splits, fixed_split
from vaebench.errors import UserError

SIDE = 28
N_CLASSES = 10
HIDDEN = 64
LINEAR_SCALE = 0.09  # the largest pixel std of the clean linear images, whatever k
GENERATORS = ("linear", "mlp")


def _smooth_images(rng: np.random.Generator, count: int, sigma: float = 2.0, peak: bool = False) -> np.ndarray:
    """count smooth random 28x28 images (white noise blurred by a Gaussian), each scaled to unit
    RMS (or, with `peak`, to a largest |pixel| of 1): (count, 784)."""
    r = np.arange(-6, 7)
    g = np.exp(-0.5 * (r / sigma) ** 2)
    g /= g.sum()
    noise = rng.standard_normal((count, SIDE + 12, SIDE + 12))
    rows = np.apply_along_axis(lambda v: np.convolve(v, g, mode="valid"), 2, noise)  # (count, 40, 28)
    img = np.apply_along_axis(lambda v: np.convolve(v, g, mode="valid"), 1, rows)  # (count, 28, 28)
    img = img.reshape(count, -1)
    scale = np.abs(img).max(axis=1, keepdims=True) if peak else np.sqrt((img**2).mean(axis=1, keepdims=True))
    return img / scale


def generate(k: int, generator: str, noise: float, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images (n, 784) float32 in [0, 1], latents (n, k), labels (n,)): a pure function of its arguments."""
    if generator not in GENERATORS:
        raise UserError(f"dataset 'manifold': generator must be one of {', '.join(GENERATORS)}, got {generator!r}")
    if k < 1 or n < 100 or noise < 0:
        raise UserError(f"dataset 'manifold': needs k >= 1, n >= 100 and noise >= 0 (got k={k}, n={n}, noise={noise})")
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, k))
    if generator == "linear":
        basis = _smooth_images(rng, k, peak=True)  # (k, 784)
        clean = 0.5 + LINEAR_SCALE * z @ basis / np.sqrt(k)
    else:
        w1 = rng.standard_normal((k, HIDDEN)) * 1.5 / np.sqrt(k)
        w2 = rng.standard_normal((HIDDEN, HIDDEN)) * 1.5 / np.sqrt(HIDDEN)
        w3 = _smooth_images(rng, HIDDEN) * 2.0 / np.sqrt(HIDDEN)
        b1, b2 = rng.standard_normal(HIDDEN) * 0.5, rng.standard_normal(HIDDEN) * 0.5
        clean = 1.0 / (1.0 + np.exp(-(np.tanh(np.tanh(z @ w1 + b1) @ w2 + b2) @ w3)))
    x = np.clip(clean + noise * rng.standard_normal(clean.shape), 0.0, 1.0).astype(np.float32)
    from scipy.special import ndtr

    labels = np.minimum((ndtr(z[:, 0]) * N_CLASSES).astype(np.int64), N_CLASSES - 1)
    return x, z, labels


def load_manifold_splits(data_root=None, *, k: int, generator: str, noise: float, n: int, seed: int) -> Splits:
    import torch

    x, _, labels = generate(k, generator, noise, n, seed)
    checksum = hashlib.sha256(x.tobytes() + labels.tobytes()).hexdigest()
    xt = torch.from_numpy(x).reshape(n, 1, SIDE, SIDE)
    yt = torch.from_numpy(labels)
    train, val, test = fixed_split(n, n // 10, n // 5)
    return Splits(
        name="manifold",
        train_x=xt[train], train_y=yt[train],
        val_x=xt[val], val_y=yt[val],
        test_x=xt[test], test_y=yt[test],
        num_classes=N_CLASSES,
        checksum=checksum,
        source=f"vaebench.data.manifold (k={k}, generator={generator}, noise={noise:g}, n={n}, seed={seed})",
    )
