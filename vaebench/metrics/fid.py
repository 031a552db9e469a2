"""Fréchet distances (FID) of model samples and reconstructions, against the test split.

Metric names carry the backbone: ``fid_samples[fashion_mnist-cnn]``, ``fid_recon[inception]``;
a bare "FID" is never written for the classifier backbone (its numbers are not comparable with
Inception FIDs from the literature).

* ``fid_samples``: n samples from the model's own generative story, `model.sample` (VAE: prior
  through the decoder; CVAE: the same with labels drawn i.i.d. from the test set's class
  frequencies; PCA: probabilistic-PCA samples; AE: N(0, I) through the decoder, which an AE never
  trained for; a model's class attribute `SAMPLES` says what its `sample` draws, recorded in the
  protocol: VampPrior mixture, WAE prior, RAE's ex-post mixture);
* ``fid_samples_fitted`` (deterministic models: AE, PCA, WAE, RAE): codes drawn from a
  full-covariance Gaussian fitted (float64) to the encoded train split, decoded;
* ``fid_samples_gmm`` (the same models): codes drawn from a 10-component full-covariance
  Gaussian mixture fitted to the encoded train split (vaebench.metrics.code_gmm, the RAE's
  ex-post density, Ghosh et al. 2020), decoded;
* ``fid_recon``: decode(encode(x).mean) of the whole test set.

Each source also gets KID (vaebench.metrics.kid) and precision/recall/density/coverage
(vaebench.metrics.prdc), `kid_samples[<backbone>]`, `recall_recon[<backbone>]`, ...: computed on
the very features FID accumulates (a `FeatureTap` keeps them while torchmetrics feeds its
states), against the test split's features and k-NN radii, which are cached with its statistics.
`real_data_floor` scores as many train images as samples the same way: the noise floor every
sampled column is read against.

A model is "deterministic" when it has no `bound_terms` and its `encode` returns no variance
(`is_deterministic`): the fitted densities are the only generative story such a code has.

Every image is clamped to [0, 1] before the features (a no-op for the sigmoid decoders; PCA's
linear outputs leave that range) and the clamped pixel fraction is recorded in the protocol.

The distances are computed by torchmetrics' ``FrechetInceptionDistance`` with the backbone as
its ``feature`` module: its states (feature sums and outer-product sums) are float64 and
declared with ``dist_reduce_fx="sum"``, so under DDP each rank can feed its shard and
``compute()`` syncs. Its square-root trace is ``sum(sqrt(eigvals(S1 @ S2)).real)``.
``frechet_distance`` below is the standalone version for users with their own features; it uses
the symmetric eigen form instead (see there). The two agree to ~1e-9 relative on
well-conditioned covariances (tests/test_fid.py).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torchmetrics.image.fid import FrechetInceptionDistance

from vaebench.data.base import Splits, pixels
from vaebench.metrics.catalog import (  # noqa: F401 (public API)
    FID_METRICS,
    SAMPLE_MEASURES,
    fid_metric_name,
    parse_fid_metric_name,
)
from vaebench.metrics.code_gmm import (
    GMM_COMPONENTS,
    GMM_SEED,
    encode_codes,
    fit_code_gmm,
    sample_code_gmm,
)
from vaebench.metrics.fid_backbone import Backbone, get_backbone
from vaebench.metrics.kid import (
    KID_SUBSET_SIZE,
    KID_SUBSETS,
    kernel_inception_distance,
    subset_size_for,
)
from vaebench.metrics.prdc import DC_K, PR_K, knn_radii, manifold_metrics

# kind -> (higher is better, description); the full metric name is f"{kind}[{backbone id}]"
SAMPLE_BATCH = 1000  # generation batch: part of the random stream, so fixed (recorded)
FEATURE_BATCH = {"classifier": 2000, "inception": 100}
# seed offsets so that each metric's randomness is its own stream (recorded as the protocol's seed)
_SEED_OFFSET = {"fid_samples": 104_729, "fid_samples_fitted": 130_363, "cvae_labels": 155_921, "fid_samples_gmm": 181_081,
                "kid_subsets": 206_699}
FLOOR_SEED = 271_829  # which train images the real-data floor draws (and its KID subsets): one floor per data set


# ---------------------------------------------------------------- the standalone distance


def _as_2d_float64(features, what: str) -> np.ndarray:
    if isinstance(features, torch.Tensor):
        features = features.detach().cpu().double().numpy()
    a = np.asarray(features, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"{what} must be an (N, D) array, got shape {a.shape}")
    if len(a) < 2:
        raise ValueError(f"{what} needs at least 2 rows to estimate a covariance, got {len(a)}")
    if not np.isfinite(a).all():
        raise ValueError(f"{what} contains NaN or infinite values")
    return a


def mean_and_covariance(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased (N - 1) covariance, float64, of an (N, D) array."""
    a = _as_2d_float64(features, "features")
    mu = a.mean(0)
    c = a - mu
    return mu, (c.T @ c) / (len(a) - 1)


