"""k-nearest-neighbour manifold metrics of samples against real data, on any features.

* Precision and recall (Kynkäänniemi et al. 2019, "Improved Precision and Recall Metric for
  Assessing Generative Models", NeurIPS), k = 3: the real manifold is the union of balls around
  each real feature with radius its distance to its k-th nearest real neighbour; precision is the
  fraction of samples inside the real manifold (d <= radius, the paper's inequality), recall the
  fraction of real features inside the samples' manifold (built the same way from the samples).
* Density and coverage (Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics for
  Generative Models", ICML), k = 5, with the real balls only (robust to outlying samples):
  density = 1/(k M) Σ_j Σ_i 1[d(y_j, x_i) < r_i] (about 1 for samples distributed like the data;
  above 1 when samples crowd the data's dense regions, so it is not bounded by 1), coverage =
  the fraction of real features whose ball holds at least one sample (strict <, as the authors'
  code `prdc`).

The k-th neighbour excludes the point itself (the authors' codes take the (k+1)-th smallest
distance, the point's own 0 included). This module is the one home of the k-NN radii and the
chunked distances: every distance matrix is built `CHUNK_ELEMENTS` entries at a time (float64,
64 MiB), so 10,000 × 10,000 features never materialise a full matrix (benchmarks/prdc_memory.py
measures the peak). Written by hand: torch-fidelity has precision/recall but no density/coverage
and computes full matrices; tests/test_sample_quality.py checks against it and against loops
over the formulas above.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

PR_K = 3  # Kynkäänniemi et al.'s recommended k
DC_K = 5  # Naeem et al.'s recommended k
CHUNK_ELEMENTS = 1 << 23  # distance-matrix entries per chunk: 8 Mi float64 = 64 MiB


def _features(a, what: str) -> torch.Tensor:
    t = torch.as_tensor(a).detach().cpu().double()
    if t.ndim != 2 or len(t) < 2:
        raise ValueError(f"{what} must be an (N, d) array with N >= 2, got shape {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise ValueError(f"{what} contains NaN or infinite values")
    return t


def squared_distance_chunks(a: torch.Tensor, b: torch.Tensor, chunk_elements: int = CHUNK_ELEMENTS
                            ) -> Iterator[tuple[slice, torch.Tensor]]:
    """(rows of a, squared Euclidean distances of those rows to every row of b), a block of at
    most `chunk_elements` entries at a time (at least one row); float64, clamped at 0."""
    step = max(1, chunk_elements // max(1, len(b)))
    b2 = (b * b).sum(1)
    for i in range(0, len(a), step):
        rows = slice(i, min(i + step, len(a)))
        x = a[rows]
        d2 = (x * x).sum(1)[:, None] + b2[None, :] - 2.0 * (x @ b.T)
        yield rows, d2.clamp_(min=0.0)


def knn_radii(features, ks=(PR_K, DC_K), chunk_elements: int = CHUNK_ELEMENTS) -> dict[int, torch.Tensor]:
    """k -> (N,) squared distance of every row to its k-th nearest other row, for each k in `ks`."""
    f = _features(features, "features")
    kmax = max(ks)
    if kmax >= len(f):
        raise ValueError(f"k = {kmax} needs more than {kmax} features, got {len(f)}")
    out = {k: torch.empty(len(f), dtype=torch.float64) for k in ks}
    for rows, d2 in squared_distance_chunks(f, f, chunk_elements):
        nearest = d2.topk(kmax + 1, dim=1, largest=False).values  # column 0: the row itself
        for k in ks:
            out[k][rows] = nearest[:, k]
    return out


def manifold_metrics(real, fake, *, k_pr: int = PR_K, k_dc: int = DC_K, real_radii: dict[int, torch.Tensor] | None = None,
                     chunk_elements: int = CHUNK_ELEMENTS) -> dict[str, float]:
    """{"precision", "recall", "density", "coverage"} of the (M, d) samples `fake` against the
    (N, d) `real` features. `real_radii` (`knn_radii(real, (k_pr, k_dc))`), when the caller
    has them for a reference used many times, saves that pass."""
    x, y = _features(real, "real features"), _features(fake, "fake features")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"feature dimensions differ: {x.shape[1]} vs {y.shape[1]}")
    radii = real_radii if real_radii is not None else knn_radii(x, (k_pr, k_dc), chunk_elements)
    r_pr, r_dc = radii[k_pr], radii[k_dc]
    r_fake = knn_radii(y, (k_pr,), chunk_elements)[k_pr]
    in_real = torch.zeros(len(y), dtype=torch.bool)  # sample j inside some real ball (precision)
    recalled = covered = 0
    density_hits = 0
    for rows, d2 in squared_distance_chunks(x, y, chunk_elements):
        in_real |= (d2 <= r_pr[rows, None]).any(0)
        recalled += int((d2 <= r_fake[None, :]).any(1).sum())
        dc = d2 < r_dc[rows, None]
        density_hits += int(dc.sum())
        covered += int(dc.any(1).sum())
    return {
        "precision": float(in_real.double().mean()),
        "recall": recalled / len(x),
        "density": density_hits / (k_dc * len(y)),
        "coverage": covered / len(x),
    }
