"""Evaluation noise keyed by image: a counter-based stream per (seed, test-image index).

A stochastic metric (the ELBO's Monte-Carlo reconstruction term, the IWAE bound) must not
depend on how the test set is cut into batches or dealt to DDP ranks. A generator seeded per
batch gives every image noise that depends on its batch; here every number is instead a pure
function of (seed, image index, sample, latent dim) (a k-sample draw is the first k samples of a
larger one; a d-dim draw the first d dims):

    key(seed, j)            = mix(mix(seed) + j)
    bits(seed, j, s, p, b)  = mix(key(seed, j) ^ mix(s * 2^32 + 2 p + b))      b in {0, 1}
    eps[s, j, 2p], eps[s, j, 2p + 1] = Box-Muller(uniform(bits b=0), uniform(bits b=1))  (r cos, r sin)

where `mix` is the splitmix64 finaliser (Steele, Lea & Flood 2014; the 64-bit integer arithmetic
wraps, so it is exact and identical on every device) and a uniform is (top 53 bits + 0.5) / 2^53,
in (0, 1) strictly. Box-Muller is evaluated in float64. The noise of one image is the same in any
batch, at any batch size, on any rank. Written by hand because torch's generators are sequential
streams (Philox on CUDA has no per-element key in the public API).
"""

from __future__ import annotations

import math

import torch

_MASK53 = 2.0**-53


def _i64(c: int) -> int:
    return c - (1 << 64) if c >= 1 << 63 else c


_GOLDEN, _M1, _M2 = _i64(0x9E3779B97F4A7C15), _i64(0xBF58476D1CE4E5B9), _i64(0x94D049BB133111EB)


def _srl(x: torch.Tensor, s: int) -> torch.Tensor:
    """Logical right shift of int64 (torch's >> is arithmetic)."""
    return (x >> s) & ((1 << (64 - s)) - 1)


def mix(x: torch.Tensor) -> torch.Tensor:
    """splitmix64: x + golden ratio, then the finaliser; int64 in, int64 out (wrapping)."""
    x = x + _GOLDEN
    x = (x ^ _srl(x, 30)) * _M1
    x = (x ^ _srl(x, 27)) * _M2
    return x ^ _srl(x, 31)


def image_keys(seed: int, index: torch.Tensor) -> torch.Tensor:
    """One 64-bit key per image: mix(mix(seed) + index), int64 of index's shape and device."""
    s = mix(torch.tensor(_i64(seed % (1 << 64)), dtype=torch.int64))
    return mix(index.to(torch.int64) + s.to(index.device))


def image_normals(seed: int, index: torch.Tensor, k: int, dim: int, dtype=torch.float32) -> torch.Tensor:
    """Standard normals of shape (k, len(index), dim): sample s of image index[j] in row [s, j].

    Image j's numbers depend only on (seed, index[j], s, i), never on the other images in the
    call, so any batching of the test set gives every image the same noise.
    """
    if k >= 1 << 31 or dim >= 1 << 30:
        raise ValueError(f"image_normals: k ({k}) and dim ({dim}) must be < 2^31 and 2^30")
    dev = index.device
    pairs = (dim + 1) // 2  # Box-Muller gives two normals per pair of uniforms: dims 2p and 2p + 1
    s = torch.arange(k, device=dev, dtype=torch.int64)[:, None, None]
    p = torch.arange(pairs, device=dev, dtype=torch.int64)[None, :, None]
    b = torch.arange(2, device=dev, dtype=torch.int64)[None, None, :]
    counter = mix((s << 32) + 2 * p + b)  # (k, pairs, 2)
    bits = mix(image_keys(seed, index)[None, :, None, None] ^ counter[:, None])  # (k, N, pairs, 2)
    u = (_srl(bits, 11).double() + 0.5) * _MASK53
    r, theta = torch.sqrt(-2.0 * torch.log(u[..., 0])), 2.0 * math.pi * u[..., 1]
    z = torch.stack([r * torch.cos(theta), r * torch.sin(theta)], dim=-1).flatten(-2)[..., :dim]
    return z.to(dtype)


def image_generator(seed: int, index: int, device="cpu") -> torch.Generator:
    """A torch.Generator for one image (for plug-ins that draw their own noise), seeded by its key."""
    key = int(image_keys(seed, torch.tensor([index]))[0]) & ((1 << 63) - 1)
    return torch.Generator(device=device).manual_seed(key)
