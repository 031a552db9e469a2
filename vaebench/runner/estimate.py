"""How long a sweep will take on this machine: measured throughput times each run's work.

A run's work is counted in images: images to train (max_steps x batch, else max_epochs x the
train split, in whole epochs), the validation split once per epoch, and the test split for the
bounds (with `iwae_k` importance samples each). The seconds per image are measured here, with
the run's own network, batch size, device and thread count: a few optimizer steps for training
(and one k-sample bound on a small test batch for evaluation), once per (dataset, model). PCA
is timed fitting a subset of the train split. FID, disentanglement scores and figures are not
counted, and early stopping can end a run before max_epochs, so the figure is an upper bound
on training and a rough one overall; the live ETA (`runner.progress`) corrects it by how fast
the sweep really goes.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field

import torch

from vaebench.config import RunSpec
from vaebench.data.base import Splits, pixels

TRAIN_STEPS = 3  # timed optimizer steps (after two warm-up steps); their median counts
PCA_SUBSET = 2_000  # train images PCA is timed on
EVAL_BATCH = 8  # test images the k-sample bound is timed on
RUN_OVERHEAD_S = 1.0  # Trainer set-up, checkpoints, the record: per Lightning run
LONG_S = 3600.0  # longer than this on a CPU: suggest a GPU or a smaller suite


@dataclass(frozen=True)
class Rates:
    """Measured seconds per image of one (dataset, model) on this machine."""

    train: float  # one image through forward + backward + optimizer step
    forward: float  # one image through the objective without gradients (validation)
    bound: float  # one test image's k-sample bound (0 for models without one)
    fit: float = 0.0  # PCA: seconds per train image of the fit
    fit_const: float = 0.0  # PCA: seconds of the fit that do not grow with the data (eigh)


@dataclass
class RunWork:
    train_images: int
    val_images: int
    test_images: int
    epochs: int


@dataclass
class Estimate:
    """Seconds per run id (None where it could not be measured), and the device measured on."""

    seconds: dict[str, float | None] = field(default_factory=dict)
    device: str = "cpu"
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> float:
        return sum(s for s in self.seconds.values() if s is not None)

    @property
    def unknown(self) -> int:
        return sum(s is None for s in self.seconds.values())

    def summary(self, what: str = "to run") -> str:
        n = len(self.seconds)
        line = f"expected time on this {self.device}: {format_seconds(self.total)} for {n} run(s) {what}"
        if self.unknown:
            line += f" ({self.unknown} not measurable: not counted)"
        if self.device == "cpu" and self.total > LONG_S:
            line += ("\nthat is long for a CPU: use a GPU (--accelerator gpu), or a CPU-sized suite (smoke, or "
                     "benchmarks/suites/latent_dim_cpu_subset.yaml in the repository), or cut this one with "
                     "--latent-dims / --seeds / --models / --max-epochs")
        return line


def format_seconds(s: float) -> str:
    s = int(round(s))
    days, rest = divmod(s, 86_400)
    h, rest = divmod(rest, 3600)
    m, sec = divmod(rest, 60)
    text = f"{h}:{m:02d}:{sec:02d}"
    return f"{days} day{'s' if days != 1 else ''} {text}" if days else text


def run_work(spec: RunSpec, splits: Splits, epochs_done: int = 0) -> RunWork:
    """The images one run processes (what is left after `epochs_done` epochs of a resumed run)."""
    p = spec.protocol
    n_train = len(splits.train_x)
    steps_per_epoch = p.steps_per_epoch or math.ceil(n_train / p.batch_size)
    steps = p.max_epochs * steps_per_epoch
    if p.max_steps:
        steps = min(steps, p.max_steps)
    epochs = math.ceil(steps / steps_per_epoch)
    left_epochs = max(0, epochs - epochs_done)
    left_steps = max(0, steps - epochs_done * steps_per_epoch)
    return RunWork(left_steps * p.batch_size, left_epochs * len(splits.val_x), len(splits.test_x), left_epochs)


def checkpoint_epochs(store, runs: list[RunSpec]) -> dict[str, int]:
    """Epochs that interrupted runs have finished, read from their checkpoints (run id -> epochs);
    a checkpoint is written at the end of an epoch and holds that epoch's 0-based index."""
    from vaebench.runner.train import checkpoint_epoch

    out = {}
    for spec in runs:
        path = store.checkpoint_path(spec.run_id)
        epoch = checkpoint_epoch(path) if path.is_file() else None
        if epoch is not None:
            out[spec.run_id] = epoch + 1
    return out


