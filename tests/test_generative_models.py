"""IWAE, VampPrior VAE, WAE-MMD and RAE: each objective against a slow implementation of the
paper's formula, their invariances, the ex-post mixture behind the RAE and fid_samples_gmm, and
each model end to end through the runner on digits."""

import json
import math

import pytest
import torch

from vaebench.metrics import fid
from vaebench.metrics.code_gmm import encode_codes, fit_code_gmm, sample_code_gmm
from vaebench.models.ae import AE
from vaebench.models.iwae import IWAE
from vaebench.models.pca import PCAModel
from vaebench.models.rae import RAE, rae_losses
from vaebench.models.vae import VAE
from vaebench.models.vamp_vae import VampVAE, mixture_log_prob
from vaebench.models.wae_mmd import IMQ_SCALES, WAEMMD, imq_mmd

SHAPE = (1, 8, 8)


def _images(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, *SHAPE, generator=g, dtype=torch.float64)


def _feed(model, noises):
    """Make model.noise_like return the given tensors in turn (the exact noise of a step)."""
    it = iter(noises)
    model.noise_like = lambda t: next(it).to(t)


def _log_normal(z, mu, var):
    return sum(-0.5 * (math.log(2 * math.pi * v) + (a - m) ** 2 / v) for a, m, v in zip(z, mu, var, strict=True))


def _bernoulli_ll(logits, x):
    return sum(xi * -math.log1p(math.exp(-li)) + (1 - xi) * -math.log1p(math.exp(li)) for li, xi in zip(logits, x, strict=True))


# ---------------------------------------------------------------- IWAE


def test_iwae_loss_matches_a_per_sample_loop():
    torch.manual_seed(0)
    k, n, d = 4, 3, 2
    model = IWAE(SHAPE, d, k=k).double()
    x = _images(n)
    eps = [torch.randn(n, d, dtype=torch.float64) for _ in range(k)]
    _feed(model, eps)
    loss = model.objective(x)["loss"].detach()
    with torch.no_grad():
        mu, logvar = model.posterior(x, None)
        bounds = []
        for i in range(n):
            log_w = []
            for s in range(k):
                var = logvar[i].exp().tolist()
                z = [m + math.sqrt(v) * e for m, v, e in zip(mu[i].tolist(), var, eps[s][i].tolist(), strict=True)]
                logits = model.decoder(torch.tensor([z], dtype=torch.float64)).flatten().tolist()
                log_w.append(_bernoulli_ll(logits, x[i].flatten().tolist()) + _log_normal(z, [0] * d, [1] * d)
                             - _log_normal(z, mu[i].tolist(), var))
            top = max(log_w)
            bounds.append(top + math.log(sum(math.exp(w - top) for w in log_w) / k))
    assert float(loss) == pytest.approx(-sum(bounds) / n, rel=1e-10)


