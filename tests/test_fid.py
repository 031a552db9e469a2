"""FID: the Fréchet distance itself, the torchmetrics metric, the classifier backbone and its cache,
the Inception fallback, and compute_fid_metrics on every model class (digits; small and offline)."""

from __future__ import annotations

import argparse
import json
import math
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch

from vaebench.errors import UserError
from vaebench.metrics import fid_backbone
from vaebench.metrics.fid import (
    compute_fid_metrics,
    fid_metric_name,
    fid_of_images,
    frechet_distance,
    gaussian_frechet_distance,
    make_fid_metric,
    parse_fid_metric_name,
)
from vaebench.metrics.fid_backbone import build_classifier_backbone, get_backbone

HAVE_FMNIST = Path("/usr/share/datasets/fashion-mnist").is_dir()


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Small sizes, one intra-op thread (restored afterwards): these tests share a 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("fid_cache")


@pytest.fixture(scope="module")
def backbone(digits, cache_dir):
    return get_backbone(digits, "classifier", cache_dir=cache_dir)


@pytest.fixture(scope="module")
def feats(digits, backbone):
    return {
        "test": backbone.module(digits.test_x),
        "train": backbone.module(digits.train_x),
    }


def scipy_closed_form(a: np.ndarray, b: np.ndarray) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 sqrtm(S1 S2)), straight from the formula with scipy."""
    m1, m2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(s1 @ s2)
    return float(((m1 - m2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(root).real)


# ---------------------------------------------------------------- the distance


def test_distance_to_itself_is_zero(feats):
    f = feats["test"]
    assert frechet_distance(f, f) == pytest.approx(0.0, abs=1e-8 * float(f.var(0).sum()))
    g = np.random.default_rng(0).normal(size=(500, 8))
    assert frechet_distance(g, g) == pytest.approx(0.0, abs=1e-10)


def test_distance_is_symmetric(feats):
    a, b = feats["train"], feats["test"]
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-9)


def test_test_halves_close_noise_far(digits, backbone, feats):
    f = feats["test"]
    halves = frechet_distance(f[::2], f[1::2])
    noise = backbone.module(torch.rand(len(digits.test_x), *digits.image_shape, generator=torch.Generator().manual_seed(0)))
    far = frechet_distance(f, noise)
    assert 0 < halves < 0.2 * far


def test_equals_scipy_closed_form(feats):
    for a, b in [(feats["train"], feats["test"]), (feats["test"][::2], feats["test"][1::2])]:
        ours = frechet_distance(a, b)
        assert ours == pytest.approx(scipy_closed_form(a.numpy(), b.numpy()), rel=1e-6)


def test_gaussian_closed_form():
    rng = np.random.default_rng(1)
    n, d = 200_000, 4
    # commuting (diagonal) covariances: FD = ||mu1 - mu2||^2 + sum (sqrt(a_i) - sqrt(b_i))^2
    mu1, mu2 = np.zeros(d), np.array([1.0, -0.5, 0.0, 2.0])
    v1, v2 = np.array([1.0, 2.0, 0.5, 1.5]), np.array([0.25, 2.0, 2.0, 1.0])
    analytic = float(((mu1 - mu2) ** 2).sum() + ((np.sqrt(v1) - np.sqrt(v2)) ** 2).sum())
    assert gaussian_frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(analytic, rel=1e-12)
    a = mu1 + rng.normal(size=(n, d)) * np.sqrt(v1)
    b = mu2 + rng.normal(size=(n, d)) * np.sqrt(v2)
    assert frechet_distance(a, b) == pytest.approx(analytic, rel=0.02)
    # general covariances: the analytic value from the true parameters with scipy's sqrtm
    q1, q2 = rng.normal(size=(d, d)), rng.normal(size=(d, d))
    s1, s2 = q1 @ q1.T + 0.5 * np.eye(d), q2 @ q2.T + 0.5 * np.eye(d)
    exact = float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(s1 @ s2).real))
    assert gaussian_frechet_distance(mu1, s1, mu2, s2) == pytest.approx(exact, rel=1e-9)
    a = rng.multivariate_normal(mu1, s1, size=n)
    b = rng.multivariate_normal(mu2, s2, size=n)
    assert frechet_distance(a, b) == pytest.approx(exact, rel=0.02)


def test_distance_rejects_bad_input():
    with pytest.raises(ValueError, match="dimensions differ"):
        frechet_distance(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="at least 2"):
        frechet_distance(np.zeros((1, 3)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance(np.full((4, 2), np.nan), np.zeros((5, 2)))


def test_torchmetrics_metric_equals_frechet_distance(digits, backbone, feats):
    # in chunks, as the metric is fed in practice
    metric = make_fid_metric(backbone, sync_on_compute=False)
    for i in range(0, len(digits.test_x), 100):
        metric.update(digits.test_x[i : i + 100], real=True)
    for i in range(0, len(digits.train_x), 250):
        metric.update(digits.train_x[i : i + 250], real=False)
    value = metric.compute()
    assert value.dtype == torch.float64
    assert float(value) == pytest.approx(frechet_distance(feats["train"], feats["test"]), rel=1e-8)
    assert fid_of_images(digits.train_x, digits.test_x, backbone) == pytest.approx(float(value), rel=1e-9)


def test_metric_names():
    assert fid_metric_name("fid_samples", "digits-mlp") == "fid_samples[digits-mlp]"
    assert parse_fid_metric_name("fid_recon[inception]") == ("fid_recon", "inception")
    assert parse_fid_metric_name("elbo") is None
    with pytest.raises(KeyError):
        fid_metric_name("fid", "digits-mlp")


# ---------------------------------------------------------------- the classifier backbone


def test_digits_classifier_accuracy(backbone):
    assert backbone.id == "digits-mlp"
    assert backbone.classifier.test_acc >= 0.95
    assert backbone.feature_dim == 64


def test_classifier_is_deterministic_and_cached(digits, backbone, cache_dir, monkeypatch):
    first = backbone.classifier
    assert first.path.parent == cache_dir and first.path.is_file()
    again = build_classifier_backbone(digits, cache_dir=cache_dir, rebuild=True)  # a second training run
    assert not again.from_cache
    assert again.weights_sha256 == first.weights_sha256

    def no_training(*_a, **_k):
        raise AssertionError("the cached backbone was retrained")

    monkeypatch.setattr(fid_backbone, "_train_classifier", no_training)
    start = time.perf_counter()
    cached = build_classifier_backbone(digits, cache_dir=cache_dir)
    assert cached.from_cache and cached.cache_note == "loaded"
    assert cached.weights_sha256 == first.weights_sha256
    assert time.perf_counter() - start < 2.0
    x = digits.test_x[:50]
    assert torch.equal(cached.net.features(x), first.net.features(x))


def test_other_seed_is_another_backbone(digits, cache_dir):
    assert fid_backbone.classifier_id("digits", "mlp", 3) == "digits-mlp-seed3"
    assert fid_backbone.cache_path(digits, 3, cache_dir) != fid_backbone.cache_path(digits, 0, cache_dir)


def _damage(src: Path, path: Path, how: str) -> None:
    if how == "garbage":
        path.write_bytes(b"not a checkpoint")
    elif how == "truncated":
        path.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    else:  # one weight changed, the stored hash left as it was
        payload = torch.load(src, weights_only=True)
        name = sorted(payload["state_dict"])[0]
        payload["state_dict"][name].view(-1)[0] += 1.0
        torch.save(payload, path)


def test_corrupted_cache_is_detected_and_rebuilt(digits, backbone, tmp_path):
    src = backbone.classifier.path
    path = tmp_path / src.name
    key = fid_backbone.spec_key(backbone.classifier.spec)
    for how, why in [("garbage", "unreadable"), ("truncated", "unreadable"), ("weights", "SHA-256")]:
        _damage(src, path, how)
        payload, reason = fid_backbone._load_cached(path, key)
        assert payload is None and why in reason, how
    shutil.copy(src, path)
    assert fid_backbone._load_cached(path, key)[0] is not None
    assert fid_backbone._load_cached(path, "another key")[1] == "key mismatch"
    _damage(src, path, "weights")
    with pytest.warns(UserWarning, match="corrupted"):
        rebuilt = build_classifier_backbone(digits, cache_dir=tmp_path)
    assert not rebuilt.from_cache and rebuilt.cache_note.startswith("rebuilt")
    assert rebuilt.weights_sha256 == backbone.weights_sha256
    assert build_classifier_backbone(digits, cache_dir=tmp_path).from_cache  # and the file is good again


def test_cache_dir_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("VAEBENCH_CACHE", str(tmp_path))
    assert fid_backbone.default_cache_dir() == tmp_path / "fid_backbones"


def test_feature_module_checks_shape_and_stays_in_eval(backbone):
    module = backbone.module
    module.train()
    assert not module.training and not module.net.training
    with pytest.raises(ValueError, match="shape"):
        module(torch.rand(2, 1, 28, 28))
    assert module(torch.rand(3, 1, 8, 8)).dtype == torch.float64


# ---------------------------------------------------------------- Inception: unavailable here


def test_inception_unavailable_gives_clear_error_and_auto_falls_back(digits, cache_dir):
    ok, why = fid_backbone.inception_status()
    if ok:
        pytest.skip("Inception weights are available on this machine")
    with pytest.raises(UserError, match="Inception-v3 FID backbone is not available"):
        get_backbone(digits, "inception", cache_dir=cache_dir)
    bb = get_backbone(digits, "auto", cache_dir=cache_dir)
    assert bb.kind == "classifier" and bb.id == "digits-mlp"
    assert "inception unavailable" in bb.protocol["backbone_fallback"]
    with pytest.raises(UserError, match="unknown FID backbone"):
        get_backbone(digits, "clip", cache_dir=cache_dir)


def test_inception_status_is_quick_without_weights(monkeypatch, tmp_path):
    monkeypatch.setattr(fid_backbone, "_torch_fidelity_available", lambda: True)
    monkeypatch.setenv("VAEBENCH_INCEPTION_WEIGHTS", str(tmp_path / "missing.pth"))
    monkeypatch.setenv("VAEBENCH_OFFLINE", "1")
    start = time.perf_counter()
    ok, why = fid_backbone.inception_status()
    assert not ok and "missing.pth" in why and "VAEBENCH_OFFLINE" in why
    monkeypatch.delenv("VAEBENCH_OFFLINE")
    monkeypatch.setattr(fid_backbone, "_network_reachable", lambda *a, **k: False)
    ok, why = fid_backbone.inception_status()
    assert not ok and "unreachable" in why
    assert time.perf_counter() - start < 1.0
    monkeypatch.setattr(fid_backbone, "_torch_fidelity_available", lambda: False)
    assert "torch-fidelity" in fid_backbone.inception_status()[1]


def test_inception_preprocessing_and_protocol_with_a_stub(digits, monkeypatch, tmp_path):
    """The real weights are not here: a stub stands in for torchmetrics' NoTrainInceptionV3 to check
    what vaebench feeds it (uint8, 3 channels) and what it records (resize, antialias, hash)."""
    import torchmetrics.image.fid as tm_fid

    seen = {}

    class StubInception(torch.nn.Module):
        def __init__(self, name, features_list, feature_extractor_weights_path=None, antialias=True):
            super().__init__()
            seen.update(name=name, features=features_list, path=feature_extractor_weights_path, antialias=antialias)
            self.proj = torch.nn.Linear(3, 2048, bias=False)

        def forward(self, x):
            seen["input"] = x
            return self.proj(x.float().mean((2, 3)))

    weights = tmp_path / "weights.pth"
    weights.write_bytes(b"stub")
    monkeypatch.setattr(tm_fid, "NoTrainInceptionV3", StubInception)
    monkeypatch.setattr(fid_backbone, "_torch_fidelity_available", lambda: True)
    monkeypatch.setenv("VAEBENCH_INCEPTION_WEIGHTS", str(weights))
    bb = get_backbone(digits, "auto")
    assert bb.id == "inception" and bb.kind == "inception" and bb.feature_dim == 2048
    assert seen["features"] == ["2048"] and seen["path"] == str(weights) and seen["antialias"] is False
    assert bb.protocol["resize"] == {"size": 299, "mode": "bilinear", "antialias": False, "implementation": "torch-fidelity TF1-compatible"}
    assert len(bb.weights_sha256) == 64 and "backbone_fallback" not in bb.protocol
    out = bb.module(torch.tensor([0.0, 0.5, 1.0, 0.2]).view(1, 1, 2, 2))
    assert out.dtype == torch.float64 and out.shape == (1, 2048)
    x = seen["input"]
    assert x.dtype == torch.uint8 and x.shape == (1, 3, 2, 2)
    assert x[0, :, 0, 1].tolist() == [128, 128, 128] and x[0, 0].flatten().tolist() == [0, 128, 255, 51]
    assert fid_metric_name("fid_recon", bb.id) == "fid_recon[inception]"


# ---------------------------------------------------------------- compute_fid_metrics on every model


def _models(digits):
    from vaebench.models.ae import AE
    from vaebench.models.cvae import CVAE
    from vaebench.models.pca import PCAModel
    from vaebench.models.vae import VAE

    torch.manual_seed(0)
    shape = digits.image_shape
    return {
        "vae": VAE(shape, 4),
        "cvae": CVAE(shape, 4),
        "ae": AE(shape, 4),
        "pca": PCAModel(shape, 4).fit(digits.train_x),
    }


def test_compute_fid_metrics_every_model(digits, cache_dir):
    for kind, model in _models(digits).items():
        metrics, proto = compute_fid_metrics(model, digits, backbone="auto", seed=0, cache_dir=cache_dir)
        expected = {"fid_samples[digits-mlp]", "fid_recon[digits-mlp]"}
        if kind in ("ae", "pca"):
            expected.add("fid_samples_fitted[digits-mlp]")
        assert set(metrics) == expected, kind
        assert all(math.isfinite(v) and v >= 0 for v in metrics.values())
        assert proto["model_kind"] == kind
        assert proto["backbone"] == "digits-mlp" and len(proto["backbone_weights_sha256"]) == 64
        assert proto["n_samples"] == 360 and proto["reference_split"] == "test"
        assert proto["feature_dtype"] == "float64" and proto["seed"] == 0
        text = json.dumps(proto, allow_nan=False)  # JSON-serialisable and finite
        assert "NaN" not in text and "Infinity" not in text
        if kind == "pca":
            assert proto["clamped_pixel_fraction"]["fid_samples[digits-mlp]"] > 0  # PPCA leaves [0, 1]
        else:
            assert set(proto["clamped_pixel_fraction"].values()) == {0.0}


def test_compute_fid_metrics_is_seeded(digits, cache_dir):
    from vaebench.models.vae import VAE

    torch.manual_seed(0)
    model = VAE(digits.image_shape, 4)
    a, _ = compute_fid_metrics(model, digits, backbone="classifier", seed=5, n_samples=200, cache_dir=cache_dir)
    b, _ = compute_fid_metrics(model, digits, backbone="classifier", seed=5, n_samples=200, cache_dir=cache_dir)
    c, _ = compute_fid_metrics(model, digits, backbone="classifier", seed=6, n_samples=200, cache_dir=cache_dir)
    assert a == b
    assert a["fid_samples[digits-mlp]"] != c["fid_samples[digits-mlp]"]
    assert a["fid_recon[digits-mlp]"] == c["fid_recon[digits-mlp]"]  # reconstructions are deterministic


def test_good_model_beats_untrained(digits, cache_dir):
    """PCA with many components reconstructs well: its fid_recon is far below an untrained AE's."""
    from vaebench.models.ae import AE
    from vaebench.models.pca import PCAModel

    torch.manual_seed(0)
    pca, _ = compute_fid_metrics(PCAModel(digits.image_shape, 32).fit(digits.train_x), digits, backbone="classifier", cache_dir=cache_dir)
    ae, _ = compute_fid_metrics(AE(digits.image_shape, 4), digits, backbone="classifier", cache_dir=cache_dir)
    assert pca["fid_recon[digits-mlp]"] < 0.1 * ae["fid_recon[digits-mlp]"]


