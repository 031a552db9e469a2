"""Deterministic autoencoder (the lecture's AE), trained on the same Bernoulli reconstruction
term as the VAE so that AE vs VAE differs only by the KL term and the noise, not the loss."""

from __future__ import annotations

import torch

from vaebench.metrics.elbo import bernoulli_nll
from vaebench.models.base import LatentModel
from vaebench.models.networks import Decoder, Encoder


class AE(LatentModel):
    SAMPLES = "z ~ N(0, I) through the decoder (an AE has no prior)"  # what `sample` draws (FID protocol)

    def __init__(self, image_shape, latent_dim: int, num_classes: int = 10, lr: float = 1e-3):
        super().__init__(image_shape, latent_dim, num_classes, lr)
        self.save_hyperparameters()
        self.encoder = Encoder(self.image_shape, latent_dim)
        self.decoder = Decoder(latent_dim, self.image_shape)

    def encode(self, x, y=None):
        return self.encoder(x), None

    def decode(self, z, y=None):
        return torch.sigmoid(self.decoder(z))

    def sample(self, n: int, y=None, generator=None):
        """N(0, I) through the decoder: a plain AE defines no prior, which is the lecture's point."""
        z = torch.randn(n, self.latent_dim, generator=generator, device=self.device)
        return self.decode(z)

    def objective(self, x, y=None):
        rec = bernoulli_nll(self.decoder(self.encoder(x)), x)
        return {"loss": rec.mean(), "rec_nll": rec}
