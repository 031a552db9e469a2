"""The one place that turns a trained model into metrics (all on the test split).

Per-image quantities are accumulated with torchmetrics `MeanMetric` states in float64, so the
numbers are the same whether the test set is seen in one batch or many. Under DDP the test
batches are dealt round-robin to the ranks, the states are synced when every rank calls
`compute()`, and the codes are gathered back in batch order; each batch's posterior samples
come from a generator seeded by (seed, batch index), so the figures do not depend on the
number of ranks beyond float64 summation order.
"""

from __future__ import annotations

import time
import warnings

import torch
from torchmetrics.aggregation import MeanMetric

from vaebench.config import Protocol
from vaebench.data.base import Splits, pixels
from vaebench.metrics.catalog import METRICS
from vaebench.metrics.latent import active_units
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


@torch.no_grad()
def evaluate(model, splits: Splits, protocol: Protocol, seed: int, device=None) -> tuple[dict[str, float], float]:
    """Returns (metrics, seconds). Randomness (posterior samples) comes from a generator seeded by `seed`."""
    start = time.perf_counter()
    device = torch.device(device or getattr(model, "device", "cpu"))
    model.eval()
    # modules trained under DDP evaluate sharded on their device; a CPU-fitted model (PCA) is
    # evaluated whole on every rank (an NCCL group cannot reduce CPU tensors)
    rank, world = _rank_world() if isinstance(model, torch.nn.Module) else (0, 1)
    test_x, test_y = splits.test_x.to(device), splits.test_y.to(device)
    bs = protocol.eval_batch_size
    has_bound = hasattr(model, "bound_terms")
    means = {name: _mean_metric(device, world > 1) for name in ("mse", "elbo", "iwae", "rec_nll", "kl", "ppca_ll")}
    codes = []
    # keep the k * batch decoded images per step to roughly 64k, whatever k is, and make at
    # least 8 batches so that up to 8 DDP ranks all get work (the batching, and hence the
    # per-batch random streams, never depend on the number of ranks)
    step = max(1, min(bs, 65_536 // protocol.iwae_k)) if has_bound else bs
    step = max(1, min(step, -(-len(test_x) // 8)))
    for i, (xb, yb) in enumerate(_batches(test_x, test_y, step)):
        if i % world != rank:
            continue
        gen = torch.Generator(device=device).manual_seed(seed + 7919 + 1_000_003 * i)
        mu, _ = model.encode(xb, yb)
        codes.append((i, mu.double().cpu()))
        rec = model.decode(mu, yb).to(xb.device)
        means["mse"].update((rec.double() - xb.double()).pow(2).flatten(1).mean(1))
        if has_bound:
            t = model.bound_terms(xb, yb, k=protocol.iwae_k, generator=gen)
            means["elbo"].update(-(t["rec_nll"] + t["kl"]).double())
            means["iwae"].update(t["iwae"].double())
            means["rec_nll"].update(t["rec_nll"].double())
            means["kl"].update(t["kl"].double())
        elif model.likelihood == "gaussian":
            means["ppca_ll"].update(model.log_likelihood_bound(xb, yb).double().to(device))
    test_codes = _gather_in_order(codes, world)
    # the same names on every rank (compute() is a collective under DDP)
    names = ["mse"] + (["elbo", "iwae", "rec_nll", "kl"] if has_bound else ["ppca_ll"] if model.likelihood == "gaussian" else [])
    metrics = {name: float(means[name].compute()) for name in names}
    metrics["active_units"] = active_units(test_codes)
    rows = probe_rows(len(splits.train_x))
    probe_y = splits.train_y[rows]
    train_codes = encode_split(model, splits.train_x[rows].to(device), probe_y.to(device), bs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lbfgs convergence warnings on degenerate codes
        metrics["probe_acc"] = probe_accuracy(train_codes.numpy(), probe_y.numpy(), test_codes.numpy(), splits.test_y.numpy())
    return {k: metrics[k] for k in METRICS if k in metrics}, time.perf_counter() - start
