"""FactorVAE: Kim & Mnih (2018), "Disentangling by factorising" (ICML).

The negative ELBO plus gamma times the total correlation TC = KL(q(z) || prod_l q(z_l)) of the
aggregate posterior, estimated by the density-ratio trick: a discriminator D tells codes
z ~ q(z) from codes whose dimensions were permuted independently across the batch (samples of
prod_l q(z_l)), and with D's two logits (true, permuted)

    TC ~ mean_batch [ D(z)_true - D(z)_permuted ]                (Kim & Mnih, Eq. 3)
    loss = mean(rec_nll) + mean(kl) + gamma * TC                 (Eq. 2)
    discriminator loss = 0.5 CE(D(z), true) + 0.5 CE(D(permute_dims(z)), permuted)

as disentanglement_lib computes them (`methods/unsupervised/vae.py`, `FactorVAE.model_fn`):
both from the same batch's sampled z (Kim & Mnih's Algorithm 1 permutes a second batch), the
two updates taken together after one forward pass. The VAE loss reaches the encoder through D
with D's parameters held fixed; the discriminator loss sees z detached, so each loss moves
only its own networks.

Discriminator (Kim & Mnih, Appendix; disentanglement_lib `architectures.fc_discriminator`):
an MLP with 6 hidden layers of 1000 units, LeakyReLU(0.2), 2 logits, trained with Adam, lr 1e-4,
betas (0.5, 0.9) (disentanglement_lib `optimizers.make_discriminator_optimizer`).

Optimisation: one torch Adam with the VAE's parameter groups (the protocol's lr; the Gaussian
likelihood's log eta group) and one more group for the discriminator with its own lr and betas.
Adam's update is per parameter and reads only its group's lr/betas/eps, so this is exactly two
Adam optimizers (tests/test_disentangling_models.py checks it step for step) while Lightning's
automatic optimization, `global_step` (one per batch), mixed precision, DDP and checkpoints
(the optimizer state holds both parts) work unchanged.

Default gamma = 40.0: from disentanglement_lib's study grid {10, 20, 30, 40, 50, 100} (Kim &
Mnih's own range of gamma); not tuned here.

The discriminator is training machinery only: encode/decode/sample and the evaluated bounds are
the VAE's (the discriminator's weights do not change them). Under DDP the permutation is within
each rank's rows.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vaebench.models.vae import VAE

DISC_HIDDEN, DISC_LAYERS = 1000, 6
DISC_LR, DISC_BETAS = 1e-4, (0.5, 0.9)
LEAK = 0.2


class Discriminator(torch.nn.Module):
    """MLP z -> 2 logits (true, permuted); `frozen=True` evaluates it with its parameters detached."""

    def __init__(self, latent_dim: int, hidden: int = DISC_HIDDEN, layers: int = DISC_LAYERS):
        super().__init__()
        sizes = [latent_dim] + [hidden] * layers + [2]
        self.layers = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True))

    def forward(self, z: torch.Tensor, frozen: bool = False) -> torch.Tensor:
        h = z
        for i, layer in enumerate(self.layers):
            w, b = (layer.weight.detach(), layer.bias.detach()) if frozen else (layer.weight, layer.bias)
            h = F.linear(h, w, b)
            if i < len(self.layers) - 1:
                h = F.leaky_relu(h, LEAK)
        return h


def permute_dims(z: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """Each column of z permuted across the batch independently, by the ranks of `noise` (same shape:
    i.i.d. continuous noise gives uniformly random, independent permutations)."""
    return z.gather(0, noise.argsort(dim=0))


def density_ratio_tc(logits: torch.Tensor) -> torch.Tensor:
    """TC ~ mean(logit_true - logit_permuted) (Kim & Mnih Eq. 3; D's logits are log-odds up to a constant)."""
    return (logits[:, 0] - logits[:, 1]).mean()


def discriminator_loss(disc: Discriminator, z: torch.Tensor, z_perm: torch.Tensor) -> torch.Tensor:
    """0.5 CE(D(z), true = 0) + 0.5 CE(D(z_perm), permuted = 1)."""
    true = torch.zeros(len(z), dtype=torch.long, device=z.device)
    return 0.5 * (F.cross_entropy(disc(z), true) + F.cross_entropy(disc(z_perm), true + 1))


class FactorVAE(VAE):
    def __init__(self, image_shape, latent_dim: int, num_classes: int = 10, lr: float = 1e-3, gamma: float = 40.0,
                 likelihood: str = "bernoulli"):
        super().__init__(image_shape, latent_dim, num_classes, lr, beta=1.0, likelihood=likelihood)
        self.save_hyperparameters()
        self.gamma = float(gamma)
        self.discriminator = Discriminator(latent_dim)

    def objective(self, x, y=None):
        t = self.sampled_terms(x, y)
        rec, kl, z = t["rec_nll"], t["kl"], t["z"]
        tc = density_ratio_tc(self.discriminator(z, frozen=True))
        out = {"loss": rec.mean() + kl.mean() + self.gamma * tc, "rec_nll": rec, "kl": kl, "tc": tc}
        if self.training:  # the discriminator's own loss, trained alongside (LatentModel.training_step)
            zd = z.detach()
            out["aux_loss"] = discriminator_loss(self.discriminator, zd, permute_dims(zd, self.noise_like(zd)))
        return out

    def configure_optimizers(self):
        """The VAE's Adam (its groups without the discriminator) plus a group for the discriminator."""
        opt = super().configure_optimizers()
        disc = list(self.discriminator.parameters())
        ids = {id(p) for p in disc}
        for group in opt.param_groups:
            group["params"] = [p for p in group["params"] if id(p) not in ids]
        opt.add_param_group({"params": disc, "lr": DISC_LR, "betas": DISC_BETAS})
        return opt
