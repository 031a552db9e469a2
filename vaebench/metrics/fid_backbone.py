"""Feature networks for FID: Inception-v3 pool3 when its weights are here, else a shipped dataset classifier.

Two backbones map images (N, C, H, W) in [0, 1] to (N, D) float64 features:

* ``inception``: the standard 2048-d pool3 features of the TF-ported Inception-v3 that
  torch-fidelity ships (through torchmetrics' ``NoTrainInceptionV3``). Grayscale is repeated to
  3 channels, pixels are rounded to uint8, and the net resizes to 299x299 bilinearly. Usable
  only where the ``torch-fidelity`` package is installed and its weights file is on disk (or can
  be downloaded: never tried when ``VAEBENCH_OFFLINE`` is set or github.com does not answer
  within 3 s).
* a dataset classifier, id ``<dataset>-<arch>`` (``fashion_mnist-cnn``, ``digits-mlp``): a small
  net trained on the dataset's train split (best epoch chosen on validation accuracy). Its
  penultimate layer is the feature vector. **FID always uses the weights shipped with vaebench**
  (``vaebench/fid_weights/<id>.pt``, a plain state dict), whose file SHA-256 and weights SHA-256
  are pinned in ``SHIPPED`` and checked at every load: the same ruler on every machine. Training
  one (``train_classifier``, ``python -m vaebench fid-backbone --build``) is for making a new
  shipped file and for seeing how far a locally trained ruler is from the shipped one
  (``vaebench.metrics.fid_ruler``); a locally trained net never measures a record's FID.
"""

from __future__ import annotations

import copy
import hashlib
import io
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vaebench.data.base import Splits, pixels
from vaebench.errors import UserError

BACKBONE_CHOICES = ("auto", "inception", "classifier")
WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "fid_weights"  # package data

# ---------------------------------------------------------------- classifier architectures

# name -> architecture hyper-parameters
ARCHITECTURES: dict[str, dict[str, Any]] = {
    "mlp": {"hidden": 256, "feature_dim": 64, "dropout": 0.2},
    "cnn": {"channels": [16, 32], "kernel": 3, "batchnorm": True, "pool_grid": 7, "feature_dim": 128, "dropout": 0.3},
}

# name -> training recipe. Adam, cosine-decayed learning rate, minibatches
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


# ---------------------------------------------------------------- hashing and the shipped weights


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


def classifier_id(dataset: str, arch: str, seed: int = 0) -> str:
    """`fashion_mnist-cnn`; a non-default training seed is part of the id (`digits-mlp-seed3`)."""
    return f"{dataset}-{arch}" + ("" if seed == 0 else f"-seed{seed}")


@dataclass(frozen=True)
class ShippedWeights:
    """One shipped classifier: where its file is, its pinned hashes, and what it was measured to do."""

    id: str
    dataset: str
    arch: str
    image_shape: tuple[int, int, int]
    num_classes: int
    file_sha256: str  # `sha256sum vaebench/fid_weights/<id>.pt`; checked before the file is unpickled
    weights_sha256: str  # state_dict_sha256 of the loaded weights: `backbone_weights_sha256` in records
    test_acc: float  # on the dataset's whole test split, when shipped
    n_test: int
    val_acc: float
    made: str  # how it was trained (seed, threads, torch), for the record

    @property
    def path(self) -> Path:
        return WEIGHTS_DIR / f"{self.id}.pt"


