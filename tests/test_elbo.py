"""The ELBO and IWAE against closed forms: analytic KL vs Monte Carlo, log-densities vs
torch.distributions, and both bounds vs log p(x) computed by quadrature for a 1-d latent."""

import math

import pytest
import torch
from torch.distributions import Bernoulli, Normal

from vaebench.metrics.elbo import (
    bernoulli_nll,
    gaussian_kl,
    iwae_bound,
    log_normal,
    log_standard_normal,
)
from vaebench.models.cvae import CVAE
from vaebench.models.vae import VAE


def test_gaussian_kl_matches_monte_carlo_and_torch():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(5, 3, generator=g, dtype=torch.float64)
    logvar = torch.randn(5, 3, generator=g, dtype=torch.float64)
    q = Normal(mu, (0.5 * logvar).exp())
    closed = gaussian_kl(mu, logvar)
    ref = torch.distributions.kl_divergence(q, Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(-1)
    torch.testing.assert_close(closed, ref)
    z = q.sample((200_000,))
    mc = (q.log_prob(z) - Normal(0.0, 1.0).log_prob(z)).sum(-1).mean(0)
    assert torch.allclose(closed, mc, rtol=0.02, atol=0.02), (closed, mc)
    assert torch.all(gaussian_kl(torch.zeros(2, 4), torch.zeros(2, 4)) == 0)


def test_log_densities_match_torch_distributions():
    g = torch.Generator().manual_seed(1)
    z, mu, logvar = (torch.randn(7, 4, generator=g, dtype=torch.float64) for _ in range(3))
    torch.testing.assert_close(log_normal(z, mu, logvar), Normal(mu, (0.5 * logvar).exp()).log_prob(z).sum(-1))
    torch.testing.assert_close(log_standard_normal(z), Normal(0.0, 1.0).log_prob(z).sum(-1))
    logits = torch.randn(3, 6, 1, 2, 2, generator=g, dtype=torch.float64)
    x = (torch.rand(6, 1, 2, 2, generator=g) > 0.5).double()
    expected = -Bernoulli(logits=logits).log_prob(x.expand_as(logits)).flatten(2).sum(-1)
    torch.testing.assert_close(bernoulli_nll(logits, x), expected)


def test_iwae_of_equal_weights_is_that_weight_and_k1_is_identity():
    lw = torch.full((10, 3), -5.0, dtype=torch.float64)
    torch.testing.assert_close(iwae_bound(lw), torch.full((3,), -5.0, dtype=torch.float64))
    lw1 = torch.randn(1, 4, dtype=torch.float64)
    torch.testing.assert_close(iwae_bound(lw1), lw1[0])


def _log_px_quadrature(model: VAE, x: torch.Tensor) -> torch.Tensor:
    """log p(x) = log int p(x|z) N(z; 0, 1) dz for a 1-d latent, by the trapezoid rule."""
    z = torch.linspace(-10, 10, 8001, dtype=torch.float64)
    with torch.no_grad():
        logits = model.decoder(z[:, None].float()).double()  # (G, C, H, W)
    log_pxz = -bernoulli_nll(logits[:, None].expand(-1, len(x), *x.shape[1:]), x.double())  # (G, N)
    log_f = log_pxz + Normal(0.0, 1.0).log_prob(z)[:, None]
    dz = float(z[1] - z[0])
    return torch.logsumexp(log_f, dim=0) + math.log(dz)


def test_elbo_below_iwae_below_exact_log_likelihood_and_iwae_converges(digits):
    torch.manual_seed(0)
    model = VAE(digits.image_shape, latent_dim=1).double().eval()
    # a fitted-looking posterior is not needed: the bounds hold for any q
    x = (digits.test_x[:16] > 0.5).double()  # binary pixels: p(x) is a proper probability
    exact = _log_px_quadrature(model.float(), x)
    model = model.double()
    g = torch.Generator().manual_seed(0)
    means = {}
    with torch.no_grad():
        for k, draws in ((1, 200), (8, 50), (64, 20), (4096, 2)):
            means[k] = torch.stack([model.bound_terms(x, k=k, generator=g)["iwae"] for _ in range(draws)]).mean(0)
        elbo = torch.stack([model.log_likelihood_bound(x, k=1, generator=g) for _ in range(200)]).mean(0)
    exact = exact.to(elbo.dtype)
    # every bound lies below the exact log-likelihood, per image (up to Monte-Carlo noise)
    for k, bound in means.items():
        assert torch.all(bound <= exact + 0.02), (k, bound - exact)
    assert torch.all(elbo <= exact)
    # ELBO <= IWAE_8 <= IWAE_64 <= log p(x), averaged over images and draws
    assert elbo.mean() <= means[8].mean() <= means[64].mean() <= exact.mean()
    # with many samples the IWAE bound approaches the exact log-likelihood
    assert torch.allclose(means[4096], exact, atol=0.05), (means[4096] - exact)
    # and the gap is real for a poor q: the ELBO is clearly below log p(x)
    assert (exact - elbo).mean() > 0.05


@pytest.fixture(scope="module")
def trained_vae(digits):
    """A VAE fitted for a few hundred steps: its posterior is narrow, so the bounds separate."""
    torch.manual_seed(0)
    model = VAE(digits.image_shape, latent_dim=4)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(400):
        idx = torch.randint(len(digits.train_x), (128,))
        loss = model.objective(digits.train_x[idx])["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def test_iwae_rises_with_k_on_average(trained_vae, digits):
    g = torch.Generator().manual_seed(3)
    x = digits.test_x
    with torch.no_grad():
        elbo = torch.stack([trained_vae.log_likelihood_bound(x, k=1, generator=g) for _ in range(20)]).mean()
        bounds = [torch.stack([trained_vae.bound_terms(x, k=k, generator=g)["iwae"] for _ in range(5)]).mean().item()
                  for k in (1, 4, 16, 64, 256)]
    assert bounds == sorted(bounds), bounds
    assert bounds[-1] - bounds[0] > 0.1  # a fitted VAE has a real gap (0.29 nats when written)
    assert elbo.item() == pytest.approx(bounds[0], abs=0.1)  # IWAE with k=1 is the ELBO (MC KL vs analytic)


@pytest.mark.parametrize("part", ["encoder", "decoder"])
def test_cvae_depends_on_label_in_encoder_and_decoder(digits, part):
    torch.manual_seed(0)
    model = CVAE(digits.image_shape, latent_dim=3).eval()
    x = digits.test_x[:8]
    y0, y1 = torch.zeros(8, dtype=torch.long), torch.full((8,), 7, dtype=torch.long)
    with torch.no_grad():
        if part == "encoder":
            a, b = model.encode(x, y0)[0], model.encode(x, y1)[0]
        else:
            z = torch.randn(8, 3)
            a, b = model.decode(z, y0), model.decode(z, y1)
    assert (a - b).abs().max() > 1e-4
    # and the gradient of the loss reaches the label's input weights of both networks
    model.train()
    loss = model.objective(x, y1)["loss"]
    loss.backward()
    enc_w = model.encoder.head[0].weight.grad[:, -10:]
    dec_w = model.decoder.head[0].weight.grad[:, -10:]
    assert enc_w[:, 7].abs().sum() > 0 and dec_w[:, 7].abs().sum() > 0
    assert enc_w[:, 0].abs().sum() == 0  # class 0 absent from the batch


def test_cvae_requires_labels(digits):
    model = CVAE(digits.image_shape, latent_dim=2)
    with pytest.raises(ValueError, match="labels"):
        model.encode(digits.test_x[:2])


def test_log_q_comes_from_the_sampled_eps_not_from_z():
    """mu = 3, logvar = -30, eps = 0.7 in float32: z = mu + sigma * eps rounds to a float32 that
    has lost most of sigma * eps, so (z - mu) / sigma is 0.78, not 0.7."""
    mu, logvar, eps = torch.tensor([[3.0]]), torch.tensor([[-30.0]]), torch.tensor([[0.7]])
    exact = -0.5 * (math.log(2 * math.pi) - 30.0 + 0.7**2)  # 13.836
    z = mu + (0.5 * logvar).exp() * eps
    assert log_normal(z, mu, logvar).item() == pytest.approx(13.777, abs=1e-3)  # the old, lossy form
    from vaebench.metrics.elbo import log_normal_from_eps

    assert log_normal_from_eps(eps, logvar).item() == pytest.approx(exact, abs=1e-5)
    assert exact == pytest.approx(13.836, abs=1e-3)


def test_bound_terms_use_the_exact_log_q(digits):
    """The VAE's importance weight with a posterior N(3, e^-30) per dim: log q from eps exactly."""
    torch.manual_seed(0)
    model = VAE(digits.image_shape, latent_dim=2).eval()
    last = model.encoder.head[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.tensor([3.0, 3.0, -30.0, -30.0]))
    x = digits.test_x[:4]
    g = torch.Generator().manual_seed(5)
    eps = torch.randn((1, 4, 2), generator=torch.Generator().manual_seed(5))  # what bound_terms draws from g
    with torch.no_grad():
        t = model.bound_terms(x, k=1, generator=g)
        z = torch.tensor(3.0) + torch.tensor(-15.0).exp() * eps
        log_q = -t["rec_nll"] + log_standard_normal(z)[0] - t["iwae"]  # iwae with k = 1 is log w
    expected = -0.5 * (2 * (math.log(2 * math.pi) - 30.0) + eps[0].double().pow(2).sum(-1))
    torch.testing.assert_close(log_q.double(), expected, atol=2e-3, rtol=0)
