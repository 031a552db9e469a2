"""Training: resident-tensor batches, the Trainer factory, best-weights selection.

Lightning holds the engineering (devices, DDP, precision); the models hold the math. Whole
splits live as tensors on the training device; a batch is an index into them, so there is no
per-sample Python work (no Dataset.__getitem__, no collate) in the training loop.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import dataclass

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping

from vaebench.config import Protocol
from vaebench.data.base import Splits, pixels

for _name in ("lightning.pytorch", "lightning.fabric", "lightning"):
    logging.getLogger(_name).setLevel(logging.WARNING)


class TensorBatches:
    """Iterates over (x, y) mini-batches of resident tensors.

    `batch_size` is the global batch; under DDP each rank takes its 1/world_size slice of every
    global batch, so a DDP run optimises the same objective as a single-device run. The shuffle
    of epoch e is a permutation drawn from a generator seeded with (seed, e): reproducible and
    identical on every rank.
    """

    def __init__(self, x, y, batch_size: int, shuffle: bool, seed: int = 0, rank: int = 0, world_size: int = 1):
        self.x, self.y = x, y
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self.rank, self.world_size = rank, world_size
        self.epoch = 0

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    def __iter__(self):
        n = len(self.x)
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            order = torch.randperm(n, generator=g).to(self.x.device)
        else:
            order = torch.arange(n, device=self.x.device)
        self.epoch += 1
        per_rank = math.ceil(self.batch_size / self.world_size)
        for start in range(0, n, self.batch_size):
            idx = order[start : start + self.batch_size][self.rank * per_rank : (self.rank + 1) * per_rank]
            yield pixels(self.x[idx]), self.y[idx]


class ResidentData(L.LightningDataModule):
    """Moves the splits to the training device once, then serves index batches from it."""

    def __init__(self, splits: Splits, batch_size: int, eval_batch_size: int, seed: int):
        super().__init__()
        self.splits, self.batch_size, self.eval_batch_size, self.seed = splits, batch_size, eval_batch_size, seed

    def setup(self, stage: str) -> None:
        device = self.trainer.strategy.root_device
        self.rank, self.world = self.trainer.global_rank, self.trainer.world_size
        s = self.splits
        self.train = (s.train_x.to(device), s.train_y.to(device))
        self.val = (s.val_x.to(device), s.val_y.to(device))

    def train_dataloader(self):
        return TensorBatches(*self.train, self.batch_size, True, self.seed, self.rank, self.world)

    def val_dataloader(self):
        return TensorBatches(*self.val, self.eval_batch_size, False, 0, self.rank, self.world)


class BestWeights(Callback):
    """Keeps the weights of the epoch with the lowest validation loss and restores them at the end
    (model selection on the validation split, never on the test split)."""

    def __init__(self, monitor: str = "val_loss"):
        self.monitor = monitor
        self.best = math.inf
        self.best_epoch = -1
        self.state = None

    def on_validation_epoch_end(self, trainer, pl_module):
        value = trainer.callback_metrics.get(self.monitor)
        if value is not None and math.isfinite(float(value)) and float(value) < self.best:
            self.best, self.best_epoch = float(value), trainer.current_epoch
            self.state = copy.deepcopy(pl_module.state_dict())

    def on_fit_end(self, trainer, pl_module):
        if self.state is not None:
            pl_module.load_state_dict(self.state)


@dataclass
class TrainInfo:
    epochs: int
    steps: int
    best_epoch: int
    best_val_loss: float
    seconds: float

    def to_dict(self):
        return self.__dict__.copy()


def make_trainer(protocol: Protocol, accelerator: str = "auto", devices="auto", progress: bool = False, callbacks=()):
    cbs = list(callbacks)
    if protocol.patience > 0:
        cbs.append(EarlyStopping(monitor="val_loss", patience=protocol.patience, check_finite=True))
    return L.Trainer(
        max_epochs=protocol.max_epochs,
        max_steps=protocol.max_steps or -1,
        limit_train_batches=protocol.steps_per_epoch or None,
        accelerator=accelerator,
        devices=devices,
        deterministic=True,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=progress,
        num_sanity_val_steps=0,
        callbacks=cbs,
    )


def train(model, splits: Splits, protocol: Protocol, seed: int, accelerator="auto", devices="auto", progress=False) -> TrainInfo:
    """Fits `model` in place (PCA: a closed-form fit) and returns what happened."""
    start = time.perf_counter()
    if not isinstance(model, L.LightningModule):
        model.fit(splits.train_x)
        return TrainInfo(0, 0, 0, float("nan"), time.perf_counter() - start)
    L.seed_everything(seed, workers=False, verbose=False)
    best = BestWeights()
    trainer = make_trainer(protocol, accelerator, devices, progress, callbacks=[best])
    data = ResidentData(splits, protocol.batch_size, protocol.eval_batch_size, seed)
    trainer.fit(model, datamodule=data)
    return TrainInfo(trainer.current_epoch, trainer.global_step, best.best_epoch, best.best, time.perf_counter() - start)
