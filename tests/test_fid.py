"""FID: the Fréchet distance itself, the torchmetrics metric, the shipped classifier backbones (hash
checks, stated accuracy, building one here and comparing), the Inception fallback, and
compute_fid_metrics on every model class (digits; small and offline)."""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch

from vaebench.data.base import pixels
from vaebench.errors import UserError
from vaebench.metrics import fid_backbone, fid_ruler
from vaebench.metrics.catalog import SAMPLE_MEASURES
from vaebench.metrics.fid import (
    compute_fid_metrics,
    fid_metric_name,
    fid_of_images,
    frechet_distance,
    gaussian_frechet_distance,
    make_fid_metric,
    parse_fid_metric_name,
)
from vaebench.metrics.fid_backbone import SHIPPED, get_backbone

HAVE_FMNIST = Path("/usr/share/datasets/fashion-mnist").is_dir()


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Small sizes, one intra-op thread (restored afterwards): these tests share a 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def backbone(digits):
    return get_backbone(digits, "classifier")


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


# ---------------------------------------------------------------- the shipped classifier backbones


def _splits_of(name):
    from vaebench.data import load_dataset

    return load_dataset(name)


@pytest.mark.parametrize("bid", [pytest.param(b, marks=pytest.mark.slow) if SHIPPED[b].n_test > 1000 else b for b in sorted(SHIPPED)])
def test_shipped_weights_load_match_their_hashes_and_stated_accuracy(bid):
    """The package holds every shipped file; it loads, matches both pinned hashes and reaches the
    stated test accuracy on the real test split (the same weights on any machine: only an image
    whose top two logits tie to float round-off could flip, so one image of slack)."""
    w = SHIPPED[bid]
    assert w.path.is_file() and w.path.stat().st_size < 2_000_000, "shipped weights must stay small"
    assert fid_backbone.file_sha256(w.path) == w.file_sha256
    if w.dataset == "fashion_mnist" and not HAVE_FMNIST:
        pytest.skip("Fashion-MNIST not installed (/usr/share/datasets/fashion-mnist)")
    splits = _splits_of(w.dataset)
    clf = fid_backbone.shipped_classifier(splits)
    assert (clf.id, clf.source, clf.seed) == (bid, "shipped", 0)
    assert fid_backbone.state_dict_sha256(clf.net.state_dict()) == w.weights_sha256 == clf.weights_sha256
    assert not clf.net.training
    assert len(splits.test_x) == w.n_test
    correct = fid_backbone.classifier_accuracy(clf.net, splits.test_x, splits.test_y) * w.n_test
    assert abs(correct - w.test_acc * w.n_test) <= 1.0
    assert w.test_acc >= {"digits": 0.95, "fashion_mnist": 0.90}[w.dataset]


