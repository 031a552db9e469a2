"""Bits per dimension: one likelihood scale for every model with a density (docs/likelihood.md).

The test images are quantised: a pixel is one of L levels q = 0 .. L - 1 (L = 256 for 8-bit
data stored as uint8; L = 17 for digits' 0..16). A density p on [0, 1]^D defines a discrete
model P(q) = integral of p over the bin [q / L, (q + 1) / L)^D, and with uniform dequantization
x = (q + u) / L, u ~ U[0, 1)^D, Jensen's inequality gives
    log P(q) >= E_u log p((q + u) / L) - D log L,
so   bpd = -(E_u log p((q + u) / L) - D log L) / (D log 2)
is an upper bound on the model's code length of the discrete test images, in bits per pixel
(Theis, van den Oord & Bethge 2016). Models with such a density also train on uniformly
dequantized images (`training_levels`), as in that paper: the likelihood of a density at the
grid points of quantised data is unbounded. For VAE/CVAE log p is the k-sample IWAE bound (so bpd is
again an upper bound), with ONE dequantization draw per test image, keyed by the image
(`dequantize`); the test-set mean averages the draws. For PPCA the expectation over u is exact
(`ppca_expected_log_density`): no draws.

Digits' bpd is per digits level (17 levels, log2 17 = 4.09 bits is the uniform model's), not
comparable with an 8-bit data set's.
"""

from __future__ import annotations

import math

import torch

from vaebench.metrics.noise import image_normals

MAX_LEVELS = 256
UNIFORM_SEED_OFFSET = 104_729  # the dequantization noise's own stream, apart from the posterior noise


def quantization_levels(stored: torch.Tensor) -> int | None:
    """L, the number of intensity levels of stored images: 256 for uint8; for float images in
    [0, 1] the smallest L <= 256 with every value a multiple of 1 / (L - 1) (digits: 17); None
    for continuous data (no bpd)."""
    if stored.dtype == torch.uint8:
        return 256
    x = stored.double()
    if x.numel() == 0 or float(x.min()) < 0 or float(x.max()) > 1:
        return None
    for steps in range(1, MAX_LEVELS):
        if bool(((x * steps) - (x * steps).round()).abs().max() < 1e-4):
            return steps + 1
    return None


DENSITY_LIKELIHOODS = ("gaussian", "continuous_bernoulli")  # densities on [0, 1]^D: trained and scored dequantized


def training_levels(model, train_x: torch.Tensor) -> int | None:
    """L for a model whose likelihood is a density on [0, 1]^D and quantised training images,
    else None: such a model trains (and validates) on (q + u) / L with fresh uniform u every
    batch. On the quantised images themselves a density's likelihood is unbounded (the
    continuous Bernoulli's density at x = 0 grows like |logit|, so exact zero backgrounds pull
    the logits to -inf), and the test bounds are on dequantized images (runner.evaluate)."""
    if getattr(model, "likelihood", None) not in DENSITY_LIKELIHOODS:
        return None
    return quantization_levels(train_x)


def dequantize(x: torch.Tensor, levels: int, seed: int, index: torch.Tensor) -> torch.Tensor:
    """(q + u) / L for images x = q / (L - 1) in [0, 1], with u ~ U(0, 1)^D keyed by (seed, image
    index): u = Phi(eps) for the image's keyed standard normals eps (vaebench.metrics.noise), so
    an image's draw does not depend on the batch it is in. Same shape and dtype as x."""
    q = (x.double() * (levels - 1)).round()
    eps = image_normals(seed + UNIFORM_SEED_OFFSET, index, 1, x[0].numel(), torch.float64)[0]
    u = 0.5 * torch.erfc(-eps / math.sqrt(2.0))  # the standard normal CDF: exactly U(0, 1)
    return ((q + u.view_as(q).to(q.device)) / levels).to(x.dtype)


def bits_per_dim(log_density: torch.Tensor, dim: int, levels: int) -> torch.Tensor:
    """-(log p((q + u) / L) - D log L) / (D log 2), per image, from log-densities in nats/image."""
    return -(log_density.double() - dim * math.log(levels)) / (dim * math.log(2.0))


def ppca_expected_log_density(model, x: torch.Tensor, levels: int) -> torch.Tensor:
    """E_u log N((q + u) / L; m, C) per image, exactly, for a fitted PCAModel (C = W W^T + sigma^2 I).

    With v = (q + u) / L = c + (u - 1/2) / L, c = (q + 1/2) / L the bin centre, and Cov u = I / 12:
        E_u log N(v; m, C) = log N(c; m, C) - tr(C^-1) / (24 L^2),
    tr(C^-1) = sum_i 1 / lambda_i + (D - d) / sigma^2 (the linear term in u - 1/2 has mean 0).
    """
    q = (x.double() * (levels - 1)).round()
    centre = (q + 0.5) / levels
    dim = centre[0].numel()
    trace = float((1.0 / model.eigenvalues).sum()) + (dim - model.latent_dim) / model.noise_variance
    return model.log_likelihood_bound(centre) - trace / (24.0 * levels**2)
