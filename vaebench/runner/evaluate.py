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
the bound on log p(x) = log sum_y p(y) p(x|y) (see `marginal_iwae`); its `elbo` stays empty.

`bpd` (vaebench.metrics.bpd, docs/likelihood.md), for models whose likelihood is a density on
[0, 1]^D and test images with L quantisation levels: from the k-sample IWAE bound (CVAE: its
label marginal) on the images dequantized with one keyed uniform draw each, or exactly (PPCA).
Bernoulli models, the AE and plug-ins leave it empty.
"""

from __future__ import annotations

import time
import warnings

import torch
from torchmetrics.aggregation import MeanMetric

from vaebench.config import Protocol
from vaebench.data.base import Splits, pixels
from vaebench.metrics.bpd import (
    bits_per_dim,
    dequantize,
    ppca_expected_log_density,
    quantization_levels,
)
from vaebench.metrics.catalog import METRICS
from vaebench.metrics.latent import active_units
from vaebench.metrics.noise import image_generator, image_normals
from vaebench.metrics.probe import probe_accuracy

PROBE_MAX_TRAIN = 60_000  # the probe fits on at most this many train codes (all of digits and Fashion)


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


@torch.no_grad()
def encode_split(model, x, y, batch_size: int) -> torch.Tensor:
    codes = [model.encode(xb, yb)[0].double().cpu() for xb, yb in _batches(x, y, batch_size)]
    return torch.cat(codes)


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
    """log sum_y p(y) p_k(x|y) per image, a stochastic lower bound on log p(x).

    `log_px_given_y` is (classes, N): log p_k(x|y), the k-sample importance-weighted estimate for
    every label, with the same image-keyed noise for every label. exp of it is an unbiased
    estimate of p(x|y) (E_q[(1/k) sum_s w_s] = p(x|y)), so the p(y)-weighted sum is an unbiased
    estimate of p(x) and, log being concave, its log has expectation <= log p(x) (Jensen), with
    equality as k grows. The caller computes one bound per class, each call's memory that of one
    conditional bound; the true label's is one of them.
    """
    return torch.logsumexp(log_prior.to(log_px_given_y)[:, None] + log_px_given_y.double(), dim=0)


def _each_label(bound, xb: torch.Tensor, num_classes: int) -> list:
    """bound(x, y) for every label y = 0 .. num_classes - 1 (the whole batch given that label)."""
    return [bound(xb, torch.full((len(xb),), c, dtype=torch.long, device=xb.device)) for c in range(num_classes)]


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

DENSITY_LIKELIHOODS = ("gaussian", "continuous_bernoulli")


def bpd_kind(model, kind: str | None, levels: int | None) -> str | None:
    """"iwae" (a VAE-family model with a density likelihood), "ppca" (exact) or None: how `bpd` is estimated."""
    if levels is None:
        return None
    if kind == "terms" and getattr(model, "likelihood", None) in DENSITY_LIKELIHOODS:
        return "iwae"
    if kind == "gaussian" and hasattr(model, "eigenvalues") and hasattr(model, "noise_variance"):
        return "ppca"
    return None


@torch.no_grad()
def evaluate(model, splits: Splits, protocol: Protocol, seed: int, device=None) -> tuple[dict[str, float], float]:
    """Returns (metrics, seconds). Posterior noise is keyed by (`seed`, test-image index)."""
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
    log_prior = label_log_prior(splits.train_y, splits.num_classes) if cond else None
    eval_seed = seed + 7919  # the evaluation noise's own stream (training noise uses `seed`)
    codes = []
    # keep the k * batch decoded images per call to roughly 64k, whatever k is, and make at
    # least 8 batches so that up to 8 DDP ranks all get work (the noise is keyed by image, so
    # the batching changes no number beyond round-off)
    step = max(1, min(bs, 65_536 // k)) if kind in ("terms", "bound") else bs
    step = max(1, min(step, -(-len(test_x) // 8)))
    for i, (xb, yb) in enumerate(_batches(test_x, test_y, step)):
        if i % world != rank:
            continue
        index = torch.arange(i * step, i * step + len(xb), device=device)
        mu, _ = model.encode(xb, yb)
        codes.append((i, mu.double().cpu()))
        rec = model.decode(mu, yb).to(xb.device)
        means["mse"].update((rec.double() - xb.double()).pow(2).flatten(1).mean(1))
        sfx = "_cond" if cond else ""
        if kind == "terms":
            eps = image_normals(eval_seed, index, k, model.latent_dim, torch.float64)
            if cond:  # every label's bound (for the marginal iwae); the true label's is one of them
                per_label = _each_label(lambda x, y, e=eps: model.bound_terms(x, y, k=k, eps=e), xb, splits.num_classes)
                t = {key: _true_label(torch.stack([p[key] for p in per_label]), yb) for key in ("rec_nll", "kl", "iwae")}
                means["iwae"].update(marginal_iwae(torch.stack([p["iwae"] for p in per_label]), log_prior))
            else:
                t = model.bound_terms(xb, yb, k=k, eps=eps)
            means["elbo" + sfx].update(-(t["rec_nll"] + t["kl"]).double())
            means["iwae" + sfx].update(t["iwae"].double())
            means["rec_nll" + sfx].update(t["rec_nll"].double())
            means["kl" + sfx].update(t["kl"].double())
            if bpd_how == "iwae":  # the same posterior noise, on the dequantized images
                xq = dequantize(xb, levels, eval_seed, index)
                if cond:
                    per_label = _each_label(lambda x, y, e=eps: model.bound_terms(x, y, k=k, eps=e)["iwae"], xq, splits.num_classes)
                    log_p = marginal_iwae(torch.stack(per_label), log_prior)
                else:
                    log_p = model.bound_terms(xq, yb, k=k, eps=eps)["iwae"]
                means["bpd"].update(bits_per_dim(log_p, xb[0].numel(), levels))
        elif kind == "bound":
            means["elbo" + sfx].update(_per_image_bound(model, xb, yb, index, 1, eval_seed))
            if cond:
                bound = lambda x, y, ix=index: _per_image_bound(model, x, y, ix, k, eval_seed)  # noqa: E731
                per_label = torch.stack(_each_label(bound, xb, splits.num_classes))
                means["iwae_cond"].update(_true_label(per_label, yb))
                means["iwae"].update(marginal_iwae(per_label, log_prior))
            else:
                means["iwae"].update(_per_image_bound(model, xb, yb, index, k, eval_seed))
        elif kind == "gaussian":
            means["ppca_ll"].update(model.log_likelihood_bound(xb, yb).double().to(device))
            if bpd_how == "ppca":
                means["bpd"].update(bits_per_dim(ppca_expected_log_density(model, xb, levels), xb[0].numel(), levels).to(device))
    test_codes = _gather_in_order(codes, world)
    metrics = {name: float(means[name].compute()) for name in names}
    metrics["active_units"] = active_units(test_codes)
    rows = probe_rows(len(splits.train_x))
    probe_y = splits.train_y[rows]
    train_codes = encode_split(model, splits.train_x[rows].to(device), probe_y.to(device), bs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lbfgs convergence warnings on degenerate codes
        metrics["probe_acc"] = probe_accuracy(train_codes.numpy(), probe_y.numpy(), test_codes.numpy(), splits.test_y.numpy())
    return {k: metrics[k] for k in METRICS if k in metrics}, time.perf_counter() - start