# Pinned. Replacing a file means building it (`fid-backbone --build --out`), copying it here and
# updating these lines, i.e. a new ruler: every FID measured with the old one is then another quantity.
SHIPPED: dict[str, ShippedWeights] = {
    w.id: w
    for w in (
        ShippedWeights(
            "digits-mlp", "digits", "mlp", (1, 8, 8), 10,
            file_sha256="3e9bca6334c65667b0727924c4c0ae046fd9b3643029f7590b67207d14191990",
            weights_sha256="c1fd0a3f6ac66c56ee3c56aebafc388f5a8d17a55f26437f170ed72659f592c4",
            test_acc=353 / 360, n_test=360, val_acc=176 / 180,
            made="seed 0, CPU, 1 thread, torch 2.14.1, 2026-11-30 (30 epochs, 17 s)",
        ),
        ShippedWeights(
            "fashion_mnist-cnn", "fashion_mnist", "cnn", (1, 28, 28), 10,
            file_sha256="acadc446fe6ad10e658dc66ed069ea0800a5cf3d18c411728eb3a6a77142f65c",
            weights_sha256="162818bc9fbc639ce5eeeb354ea25577582ae04c7d6ebab5b370ed57b04099da",
            test_acc=9128 / 10_000, n_test=10_000, val_acc=4588 / 5000,
            made="seed 0, CPU, 1 thread, torch 2.14.1, 2026-11-30 (best epoch 4 of 5, 362 s)",
        ),
    )
}


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_shipped_net(bid: str) -> nn.Module:
    """The shipped classifier `bid`, hash-checked (file before unpickling, weights after); eval mode.

    A missing, corrupted or replaced file is a `UserError` (exit 2): FID is never measured with
    weights other than the pinned ones.
    """
    w = SHIPPED[bid]
    try:
        data = w.path.read_bytes()
    except OSError as exc:
        raise UserError(f"FID backbone {bid}: cannot read its shipped weights {w.path} ({exc.strerror}); reinstall vaebench") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != w.file_sha256:
        raise UserError(
            f"FID backbone {bid}: {w.path} has SHA-256 {digest[:16]}..., not the pinned {w.file_sha256[:16]}...: "
            "the file is corrupted or was replaced; reinstall vaebench (or `git checkout` the file)"
        )
    state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    got = state_dict_sha256(state)
    if got != w.weights_sha256:  # the file matched its pin, so the pins disagree: a packaging error
        raise UserError(f"FID backbone {bid}: weights SHA-256 {got[:16]}... does not match the pinned {w.weights_sha256[:16]}... ({w.path})")
    net = make_classifier(w.arch, w.image_shape, w.num_classes)
    net.load_state_dict(state)
    return net.eval()


def save_state_dict(net: nn.Module, path: str | os.PathLike) -> str:
    """Write `net`'s state dict (CPU tensors) with torch.save, atomically; returns the file's SHA-256."""
    from vaebench.store import atomic_write_bytes

    buf = io.BytesIO()
    torch.save({k: v.detach().cpu().clone() for k, v in net.state_dict().items()}, buf)
    atomic_write_bytes(Path(path), buf.getvalue())
    os.chmod(path, 0o644)  # package data: readable by everyone
    return hashlib.sha256(buf.getvalue()).hexdigest()


# ---------------------------------------------------------------- training (to make or check a ruler)


@torch.no_grad()
def classifier_accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 2000) -> float:
    was_training = net.training
    net.eval()
    correct = 0
    for i in range(0, len(x), batch_size):
        correct += int((net(pixels(x[i : i + batch_size]).float()).argmax(1) == y[i : i + batch_size]).sum())
    net.train(was_training)
    return correct / max(1, len(x))


def _train_classifier(splits: Splits, arch: str, seed: int) -> tuple[nn.Module, dict[str, Any]]:
    """Train on splits.train_* (CPU, deterministic algorithms, seeded RNG); keep the best-val epoch."""
    recipe = RECIPES[arch]
    # stored images as they are (uint8 data sets stay uint8); each batch goes through pixels()
    x, y = splits.train_x.cpu(), splits.train_y.long().cpu()
    vx, vy = splits.val_x.cpu(), splits.val_y.long().cpu()
    if splits.num_classes < 2 or len(vx) == 0:
        raise UserError(f"dataset {splits.name!r} has no labels/validation split to train an FID classifier on")
    prev_det, prev_warn = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        # enable_grad: a caller may train from inside a no_grad context
        with torch.random.fork_rng(devices=[]), torch.enable_grad():  # leaves the caller's global RNG untouched
            torch.manual_seed(seed)  # initial weights and dropout masks
            net = make_classifier(arch, splits.image_shape, splits.num_classes)
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
    """A dataset classifier (shipped, or trained here) and what is known about it."""

    id: str
    dataset: str
    arch: str
    seed: int
    net: nn.Module
    weights_sha256: str
    feature_dim: int
    test_acc: float
    val_acc: float
    source: str  # "shipped" | "trained"
    build_seconds: float | None = None  # training time, when trained here


