"""The one place that turns a trained model into metrics (all on the test split).

Per-image quantities are accumulated with torchmetrics `MeanMetric` states in float64. Under DDP
the test batches are dealt round-robin to the ranks, the states are synced when every rank calls
`compute()`, and the codes are gathered back in batch order.

Posterior noise is keyed by test image, not by batch (vaebench.metrics.noise): image j's noise
is a function of (seed, j) only, so the metrics do not depend on the evaluation batch size or
the number of ranks, beyond float64 summation order and the float32 network's own batch-size
round-off.

Which bound columns a model gets:
  * `bound_terms(x, y, k, generator=None, eps=None)` (VAE, CVAE, their subclasses): elbo, iwae,
    rec_nll, kl from one call with eps = the images' keyed noise, shape (k, N, latent_dim);
  * only `log_likelihood_bound(x, y=None, k=1, generator=None)` returning a tensor (the
    documented plug-in interface): elbo from k = 1 and iwae from k = protocol.iwae_k, called one
    image at a time with that image's own generator (vaebench.metrics.noise.image_generator), so
    the noise is keyed by image here too; rec_nll and kl stay empty (the bound gives no split);
  * a Gaussian likelihood (PCA): ppca_ll, the exact log-likelihood.
A conditional model's bounds given the true label go to the `*_cond` columns, and its `iwae` is
the bound on log p(x) = log sum_y p(y) p(x|y) by stratified importance sampling over the labels
(`stratified_marginal`: k samples for the test label's stratum, max(1, k // 64) for every
label's); its `elbo` stays empty.

Likelihoods with a density on [0, 1]^D (Gaussian, continuous Bernoulli) on test images with L
quantisation levels: elbo, iwae, rec_nll and kl (and the CVAE's `*_cond`) are bounds on the
test images dequantized with one keyed uniform draw each (vaebench.metrics.bpd), in nats: a
density evaluated at the grid points of quantised data is not a likelihood of those data, while
E_u log p((q + u) / L) - D log L bounds the discrete model's log-probability. `bpd` is then that
iwae in bits/dim, from the same k-sample pass; PPCA's bpd is exact. Bernoulli models, the AE and
plug-ins leave bpd empty, and their bounds are on the stored images.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass

import torch
from threadpoolctl import threadpool_limits
from torchmetrics.aggregation import MeanMetric

from vaebench.config import Protocol
from vaebench.data.base import Splits, pixels
from vaebench.metrics.bpd import (
    DENSITY_LIKELIHOODS,
    bits_per_dim,
    dequantize,
    ppca_expected_log_density,
    quantization_levels,
)
from vaebench.metrics.catalog import METRICS
from vaebench.metrics.code_gmm import ENCODE_BATCH, encode_codes
from vaebench.metrics.latent import active_units
from vaebench.metrics.noise import image_generator, image_normals
from vaebench.metrics.probe import probe_accuracy

PROBE_MAX_TRAIN = 60_000  # the probe fits on at most this many train codes (all of digits and Fashion)
# decodes per bound call, by device type: a CPU's caches favour small calls (benchmarks/
# bound_chunk.py: one call of 65,536 decodes took 3-4x the time of 64 calls of 1,024), a GPU
# needs large ones to fill it (the CUDA figure is not measured on a GPU yet)
DECODES_PER_CALL = {"cpu": 1024, "cuda": 65_536}
MARGINAL_SAMPLES_DIVISOR = 64  # the CVAE marginal's other labels get max(1, k // 64) samples each
MARGINAL_SEED_OFFSET = 52_711  # their noise stream, apart from the test label's k samples


def _batches(x, y, size):
    for i in range(0, len(x), size):
        yield pixels(x[i : i + size]), y[i : i + size]


def _mean_metric(device, sync: bool) -> MeanMetric:
    m = MeanMetric(nan_strategy="disable", sync_on_compute=sync).to(device)
    m.set_dtype(torch.float64)
    return m


def probe_rows(n: int) -> torch.Tensor | slice:
    """The train rows the probe fits on: all of them, or a fixed random PROBE_MAX_TRAIN subset."""
    if n <= PROBE_MAX_TRAIN:
        return slice(None)
    g = torch.Generator().manual_seed(20240601)
    return torch.randperm(n, generator=g)[:PROBE_MAX_TRAIN].sort().values


def _rank_world() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def _gather_in_order(pieces: list[tuple[int, torch.Tensor]], world: int) -> torch.Tensor:
    if world > 1:
        everyone: list = [None] * world
        torch.distributed.all_gather_object(everyone, pieces)
        pieces = [p for part in everyone for p in part]
    return torch.cat([t for _, t in sorted(pieces, key=lambda p: p[0])])


def label_log_prior(train_y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """log p(y): the train split's label frequencies (float64; -inf for an absent class)."""
    counts = torch.bincount(train_y.cpu().long(), minlength=num_classes).double()
    return (counts / counts.sum()).log()