def test_iwae_with_k1_is_the_vae_with_a_sampled_kl():
    """Same weights, same batch, same noise: IWAE(k=1) = rec_nll + log q(z|x) - log p(z) at the
    VAE's sample, and its mean over noise draws is the VAE's loss (analytic KL)."""
    torch.manual_seed(1)
    vae = VAE(SHAPE, 3).double()
    iwae = IWAE(SHAPE, 3, k=1).double()
    iwae.load_state_dict(vae.state_dict())
    x = _images(5, seed=1)
    eps = torch.randn(5, 3, dtype=torch.float64)
    _feed(vae, [eps])
    _feed(iwae, [eps])
    v, w = vae.objective(x), iwae.objective(x)
    mu, logvar = vae.posterior(x, None)
    z = mu + (0.5 * logvar).exp() * eps
    log_q = -0.5 * (math.log(2 * math.pi) + logvar + eps ** 2).sum(1)
    log_p = -0.5 * (math.log(2 * math.pi) + z ** 2).sum(1)
    assert float(w["loss"].detach()) == pytest.approx(float((v["rec_nll"] + log_q - log_p).mean().detach()), rel=1e-12)
    # in expectation over the noise the sampled KL (log q - log p at z) is the VAE's analytic one
    with torch.no_grad():
        e = torch.randn(20_000, 5, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
        zs = mu + (0.5 * logvar).exp() * e
        sampled = (-0.5 * (logvar + e ** 2).sum(-1) + 0.5 * (zs ** 2).sum(-1))  # log q - log p, (M, N)
        se = sampled.std(0) / math.sqrt(len(e))
        assert torch.all((sampled.mean(0) - v["kl"]).abs() < 4 * se)


def test_iwae_bound_rises_with_k_and_noise_comes_from_noise_like():
    torch.manual_seed(3)
    x = _images(8, seed=3)
    calls = []
    model = IWAE(SHAPE, 2, k=7).double()
    real = model.noise_like
    model.noise_like = lambda t: calls.append(tuple(t.shape)) or real(t)
    model.objective(x)
    assert calls == [(8, 2)] * 7  # k draws of (N, d): a DDP step shards each along the batch
    with torch.no_grad():
        eps = torch.randn(50, 8, 2, dtype=torch.float64)
        b1 = model.bound_terms(x, k=1, eps=eps[:1])["iwae"].mean()
        b50 = model.bound_terms(x, k=50, eps=eps)["iwae"].mean()
    assert b50 > b1
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        IWAE(SHAPE, 2, k=0)


# ---------------------------------------------------------------- VampPrior


def test_vamp_log_prior_is_the_mixture_of_the_pseudo_input_posteriors():
    torch.manual_seed(4)
    model = VampVAE(SHAPE, 3, components=6).double()
    z = torch.randn(2, 4, 3, dtype=torch.float64)
    with torch.no_grad():
        got = model.log_prior(z)
        mu, logvar = model.posterior(model.pseudo_inputs(), None)
    for idx in [(a, b) for a in range(2) for b in range(4)]:
        terms = [_log_normal(z[idx].tolist(), mu[c].tolist(), logvar[c].exp().tolist()) for c in range(6)]
        top = max(terms)
        want = top + math.log(sum(math.exp(t - top) for t in terms) / 6)
        assert float(got[idx]) == pytest.approx(want, rel=1e-12)
    # the pseudo-inputs are images in [0, 1] (hardtanh of the free weights), initialised near 0.05
    u = model.pseudo_inputs().detach()
    assert u.shape == (6, *SHAPE) and float(u.min()) >= 0 and float(u.max()) <= 1
    assert abs(float(model.pseudo_weights.detach().mean()) - 0.05) < 0.01


def test_vamp_chunked_log_prior_equals_unchunked(monkeypatch):
    from vaebench.models import vamp_vae

    g = torch.Generator().manual_seed(5)
    z, means, logvars = (torch.randn(s, generator=g, dtype=torch.float64) for s in ((37, 4), (9, 4), (9, 4)))
    whole = mixture_log_prob(z, means, logvars)
    monkeypatch.setattr(vamp_vae, "LOG_PRIOR_CHUNK", 40)  # 1 row per chunk
    assert torch.allclose(mixture_log_prob(z, means, logvars), whole, rtol=0, atol=1e-12)


def test_vamp_bound_terms_and_training_loss_use_the_mixture():
    torch.manual_seed(6)
    model = VampVAE(SHAPE, 2, components=5).double()
    x = _images(4, seed=6)
    eps = torch.randn(3, 4, 2, dtype=torch.float64)
    with torch.no_grad():
        t = model.bound_terms(x, k=3, eps=eps)
        mu, logvar = model.posterior(x, None)
        z = mu + (0.5 * logvar).exp() * eps
        log_q = -0.5 * (math.log(2 * math.pi) + logvar + eps ** 2).sum(-1)
        log_px = -torch.nn.functional.binary_cross_entropy_with_logits(
            model.decoder(z.reshape(12, 2)).view(3, 4, -1), x.view(1, 4, -1).expand(3, 4, -1), reduction="none").sum(-1)
        log_w = log_px + model.log_prior(z) - log_q
    assert torch.allclose(t["kl"], (log_q - model.log_prior(z)).mean(0).detach(), atol=1e-12)
    assert torch.allclose(t["rec_nll"], -log_px.mean(0), atol=1e-12)
    assert torch.allclose(t["iwae"], torch.logsumexp(log_w, 0) - math.log(3), atol=1e-12)
    assert torch.allclose(model.log_likelihood_bound(x, k=1, eps=eps[:1]), log_w[0], atol=1e-12)  # the ELBO estimate
    _feed(model, [eps[0]])
    assert float(model.objective(x)["loss"].detach()) == pytest.approx(float(-log_w[0].mean()), rel=1e-12)


def test_vamp_samples_follow_the_mixture():
    """K = 1: the prior is q(z|u_1); codes drawn by `sample` have its mean and variance. Drawn
    through an identity decoder stand-in, so the test reads the codes themselves."""
    torch.manual_seed(7)
    model = VampVAE(SHAPE, 2, components=1).double()
    codes = []
    model.decode = lambda z, y=None: codes.append(z) or z
    model.sample(20_000, generator=torch.Generator().manual_seed(0))
    z = codes[0]
    with torch.no_grad():
        mu, logvar = model.posterior(model.pseudo_inputs(), None)
    se = logvar[0].exp().sqrt() / math.sqrt(len(z))
    assert torch.all((z.mean(0) - mu[0]).abs() < 5 * se)
    assert torch.allclose(z.var(0), logvar[0].exp(), rtol=0.05)
    # K = 3: each draw sits at one of the component means (variances shrunk to ~0), picked uniformly
    model3 = VampVAE(SHAPE, 2, components=3).double()
    model3.prior_components = lambda: (torch.tensor([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]], dtype=torch.float64),
                                       torch.full((3, 2), -30.0, dtype=torch.float64))
    codes.clear()
    model3.decode = lambda z, y=None: codes.append(z) or z
    model3.sample(3000, generator=torch.Generator().manual_seed(1))
    which = torch.cdist(codes[0], model3.prior_components()[0]).argmin(1)
    counts = torch.bincount(which, minlength=3).double() / 3000
    assert torch.all((counts - 1 / 3).abs() < 0.04)


