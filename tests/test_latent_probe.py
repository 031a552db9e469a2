"""Active units (Burda et al. 2016: Cov_x(E_q[z_i]) > 0.01) and the linear probe (fitted on train only,
scored on test), pinned on cases with known answers."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from vaebench.config import Protocol
from vaebench.metrics.latent import AU_THRESHOLD, active_units
from vaebench.metrics.probe import probe_accuracy
from vaebench.models.vae import VAE
from vaebench.runner import evaluate as evaluate_module
from vaebench.runner.evaluate import evaluate


def _column_with_variance(v: float, n: int = 500, seed: int = 0) -> torch.Tensor:
    """A column whose unbiased sample variance is v (to float64 round-off)."""
    r = torch.randn(n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return (r - r.mean()) / r.std() * v**0.5


def test_active_units_threshold_and_a_collapsed_dim():
    assert AU_THRESHOLD == 0.01
    cols = {0.02: 1, 0.0102: 1, 0.0098: 0, 0.005: 0, 1.0: 1}
    for v, expected in cols.items():
        assert active_units(_column_with_variance(v)[:, None]) == expected, v
    constant = torch.full((500, 1), 3.7, dtype=torch.float64)  # a collapsed dim: the same mean for every x
    codes = torch.cat([constant, *(_column_with_variance(v, seed=i)[:, None] for i, v in enumerate(cols))], dim=1)
    assert active_units(codes) == 3
    # a threshold is a threshold on the variance, not on the std: std 0.1 is variance exactly 0.01, not active
    assert active_units(_column_with_variance(0.01 * (1 - 1e-9))[:, None]) == 0


def test_evaluate_counts_a_collapsed_posterior_mean_as_inactive(digits):
    torch.manual_seed(0)
    model = VAE(digits.image_shape, latent_dim=4).eval()
    with torch.no_grad():
        last = model.encoder.head[-1]
        last.weight[:4] *= 20.0  # the posterior means vary strongly over x ...
        last.weight[0] = 0.0  # ... except dim 0, collapsed to its bias
    codes = model.encode(digits.test_x)[0].double()
    assert codes[:, 0].var() == 0 and (codes[:, 1:].var(0) > 0.05).all()
    metrics = evaluate(model, digits, Protocol(iwae_k=2), 0)[0]
    assert metrics["active_units"] == 3


def _clusters(n: int, seed: int):
    """Codes in 10 well-separated Gaussian clusters; the label is the cluster."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 10
    centres = torch.randn(10, 6, generator=torch.Generator().manual_seed(99)) * 5
    return (centres[y] + torch.randn(n, 6, generator=g)).numpy(), y.numpy()


def test_probe_scores_the_test_labels_it_never_saw():
    tr_x, tr_y = _clusters(2000, 0)
    te_x, te_y = _clusters(1000, 1)
    assert probe_accuracy(tr_x, tr_y, te_x, te_y) > 0.98
    # test labels permuted: the probe, fitted on train only, is at chance (0.1; 1000 test points)
    permuted = np.random.default_rng(0).permutation(te_y)
    assert abs(probe_accuracy(tr_x, tr_y, te_x, permuted) - 0.1) < 0.04
    # train labels permuted: nothing to learn, no better than chance on the true test labels
    assert probe_accuracy(tr_x, np.random.default_rng(1).permutation(tr_y), te_x, te_y) < 0.2


def test_probe_standardises_with_the_train_statistics_only():
    """Shifting the test codes far away ruins a train-fitted probe; a probe (or scaler) fitted on the
    test codes would not notice the shift."""
    tr_x, tr_y = _clusters(2000, 0)
    te_x, te_y = _clusters(1000, 1)
    assert probe_accuracy(tr_x, tr_y, te_x + 100.0, te_y) < 0.3


def test_evaluate_fits_the_probe_on_the_train_split_and_scores_the_test_split(digits, monkeypatch):
    torch.manual_seed(0)
    model = VAE(digits.image_shape, latent_dim=8).eval()
    seen = {}

    def spy(train_codes, train_y, test_codes, test_y):
        seen.update(train_codes=train_codes, train_y=train_y, test_codes=test_codes, test_y=test_y)
        return probe_accuracy(train_codes, train_y, test_codes, test_y)

    monkeypatch.setattr(evaluate_module, "probe_accuracy", spy)
    acc = evaluate(model, digits, Protocol(iwae_k=2), 0)[0]["probe_acc"]
    with torch.no_grad():
        train_codes = model.encode(digits.train_x)[0].double().numpy()
        test_codes = model.encode(digits.test_x)[0].double().numpy()
    np.testing.assert_allclose(seen["train_codes"], train_codes, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(seen["train_y"], digits.train_y.numpy())
    np.testing.assert_allclose(seen["test_codes"], test_codes, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(seen["test_y"], digits.test_y.numpy())
    assert acc > 0.5  # even random-encoder codes of digits carry class information
    # with the test labels permuted the probe is at chance: it never fitted on the test split
    monkeypatch.setattr(evaluate_module, "probe_accuracy", probe_accuracy)
    perm = torch.randperm(len(digits.test_y), generator=torch.Generator().manual_seed(0))
    shuffled = dataclasses.replace(digits, test_y=digits.test_y[perm])
    chance = evaluate(model, shuffled, Protocol(iwae_k=2), 0)[0]["probe_acc"]
    assert chance < 0.2, chance
