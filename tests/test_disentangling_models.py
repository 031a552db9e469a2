"""disentanglement_lib's objectives as vaebench models (annealed_vae, beta_tcvae, factor_vae,
dip_vae_i, dip_vae_ii): each regulariser against a slow implementation written from the paper's
formula, closed forms and invariances, the FactorVAE discriminator's TC on synthetic codes, and
end-to-end training, resume and a parameter grid through the real runner."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vaebench.models.annealed_vae import AnnealedVAE, capacity
from vaebench.models.beta_tcvae import BetaTCVAE, total_correlation_mws
from vaebench.models.dip_vae import DIPVAEI, DIPVAEII, batch_covariance, dip_covariance, dip_penalty
from vaebench.models.factor_vae import (
    DISC_BETAS,
    DISC_LR,
    Discriminator,
    FactorVAE,
    density_ratio_tc,
    discriminator_loss,
    permute_dims,
)
from vaebench.models.vae import VAE

SHAPE = (1, 8, 8)
D = 3


def batch(n=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand((n, *SHAPE), generator=g, dtype=torch.float64), torch.randint(10, (n,), generator=g)


def twin(cls, ref: VAE, **kw):
    """A `cls` with `ref`'s encoder/decoder weights, in double precision."""
    torch.manual_seed(0)
    m = cls(SHAPE, D, **kw).double()
    m.load_state_dict(ref.state_dict(), strict=False)
    return m


def vae(beta=1.0, likelihood="bernoulli"):
    torch.manual_seed(0)
    return VAE(SHAPE, D, beta=beta, likelihood=likelihood).double()


def objective(model, x, seed=1):
    torch.manual_seed(seed)  # the same training noise for every model compared
    return model.objective(x)


# ---------------------------------------------------------------- beta-TCVAE: MWS


def log_gauss(z, m, lv):
    return -0.5 * (math.log(2 * math.pi) + lv + (z - m) ** 2 / math.exp(lv))


def mws_by_hand(z, mu, lv, n_data):
    """Chen et al.'s MWS written out term by term with explicit loops (Python floats)."""
    m, d = z.shape
    total = 0.0
    for j in range(m):
        joint = [sum(log_gauss(z[j, k], mu[i, k], lv[i, k]) for k in range(d)) for i in range(m)]
        log_qz = math.log(sum(math.exp(a) for a in joint)) - math.log(n_data * m)
        log_marginals = 0.0
        for k in range(d):
            log_marginals += math.log(sum(math.exp(log_gauss(z[j, k], mu[i, k], lv[i, k])) for i in range(m))) \
                - math.log(n_data * m)
        total += log_qz - log_marginals
    return total / m


def test_mws_matches_the_formula_written_out_term_by_term():
    g = torch.Generator().manual_seed(3)
    mu = torch.randn(5, 3, generator=g, dtype=torch.float64)
    lv = torch.randn(5, 3, generator=g, dtype=torch.float64) * 0.5 - 0.5
    z = mu + (0.5 * lv).exp() * torch.randn(5, 3, generator=g, dtype=torch.float64)
    got = float(total_correlation_mws(z, mu, lv, 1000))
    assert got == pytest.approx(mws_by_hand(z.numpy(), mu.numpy(), lv.numpy(), 1000), rel=1e-12, abs=1e-12)
    # disentanglement_lib drops log(NM) from both terms: the value moves by (d - 1) log(NM), the gradient not
    assert float(total_correlation_mws(z, mu, lv, 7)) - got == pytest.approx(2 * (math.log(35) - math.log(5000)))


def test_mws_chunks_give_the_unchunked_value(monkeypatch):
    from vaebench.models import beta_tcvae

    g = torch.Generator().manual_seed(4)
    mu, lv = torch.randn(50, 4, generator=g, dtype=torch.float64), torch.zeros(50, 4, dtype=torch.float64)
    whole = total_correlation_mws(mu, mu, lv, 100)
    monkeypatch.setattr(beta_tcvae, "CHUNK_ELEMENTS", 4 * 50 * 7)  # 7 rows at a time, a ragged last chunk
    assert torch.allclose(total_correlation_mws(mu, mu, lv, 100), whole, rtol=1e-14, atol=0)