def _damage(src: Path, dst: Path, how: str) -> None:
    data = bytearray(src.read_bytes())
    if how == "flipped byte":
        data[len(data) // 2] ^= 0x01
    elif how == "truncated":
        data = data[: len(data) // 2]
    elif how == "garbage":
        data = bytearray(b"not a checkpoint")
    dst.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["flipped byte", "truncated", "garbage", "missing"])
def test_corrupted_shipped_weights_are_refused(digits, monkeypatch, tmp_path, capsys, how):
    src = SHIPPED["digits-mlp"].path
    monkeypatch.setattr(fid_backbone, "WEIGHTS_DIR", tmp_path)
    if how != "missing":
        _damage(src, tmp_path / src.name, how)
    match = "cannot read" if how == "missing" else "corrupted or was replaced"
    with pytest.raises(UserError, match=match):
        get_backbone(digits, "classifier")
    with pytest.raises(UserError, match=match):  # and the FID of a model fails the same way
        compute_fid_metrics(_models(digits)["pca"], digits, backbone="classifier", n_samples=10)
    from vaebench.cli import main

    assert main(["fid-backbone", "--dataset", "digits"]) == 2  # the command line: exit 2, one line
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and match in err and "digits-mlp" in err


def test_pinned_weights_hash_is_checked_after_loading(digits, monkeypatch):
    """The file matches its pin but the weights pin disagrees (a packaging mistake): refused too."""
    import dataclasses

    bad = dataclasses.replace(SHIPPED["digits-mlp"], weights_sha256="0" * 64)
    monkeypatch.setitem(SHIPPED, "digits-mlp", bad)
    with pytest.raises(UserError, match="does not match the pinned"):
        get_backbone(digits, "classifier")


def test_fid_never_trains_nor_reads_the_old_cache(digits, monkeypatch, tmp_path):
    def no_training(*_a, **_k):
        raise AssertionError("FID trained a backbone")

    monkeypatch.setattr(fid_backbone, "_train_classifier", no_training)
    old = tmp_path / "fid_backbones"
    old.mkdir()
    (old / "digits-mlp-ac5c06b70d230253.pt").write_bytes(b"an old per-machine backbone")
    monkeypatch.setenv("VAEBENCH_CACHE", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    start = time.perf_counter()
    bb = get_backbone(digits, "classifier")
    assert time.perf_counter() - start < 2.0
    assert bb.weights_sha256 == SHIPPED["digits-mlp"].weights_sha256
    assert "shipped vaebench/fid_weights/digits-mlp.pt" in bb.protocol["backbone_weights"]
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["digits-mlp-ac5c06b70d230253.pt", "fid_backbones"]


def test_no_shipped_backbone_for_other_data_is_a_clear_error():
    from vaebench.data.base import Splits

    x, y = torch.rand(4, 3, 32, 32), torch.arange(4) % 2
    other = Splits("cifar", x, y, x, y, x, y, 2, "x", "test")
    with pytest.raises(UserError, match="no shipped FID classifier for dataset 'cifar'.*inception.*none"):
        get_backbone(other, "classifier")
    assert fid_backbone.classifier_id("digits", "mlp", 3) == "digits-mlp-seed3"


@pytest.fixture(scope="module")
def short_recipe():
    """A 3-epoch digits recipe: training here is tested for what it does, not for a good net."""
    saved = dict(fid_backbone.RECIPES["mlp"])
    fid_backbone.RECIPES["mlp"]["epochs"] = 3
    yield
    fid_backbone.RECIPES["mlp"].clear()
    fid_backbone.RECIPES["mlp"].update(saved)


def test_training_here_is_deterministic_and_compared_with_the_shipped_ruler(digits, short_recipe, tmp_path):
    a = fid_backbone.train_classifier(digits)
    b = fid_backbone.train_classifier(digits)
    assert a.source == "trained" and a.weights_sha256 == b.weights_sha256
    assert a.weights_sha256 != SHIPPED["digits-mlp"].weights_sha256  # 3 epochs, not the shipped 30
    # saved as a plain state dict that loads with weights_only=True and keeps its hash
    sha = fid_backbone.save_state_dict(a.net, tmp_path / "w.pt")
    assert sha == fid_backbone.file_sha256(tmp_path / "w.pt")
    assert fid_backbone.state_dict_sha256(torch.load(tmp_path / "w.pt", weights_only=True)) == a.weights_sha256

    cmp = fid_ruler.compare_with_shipped(a, digits)
    assert cmp["shipped"]["test_acc_now"] == pytest.approx(SHIPPED["digits-mlp"].test_acc, abs=1 / 360)
    assert cmp["other"]["test_acc_now"] == pytest.approx(a.test_acc)
    assert set(cmp["fid"]) == {"noise sigma=0.1", "blur sigma=1.0px", "pca8 recon"}
    for r in cmp["fid"].values():
        assert r["shipped"] > 0 and r["other"] > 0 and r["rel_diff"] == pytest.approx((r["other"] - r["shipped"]) / r["shipped"])
    assert cmp["max_abs_rel_diff"] > 0
    # the shipped ruler compared with itself: no difference at all
    same = fid_ruler.compare_with_shipped(fid_backbone.shipped_classifier(digits), digits)
    assert same["max_abs_rel_diff"] == 0.0


def test_ruler_pairs_are_deterministic_and_degrade_the_test_set(digits):
    p, q = fid_ruler.ruler_pairs(digits), fid_ruler.ruler_pairs(digits)
    test = digits.test_x
    for name in p:
        assert torch.equal(p[name], q[name]) and p[name].shape == test.shape
        assert 0.0 <= float(p[name].min()) and float(p[name].max()) <= 1.0
        assert float(((p[name] - test) ** 2).mean()) > 1e-4, name
    # the noise is what it says: before clamping, pixel differences have std sigma
    raw = fid_ruler.add_pixel_noise(torch.full((1, 1, 100, 100), 0.5), 0.1)
    assert float((raw - 0.5).std()) == pytest.approx(0.1, rel=0.03)
    # a blur keeps a constant image and the mean brightness of a point (reflect padding aside)
    assert torch.allclose(fid_ruler.blur(torch.full((1, 1, 8, 8), 0.3), 1.0), torch.full((1, 1, 8, 8), 0.3))


def test_feature_module_checks_shape_and_stays_in_eval(backbone):
    module = backbone.module
    module.train()
    assert not module.training and not module.net.training
    with pytest.raises(ValueError, match="shape"):
        module(torch.rand(2, 1, 28, 28))
    assert module(torch.rand(3, 1, 8, 8)).dtype == torch.float64


# ---------------------------------------------------------------- Inception: unavailable here


def test_inception_unavailable_gives_clear_error_and_auto_falls_back(digits):
    ok, why = fid_backbone.inception_status()
    if ok:
        pytest.skip("Inception weights are available on this machine")
    with pytest.raises(UserError, match="Inception-v3 FID backbone is not available"):
        get_backbone(digits, "inception")
    bb = get_backbone(digits, "auto")
    assert bb.kind == "classifier" and bb.id == "digits-mlp"
    assert "inception unavailable" in bb.protocol["backbone_fallback"]
    with pytest.raises(UserError, match="unknown FID backbone"):
        get_backbone(digits, "clip")


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


def test_compute_fid_metrics_every_model(digits):
    for kind, model in _models(digits).items():
        metrics, proto = compute_fid_metrics(model, digits, backbone="auto", seed=0)
        sources = ("samples", "samples_fitted", "samples_gmm", "recon") if kind in ("ae", "pca") else ("samples", "recon")
        expected = {f"{m}_{s}[digits-mlp]" for m in ("fid", *SAMPLE_MEASURES) for s in sources}
        assert set(metrics) == expected, kind
        assert all(math.isfinite(v) for v in metrics.values())
        assert all(v >= 0 for name, v in metrics.items() if not name.startswith("kid_"))  # KID is unbiased: may dip below 0
        assert all(0 <= metrics[f"{m}_{s}[digits-mlp]"] <= 1 for m in ("precision", "recall", "coverage") for s in sources)
        assert proto["model_kind"] == kind
        assert proto["backbone"] == "digits-mlp"
        assert proto["backbone_weights_sha256"] == SHIPPED["digits-mlp"].weights_sha256  # the shipped ruler
        assert proto["n_samples"] == 360 and proto["reference_split"] == "test"
        assert proto["feature_dtype"] == "float64" and proto["seed"] == 0
        text = json.dumps(proto, allow_nan=False)  # JSON-serialisable and finite
        assert "NaN" not in text and "Infinity" not in text
        if kind == "pca":
            assert proto["clamped_pixel_fraction"]["fid_samples[digits-mlp]"] > 0  # PPCA leaves [0, 1]
        else:
            assert set(proto["clamped_pixel_fraction"].values()) == {0.0}


def test_compute_fid_metrics_is_seeded(digits):
    from vaebench.models.vae import VAE

    torch.manual_seed(0)
    model = VAE(digits.image_shape, 4)
    a, _ = compute_fid_metrics(model, digits, backbone="classifier", seed=5, n_samples=200)
    b, _ = compute_fid_metrics(model, digits, backbone="classifier", seed=5, n_samples=200)
    c, _ = compute_fid_metrics(model, digits, backbone="classifier", seed=6, n_samples=200)
    assert a == b
    assert a["fid_samples[digits-mlp]"] != c["fid_samples[digits-mlp]"]
    assert a["fid_recon[digits-mlp]"] == c["fid_recon[digits-mlp]"]  # reconstructions are deterministic
    assert a["recall_recon[digits-mlp]"] == c["recall_recon[digits-mlp]"]
    assert a["kid_samples[digits-mlp]"] != c["kid_samples[digits-mlp]"]


def test_sample_measures_read_the_features_fid_extracted(digits, monkeypatch):
    """KID and precision/recall/density/coverage of each source equal the standalone functions on
    that source's backbone features, and every image goes through the backbone once."""
    from vaebench.metrics import fid as fid_module
    from vaebench.metrics.fid_backbone import ClassifierFeatures
    from vaebench.metrics.kid import kernel_inception_distance
    from vaebench.metrics.prdc import manifold_metrics
    from vaebench.models.ae import AE

    torch.manual_seed(0)
    model = AE(digits.image_shape, 4).eval()
    rows = []
    forward = ClassifierFeatures.forward
    monkeypatch.setattr(ClassifierFeatures, "forward", lambda self, x: rows.append(len(x)) or forward(self, x))
    fid_module._REFERENCE_CACHE.clear()
    metrics, proto = compute_fid_metrics(model, digits, backbone="classifier", seed=3, n_samples=300)
    assert sum(rows) == 360 + 300 * 3 + 360  # the test split, three sampled sources, the reconstructions: once each
    bb = get_backbone(digits, "classifier")
    real = bb.module(pixels(digits.test_x))
    with torch.no_grad():
        fake = bb.module(model.decode(model.encode(pixels(digits.test_x))[0]).clamp(0, 1))
    kid, kid_std = kernel_inception_distance(real, fake, seed=3 + fid_module._SEED_OFFSET["kid_subsets"])
    assert metrics["kid_recon[digits-mlp]"] == pytest.approx(kid, rel=1e-9, abs=1e-12)
    assert metrics["kid_std_recon[digits-mlp]"] == pytest.approx(kid_std, abs=1e-12)
    for name, value in manifold_metrics(real, fake).items():
        assert metrics[f"{name}_recon[digits-mlp]"] == pytest.approx(value, abs=1e-3), name  # a point or so of round-off
    assert proto["kid_subset_size"] == 300


def test_good_model_beats_untrained(digits):
    """PCA with many components reconstructs well: its fid_recon is far below an untrained AE's."""
    from vaebench.models.ae import AE
    from vaebench.models.pca import PCAModel

    torch.manual_seed(0)
    pca, _ = compute_fid_metrics(PCAModel(digits.image_shape, 32).fit(digits.train_x), digits, backbone="classifier")
    ae, _ = compute_fid_metrics(AE(digits.image_shape, 4), digits, backbone="classifier")
    assert pca["fid_recon[digits-mlp]"] < 0.1 * ae["fid_recon[digits-mlp]"]


# ---------------------------------------------------------------- the CLI command


def _parse(*argv):
    from vaebench.cli.fid_backbone import add_parser

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["fid-backbone", *argv])


def test_cmd_fid_backbone_shows_the_shipped_ruler(capsys):
    from vaebench.cli.fid_backbone import cmd_fid_backbone

    args = _parse("--dataset", "digits")
    assert args.handler is cmd_fid_backbone
    assert cmd_fid_backbone(args) == 0
    out = capsys.readouterr().out
    w = SHIPPED["digits-mlp"]
    assert "digits-mlp (shipped" in out and w.file_sha256 in out and w.weights_sha256 in out
    assert f"{w.test_acc:.4f} measured now, {w.test_acc:.4f} stated" in out
    assert "feature dim:    64" in out
    with pytest.raises(UserError, match="unknown dataset"):
        cmd_fid_backbone(_parse("--dataset", "cifar"))
    with pytest.raises(UserError, match="only apply with --build"):
        cmd_fid_backbone(_parse("--dataset", "digits", "--out", "x.pt"))


def test_cmd_fid_backbone_build_reports_the_distance(short_recipe, tmp_path, capsys):
    from vaebench.cli.fid_backbone import cmd_fid_backbone

    out_file = tmp_path / "digits-mlp.pt"
    assert cmd_fid_backbone(_parse("--dataset", "digits", "--build", "--out", str(out_file))) == 0
    out = capsys.readouterr().out
    assert "(differs from shipped)" in out and "built" in out and "rel diff" in out
    for name in ("noise sigma=0.1", "blur sigma=1.0px", "pca8 recon"):
        assert name in out
    sha = fid_backbone.file_sha256(out_file)
    assert f"file sha256 {sha}" in out


# ---------------------------------------------------------------- the fitted Gaussian's sampler


def test_fitted_gaussian_factor_is_the_unique_psd_square_root():
    """The factor is the symmetric PSD square root (scipy's sqrtm, an independent computation):
    a function of the covariance alone, full rank or singular."""
    from vaebench.metrics.fid import psd_sqrt

    rng = np.random.default_rng(0)
    b = rng.normal(size=(6, 6))
    full = b @ b.T + 0.1 * np.eye(6)
    singular = b[:, :3] @ b[:, :3].T  # rank 3
    for cov in (full, singular, np.diag([4.0, 1.0, 1.0, 0.25])):  # the last: a repeated eigenvalue
        a = psd_sqrt(torch.from_numpy(cov)).numpy()
        assert a.dtype == np.float64
        assert np.allclose(a, a.T, atol=1e-12)
        assert np.allclose(a @ a.T, cov, atol=1e-10)
        assert np.allclose(a, scipy.linalg.sqrtm(cov).real, atol=1e-6)


def test_fitted_samples_do_not_depend_on_the_eigenvectors_signs(monkeypatch):
    """LAPACK code paths (here MKL's AVX2 and generic ones, and 2 threads) may return eigenvectors
    with other signs, or another basis of a repeated eigenvalue's space; with V diag(sqrt w) as
    the factor the same random numbers gave other codes, so PCA z=8's fid_samples_fitted moved by
    1.4 across benchmarks/repro_spread.py's configurations on identical codes. The samples must
    not move."""
    from vaebench.metrics import fid

    class Identity:  # decode = the codes themselves
        def decode(self, z):
            return z

    rng = np.random.default_rng(1)
    codes = torch.from_numpy(rng.normal(size=(500, 5)) * np.array([3.0, 1.0, 1.0, 0.5, 0.1]))
    codes[:, 2] = codes[:, 1] + 0.01 * codes[:, 2]  # correlated dims
    base = torch.cat(list(fid._fitted_batches(Identity(), "pca", codes, 1500, seed=3)))
    real_eigh = torch.linalg.eigh
    for flip in ([-1, 1, 1, -1, 1], [1, -1, -1, -1, -1]):
        signs = torch.tensor(flip, dtype=torch.float64)
        monkeypatch.setattr(torch.linalg, "eigh", lambda m, _s=signs: (real_eigh(m)[0], real_eigh(m)[1] * _s))
        again = torch.cat(list(fid._fitted_batches(Identity(), "pca", codes, 1500, seed=3)))
        assert torch.allclose(again, base, rtol=0, atol=1e-12)
    monkeypatch.setattr(torch.linalg, "eigh", real_eigh)
    mu, cov = fid.fit_code_gaussian(codes)
    white = torch.linalg.solve_triangular(torch.linalg.cholesky(cov), (base - mu).T, upper=False).T
    tol = 5 / len(base) ** 0.5  # five standard errors of a unit-variance sample mean / covariance
    assert white.mean(0).abs().max() < tol and (torch.cov(white.T) - torch.eye(5, dtype=torch.float64)).abs().max() < tol
