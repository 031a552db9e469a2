"""The CVAE's columns: bounds given the label in `*_cond`, `iwae` a bound on log p(x) = log sum_y p(y) p(x|y)
with p(y) the train split's label frequencies, checked where the answer is known in closed form."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from torch.distributions import Normal

from vaebench.config import Protocol
from vaebench.metrics.elbo import bernoulli_nll
from vaebench.models.cvae import CVAE
from vaebench.models.vae import VAE
from vaebench.runner.evaluate import (
    evaluate,
    label_log_prior,
    marginal_iwae,
    other_label_samples,
    pool_bounds,
    stratified_marginal,
)

PROTOCOL = Protocol(iwae_k=8, eval_batch_size=1000)


@pytest.fixture(scope="module")
def skewed(digits):
    """digits with train labels made unequal (class c kept with probability ~ (c + 1) / 10), so p(y) matters."""
    keep = torch.rand(len(digits.train_y), generator=torch.Generator().manual_seed(0)) < (digits.train_y + 1) / 10
    return dataclasses.replace(digits, train_x=digits.train_x[keep], train_y=digits.train_y[keep])


def _z_blind_prior_posterior_cvae(digits) -> CVAE:
    """A CVAE whose posterior is the prior (mu = 0, logvar = 0) and whose decoder ignores z:
    every importance weight is p(x|y) exactly, so each bound is log p(x|y) with no noise."""
    torch.manual_seed(0)
    model = CVAE(digits.image_shape, latent_dim=3).eval()
    with torch.no_grad():
        model.encoder.head[-1].weight.zero_()
        model.encoder.head[-1].bias.zero_()
        model.decoder.head[0].weight[:, :3] = 0.0
    return model


def test_label_prior_is_the_train_frequencies(skewed):
    lp = label_log_prior(skewed.train_y, 10)
    counts = torch.bincount(skewed.train_y, minlength=10).double()
    torch.testing.assert_close(lp.exp(), counts / counts.sum())
    assert label_log_prior(torch.tensor([0, 0, 2]), 3)[1] == -math.inf


def test_marginal_iwae_is_log_of_the_prior_weighted_sum():
    log_px_y = torch.tensor([[-3.0, -10.0], [-5.0, -1.0], [-7.0, -2.0]], dtype=torch.float64)  # (classes, images)
    log_prior = torch.log(torch.tensor([0.5, 0.5, 0.0], dtype=torch.float64))
    got = marginal_iwae(log_px_y, log_prior)
    expected = torch.log(0.5 * torch.exp(log_px_y[0]) + 0.5 * torch.exp(log_px_y[1]))
    torch.testing.assert_close(got, expected)


def test_cvae_columns_equal_the_closed_form(skewed):
    model = _z_blind_prior_posterior_cvae(skewed)
    metrics = evaluate(model, skewed, PROTOCOL, 0)[0]
    x, y = skewed.test_x.double(), skewed.test_y
    with torch.no_grad():
        logits = torch.stack([model.decoder(torch.zeros(len(x), 3), model.cond(torch.full((len(x),), c))).double()
                              for c in range(10)])  # (classes, N, C, H, W)
    log_px_given = -bernoulli_nll(logits, x)  # (classes, N): log p(x | y = c)
    log_prior = label_log_prior(skewed.train_y, 10)
    log_px = torch.logsumexp(log_prior[:, None] + log_px_given, dim=0)
    log_px_true = log_px_given[y, torch.arange(len(y))]
    assert "elbo" not in metrics and "rec_nll" not in metrics and "kl" not in metrics
    assert metrics["iwae"] == pytest.approx(log_px.mean().item(), abs=1e-4)
    assert metrics["iwae_cond"] == pytest.approx(log_px_true.mean().item(), abs=1e-4)
    assert metrics["elbo_cond"] == pytest.approx(log_px_true.mean().item(), abs=1e-4)
    assert metrics["kl_cond"] == 0.0
    assert metrics["rec_nll_cond"] == pytest.approx(-log_px_true.mean().item(), abs=1e-4)
    # the prior is the train frequencies: a uniform prior would give another number
    uniform = torch.logsumexp(log_px_given - math.log(10), dim=0).mean().item()
    assert abs(uniform - log_px.mean().item()) > 1e-3


def _quadrature_cvae(skewed):
    """A random CVAE with a 1-d latent, test images and log p(x) = log sum_y p(y) int p(x|z,y) N(z) dz
    by the trapezoid rule."""
    torch.manual_seed(1)
    model = CVAE(skewed.image_shape, latent_dim=1).eval()
    with torch.no_grad():  # q(z|x,y) = N(1, e^0.5): misplaced (a real gap) but wider than the prior (finite weight variance)
        model.encoder.head[-1].weight.zero_()
        model.encoder.head[-1].bias.copy_(torch.tensor([1.0, 0.5]))
        model.decoder.head[0].weight[:, :1] *= 8.0  # a decoder that uses z
    x = (skewed.test_x[:12] > 0.5).float()
    z = torch.linspace(-10, 10, 4001, dtype=torch.float64)
    log_prior = label_log_prior(skewed.train_y, 10)
    with torch.no_grad():
        per_class = []
        for c in range(10):
            logits = model.decoder(z[:, None].float(), model.cond(torch.full((len(z),), c))).double()
            log_f = -bernoulli_nll(logits[:, None].expand(-1, len(x), *x.shape[1:]), x.double()) + Normal(0.0, 1.0).log_prob(z)[:, None]
            per_class.append(torch.logsumexp(log_f, 0) + math.log(float(z[1] - z[0])))
    exact = torch.logsumexp(log_prior[:, None] + torch.stack(per_class), 0)
    return model, x, skewed.test_y[:12], log_prior, exact


@pytest.mark.parametrize("estimator", ["every_label_k", "stratified"])
def test_cvae_marginal_bounds_and_approaches_log_px_by_quadrature(skewed, estimator):
    """Both label marginals lie below the quadrature log p(x) on average (Jensen) and approach it
    as k grows: every label at k samples (marginal_iwae), and the evaluation's stratified one (the
    test label at k, every label at m = max(1, k // 64)). This random CVAE spreads p(x) over all
    labels, the stratified estimator's worst case (it is tight when the test label holds nearly
    all of p(x)), so it is checked at 4x the k and twice the tolerance."""
    model, x, y, log_prior, exact = _quadrature_cvae(skewed)
    g = torch.Generator().manual_seed(0)

    def label_bound(c, k):
        return model.bound_terms(x, c if torch.is_tensor(c) else torch.full((len(x),), c), k=k, generator=g)["iwae"]

    def bound(k):
        if estimator == "every_label_k":
            return marginal_iwae(torch.stack([label_bound(c, k) for c in range(10)]), log_prior)
        m = other_label_samples(k)
        return stratified_marginal(label_bound(y, k), k, torch.stack([label_bound(c, m) for c in range(10)]), m, y, log_prior)

    with torch.no_grad():
        small = torch.stack([bound(2) for _ in range(30)]).mean(0)
        large = bound(4096 if estimator == "every_label_k" else 16_384)
    assert torch.all(small <= exact + 0.1)  # per image, up to the Monte-Carlo error of 30 draws
    assert (exact - small).mean() > 0.05  # a real gap for a random q
    assert torch.allclose(large, exact, atol=0.05 if estimator == "every_label_k" else 0.1), large - exact


def test_pooled_bound_is_the_mean_of_all_weights():
    log_w = torch.randn(7, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 3
    a = torch.logsumexp(log_w[:3], 0) - math.log(3)
    b = torch.logsumexp(log_w[3:], 0) - math.log(4)
    torch.testing.assert_close(pool_bounds(a, 3, b, 4), torch.logsumexp(log_w, 0) - math.log(7))


def test_stratified_marginal_is_exact_when_every_weight_is_exact():
    """Noise-free strata (every weight = p(x|y)): the stratified marginal is log sum_y p(y) p(x|y)
    whatever the sample counts; the test label's stratum is the pooled one."""
    log_px_y = torch.tensor([[-3.0, -10.0, -4.0], [-5.0, -1.0, -6.0], [-7.0, -2.0, -0.5]], dtype=torch.float64)
    log_prior = torch.log(torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64))
    y = torch.tensor([0, 1, 2])
    got = stratified_marginal(log_px_y[y, torch.arange(3)], 256, log_px_y, 4, y, log_prior)
    torch.testing.assert_close(got, torch.logsumexp(log_prior[:, None] + log_px_y, 0))


def test_a_non_conditional_vae_keeps_its_columns(digits):
    torch.manual_seed(0)
    model = VAE(digits.image_shape, latent_dim=3).eval()
    metrics = evaluate(model, digits, PROTOCOL, 0)[0]
    assert {"elbo", "iwae", "rec_nll", "kl"} <= set(metrics)
    assert not {m for m in metrics if m.endswith("_cond")}
    assert metrics["elbo"] == pytest.approx(-(metrics["rec_nll"] + metrics["kl"]), rel=1e-6)  # float32 per-image sums
