"""How long a sweep will take on this machine: measured throughput times each run's work.

A run's work, counted per image and timed here with the run's own network, batch sizes,
device, thread count and the code that does the work:
  * training: max_steps x batch (else max_epochs x the train split, in whole epochs), timed as
    a few optimizer steps; the validation split once per epoch, timed as the objective;
  * evaluation: the test split encoded and decoded (mse, codes), the bound pass timed as
    `runner.evaluate.chunk_bounds` on one chunk of the size evaluation uses (so its k, the
    CVAE's label marginal and the dequantization are all in it), the train split encoded for
    the probe and the probe's fit (timed on a subset and scaled);
  * FID: per sample source (prior samples; fitted Gaussian and mixture for deterministic
    models; reconstructions) n decodes and n backbone feature passes, the mixture's fit, and the
    reference features once per sweep and data set;
  * the sample metrics beyond FID per source: precision/recall/density/coverage (the samples'
    own k-NN radii and their distances to the test split: pairwise distances, timed on
    SAMPLE_METRIC_FEATURES random features of the backbone's width and scaled by the number of
    pairs) and KID (a fixed number of fixed-size subsets: timed as is); the test split's radii
    once per sweep and data set.
PCA is timed fitting two subset sizes. Disentanglement scores and figures are not counted (a
note says so where a suite has them). Measured once per (dataset, model) at its largest latent
dim, so smaller dims are over-estimated a little; early stopping can end runs before
max_epochs, so the total is an upper bound. The live ETA (`runner.progress`) corrects it by how
fast the sweep really goes.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field

import torch
from threadpoolctl import threadpool_limits

from vaebench.config import RunSpec
from vaebench.data.base import Splits, pixels

TRAIN_STEPS = 3  # timed optimizer steps (after two warm-up steps); their median counts
PCA_SUBSET = 2_000  # train images PCA is timed on
PROBE_SUBSET = 5_000  # codes the probe's fit (and the code mixture's) is timed on, then scaled to the train split
FEATURE_IMAGES = 500  # images the FID backbone and the sample decoder are timed on
SAMPLE_METRIC_FEATURES = 2_000  # features per set the k-NN measures and KID are timed on
RUN_OVERHEAD_S = 1.0  # Trainer set-up, checkpoints, the record: per Lightning run
LONG_S = 3600.0  # longer than this on a CPU: suggest a GPU or a smaller suite


@dataclass(frozen=True)
class Rates:
    """Measured seconds per image of one (dataset, model) on this machine."""

    train: float  # one image through forward + backward + optimizer step
    forward: float  # one image through the objective without gradients (validation)
    bound: float  # one test image's bound columns (`chunk_bounds`; 0 for models without bounds)
    fit: float = 0.0  # PCA: seconds per train image of the fit
    fit_const: float = 0.0  # PCA: seconds of the fit that do not grow with the data (eigh)
    encode: float = 0.0  # one image encoded (the probe's train codes)
    reconstruct: float = 0.0  # one image encoded and decoded (mse, codes, fid_recon)
    probe: float = 0.0  # the probe's fit, per train code
    decode: float = 0.0  # one FID sample decoded
    features: float = 0.0  # one image through the FID backbone (0: no FID)
    fid_sources: int = 0  # FID sample sources besides the reconstructions (prior; fitted, mixture)
    mixture: float = 0.0  # the code mixture's fit per train code (deterministic models)
    pair: float = 0.0  # the k-NN measures per feature pair (a sample vs a sample or a test image)
    kid: float = 0.0  # KID of one source (its subsets do not grow with n)
    reference: float = 0.0  # the reference (test split) features and radii, once per sweep and data set


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
    shared_s: float = 0.0  # work done once per sweep, not per run (FID reference features)

    @property
    def total(self) -> float:
        return self.shared_s + sum(s for s in self.seconds.values() if s is not None)

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
        rates = Rates(0.0, 0.0, 0.0, fit=max(t2 - t1, t2 / 20) / n, fit_const=max(0.0, 2 * t1 - t2))
        return _with_evaluation(rates, model, spec, splits, device)
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
    model.eval()
    with torch.no_grad():
        forward = _timed(lambda: model.objective(x, y), device) / b
    return _with_evaluation(Rates(train, forward, 0.0), model, spec, splits, device)


def _with_evaluation(rates: Rates, model, spec: RunSpec, splits: Splits, device: torch.device) -> Rates:
    """`rates` with evaluation's and FID's per-image costs, timed with the code that evaluates."""
    from vaebench.metrics.bpd import quantization_levels
    from vaebench.metrics.code_gmm import fit_code_gmm
    from vaebench.metrics.fid import applicable_metrics, model_kind
    from vaebench.metrics.probe import probe_accuracy
    from vaebench.runner.evaluate import (
        bound_chunk,
        bound_context,
        bound_kind,
        chunk_bounds,
        decodes_per_image,
    )

    p = spec.protocol
    out = dict(rates.__dict__)
    nb = min(p.eval_batch_size, len(splits.test_x))
    xt, yt = pixels(splits.test_x[:nb]).to(device), splits.test_y[:nb].to(device)
    with torch.no_grad():
        out["reconstruct"] = _timed(lambda: model.decode(model.encode(xt, yt)[0], yt), device) / nb
        out["encode"] = _timed(lambda: model.encode(xt, yt), device) / nb
        kind = bound_kind(model, xt[:1], yt[:1])
        if kind in ("terms", "bound"):
            cond = bool(model.conditional)
            chunk = bound_chunk(device, decodes_per_image(p.iwae_k, cond, splits.num_classes), p.eval_batch_size,
                                len(splits.test_x))
            ctx = bound_context(model, kind, splits, p.iwae_k, 0, quantization_levels(splits.test_x))
            index = torch.arange(chunk, device=device)
            chunk_bounds(model, ctx, xt[:chunk], yt[:chunk], index)  # warm-up
            out["bound"] = _timed(lambda: chunk_bounds(model, ctx, xt[:chunk], yt[:chunk], index), device) / chunk
    gen = torch.Generator().manual_seed(0)
    m = min(PROBE_SUBSET, len(splits.train_x))
    d = max(1, spec.latent_dim)
    codes = torch.randn(m, d, generator=gen, dtype=torch.float64)
    labels = splits.train_y[:m].numpy()
    with threadpool_limits(limits=1):  # as evaluation fits it
        out["probe"] = _timed(lambda: probe_accuracy(codes.numpy(), labels, codes[:100].numpy(), labels[:100]), device) / m
    if p.fid_backbone != "none":
        from vaebench.metrics.fid_backbone import fid_unavailable, get_backbone

        if not fid_unavailable(splits, p.fid_backbone):
            bb = get_backbone(splits, p.fid_backbone)
            nf = min(FEATURE_IMAGES, len(splits.test_x))
            xf = pixels(splits.test_x[:nf]).to(device)
            with torch.no_grad():
                module = bb.module.to(device)
                out["features"] = _timed(lambda: module(xf), device) / nf  # as the FID metric calls it
                z = torch.randn(nf, d, generator=gen).to(device)
                zd = z.double() if not isinstance(model, torch.nn.Module) else z
                out["decode"] = _timed(lambda: model.decode(zd, yt[:nf] if model.conditional else None), device) / nf
            names = applicable_metrics(model, model_kind(model, xt[:1], yt[:1]))
            out["fid_sources"] = len(names) - 1
            if "fid_samples_gmm" in names:
                out["mixture"] = _timed(lambda: fit_code_gmm(codes), device) / m
            out["pair"], out["kid"] = _sample_metric_rates(bb.feature_dim, len(splits.test_x), p.fid_samples or len(splits.test_x), gen)
            out["reference"] = out["features"] * len(splits.test_x) + out["pair"] * len(splits.test_x) ** 2
    return Rates(**out)


def _sample_metric_rates(width: int, n_test: int, n_fid: int, gen: torch.Generator) -> tuple[float, float]:
    """(seconds per feature pair of the k-NN measures, seconds of one source's KID), timed on
    random features of the backbone's width as the FID metric calls them (CPU, float64)."""
    from vaebench.metrics.kid import kernel_inception_distance, subset_size_for
    from vaebench.metrics.prdc import DC_K, PR_K, knn_radii, manifold_metrics

    n = min(SAMPLE_METRIC_FEATURES, n_test, n_fid)
    if n <= max(PR_K, DC_K):
        return 0.0, 0.0
    real, fake = torch.randn(n, width, generator=gen), torch.randn(n, width, generator=gen)
    radii = knn_radii(real, (PR_K, DC_K))
    pairs = 2 * n * n  # the samples' own radii, then samples x test images
    pair = _timed(lambda: manifold_metrics(real, fake, real_radii=radii), torch.device("cpu")) / pairs
    m = subset_size_for(n_test, n_fid)  # KID's cost depends on its subset size, and on whether a set exceeds it
    real_k, fake_k = (torch.randn(min(n_all, m + 1), width, generator=gen) for n_all in (n_test, n_fid))
    kid = _timed(lambda: kernel_inception_distance(real_k, fake_k, seed=0), torch.device("cpu"))
    return pair, kid


def run_seconds(spec: RunSpec, splits: Splits, rates: Rates, epochs_done: int = 0) -> float:
    """One run's expected seconds (without the FID reference features, counted once per sweep)."""
    work = run_work(spec, splits, epochs_done)
    n_train, n_test = len(splits.train_x), work.test_images
    n_fid = spec.protocol.fid_samples or n_test
    evaluation = (rates.reconstruct * n_test + rates.bound * n_test + (rates.encode + rates.probe) * min(n_train, 60_000))
    fid = 0.0
    if rates.features:
        sources = rates.fid_sources + 1  # the sample sources and the reconstructions
        fid = (rates.fid_sources * n_fid * (rates.decode + rates.features) + n_test * rates.features
               + rates.mixture * n_train + sources * (rates.pair * (n_fid * n_fid + n_fid * n_test) + rates.kid))
    if rates.fit:  # PCA: its fit, then the evaluation of any model
        return rates.fit_const + rates.fit * n_train + evaluation + fid
    return (RUN_OVERHEAD_S + rates.train * work.train_images + rates.forward * work.val_images + evaluation + fid)


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
    references: dict[str, float] = {}
    for spec in runs:
        r = rates[(spec.dataset_spec, spec.model)]
        done = (epochs_done or {}).get(spec.run_id, 0)
        out.seconds[spec.run_id] = None if r is None else run_seconds(spec, data[spec.dataset_spec], r, done)
        if r is not None and r.reference:
            references.setdefault(str(spec.dataset_spec), r.reference)
    out.shared_s = sum(references.values())
    if any(getattr(data[s.dataset_spec], "ground_truth", None) is not None for s in runs):
        out.notes.append("disentanglement scores are not counted")
    if any(s.protocol.patience for s in runs):
        out.notes.append("an upper bound: early stopping can end runs before max_epochs")
    return out
