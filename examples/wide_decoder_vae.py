"""A complete vaebench plug-in: the VAE with a wider (and one layer deeper) decoder.

Run it next to the built-in VAE, then compare the two (see examples/README.md):

    python -m vaebench run --suite smoke --models vae,examples.wide_decoder_vae:WideDecoderVAE --seeds 0,1,2

What makes a class a plug-in (checked by vaebench.models.plugin.resolve_plugin):
  * the built-in constructor: (image_shape, latent_dim, num_classes=10, lr=1e-3, **params),
    every extra parameter with a default (here: beta, width); a suite may set them,
    e.g. `models: [{name: "examples.wide_decoder_vae:WideDecoderVAE", width: 1024}]`;
  * the evaluation interface: encode, decode, sample (and log_likelihood_bound / bound_terms
    for the ELBO and IWAE columns), plus the attributes `conditional` and `likelihood`;
  * training: a LightningModule with objective(x, y) -> {"loss": ...}.
Subclassing vaebench.models.vae.VAE gives all of that; only the decoder changes here, so a
difference against `vae` in `python -m vaebench compare` is the decoder's doing.
"""

from __future__ import annotations

import math

from torch import nn

from vaebench.models.networks import Decoder
from vaebench.models.vae import VAE


class WideDecoder(Decoder):
    """vaebench's Decoder (same contract and forward: (z, one-hot or None) -> logits (N, C, H, W))
    with wider layers: only the layers are rebuilt here."""

    def __init__(self, latent_dim: int, image_shape: tuple[int, int, int], cond_dim: int = 0, width: int = 512):
        nn.Module.__init__(self)
        c, h, w = image_shape
        self.image_shape = tuple(image_shape)
        if h >= 16:  # the rule of vaebench.models.networks: conv nets for images of 16 px and more
            self.grid = (128, h // 4, w // 4)
            self.head = nn.Sequential(
                nn.Linear(latent_dim + cond_dim, width), nn.ReLU(),
                nn.Linear(width, math.prod(self.grid)), nn.ReLU(),
            )
            self.body = nn.Sequential(
                nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.ReLU(),
                nn.ConvTranspose2d(64, c, 4, 2, 1),
            )
        else:  # 8x8 digits: an MLP with two hidden layers of `width` units
            self.grid = None
            self.head = nn.Sequential(
                nn.Linear(latent_dim + cond_dim, width), nn.ReLU(),
                nn.Linear(width, width), nn.ReLU(),
            )
            self.body = nn.Linear(width, c * h * w)


class WideDecoderVAE(VAE):
    """VAE (same encoder, prior, likelihood and objective) with WideDecoder as p(x|z)."""

    def __init__(self, image_shape, latent_dim: int, num_classes: int = 10, lr: float = 1e-3,
                 beta: float = 1.0, width: int = 512):
        super().__init__(image_shape, latent_dim, num_classes, lr, beta)
        self.width = width
        cond_dim = num_classes if self.conditional else 0
        self.decoder = WideDecoder(latent_dim, self.image_shape, cond_dim, width)
