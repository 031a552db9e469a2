"""Statistics of the codes."""

from __future__ import annotations

import torch

AU_THRESHOLD = 0.01


def active_units(code_means: torch.Tensor, threshold: float = AU_THRESHOLD) -> int:
    """Burda et al. 2016: dimension i is active when Cov_x(E_q[z_i | x]) > threshold.

    `code_means` is (N, d): the posterior means (VAE/CVAE) or the codes (AE, PCA). For
    deterministic codes the criterion depends on the code's scale, which an AE does not fix.
    """
    return int((code_means.double().var(dim=0, unbiased=True) > threshold).sum())