def psd_sqrt(cov: torch.Tensor) -> torch.Tensor:
    """The symmetric PSD square root S of a covariance (S S^T = S^2 = cov), float64.

    Unique, so what uses it is a function of the covariance alone: the factor V diag(sqrt w)
    would carry the eigenvectors' signs (and, for a repeated eigenvalue, the basis of its space),
    which differ between LAPACK builds. Negative round-off eigenvalues are clamped to 0, so a
    singular covariance works. Used by the Fréchet distance below and by the fitted Gaussian's
    sampler (`fid_samples_fitted`)."""
    w, v = torch.linalg.eigh(cov.double())
    return (v * w.clamp(min=0).sqrt()) @ v.T


def gaussian_frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)) for two Gaussians, in float64.

    Tr((S1 S2)^(1/2)) is computed as sum_i sqrt(lambda_i(S1^(1/2) S2 S1^(1/2))): that matrix is
    symmetric PSD with the same eigenvalues as S1 S2, so `numpy.linalg.eigh` applies and tiny
    negative eigenvalues from round-off are clipped to 0 (no complex parts, unlike
    scipy.linalg.sqrtm on the non-symmetric product). A result below 0 by round-off is returned as 0.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.size, mu1.size):
        raise ValueError(f"shape mismatch: means {mu1.shape} / {mu2.shape}, covariances {s1.shape} / {s2.shape}")
    s1, s2 = (s1 + s1.T) / 2, (s2 + s2.T) / 2
    r1 = psd_sqrt(torch.from_numpy(s1)).numpy()
    m = r1 @ s2 @ r1
    eig = np.linalg.eigvalsh((m + m.T) / 2)
    tr_sqrt = float(np.sqrt(np.clip(eig, 0.0, None)).sum())
    d = float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2.0 * tr_sqrt)
    return max(d, 0.0)


def frechet_distance(features_a, features_b) -> float:
    """Fréchet distance between the Gaussians fitted to two (N, D) feature arrays (numpy or torch).

    float64 throughout; unbiased covariances; the symmetric-eigen matrix square root of
    `gaussian_frechet_distance` (not scipy.linalg.sqrtm).
    """
    a = _as_2d_float64(features_a, "features_a")
    b = _as_2d_float64(features_b, "features_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature dimensions differ: {a.shape[1]} vs {b.shape[1]}")
    return gaussian_frechet_distance(*mean_and_covariance(a), *mean_and_covariance(b))


# ---------------------------------------------------------------- the torchmetrics metric


class FeatureTap(torch.nn.Module):
    """A torchmetrics `feature` module that passes `module`'s features through and, while `kept`
    is a list, keeps a float64 CPU copy of each batch: KID and precision/recall/density/coverage
    read the very features FID accumulated, with no second pass through the backbone."""

    def __init__(self, module: torch.nn.Module):
        super().__init__()
        self.module = module
        self.num_features = module.num_features
        self.kept: list[torch.Tensor] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.module(x)
        if self.kept is not None:
            self.kept.append(f.detach().double().cpu())
        return f


def make_fid_metric(backbone: Backbone, device="cpu", tap: FeatureTap | None = None, **metric_kwargs) -> FrechetInceptionDistance:
    """torchmetrics FID over `backbone.module` (float64 states; images in [0, 1] as `update` input),
    or over `tap` (a FeatureTap of it) to keep the features for the other sample measures.

    `reset_real_features=False`: `reset()` keeps the reference (real) statistics, so several
    image sets can be compared with one pass over the reference. Extra keyword arguments go to
    torchmetrics' `Metric` (e.g. `sync_on_compute=False`, `process_group=...`).
    """
    metric = FrechetInceptionDistance(
        feature=tap if tap is not None else backbone.module, reset_real_features=False, normalize=True, **metric_kwargs
    )
    return metric.to(device)