def test_mws_on_a_gaussian_aggregate_posterior_converges_to_tc_plus_its_log_n_offset():
    """x ~ N(0, I), mu = A x, sigma^2 fixed: q(z) = N(0, A A^T + diag sigma^2), TC in closed form.
    For large batches MWS's log q(z) estimate is log q(z) - log N (its 1/(NM) normalisation), so the
    estimate tends to TC + (d - 1) log N: measured here, and the error shrinks with the batch."""
    a = torch.tensor([[1.0, 0.9], [0.9, 1.0]], dtype=torch.float64)
    var = torch.tensor([0.3, 0.2], dtype=torch.float64)
    cov = a @ a.T + torch.diag(var)
    tc = 0.5 * (float(torch.log(torch.diagonal(cov)).sum()) - float(torch.logdet(cov)))
    n_data = 60_000
    offset = math.log(n_data)  # (d - 1) log N, d = 2

    def error(m, seed):
        g = torch.Generator().manual_seed(seed)
        mu = torch.randn(m, 2, generator=g, dtype=torch.float64) @ a.T
        z = mu + var.sqrt() * torch.randn(m, 2, generator=g, dtype=torch.float64)
        return abs(float(total_correlation_mws(z, mu, var.log().expand(m, 2), n_data)) - offset - tc)

    assert tc > 0.3  # a clearly non-zero TC
    small = np.mean([error(16, s) for s in range(8)])
    large = np.mean([error(2000, s) for s in range(2)])
    assert large < 0.03 and large < small / 3, (small, large, tc)


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian", "continuous_bernoulli"])
def test_beta_tcvae_with_beta_1_is_the_vae_loss(likelihood):
    ref = vae(likelihood=likelihood)
    tc = twin(BetaTCVAE, ref, beta=1.0, likelihood=likelihood)
    tc.train_size = 1000
    x, _ = batch()
    assert torch.allclose(objective(tc, x)["loss"], objective(ref, x)["loss"], rtol=1e-13, atol=0)
    tc.beta = 6.0  # the TC term really is there
    assert not torch.allclose(objective(tc, x)["loss"], objective(ref, x)["loss"])


def test_beta_tcvae_loss_is_the_elbo_plus_beta_minus_1_tc():
    m = vae()
    m6 = twin(BetaTCVAE, m, beta=6.0)
    m6.train_size = 500
    x, _ = batch()
    out = objective(m6, x)
    torch.manual_seed(1)
    t = m6.sampled_terms(x)
    tc = total_correlation_mws(t["z"], t["mu"], t["logvar"], 500)
    want = t["rec_nll"].mean() + t["kl"].mean() + 5.0 * tc
    assert torch.allclose(out["loss"], want, rtol=1e-13, atol=0) and torch.allclose(out["tc"], tc)


def test_beta_tcvae_without_the_data_set_size_fails_clearly():
    m = BetaTCVAE(SHAPE, D)
    with pytest.raises(RuntimeError, match="training set's size"):
        m.objective(batch()[0].float())


# ---------------------------------------------------------------- AnnealedVAE


def test_capacity_schedule_values():
    assert [capacity(s, 25.0, 100_000) for s in (0, 1, 40_000, 100_000, 250_000)] == [0.0, 25e-5, 10.0, 25.0, 25.0]
    assert capacity(7, 5.0, 0) == 5.0


def test_annealed_loss_at_a_given_step_is_rec_plus_gamma_abs_kl_minus_c(monkeypatch):
    m = twin(AnnealedVAE, vae(), gamma=1000.0, c_max=25.0, anneal_steps=100)
    x, _ = batch()
    for step, c in ((0, 0.0), (20, 5.0), (60, 15.0), (500, 25.0)):
        monkeypatch.setattr(AnnealedVAE, "global_step", property(lambda self, s=step: s))
        out = objective(m, x)
        want = out["rec_nll"].mean() + 1000.0 * (out["kl"].mean() - c).abs()
        assert float(out["capacity"]) == c and torch.allclose(out["loss"], want, rtol=1e-13, atol=0)


