"""The evaluation interface every model implements, and the Lightning plumbing AE/VAE/CVAE share.

Evaluation talks to a model only through:
  encode(x, y=None)                      -> (code mean, log-variance or None)
  decode(z, y=None)                      -> mean image in [0, 1] (or PCA's linear reconstruction)
  sample(n, y=None, generator=None)      -> generated images
  log_likelihood_bound(x, y=None, k=1)   -> per-image bound in nats (None where undefined)
plus the attributes `latent_dim`, `conditional` and `likelihood` ("bernoulli" or "gaussian").
"""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F

from vaebench.errors import RunDiverged


class LatentModel(L.LightningModule):
    """Shared Lightning plumbing: Adam, loss logging, divergence detection.

    Subclasses implement `objective(x, y) -> dict` whose "loss" is the mean training loss over
    the batch (its validation value drives early stopping and best-weight selection).
    """

    likelihood = "bernoulli"
    conditional = False

    def __init__(self, image_shape: tuple[int, int, int], latent_dim: int, num_classes: int, lr: float):
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.latent_dim = latent_dim
        self.num_classes = num_classes
        self.lr = lr

    # ---- conditioning
    def cond(self, y: torch.Tensor | None) -> torch.Tensor | None:
        if not self.conditional:
            return None
        if y is None:
            raise ValueError(f"{type(self).__name__} needs labels y")
        if y.dtype.is_floating_point:  # already one-hot (or a mixture of one-hots)
            return y
        return F.one_hot(y, self.num_classes).to(self.dtype)

    # ---- Lightning
    def training_step(self, batch, batch_idx):
        x, y = batch
        out = self.objective(x, y)
        loss = out["loss"]
        if not torch.isfinite(loss):
            raise RunDiverged(self.global_step, float(loss))
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        out = self.objective(x, y)
        self.log("val_loss", out["loss"], on_step=False, on_epoch=True, sync_dist=True)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.lr)

    # ---- interface defaults
    def log_likelihood_bound(self, x, y=None, k: int = 1, generator=None):
        return None
