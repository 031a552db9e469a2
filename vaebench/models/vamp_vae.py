"""VAE with a VampPrior (Tomczak & Welling 2018, VAE with a VampPrior, AISTATS).

The VAE of vaebench.models.vae (same networks, same `likelihood` choices) with the prior replaced
by the "variational mixture of posteriors"
    p(z) = (1/K) sum_k q(z | u_k),
the encoder's own Gaussian posterior at K learned pseudo-inputs u_k (images of the data's shape).

Defaults and parametrisation, from the paper and its official code (jmtomczak/vae_vampprior):
  * K = 500 pseudo-inputs (`components`; the paper's MNIST setting, section 5 and experiment.py's
    --number_components 500);
  * u_k = hardtanh(w_k, 0, 1): the code's pseudo-input layer (a bias-free linear layer on an
    identity "idle input" with a Hardtanh(0, 1) activation) is exactly a free (K, *image shape)
    tensor w clipped to the pixel range, which is how it is stored here;
  * w initialised i.i.d. N(0.05, 0.01^2) (utils/load_data.py sets pseudoinputs_mean = 0.05,
    pseudoinputs_std = 0.01 for MNIST when not initialising from training data, the default), drawn
    from the run's seeded torch RNG.
Not taken over: the paper's linear KL warm-up over 100 epochs (the benchmark's protocol has no
schedule, as for the VAE) and its lr 5e-4 (the protocol's lr applies to every model).

Training minimises rec_nll + (log q(z|x) - log p(z)) at one reparameterised sample z (the KL to a
mixture has no closed form), with log p(z) exact: a log-sum-exp over the K components. Evaluation
(`bound_terms`) uses the same mixture log p(z) for elbo, iwae and bpd; its `kl` column is the Monte
Carlo estimate mean_s [log q(z_s|x) - log p(z_s)] over the evaluation's k posterior samples (the
given eps), unlike the VAE's analytic KL, so elbo = -(rec_nll + kl) is the k-sample average of
the single-sample ELBO estimates. `sample` draws from the mixture: a component k uniformly, then
z ~ q(z | u_k), through the decoder.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from vaebench.metrics.elbo import log_normal_from_eps
from vaebench.models.vae import VAE

PSEUDO_INPUT_MEAN, PSEUDO_INPUT_STD = 0.05, 0.01  # the official code's MNIST initialisation
LOG_PRIOR_CHUNK = 1 << 22  # elements (rows x K x d) per chunk of the mixture's log-density


def mixture_log_prob(z: torch.Tensor, means: torch.Tensor, logvars: torch.Tensor) -> torch.Tensor:
    """log (1/K) sum_k N(z; means_k, diag(exp(logvars_k))) for z (..., d); means, logvars (K, d).

    The direct formula per component (no expansion of the square, which loses digits when a
    component is narrow), in chunks of rows so that evaluation's k x N codes stay in memory."""
    flat = z.reshape(-1, z.shape[-1])
    rows = max(1, LOG_PRIOR_CHUNK // (means.numel() or 1))
    inv_var = (-logvars).exp()
    const = -0.5 * (math.log(2 * math.pi) * means.shape[1] + logvars.sum(1))  # (K,)
    out = []
    for i in range(0, len(flat), rows):
        zc = flat[i : i + rows, None, :]  # (r, 1, d)
        log_n = const - 0.5 * ((zc - means).pow(2) * inv_var).sum(-1)  # (r, K)
        out.append(torch.logsumexp(log_n, dim=1) - math.log(means.shape[0]))
    return torch.cat(out).reshape(z.shape[:-1])


class VampVAE(VAE):
    SAMPLES = "z ~ VampPrior (a pseudo-input u_k uniformly, then z ~ q(z|u_k)) through the decoder"

    def __init__(self, image_shape, latent_dim: int, num_classes: int = 10, lr: float = 1e-3, components: int = 500,
                 likelihood: str = "bernoulli"):
        if isinstance(components, bool) or not isinstance(components, int) or components < 1:
            raise ValueError(f"vamp_vae: components must be an integer >= 1, got {components!r}")
        super().__init__(image_shape, latent_dim, num_classes, lr, beta=1.0, likelihood=likelihood)
        self.components = components
        w = torch.empty(components, *self.image_shape)
        self.pseudo_weights = torch.nn.Parameter(torch.nn.init.normal_(w, PSEUDO_INPUT_MEAN, PSEUDO_INPUT_STD))

    def pseudo_inputs(self) -> torch.Tensor:
        """u_k = hardtanh(w_k, 0, 1), (K, *image_shape)."""
        return F.hardtanh(self.pseudo_weights, 0.0, 1.0)

    def prior_components(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(means, logvars) of q(z | u_k), each (K, latent_dim)."""
        mu, logvar = self.posterior(self.pseudo_inputs(), None)
        return mu, logvar.expand_as(mu)

    def log_prior(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) under the VampPrior for codes z (..., latent_dim), in at least float32 (a
        log-sum-exp over 500 components in bfloat16, under the fast mode's autocast, loses digits)."""
        means, logvars = self.prior_components()
        dtype = torch.promote_types(z.dtype, torch.float32)
        return mixture_log_prob(z.to(dtype), means.to(dtype), logvars.to(dtype))

    def sample(self, n: int, y=None, generator=None):
        means, logvars = self.prior_components()
        comp = torch.randint(self.components, (n,), generator=generator, device=self.device)
        eps = torch.randn(n, self.latent_dim, generator=generator, device=self.device, dtype=means.dtype)
        return self.decode(means[comp] + (0.5 * logvars[comp]).exp() * eps)

    def kl_term(self, mu, logvar, log_q, z) -> torch.Tensor:
        """The `kl` column: the Monte Carlo estimate mean_s [log q(z_s|x) - log p(z_s)] over the k
        posterior samples (the KL to a mixture has no closed form); VAE.bound_terms uses
        `log_prior` for elbo, iwae and bpd."""
        return (log_q - self.log_prior(z)).mean(0)

    def objective(self, x, y=None):
        mu, logvar = self.posterior(x, None)
        logvar = logvar.expand_as(mu)
        eps = self.noise_like(mu)
        z = mu + (0.5 * logvar).exp() * eps
        rec = self.rec_nll(self.decoder_out(z, None), x)
        kl = log_normal_from_eps(eps, logvar) - self.log_prior(z)  # single-sample estimate of KL(q || p)
        return {"loss": (rec + kl).mean(), "rec_nll": rec, "kl": kl}
