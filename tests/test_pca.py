"""The PCA baseline against a direct numpy SVD and scipy's multivariate normal."""

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from vaebench.models.pca import PCAModel


@pytest.fixture(scope="module")
def fitted(digits):
    return PCAModel(digits.image_shape, 5).fit(digits.train_x), digits


def test_codes_and_reconstructions_match_numpy_svd(fitted):
    model, d = fitted
    x = d.train_x.reshape(len(d.train_x), -1).double().numpy()
    mean = x.mean(0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    u = vt[:5]  # principal axes
    xt = d.test_x.reshape(len(d.test_x), -1).double().numpy()
    codes = model.encode(d.test_x)[0].numpy()
    ref_codes = (xt - mean) @ u.T
    np.testing.assert_allclose(np.abs(codes), np.abs(ref_codes), atol=1e-8)  # axes up to sign
    recon = model.decode(torch.from_numpy(codes)).reshape(len(xt), -1).double().numpy()
    np.testing.assert_allclose(recon, ref_codes @ u + mean, atol=1e-5)


def test_ppca_log_likelihood_matches_scipy_with_ml_parameters(fitted):
    model, d = fitted
    x = d.train_x.reshape(len(d.train_x), -1).double().numpy()
    n, dim = x.shape
    mean = x.mean(0)
    cov = (x - mean).T @ (x - mean) / n  # ML covariance
    evals, evecs = np.linalg.eigh(cov)
    evals, evecs = evals[::-1], evecs[:, ::-1]
    sigma2 = evals[5:].mean()
    w = evecs[:, :5] * np.sqrt(evals[:5] - sigma2)
    c = w @ w.T + sigma2 * np.eye(dim)
    xt = d.test_x.reshape(len(d.test_x), -1).double().numpy()
    ref = multivariate_normal(mean, c).logpdf(xt)
    ours = model.log_likelihood_bound(d.test_x).numpy()
    np.testing.assert_allclose(ours, ref, rtol=1e-8)
    assert model.noise_variance == pytest.approx(sigma2, rel=1e-8)


def test_ml_parameters_maximise_the_training_likelihood(fitted):
    model, d = fitted
    base = model.log_likelihood_bound(d.train_x).mean().item()
    for factor in (0.9, 1.1):
        model_sigma = model.noise_variance
        model.noise_variance = model_sigma * factor
        assert model.log_likelihood_bound(d.train_x).mean().item() < base
        model.noise_variance = model_sigma


def test_samples_have_the_model_covariance(fitted):
    model, _ = fitted
    s = model.sample(40_000, generator=torch.Generator().manual_seed(0)).reshape(40_000, -1).double()
    cov_model = model.W @ model.W.T + model.noise_variance * torch.eye(model.W.shape[0], dtype=torch.float64)
    cov_samples = torch.cov(s.T)
    assert torch.allclose(s.mean(0), model.mean, atol=0.02)
    assert (cov_samples - cov_model).abs().max() < 0.01


@pytest.mark.parametrize("z", [61, 62])
def test_a_latent_dim_at_the_data_rank_is_exit_2_before_training(z, cli, tmp_path):
    """digits' train split has rank 61 (3 of its 64 pixels are constant): z = 61 gave sigma^2 = 5e-19
    and ppca_ll = +1400, z = 62 NaN. The sweep refuses before the first run and writes nothing."""
    out = tmp_path / "out"
    res = cli("run", "--suite", "smoke", "--models", "ae,pca", "--latent-dims", f"2,{z}", "--out", str(out), "--quiet")
    assert res.returncode == 2, res.stderr
    assert f"latent dim {z}" in res.stderr and "rank 61" in res.stderr
    assert "Traceback" not in res.stderr
    assert not list(out.glob("runs/*.json"))


def test_the_fit_checks_the_rank_too(digits):
    """The fallback where the sweep's pre-flight is skipped (data sets too large to check twice)."""
    from vaebench.errors import UserError
    from vaebench.models.pca import data_rank

    assert data_rank(digits.train_x) == 61
    with pytest.raises(UserError, match="rank 61"):
        PCAModel(digits.image_shape, 61).fit(digits.train_x)
    model = PCAModel(digits.image_shape, 60).fit(digits.train_x)
    assert model.noise_variance > 1e-8 and np.isfinite(model.log_likelihood_bound(digits.test_x).numpy()).all()