def marginal_iwae(log_px_given_y: torch.Tensor, log_prior: torch.Tensor) -> torch.Tensor:
    """log sum_y p(y) p_hat(x|y) per image, from (classes, N) estimates log p_hat(x|y).

    When every exp(log p_hat(x|y)) is an unbiased estimate of p(x|y) (an importance-weighted
    mean: E_q[(1/k) sum_s w_s] = p(x|y), whatever k and whichever label's samples), the
    p(y)-weighted sum is an unbiased estimate of p(x) and, log being concave, its log has
    expectation <= log p(x) (Jensen): a stochastic lower bound that tightens as the k grow."""
    return torch.logsumexp(log_prior.to(log_px_given_y)[:, None] + log_px_given_y.double(), dim=0)


def other_label_samples(k: int) -> int:
    """m, the importance samples the label marginal spends on each label besides the test label's k."""
    return max(1, k // MARGINAL_SAMPLES_DIVISOR)


def pool_bounds(iwae_a: torch.Tensor, k_a: int, iwae_b: torch.Tensor, k_b: int) -> torch.Tensor:
    """The (k_a + k_b)-sample importance-weighted bound from a k_a- and a k_b-sample one over
    independent samples: log((k_a e^a + k_b e^b) / (k_a + k_b)), so the mean of all the weights."""
    a, b = iwae_a.double() + math.log(k_a), iwae_b.double() + math.log(k_b)
    return torch.logaddexp(a, b) - math.log(k_a + k_b)


def stratified_marginal(true_iwae: torch.Tensor, k: int, every_iwae: torch.Tensor, m: int, y: torch.Tensor,
                        log_prior: torch.Tensor) -> torch.Tensor:
    """The CVAE's bound on log p(x) = log sum_y p(y) p(x|y), at about the cost of one k-sample bound.

    Stratified importance sampling over the labels: the test label's stratum pools its k-sample
    bound `true_iwae` (N,) with its m-sample one, every other label's stratum is its m-sample
    bound; `every_iwae` (classes, N) holds the m-sample bound for every label, drawn with noise
    independent of `true_iwae`'s. Each stratum's exp is an unbiased estimate of its p(x|y), so
    this is a valid stochastic lower bound (`marginal_iwae`); the label only decides where the
    samples go (the test label usually holds nearly all of p(x)), not what they estimate. Cost:
    k + classes * m decodes per image instead of classes * k."""
    cols = torch.arange(len(y), device=every_iwae.device)
    strata = every_iwae.double().clone()
    strata[y, cols] = pool_bounds(true_iwae, k, every_iwae[y, cols], m)
    return marginal_iwae(strata, log_prior)


def _true_label(per_label: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Row y[j] of column j of a (classes, N) tensor."""
    return per_label[y, torch.arange(len(y), device=per_label.device)]


def bound_kind(model, x1: torch.Tensor, y1: torch.Tensor) -> str | None:
    """"terms" | "bound" | "gaussian" | None: which bound columns `model` supports (see the module docstring).

    Decided on one test image, the same on every rank."""
    if hasattr(model, "bound_terms"):
        return "terms"
    llb = getattr(model, "log_likelihood_bound", None)
    if llb is None or llb(x1, y1 if model.conditional else None, k=1, generator=image_generator(0, 0, x1.device)) is None:
        return None
    return "gaussian" if model.likelihood == "gaussian" else "bound"


def _per_image_bound(model, xb, yb, index, k: int, seed: int) -> torch.Tensor:
    """log_likelihood_bound one image at a time, each with its own keyed generator."""
    out = []
    for j in range(len(xb)):
        gen = image_generator(seed, int(index[j]), xb.device)
        y = yb[j : j + 1] if model.conditional else None
        out.append(model.log_likelihood_bound(xb[j : j + 1], y, k=k, generator=gen).reshape(1).double())
    return torch.cat(out)


BOUND_NAMES = {  # bound kind, conditional -> the columns it fills
    ("terms", False): ("elbo", "iwae", "rec_nll", "kl"),
    ("terms", True): ("iwae", "elbo_cond", "iwae_cond", "rec_nll_cond", "kl_cond"),
    ("bound", False): ("elbo", "iwae"),
    ("bound", True): ("iwae", "elbo_cond", "iwae_cond"),
    ("gaussian", False): ("ppca_ll",),
    ("gaussian", True): ("ppca_ll",),
}

def bpd_kind(model, kind: str | None, levels: int | None) -> str | None:
    """"iwae" (a VAE-family model with a density likelihood), "ppca" (exact) or None: how `bpd` is estimated."""
    if levels is None:
        return None
    if kind == "terms" and getattr(model, "likelihood", None) in DENSITY_LIKELIHOODS:
        return "iwae"
    if kind == "gaussian" and hasattr(model, "eigenvalues") and hasattr(model, "noise_variance"):
        return "ppca"
    return None


def decodes_per_image(k: int, conditional: bool, num_classes: int) -> int:
    """Decoder calls the bound pass makes per test image: k, plus the label marginal's m per label."""
    return k + (num_classes * other_label_samples(k) if conditional else 0)


def bound_chunk(device: torch.device, decodes: int, batch: int, n: int) -> int:
    """Test images per bound call: DECODES_PER_CALL[device type] // `decodes` (per image), at
    most `batch`, and at least 8 calls over the n images so that up to 8 DDP ranks all get work.
    The noise is keyed by image, so the chunk changes no number beyond the float32 network's
    round-off."""
    per_call = DECODES_PER_CALL.get(device.type, DECODES_PER_CALL["cuda"])
    return max(1, min(batch, per_call // decodes, -(-n // 8)))


@dataclass(frozen=True)
class BoundContext:
    """What a chunk of bound computations needs besides the images: the bound kind, whether the
    model is conditional, k, the evaluation seed, the quantisation levels when the bounds are on
    dequantized images (else None), and the label prior of a conditional model."""

    kind: str
    conditional: bool
    k: int
    seed: int
    dequantize_levels: int | None
    num_classes: int
    log_prior: torch.Tensor | None


def bound_context(model, kind: str, splits: Splits, k: int, seed: int, levels: int | None) -> BoundContext:
    """The BoundContext evaluation uses for `model` on `splits` (`levels`: the test split's
    quantisation levels): dequantized bounds for a density likelihood, the train label prior for
    a conditional model. runner.estimate times the same context."""
    cond = bool(model.conditional)
    return BoundContext(kind, cond, k, seed, levels if bpd_kind(model, kind, levels) == "iwae" else None,
                        splits.num_classes, label_log_prior(splits.train_y, splits.num_classes) if cond else None)


def chunk_bounds(model, ctx: BoundContext, xb, yb, index) -> dict[str, torch.Tensor]:
    """The per-image bound columns of one chunk of test images (`index`: their test-set rows),
    in float64: the whole of evaluation's k-sample pass, also what runner.estimate times."""
    levels, sfx = ctx.dequantize_levels, "_cond" if ctx.conditional else ""
    xe = dequantize(xb, levels, ctx.seed, index) if levels else xb
    t = _keyed_bounds(model, ctx.kind, xe, yb if ctx.conditional else None, index, ctx.k, ctx.seed)
    out = {}
    if ctx.kind == "terms":
        out["elbo" + sfx] = -(t["rec_nll"] + t["kl"]).double()
        out["rec_nll" + sfx] = t["rec_nll"].double()
        out["kl" + sfx] = t["kl"].double()
    else:
        out["elbo" + sfx] = _per_image_bound(model, xe, yb, index, 1, ctx.seed)
    out["iwae" + sfx] = log_p = t["iwae"].double()
    if ctx.conditional:
        m = other_label_samples(ctx.k)
        every = _every_label(model, ctx.kind, xe, index, m, ctx.seed + MARGINAL_SEED_OFFSET, ctx.num_classes)
        out["iwae"] = log_p = stratified_marginal(t["iwae"], ctx.k, every, m, yb, ctx.log_prior)
    if levels:
        out["bpd"] = bits_per_dim(log_p, xb[0].numel(), levels)
    return out


@dataclass
class SplitPasses:
    """What evaluation computes anyway and the FID metrics reuse instead of recomputing (single
    process only): the mean reconstructions of the whole test split, in order, and the codes
    (encode(x)[0], float64) of the whole train split."""

    test_recon: torch.Tensor | None = None
    train_codes: torch.Tensor | None = None


def _keyed_bounds(model, kind: str, x, y, index, k: int, seed: int, eps_dtype=torch.float64):
    """The bound terms of images x given labels y with k keyed samples: ("terms") the model's
    bound_terms dict, ("bound") {"iwae": the per-image bound} (elbo from k = 1 separately)."""
    if kind == "terms":
        eps = image_normals(seed, index, k, model.latent_dim, eps_dtype)
        return model.bound_terms(x, y, k=k, eps=eps)
    return {"iwae": _per_image_bound(model, x, y, index, k, seed)}


def _every_label(model, kind: str, x, index, m: int, seed: int, num_classes: int) -> torch.Tensor:
    """(classes, N): every label's m-sample bound on images x, in one batched call (the images
    repeated once per label; the noise keyed by image, the same for every label)."""
    n = len(x)
    labels = torch.arange(num_classes, device=x.device).repeat_interleave(n)
    xs = x.repeat(num_classes, *([1] * (x.dim() - 1)))
    if kind == "terms":
        eps = image_normals(seed, index, m, model.latent_dim, torch.float64).repeat(1, num_classes, 1)
        return model.bound_terms(xs, labels, k=m, eps=eps)["iwae"].view(num_classes, n)
    return _per_image_bound(model, xs, labels, index.repeat(num_classes), m, seed).view(num_classes, n)


@torch.no_grad()
def evaluate(model, splits: Splits, protocol: Protocol, seed: int, device=None,
             passes: SplitPasses | None = None) -> tuple[dict[str, float], float]:
    """Returns (metrics, seconds). Posterior noise is keyed by (`seed`, test-image index).
    `passes`, when given (single process), receives the test reconstructions and train codes."""
    start = time.perf_counter()
    device = torch.device(device or getattr(model, "device", "cpu"))
    model.eval()
    # modules trained under DDP evaluate sharded on their device; a CPU-fitted model (PCA) is
    # evaluated whole on every rank (an NCCL group cannot reduce CPU tensors)
    rank, world = _rank_world() if isinstance(model, torch.nn.Module) else (0, 1)
    test_x, test_y = splits.test_x.to(device), splits.test_y.to(device)
    bs, k = protocol.eval_batch_size, protocol.iwae_k
    kind = bound_kind(model, pixels(test_x[:1]), test_y[:1])
    cond = bool(model.conditional)
    levels = quantization_levels(splits.test_x)
    bpd_how = bpd_kind(model, kind, levels)
    names = ["mse", *BOUND_NAMES.get((kind, cond), ()), *(["bpd"] if bpd_how else [])]  # the same names on every rank (compute() is a collective)
    means = {name: _mean_metric(device, world > 1) for name in names}
    eval_seed = seed + 7919  # the evaluation noise's own stream (training noise uses `seed`)

    # the codes and mean reconstructions of the stored test images, in eval batches (at least 8,
    # so that up to 8 DDP ranks all get work)
    codes, recons = [], []
    step = max(1, min(bs, -(-len(test_x) // 8)))
    for i, (xb, yb) in enumerate(_batches(test_x, test_y, step)):
        if i % world != rank:
            continue
        mu, _ = model.encode(xb, yb)
        codes.append((i, mu.double().cpu()))
        rec = model.decode(mu, yb).to(xb.device)
        if passes is not None:
            recons.append(rec.float().cpu())
        means["mse"].update((rec.double() - xb.double()).pow(2).flatten(1).mean(1))
        if kind == "gaussian":
            means["ppca_ll"].update(model.log_likelihood_bound(xb, yb).double().to(device))
            if bpd_how == "ppca":
                means["bpd"].update(bits_per_dim(ppca_expected_log_density(model, xb, levels), xb[0].numel(), levels).to(device))

    # the bounds, in chunks sized for the device; a density likelihood's bounds are on the test
    # images dequantized with one keyed uniform draw each (vaebench.metrics.bpd), so that one
    # k-sample pass gives elbo, iwae and bpd (= iwae in bits/dim)
    if kind in ("terms", "bound"):
        chunk = bound_chunk(device, decodes_per_image(k, cond, splits.num_classes), bs, len(test_x))
        ctx = bound_context(model, kind, splits, k, eval_seed, levels)
        for i, (xb, yb) in enumerate(_batches(test_x, test_y, chunk)):
            if i % world != rank:
                continue
            index = torch.arange(i * chunk, i * chunk + len(xb), device=device)
            for name, values in chunk_bounds(model, ctx, xb, yb, index).items():
                means[name].update(values)

    test_codes = _gather_in_order(codes, world)
    metrics = {name: float(means[name].compute()) for name in names}
    metrics["active_units"] = active_units(test_codes)
    rows = probe_rows(len(splits.train_x))
    probe_y = splits.train_y[rows]
    train_codes = encode_codes(model, splits.train_x[rows], probe_y, ENCODE_BATCH)
    if passes is not None and world == 1:
        passes.test_recon = torch.cat(recons)
        passes.train_codes = train_codes if isinstance(rows, slice) else None
    with warnings.catch_warnings(), threadpool_limits(limits=1):
        warnings.simplefilter("ignore")  # lbfgs convergence warnings on degenerate codes
        metrics["probe_acc"] = probe_accuracy(train_codes.numpy(), probe_y.numpy(), test_codes.numpy(), splits.test_y.numpy())
    return {k: metrics[k] for k in METRICS if k in metrics}, time.perf_counter() - start
