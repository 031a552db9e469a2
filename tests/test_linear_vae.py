"""The validity check that cannot be tuned (Lucas, Tucker, Grosse & Norouzi 2019): a linear VAE
trained to convergence reaches the exact probabilistic-PCA likelihood of the same data and
latent dim. Both go through the bpd estimators `evaluate` uses: the linear VAE's k-sample IWAE
bound on the dequantized test images (one keyed draw each) and PPCA's exact expectation over the
dequantization. Tolerances: |bpd difference| <= 0.01 bits/dim (the issue's), eta within 1 % of
PPCA's sigma^2.

Training protocol (docs/likelihood.md): the closed-form ELBO (no sampling noise), full-batch
Adam, lr 1e-2, from the default random initialisation (nothing is initialised from PCA).
"""

from __future__ import annotations

import pytest
import torch

from vaebench.config import Protocol
from vaebench.data.base import pixels
from vaebench.models.linear_vae import LinearVAE
from vaebench.models.pca import PCAModel
from vaebench.models.registry import build_model, resolve_model
from vaebench.runner.evaluate import evaluate

BPD_TOL = 0.01  # bits/dim
ETA_RTOL = 0.01


def train_full_batch(model: LinearVAE, x: torch.Tensor, steps: int, lr: float = 1e-2) -> LinearVAE:
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        model.objective(x)["loss"].backward()
        opt.step()
    return model.eval()


def _check(splits, latent_dim: int, steps: int):
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        lvae = build_model(resolve_model("linear_vae", {}), splits.image_shape, latent_dim, 10, 1e-2)
        train_full_batch(lvae, pixels(splits.train_x), steps)
        pca = PCAModel(splits.image_shape, latent_dim).fit(splits.train_x)
        protocol = Protocol(iwae_k=16, eval_batch_size=1000)
        got, want = evaluate(lvae, splits, protocol, 0)[0], evaluate(pca, splits, protocol, 0)[0]
    finally:
        torch.set_num_threads(threads)
    eta = float(lvae.log_eta.detach().exp())
    print(f"bpd linear VAE {got['bpd']:.5f}, PPCA {want['bpd']:.5f}; eta {eta:.6f}, sigma^2 {pca.noise_variance:.6f}")
    assert abs(got["bpd"] - want["bpd"]) <= BPD_TOL
    assert eta == pytest.approx(pca.noise_variance, rel=ETA_RTOL)
    return got, want


def test_linear_vae_reaches_ppca_on_digits(digits):
    _check(digits, latent_dim=4, steps=800)


def test_an_untrained_linear_vae_does_not(digits):
    """The check can fail: a few steps are far from the PPCA likelihood."""
    torch.manual_seed(0)
    lvae = train_full_batch(LinearVAE(digits.image_shape, 4), digits.train_x, 20)
    pca = PCAModel(digits.image_shape, 4).fit(digits.train_x)
    protocol = Protocol(iwae_k=16, eval_batch_size=1000)
    assert evaluate(lvae, digits, protocol, 0)[0]["bpd"] > evaluate(pca, digits, protocol, 0)[0]["bpd"] + 10 * BPD_TOL


@pytest.mark.slow
def test_linear_vae_reaches_ppca_on_a_fashion_mnist_subset():
    import dataclasses

    from vaebench.data import fashion_mnist, load_dataset

    if fashion_mnist.find_files() is None:
        pytest.skip("Fashion-MNIST not installed")
    s = load_dataset("fashion_mnist")
    sub = dataclasses.replace(s, train_x=s.train_x[:5000], train_y=s.train_y[:5000], test_x=s.test_x[:2000], test_y=s.test_y[:2000])
    _check(sub, latent_dim=8, steps=1500)
