"""Kernel Inception Distance (Bińkowski et al. 2018, "Demystifying MMD GANs", ICLR), on any features.

KID is the unbiased estimate of the squared maximum mean discrepancy between two feature sets
under the cubic polynomial kernel k(x, y) = (x·y / d + 1)^3 (d the feature dimension):

    MMD²_u = 1/(m(m-1)) Σ_{i≠j} k(x_i, x_j) + 1/(m(m-1)) Σ_{i≠j} k(y_i, y_j) - 2/m² Σ_{i,j} k(x_i, y_j)

averaged over `subsets` random subsets of m = `subset_size` rows of each set (the paper's and
torch-fidelity's protocol: 100 subsets of 1,000). Unlike FID it is unbiased in the sample count,
so two sample sizes give comparable numbers, and it can be negative (a value near 0 or below is
"no difference measurable"). The subsets are drawn from a local `torch.Generator` seeded by the
caller, never the global RNG (torchmetrics' `KernelInceptionDistance.compute()` draws with
`torch.randperm` on the global generator), so a seed fixes the value and nothing else moves.

Written here rather than taken from torchmetrics for that reason and because the features are
already computed (vaebench.metrics.fid extracts them once for FID, KID and precision/recall);
tests/test_sample_quality.py checks it against torch-fidelity's `kid_features_to_metric` and a
loop over the formula above.
"""

from __future__ import annotations

import torch

KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000


def polynomial_kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(x·y / d + 1)^3 for all pairs of rows, float64."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x: torch.Tensor, y: torch.Tensor) -> float:
    """The unbiased MMD² estimate between two equal-sized (m, d) sets under `polynomial_kernel`."""
    m = len(x)
    if m < 2 or len(y) != m:
        raise ValueError(f"mmd2_unbiased needs two sets of the same size >= 2, got {len(x)} and {len(y)}")
    kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    within = (kxx.sum() - kxx.diagonal().sum() + kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    return float(within - 2.0 * kxy.sum() / (m * m))


def subset_size_for(n_real: int, n_fake: int, subset_size: int = KID_SUBSET_SIZE) -> int:
    """The subset size used: `subset_size`, or the smaller set's size when that is smaller (digits:
    360 test images)."""
    return min(int(subset_size), int(n_real), int(n_fake))


def kernel_inception_distance(real, fake, *, seed: int, subsets: int = KID_SUBSETS,
                              subset_size: int = KID_SUBSET_SIZE) -> tuple[float, float]:
    """(mean, sample std with ddof 1) of `mmd2_unbiased` over `subsets` subsets of the two (N, d)
    feature sets (numpy or torch), each drawn without replacement from a torch.Generator seeded
    with `seed`; the subset size is `subset_size_for(...)`. float64 throughout. When that size is
    both sets' size (e.g. 360 digits test images and samples), every subset holds all rows: the
    one value, std 0."""
    x = torch.as_tensor(real).detach().cpu().double()
    y = torch.as_tensor(fake).detach().cpu().double()
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"KID needs two (N, d) feature arrays of one d, got {tuple(x.shape)} and {tuple(y.shape)}")
    if subsets < 1:
        raise ValueError(f"subsets must be >= 1, got {subsets}")
    m = subset_size_for(len(x), len(y), subset_size)
    if m == len(x) == len(y):  # every subset is a permutation of both sets, and the estimate ignores order
        return mmd2_unbiased(x, y), 0.0
    gen = torch.Generator().manual_seed(int(seed))
    values = torch.empty(subsets, dtype=torch.float64)
    for s in range(subsets):
        ix = torch.randperm(len(x), generator=gen)[:m]
        iy = torch.randperm(len(y), generator=gen)[:m]
        values[s] = mmd2_unbiased(x[ix], y[iy])
    std = float(values.std(unbiased=True)) if subsets > 1 else 0.0
    return float(values.mean()), std
