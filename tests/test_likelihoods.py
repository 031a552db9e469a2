"""The VAE's likelihood parameter: densities checked against torch.distributions and quadrature,
means that are E[x|z], and run ids that do not move for the default."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import ContinuousBernoulli, Normal

from vaebench.config import Protocol, RunSpec
from vaebench.errors import UserError
from vaebench.identity import model_label
from vaebench.metrics.elbo import (
    bernoulli_nll,
    continuous_bernoulli_mean,
    continuous_bernoulli_nll,
    gaussian_nll,
)
from vaebench.models.registry import build_model, resolve_model
from vaebench.models.vae import VAE


def test_gaussian_nll_is_the_normal_log_density():
    g = torch.Generator().manual_seed(0)
    mean, x = torch.rand(3, 1, 4, 4, generator=g), torch.rand(3, 1, 4, 4, generator=g)
    log_eta = torch.tensor(-3.0)
    want = -Normal(mean, math.exp(-1.5)).log_prob(x).flatten(1).sum(1)
    torch.testing.assert_close(gaussian_nll(mean, log_eta, x), want)


CB_LOGITS = [-80.0, -60.0, -30.0, -16.0, -5.0, -0.11, -0.09, -0.011, -0.0099, -1e-3, 0.0, 1e-3, 0.0099, 0.011,
             0.09, 0.11, 1.3, 16.0, 30.0, 60.0, 80.0]  # both sides of each series switch, and beyond float32's clamp


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("logit", CB_LOGITS)
def test_continuous_bernoulli_is_a_density_with_the_right_mean(logit, dtype):
    """Trapezoid quadrature over [0, 1] (float64 sums of the density evaluated in `dtype`): the
    density integrates to 1 and its first moment is `continuous_bernoulli_mean`, at every logit,
    including 0 (the normaliser's 0/0), near the series switches, and beyond |l| = 16 where
    torch.distributions' clamp of lambda makes its density integrate to ~16 / |l|."""
    tol = 1e-6 if dtype == torch.float64 else 2e-5
    grid = torch.linspace(0, 1, 400_001, dtype=torch.float64)
    lg = torch.full((len(grid), 1), logit, dtype=dtype)
    dens = torch.exp(-continuous_bernoulli_nll(lg, grid[:, None].to(dtype)).double())
    assert float(torch.trapezoid(dens, grid)) == pytest.approx(1.0, abs=tol)
    first_moment = float(torch.trapezoid(dens * grid, grid))
    mean = continuous_bernoulli_mean(torch.tensor(logit, dtype=dtype))
    assert mean.dtype == dtype
    assert float(mean) == pytest.approx(first_moment, rel=tol, abs=tol / 10)
    if 0.5 < abs(logit):
        lam = 1 / (1 + math.exp(-logit))
        assert abs(first_moment - lam) > 1e-3  # the mean is not the parameter


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_continuous_bernoulli_gradients_are_finite_everywhere(dtype):
    logits = torch.tensor(CB_LOGITS, dtype=dtype, requires_grad=True)
    x = torch.linspace(0, 1, len(CB_LOGITS), dtype=dtype)
    (continuous_bernoulli_nll(logits[:, None], x[:, None]).sum() + continuous_bernoulli_mean(logits).sum()).backward()
    assert bool(torch.isfinite(logits.grad).all())


def test_continuous_bernoulli_matches_torch_where_torch_is_exact():
    """Inside |l| < 10 torch.distributions' clamp never binds: the closed forms agree with it."""
    logits = torch.linspace(-10, 10, 2001, dtype=torch.float64)
    cb = ContinuousBernoulli(logits=logits)
    torch.testing.assert_close(continuous_bernoulli_mean(logits), cb.mean, rtol=1e-7, atol=1e-9)
    x = torch.rand(len(logits), dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(continuous_bernoulli_nll(logits[:, None], x[:, None]), -cb.log_prob(x), rtol=1e-7, atol=1e-7)


def test_continuous_bernoulli_mean_follows_the_logit_where_torch_sticks():
    """Far in the tails the mean is ~1/|l| (and 1 - 1/l): torch's clamped mean sticks at ~0.0627."""
    for logit in (-30.0, -60.0):
        m = float(continuous_bernoulli_mean(torch.tensor(logit)))
        assert m == pytest.approx(-1 / logit, rel=1e-4)
        assert float(ContinuousBernoulli(logits=torch.tensor(logit)).mean) > 0.06
    assert float(continuous_bernoulli_mean(torch.tensor(60.0))) == pytest.approx(1 - 1 / 60, rel=1e-6)


def test_continuous_bernoulli_nll_is_bernoulli_minus_log_normaliser():
    logits, x = torch.randn(2, 1, 3, 3), torch.rand(2, 1, 3, 3)
    want = -ContinuousBernoulli(logits=logits).log_prob(x).flatten(1).sum(1)
    torch.testing.assert_close(continuous_bernoulli_nll(logits, x), want)
    assert bool((continuous_bernoulli_nll(logits, x) < bernoulli_nll(logits, x)).all())  # log C > 0


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian", "continuous_bernoulli"])
@torch.no_grad()
def test_decode_is_the_mean_image_and_bounds_are_finite(likelihood):
    torch.manual_seed(0)
    model = VAE((1, 8, 8), 3, likelihood=likelihood).eval()
    z = torch.randn(5, 3)
    out = model.decoder_out(z, None)
    want = {"bernoulli": torch.sigmoid(out), "gaussian": torch.sigmoid(out),
            "continuous_bernoulli": ContinuousBernoulli(logits=out.double()).mean.float()}[likelihood]  # float32 torch cancels near 1/2
    rec = model.decode(z)
    torch.testing.assert_close(rec, want)
    assert float(rec.min()) >= 0 and float(rec.max()) <= 1
    x = torch.rand(4, 1, 8, 8)
    t = model.bound_terms(x, k=5, eps=torch.randn(5, 4, 3))
    assert all(bool(torch.isfinite(v).all()) for v in t.values())


def test_default_likelihood_keeps_run_ids_and_labels():
    """`likelihood: bernoulli` (the default) is the spec of a run that names no likelihood, with
    the run id from before the parameter existed; a density likelihood is a new row `vae[likelihood=...]`."""
    plain, explicit = resolve_model("vae", {}), resolve_model("vae", {"likelihood": "bernoulli"})
    assert plain == explicit and plain.params_dict() == {"beta": 1.0}
    assert resolve_model("cvae", {}).params_dict() == {}
    spec = RunSpec("s", "digits", plain, 2, 0, Protocol())
    gauss = RunSpec("s", "digits", resolve_model("vae", {"likelihood": "gaussian"}), 2, 0, Protocol())
    assert spec.run_id != gauss.run_id
    assert model_label(gauss.to_dict()) == "vae[likelihood=gaussian]"
    assert model_label(spec.to_dict()) == "vae"
    assert build_model(gauss.model, (1, 8, 8), 2, 10, 1e-3).likelihood == "gaussian"


def test_unknown_likelihood_is_a_user_error():
    with pytest.raises(UserError, match="likelihood must be one of bernoulli, gaussian, continuous_bernoulli"):
        resolve_model("vae", {"likelihood": "poisson"})


@torch.no_grad()
def test_decode_takes_float64_codes():
    """visuals passes float64 codes to every non-Bernoulli model (as to PCA)."""
    model = VAE((1, 8, 8), 3, likelihood="gaussian").eval()
    torch.testing.assert_close(model.decode(torch.zeros(2, 3, dtype=torch.float64)), model.decode(torch.zeros(2, 3)))
