"""Per-epoch training and validation losses, for the record (`record["curves"]`) and the site's
detail view: a Lightning callback, so the model and the Trainer factory know nothing about it.

The training loss of an epoch is the mean of its batches' losses (the objective the model
minimises, as `training_step` returns it), summed on the device and read once per epoch (no
per-batch host sync); the validation loss is the epoch's logged `val_loss`. Its state goes into
checkpoints, so a resumed run's curves hold the epochs before the interruption too.
"""

from __future__ import annotations

import math

from lightning.pytorch.callbacks import Callback


class EpochCurves(Callback):
    def __init__(self):
        self.epochs: list[int] = []
        self.train_loss: list[float | None] = []
        self.val_loss: list[float | None] = []
        self._sum = None
        self._n = 0

    @property
    def state_key(self) -> str:
        return "EpochCurves"

    def on_train_epoch_start(self, trainer, pl_module):
        self._sum, self._n = None, 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if loss is None or not hasattr(loss, "detach"):
            return
        loss = loss.detach().float()
        self._sum = loss if self._sum is None else self._sum + loss
        self._n += 1

    def on_validation_epoch_end(self, trainer, pl_module):
        if trainer.sanity_checking:
            return
        value = trainer.callback_metrics.get("val_loss")
        self._val = _finite(float(value)) if value is not None else None

    def on_train_epoch_end(self, trainer, pl_module):
        train = _finite(float(self._sum) / self._n) if self._n else None
        self.epochs.append(int(trainer.current_epoch))
        self.train_loss.append(train)
        self.val_loss.append(getattr(self, "_val", None))
        self._val = None

    def to_dict(self) -> dict | None:
        """{"epoch": [...], "train_loss": [...], "val_loss": [...]} (0-based epochs; None for a
        non-finite or missing value), or None when no epoch finished."""
        if not self.epochs:
            return None
        return {"epoch": list(self.epochs), "train_loss": list(self.train_loss), "val_loss": list(self.val_loss)}

    def state_dict(self):
        return {"epoch": self.epochs, "train_loss": self.train_loss, "val_loss": self.val_loss}

    def load_state_dict(self, state):
        self.epochs = list(state["epoch"])
        self.train_loss = list(state["train_loss"])
        self.val_loss = list(state["val_loss"])


def _finite(v: float) -> float | None:
    return v if math.isfinite(v) else None