def test_annealed_vae_validates_at_the_final_capacity(monkeypatch):
    """Validation (early stopping, best weights) compares epochs at one fixed objective, C = c_max."""
    m = twin(AnnealedVAE, vae(), gamma=10.0, c_max=25.0, anneal_steps=100).eval()
    x, _ = batch()
    for step in (0, 50, 500):
        monkeypatch.setattr(AnnealedVAE, "global_step", property(lambda self, s=step: s))
        out = objective(m, x)
        assert float(out["capacity"]) == 25.0
        assert torch.allclose(out["loss"], out["rec_nll"].mean() + 10.0 * (out["kl"].mean() - 25.0).abs())


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian", "continuous_bernoulli"])
def test_annealed_vae_with_zero_capacity_is_the_beta_vae_with_beta_gamma(likelihood):
    ref = vae(beta=4.0, likelihood=likelihood)
    m = twin(AnnealedVAE, ref, gamma=4.0, c_max=0.0, likelihood=likelihood)
    x, _ = batch()
    assert torch.allclose(objective(m, x)["loss"], objective(ref, x)["loss"], rtol=1e-13, atol=0)


# ---------------------------------------------------------------- DIP-VAE


def cov_by_hand(mu):
    """np.cov-style loops, divided by M (the biased batch covariance)."""
    m, d = mu.shape
    mean = [sum(mu[i, a] for i in range(m)) / m for a in range(d)]
    return np.array([[sum((mu[i, a] - mean[a]) * (mu[i, b] - mean[b]) for i in range(m)) / m for b in range(d)]
                     for a in range(d)])


def penalty_by_hand(cov, lod, ld):
    d = len(cov)
    return lod * sum(cov[i, j] ** 2 for i in range(d) for j in range(d) if i != j) + ld * sum((cov[i, i] - 1) ** 2 for i in range(d))


def test_dip_covariances_and_penalty_match_explicit_loops():
    g = torch.Generator().manual_seed(5)
    mu = torch.randn(9, 3, generator=g, dtype=torch.float64) @ torch.randn(3, 3, generator=g, dtype=torch.float64)
    lv = torch.randn(9, 3, generator=g, dtype=torch.float64)
    hand = cov_by_hand(mu.numpy())
    assert np.allclose(batch_covariance(mu).numpy(), hand, rtol=1e-13, atol=1e-14)
    assert np.allclose(hand, np.cov(mu.numpy().T, bias=True))
    hand_ii = hand + np.diag(np.exp(lv.numpy()).mean(0))
    assert np.allclose(dip_covariance(mu, lv, "ii").numpy(), hand_ii, rtol=1e-13)
    for cov, typ in ((hand, "i"), (hand_ii, "ii")):
        got = float(dip_penalty(dip_covariance(mu, lv, typ), 2.0, 20.0))
        assert got == pytest.approx(penalty_by_hand(cov, 2.0, 20.0), rel=1e-12)


