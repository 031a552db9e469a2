"""bits/dim: closed forms (the uniform density), the exact PPCA expectation against Monte Carlo,
dequantization keyed by image, and which models get the column."""

from __future__ import annotations

import math

import pytest
import torch

from vaebench.config import Protocol
from vaebench.metrics.bpd import (
    bits_per_dim,
    dequantize,
    ppca_expected_log_density,
    quantization_levels,
)
from vaebench.models.ae import AE
from vaebench.models.cvae import CVAE
from vaebench.models.pca import PCAModel
from vaebench.models.vae import VAE
from vaebench.runner.evaluate import evaluate


def test_uniform_density_is_log2_levels_bits():
    """p = 1 on [0, 1]^D puts mass L^-D on every image: log2 L bits/dim, for any D."""
    for levels, dim in [(256, 784), (17, 64), (2, 5)]:
        assert float(bits_per_dim(torch.zeros(3), dim, levels)[0]) == pytest.approx(math.log2(levels))


def test_levels_of_stored_images(digits):
    assert quantization_levels(torch.zeros(2, 1, 4, 4, dtype=torch.uint8)) == 256
    assert quantization_levels(digits.test_x) == 17
    assert quantization_levels(torch.tensor([0.0, 0.5, 1.0])) == 3
    assert quantization_levels(torch.rand(100)) is None


def test_dequantization_is_in_the_bin_and_keyed_by_image():
    levels, g = 256, torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (50, 1, 6, 6), generator=g).float() / 255
    idx = torch.arange(100, 150)
    v = dequantize(x, levels, 3, idx)
    q = (x * 255).round()
    assert bool((v * levels >= q).all()) and bool((v * levels < q + 1).all())
    parts = torch.cat([dequantize(x[:7], levels, 3, idx[:7]), dequantize(x[7:], levels, 3, idx[7:])])
    torch.testing.assert_close(parts, v, rtol=0, atol=0)  # batching changes nothing
    u = (v * levels - q).flatten()
    assert float(u.mean()) == pytest.approx(0.5, abs=0.02) and float(u.var()) == pytest.approx(1 / 12, abs=0.005)
    assert not torch.equal(dequantize(x, levels, 4, idx), v)  # another seed, other draws


def test_ppca_expected_log_density_matches_monte_carlo(digits):
    """The closed form E_u log N((q + u) / L) = log N(centre) - tr(C^-1) / (24 L^2) against 4,000 draws."""
    pca = PCAModel(digits.image_shape, 5).fit(digits.train_x)
    x = digits.test_x[:20]
    exact = ppca_expected_log_density(pca, x, 17)
    draws = torch.stack([pca.log_likelihood_bound(dequantize(x, 17, s, torch.arange(20))) for s in range(4000)])
    se = draws.std(0) / math.sqrt(len(draws))
    assert bool(((draws.mean(0) - exact).abs() < 4 * se + 1e-9).all())


@pytest.fixture(scope="module")
def small(digits):
    import dataclasses

    return dataclasses.replace(digits, test_x=digits.test_x[:60], test_y=digits.test_y[:60])


def _metrics(model, splits, bs=1000):
    return evaluate(model, splits, Protocol(iwae_k=8, eval_batch_size=bs), seed=0)[0]


@pytest.mark.parametrize("likelihood", ["gaussian", "continuous_bernoulli"])
def test_density_vaes_get_bpd_independent_of_batch_size(small, likelihood):
    torch.manual_seed(0)
    for cls in (VAE, CVAE):
        model = cls(small.image_shape, 3, likelihood=likelihood)
        a, b = _metrics(model, small), _metrics(model, small, bs=7)
        assert math.isfinite(a["bpd"]) and a["bpd"] == pytest.approx(b["bpd"], abs=1e-6)


