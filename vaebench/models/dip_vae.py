"""DIP-VAE-I and DIP-VAE-II: Kumar, Sattigeri & Balakrishnan (2018), "Variational inference of
disentangled latent concepts from unlabeled observations" (ICLR), Eqs. 6 and 7.

Both add to the negative ELBO a penalty that drives a covariance matrix of the codes towards
the identity:

    loss = mean(rec_nll) + mean(kl) + lambda_od * sum_{i != j} Cov_ij^2 + lambda_d * sum_i (Cov_ii - 1)^2

  DIP-VAE-I  (`dip_vae_i`):  Cov = Cov_batch[mu(x)], the covariance of the encoder means;
  DIP-VAE-II (`dip_vae_ii`): Cov = E_batch[diag sigma^2(x)] + Cov_batch[mu(x)], the covariance of
                             the aggregate posterior q(z) (law of total covariance).

The batch covariance is the biased one (divided by M, not M - 1), E[mu mu^T] - E[mu] E[mu]^T,
as disentanglement_lib computes it (`methods/unsupervised/vae.py`,
`compute_covariance_z_mean`, `regularize_diag_off_diag_dip`, `DIPVAE.regularizer`).

Parameters: `lambda_od` and `lambda_d_factor` (lambda_d = lambda_d_factor * lambda_od), the
parametrisation of disentanglement_lib. Defaults:
  lambda_od = 10.0        from disentanglement_lib's study grid {1, 2, 5, 10, 20, 50}, the same for
                          both types so that they differ only in the covariance; not tuned here
  lambda_d_factor = 10.0  (type I) and 1.0 (type II): the values disentanglement_lib's study
                          fixes for each type (`config/unsupervised_study_v1/sweep.py`)
Under DDP the covariance is over each rank's rows of the global batch.
"""

from __future__ import annotations

import torch

from vaebench.models.vae import VAE


def batch_covariance(mu: torch.Tensor) -> torch.Tensor:
    """Cov[mu] over the batch, E[mu mu^T] - E[mu] E[mu]^T (divided by M), shape (d, d)."""
    centred = mu - mu.mean(0)
    return centred.T @ centred / len(mu)


def dip_penalty(cov: torch.Tensor, lambda_od: float, lambda_d: float) -> torch.Tensor:
    """lambda_od * sum of squared off-diagonal entries + lambda_d * sum of squared (diagonal - 1)."""
    diag = torch.diagonal(cov)
    off = cov - torch.diag(diag)
    return lambda_od * off.pow(2).sum() + lambda_d * (diag - 1).pow(2).sum()


def dip_covariance(mu: torch.Tensor, logvar: torch.Tensor, dip_type: str) -> torch.Tensor:
    """The covariance DIP-VAE-`dip_type` regularises: Cov[mu] (i) or E[diag sigma^2] + Cov[mu] (ii)."""
    cov = batch_covariance(mu)
    if dip_type == "i":
        return cov
    if dip_type == "ii":
        return cov + torch.diag(logvar.exp().mean(0))
    raise ValueError(f"dip_type must be 'i' or 'ii', got {dip_type!r}")


class DIPVAE(VAE):
    dip_type = "i"

    def __init__(self, image_shape, latent_dim: int, num_classes: int = 10, lr: float = 1e-3, lambda_od: float = 10.0,
                 lambda_d_factor: float | None = None, likelihood: str = "bernoulli"):
        super().__init__(image_shape, latent_dim, num_classes, lr, beta=1.0, likelihood=likelihood)
        self.save_hyperparameters()
        self.lambda_od = float(lambda_od)
        self.lambda_d_factor = float(self.default_lambda_d_factor if lambda_d_factor is None else lambda_d_factor)
        if self.lambda_od < 0 or self.lambda_d_factor < 0:
            raise ValueError(f"lambda_od and lambda_d_factor must be >= 0, got {self.lambda_od}, {self.lambda_d_factor}")

    default_lambda_d_factor = 10.0

    @property
    def lambda_d(self) -> float:
        return self.lambda_d_factor * self.lambda_od

    def objective(self, x, y=None):
        t = self.sampled_terms(x, y)
        rec, kl = t["rec_nll"], t["kl"]
        dip = dip_penalty(dip_covariance(t["mu"], t["logvar"], self.dip_type), self.lambda_od, self.lambda_d)
        return {"loss": rec.mean() + kl.mean() + dip, "rec_nll": rec, "kl": kl, "dip": dip}


class DIPVAEI(DIPVAE):
    """DIP-VAE-I: the penalty on Cov[mu(x)]; lambda_d = 10 lambda_od by default."""

    dip_type = "i"
    default_lambda_d_factor = 10.0


class DIPVAEII(DIPVAE):
    """DIP-VAE-II: the penalty on E[diag sigma^2(x)] + Cov[mu(x)]; lambda_d = lambda_od by default."""

    dip_type = "ii"
    default_lambda_d_factor = 1.0