def whitened(m, d, seed=0):
    """m codes whose batch covariance is exactly the identity (up to round-off)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(m, d, generator=g, dtype=torch.float64)
    x = x - x.mean(0)
    chol = torch.linalg.cholesky(x.T @ x / m)
    return x @ torch.linalg.inv(chol).T


def test_dip_penalties_vanish_when_the_covariance_is_the_identity():
    mu = whitened(64, 4)
    lv = torch.full((64, 4), -50.0, dtype=torch.float64)  # sigma^2 ~ 0: type II's covariance is Cov[mu]
    assert float(dip_penalty(dip_covariance(mu, lv, "i"), 10.0, 100.0)) < 1e-20
    half = torch.full((64, 4), math.log(0.5), dtype=torch.float64)  # E[sigma^2] = I/2 + Cov[mu] = I/2
    assert float(dip_penalty(dip_covariance(mu * math.sqrt(0.5), half, "ii"), 10.0, 10.0)) < 1e-20
    assert float(dip_penalty(dip_covariance(mu * 2, lv, "i"), 10.0, 100.0)) > 1.0  # and only then


def test_dip_models_use_their_type_and_disentanglement_libs_lambda_d():
    ref = vae()
    x, _ = batch()
    for cls, typ, factor in ((DIPVAEI, "i", 10.0), (DIPVAEII, "ii", 1.0)):
        m = twin(cls, ref, lambda_od=2.0)
        assert m.lambda_d == 2.0 * factor
        out = objective(m, x)
        torch.manual_seed(1)
        t = m.sampled_terms(x)
        dip = dip_penalty(dip_covariance(t["mu"], t["logvar"], typ), 2.0, 2.0 * factor)
        assert torch.allclose(out["loss"], t["rec_nll"].mean() + t["kl"].mean() + dip, rtol=1e-13, atol=0)
        assert torch.allclose(objective(twin(cls, ref, lambda_od=0.0), x)["loss"], objective(ref, x)["loss"], rtol=1e-13)
    gauss = vae(likelihood="gaussian")  # the likelihood parameter reaches the reconstruction term
    for cls in (DIPVAEI, DIPVAEII, FactorVAE):
        m = twin(cls, gauss, likelihood="gaussian")
        assert torch.allclose(objective(m, x)["rec_nll"], objective(gauss, x)["rec_nll"], rtol=1e-13)


# ---------------------------------------------------------------- FactorVAE


def test_permute_dims_permutes_each_column_independently():
    z = torch.arange(40.0).view(10, 4)
    p = permute_dims(z, torch.randn(10, 4, generator=torch.Generator().manual_seed(0)))
    for col in range(4):
        assert sorted(p[:, col].tolist()) == z[:, col].tolist()
    assert not all(torch.equal(p[:, 0] // 4, p[:, c] // 4) for c in range(1, 4))  # not one shared permutation


def _trained_tc(correlation: float, seed: int = 0) -> float:
    """Trains a (small) discriminator on 2-d Gaussian codes with the given correlation; its TC on
    fresh codes. The true TC is -0.5 log(1 - rho^2)."""
    torch.manual_seed(seed)
    disc = Discriminator(2, hidden=64, layers=2)
    opt = torch.optim.Adam(disc.parameters(), lr=1e-3, betas=DISC_BETAS)
    chol = torch.linalg.cholesky(torch.tensor([[1.0, correlation], [correlation, 1.0]]))
    for _ in range(300):
        z = torch.randn(256, 2) @ chol.T
        loss = discriminator_loss(disc, z, permute_dims(z, torch.randn_like(z)))
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return float(density_ratio_tc(disc(torch.randn(20_000, 2) @ chol.T)))


def test_the_discriminator_tc_is_near_zero_for_independent_codes_and_positive_for_correlated_ones():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # small matrices: one thread is 8x faster on a shared 2-core machine
    try:
        independent, correlated = _trained_tc(0.0), _trained_tc(0.9)
    finally:
        torch.set_num_threads(before)
    true = -0.5 * math.log(1 - 0.9**2)  # 0.83 nats
    assert abs(independent) < 0.1, independent
    assert 0.5 * true < correlated < 1.5 * true, (correlated, true)


def test_factor_vae_losses_move_only_their_own_networks():
    m = twin(FactorVAE, vae())
    x, _ = batch()
    out = objective(m, x)
    vae_params = [p for n, p in m.named_parameters() if not n.startswith("discriminator.")]
    disc_params = list(m.discriminator.parameters())
    g_vae = torch.autograd.grad(out["loss"], vae_params + disc_params, allow_unused=True)
    assert all(g is None for g in g_vae[len(vae_params):])  # the VAE loss sees D frozen
    assert all(g is not None and g.abs().sum() > 0 for g in g_vae[: len(vae_params)])
    g_aux = torch.autograd.grad(out["aux_loss"], vae_params + disc_params, allow_unused=True)
    assert all(g is None for g in g_aux[: len(vae_params)])  # D's loss sees z detached
    m.eval()
    assert "aux_loss" not in objective(m, x)  # validation: the FactorVAE loss only


def test_factor_vae_optimizer_is_exactly_two_adams():
    torch.manual_seed(0)
    m = FactorVAE(SHAPE, D, lr=3e-3, likelihood="gaussian")
    opt = m.configure_optimizers()
    torch.manual_seed(0)
    a = FactorVAE(SHAPE, D, lr=3e-3, likelihood="gaussian")
    vae_opt = VAE.configure_optimizers(a)  # the VAE's own groups (rest, log eta) ...
    disc_ids = {id(p) for p in a.discriminator.parameters()}
    for group in vae_opt.param_groups:
        group["params"] = [p for p in group["params"] if id(p) not in disc_ids]
    disc_opt = torch.optim.Adam(a.discriminator.parameters(), lr=DISC_LR, betas=DISC_BETAS)  # ... and D's own Adam
    assert sum(len(g["params"]) for g in opt.param_groups) == len(list(m.parameters()))
    x, _ = batch(seed=2)
    for step in range(3):
        for model, opts in ((m, [opt]), (a, [vae_opt, disc_opt])):
            out = objective(model, x.float(), seed=10 + step)
            for o in opts:
                o.zero_grad()
            (out["loss"] + out["aux_loss"]).backward()
            for o in opts:
                o.step()
    for (name, p), q in zip(m.named_parameters(), a.parameters(), strict=True):
        assert torch.equal(p, q), name


def test_the_discriminator_does_not_change_encode_decode_sample_or_the_bound():
    m = FactorVAE(SHAPE, D).eval()
    x, y = batch()
    x = x.float()

    def outputs():
        z = torch.randn(4, D, generator=torch.Generator().manual_seed(0))
        return [*m.encode(x), m.decode(z), m.sample(4, generator=torch.Generator().manual_seed(1)),
                m.log_likelihood_bound(x, k=3, generator=torch.Generator().manual_seed(2))]

    before = outputs()
    with torch.no_grad():
        for p in m.discriminator.parameters():
            p.add_(1.0)
    assert all(torch.equal(a, b) for a, b in zip(before, outputs(), strict=True))


# ---------------------------------------------------------------- through the real runner


SUITE = """name: disent_tiny
datasets: [digits]
models: [annealed_vae, {{name: beta_tcvae, beta: [1, 6]}}, factor_vae, dip_vae_i, dip_vae_ii]
latent_dims: [2]
seeds: [0]
protocol: {{lr: 0.003, batch_size: 128, max_epochs: {epochs}, steps_per_epoch: 3, patience: 1, iwae_k: 4,
            eval_batch_size: 500, num_threads: 1, fid_backbone: none, figure_latent_dims: []}}
