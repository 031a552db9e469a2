"""PCA baseline, read as probabilistic PCA (Tipping & Bishop 1999).

Codes are the projections onto the top-d principal axes; reconstructions are the usual linear
ones. As a generative model it is PPCA with the maximum-likelihood parameters
    sigma^2 = mean of the discarded eigenvalues,   W = U_d (Lambda_d - sigma^2 I)^(1/2),
so samples are x = mean + W z + sigma * eps and `log_likelihood_bound` is the exact Gaussian
log-likelihood log N(x; mean, W W^T + sigma^2 I) (nats/image, a density over continuous
pixels: not comparable with a Bernoulli ELBO).

The eigenvalues are those of the maximum-likelihood covariance (1/N), so the fitted parameters
are PPCA's exact ML solution. The covariance is accumulated in float64 over chunks of the train
split (two passes: mean, then centred cross-products), so data sets far larger than memory in
float64 (dSprites: 717,280 x 4,096) fit as easily as small ones; the eigendecomposition is
of the D x D covariance, and each axis' sign is fixed as scikit-learn's `svd_flip` fixes it
(largest-magnitude loading positive).
"""

from __future__ import annotations

import numpy as np
import torch

from vaebench.data.base import pixels
from vaebench.errors import UserError

CHUNK = 16_384


RANK_RTOL_PER_DIM = float(np.finfo(np.float64).eps)  # eigenvalue tolerance: lambda_max * D * float64 eps


def train_covariance(train_x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and maximum-likelihood (1/N) covariance, float64, accumulated over chunks (two passes)."""
    n, dim = len(train_x), int(np.prod(train_x.shape[1:]))

    def chunks():
        for i in range(0, n, CHUNK):
            yield pixels(train_x[i : i + CHUNK]).reshape(-1, dim).double().cpu()

    mean = sum(c.sum(0) for c in chunks()) / n
    cov = torch.zeros(dim, dim, dtype=torch.float64)
    for c in chunks():
        c -= mean
        cov.addmm_(c.T, c)
    return mean, cov / n


def numerical_rank(evals: torch.Tensor) -> int:
    """Eigenvalues of a D x D covariance above lambda_max * D * float64 eps (numpy.linalg.matrix_rank's
    tolerance, on eigenvalues): the round-off of an eigenvalue computed in float64 is about that large."""
    tol = float(evals.max()) * len(evals) * RANK_RTOL_PER_DIM
    return int((evals > tol).sum())


def check_latent_dim(latent_dim: int, rank: int, where: str = "the train split") -> None:
    """UserError unless latent_dim < rank: PPCA's sigma^2 is the mean of the discarded eigenvalues,
    which are 0 (round-off) when the code keeps every direction the data has."""
    if latent_dim >= rank:
        raise UserError(
            f"pca: latent dim {latent_dim} is at or above the rank {rank} of the covariance of {where} "
            f"(eigenvalues above lambda_max * D * {RANK_RTOL_PER_DIM:.1e}); probabilistic PCA's noise variance "
            f"would be ~0 and ppca_ll meaningless: use latent dims below {rank} for pca"
        )


def data_rank(train_x: torch.Tensor) -> int:
    """The numerical rank of the train split's covariance (one covariance pass and an eigvalsh)."""
    return numerical_rank(torch.linalg.eigvalsh(train_covariance(train_x)[1]))


class PCAModel:
    likelihood = "gaussian"
    conditional = False

    def __init__(self, image_shape, latent_dim: int, **_):
        self.image_shape = tuple(image_shape)
        self.latent_dim = latent_dim
        self.device = torch.device("cpu")
        self.components: torch.Tensor | None = None

    def fit(self, train_x: torch.Tensor) -> PCAModel:
        n, dim = len(train_x), int(np.prod(train_x.shape[1:]))
        if self.latent_dim >= min(n, dim):
            raise ValueError(f"PCA latent dim {self.latent_dim} must be < min(n, D) = {min(n, dim)}")
        mean, cov = train_covariance(train_x)
        evals, evecs = torch.linalg.eigh(cov)  # ascending; ML covariance (1/N)
        check_latent_dim(self.latent_dim, numerical_rank(evals))
        evals = evals.flip(0).clamp(min=0.0)
        comps = evecs.flip(1)[:, : self.latent_dim].T.contiguous()  # (d, D), orthonormal rows U_d^T
        signs = torch.sign(comps.gather(1, comps.abs().argmax(1, keepdim=True)))
        self.mean = mean
        self.components = comps * signs
        self.eigenvalues = evals[: self.latent_dim].clone()  # Lambda_d
        self.noise_variance = float(evals[self.latent_dim :].mean())  # sigma^2
        scale = torch.sqrt(torch.clamp(self.eigenvalues - self.noise_variance, min=0.0))
        self.W = self.components.T * scale  # (D, d)
        return self

    def to(self, device):
        return self  # fitted on CPU in float64; inputs are moved here

    def eval(self):
        return self

    def _flat(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(len(x), -1).double().cpu()

    def encode(self, x, y=None):
        return (self._flat(x) - self.mean) @ self.components.T, None

    def decode(self, z, y=None):
        x = z.double().cpu() @ self.components + self.mean
        return x.view(-1, *self.image_shape).float()

    def sample(self, n: int, y=None, generator=None):
        z = torch.randn(n, self.latent_dim, generator=generator, dtype=torch.float64)
        eps = torch.randn(n, self.mean.numel(), generator=generator, dtype=torch.float64)
        x = self.mean + z @ self.W.T + np.sqrt(self.noise_variance) * eps
        return x.view(-1, *self.image_shape).float()

    def log_likelihood_bound(self, x, y=None, k: int = 1, generator=None):
        """Exact PPCA log-likelihood per image (k is ignored: nothing to bound).

        With C = W W^T + sigma^2 I = U_d Lambda_d U_d^T + sigma^2 (I - U_d U_d^T):
        log|C| = sum log lambda_i + (D - d) log sigma^2 and
        r^T C^-1 r = sum (u_i . r)^2 / lambda_i + (|r|^2 - sum (u_i . r)^2) / sigma^2.
        """
        r = self._flat(x) - self.mean
        proj = r @ self.components.T
        dim = r.shape[1]
        logdet = torch.log(self.eigenvalues).sum() + (dim - self.latent_dim) * np.log(self.noise_variance)
        maha = (proj.pow(2) / self.eigenvalues).sum(1) + (r.pow(2).sum(1) - proj.pow(2).sum(1)) / self.noise_variance
        return -0.5 * (dim * np.log(2 * np.pi) + logdet + maha)