def _update(metric, images: torch.Tensor, real: bool, device, chunk: int, clamp_stats: list | None = None) -> None:
    for i in range(0, len(images), chunk):
        x = pixels(images[i : i + chunk]).to(device=device, dtype=torch.float32)
        if clamp_stats is not None:
            clamp_stats[0] += int(((x < 0) | (x > 1)).sum())
            clamp_stats[1] += x.numel()
        metric.update(x.clamp(0.0, 1.0), real=real)


def _update_keeping(metric, tap: FeatureTap, images, real: bool, device, chunk: int, clamp_stats: list | None = None) -> torch.Tensor:
    """`_update`, returning the (N, D) float64 features the metric saw."""
    tap.kept = []
    try:
        for batch in images:
            _update(metric, batch, real, device, chunk, clamp_stats)
        return torch.cat(tap.kept)
    finally:
        tap.kept = None


@torch.no_grad()
def fid_of_images(images_a: torch.Tensor, images_b: torch.Tensor, backbone: Backbone, device="cpu") -> float:
    """FID between two image tensors in [0, 1] (b is the reference), with the torchmetrics metric."""
    metric = make_fid_metric(backbone, device, sync_on_compute=False)
    chunk = FEATURE_BATCH[backbone.kind]
    _update(metric, images_b, True, device, chunk)
    _update(metric, images_a, False, device, chunk)
    return float(metric.compute())


# ---------------------------------------------------------------- models


def is_deterministic(model, x1: torch.Tensor | None = None, y1: torch.Tensor | None = None) -> bool:
    """True for a model with no `bound_terms` whose `encode` returns no variance (AE, PCA, WAE, RAE),
    probed on one image (`x1`, default a blank image of `model.image_shape`)."""
    if hasattr(model, "bound_terms"):
        return False
    if x1 is None:
        shape = getattr(model, "image_shape", None)
        if shape is None:
            return False
        x1 = torch.zeros(1, *shape)
    dev = _model_device(model)
    with torch.no_grad():
        out = model.encode(x1.to(dev, _model_dtype(model)), None if y1 is None else y1.to(dev))
    return isinstance(out, tuple) and len(out) == 2 and out[1] is None


def model_kind(model, x1: torch.Tensor | None = None, y1: torch.Tensor | None = None) -> str:
    """"vae" | "cvae" (a posterior and a bound) | "pca" | "ae" (any other deterministic encoder) | "other"."""
    if hasattr(model, "bound_terms"):
        return "cvae" if getattr(model, "conditional", False) else "vae"
    name = type(model).__name__
    if name == "PCAModel" or hasattr(model, "components") and getattr(model, "likelihood", None) == "gaussian":
        return "pca"
    return "ae" if is_deterministic(model, x1, y1) else "other"


SAMPLES_BY_KIND = {  # what `sample` draws, for a model that does not say so in its `SAMPLES` attribute
    "vae": "z ~ N(0, I) through the decoder",
    "cvae": "z ~ N(0, I), labels i.i.d. from the test set's class frequencies, through the decoder",
    "ae": "model.sample(n) (a deterministic autoencoder: no prior of its own)",
    "pca": "probabilistic-PCA samples mean + W z + sigma eps",
    "other": "model.sample(n)",
}


def samples_description(model, kind: str) -> str:
    return getattr(type(model), "SAMPLES", None) or SAMPLES_BY_KIND[kind]


def applicable_metrics(model, kind: str | None = None) -> tuple[str, ...]:
    kind = kind or model_kind(model)
    if kind in ("ae", "pca"):  # deterministic codes: the ex-post densities are their generative story
        return ("fid_samples", "fid_samples_fitted", "fid_samples_gmm", "fid_recon")
    return ("fid_samples", "fid_recon")


def default_n_samples(splits: Splits) -> int:
    """The test-set size: 10,000 on Fashion-MNIST, 360 on digits."""
    return len(splits.test_x)