def shipped_classifier(splits: Splits) -> ClassifierBackbone:
    """The shipped, hash-checked classifier for `splits`' dataset (`UserError` when none is shipped)."""
    arch = architecture_for(splits.image_shape)
    bid = classifier_id(splits.name, arch)
    w = SHIPPED.get(bid)
    if w is None:
        raise UserError(
            f"no shipped FID classifier for dataset {splits.name!r} (shipped: {', '.join(SHIPPED)}); "
            "set protocol.fid_backbone to inception (needs torch-fidelity) or none"
        )
    if tuple(splits.image_shape) != w.image_shape or int(splits.num_classes) != w.num_classes:
        raise UserError(
            f"FID backbone {bid} expects {w.num_classes} classes of {w.image_shape} images; dataset {splits.name!r} "
            f"has {splits.num_classes} classes of {tuple(splits.image_shape)}"
        )
    return ClassifierBackbone(bid, w.dataset, w.arch, 0, load_shipped_net(bid), w.weights_sha256,
                              int(ARCHITECTURES[arch]["feature_dim"]), w.test_acc, w.val_acc, "shipped")


def train_classifier(splits: Splits, seed: int = 0) -> ClassifierBackbone:
    """Train the dataset's classifier here (minutes on CPU for Fashion-MNIST); nothing is cached."""
    arch = architecture_for(splits.image_shape)
    start = time.perf_counter()
    net, info = _train_classifier(splits, arch, seed)
    seconds = time.perf_counter() - start
    test_acc = classifier_accuracy(net, splits.test_x.cpu(), splits.test_y.long().cpu())
    return ClassifierBackbone(
        classifier_id(splits.name, arch, seed), splits.name, arch, seed, net, state_dict_sha256(net.state_dict()),
        int(ARCHITECTURES[arch]["feature_dim"]), test_acc, info["val_acc"], "trained", seconds,
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


def as_backbone(clf: ClassifierBackbone, splits: Splits) -> Backbone:
    module = ClassifierFeatures(clf.net, splits.image_shape, clf.feature_dim)
    proto = {
        "backbone": clf.id, "backbone_kind": "classifier", "backbone_weights_sha256": clf.weights_sha256,
        "feature_dim": clf.feature_dim, "feature_layer": "penultimate (after SiLU)",
        "backbone_arch": clf.arch, "backbone_seed": clf.seed, "backbone_test_acc": clf.test_acc,
        "backbone_trained_on": "train split (best epoch on val accuracy)", "resize": None,
    }
    if clf.source == "shipped":
        proto["backbone_weights"] = f"shipped vaebench/fid_weights/{clf.id}.pt (file SHA-256 {SHIPPED[clf.id].file_sha256})"
    return Backbone(clf.id, "classifier", module, clf.weights_sha256, clf.feature_dim, proto, clf)


def shipped_classifier_id(splits: Splits) -> str | None:
    """The id of the shipped classifier that fits `splits` (its dataset, image shape and class
    count), or None when no shipped classifier measures this data."""
    bid = classifier_id(splits.name, architecture_for(splits.image_shape))
    w = SHIPPED.get(bid)
    if w is None or tuple(splits.image_shape) != w.image_shape or int(splits.num_classes) != w.num_classes:
        return None
    return bid


def fid_unavailable(splits: Splits, backbone: str) -> str | None:
    """Why FID cannot be measured on `splits` with `backbone` here, or None when it can. Cheap (no
    weights are loaded): the sweep asks before the first run, so a run never trains and then fails.
    "auto" with neither Inception nor a shipped classifier is a reason (the sweep then skips FID
    for that data and says so); an explicit "classifier" or "inception" that is missing is the
    caller's error to raise."""
    if backbone == "none":
        return None
    if backbone in ("auto", "inception"):
        ok, why = inception_status()
        if ok or backbone == "inception":
            return None if ok else f"the inception backbone is unavailable: {why}"
    if shipped_classifier_id(splits) is None:
        return (f"no shipped FID classifier for dataset {splits.name!r} {tuple(splits.image_shape)} with "
                f"{splits.num_classes} classes (shipped: {', '.join(SHIPPED)}) and no inception backbone")
    return None


def get_backbone(splits: Splits, backbone: str = "auto") -> Backbone:
    """`backbone`: "auto" (Inception when available, else the shipped classifier), "inception" or "classifier".

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
        bb = as_backbone(shipped_classifier(splits), splits)
        bb.protocol["backbone_fallback"] = f"inception unavailable: {why}"
        return bb
    return as_backbone(shipped_classifier(splits), splits)
