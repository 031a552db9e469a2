"""Variational autoencoder (Kingma & Welling 2014) with a beta weight on the KL (Higgins et al. 2017).

Prior N(0, I), diagonal Gaussian posterior q(z|x) = N(mu, diag(sigma^2)) with the
reparameterisation z = mu + sigma * eps. The likelihood p(x|z) on [0, 1] intensities is the
model parameter `likelihood` (docs/likelihood.md):
  * "bernoulli" (default; the literature's choice, not a density on grey levels),
  * "gaussian": the lecture's N(x; G(z), eta I), G(z) = sigmoid(decoder), one learned eta,
  * "continuous_bernoulli": CB(x; sigmoid(decoder)) (Loaiza-Ganem & Cunningham 2019).
`decode` is the mean image E[x|z] in [0, 1] under each of them (the continuous Bernoulli's mean
is not its parameter). Training minimises rec_nll + beta * KL; evaluation always reports the
true bound (beta = 1). The CVAE is this model with a one-hot label fed to encoder and decoder.
"""

from __future__ import annotations

import torch

from vaebench.metrics.elbo import (
    bernoulli_nll,
    continuous_bernoulli_mean,
    continuous_bernoulli_nll,
    gaussian_kl,
    gaussian_nll,
    iwae_bound,
    log_normal_from_eps,
    log_standard_normal,
)
from vaebench.models.base import LatentModel
from vaebench.models.networks import Decoder, Encoder

ETA_LR_FACTOR = 10.0  # Adam's step on log eta, relative to the protocol's lr (docs/likelihood.md)
LIKELIHOODS = ("bernoulli", "gaussian", "continuous_bernoulli")


class VAE(LatentModel):
    def __init__(self, image_shape, latent_dim: int, num_classes: int = 10, lr: float = 1e-3, beta: float = 1.0,
                 likelihood: str = "bernoulli"):
        super().__init__(image_shape, latent_dim, num_classes, lr)
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
        self.save_hyperparameters()
        self.beta = beta
        self.likelihood = likelihood
        cond_dim = num_classes if self.conditional else 0
        self.encoder = Encoder(self.image_shape, 2 * latent_dim, cond_dim)
        self.decoder = Decoder(latent_dim, self.image_shape, cond_dim)
        if likelihood == "gaussian":  # eta = exp(log_eta), one scalar (docs/likelihood.md says why)
            self.log_eta = torch.nn.Parameter(torch.zeros(()))

    # ---- the pieces subclasses (linear_vae) replace
    def posterior(self, x, c):
        """(mu, logvar) of q(z|x), each (N, latent_dim)."""
        return self.encoder(x, c).chunk(2, dim=1)

    def decoder_out(self, z, c):
        """The decoder's output for codes z (N, latent_dim): logits (N, *image_shape)."""
        return self.decoder(z, c)

    def out_mean(self, out):
        """E[x|z] from the decoder output."""
        if self.likelihood == "continuous_bernoulli":
            return continuous_bernoulli_mean(out)
        return torch.sigmoid(out)

    def rec_nll(self, out, x):
        """-log p(x|z) per image, summed over pixels (out may carry leading sample dims)."""
        if self.likelihood == "gaussian":
            return gaussian_nll(self.out_mean(out), self.log_eta, x)
        if self.likelihood == "continuous_bernoulli":
            return continuous_bernoulli_nll(out, x)
        return bernoulli_nll(out, x)

    # ---- interface
    def encode(self, x, y=None):
        return self.posterior(x, self.cond(y))

    def decode(self, z, y=None):
        # z in the model's dtype: callers that treat non-Bernoulli models as PCA-like pass float64
        return self.out_mean(self.decoder_out(z.to(self.dtype), self.cond(y)))

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
        mu, logvar = self.posterior(x, c)
        logvar = logvar.expand_as(mu)
        if eps is None:
            eps = torch.randn((k, *mu.shape), generator=generator, device=mu.device, dtype=mu.dtype)
        elif eps.shape != (k, *mu.shape):
            raise ValueError(f"eps has shape {tuple(eps.shape)}, expected (k, N, latent_dim) = {(k, *mu.shape)}")
        eps = eps.to(device=mu.device, dtype=mu.dtype)
        z = mu + (0.5 * logvar).exp() * eps  # (k, N, d)
        zc = z.reshape(k * len(x), -1)
        cc = None if c is None else c.repeat(k, 1)
        out = self.decoder_out(zc, cc).view(k, *x.shape)
        log_px_z = -self.rec_nll(out, x)  # (k, N)
        log_q = log_normal_from_eps(eps, logvar)
        log_w = log_px_z + self.log_prior(z) - log_q
        return {"rec_nll": -log_px_z.mean(0), "kl": self.kl_term(mu, logvar, log_q, z), "iwae": iwae_bound(log_w)}

    # ---- the prior (vamp_vae replaces both)
    def log_prior(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) for codes z (..., latent_dim): the standard normal."""
        return log_standard_normal(z)

    def kl_term(self, mu, logvar, log_q, z) -> torch.Tensor:
        """The `kl` column per image: KL(q(z|x) || N(0, I)) in closed form (the samples, log q of
        each (k, N) and z (k, N, d), are there for priors without one)."""
        return gaussian_kl(mu, logvar)

    def configure_optimizers(self):
        """Adam; log eta (Gaussian likelihood) with ETA_LR_FACTOR times the lr: Adam moves a
        parameter about lr per step whatever its gradient, and log eta has to travel from 0
        (eta = 1) to about -5 (Fashion-MNIST), 5,000 steps at lr 1e-3, longer than a short protocol."""
        if self.likelihood != "gaussian":
            return super().configure_optimizers()
        rest = [p for n, p in self.named_parameters() if n != "log_eta"]
        return torch.optim.Adam([{"params": rest}, {"params": [self.log_eta], "lr": ETA_LR_FACTOR * self.lr}], lr=self.lr)

    # ---- training objective: negative beta-ELBO, one posterior sample
    def sampled_terms(self, x, y=None) -> dict[str, torch.Tensor]:
        """One training draw: mu, logvar (N, d), z = mu + sigma * noise_like(mu), and per image
        rec_nll (at z) and the analytic kl. The objectives of the disentangling VAEs
        (annealed_vae, beta_tcvae, factor_vae, dip_vae) are functions of these."""
        c = self.cond(y)
        mu, logvar = self.posterior(x, c)
        logvar = logvar.expand_as(mu)
        z = mu + (0.5 * logvar).exp() * self.noise_like(mu)
        rec = self.rec_nll(self.decoder_out(z, c), x)
        return {"mu": mu, "logvar": logvar, "z": z, "rec_nll": rec, "kl": gaussian_kl(mu, logvar)}

    def objective(self, x, y=None):
        t = self.sampled_terms(x, y)
        rec, kl = t["rec_nll"], t["kl"]
        return {"loss": (rec + self.beta * kl).mean(), "rec_nll": rec, "kl": kl}
