"""The encoder and decoder shared by every model for a given input shape.

AE, VAE and CVAE use exactly these bodies for a dataset, so a difference in the results table
is a difference of objective, not of network. Only the encoder's output width changes (a code
for the AE, mean and log-variance for the VAE) and, for the CVAE, a one-hot label is
concatenated to the encoder's flattened features and to the decoder's input.
"""

from __future__ import annotations

import math

import torch
from torch import nn

HIDDEN = 256


def _conv_shape(image_shape: tuple[int, int, int]) -> bool:
    """Small images (sklearn's 8x8 digits) get an MLP; larger ones a conv net."""
    return image_shape[1] >= 16


class Encoder(nn.Module):
    def __init__(self, image_shape: tuple[int, int, int], out_dim: int, cond_dim: int = 0):
        super().__init__()
        c, h, w = image_shape
        if _conv_shape(image_shape):
            self.body = nn.Sequential(
                nn.Conv2d(c, 32, 4, 2, 1), nn.ReLU(),
                nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(),
                nn.Flatten(),
            )
            feat = 64 * (h // 4) * (w // 4)
        else:
            self.body = nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, HIDDEN), nn.ReLU())
            feat = HIDDEN
        self.head = nn.Sequential(nn.Linear(feat + cond_dim, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, out_dim))

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        h = self.body(x)
        if cond is not None:
            h = torch.cat([h, cond], dim=1)
        return self.head(h)


class Decoder(nn.Module):
    """Maps a code (and a one-hot label) to Bernoulli logits of shape (N, C, H, W)."""

    def __init__(self, latent_dim: int, image_shape: tuple[int, int, int], cond_dim: int = 0):
        super().__init__()
        c, h, w = image_shape
        self.image_shape = image_shape
        if _conv_shape(image_shape):
            self.grid = (64, h // 4, w // 4)
            self.head = nn.Sequential(
                nn.Linear(latent_dim + cond_dim, HIDDEN), nn.ReLU(),
                nn.Linear(HIDDEN, math.prod(self.grid)), nn.ReLU(),
            )
            self.body = nn.Sequential(
                nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(),
                nn.ConvTranspose2d(32, c, 4, 2, 1),
            )
        else:
            self.grid = None
            self.head = nn.Sequential(nn.Linear(latent_dim + cond_dim, HIDDEN), nn.ReLU())
            self.body = nn.Linear(HIDDEN, c * h * w)

    def forward(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        if cond is not None:
            z = torch.cat([z, cond], dim=1)
        h = self.head(z)
        if self.grid is not None:
            h = h.view(-1, *self.grid)
        return self.body(h).view(-1, *self.image_shape)
