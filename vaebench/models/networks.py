"""The encoder and decoder shared by every model for a given input shape.

AE, VAE and CVAE use exactly these bodies for a dataset, so a difference in the results table
is a difference of objective, not of network. Only the encoder's output width changes (a code
for the AE, mean and log-variance for the VAE) and, for the CVAE, a one-hot label is
concatenated to the encoder's flattened features and to the decoder's input.

Four bodies, by image shape:
  < 16 px  (8x8 digits)        MLP 256
  16..63   (28x28 Fashion)     convs 32-64 (4x4, stride 2), FC 256
  16..63, 3 channels           convs 64-128-256 (4x4, stride 2) to a 4x4 grid, FC 256, and the
           (32x32 CIFAR-10,    mirrored decoder FC 256, FC 256*4*4, deconvs 128-64-C: the
            SVHN)              DCGAN layout (Radford et al. 2016) for 32x32 colour images, which
                               need more width than grey digits; the FC widths are the other
                               bodies', so the latent path is the same size
  >= 64    (64x64 dSprites)    disentanglement_lib's conv net (Locatello et al. 2019, the
                               "conv_encoder"/"deconv_decoder"): convs 32-32-64-64 (4x4, stride 2),
                               FC 256, and the mirrored decoder FC 256, FC 64*4*4, deconvs 64-32-32-C
"""

from __future__ import annotations

import math

import torch
from torch import nn

HIDDEN = 256


def _conv_channels(image_shape: tuple[int, int, int]) -> tuple[int, ...]:
    """Encoder conv widths for this image size; () means the MLP."""
    channels, side = image_shape[0], image_shape[1]
    if side < 16:
        return ()
    if side >= 64:
        return (32, 32, 64, 64)
    return (64, 128, 256) if channels == 3 else (32, 64)


class Encoder(nn.Module):
    def __init__(self, image_shape: tuple[int, int, int], out_dim: int, cond_dim: int = 0):
        super().__init__()
        c, h, w = image_shape
        channels = _conv_channels(image_shape)
        if channels:
            layers, prev = [], c
            for ch in channels:
                layers += [nn.Conv2d(prev, ch, 4, 2, 1), nn.ReLU()]
                prev = ch
            self.body = nn.Sequential(*layers, nn.Flatten())
            down = 2 ** len(channels)
            feat = prev * (h // down) * (w // down)
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
        channels = _conv_channels(image_shape)
        if channels:
            down = 2 ** len(channels)
            self.grid = (channels[-1], h // down, w // down)
            self.head = nn.Sequential(
                nn.Linear(latent_dim + cond_dim, HIDDEN), nn.ReLU(),
                nn.Linear(HIDDEN, math.prod(self.grid)), nn.ReLU(),
            )
            widths = [*reversed(channels), c]  # 64-64-32-32 -> C: deconvs 64-32-32-C (dlib)
            layers = []
            for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
                layers.append(nn.ConvTranspose2d(a, b, 4, 2, 1))
                if i < len(widths) - 2:
                    layers.append(nn.ReLU())
            self.body = nn.Sequential(*layers)
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
