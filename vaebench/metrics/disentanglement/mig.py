"""Mutual Information Gap (MIG).

Chen, Li, Grosse & Duvenaud (2018), "Isolating Sources of Disentanglement in Variational
Autoencoders", NeurIPS, https://arxiv.org/abs/1802.04942 — as implemented in
disentanglement_lib (``evaluation/metrics/mig.py``): every code dim is discretised into 20
equal-width histogram bins; for every factor, the gap between the largest and second largest
mutual information with a code dim, divided by the factor's entropy; averaged over factors.
"""

from __future__ import annotations

import numpy as np

from vaebench.metrics.disentanglement._utils import (
    check_codes_factors,
    discrete_entropy,
    discrete_mutual_info,
    histogram_discretize,
    top_two_gap,
)


def mig(codes, factors, num_bins: int = 20) -> dict:
    """MIG of codes (N, K) against integer factors (N, F).

    Returns ``{"mig": float, "mig_per_factor": [F floats]}``. A factor that is constant in
    the sample has no entropy to normalise by: its entry is NaN and it is left out of the mean
    (disentanglement_lib would divide by zero).
    """
    codes, factors = check_codes_factors(codes, factors)
    mi = discrete_mutual_info(histogram_discretize(codes, num_bins), factors)
    return mig_from_mutual_info(mi, discrete_entropy(factors))


def mig_from_mutual_info(mutual_info: np.ndarray, entropy: np.ndarray) -> dict:
    """MIG from a (K, F) mutual-information matrix and the (F,) factor entropies (nats)."""
    if mutual_info.shape[0] < 2:
        raise ValueError("MIG needs at least two code dims")
    gap = top_two_gap(mutual_info)
    per_factor = np.full(len(entropy), np.nan)
    ok = entropy > 0
    per_factor[ok] = gap[ok] / entropy[ok]
    score = float(np.mean(per_factor[ok])) if ok.any() else float("nan")
    return {"mig": score, "mig_per_factor": [float(v) for v in per_factor]}