def _model_device(model) -> torch.device:
    return torch.device(getattr(model, "device", "cpu"))


def _model_dtype(model) -> torch.dtype:
    if isinstance(model, torch.nn.Module):
        for p in model.parameters():
            return p.dtype
    return torch.float32


def _sample_batches(model, kind: str, n: int, seed: int, label_freq: torch.Tensor | None) -> Iterator[torch.Tensor]:
    dev = _model_device(model)
    gen = torch.Generator(device=dev).manual_seed(seed + _SEED_OFFSET["fid_samples"])
    labels = None
    if kind == "cvae":
        lg = torch.Generator().manual_seed(seed + _SEED_OFFSET["cvae_labels"])
        labels = torch.multinomial(label_freq, n, replacement=True, generator=lg)
    for i in range(0, n, SAMPLE_BATCH):
        m = min(SAMPLE_BATCH, n - i)
        if labels is not None:
            yield model.sample(m, y=labels[i : i + m].to(dev), generator=gen)
        else:
            yield model.sample(m, generator=gen)


def fit_code_gaussian(codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and unbiased full covariance (float64) of (N, d) codes."""
    mu, cov = mean_and_covariance(codes)
    return torch.from_numpy(mu), torch.from_numpy(np.atleast_2d(cov))


def _decode_codes(model, kind: str, z: torch.Tensor) -> torch.Tensor:
    """decode float64 codes: PCA in float64, a network in its own dtype, on the model's device."""
    return model.decode(z.to(device=_model_device(model), dtype=torch.float64 if kind == "pca" else _model_dtype(model)))


def _fitted_batches(model, kind: str, train_codes: torch.Tensor, n: int, seed: int) -> Iterator[torch.Tensor]:
    mu, cov = fit_code_gaussian(train_codes)
    a = psd_sqrt(cov)
    gen = torch.Generator().manual_seed(seed + _SEED_OFFSET["fid_samples_fitted"])
    for i in range(0, n, SAMPLE_BATCH):
        m = min(SAMPLE_BATCH, n - i)
        z = mu + torch.randn(m, len(mu), generator=gen, dtype=torch.float64) @ a.T
        yield _decode_codes(model, kind, z)


def _gmm_batches(model, kind: str, train_codes: torch.Tensor, n: int, seed: int) -> Iterator[torch.Tensor]:
    gmm = fit_code_gmm(train_codes)
    gen = torch.Generator().manual_seed(seed + _SEED_OFFSET["fid_samples_gmm"])
    for i in range(0, n, SAMPLE_BATCH):
        yield _decode_codes(model, kind, sample_code_gmm(gmm, min(SAMPLE_BATCH, n - i), gen))


SAMPLE_PROTOCOL = {  # how the measures besides FID are computed (the same features as FID's)
    "kid": f"unbiased MMD^2, kernel (x.y/d + 1)^3, mean and std (ddof 1) over {KID_SUBSETS} subsets of "
           f"min({KID_SUBSET_SIZE}, N) without replacement, torch.Generator seeded with seed + {_SEED_OFFSET['kid_subsets']}",
    "precision_recall": f"Kynkaanniemi et al. 2019, k = {PR_K}, d <= k-th neighbour radius",
    "density_coverage": f"Naeem et al. 2020, k = {DC_K}, d < k-th neighbour radius of the test features",
}

# the reference (test split) feature statistics, features and k-NN radii per backbone, data and
# device, computed once per process: every run of a sweep compares against the same test split
_REFERENCE_CACHE: dict[tuple, dict[str, Any]] = {}
_REFERENCE_STATES = ("real_features_sum", "real_features_cov_sum", "real_features_num_samples")


def _reference(metric, tap: FeatureTap, bb: Backbone, splits: Splits, device, chunk: int) -> dict[str, Any]:
    """Feed the test split to `metric` as its real images, or restore the states that feeding
    gave earlier in this process (keyed by backbone id, a hash of the test images and device).
    Returns {"features": the test features (N, D) float64, "radii": their k-NN radii}."""
    x = splits.test_x.detach().cpu().contiguous()
    key = (bb.id, hashlib.sha256(x.view(torch.uint8).numpy().tobytes()).hexdigest(), tuple(x.shape), str(x.dtype), str(device))
    if key not in _REFERENCE_CACHE:
        features = _update_keeping(metric, tap, [splits.test_x], True, device, chunk)
        _REFERENCE_CACHE.clear()  # one data set's statistics at a time: a sweep goes data set by data set
        _REFERENCE_CACHE[key] = {"states": {name: getattr(metric, name).clone() for name in _REFERENCE_STATES},
                                 "features": features, "radii": knn_radii(features, (PR_K, DC_K))}
    else:
        for name, value in _REFERENCE_CACHE[key]["states"].items():
            setattr(metric, name, value.clone())
    return _REFERENCE_CACHE[key]


def sample_scores(metric, reference: dict[str, Any], features: torch.Tensor, kid_seed: int) -> dict[str, float]:
    """measure -> value ("fid", "kid", "kid_std", "precision", ...) of one image set whose features
    `metric` has just been fed as its fake images: FID from the metric's states, KID and
    precision/recall/density/coverage from the same `features` against the reference's."""
    values = {"fid": float(metric.compute())}
    values["kid"], values["kid_std"] = kernel_inception_distance(reference["features"], features, seed=kid_seed)
    values.update(manifold_metrics(reference["features"], features, real_radii=reference["radii"]))
    assert set(values) == {"fid", *SAMPLE_MEASURES}
    return values


def _recon_batches(model, splits: Splits) -> Iterator[torch.Tensor]:
    dev = _model_device(model)
    for i in range(0, len(splits.test_x), SAMPLE_BATCH):
        xb = pixels(splits.test_x[i : i + SAMPLE_BATCH]).to(dev)
        yb = splits.test_y[i : i + SAMPLE_BATCH].to(dev)
        yield model.decode(model.encode(xb, yb)[0], yb)


@torch.no_grad()
def compute_fid_metrics(
    model,
    splits: Splits,
    *,
    backbone: str = "auto",
    n_samples: int | None = None,
    seed: int = 0,
    device="cpu",
    test_recon: torch.Tensor | None = None,
    train_codes: torch.Tensor | None = None,
) -> tuple[dict[str, float], dict[str, Any]]:
    """FID metrics of `model` against `splits`' test set, and the FID protocol.

    Returns ({"fid_samples[<backbone>]": ..., "fid_recon[<backbone>]": ..., and for AE/PCA
    "fid_samples_fitted[<backbone>]": ...}, protocol). `backbone` is "auto" | "inception" |
    "classifier" (always the shipped, hash-checked weights); `n_samples` defaults to the test-set size; `seed` seeds all sampling;
    `device` is where the features are computed (the model stays where it is).
    Single-process: the metric does not sync across ranks (see `make_fid_metric` for sharded use).
    `test_recon` (the model's mean reconstructions of the whole test split, in order) and
    `train_codes` (encode(x)[0] of the whole train split, float64), when the caller has them
    (vaebench.runner.evaluate.SplitPasses), are used instead of recomputing them.
    """
    start = time.perf_counter()
    device = torch.device(device)
    kind = model_kind(model, pixels(splits.test_x[:1]), splits.test_y[:1])
    if kind == "pca" and getattr(model, "components", True) is None:
        raise ValueError("the PCA model is not fitted")
    bb = get_backbone(splits, backbone)
    n = int(n_samples) if n_samples is not None else default_n_samples(splits)
    if n < 2:
        raise ValueError(f"n_samples must be at least 2, got {n}")
    was_training = getattr(model, "training", None)
    if hasattr(model, "eval"):
        model.eval()
    chunk = FEATURE_BATCH[bb.kind]
    tap = FeatureTap(bb.module)
    metric = make_fid_metric(bb, device, tap, sync_on_compute=False)
    seconds: dict[str, float] = {}
    t = time.perf_counter()
    reference = _reference(metric, tap, bb, splits, device, chunk)
    seconds["reference_features"] = time.perf_counter() - t

    metrics: dict[str, float] = {}
    clamped: dict[str, float] = {}
    label_freq = torch.bincount(splits.test_y.cpu(), minlength=splits.num_classes).double()
    names = applicable_metrics(model, kind)
    codes: list[torch.Tensor] = [] if train_codes is None else [train_codes]  # the encoded train split, once

    def codes_once() -> torch.Tensor:
        if not codes:
            codes.append(encode_codes(model, splits.train_x, splits.train_y, SAMPLE_BATCH))
        return codes[0]

    sources = {
        "fid_samples": lambda: _sample_batches(model, kind, n, seed, label_freq),
        "fid_samples_fitted": lambda: _fitted_batches(model, kind, codes_once(), n, seed),
        "fid_samples_gmm": lambda: _gmm_batches(model, kind, codes_once(), n, seed),
        "fid_recon": lambda: _recon_batches(model, splits) if test_recon is None else test_recon.split(SAMPLE_BATCH),
    }
    try:
        for name in names:
            t = time.perf_counter()
            metric.reset()  # keeps the reference statistics
            stats = [0, 0]
            features = _update_keeping(metric, tap, sources[name](), False, device, chunk, stats)
            source = name.removeprefix("fid_")
            scores = sample_scores(metric, reference, features, seed + _SEED_OFFSET["kid_subsets"])
            metrics.update({fid_metric_name(f"{m}_{source}", bb.id): v for m, v in scores.items()})
            clamped[fid_metric_name(name, bb.id)] = stats[0] / max(1, stats[1])
            seconds[name] = time.perf_counter() - t
    finally:
        if was_training and hasattr(model, "train"):
            model.train(True)

    protocol: dict[str, Any] = {
        **bb.protocol,
        "backbone_requested": backbone,
        "n_samples": n,
        "n_recon": len(splits.test_x),
        "reference_split": "test",
        "n_reference": len(splits.test_x),
        "feature_dtype": "float64",
        "distance": "torchmetrics FrechetInceptionDistance (float64 states; trace sqrt via eigvals(S1 S2))",
        "covariance": "unbiased (N - 1)",
        "seed": int(seed),
        "sample_batch": SAMPLE_BATCH,
        **SAMPLE_PROTOCOL,
        "kid_subset_size": subset_size_for(len(splits.test_x), n),
        "model_kind": kind,
        "samples": samples_description(model, kind),
        "clamp": "images clamped to [0, 1] before the features",
        "clamped_pixel_fraction": clamped,
        "seconds": seconds | {"total": time.perf_counter() - start},
    }
    if "fid_samples_fitted" in names:
        protocol["fitted_gaussian"] = "mean + full unbiased covariance of the encoded train split, float64"
    if "fid_samples_gmm" in names:
        protocol["fitted_gmm"] = (f"{GMM_COMPONENTS}-component full-covariance Gaussian mixture (scikit-learn GaussianMixture, "
                                  f"random_state {GMM_SEED}) of the encoded train split, float64")
    return metrics, protocol


@torch.no_grad()
def real_data_floor(splits: Splits, *, backbone: str = "auto", n: int | None = None, device="cpu") -> dict[str, Any]:
    """The sample measures of real data: `n` train images (default the test-set size, as many as
    the models' samples; drawn with FLOOR_SEED, the same for every run) against the test split,
    in the backbone's features. What two finite draws of the data distribution itself score:
    a model's sample column at or below it is at the noise floor, not better than data.

    Returns {"backbone", "n_train", "n_reference", "seed", "metrics": {f"{measure}[{backbone id}]": value}}
    (measures: fid, kid, kid_std, precision, recall, density, coverage)."""
    device = torch.device(device)
    bb = get_backbone(splits, backbone)
    n = min(int(n) if n is not None else default_n_samples(splits), len(splits.train_x))
    chunk = FEATURE_BATCH[bb.kind]
    tap = FeatureTap(bb.module)
    metric = make_fid_metric(bb, device, tap, sync_on_compute=False)
    reference = _reference(metric, tap, bb, splits, device, chunk)
    rows = torch.randperm(len(splits.train_x), generator=torch.Generator().manual_seed(FLOOR_SEED))[:n].sort().values
    features = _update_keeping(metric, tap, [splits.train_x[rows]], False, device, chunk)
    scores = sample_scores(metric, reference, features, FLOOR_SEED)
    return {"backbone": bb.id, "n_train": n, "n_reference": len(splits.test_x), "seed": FLOOR_SEED,
            "train_rows": f"torch.randperm(len(train), Generator seeded {FLOOR_SEED})[:n_train]",
            "metrics": {f"{m}[{bb.id}]": v for m, v in scores.items()}}
