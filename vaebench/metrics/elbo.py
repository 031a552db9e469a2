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


# The continuous Bernoulli in its logit l (lambda = sigmoid(l)), in closed form. With
# 1 - 2 lambda = -tanh(l / 2) and arctanh(1 - 2 lambda) = -l / 2, the normaliser
# C(lambda) = 2 arctanh(1 - 2 lambda) / (1 - 2 lambda) and the mean
# lambda / (2 lambda - 1) + 1 / (2 arctanh(1 - 2 lambda)) become
#     C(l) = l / tanh(l / 2),          E[x] = 1 / (1 - e^-l) - 1 / l,
# both even/odd-smooth through l = 0 (C = 2, E[x] = 1/2). They are evaluated without clamping
# lambda, so the density, its normaliser and its mean describe one distribution at every logit:
# torch.distributions.ContinuousBernoulli clamps lambda to [eps, 1 - eps] in the normaliser and
# the mean but not in lambda^x (1 - lambda)^(1 - x), so beyond |l| ~ 16 (float32) its density
# integrates to about 16 / |l| and its mean sticks at ~0.0627.
CB_SERIES_BELOW = 1e-2  # |l| under which log C uses its Taylor series (the direct form is 0 / 0 at 0)
CB_MEAN_SERIES_BELOW = 0.1  # |l| under which the mean does (the direct form cancels as 1 / l - 1 / l)


def continuous_bernoulli_log_norm(logits: torch.Tensor) -> torch.Tensor:
    """log C(l) = log(l / tanh(l / 2)), elementwise, stable at every logit and in float32.

    |l| >= CB_SERIES_BELOW: log|l| - log tanh(|l| / 2), with log tanh(a / 2) =
    log(-expm1(-a)) - log1p(e^-a) (no overflow for large |l|, where log C -> log |l|);
    below: log 2 + u/3 - 7 u^2/90 + 62 u^3/2835 with u = (l / 2)^2 (the series of
    log(x / tanh x)); the next term is below 1e-17 there. Both branches see safe inputs, so
    the gradient is finite everywhere."""
    a = logits.abs()
    small = a < CB_SERIES_BELOW
    big = torch.where(small, torch.ones_like(a), a)
    direct = big.log() - torch.log(-torch.expm1(-big)) + torch.log1p(torch.exp(-big))
    u = torch.where(small, logits, torch.zeros_like(logits)).mul(0.5).square()
    series = math.log(2.0) + u * (1.0 / 3.0 + u * (-7.0 / 90.0 + u * (62.0 / 2835.0)))
    return torch.where(small, series, direct)


def continuous_bernoulli_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log CB(x; l) summed over every non-batch dimension (Loaiza-Ganem & Cunningham 2019):
    the Bernoulli cross-entropy softplus(l) - x l minus log C(l), the normaliser that makes
    C lambda^x (1 - lambda)^(1 - x) a density on [0, 1] (`continuous_bernoulli_log_norm`)."""
    xe = x.expand_as(logits)
    nll = F.binary_cross_entropy_with_logits(logits, xe, reduction="none") - continuous_bernoulli_log_norm(logits)
    return nll.flatten(start_dim=logits.dim() - x.dim() + 1).sum(dim=-1)


def continuous_bernoulli_mean(logits: torch.Tensor) -> torch.Tensor:
    """E[x] under CB(l): 1 / (1 - e^-l) - 1 / l = -1 / expm1(-l) - 1 / l, not sigmoid(l).

    Below |l| = CB_MEAN_SERIES_BELOW its series 1/2 + l/12 - l^3/720 + l^5/30240 (next term
    below 1e-15 there); large |l| need no care (-> 1 - 1/l and 1/|l|, overflow gives the
    right limit). Computed in float64 and returned in the logits' dtype: it is not on the
    k-sample path, and float32's 1 / l - 1 / l cancellation would cost ~1e-6 near the switch."""
    l64 = logits.double()
    small = l64.abs() < CB_MEAN_SERIES_BELOW
    big = torch.where(small, torch.ones_like(l64), l64)
    direct = -1.0 / torch.expm1(-big) - 1.0 / big
    s = torch.where(small, l64, torch.zeros_like(l64))
    s2 = s * s
    series = 0.5 + s * (1.0 / 12.0 + s2 * (-1.0 / 720.0 + s2 * (1.0 / 30240.0)))
    return torch.where(small, series, direct).to(logits.dtype)
