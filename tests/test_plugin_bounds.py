"""A plug-in that implements only the documented `log_likelihood_bound(x, y=None, k=1, generator=None)`
gets the `elbo` (k = 1) and `iwae` (k = protocol.iwae_k) columns, with noise keyed by test image;
`rec_nll` and `kl` stay empty (a bound gives no split into terms)."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from vaebench.config import Protocol
from vaebench.metrics.noise import image_generator
from vaebench.models.base import LatentModel
from vaebench.models.vae import VAE
from vaebench.runner.evaluate import evaluate

PROTOCOL = Protocol(iwae_k=8, eval_batch_size=1000)


class BoundOnlyVAE(LatentModel):
    """The documented interface and nothing more: no bound_terms."""

    def __init__(self, image_shape, latent_dim: int, num_classes: int = 10, lr: float = 1e-3):
        super().__init__(image_shape, latent_dim, num_classes, lr)
        self.inner = VAE(image_shape, latent_dim, num_classes, lr)

    def encode(self, x, y=None):
        return self.inner.encode(x)

    def decode(self, z, y=None):
        return self.inner.decode(z)

    def sample(self, n, y=None, generator=None):
        return self.inner.sample(n, generator=generator)

    def objective(self, x, y=None):
        return self.inner.objective(x)

    def log_likelihood_bound(self, x, y=None, k: int = 1, generator=None):
        terms = self.inner.bound_terms(x, None, k, generator)  # draws from `generator`
        return -(terms["rec_nll"] + terms["kl"]) if k == 1 else terms["iwae"]


class ClosedFormBound(BoundOnlyVAE):
    """A deterministic 'bound' with a known value: -sum(x) - log k."""

    def log_likelihood_bound(self, x, y=None, k: int = 1, generator=None):
        return -x.flatten(1).sum(1) - math.log(k)


@pytest.fixture(scope="module")
def plugin(digits):
    torch.manual_seed(0)
    return BoundOnlyVAE(digits.image_shape, 3).eval()


def test_bound_only_plugin_gets_elbo_and_iwae_from_the_documented_call(digits):
    torch.manual_seed(0)
    metrics = evaluate(ClosedFormBound(digits.image_shape, 3), digits, PROTOCOL, 0)[0]
    expected = -digits.test_x.double().flatten(1).sum(1).mean().item()
    assert metrics["elbo"] == pytest.approx(expected, rel=1e-6)  # called with k = 1 (float32 sums)
    assert metrics["iwae"] == pytest.approx(expected - math.log(PROTOCOL.iwae_k), rel=1e-6)  # with k = iwae_k
    assert "rec_nll" not in metrics and "kl" not in metrics


def test_bound_only_plugin_noise_is_keyed_by_image(plugin, digits):
    res = {bs: evaluate(plugin, digits, dataclasses.replace(PROTOCOL, eval_batch_size=bs), 0)[0] for bs in (1000, 7)}
    for key in ("elbo", "iwae"):  # one image per call: only the float64 summation order differs
        assert res[7][key] == pytest.approx(res[1000][key], rel=1e-12)
    # each image's bound is drawn from that image's own generator
    seed = 0 + 7919
    with torch.no_grad():
        per_image = [plugin.log_likelihood_bound(digits.test_x[j : j + 1], k=1, generator=image_generator(seed, j)).item()
                     for j in range(len(digits.test_x))]
    assert res[1000]["elbo"] == pytest.approx(sum(per_image) / len(per_image), rel=1e-6)


def test_bound_only_plugin_agrees_with_the_builtin_vae_within_monte_carlo(plugin, digits):
    ours = evaluate(plugin, digits, PROTOCOL, 0)[0]
    builtin = evaluate(plugin.inner, digits, PROTOCOL, 0)[0]  # same weights, bound_terms path, other noise
    assert ours["elbo"] < ours["iwae"]
    for key in ("elbo", "iwae"):
        assert ours[key] == pytest.approx(builtin[key], abs=0.2), key


class ConditionalClosedFormBound(ClosedFormBound):
    """A conditional 'bound' with a known value: log p(x|y) := -sum(x) - y - log k."""

    conditional = True

    def log_likelihood_bound(self, x, y=None, k: int = 1, generator=None):
        return -x.flatten(1).double().sum(1) - y.double() - math.log(k)


def test_conditional_bound_only_plugin_gets_cond_columns_and_the_marginal_iwae(digits):
    from vaebench.runner.evaluate import label_log_prior, other_label_samples

    torch.manual_seed(0)
    metrics = evaluate(ConditionalClosedFormBound(digits.image_shape, 3), digits, PROTOCOL, 0)[0]
    s = -digits.test_x.double().flatten(1).sum(1)
    log_k = math.log(PROTOCOL.iwae_k)
    assert metrics["elbo_cond"] == pytest.approx((s - digits.test_y).mean().item(), rel=1e-12)
    assert metrics["iwae_cond"] == pytest.approx((s - digits.test_y).mean().item() - log_k, rel=1e-12)
    # the stratified marginal: the test label's stratum pools its k-sample bound with its m-sample
    # one, log((k e^(s-y-log k) + m e^(s-y-log m)) / (k + m)); every other label c has s - c - log m
    k, m = PROTOCOL.iwae_k, other_label_samples(PROTOCOL.iwae_k)
    y = digits.test_y
    strata = (s[None, :] - torch.arange(10, dtype=torch.float64)[:, None] - math.log(m)).clone()
    strata[y, torch.arange(len(y))] = s - y + math.log(2) - math.log(k + m)
    marginal = torch.logsumexp(label_log_prior(digits.train_y, 10)[:, None] + strata, 0).mean().item()
    assert metrics["iwae"] == pytest.approx(marginal, rel=1e-12)
    assert not {"elbo", "rec_nll", "kl", "rec_nll_cond", "kl_cond"} & set(metrics)
