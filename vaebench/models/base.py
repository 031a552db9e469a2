"""The evaluation interface every model implements, and the Lightning plumbing AE/VAE/CVAE share.

Evaluation talks to a model only through:
  encode(x, y=None)                      -> (code mean, log-variance or None)
  decode(z, y=None)                      -> mean image in [0, 1] (or PCA's linear reconstruction)
  sample(n, y=None, generator=None)      -> generated images
  log_likelihood_bound(x, y=None, k=1, generator=None)
                                         -> per-image bound in nats (None where undefined): the
                                            ELBO for k = 1, a k-sample bound for k > 1, drawing
                                            its noise from `generator`
plus the attributes `latent_dim`, `conditional` and `likelihood` ("bernoulli" or "gaussian").

Training hooks, called by vaebench.runner.train on every rank: `train_size` (the number of
training images, set before fit, for objectives that need the data-set size, e.g. beta-TCVAE's
minibatch-weighted sampling), `dequantize_levels` (set before fit for a density likelihood on
quantised images: the batches are dequantized before the objective sees them) and `after_training(splits)` (after the best weights are restored,
for ex-post steps such as the RAE's Gaussian mixture on the training codes).

That is enough for the `elbo` and `iwae` columns (for a conditional model: `elbo_cond`,
`iwae_cond` given the true label, and `iwae` on log p(x)): evaluation calls
log_likelihood_bound one test image at a time with a generator seeded by that image's index, so
the numbers do not depend on batching. A model that also has
  bound_terms(x, y=None, k=1, generator=None, eps=None) -> {"rec_nll", "kl", "iwae"} per image
(the VAE's) is evaluated a batch at a time with eps = the images' keyed standard normals, shape
(k, N, latent_dim), and adds the `rec_nll` and `kl` columns.
"""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F

from vaebench.errors import RunDiverged


class LatentModel(L.LightningModule):
    """Shared Lightning plumbing: Adam, loss logging, divergence detection.

    Subclasses implement `objective(x, y) -> dict` whose "loss" is the mean training loss over
    the batch (its validation value drives early stopping and best-weight selection). In
    training it may also hold "aux_loss": the loss of a network trained alongside whose
    gradients reach only that network's parameters (FactorVAE's discriminator); it is added to
    "loss" for the backward pass and the divergence check, not logged or validated as the loss.
    """

    likelihood = "bernoulli"
    conditional = False
    train_size: int | None = None  # training images; set by runner.train before fit
    # L for a density likelihood on quantised images (vaebench.metrics.bpd.training_levels), set by
    # runner.train: training and validation batches are then (q + u) / L, u ~ U[0, 1) fresh each batch
    dequantize_levels: int | None = None

    def __init__(self, image_shape: tuple[int, int, int], latent_dim: int, num_classes: int, lr: float):
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.latent_dim = latent_dim
        self.num_classes = num_classes
        self.lr = lr
        self._shard = None  # an instance attribute from the start: a compiled objective guards on it

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
        return self._global_draw(torch.randn, t)

    def _global_draw(self, draw, t: torch.Tensor) -> torch.Tensor:
        if self._shard is None:
            return draw(t.shape, device=t.device, dtype=t.dtype)
        rank, world, rows = self._shard
        return draw((rows, *t.shape[1:]), device=t.device, dtype=t.dtype)[rank::world]

    def dequantized(self, x: torch.Tensor) -> torch.Tensor:
        """(q + u) / L for images x = q / (L - 1), u ~ U[0, 1) drawn like `noise_like` (the global
        batch's rows under DDP), L = `dequantize_levels`."""
        levels = self.dequantize_levels
        return ((x * (levels - 1)).round() + self._global_draw(torch.rand, x)) / levels

    # ---- Lightning
    # the fast mode's compiled objective (runner.train.apply_fast_mode), used for training steps
    compiled_objective = None

    def _sharded_objective(self, batch) -> tuple[dict, float, int]:
        """objective() of this rank's rows of a global batch, with the global batch's noise."""
        x, y, weight = batch if len(batch) == 3 else (*batch, 1.0)
        world = self.trainer.world_size if self._trainer is not None else 1
        if world > 1:  # the global batch had world * n_local / weight rows
            self._shard = (self.trainer.global_rank, world, round(world * len(x) / weight))
        objective = self.compiled_objective if self.training and self.compiled_objective is not None else self.objective
        try:
            if self.dequantize_levels:
                x = self.dequantized(x)
            return objective(x, y), weight, world
        finally:
            self._shard = None

    DIVERGENCE_CHECK_EVERY = 50  # steps between host-side checks (each check waits for the GPU)

    def training_step(self, batch, batch_idx):
        out, weight, world = self._sharded_objective(batch)
        loss = out["loss"] + out["aux_loss"] if "aux_loss" in out else out["loss"]
        # Divergence is recorded on the device (the first step with a non-finite loss) and read
        # on the host only every DIVERGENCE_CHECK_EVERY steps and before validation, so the
        # training loop never stalls on a per-step GPU sync; the step reported is still exact.
        step = torch.full((), self.global_step, device=loss.device, dtype=torch.long)
        self._init_divergence_state(loss.device)
        fresh = (self._first_bad_step < 0) & ~torch.isfinite(loss.detach())
        self._first_bad_step = torch.where(fresh, step, self._first_bad_step)
        self._first_bad_value = torch.where(fresh, loss.detach().float(), self._first_bad_value)
        if (self.global_step + 1) % self.DIVERGENCE_CHECK_EVERY == 0:
            self._raise_if_diverged(world)
        if self.global_step % self.trainer.log_every_n_steps == 0:
            self.log("train_loss", out["loss"].detach(), on_step=True, on_epoch=False, batch_size=len(batch[0]))
        return loss * weight  # weight: this rank's share of the global batch (see TensorBatches)

    _first_bad_step: torch.Tensor | None = None
    _first_bad_value: torch.Tensor | None = None

    def _init_divergence_state(self, device) -> None:
        """First bad step -1 (none yet) and its loss value, as device tensors, once."""
        if self._first_bad_step is None:
            self._first_bad_step = torch.full((), -1, device=device, dtype=torch.long)
            self._first_bad_value = torch.zeros((), device=device)

    def _raise_if_diverged(self, world: int = 1) -> None:
        self._init_divergence_state(self.device)  # also when this rank has taken no step yet
        step, value = self._first_bad_step, self._first_bad_value
        if world > 1:  # every rank learns the earliest bad step of any rank, and stops with it
            steps = self.all_gather(step).flatten()
            values = self.all_gather(value).flatten()
            bad = steps >= 0
            if not bool(bad.any()):
                return
            first = torch.where(bad, steps, torch.iinfo(steps.dtype).max).argmin()
            step, value = steps[first], values[first]
        if int(step) >= 0:
            raise RunDiverged(int(step), float(value))

    def on_validation_start(self):
        self._raise_if_diverged(self.trainer.world_size)

    def on_train_end(self):
        self._raise_if_diverged(self.trainer.world_size)

    def validation_step(self, batch, batch_idx):
        out, _, _ = self._sharded_objective(batch)
        x = batch[0]
        self.log("val_loss", out["loss"], on_step=False, on_epoch=True, sync_dist=True, batch_size=len(x))

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.lr)

    def after_training(self, splits) -> None:
        """Called once after fit with the best weights in place (default: nothing)."""

    # ---- interface defaults
    def log_likelihood_bound(self, x, y=None, k: int = 1, generator=None):
        return None
