"""The one place that turns a trained model into metrics (all on the test split).

Per-image quantities are accumulated with torchmetrics `MeanMetric` states in float64, so the
numbers are the same whether the test set is seen in one batch or many (and sync under DDP).
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


def _mean_metric(device) -> MeanMetric:
    m = MeanMetric(nan_strategy="disable").to(device)
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


@torch.no_grad()
def evaluate(model, splits: Splits, protocol: Protocol, seed: int, device=None) -> tuple[dict[str, float], float]:
    """Returns (metrics, seconds). Randomness (posterior samples) comes from a generator seeded by `seed`."""
    start = time.perf_counter()
    device = torch.device(device or getattr(model, "device", "cpu"))
    model.eval()
    gen = torch.Generator(device=device).manual_seed(seed + 7919)
    test_x, test_y = splits.test_x.to(device), splits.test_y.to(device)
    bs = protocol.eval_batch_size
    has_bound = hasattr(model, "bound_terms")
    means = {name: _mean_metric(device) for name in ("mse", "elbo", "iwae", "rec_nll", "kl", "ppca_ll")}
    codes = []
    # keep the k * batch decoded images per step to roughly 64k, whatever k is
    step = max(1, min(bs, 65_536 // protocol.iwae_k)) if has_bound else bs
    for xb, yb in _batches(test_x, test_y, step):
        mu, _ = model.encode(xb, yb)
        codes.append(mu.double().cpu())
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
    test_codes = torch.cat(codes)
    metrics = {name: float(m.compute()) for name, m in means.items() if m.update_count > 0}
    metrics["active_units"] = active_units(test_codes)
    rows = probe_rows(len(splits.train_x))
    probe_y = splits.train_y[rows]
    train_codes = encode_split(model, splits.train_x[rows].to(device), probe_y.to(device), bs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lbfgs convergence warnings on degenerate codes
        metrics["probe_acc"] = probe_accuracy(train_codes.numpy(), probe_y.numpy(), test_codes.numpy(), splits.test_y.numpy())
    return {k: metrics[k] for k in METRICS if k in metrics}, time.perf_counter() - start
