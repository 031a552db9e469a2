"""Feature networks for FID: Inception-v3 pool3 when its weights are here, else a dataset classifier.

Two backbones map images (N, C, H, W) in [0, 1] to (N, D) float64 features:

* ``inception``: the standard 2048-d pool3 features of the TF-ported Inception-v3 that
  torch-fidelity ships (through torchmetrics' ``NoTrainInceptionV3``). Grayscale is repeated to
  3 channels, pixels are rounded to uint8, and the net resizes to 299x299 bilinearly. Usable
  only where the ``torch-fidelity`` package is installed and its weights file is on disk (or can
  be downloaded: never tried when ``VAEBENCH_OFFLINE`` is set or github.com does not answer
  within 3 s).
* a dataset classifier, id ``<dataset>-<arch>`` (``fashion_mnist-cnn``, ``digits-mlp``): a small
  net vaebench trains on the dataset's train split (best epoch chosen on validation accuracy),
  deterministically from a seed, on CPU, and caches on disk under a content hash of
  (dataset checksum, architecture, recipe, seed). Its penultimate layer is the feature vector.

The cache folder is, in order: the ``cache_dir`` argument, ``$VAEBENCH_CACHE/fid_backbones``,
``~/.cache/vaebench/fid_backbones``. A cache file holds the weights and their SHA-256 (over the
state dict's names, dtypes, shapes and bytes); loading recomputes it, and a file that does not
unpickle or whose hash or key does not match is reported and rebuilt.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import socket
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vaebench.data.base import Splits, pixels
from vaebench.errors import UserError
from vaebench.store import atomic_write_bytes

CACHE_FORMAT = 1
BACKBONE_CHOICES = ("auto", "inception", "classifier")

# ---------------------------------------------------------------- classifier architectures

# name -> architecture hyper-parameters (part of the cache key)
ARCHITECTURES: dict[str, dict[str, Any]] = {
    "mlp": {"hidden": 256, "feature_dim": 64, "dropout": 0.2},
    "cnn": {"channels": [16, 32], "kernel": 3, "batchnorm": True, "pool_grid": 7, "feature_dim": 128, "dropout": 0.3},
}

# name -> training recipe (part of the cache key). Adam, cosine-decayed learning rate, minibatches
# drawn by a seeded permutation of the whole train tensor; the epoch with the best validation
# accuracy is kept (earliest on ties).
RECIPES: dict[str, dict[str, Any]] = {
    "mlp": {"optimizer": "adam", "lr": 2e-3, "weight_decay": 1e-4, "batch_size": 64, "epochs": 30, "schedule": "cosine", "select": "val_acc"},
    "cnn": {"optimizer": "adam", "lr": 3e-3, "weight_decay": 0.0, "batch_size": 128, "epochs": 5, "schedule": "cosine", "select": "val_acc"},
}


def architecture_for(image_shape: tuple[int, int, int]) -> str:
    """8x8 digits get an MLP; anything 16x16 or larger a small conv net."""
    return "cnn" if image_shape[1] >= 16 and image_shape[2] >= 16 else "mlp"


# The feature (penultimate) layer uses SiLU, not ReLU: a dead ReLU unit is a feature that is
# identically zero, which makes the feature covariance singular and the matrix square root in the
# Frechet distance ill-conditioned.


class MLPClassifier(nn.Module):
    def __init__(self, image_shape, num_classes: int, hidden: int, feature_dim: int, dropout: float):
        super().__init__()
        c, h, w = image_shape
        self.body = nn.Sequential(
            nn.Flatten(), nn.Linear(c * h * w, hidden), nn.ReLU(), nn.Linear(hidden, feature_dim), nn.SiLU()
        )
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(feature_dim, num_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class CNNClassifier(nn.Module):
    def __init__(self, image_shape, num_classes: int, channels, kernel: int, pool_grid: int, feature_dim: int,
                 dropout: float, batchnorm: bool = False):
        super().__init__()
        c = image_shape[0]
        c1, c2 = channels
        pad = kernel // 2

        def norm(ch):
            return nn.BatchNorm2d(ch) if batchnorm else nn.Identity()

        self.body = nn.Sequential(
            nn.Conv2d(c, c1, kernel, padding=pad), norm(c1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, kernel, padding=pad), norm(c2), nn.ReLU(), nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(pool_grid),  # identity for 28x28 inputs (7x7 after two pools)
            nn.Flatten(), nn.Linear(c2 * pool_grid * pool_grid, feature_dim), nn.SiLU(),
        )
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(feature_dim, num_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def make_classifier(arch: str, image_shape, num_classes: int) -> nn.Module:
    params = ARCHITECTURES[arch]
    cls = {"mlp": MLPClassifier, "cnn": CNNClassifier}[arch]
    return cls(tuple(image_shape), num_classes, **params)


# ---------------------------------------------------------------- hashing and cache location


def state_dict_sha256(state_dict: dict[str, torch.Tensor]) -> str:
    """SHA-256 over (name, dtype, shape, raw bytes) of every tensor, in sorted name order."""
    h = hashlib.sha256()
    for name in sorted(state_dict):
        t = state_dict[name].detach().cpu().contiguous()
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def default_cache_dir() -> Path:
    root = os.environ.get("VAEBENCH_CACHE")
    base = Path(root) if root else Path.home() / ".cache" / "vaebench"
    return base / "fid_backbones"


def resolve_cache_dir(cache_dir: str | os.PathLike | None) -> Path:
    return Path(cache_dir) if cache_dir is not None else default_cache_dir()


def classifier_spec(splits: Splits, seed: int = 0) -> dict[str, Any]:
    """Everything the trained weights depend on (by design); its hash names the cache file."""
    arch = architecture_for(splits.image_shape)
    return {
        "format": CACHE_FORMAT,
        "dataset": splits.name,
        "dataset_checksum": splits.checksum,
        "image_shape": list(splits.image_shape),
        "num_classes": int(splits.num_classes),
        "arch": arch,
        "arch_params": ARCHITECTURES[arch],
        "recipe": RECIPES[arch],
        "seed": int(seed),
    }


def spec_key(spec: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def classifier_id(dataset: str, arch: str, seed: int = 0) -> str:
    """`fashion_mnist-cnn`; a non-default backbone seed is part of the id (`digits-mlp-seed3`)."""
    return f"{dataset}-{arch}" + ("" if seed == 0 else f"-seed{seed}")


def cache_path(splits: Splits, seed: int = 0, cache_dir=None) -> Path:
    spec = classifier_spec(splits, seed)
    return resolve_cache_dir(cache_dir) / f"{classifier_id(splits.name, spec['arch'], seed)}-{spec_key(spec)[:16]}.pt"


# ---------------------------------------------------------------- training


@torch.no_grad()
def classifier_accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 2000) -> float:
    was_training = net.training
    net.eval()
    correct = 0
    for i in range(0, len(x), batch_size):
        correct += int((net(pixels(x[i : i + batch_size]).float()).argmax(1) == y[i : i + batch_size]).sum())
    net.train(was_training)
    return correct / max(1, len(x))


def _train_classifier(splits: Splits, spec: dict[str, Any]) -> tuple[nn.Module, dict[str, Any]]:
    """Train on splits.train_* (CPU, deterministic algorithms, seeded RNG); keep the best-val epoch."""
    recipe, seed = spec["recipe"], spec["seed"]
    # stored images as they are (uint8 data sets stay uint8); each batch goes through pixels()
    x, y = splits.train_x.cpu(), splits.train_y.long().cpu()
    vx, vy = splits.val_x.cpu(), splits.val_y.long().cpu()
    if splits.num_classes < 2 or len(vx) == 0:
        raise UserError(f"dataset {splits.name!r} has no labels/validation split to train an FID classifier on")
    prev_det, prev_warn = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        # enable_grad: the backbone may be built lazily from inside a no_grad evaluation
        with torch.random.fork_rng(devices=[]), torch.enable_grad():  # leaves the caller's global RNG untouched
            torch.manual_seed(seed)  # initial weights and dropout masks
            net = make_classifier(spec["arch"], spec["image_shape"], spec["num_classes"])
            gen = torch.Generator().manual_seed(seed + 1)  # minibatch order
            opt = torch.optim.Adam(net.parameters(), lr=recipe["lr"], weight_decay=recipe["weight_decay"])
            epochs, bs = recipe["epochs"], recipe["batch_size"]
            steps_per_epoch = -(-len(x) // bs)
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps_per_epoch)
            best = (-1.0, -1, None)
            history = []
            for epoch in range(epochs):
                net.train()
                perm = torch.randperm(len(x), generator=gen)
                for i in range(0, len(x), bs):
                    idx = perm[i : i + bs]
                    loss = F.cross_entropy(net(pixels(x[idx]).float()), y[idx])
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    sched.step()
                val_acc = classifier_accuracy(net, vx, vy)
                history.append(round(val_acc, 6))
                if val_acc > best[0]:
                    best = (val_acc, epoch, copy.deepcopy(net.state_dict()))
    finally:
        torch.use_deterministic_algorithms(prev_det, warn_only=prev_warn)
    net.load_state_dict(best[2])
    net.eval()
    return net, {"val_acc": best[0], "best_epoch": best[1], "val_acc_history": history}


# ---------------------------------------------------------------- the classifier backbone


@dataclass
class ClassifierBackbone:
    """A trained (or cached) dataset classifier and what is known about it."""

    id: str
    dataset: str
    arch: str
    seed: int
    net: nn.Module
    weights_sha256: str
    feature_dim: int
    test_acc: float
    val_acc: float
    build_seconds: float  # the training time when it was built (also when loaded from cache)
    path: Path
    from_cache: bool
    cache_note: str  # "loaded", "built", "rebuilt (...)"
    spec: dict[str, Any] = field(repr=False)


def _load_cached(path: Path, key: str) -> tuple[dict | None, str]:
    """(payload, "") when the file is intact, else (None, why)."""
    if not path.is_file():
        return None, "missing"
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated / garbled pickle
        return None, f"unreadable ({type(exc).__name__})"
    if not isinstance(payload, dict) or {"key", "state_dict", "weights_sha256", "meta"} - set(payload):
        return None, "not a vaebench backbone file"
    if payload["key"] != key:
        return None, "key mismatch"
    digest = state_dict_sha256(payload["state_dict"])
    if digest != payload["weights_sha256"]:
        return None, f"weights SHA-256 {digest[:12]}... does not match the stored {str(payload['weights_sha256'])[:12]}..."
    return payload, ""


def build_classifier_backbone(splits: Splits, seed: int = 0, cache_dir=None, rebuild: bool = False) -> ClassifierBackbone:
    """Load the classifier for `splits` from the cache, or train it and cache it.

    `rebuild=True` retrains and overwrites. A corrupted cache file is reported (warning) and rebuilt.
    """
    spec = classifier_spec(splits, seed)
    key = spec_key(spec)
    path = cache_path(splits, seed, cache_dir)
    bid = classifier_id(splits.name, spec["arch"], seed)
    payload, why = (None, "rebuild requested") if rebuild else _load_cached(path, key)
    if payload is not None:
        net = make_classifier(spec["arch"], spec["image_shape"], spec["num_classes"])
        net.load_state_dict(payload["state_dict"])
        net.eval()
        meta = payload["meta"]
        return ClassifierBackbone(
            bid, splits.name, spec["arch"], seed, net, payload["weights_sha256"], int(meta["feature_dim"]),
            float(meta["test_acc"]), float(meta["val_acc"]), float(meta["build_seconds"]), path, True, "loaded", spec,
        )
    if why not in ("missing", "rebuild requested"):
        warnings.warn(f"FID backbone cache file {path} is corrupted ({why}); rebuilding it", stacklevel=2)
    start = time.perf_counter()
    net, info = _train_classifier(splits, spec)
    build_seconds = time.perf_counter() - start
    test_acc = classifier_accuracy(net, splits.test_x.cpu(), splits.test_y.long().cpu())
    state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
    digest = state_dict_sha256(state)
    feature_dim = int(ARCHITECTURES[spec["arch"]]["feature_dim"])
    meta = {
        "test_acc": test_acc, "val_acc": info["val_acc"], "best_epoch": info["best_epoch"],
        "val_acc_history": info["val_acc_history"], "feature_dim": feature_dim,
        "build_seconds": build_seconds, "torch_version": str(torch.__version__), "torch_threads": torch.get_num_threads(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    buf = io.BytesIO()
    torch.save({"key": key, "spec": spec, "state_dict": state, "weights_sha256": digest, "meta": meta}, buf)
    atomic_write_bytes(path, buf.getvalue())
    note = "built" if why in ("missing", "rebuild requested") else f"rebuilt ({why})"
    return ClassifierBackbone(
        bid, splits.name, spec["arch"], seed, net, digest, feature_dim, test_acc, info["val_acc"],
        build_seconds, path, False, note, spec,
    )


class ClassifierFeatures(nn.Module):
    """torchmetrics `feature` module: images in [0, 1] (or uint8) -> penultimate features, float64."""

    def __init__(self, net: nn.Module, image_shape, feature_dim: int):
        super().__init__()
        self.net = net.eval()
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.image_shape = tuple(image_shape)
        self.num_features = int(feature_dim)

    def train(self, mode: bool = True):  # never leaves evaluation mode (dropout off)
        return super().train(False)

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.uint8:
            x = x.float() / 255.0
        if tuple(x.shape[1:]) != self.image_shape:
            raise ValueError(f"FID classifier expects images of shape {self.image_shape}, got {tuple(x.shape[1:])}")
        param = next(self.net.parameters())
        return self.net.features(x.to(device=param.device, dtype=param.dtype)).double()


# ---------------------------------------------------------------- Inception-v3

INCEPTION_WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"  # torch-fidelity v0.2.0 release asset
INCEPTION_RESIZE = 299
INCEPTION_ANTIALIAS = False  # False = torch-fidelity's TF1-compatible bilinear (the reference FID resize)


def _torch_fidelity_available() -> bool:
    from torchmetrics.utilities.imports import _TORCH_FIDELITY_AVAILABLE

    return bool(_TORCH_FIDELITY_AVAILABLE)


def inception_weights_path() -> Path:
    """$VAEBENCH_INCEPTION_WEIGHTS, else where torch.hub caches torch-fidelity's download."""
    env = os.environ.get("VAEBENCH_INCEPTION_WEIGHTS")
    if env:
        return Path(env)
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_WEIGHTS_FILE


