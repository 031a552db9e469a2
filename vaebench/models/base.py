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

    # ---- training noise
    _shard: tuple[int, int, int] | None = None  # (rank, world size, global batch rows) during a DDP step

    def noise_like(self, t: torch.Tensor) -> torch.Tensor:
        """Standard normal noise shaped like `t` (rows = this rank's batch rows).

        Under DDP the noise of the whole global batch is drawn (every rank holds the same RNG
        state) and this rank takes its rows, rank::world, as TensorBatches deals them: a DDP
        step then sees exactly the noise of a single-device step, not a per-rank copy of it.
        """
        if self._shard is None:
            return torch.randn_like(t)
        rank, world, rows = self._shard
        return torch.randn((rows, *t.shape[1:]), device=t.device, dtype=t.dtype)[rank::world]

    # ---- Lightning
    def _sharded_objective(self, batch) -> tuple[dict, float, int]:
        """objective() of this rank's rows of a global batch, with the global batch's noise."""
        x, y, weight = batch if len(batch) == 3 else (*batch, 1.0)
        world = self.trainer.world_size if self._trainer is not None else 1
        if world > 1:  # the global batch had world * n_local / weight rows
            self._shard = (self.trainer.global_rank, world, round(world * len(x) / weight))
        try:
            return self.objective(x, y), weight, world
        finally:
            self._shard = None

    def training_step(self, batch, batch_idx):
        out, weight, world = self._sharded_objective(batch)
        x = batch[0]
        loss = out["loss"]
        bad = not bool(torch.isfinite(loss))
        if world > 1:  # every rank stops together (a lone raise would hang DDP)
            bad = self.trainer.strategy.reduce_boolean_decision(bad, all=False)
        if bad:
            raise RunDiverged(self.global_step, float(loss.detach()))
        self.log("train_loss", loss.detach(), on_step=True, on_epoch=False, batch_size=len(x))
        return loss * weight  # weight: this rank's share of the global batch (see TensorBatches)

    def validation_step(self, batch, batch_idx):
        out, _, _ = self._sharded_objective(batch)
        x = batch[0]
        self.log("val_loss", out["loss"], on_step=False, on_epoch=True, sync_dist=True, batch_size=len(x))

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.lr)

    # ---- interface defaults
    def log_likelihood_bound(self, x, y=None, k: int = 1, generator=None):
        return None