# ---------------------------------------------------------------- WAE-MMD


def _mmd_double_sum(z, p):
    n, m, d = len(z), len(p), len(z[0])
    total = 0.0
    for s in IMQ_SCALES:
        c = 2 * d * s

        def k(a, b, c=c):
            return c / (c + sum((ai - bi) ** 2 for ai, bi in zip(a, b, strict=True)))

        total += sum(k(z[i], z[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
        total += sum(k(p[i], p[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
        total -= 2 * sum(k(z[i], p[j]) for i in range(n) for j in range(m)) / (n * m)
    return total


def test_mmd_is_the_unbiased_imq_statistic():
    g = torch.Generator().manual_seed(8)
    z, p = torch.randn(6, 3, generator=g, dtype=torch.float64), torch.randn(5, 3, generator=g, dtype=torch.float64) + 0.3
    assert float(imq_mmd(z, p)) == pytest.approx(_mmd_double_sum(z.tolist(), p.tolist()), rel=1e-12)


def test_mmd_is_near_zero_for_one_distribution_and_positive_for_a_shift():
    g = torch.Generator().manual_seed(9)
    same = [float(imq_mmd(torch.randn(200, 4, generator=g, dtype=torch.float64), torch.randn(200, 4, generator=g, dtype=torch.float64)))
            for _ in range(20)]
    shifted = float(imq_mmd(torch.randn(200, 4, generator=g, dtype=torch.float64) + 1.0, torch.randn(200, 4, generator=g, dtype=torch.float64)))
    mean_same = sum(same) / len(same)
    spread = (sum((v - mean_same) ** 2 for v in same) / (len(same) - 1)) ** 0.5
    assert abs(mean_same) < 3 * spread / math.sqrt(len(same))  # unbiased: zero in expectation
    assert shifted > 20 * spread


def test_wae_loss_and_its_deterministic_interface():
    torch.manual_seed(10)
    model = WAEMMD(SHAPE, 3).double()
    x = _images(6, seed=10)
    prior = torch.randn(6, 3, dtype=torch.float64)
    _feed(model, [prior])
    out = model.objective(x)
    with torch.no_grad():
        z = model.encoder(x)
        mean = torch.sigmoid(model.decoder(z))
    want = 0.05 * (x - mean).pow(2).flatten(1).sum(1).mean() + 10.0 * _mmd_double_sum(z.tolist(), prior.tolist())
    assert float(out["loss"].detach()) == pytest.approx(float(want), rel=1e-10)
    assert model.encode(x)[1] is None and model.log_likelihood_bound(x) is None and not hasattr(model, "bound_terms")
    gaussian = WAEMMD(SHAPE, 3, encoder="gaussian").double()
    mu, logvar = gaussian.encode(x)
    assert mu.shape == logvar.shape == (6, 3)
    assert not fid.is_deterministic(gaussian, x[:1]) and fid.is_deterministic(model, x[:1])


# ---------------------------------------------------------------- RAE and the ex-post mixture


def test_rae_loss_terms():
    torch.manual_seed(11)
    model = RAE(SHAPE, 3, beta=0.5, decoder_l2=0.25).double()
    x = _images(4, seed=11)
    out = model.objective(x)
    with torch.no_grad():
        z = model.encoder(x)
        mean = torch.sigmoid(model.decoder(z))
    rec = [sum((a - b) ** 2 for a, b in zip(x[i].flatten().tolist(), mean[i].flatten().tolist(), strict=True)) / 64 for i in range(4)]
    code = [sum(v * v for v in z[i].tolist()) / 3 for i in range(4)]
    weights = sum(float(p.detach().pow(2).sum()) for n, p in model.decoder.named_parameters() if n.endswith("weight"))
    assert float(out["loss"].detach()) == pytest.approx(sum(rec) / 4 + 0.5 * sum(code) / 4 + 0.25 * weights, rel=1e-10)
    # three channels: squared error summed over channels, averaged over pixel positions (the official code)
    t = rae_losses(torch.ones(1, 3, 2, 2), torch.zeros(1, 3, 2, 2), torch.zeros(1, 2), torch.nn.Linear(1, 1))
    assert float(t["rec"]) == 3.0


def test_gmm_fit_is_seeded_and_deterministic():
    g = torch.Generator().manual_seed(12)
    centers = torch.randn(10, 2, generator=g, dtype=torch.float64) * 10
    codes = centers.repeat(50, 1) + 0.1 * torch.randn(500, 2, generator=g, dtype=torch.float64)
    a, b = fit_code_gmm(codes), fit_code_gmm(codes.clone())
    for key in a:
        assert a[key].dtype == torch.float64 and torch.equal(a[key], b[key])
    found = torch.cdist(centers, a["means"]).min(1).values
    assert float(found.max()) < 0.1  # each cluster has its component
    s1 = sample_code_gmm(a, 100, torch.Generator().manual_seed(3))
    s2 = sample_code_gmm(a, 100, torch.Generator().manual_seed(3))
    assert torch.equal(s1, s2)


def _train_split(digits, n=400):
    import dataclasses

    return dataclasses.replace(digits, train_x=digits.train_x[:n], train_y=digits.train_y[:n])


def test_rae_samples_come_from_its_fitted_mixture_and_survive_a_state_dict(digits):
    torch.manual_seed(13)
    model = RAE(digits.image_shape, 2)
    with pytest.raises(RuntimeError, match="after_training"):
        model.sample(4)
    splits = _train_split(digits)
    model.after_training(splits)
    want = fit_code_gmm(encode_codes(model, splits.train_x, splits.train_y))
    for key, value in want.items():
        assert torch.equal(model.gmm[key], value)
    codes = []
    real_decode = model.decode
    model.decode = lambda z, y=None: codes.append(z) or real_decode(z)
    model.sample(5000, generator=torch.Generator().manual_seed(0))
    z = codes[0].double()
    nearest = torch.cdist(z, want["means"]).argmin(1)  # drawn codes cluster at the mixture's components
    freq = torch.bincount(nearest, minlength=10).double() / len(z)
    assert torch.allclose(freq, want["weights"], atol=0.05)
    assert torch.allclose(z.mean(0), (want["weights"][:, None] * want["means"]).sum(0), atol=0.1 * float(z.std()))
    restored = RAE(digits.image_shape, 2)
    restored.load_state_dict(model.state_dict())
    a = restored.sample(7, generator=torch.Generator().manual_seed(1))
    b = real_decode(sample_code_gmm(want, 7, torch.Generator().manual_seed(1)))
    assert torch.equal(a, b)


def test_fid_samples_gmm_column_for_deterministic_models_only(digits):
    torch.manual_seed(14)
    splits = _train_split(digits)
    rae = RAE(digits.image_shape, 2)
    rae.after_training(splits)
    models = {
        "ae": AE(digits.image_shape, 2), "pca": PCAModel(digits.image_shape, 2).fit(splits.train_x),
        "wae_mmd": WAEMMD(digits.image_shape, 2), "rae": rae,
        "vae": VAE(digits.image_shape, 2), "iwae": IWAE(digits.image_shape, 2), "vamp_vae": VampVAE(digits.image_shape, 2, components=20),
    }
    gmm_name = "fid_samples_gmm[digits-mlp]"
    for name, model in models.items():
        metrics, proto = fid.compute_fid_metrics(model, splits, backbone="classifier", n_samples=200, seed=0)
        deterministic = name in ("ae", "pca", "wae_mmd", "rae")
        assert (gmm_name in metrics) is deterministic, name
        assert ("fid_samples_fitted[digits-mlp]" in metrics) is deterministic, name
        if deterministic:
            assert math.isfinite(metrics[gmm_name]) and "fitted_gmm" in proto
        assert proto["samples"] == fid.samples_description(model, proto["model_kind"])
    assert fid.compute_fid_metrics(models["vamp_vae"], splits, backbone="classifier", n_samples=50)[1]["samples"].startswith("z ~ VampPrior")
    # seeded: the same run gives the same column; another seed draws other samples
    once = fid.compute_fid_metrics(models["ae"], splits, backbone="classifier", n_samples=200, seed=0)[0][gmm_name]
    again = fid.compute_fid_metrics(models["ae"], splits, backbone="classifier", n_samples=200, seed=0)[0][gmm_name]
    other = fid.compute_fid_metrics(models["ae"], splits, backbone="classifier", n_samples=200, seed=1)[0][gmm_name]
    assert once == again != other


# ---------------------------------------------------------------- end to end through the runner


def test_each_model_trains_and_is_evaluated_through_the_runner(tmp_path):
    from vaebench.cli import main

    suite = tmp_path / "gen.yaml"
    suite.write_text(
        "name: gen\ndatasets: [digits]\n"
        "models: [iwae, {name: vamp_vae, components: 50}, wae_mmd, rae]\n"
        "latent_dims: [2]\nseeds: [0]\n"
        "protocol: {lr: 0.003, batch_size: 128, max_epochs: 1, max_steps: 3, patience: 0, iwae_k: 4,"
        " num_threads: 1, fid_backbone: classifier, fid_samples: 100, figure_latent_dims: [2]}\n"
    )
    out = tmp_path / "out"
    assert main(["run", "--suite", str(suite), "--out", str(out), "--quiet"]) == 0
    recs = {r["spec"]["model"]: r for r in (json.loads(p.read_text()) for p in (out / "runs").glob("*.json"))}
    assert set(recs) == {"iwae", "vamp_vae", "wae_mmd", "rae"}
    for name, r in recs.items():
        assert r["status"] == "ok", name
        m = r["metrics"]
        assert math.isfinite(m["mse"]) and math.isfinite(m["fid_samples[digits-mlp]"])
        if name in ("iwae", "vamp_vae"):
            assert math.isfinite(m["elbo"]) and m["elbo"] <= m["iwae"] + 1e-6 and "fid_samples_gmm[digits-mlp]" not in m
            assert m["elbo"] == pytest.approx(-(m["rec_nll"] + m["kl"]))
        else:
            assert not {"elbo", "iwae", "rec_nll", "kl", "bpd"} & set(m)
            assert math.isfinite(m["fid_samples_gmm[digits-mlp]"]) and math.isfinite(m["fid_samples_fitted[digits-mlp]"])
    assert recs["rae"]["fid_protocol"]["samples"].startswith("z ~ the 10-component Gaussian mixture")
    assert "fid_samples_gmm[digits-mlp]_mean" in (out / "table.csv").read_text().splitlines()[0]


@pytest.mark.parametrize("name, params, message", [
    ("iwae", {"k": 0}, "k must be an integer >= 1"),
    ("iwae", {"k": 2.5}, "k must be an integer >= 1"),
    ("vamp_vae", {"components": True}, "components must be an integer >= 1"),
    ("wae_mmd", {"encoder": "stochastic"}, "encoder must be one of deterministic, gaussian"),
    ("rae", {"beta": "big"}, "beta must be a number"),
])
def test_bad_parameters_are_user_errors(name, params, message):
    from vaebench.errors import UserError
    from vaebench.models.registry import resolve_model

    with pytest.raises(UserError, match=message):
        resolve_model(name, params)
    assert resolve_model(name, {}).name == name


def test_generative_suite_shares_latent_dims_protocol_and_bpd_scale():
    """Its rows are configurations of latent_dim's protocol (same protocol id), and every model
    with a likelihood uses a density, so VAE, IWAE, VampPrior and PCA share `bpd`."""
    from vaebench.config import expand, load_suite
    from vaebench.identity import row_key

    gen, ld = load_suite("generative"), load_suite("latent_dim")
    assert [m.name for m in gen.models] == ["pca", "ae", "vae", "iwae", "vamp_vae", "wae_mmd", "rae"]
    assert gen.latent_dims == (8, 16, 32)
    for m in gen.models:
        if m.name in ("vae", "iwae", "vamp_vae"):
            assert m.params_dict()["likelihood"] == "continuous_bernoulli"
    shared = {row_key(s.to_dict()) for s in expand(gen)} & {row_key(s.to_dict()) for s in expand(ld)}
    assert {k[1] for k in shared} == {"pca", "ae", "vae[likelihood=continuous_bernoulli]"}
