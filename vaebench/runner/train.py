"""Training: resident-tensor batches, the Trainer factory, best-weights selection.

Lightning holds the engineering (devices, DDP, precision); the models hold the math. Whole
splits live as tensors on the training device; a batch is an index into them, so there is no
per-sample Python work (no Dataset.__getitem__, no collate) in the training loop. A split too
large to hold (`vaebench.data.streamed.ImageFiles` or `ImageRows`, e.g. CelebA, Shapes3D) is
streamed instead: the same batch plan (shuffle, DDP rows, weights), each batch read by a
DataLoader worker.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping

from vaebench.config import Protocol
from vaebench.data.base import Splits, pixels
from vaebench.metrics.bpd import training_levels
from vaebench.runner.determinism import check_cublas_ready, trainer_flags
from vaebench.runner.fit_cache import fit_closed_form
from vaebench.store import temp_name

for _name in ("lightning.pytorch", "lightning.fabric", "lightning"):
    logging.getLogger(_name).setLevel(logging.WARNING)


class TensorBatches:
    """Iterates over (x, y, weight) mini-batches of resident tensors.

    `batch_size` is the global batch. Under DDP rank r takes rows r, r + W, r + 2W, ... of every
    global batch (W = world size), and `weight` = W * n_local / n_global scales its mean loss so
    that DDP's gradient average is exactly the gradient of the global batch's mean loss: a DDP
    run optimises the same objective, step for step, as a single-device run. A last partial
    batch smaller than W (which would leave a rank empty) is dropped on every rank.

    The shuffle of epoch e is a permutation drawn from a generator seeded with (seed, e), the
    epoch read from `epoch_fn` (the Trainer's epoch): reproducible, identical on every rank, and
    the same after resuming from a checkpoint as in an uninterrupted run.

    With `binarize` (MNIST's dynamic binarisation) every batch is re-drawn as x ~ Bernoulli(pixels):
    the uniforms of the whole global batch come from a generator seeded by (seed, epoch, batch),
    and each rank thresholds its own rows, so the binary images do not depend on the world size.

    With `drop_last` every batch is a full one (a compiled training step then sees one shape:
    the fast mode's static shapes); without it the last batch holds what is left.
    """

    def __init__(self, x, y, batch_size: int, shuffle: bool, seed: int = 0, rank: int = 0, world_size: int = 1, epoch_fn=None,
                 binarize: bool = False, drop_last: bool = False):
        self.x, self.y = x, y
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self.rank, self.world_size = rank, world_size
        self.epoch_fn = epoch_fn or (lambda: 0)
        self.binarize = binarize
        self.drop_last = drop_last

    def _starts(self):
        n = len(self.x)
        smallest = self.batch_size if self.drop_last else self.world_size
        return [s for s in range(0, n, self.batch_size) if min(self.batch_size, n - s) >= smallest]

    def __len__(self) -> int:
        return len(self._starts())

    def plan(self, device=None):
        """(this rank's row indices, weight, global batch rows) of every batch of the current epoch,
        the indices on `device` (the CPU by default: a DataLoader's sampler hands them to workers)."""
        n = len(self.x)
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 100_003 + int(self.epoch_fn()))
            order = torch.randperm(n, generator=g).to(device)
        else:
            order = torch.arange(n, device=device)
        for start in self._starts():
            batch = order[start : start + self.batch_size]
            idx = batch[self.rank :: self.world_size]
            yield idx, self.world_size * len(idx) / len(batch), len(batch)

    def __iter__(self):
        device = self.x.device
        epoch = int(self.epoch_fn())
        for b, (idx, weight, rows) in enumerate(self.plan(device)):
            x = pixels(self.x[idx])
            if self.binarize:
                g = torch.Generator(device=device).manual_seed((self.seed * 100_003 + epoch) * 1_000_003 + b)
                u = torch.rand((rows, *x.shape[1:]), generator=g, device=device)
                x = (u[self.rank :: self.world_size] < x).to(x.dtype)
            yield x, self.y[idx], weight


class _PlannedBatches(torch.utils.data.Dataset):
    """A DataLoader "dataset" whose keys are whole batches: key (indices, weight) -> (x, y, weight)."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __getitem__(self, key):
        idx, weight, _ = key
        return pixels(self.x[idx]), self.y[idx], weight


class _Plan(torch.utils.data.Sampler):
    def __init__(self, batches: TensorBatches):
        self.batches = batches

    def __iter__(self):
        return iter(self.batches.plan())

    def __len__(self) -> int:
        return len(self.batches)


def loader_workers() -> int:
    """DataLoader workers of the streamed path: $VAEBENCH_WORKERS, default min(8, CPUs - 1)."""
    default = max(0, min(8, (os.cpu_count() or 1) - 1))
    try:
        return max(0, int(os.environ.get("VAEBENCH_WORKERS", default)))
    except ValueError:
        return default


def streamed(batches: TensorBatches) -> torch.utils.data.DataLoader:
    """The batches of `batches` (same plan) read from disk by DataLoader workers (no binarisation:
    only resident MNIST has it)."""
    if batches.binarize:
        raise ValueError("dynamic binarisation is drawn on resident tensors only")
    workers = loader_workers()
    return torch.utils.data.DataLoader(_PlannedBatches(batches.x.cpu(), batches.y.cpu()), sampler=_Plan(batches),
                                       batch_size=None, num_workers=workers, pin_memory=torch.cuda.is_available(),
                                       persistent_workers=False, prefetch_factor=4 if workers else None)


class ResidentData(L.LightningDataModule):
    """Moves the splits to the training device once, then serves index batches from it; splits
    held as files are streamed through DataLoader workers with the same batch plan.
    `drop_last` drops the last partial training batch (validation keeps every image)."""

    def __init__(self, splits: Splits, batch_size: int, eval_batch_size: int, seed: int, drop_last: bool = False):
        super().__init__()
        self.splits, self.batch_size, self.eval_batch_size, self.seed = splits, batch_size, eval_batch_size, seed
        self.drop_last = drop_last

    def setup(self, stage: str) -> None:
        device = self.trainer.strategy.root_device
        self.rank, self.world = self.trainer.global_rank, self.trainer.world_size
        s = self.splits
        # a split read on demand (ImageFiles, ImageRows) stays on disk: its batches come through DataLoader workers
        self.streamed = not isinstance(s.train_x, torch.Tensor)
        where = "cpu" if self.streamed else device
        self.train = (s.train_x.to(where), s.train_y.to(where))
        self.val = (s.val_x.to(where), s.val_y.to(where))

    def train_dataloader(self):
        batches = TensorBatches(*self.train, self.batch_size, True, self.seed, self.rank, self.world,
                                lambda: self.trainer.current_epoch,
                                binarize=getattr(self.splits, "dynamic_binarization", False), drop_last=self.drop_last)
        return streamed(batches) if self.streamed else batches

    def val_dataloader(self):
        batches = TensorBatches(*self.val, self.eval_batch_size, False, 0, self.rank, self.world)
        return streamed(batches) if self.streamed else batches


class BestWeights(Callback):
    """Keeps the weights of the epoch with the lowest validation loss and restores them at the end
    (model selection on the validation split, never on the test split). Its state goes into
    checkpoints, so a resumed run selects among all its epochs."""

    def __init__(self, monitor: str = "val_loss"):
        self.monitor = monitor
        self.best = math.inf
        self.best_epoch = -1
        self.state = None

    def on_validation_epoch_end(self, trainer, pl_module):
        value = trainer.callback_metrics.get(self.monitor)
        if value is not None and math.isfinite(float(value)) and float(value) < self.best:
            self.best, self.best_epoch = float(value), trainer.current_epoch
            self.state = {k: v.detach().clone() for k, v in pl_module.state_dict().items()}

    def on_fit_end(self, trainer, pl_module):
        if self.state is not None:
            pl_module.load_state_dict(self.state)

    def state_dict(self):
        return {"best": self.best, "best_epoch": self.best_epoch, "state": self.state}

    def load_state_dict(self, state):
        self.best, self.best_epoch, self.state = state["best"], state["best_epoch"], state["state"]


def checkpoint_interval_s() -> float:
    """Seconds between epoch checkpoints: $VAEBENCH_CHECKPOINT_EVERY_S, default 30 (0 = every epoch)."""
    try:
        return float(os.environ.get("VAEBENCH_CHECKPOINT_EVERY_S", "30"))
    except ValueError:
        return 30.0


class LastCheckpoint(Callback):
    """Writes `path` (a full Lightning checkpoint) at the end of an epoch once `every_s` seconds
    have passed since the run started or was last saved (saving every epoch of a 0.1 s epoch
    would cost more than the epoch), atomically: to a temporary file, then renamed over the old
    one, so a kill -9 at any moment leaves either the previous checkpoint or the new one, never
    a torn file. At most `every_s` of training is lost. The checkpoint also holds the torch RNG
    states, so a resumed run draws the same noise as an uninterrupted one."""

    def __init__(self, path: Path, every_s: float | None = None):
        self.path = Path(path)
        self.every_s = checkpoint_interval_s() if every_s is None else every_s
        self.last = time.monotonic()

    def on_train_epoch_end(self, trainer, pl_module):
        # a stopping run is about to finish: its record, not a checkpoint, is what comes next
        # (a checkpoint saved now would resume into one more epoch than the uninterrupted run)
        due = time.monotonic() - self.last >= self.every_s and not trainer.should_stop
        if trainer.world_size > 1:  # the save is collective: decide together
            due = trainer.strategy.reduce_boolean_decision(due, all=False)
        if not due:
            return
        self.last = time.monotonic()
        tmp = self.path.with_name(f"{temp_name(self.path)}tmp")
        trainer.save_checkpoint(tmp, weights_only=False)  # collective under DDP; rank 0 writes
        if trainer.is_global_zero:
            os.replace(tmp, self.path)
        trainer.strategy.barrier("vaebench-last-checkpoint")

    def state_dict(self):
        # rank 0's states; every rank holds the same ones (same seed, same global-batch draws)
        state = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state()  # the current device's generator
        return state

    def load_state_dict(self, state):
        torch.set_rng_state(state["torch"])
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state(state["cuda"])  # onto this rank's current device


@dataclass
class TrainInfo:
    epochs: int
    steps: int
    best_epoch: int
    best_val_loss: float
    seconds: float
    resumed_from_epoch: int | None = None

    def to_dict(self):
        return self.__dict__.copy()


@dataclass(frozen=True)
class Launch:
    """How Lightning runs one training: accelerator, devices per node, nodes, strategy."""

    accelerator: str = "auto"
    devices: object = "auto"
    num_nodes: int = 1
    strategy: str = "auto"


DEFAULT_LAUNCH = Launch()
DDP_TIMEOUT_HOURS = 6


def make_trainer(protocol: Protocol, launch: Launch = DEFAULT_LAUNCH, callbacks=(), logger=None):
    cbs = list(callbacks)
    if protocol.patience > 0:
        # checked at validation end, i.e. before LastCheckpoint saves at the epoch's end, so a
        # checkpoint holds the early-stopping state after that epoch's check
        cbs.insert(1, EarlyStopping(monitor="val_loss", patience=protocol.patience, check_finite=True,
                                    check_on_train_epoch_end=False))
    strategy = launch.strategy
    if strategy == "ddp":
        from lightning.pytorch.strategies import DDPStrategy

        # rank 0 alone computes FID / disentanglement / figures while the others wait at the
        # next run's first collective: allow hours, not torch's default 30 minutes
        strategy = DDPStrategy(timeout=dt.timedelta(hours=DDP_TIMEOUT_HOURS))
    return L.Trainer(
        max_epochs=protocol.max_epochs,
        max_steps=protocol.max_steps or -1,
        limit_train_batches=protocol.steps_per_epoch or None,
        accelerator=launch.accelerator,
        devices=launch.devices,
        num_nodes=launch.num_nodes,
        strategy=strategy,
        precision=protocol.precision,
        **trainer_flags(protocol.deterministic),  # per mode: vaebench.runner.determinism
        logger=logger if logger is not None else False,
        log_every_n_steps=10,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=False,  # the sweep's own view shows epochs (runner.progress)
        num_sanity_val_steps=0,
        use_distributed_sampler=False,  # our batch plans deal the rows to the ranks themselves
        callbacks=cbs,
    )


FUSED_ADAM_DEVICES = ("cuda",)


def compile_backend() -> str:
    """torch.compile's backend: $VAEBENCH_COMPILE_BACKEND, default inductor. The tests use
    aot_eager: the same graph capture and the same traced backward, without generating kernels
    (which takes minutes on a small CPU)."""
    return os.environ.get("VAEBENCH_COMPILE_BACKEND", "inductor")


def compiled(fn, mode: str):
    """`fn` under torch.compile with static shapes (dynamic=False: a second batch shape is a
    recompilation, never a switch to slower shape-generic kernels)."""
    backend = compile_backend()
    options = {"mode": mode} if backend == "inductor" else {}
    return torch.compile(fn, backend=backend, dynamic=False, **options)


def fused_adam(optimizers, devices=FUSED_ADAM_DEVICES):
    """torch.optim.Adam optimizers rebuilt with `fused=True` (one kernel updates every parameter)
    when all their parameters are on `devices`; anything else (lists: each) is returned as it is.
    Called before the first step, so there is no optimizer state to carry over."""
    if isinstance(optimizers, (list, tuple)):
        return type(optimizers)(fused_adam(o, devices) for o in optimizers)
    opt = optimizers
    params = [p for g in getattr(opt, "param_groups", ()) for p in g["params"]]
    if type(opt) is not torch.optim.Adam or not params or any(p.device.type not in devices for p in params):
        return opt
    groups = [{**g, "fused": True, "foreach": None} for g in opt.param_groups]
    defaults = {k: v for k, v in opt.defaults.items() if k not in ("fused", "foreach")}
    return torch.optim.Adam(groups, **defaults, fused=True)


def _copied_outputs(objective):
    def run(x, y=None):
        return {k: v.clone() for k, v in objective(x, y).items()}

    return run


def apply_fast_mode(model, protocol: Protocol) -> None:
    """The protocol's opt-in speed settings that live on the model, in place (precision is the
    Trainer's): channels_last weights; with `protocol.compile`, the training objective (forward,
    likelihood, KL: one compiled region, whose backward AOTAutograd traces as one graph too)
    compiled for training steps, validation staying eager (its batches have another size and no
    gradient: compiling them would only add recompilations), and Adam fused on CUDA. A model
    without LatentModel's objective hook (a plug-in) gets its child networks compiled instead."""
    if protocol.channels_last:
        model.to(memory_format=torch.channels_last)
    if not protocol.compile:
        return
    if hasattr(model, "compiled_objective"):
        objective = compiled(model.objective, protocol.compile)
        if protocol.compile == "reduce-overhead":  # CUDA graphs: the next replay overwrites outputs,
            model.compiled_objective = _copied_outputs(objective)  # and logged values outlive a step
        else:
            model.compiled_objective = objective
    else:
        for child in model.children():
            child.compile(mode=protocol.compile)
    configure = model.configure_optimizers
    model.configure_optimizers = lambda: fused_adam(configure())


def undo_compile(model) -> None:
    """Back to eager modules after training: evaluation always runs eager and in float32."""
    model.__dict__.pop("compiled_objective", None)
    model.__dict__.pop("configure_optimizers", None)
    for child in model.children():
        child._compiled_call_impl = None


def checkpoint_epoch(path: Path) -> int | None:
    """The epoch a checkpoint was written after, or None when it is missing or unreadable."""
    try:
        return int(torch.load(path, map_location="cpu", weights_only=True)["epoch"])
    except Exception:  # missing, torn by a kill, or not a checkpoint: start from scratch
        return None


def train(model, splits: Splits, protocol: Protocol, seed: int, launch: Launch = DEFAULT_LAUNCH, extra_callbacks=(),
          checkpoint: Path | None = None, logger=None) -> TrainInfo:
    """Fits `model` in place (PCA: a closed-form fit) and returns what happened.

    With `checkpoint`, the run's state is saved there after every epoch, and a run that finds
    a readable checkpoint there resumes from it (else it starts from scratch).
    """
    start = time.perf_counter()
    if not isinstance(model, L.LightningModule):
        fit_closed_form(model, splits)  # a PCA is fitted once per configuration (runner.fit_cache)
        return TrainInfo(0, 0, 0, float("nan"), time.perf_counter() - start)
    L.seed_everything(seed, workers=False, verbose=False)
    if protocol.deterministic:
        check_cublas_ready()
    apply_fast_mode(model, protocol)
    best = BestWeights()
    callbacks = [best, *extra_callbacks]
    resume = None
    if checkpoint is not None:
        checkpoint = Path(checkpoint)
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
        callbacks.append(LastCheckpoint(checkpoint))
        resumed_epoch = checkpoint_epoch(checkpoint)
        resume = checkpoint if resumed_epoch is not None else None
    trainer = make_trainer(protocol, launch, callbacks=callbacks, logger=logger)
    data = ResidentData(splits, protocol.batch_size, protocol.eval_batch_size, seed, drop_last=bool(protocol.compile))
    model.train_size = len(splits.train_x)
    model.dequantize_levels = training_levels(model, splits.train_x)
    try:
        trainer.fit(model, datamodule=data, ckpt_path=resume, weights_only=True)
    finally:
        undo_compile(model)
        model.to(trainer.strategy.root_device)  # Lightning's teardown moved it to the CPU
    if hasattr(model, "after_training"):  # plug-ins need not derive from LatentModel
        model.after_training(splits)
    return TrainInfo(trainer.current_epoch, trainer.global_step, best.best_epoch, best.best, time.perf_counter() - start,
                     resumed_epoch if resume is not None else None)
