"""ELBO pieces and the importance-weighted bound (Burda, Grosse & Salakhutdinov 2016).

All quantities are in nats per image: summed over pixels and latent dimensions, never averaged
over them, so the numbers are comparable with the VAE literature.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LOG_2PI = math.log(2 * math.pi)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) per row, closed form."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=-1)


def log_normal(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag(exp(logvar))) summed over the last dimension."""
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) / logvar.exp()).sum(dim=-1)


def log_normal_from_eps(eps: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag(exp(logvar))) at z = mu + exp(logvar / 2) * eps, from the sampled eps.

    Exact: ((z - mu) / sigma)^2 = eps^2. Recomputing it from z instead loses what z's rounding
    drops of sigma * eps when sigma << |mu| (float32, mu = 3, logvar = -30, eps = 0.7: 13.777
    instead of 13.836).
    """
    return -0.5 * (LOG_2PI + logvar + eps.pow(2)).sum(dim=-1)


def log_standard_normal(z: torch.Tensor) -> torch.Tensor:
    return -0.5 * (LOG_2PI + z.pow(2)).sum(dim=-1)


def bernoulli_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log p(x | logits) summed over every non-batch dimension (x may be any value in [0, 1])."""
    nll = F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none")
    return nll.flatten(start_dim=logits.dim() - x.dim() + 1).sum(dim=-1)


def iwae_bound(log_w: torch.Tensor) -> torch.Tensor:
    """log (1/k) sum_i w_i for log-weights of shape (k, N): the k-sample importance-weighted bound."""
    return torch.logsumexp(log_w, dim=0) - math.log(log_w.shape[0])


# ---- likelihoods with a density on [0, 1] pixel intensities (vaebench.models.vae: `likelihood`)


def gaussian_nll(mean: torch.Tensor, log_eta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log N(x; mean, eta I) summed over every non-batch dimension; eta = exp(log_eta) is a
    scalar (or broadcasts against x): the lecture's observation model p(x|z) = N(x; G(z), eta I)."""
    nll = 0.5 * (LOG_2PI + log_eta + (x.expand_as(mean) - mean).pow(2) / log_eta.exp())
    return nll.flatten(start_dim=mean.dim() - x.dim() + 1).sum(dim=-1)


def continuous_bernoulli_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log CB(x; logits) summed over every non-batch dimension (Loaiza-Ganem & Cunningham 2019):
    the Bernoulli cross-entropy minus log C(lambda), the normaliser that makes it a density on
    [0, 1]; torch's ContinuousBernoulli evaluates log C by a Taylor expansion near lambda = 1/2."""
    from torch.distributions import ContinuousBernoulli

    nll = -ContinuousBernoulli(logits=logits, validate_args=False).log_prob(x.expand_as(logits))
    return nll.flatten(start_dim=logits.dim() - x.dim() + 1).sum(dim=-1)


def continuous_bernoulli_mean(logits: torch.Tensor) -> torch.Tensor:
    """E[x] under CB(logits): lambda / (2 lambda - 1) + 1 / (2 arctanh(1 - 2 lambda)), not sigmoid(logits)."""
    from torch.distributions import ContinuousBernoulli

    return ContinuousBernoulli(logits=logits, validate_args=False).mean
