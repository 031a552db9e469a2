"""AnnealedVAE: the controlled-capacity objective of Burgess et al. (2018), "Understanding
disentangling in beta-VAE" (arXiv:1804.03599, Eq. 8).

    loss = rec_nll + gamma * |KL(q(z|x) || N(0, I)) - C(step)|,
    C(step) = min(c_max, c_max * step / anneal_steps)

with KL the batch mean of the per-image analytic KL and `step` the number of optimizer steps
taken before this one (Lightning's `global_step`; a checkpoint restores it, so a resumed run
continues the schedule). As in disentanglement_lib (`methods/unsupervised/vae.py`, `anneal` and
`AnnealedVAE.regularizer`), |KL - C| is taken on the batch-mean KL, not per image.

Defaults and where they come from (disentanglement_lib, unsupervised study v1,
`config/unsupervised_study_v1/sweep.py`):
  gamma = 1000.0        the study's fixed gamma (Burgess et al. also use 1000)
  c_max = 25.0          from the study grid {5, 10, 25, 50, 75, 100} (Burgess et al.'s dSprites run uses 25)
  anneal_steps = 100000 the study's iteration_threshold (its runs train 300,000 steps)

With short protocols (a few thousand steps) C stays near 0 and the objective is close to a
beta-VAE with beta = gamma: set anneal_steps to the protocol's length for the paper's schedule.

The validation loss (early stopping, best-weight selection) is the objective at C = c_max, the
one the schedule ends at: with C at the current step it would grow with C (a collapsed KL far
below a rising C), and selection would pick the first epochs (measured on digits, z = 8,
anneal_steps = 500: early stopping at epoch 11 with the weights of epoch 0). Evaluation
(elbo, iwae, bpd) is the VAE's true bound (beta = 1), unaffected.
"""

from __future__ import annotations

import torch

from vaebench.models.vae import VAE


def capacity(step: int | torch.Tensor, c_max: float, anneal_steps: int) -> float | torch.Tensor:
    """C(step) = min(c_max, c_max * step / anneal_steps), linear from 0 (disentanglement_lib's `anneal`)."""
    if anneal_steps <= 0:
        return c_max
    return min(c_max, c_max * step / anneal_steps)


class AnnealedVAE(VAE):
    def __init__(self, image_shape, latent_dim: int, num_classes: int = 10, lr: float = 1e-3, gamma: float = 1000.0,
                 c_max: float = 25.0, anneal_steps: int = 100_000, likelihood: str = "bernoulli"):
        super().__init__(image_shape, latent_dim, num_classes, lr, beta=1.0, likelihood=likelihood)
        self.save_hyperparameters()
        if gamma < 0 or c_max < 0 or anneal_steps < 0:
            raise ValueError(f"gamma, c_max and anneal_steps must be >= 0, got {gamma}, {c_max}, {anneal_steps}")
        self.gamma, self.c_max, self.anneal_steps = float(gamma), float(c_max), int(anneal_steps)

    def objective(self, x, y=None):
        t = self.sampled_terms(x, y)
        rec, kl = t["rec_nll"], t["kl"]
        c = capacity(self.global_step, self.c_max, self.anneal_steps) if self.training else self.c_max
        loss = rec.mean() + self.gamma * (kl.mean() - c).abs()
        return {"loss": loss, "rec_nll": rec, "kl": kl, "capacity": torch.as_tensor(c)}