"""


def test_every_model_trains_end_to_end_and_a_parameter_grid_gives_two_rows(cli, tmp_path):
    from vaebench.report.table import build_rows
    from vaebench.store import load_records

    path = tmp_path / "disent.yaml"
    path.write_text(SUITE.format(epochs=3))
    res = cli("run", "--suite", str(path), "--out", str(tmp_path / "out"), "--quiet", "--wandb", "disabled")
    assert res.returncode == 0, res.stderr[-3000:]
    records = load_records(tmp_path / "out")
    assert sorted(r["spec"]["model"] for r in records) == sorted(
        ["annealed_vae", "beta_tcvae", "beta_tcvae", "factor_vae", "dip_vae_i", "dip_vae_ii"])
    for r in records:
        assert r["status"] == "ok", r
        for key in ("elbo", "iwae", "mse"):
            assert math.isfinite(r["metrics"][key]), (r["spec"]["model"], key, r["metrics"])
    labels = sorted(row["model"] for row in build_rows(records) if row["model"].startswith("beta_tcvae"))
    assert labels == ["beta_tcvae", "beta_tcvae[beta=1]"]


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("name, params", [("factor_vae", {}), ("annealed_vae", {"anneal_steps": 20, "gamma": 10.0})])
def test_resume_from_a_checkpoint_is_bitwise_the_uninterrupted_run(name, params, digits, tmp_path, monkeypatch, one_thread):
    """Both optimizers' states (factor_vae) and the capacity schedule (annealed_vae: C reaches c_max
    at step 20 of 24) continue where the crash left them."""
    from lightning.pytorch.callbacks import Callback

    from vaebench.config import Protocol
    from vaebench.models.registry import build_model, resolve_model
    from vaebench.runner.train import Launch, train

    monkeypatch.setenv("VAEBENCH_CHECKPOINT_EVERY_S", "0")
    torch.set_num_threads(1)  # the protocol's num_threads (the sweep sets it; train() does not)
    protocol = Protocol(lr=3e-3, batch_size=128, max_epochs=4, steps_per_epoch=6, patience=0, iwae_k=4)
    spec = resolve_model(name, params)

    def fresh():
        torch.manual_seed(0)
        return build_model(spec, digits.image_shape, 2, 10, protocol.lr)

    class Crash(Exception):
        pass

    class CrashAfter(Callback):
        def on_train_epoch_end(self, trainer, pl_module):
            if trainer.current_epoch == 2:
                raise Crash

    ref = fresh()
    info_ref = train(ref, digits, protocol, 0, Launch("cpu", 1))
    ckpt = tmp_path / "run.ckpt"
    with pytest.raises(Crash):
        train(fresh(), digits, protocol, 0, Launch("cpu", 1), extra_callbacks=[CrashAfter()], checkpoint=ckpt)
    state = torch.load(ckpt, weights_only=True)
    assert state["global_step"] == 12  # optimizer steps (one per batch), not one per optimizer
    groups = state["optimizer_states"][0]["param_groups"]
    if name == "factor_vae":  # the discriminator's Adam state is in the checkpoint
        assert len(groups) == 2 and groups[1]["lr"] == DISC_LR and tuple(groups[1]["betas"]) == DISC_BETAS
        assert len(state["optimizer_states"][0]["state"]) == len(list(ref.parameters()))
    resumed = fresh()
    info = train(resumed, digits, protocol, 0, Launch("cpu", 1), checkpoint=ckpt)
    assert info.resumed_from_epoch == 1 and info.steps == info_ref.steps == 24
    for (k, a), b in zip(ref.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), k


class NaNDiscriminatorFactorVAE(FactorVAE):
    """A FactorVAE whose discriminator loss (not its VAE loss) turns NaN at step 5."""

    def objective(self, x, y=None):
        out = super().objective(x, y)
        if self.training and self.global_step >= 5:
            out["aux_loss"] = out["aux_loss"] * float("nan")
        return out


def test_a_diverging_discriminator_is_caught_by_the_shared_divergence_check(digits, one_thread):
    from vaebench.config import Protocol
    from vaebench.errors import RunDiverged
    from vaebench.runner.train import Launch, train

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = NaNDiscriminatorFactorVAE(digits.image_shape, 2)
    with pytest.raises(RunDiverged) as err:
        train(model, digits, Protocol(lr=3e-3, batch_size=128, max_epochs=1, steps_per_epoch=8, patience=0), 0,
              Launch("cpu", 1))
    assert err.value.step == 5


def test_a_step_count_parameter_takes_whole_numbers_only():
    from vaebench.errors import UserError
    from vaebench.models.registry import resolve_model

    assert resolve_model("annealed_vae", {"anneal_steps": 1e5}) == resolve_model("annealed_vae", {})
    assert resolve_model("annealed_vae", {"anneal_steps": 5e3}).params_dict()["anneal_steps"] == 5000
    for bad in (2.5, "many", True):
        with pytest.raises(UserError, match=r"annealed_vae': anneal_steps must be an integer >= 1 \(a whole number\)"):
            resolve_model("annealed_vae", {"anneal_steps": bad})


def test_the_dry_run_estimate_measures_every_model(digits, one_thread):
    from vaebench.config import Protocol, RunSpec, parse_model
    from vaebench.runner.estimate import estimate

    runs = [RunSpec("t", "digits", parse_model(name), 2, 0, Protocol(max_epochs=1))
            for name in ("annealed_vae", "beta_tcvae", "factor_vae", "dip_vae_i", "dip_vae_ii")]
    plan = estimate(runs, {runs[0].dataset_spec: digits}, "cpu")
    assert plan.unknown == 0 and not [n for n in plan.notes if "not measured" in n], plan.notes
    assert all(s > 0 for s in plan.seconds.values())
