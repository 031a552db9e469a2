"""beta-TCVAE: Chen, Li, Grosse & Duvenaud (2018), "Isolating sources of disentanglement in
variational autoencoders" (NeurIPS), with its total correlation estimated by minibatch-weighted
sampling (MWS), the estimator disentanglement_lib uses.

The KL term of the ELBO averaged over the data splits into index-code mutual information, total
correlation TC = KL(q(z) || prod_l q(z_l)) and dimension-wise KL (Chen et al., Eq. 2). As in
disentanglement_lib (`methods/unsupervised/vae.py`, `BetaTCVAE.regularizer`: kl_loss +
(beta - 1) * tc), the training loss is the negative ELBO with beta on the TC term:

    loss = mean(rec_nll) + mean(kl) + (beta - 1) * TC_MWS

(Chen et al.'s Eq. 4 with alpha = gamma = 1). beta = 1 is the VAE.

MWS (Chen et al., Sec. 3.1 and Appendix C.1; disentanglement_lib's `total_correlation`), for a
batch of M codes z_j ~ q(z|x_j) out of a data set of N images:

    log q(z_j)      ~ logsumexp_i  sum_l log q(z_jl | x_i)  - log(N M)
    log q_l(z_jl)   ~ logsumexp_i  log q(z_jl | x_i)        - log(N M)
    TC_MWS          = mean_j [ log q(z_j) - sum_l log q_l(z_jl) ]

disentanglement_lib drops the log(N M) terms ("constants that do not matter for the
minimization"); here they are kept, so the value is the paper's estimate, and N is the
training set's size (`train_size`, set by vaebench.runner.train). Gradients are identical to
disentanglement_lib's. The normalisation 1/(N M) is the paper's; the value it gives exceeds the
true TC by up to (d - 1) log N when the posteriors of the batch overlap (in the limit of large
batches, exactly TC + (d - 1) log N: tests/test_disentangling_models.py measures it), so read the
logged `tc` as a training signal, not as a TC measurement. Chen et al.'s alternative, minibatch
stratified sampling (MSS, Appendix C.2), reweights the batch's own sample by 1/N and is not
implemented here.

Default beta = 6.0: from disentanglement_lib's study grid {1, 2, 4, 6, 8, 10}, its middle
value, not tuned here (a suite's grid, `{name: beta_tcvae, beta: [1, 2, 4, 6, 8, 10]}`, does that).

Under DDP the estimate is over each rank's rows of the global batch (M = the local batch), so a
DDP step is not exactly a single-device step for this model (every other term is).
"""

from __future__ import annotations

import math

import torch

from vaebench.metrics.elbo import LOG_2PI
from vaebench.models.vae import VAE

CHUNK_ELEMENTS = 1 << 24  # pairwise terms held at once (64 MiB in float32): large validation batches fit


def pairwise_log_density(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log q(z_jl | x_i) for every pair, shape (M, M, d) indexed [j, i, l]."""
    z, mu, logvar = z.unsqueeze(1), mu.unsqueeze(0), logvar.unsqueeze(0)
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) * torch.exp(-logvar))


def total_correlation_mws(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, dataset_size: int) -> torch.Tensor:
    """The minibatch-weighted-sampling TC estimate of a batch (module docstring), a scalar."""
    m, d = z.shape
    log_nm = math.log(dataset_size * m)
    rows = max(1, CHUNK_ELEMENTS // max(1, m * d))  # the (M, M, d) tensor a chunk of j at a time
    per_j = []
    for s in range(0, m, rows):
        lp = pairwise_log_density(z[s : s + rows], mu, logvar)  # [j, i, l]
        log_qz = torch.logsumexp(lp.sum(2), dim=1) - log_nm
        log_prod_marginals = (torch.logsumexp(lp, dim=1) - log_nm).sum(1)
        per_j.append(log_qz - log_prod_marginals)
    return torch.cat(per_j).mean()


class BetaTCVAE(VAE):
    def __init__(self, image_shape, latent_dim: int, num_classes: int = 10, lr: float = 1e-3, beta: float = 6.0,
                 likelihood: str = "bernoulli"):
        super().__init__(image_shape, latent_dim, num_classes, lr, beta=beta, likelihood=likelihood)
        self.save_hyperparameters()

    def objective(self, x, y=None):
        if self.train_size is None:
            raise RuntimeError("beta_tcvae needs the training set's size for its TC estimate: set model.train_size "
                               "(vaebench.runner.train sets it before fit)")
        t = self.sampled_terms(x, y)
        rec, kl = t["rec_nll"], t["kl"]
        tc = total_correlation_mws(t["z"], t["mu"], t["logvar"], self.train_size)
        loss = rec.mean() + kl.mean() + (self.beta - 1.0) * tc
        return {"loss": loss, "rec_nll": rec, "kl": kl, "tc": tc}
