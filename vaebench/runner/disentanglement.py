"""The six disentanglement scores of a trained model, for data sets with ground-truth factors.

The representation is the mean of q(z|x) (the code for AE and PCA), as in disentanglement_lib.
The scores draw their own observations from `splits.ground_truth` (the whole factor grid, not
only the test split, again as disentanglement_lib does), with the run's seed.

Every ground truth here is a finite, noiseless grid (dSprites and its variants, whose colour
and noise are fixed per grid index; Shapes3D, MPI3D, SmallNORB, Cars3D: `data.factor_grid`)
and the representation is deterministic, so a code depends only on the grid index. A factor
that is not observed (SmallNORB's instance) is drawn from the metric's random state when an
observation is sampled, as disentanglement_lib does, and becomes part of that index
(`ground_truth.grid_indices(factors, rng)`). `EncodedGrid` therefore hands the metrics grid
indices as their "observations" and encodes each index at most once: disentanglement_lib's sample sizes draw
about 2.6 million observations (BetaVAE 1.28 M, FactorVAE 0.97 M, the rest 0.33 M) but touch
only about 0.72 million distinct images, and none is rendered or encoded twice. The scores are
identical to encoding every draw (tested).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from vaebench.config import Protocol
from vaebench.data.base import Splits
from vaebench.metrics.catalog import DISENTANGLEMENT_METRICS
from vaebench.metrics.disentanglement import evaluate_all

# disentanglement_lib's sample sizes (scaled by protocol.disentanglement_sample_scale)
NUM_TRAIN, NUM_TEST = 10_000, 5_000
BETA_VAE = {"num_train": 10_000, "num_eval": 5_000}
FACTOR_VAE = {"num_train": 10_000, "num_eval": 5_000, "num_variance_estimate": 10_000}


def representation_fn(model, device, batch_size: int = 1024):
    """numpy observations (N, C, H, W) in [0, 1] -> numpy codes (N, K), the posterior mean."""

    @torch.no_grad()
    def encode(obs: np.ndarray) -> np.ndarray:
        out = []
        for i in range(0, len(obs), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(obs[i : i + batch_size], dtype=np.float32)).to(device)
            out.append(model.encode(x)[0].double().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, model.latent_dim))

    return encode


class EncodedGrid:
    """A noiseless ground-truth data set seen through a deterministic encoder, by grid index.

    `sample_observations_from_factors` returns grid indices instead of images, and
    `representation` maps indices to codes, encoding (and rendering) each index once.
    """

    def __init__(self, dataset, encode, chunk: int = 4096):
        self.dataset, self.encode, self.chunk = dataset, encode, chunk
        self.factor_sizes, self.num_factors = dataset.factor_sizes, dataset.num_factors
        self.codes: np.ndarray | None = None
        self.known = np.zeros(len(dataset), dtype=bool)
        self.draws = 0

    def sample_factors(self, num, rng):
        return self.dataset.sample_factors(num, rng)

    def sample_observations_from_factors(self, factors, rng=None):
        return self.dataset.grid_indices(factors, rng)

    def representation(self, indices) -> np.ndarray:
        indices = np.asarray(indices, dtype=np.int64)
        self.draws += len(indices)
        todo = np.unique(indices[~self.known[indices]])
        for i in range(0, len(todo), self.chunk):
            idx = todo[i : i + self.chunk]
            z = self.encode(self.dataset.observations(idx))
            if self.codes is None:
                self.codes = np.full((len(self.dataset), z.shape[1]), np.nan)
            self.codes[idx] = z
            self.known[idx] = True
        if self.codes is None:  # nothing encoded yet and nothing asked
            return np.zeros((0, 0))
        return self.codes[indices]


def evaluate_disentanglement(model, splits: Splits, protocol: Protocol, seed: int, device) -> tuple[dict[str, float], dict]:
    """(table metrics, protocol record with the other scores under "extra") of the six scores;
    ({}, None) when the data set has no factors."""
    if splits.ground_truth is None:
        return {}, None
    model.eval()
    timings: dict[str, float] = {}
    start = time.perf_counter()
    scale = protocol.disentanglement_sample_scale

    def n(count: int) -> int:
        return max(2, round(count * scale))

    grid = EncodedGrid(splits.ground_truth, representation_fn(model, device))
    scores = evaluate_all(
        grid, grid.representation, random_state=seed,
        num_train=n(NUM_TRAIN), num_test=n(NUM_TEST),
        dci_estimator=protocol.dci_estimator, timings=timings,
        beta_vae={k: n(v) for k, v in BETA_VAE.items()},
        factor_vae={k: n(v) for k, v in FACTOR_VAE.items()},
    )
    record = {
        "random_state": seed,
        "representation": "mean of q(z|x) (AE/PCA: the code)",
        "dci_estimator": protocol.dci_estimator,
        "sample_scale": scale,
        "num_train": n(NUM_TRAIN), "num_test": n(NUM_TEST), "num_bins": 20,
        "beta_vae": {k: n(v) for k, v in BETA_VAE.items()},
        "factor_vae": {k: n(v) for k, v in FACTOR_VAE.items()},
        "observations_drawn": grid.draws,
        "distinct_images_encoded": int(grid.known.sum()),
        "factors": list(splits.ground_truth.factor_names),
        "seconds": {**timings, "total": time.perf_counter() - start},
        "extra": {k: v for k, v in scores.items() if k not in DISENTANGLEMENT_METRICS},
    }
    return {k: v for k, v in scores.items() if k in DISENTANGLEMENT_METRICS}, record
