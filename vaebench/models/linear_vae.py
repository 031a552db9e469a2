"""The linear VAE of Lucas, Tucker, Grosse & Norouzi (2019), "Don't blame the ELBO": a validity check.

  q(z|x) = N(V (x - b_enc), diag(s^2))     mean linear in x, one learned variance per latent dim
  p(z)   = N(0, I)
  p(x|z) = N(x; W z + b, eta I)            linear decoder, one learned eta

Lucas et al. show that the ELBO's global maxima are the probabilistic-PCA maximum-likelihood
solutions (Tipping & Bishop 1999), where the ELBO is tight: trained to convergence its
likelihood is the exact PPCA log-likelihood of the same data and latent dim, and eta is PPCA's
sigma^2 (tests/test_linear_vae.py). Training uses the ELBO in closed form (no sampling noise):
  E_q log p(x|z) = log N(x; W mu + b, eta I) - tr(W diag(s^2) W^T) / (2 eta),
exactly the expectation that the sampled objective estimates, so that full-batch optimisers
converge to the optimum rather than to a noise floor. `decode` is W z + b, not clipped to [0, 1]
(the linear model is a density on R^D, as PPCA is).
"""

from __future__ import annotations

import torch

from vaebench.metrics.elbo import gaussian_kl, gaussian_nll
from vaebench.models.vae import VAE


class LinearVAE(VAE):
    def __init__(self, image_shape, latent_dim: int, num_classes: int = 10, lr: float = 1e-3):
        super().__init__(image_shape, latent_dim, num_classes, lr, beta=1.0, likelihood="gaussian")
        self.save_hyperparameters()
        dim = int(torch.tensor(self.image_shape).prod())
        self.encoder = torch.nn.Linear(dim, latent_dim)  # mu = V x + c
        self.enc_logvar = torch.nn.Parameter(torch.zeros(latent_dim))  # log s^2, shared by every x
        self.decoder = torch.nn.Linear(latent_dim, dim)  # W z + b

    def posterior(self, x, c):
        mu = self.encoder(x.flatten(1))
        return mu, self.enc_logvar.expand_as(mu)

    def decoder_out(self, z, c):
        return self.decoder(z).view(*z.shape[:-1], *self.image_shape)

    def out_mean(self, out):
        return out

    def objective(self, x, y=None):
        """The negative ELBO in closed form (see the module docstring), per image."""
        mu, logvar = self.posterior(x, None)
        w = self.decoder.weight  # (D, d)
        trace = (w.pow(2) * logvar.exp()[:1]).sum()  # tr(W diag(s^2) W^T), the same for every x
        rec = gaussian_nll(self.decoder_out(mu, None), self.log_eta, x) + 0.5 * trace / self.log_eta.exp()
        kl = gaussian_kl(mu, logvar)
        return {"loss": (rec + kl).mean(), "rec_nll": rec, "kl": kl}
