"""Variational autoencoder (Kingma & Welling 2014) with a beta weight on the KL (Higgins et al. 2017).

Prior N(0, I), diagonal Gaussian posterior q(z|x) = N(mu, diag(sigma^2)) with the
reparameterisation z = mu + sigma * eps, Bernoulli likelihood p(x|z) on [0, 1] intensities.
Training minimises rec_nll + beta * KL; evaluation always reports the true ELBO (beta = 1).
The CVAE is this model with a one-hot label fed to encoder and decoder (see cvae.py).
"""

from __future__ import annotations

import torch

from vaebench.metrics.elbo import (
    bernoulli_nll,
    gaussian_kl,
    iwae_bound,
    log_normal_from_eps,
    log_standard_normal,
)
from vaebench.models.base import LatentModel
from vaebench.models.networks import Decoder, Encoder


class VAE(LatentModel):
    def __init__(self, image_shape, latent_dim: int, num_classes: int = 10, lr: float = 1e-3, beta: float = 1.0):
        super().__init__(image_shape, latent_dim, num_classes, lr)
        self.save_hyperparameters()
        self.beta = beta
        cond_dim = num_classes if self.conditional else 0
        self.encoder = Encoder(self.image_shape, 2 * latent_dim, cond_dim)
        self.decoder = Decoder(latent_dim, self.image_shape, cond_dim)

    # ---- interface
    def encode(self, x, y=None):
        mu, logvar = self.encoder(x, self.cond(y)).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z, y=None):
        return torch.sigmoid(self.decoder(z, self.cond(y)))

    def sample(self, n: int, y=None, generator=None):
        z = torch.randn(n, self.latent_dim, generator=generator, device=self.device)
        if self.conditional and y is None:
            y = torch.randint(self.num_classes, (n,), generator=generator, device=self.device)
        return self.decode(z, y)

    def log_likelihood_bound(self, x, y=None, k: int = 1, generator=None, eps=None):
        """ELBO (k = 1, analytic KL) or the k-sample IWAE bound, per image, in nats."""
        terms = self.bound_terms(x, y, k, generator, eps)
        return -(terms["rec_nll"] + terms["kl"]) if k == 1 else terms["iwae"]

    def bound_terms(self, x, y=None, k: int = 1, generator=None, eps=None) -> dict[str, torch.Tensor]:
        """Per image: rec_nll (mean over k posterior samples), analytic kl, and the k-sample iwae.

        The posterior noise is `eps` (k, N, latent_dim) standard normals when given (evaluation
        passes noise keyed by test image, see vaebench.metrics.noise), else drawn from
        `generator`. Every term is evaluated with beta = 1: these are the true bound's pieces;
        for the CVAE they bound log p(x | y) with the given label.
        """
        c = self.cond(y)
        mu, logvar = self.encoder(x, c).chunk(2, dim=1)
        if eps is None:
            eps = torch.randn((k, *mu.shape), generator=generator, device=mu.device, dtype=mu.dtype)
        elif eps.shape != (k, *mu.shape):
            raise ValueError(f"eps has shape {tuple(eps.shape)}, expected (k, N, latent_dim) = {(k, *mu.shape)}")
        eps = eps.to(device=mu.device, dtype=mu.dtype)
        z = mu + (0.5 * logvar).exp() * eps  # (k, N, d)
        zc = z.reshape(k * len(x), -1)
        cc = None if c is None else c.repeat(k, 1)
        logits = self.decoder(zc, cc).view(k, *x.shape)
        log_px_z = -bernoulli_nll(logits, x)  # (k, N)
        log_w = log_px_z + log_standard_normal(z) - log_normal_from_eps(eps, logvar)
        return {"rec_nll": -log_px_z.mean(0), "kl": gaussian_kl(mu, logvar), "iwae": iwae_bound(log_w)}

    # ---- training objective: negative beta-ELBO, one posterior sample
    def objective(self, x, y=None):
        c = self.cond(y)
        mu, logvar = self.encoder(x, c).chunk(2, dim=1)
        z = mu + (0.5 * logvar).exp() * self.noise_like(mu)
        rec = bernoulli_nll(self.decoder(z, c), x)
        kl = gaussian_kl(mu, logvar)
        return {"loss": (rec + self.beta * kl).mean(), "rec_nll": rec, "kl": kl}