# ---------------------------------------------------------------- the CLI command


def test_cmd_fid_backbone(digits, backbone, cache_dir, capsys):
    from vaebench.cli.fid_backbone import add_parser, cmd_fid_backbone

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["fid-backbone", "--dataset", "digits", "--cache-dir", str(cache_dir)])
    assert args.handler is cmd_fid_backbone
    assert cmd_fid_backbone(args) == 0
    out = capsys.readouterr().out
    assert "digits-mlp" in out and backbone.weights_sha256 in out and "(loaded)" in out
    assert "feature dim:    64" in out
    with pytest.raises(UserError, match="unknown dataset"):
        cmd_fid_backbone(argparse.Namespace(dataset="cifar", seed=0, rebuild=False, data_root=None, cache_dir=str(cache_dir)))


# ---------------------------------------------------------------- Fashion-MNIST (slow)


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_FMNIST, reason="Fashion-MNIST not installed (/usr/share/datasets/fashion-mnist)")
def test_fashion_mnist_classifier_accuracy():
    """Uses the default cache (built once by `python -m vaebench fid-backbone --dataset fashion_mnist`,
    about 3 min on 2 CPU cores when missing)."""
    from vaebench.data import load_dataset

    splits = load_dataset("fashion_mnist")
    clf = build_classifier_backbone(splits)
    assert clf.id == "fashion_mnist-cnn" and clf.feature_dim == 128
    assert clf.test_acc >= 0.90