def _network_reachable(host: str = "github.com", port: int = 443, timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def inception_status() -> tuple[bool, str]:
    """(usable, why) without building the network; never waits more than ~3 s on the network."""
    if not _torch_fidelity_available():
        return False, "the torch-fidelity package is not installed (pip install torch-fidelity)"
    path = inception_weights_path()
    if path.is_file():
        return True, f"weights at {path}"
    if os.environ.get("VAEBENCH_OFFLINE"):
        return False, f"Inception weights not found at {path} and VAEBENCH_OFFLINE is set"
    if not _network_reachable():
        return False, f"Inception weights not found at {path} and github.com is unreachable"
    return True, "weights will be downloaded by torch-fidelity"


class InceptionFeatures(nn.Module):
    """torchmetrics `feature` module: images in [0, 1] -> 2048-d pool3 features, float64.

    1-channel images are repeated to 3; pixels are rounded to uint8 (x * 255, rounded, as a
    saved PNG would be); the net itself resizes to 299x299 bilinearly (antialias flag recorded).
    """

    def __init__(self, weights_path: Path | None = None, antialias: bool = INCEPTION_ANTIALIAS):
        super().__init__()
        from torchmetrics.image.fid import NoTrainInceptionV3

        self.net = NoTrainInceptionV3(
            name="inception-v3-compat", features_list=["2048"],
            feature_extractor_weights_path=str(weights_path) if weights_path else None, antialias=antialias,
        )
        self.antialias = antialias
        self.num_features = 2048

    def train(self, mode: bool = True):
        return super().train(False)

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype != torch.uint8:
            x = (x.clamp(0, 1) * 255).round().to(torch.uint8)
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        elif x.shape[1] != 3:
            raise ValueError(f"Inception FID needs 1- or 3-channel images, got {x.shape[1]} channels")
        return self.net(x).double()


# ---------------------------------------------------------------- one entry point


@dataclass
class Backbone:
    """What FID needs from a backbone: the feature module and what goes into the protocol."""

    id: str  # "inception" or e.g. "fashion_mnist-cnn"; part of every FID metric name
    kind: str  # "inception" | "classifier"
    module: nn.Module  # images in [0, 1] (N, C, H, W) -> (N, D) float64
    weights_sha256: str
    feature_dim: int
    protocol: dict[str, Any]
    classifier: ClassifierBackbone | None = None


def _inception_backbone() -> Backbone:
    ok, why = inception_status()
    if not ok:
        raise UserError(f"the Inception-v3 FID backbone is not available: {why}; use backbone='classifier'")
    path = inception_weights_path()
    try:
        module = InceptionFeatures(path if path.is_file() else None)
    except Exception as exc:  # download failed, weights file unreadable, API drift
        raise UserError(f"the Inception-v3 FID backbone could not be built ({type(exc).__name__}: {exc})") from None
    digest = state_dict_sha256(module.net.state_dict())
    proto = {
        "backbone": "inception", "backbone_kind": "inception", "backbone_weights_sha256": digest,
        "feature_dim": 2048, "feature_layer": "pool3 (2048)",
        "weights": "torch-fidelity " + INCEPTION_WEIGHTS_FILE,
        "grayscale": "repeated to 3 channels", "quantisation": "round(x * 255) to uint8",
        "resize": {"size": INCEPTION_RESIZE, "mode": "bilinear", "antialias": INCEPTION_ANTIALIAS,
                   "implementation": "torch-fidelity TF1-compatible" if not INCEPTION_ANTIALIAS else "torch.nn.functional.interpolate"},
    }
    return Backbone("inception", "inception", module, digest, 2048, proto)


def _classifier_backbone(splits: Splits, seed: int, cache_dir, rebuild: bool) -> Backbone:
    clf = build_classifier_backbone(splits, seed=seed, cache_dir=cache_dir, rebuild=rebuild)
    module = ClassifierFeatures(clf.net, splits.image_shape, clf.feature_dim)
    proto = {
        "backbone": clf.id, "backbone_kind": "classifier", "backbone_weights_sha256": clf.weights_sha256,
        "feature_dim": clf.feature_dim, "feature_layer": "penultimate (after SiLU)",
        "backbone_arch": clf.arch, "backbone_seed": clf.seed, "backbone_test_acc": clf.test_acc,
        "backbone_trained_on": "train split (best epoch on val accuracy)", "resize": None,
    }
    return Backbone(clf.id, "classifier", module, clf.weights_sha256, clf.feature_dim, proto, clf)


def get_backbone(splits: Splits, backbone: str = "auto", *, seed: int = 0, cache_dir=None, rebuild: bool = False) -> Backbone:
    """`backbone`: "auto" (Inception when available, else the classifier), "inception" or "classifier".

    With "auto" the reason for falling back is recorded in `protocol["backbone_fallback"]`.
    """
    if backbone not in BACKBONE_CHOICES:
        raise UserError(f"unknown FID backbone {backbone!r}; choose one of {', '.join(BACKBONE_CHOICES)}")
    if backbone == "inception":
        return _inception_backbone()
    if backbone == "auto":
        ok, why = inception_status()
        if ok:
            try:
                return _inception_backbone()
            except UserError as exc:
                why = str(exc)
        bb = _classifier_backbone(splits, seed, cache_dir, rebuild)
        bb.protocol["backbone_fallback"] = f"inception unavailable: {why}"
        return bb
    return _classifier_backbone(splits, seed, cache_dir, rebuild)