def _device(accelerator: str) -> torch.device:
    if accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def _timed(fn, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t


def measure(spec: RunSpec, splits: Splits, device: torch.device) -> Rates:
    """Seconds per image of this run's network (see the module docstring)."""
    threads = torch.get_num_threads()
    if spec.protocol.num_threads:
        torch.set_num_threads(spec.protocol.num_threads)
    try:
        with torch.random.fork_rng(devices=[]):  # the runs' random streams stay untouched
            torch.manual_seed(0)
            return _measure(spec, splits, device)
    finally:
        torch.set_num_threads(threads)


def _measure(spec: RunSpec, splits: Splits, device: torch.device) -> Rates:
    from vaebench.models.registry import build_model

    p = spec.protocol
    model = build_model(spec.model, splits.image_shape, spec.latent_dim, splits.num_classes, p.lr)
    if not isinstance(model, torch.nn.Module):  # PCA: a closed-form fit
        # the fit is a pass over the data (linear in n) plus one eigendecomposition: time two
        # subset sizes and keep the per-image slope and the constant
        n = min(len(splits.train_x) // 2, PCA_SUBSET)
        t1, t2 = (_timed(lambda m=m: model.fit(splits.train_x[:m]), device) for m in (n, 2 * n))
        return Rates(0.0, 0.0, 0.0, fit=max(t2 - t1, t2 / 20) / n, fit_const=max(0.0, 2 * t1 - t2))
    model.to(device)
    model.train_size = len(splits.train_x)  # as runner.train sets it (beta_tcvae's TC needs it)
    b = min(p.batch_size, len(splits.train_x))
    x, y = pixels(splits.train_x[:b]).to(device), splits.train_y[:b].to(device)
    opt = torch.optim.Adam(model.parameters(), lr=p.lr)

    def step():
        opt.zero_grad(set_to_none=True)
        out = model.objective(x, y)
        (out["loss"] + out.get("aux_loss", 0.0)).backward()  # with a discriminator trained alongside (factor_vae)
        opt.step()

    step()  # warm-up: allocator, kernels
    step()
    train = statistics.median(_timed(step, device) for _ in range(TRAIN_STEPS)) / b
    with torch.no_grad():
        forward = _timed(lambda: model.objective(x, y), device) / b
        xt, yt = pixels(splits.test_x[:EVAL_BATCH]).to(device), splits.test_y[:EVAL_BATCH].to(device)
        bound = _timed(lambda: model.log_likelihood_bound(xt, yt, k=p.iwae_k), device) / len(xt)
    return Rates(train, forward, bound)


def run_seconds(spec: RunSpec, splits: Splits, rates: Rates, epochs_done: int = 0) -> float:
    work = run_work(spec, splits, epochs_done)
    if rates.fit:  # PCA: its fit (its evaluation is closed-form and quick)
        return rates.fit_const + rates.fit * len(splits.train_x)
    return (RUN_OVERHEAD_S + rates.train * work.train_images + rates.forward * work.val_images
            + (rates.bound + rates.forward) * work.test_images)


def estimate(runs: list[RunSpec], data: dict, accelerator: str = "auto",
             epochs_done: dict[str, int] | None = None) -> Estimate:
    """Expected seconds of each run, measuring once per (dataset, model) at its largest latent dim.
    `data` maps each run's `dataset_spec` to its splits (as the sweep loads them)."""
    device = _device(accelerator)
    out = Estimate(device="GPU" if device.type == "cuda" else "cpu")
    largest: dict[tuple, RunSpec] = {}
    for spec in runs:
        key = (spec.dataset_spec, spec.model)
        if key not in largest or spec.latent_dim > largest[key].latent_dim:
            largest[key] = spec
    rates: dict[tuple, Rates | None] = {}
    for key, spec in largest.items():
        try:
            rates[key] = measure(spec, data[spec.dataset_spec], device)
        except Exception as exc:  # a plug-in without `objective`, a model that cannot be built here
            rates[key] = None
            out.notes.append(f"{spec.model.name} on {spec.dataset}: not measured ({type(exc).__name__}: {exc})")
    for spec in runs:
        r = rates[(spec.dataset_spec, spec.model)]
        done = (epochs_done or {}).get(spec.run_id, 0)
        out.seconds[spec.run_id] = None if r is None else run_seconds(spec, data[spec.dataset_spec], r, done)
    return out
