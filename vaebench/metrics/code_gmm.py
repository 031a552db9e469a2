"""The ex-post density of a deterministic autoencoder's codes: a Gaussian mixture on the train codes.

Ghosh et al. 2020 (From variational to deterministic autoencoders, ICLR), section 4 "ex-post
density estimation": after training, fit a 10-component full-covariance Gaussian mixture to the
encoded training set and sample codes from it through the decoder. Used twice, with this one fit:
  * the RAE's `sample` (vaebench.models.rae), fitted by its `after_training` hook, and
  * the `fid_samples_gmm` column (vaebench.metrics.fid) of every deterministic model (AE, PCA,
    WAE, RAE), the like-for-like "how good is this decoder with a fitted density" view.

The fit is scikit-learn's `GaussianMixture` (EM, k-means initialisation, its default reg_covar
1e-6 added to every covariance's diagonal) on float64 codes with a fixed `random_state`
(GMM_SEED): a deterministic function of the codes, independent of the run's seed. Sampling uses
a torch generator (the component by `multinomial` on the weights, then mean + L eps with L the
covariance's Cholesky factor), so the caller's seed fixes the draws.
"""

from __future__ import annotations

import numpy as np
import torch

from vaebench.data.base import pixels

GMM_COMPONENTS = 10  # Ghosh et al. 2020, section 4 and their official code (n_components: 10)
GMM_SEED = 0  # the k-means initialisation's random_state: fixed, so the fit is a function of the codes
ENCODE_BATCH = 1000


@torch.no_grad()
def encode_codes(model, x: torch.Tensor, y: torch.Tensor, batch: int = ENCODE_BATCH) -> torch.Tensor:
    """The code means (encode(x)[0]) of a split, float64 on the CPU, `batch` images at a time."""
    dev = torch.device(getattr(model, "device", "cpu"))
    codes = []
    for i in range(0, len(x), batch):
        codes.append(model.encode(pixels(x[i : i + batch]).to(dev), y[i : i + batch].to(dev))[0].double().cpu())
    return torch.cat(codes)


def fit_code_gmm(codes: torch.Tensor, n_components: int = GMM_COMPONENTS, seed: int = GMM_SEED,
                 n_init: int = 1) -> dict[str, torch.Tensor]:
    """{"weights" (K,), "means" (K, d), "covariances" (K, d, d)}: float64 tensors of the fitted mixture.

    `n_init` > 1 keeps the best of that many EM runs; the column uses 1 (benchmarks/gmm_stability.py
    measured that 10 restarts do not make it steadier)."""
    from sklearn.mixture import GaussianMixture

    z = np.asarray(codes.detach().cpu().double().numpy(), dtype=np.float64)
    if z.ndim != 2 or len(z) < n_components:
        raise ValueError(f"a {n_components}-component mixture needs (N >= {n_components}, d) codes, got shape {z.shape}")
    gm = GaussianMixture(n_components, covariance_type="full", random_state=seed, n_init=n_init).fit(z)
    return {
        "weights": torch.from_numpy(gm.weights_.astype(np.float64)),
        "means": torch.from_numpy(gm.means_.astype(np.float64)),
        "covariances": torch.from_numpy(gm.covariances_.astype(np.float64)),
    }


def sample_code_gmm(gmm: dict[str, torch.Tensor], n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """n float64 codes from the mixture (on the generator's device; CPU without one)."""
    dev = generator.device if generator is not None else torch.device("cpu")
    weights, means, cov = (gmm[k].to(device=dev, dtype=torch.float64) for k in ("weights", "means", "covariances"))
    comp = torch.multinomial(weights, n, replacement=True, generator=generator)
    eps = torch.randn(n, means.shape[1], 1, generator=generator, device=dev, dtype=torch.float64)
    chol = torch.linalg.cholesky(cov)
    return means[comp] + (chol[comp] @ eps).squeeze(-1)