def test_cvae_bpd_is_the_label_marginal(small):
    """A CVAE blind to its label has p(x|y) the same for every y: the stratified marginal is then
    log(p(y*) w_{k+m} + (1 - p(y*)) w_m), w_n the mean of n importance weights of one bound (the
    test label's k samples pooled with its m, every other label's m samples, the same m for every
    label), written out here by hand on the dequantized images."""
    from vaebench.metrics.bpd import bits_per_dim
    from vaebench.metrics.noise import image_normals
    from vaebench.runner.evaluate import MARGINAL_SEED_OFFSET, label_log_prior, other_label_samples

    torch.manual_seed(0)
    cvae = CVAE(small.image_shape, 3, likelihood="gaussian").eval()
    k, m = 8, other_label_samples(8)
    with torch.no_grad():
        cvae.encoder.head[0].weight[:, -10:] = 0
        cvae.decoder.head[0].weight[:, 3:] = 0
        idx = torch.arange(len(small.test_x))
        xq = dequantize(small.test_x, 17, 7919, idx)
        w_k = cvae.bound_terms(xq, small.test_y, k=k, eps=image_normals(7919, idx, k, 3, torch.float64))["iwae"].double().exp()
        eps_m = image_normals(7919 + MARGINAL_SEED_OFFSET, idx, m, 3, torch.float64)
        w_m = cvae.bound_terms(xq, small.test_y, k=m, eps=eps_m)["iwae"].double().exp()
        p_true = label_log_prior(small.train_y, 10).exp()[small.test_y]
        log_px = torch.log(p_true * (k * w_k + m * w_m) / (k + m) + (1 - p_true) * w_m)
        want = bits_per_dim(log_px, 64, 17).mean()
    got = _metrics(cvae, small)
    assert got["bpd"] == pytest.approx(float(want), abs=1e-5)
    assert got["bpd"] == pytest.approx(float(bits_per_dim(got["iwae"] * torch.ones(1), 64, 17)), abs=1e-6)  # one pass: bpd is iwae in bits


def test_bpd_only_for_densities(small):
    torch.manual_seed(0)
    assert "bpd" not in _metrics(VAE(small.image_shape, 3), small)  # Bernoulli: no density on grey levels
    assert "bpd" not in _metrics(AE(small.image_shape, 3), small)
    pca = _metrics(PCAModel(small.image_shape, 4).fit(small.train_x), small)
    assert 0 < pca["bpd"] < math.log2(17)  # better than the uniform model on digits


def test_density_models_train_on_dequantized_images(digits):
    """A density likelihood on quantised images trains on (q + u) / L: its likelihood at the grid
    points is unbounded (the continuous Bernoulli's density at 0 grows like |logit|). Bernoulli
    models and the AE train on the stored images."""
    from vaebench.metrics.bpd import training_levels

    assert training_levels(VAE(digits.image_shape, 3, likelihood="continuous_bernoulli"), digits.train_x) == 17
    assert training_levels(CVAE(digits.image_shape, 3, likelihood="gaussian"), digits.train_x) == 17
    assert training_levels(VAE(digits.image_shape, 3), digits.train_x) is None
    assert training_levels(AE(digits.image_shape, 3), digits.train_x) is None
    model = VAE(digits.image_shape, 3, likelihood="continuous_bernoulli")
    model.dequantize_levels = 17
    x = digits.train_x[:50]
    torch.manual_seed(0)
    xq = model.dequantized(x)
    q = (x * 16).round()
    assert bool((xq >= q / 17).all() and (xq < (q + 1) / 17).all())
    assert not torch.equal(xq, model.dequantized(x))  # fresh noise every batch


def test_dequantized_batch_under_ddp_is_the_single_device_batch(digits):
    """Under DDP each rank takes its rows (rank::world) of the global batch's uniforms, so a DDP
    step sees the single-device step's dequantization, as with the posterior noise."""
    model = VAE(digits.image_shape, 3, likelihood="continuous_bernoulli")
    model.dequantize_levels = 17
    x = digits.train_x[:8]
    torch.manual_seed(1)
    whole = model.dequantized(x)
    parts = []
    for rank in range(2):
        torch.manual_seed(1)
        model._shard = (rank, 2, 8)
        parts.append(model.dequantized(x[rank::2]))
    model._shard = None
    torch.testing.assert_close(parts[0], whole[0::2])
    torch.testing.assert_close(parts[1], whole[1::2])
